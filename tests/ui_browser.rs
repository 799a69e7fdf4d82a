//! A real browser on the approval page: stage a plan on the simulator, open the tokenised link
//! in headless Chromium, check that the chart rendered, press Approve, and check that the orders
//! reached the simulator. Screenshots go to `<target>/screenshots/` as test artefacts.
//!
//! Chromium is driven over its DevTools protocol on a pipe (`--remote-debugging-pipe`: fds 3
//! and 4, NUL-separated JSON), which needs no driver binary and no WebSocket client.
//!
//! This test has its own harness (`harness = false`) so that a machine without Chromium
//! reports it as `SKIPPED` — never as passed. CI installs Debian's `chromium` (`.ci/run`).
mod common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use pbal::config::OrderMode;
use pbal::cycle::RunKind;
use pbal::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PBAL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn main() -> ExitCode {
    let Some(chromium) = find_chromium() else {
        println!(
            "test ui_browser ... SKIPPED: chromium not found (apt-get install chromium, or set \
             PBAL_CHROMIUM); the browser test did NOT run"
        );
        return ExitCode::SUCCESS;
    };
    let shots = screenshot_dir();
    match run(&chromium, &shots) {
        Ok(()) => {
            println!(
                "test ui_browser ... ok (screenshots in {})",
                shots.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("test ui_browser ... FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `<target>/screenshots` (CARGO_TARGET_TMPDIR is `<target>/tmp`).
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("screenshots")
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn run(chromium: &Path, shots: &Path) -> Result<(), String> {
    std::fs::create_dir_all(shots).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Stage on the simulator and serve the page (on the runtime's worker threads).
    let (sim, link, legs) = rt.block_on(stage_and_serve(dir.path()))?;
    let mut browser = Browser::launch(chromium, &dir.path().join("profile"))?;
    let result = (|| {
        let session = browser.open_tab()?;
        browser.navigate(&session, &link)?;
        let bars: u64 = browser
            .eval(
                &session,
                "document.querySelectorAll('svg.chart rect.after').length",
            )?
            .as_u64()
            .unwrap_or(0);
        ensure!(bars > 0, "no chart bars on the page");
        let width = browser
            .eval(
                &session,
                "Math.max(...[...document.querySelectorAll('svg.chart rect.after')].map(r => r.getBoundingClientRect().width))",
            )?
            .as_f64()
            .unwrap_or(0.0);
        ensure!(
            width.total_cmp(&10.0).is_gt(),
            "the chart did not render (widest bar {width}px)"
        );
        let targets = browser.eval(
            &session,
            "document.querySelectorAll('svg.chart line.target').length",
        )?;
        ensure!(
            targets.as_u64() == Some(bars),
            "one target marker per asset: {targets} vs {bars}"
        );
        browser.screenshot(&session, &shots.join("staged.png"))?;
        browser.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 412, "height": 915, "deviceScaleFactor": 2, "mobile": true}),
        )?;
        browser.screenshot(&session, &shots.join("staged-phone.png"))?;
        browser.call(
            Some(&session),
            "Emulation.clearDeviceMetricsOverride",
            json!({}),
        )?;
        ensure!(sim.orders().is_empty(), "orders before approval");
        // Press Approve: a plain form POST, as a user would.
        browser.call(Some(&session), "Page.enable", json!({}))?;
        browser.eval(
            &session,
            "document.querySelector('button.approve').click(); true",
        )?;
        browser.wait_event(&session, "Page.loadEventFired", Duration::from_secs(90))?;
        let outcome = browser.eval(
            &session,
            "document.getElementById('outcome')?.textContent ?? document.body.textContent",
        )?;
        let text = outcome.as_str().unwrap_or_default().to_owned();
        browser.screenshot(&session, &shots.join("approved.png"))?;
        ensure!(
            text.contains("approved") && text.contains("completed"),
            "outcome: {text}"
        );
        Ok(())
    })();
    browser.close();
    result?;
    let sent = sim.orders().len();
    ensure!(
        sent == legs,
        "the simulator received {sent} orders, the plan had {legs}"
    );
    rt.block_on(sim.shutdown());
    Ok(())
}

async fn stage_and_serve(dir: &Path) -> Result<(pbal::sim::SimHandle, String, usize), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Simulator::start(SimConfig::relaxed())
        .await
        .map_err(|e| e.to_string())?;
    sim.write_ca(&dir.join("ca.pem"))
        .map_err(|e| e.to_string())?;
    let s = common::settings::rebalancing(&sim, dir, "hard");
    let state = s.state_dir();
    let cycle = Arc::new(common::cycle::build(s.clone()));
    let r = cycle
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .map_err(|e| e.to_string())?;
    let legs = r.plan.map(|p| p.legs.len()).unwrap_or(0);
    if legs == 0 {
        return Err(format!("nothing staged: {}", r.status));
    }
    let bound = pbal::ui::bind("127.0.0.1:0".parse().unwrap(), &state)
        .await
        .map_err(|e| e.to_string())?;
    let link = bound.link();
    let ui = pbal::ui::Ui {
        settings: s,
        journal: cycle.journal.clone(),
        decider: cycle.clone(),
        session: Arc::new(|| Box::pin(async { "ready (simulator)".to_owned() })),
        clock: cycle.clock.clone(),
    };
    tokio::spawn(pbal::ui::serve(bound, ui, std::future::pending()));
    Ok((sim, link, legs))
}

/// Headless Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies out).
struct Browser {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next_id: u64,
    pending: Vec<Value>,
}

/// A pipe whose ends are moved above fd 10 (so `dup2` onto 3/4 in the child never collides).
fn pipe_high() -> Result<(RawFd, RawFd), String> {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err("pipe failed".into());
        }
        let r = libc::fcntl(fds[0], libc::F_DUPFD_CLOEXEC, 10);
        let w = libc::fcntl(fds[1], libc::F_DUPFD_CLOEXEC, 10);
        libc::close(fds[0]);
        libc::close(fds[1]);
        if r < 0 || w < 0 {
            return Err("fcntl failed".into());
        }
        Ok((r, w))
    }
}

