//! The real binary: `pbal ui --listen 127.0.0.1:0` prints `listening on …` then the tokenised
//! link, `pbal ui --print-link` prints the same link, and `pbal demo` ends by printing the link
//! of a page that shows the staged demo plan with its chart.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

fn spawn(args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pbal"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn line(rx: &Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("a line on stdout")
}

fn stop(mut child: Child) {
    // SAFETY: signalling the child this test started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "stops cleanly on SIGTERM: {status}");
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbal_ui_prints_the_address_then_the_link() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = pbal::sim::Simulator::start(pbal::sim::SimConfig::relaxed())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let cfg = dir.path().join("pbal.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nurl = \"{}\"\nca_cert = \"{}\"\n[state]\ndir = \"{}\"\n",
            sim.base_url(),
            ca.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (child, rx) = spawn(&["--config", cfg, "ui", "--listen", "127.0.0.1:0"]);
    let first = line(&rx);
    let base = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first}"));
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with('/'),
        "{base}"
    );
    let link = line(&rx);
    assert!(link.starts_with(&format!("{base}?token=")), "{link}");
    let (s, body) = get(&link).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("No plan is waiting"), "{body}");
    assert_eq!(get(base).await.0, 401, "the bare address needs the token");
    let (s, status) = get(&link.replace("/?", "/status?")).await;
    assert_eq!(s, 200);
    assert!(
        status.contains("ready"),
        "the session line comes from the gateway: {status}"
    );
    // `--print-link` prints the same token (for the configured address).
    let out = Command::new(env!("CARGO_BIN_EXE_pbal"))
        .args(["--config", cfg, "ui", "--print-link"])
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed.trim().split("token=").nth(1),
        link.split("token=").nth(1)
    );
    assert!(
        printed.starts_with("http://127.0.0.1:8421/?token="),
        "{printed}"
    );
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_ends_with_the_link_to_a_page_showing_its_staged_plan() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (child, rx) = spawn(&["demo", "--state-dir", state, "--ui-listen", "127.0.0.1:0"]);
    let link = loop {
        let l = line(&rx);
        if l.contains("?token=") {
            break l;
        }
    };
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    let (s, body) = get(&link).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains(r#"<svg class="chart""#), "{body}");
    assert!(body.contains(r#"<button class="approve""#), "{body}");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the link is the last line"
    );
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_the_page_when_enabled() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = pbal::sim::Simulator::start(pbal::sim::SimConfig::relaxed())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let mut s = pbal::config::Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
    s.gateway.url = sim.base_url();
    s.gateway.ca_cert = Some(ca);
    s.state.dir = Some(dir.path().join("state"));
    s.portfolio.cash = pbal::config::CashSetting::Available;
    s.schedule.cron = "* * * * * *".into();
    s.schedule.calendar = "none".into();
    s.schedule.timezone = "UTC".into();
    s.schedule.period = "month".into();
    s.schedule.preflight_before_secs = 0;
    // A free port, released just before the daemon binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    s.ui.enabled = true;
    s.ui.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(pbal::daemon::run(s.clone(), async {
        let _ = rx.await;
    }));
    let link = pbal::ui::configured_link(&s).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no staged plan on the daemon's page"
        );
        if let Ok(r) = reqwest::get(&link).await {
            let body = r.text().await.unwrap();
            if body.contains(r#"<svg class="chart""#) {
                break body;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.contains(r#"<button class="approve""#), "{body}");
    tx.send(()).unwrap();
    daemon.await.unwrap().unwrap();
    assert!(
        reqwest::get(&link).await.is_err(),
        "the page stops with the daemon"
    );
}
