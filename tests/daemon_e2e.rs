//! The daemon end to end: `pbal::daemon::run` (the production path of `pbal run`) against the
//! simulator over TLS, with a schedule that is due at once (every second, no exchange
//! calendar, monthly periods). Then the real binary under SIGTERM.
mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pbal::config::{CashSetting, OrderMode, Settings};
use pbal::journal::Journal;
use pbal::sim::{SimConfig, SimHandle, Simulator};

use common::config::{pbal, run_json, write_config};

fn settings(sim: &SimHandle, dir: &Path) -> Settings {
    sim.write_ca(&dir.join("ca.pem")).unwrap();
    let mut s = common::settings::for_sim(sim, dir);
    s.orders.mode = OrderMode::Stage;
    // Invest the account's cash, so the period's run has a plan to stage.
    s.portfolio.cash = CashSetting::Available;
    s.schedule.cron = "* * * * * *".into();
    s.schedule.calendar = "none".into();
    s.schedule.timezone = "UTC".into();
    s.schedule.period = "month".into();
    s.schedule.preflight_before_secs = 0;
    s
}

async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_run_executes_once_per_period_across_restarts() {
    // Logs go to stderr, so a failure in CI shows what the daemon was doing.
    pbal::telemetry::init(Some("human"), Some("info"));
    let sim = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&sim, dir.path());
    let state = s.state_dir();
    // Alerts go to an ntfy stand-in; the daemon serves the page, so they link to it.
    let (ntfy, posts) = fake_ntfy().await;
    s.notify.webhook = Some(format!("http://{ntfy}/pbal"));
    s.ui.enabled = true;
    s.ui.listen = "127.0.0.1:0".parse().unwrap();

    // First daemon: the period's run stages a plan.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(pbal::daemon::run(s.clone(), async {
        let _ = rx.await;
    }));
    // The daemon creates the journal; the test opens it once and only reads.
    wait_for("the journal", 60, || {
        state.join(Journal::FILE_NAME).exists()
    })
    .await;
    let j = Journal::open_in(&state).unwrap();
    wait_for("a staged plan", 60, || {
        j.staged_plans(chrono::Utc::now())
            .is_ok_and(|p| !p.is_empty())
    })
    .await;
    wait_for("the period to be completed", 30, || {
        j.periods().unwrap().iter().any(|p| p.state == "completed")
    })
    .await;
    tx.send(()).unwrap();
    daemon.await.unwrap().expect("daemon stops cleanly");
    assert!(j.unfinished_runs().unwrap().is_empty(), "no run left open");
    let scheduled = |j: &Journal| {
        j.runs(100)
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "scheduled")
            .count()
    };
    assert_eq!(scheduled(&j), 1);
    // "Plan staged" reached ntfy with the orders, the expiry and the page link with its token.
    let staged = j.staged_plans(chrono::Utc::now()).unwrap();
    let token =
        std::fs::read_to_string(state.join(pbal::ui::security::TOKEN_FILE)).unwrap_or_default();
    let alerts = posts.lock().unwrap().clone();
    let (headers, body) = alerts
        .iter()
        .find(|(_, b)| {
            b["title"]
                .as_str()
                .unwrap_or("")
                .contains("waits for approval")
        })
        .unwrap_or_else(|| panic!("no plan-staged alert in {alerts:?}"));
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("- BUY ") && message.contains(" expires "),
        "{message}"
    );
    assert!(
        message.contains(&format!("pbal staged approve {}", staged[0].id)),
        "{message}"
    );
    let click = headers["click"].to_str().unwrap();
    assert!(
        click.starts_with("http://127.0.0.1:") && !click.starts_with("http://127.0.0.1:0/"),
        "{click}"
    );
    assert!(
        !token.trim().is_empty() && click.ends_with(&format!("?token={}", token.trim())),
        "{click}"
    );
    assert_eq!(body["actions"][0]["url"], click);
    let sent = alerts.len();
    // What was sent is remembered in the state dir (0600), so a restart does not repeat it.
    let ledger = state.join(pbal::notify::ledger::FILE);
    let remembered: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ledger).unwrap()).unwrap();
    assert_eq!(
        remembered["plan-staged"]["cause"],
        staged[0].id.as_str(),
        "{remembered}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ledger).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Second daemon in the same period: slots keep coming every second, but nothing runs.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(pbal::daemon::run(s, async {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_secs(4)).await;
    tx.send(()).unwrap();
    daemon.await.unwrap().expect("daemon stops cleanly");
    assert_eq!(
        scheduled(&j),
        1,
        "a period is rebalanced once, whatever restarts happen"
    );
    assert!(sim.orders().is_empty(), "stage mode places nothing");
    assert_eq!(
        posts.lock().unwrap().len(),
        sent,
        "a restart sends nothing again"
    );
}

type Posts = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, serde_json::Value)>>>;

/// An ntfy stand-in on loopback recording each POST's headers and JSON body.
async fn fake_ntfy() -> (std::net::SocketAddr, Posts) {
    let posts: Posts = Posts::default();
    let sink = posts.clone();
    let app = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                "ok"
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, posts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_binary_cleanly() {
    let sim = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim, "[schedule]\ncron = \"0 0 0 1 1 *\"\n");
    let mut child = pbal()
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the keeper has talked to the gateway (the daemon is up).
    wait_for("the daemon to reach the gateway", 30, || {
        sim.requests()
            .iter()
            .any(|r| r.path.contains("/tickle") || r.path.contains("auth/status"))
    })
    .await;
    let pid = child.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "pbal run did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(err.contains("pbal daemon stopped"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_session_next_run_and_kill_switch() {
    let sim = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim, "");
    let state_dir = dir.path().join("state");
    let status = |cfg: &Path| {
        run_json(pbal().args([
            "--config",
            cfg.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ]))
    };
    let v = status(&cfg);
    assert_eq!(v["session"], "ready", "{v}");
    assert!(v["kill_switch"].is_null(), "{v}");
    let at: chrono::DateTime<chrono::Utc> = v["next_run"]["at"].as_str().unwrap().parse().unwrap();
    assert!(
        at > chrono::Utc::now(),
        "the next run is in the future: {v}"
    );
    std::fs::write(state_dir.join("STOP"), "").unwrap();
    let v = status(&cfg);
    assert!(v["kill_switch"].as_str().unwrap().contains("STOP"), "{v}");
}