impl Browser {
    fn launch(chromium: &Path, profile: &Path) -> Result<Self, String> {
        let (cmd_r, cmd_w) = pipe_high()?;
        let (out_r, out_w) = pipe_high()?;
        let mut c = Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        // SAFETY: only async-signal-safe dup2 calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(out_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .map_err(|e| format!("starting {}: {e}", chromium.display()))?;
        // SAFETY: the parent owns these descriptors; the child's copies are its own.
        let (to, mut from_file) = unsafe {
            libc::close(cmd_r);
            libc::close(out_w);
            (
                std::fs::File::from_raw_fd(cmd_w),
                std::fs::File::from_raw_fd(out_r),
            )
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while let Ok(n) = from_file.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(Self {
            child,
            to,
            from: rx,
            next_id: 0,
            pending: Vec::new(),
        })
    }

    fn recv(&mut self, deadline: Instant) -> Result<Value, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from.recv_timeout(left) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => Err("timed out waiting for chromium".into()),
            Err(RecvTimeoutError::Disconnected) => Err("chromium exited".into()),
        }
    }

    /// One DevTools command; events that arrive meanwhile are kept for [`Browser::wait_event`].
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .map_err(|e| format!("writing to chromium: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.recv(deadline)?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = v.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(v["result"].clone());
            }
            self.pending.push(v);
        }
    }

    fn wait_event(
        &mut self,
        session: &str,
        method: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let is_it = |v: &Value| v["method"] == method && v["sessionId"] == session;
        if let Some(i) = self.pending.iter().position(is_it) {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.recv(deadline)?;
            if is_it(&v) {
                return Ok(v);
            }
        }
    }

    fn open_tab(&mut self) -> Result<String, String> {
        let t = self.call(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target = t["targetId"].as_str().ok_or("no targetId")?.to_owned();
        let a = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )?;
        Ok(a["sessionId"].as_str().ok_or("no sessionId")?.to_owned())
    }

    fn navigate(&mut self, session: &str, url: &str) -> Result<(), String> {
        self.call(Some(session), "Page.enable", json!({}))?;
        self.pending.clear();
        self.call(Some(session), "Page.navigate", json!({"url": url}))?;
        self.wait_event(session, "Page.loadEventFired", Duration::from_secs(30))?;
        Ok(())
    }

    fn eval(&mut self, session: &str, expr: &str) -> Result<Value, String> {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("evaluating `{expr}`: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// A full-page PNG.
    fn screenshot(&mut self, session: &str, path: &Path) -> Result<(), String> {
        let m = self.call(Some(session), "Page.getLayoutMetrics", json!({}))?;
        let size = &m["cssContentSize"];
        let shot = self.call(
            Some(session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
        )?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().ok_or("no screenshot data")?)
            .map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn close(&mut self) {
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
