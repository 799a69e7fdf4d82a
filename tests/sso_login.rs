//! pbal's own login end to end: the real binary against `pbal sim` started logged out, which
//! speaks IBKR's SRP exchange (`ibkr-sso-login.md` §8). TOTP, IB Key push and no second
//! factor; a wrong password stops after one attempt, alerts, stays stopped across runs and
//! `--reset` clears it; `pbal run` logs in by itself, places the due run's orders and logs in
//! again after the nightly reset ends the session; nothing pbal wrote contains a secret.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pbal::sim::sso::{LoginSpec, SecondFactor};
use pbal::sim::{NightlyReset, SimConfig, SimHandle, Simulator, StartState};

const PASSWORD: &str = "Corr3ct-Horse-Battery";
const TOTP_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const USER: &str = "ApiUser7";

async fn sim(factor: SecondFactor) -> SimHandle {
    sim_with(factor, |_| {}).await
}

async fn sim_with(factor: SecondFactor, adjust: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig::relaxed();
    cfg.start_state = StartState::LoggedOut;
    cfg.account.username = USER.to_lowercase();
    cfg.account.password = PASSWORD.into();
    cfg.account.login = LoginSpec {
        second_factor: factor,
        totp_secret: Some(TOTP_SECRET.into()),
        long_passwords: true,
        push_approve_after: 2,
        ..LoginSpec::default()
    };
    adjust(&mut cfg);
    Simulator::start(cfg).await.unwrap()
}

/// From `now` to one minute past the next 01:00 in New York (the simulator's reset time).
fn until_next_reset(now: chrono::DateTime<chrono::Utc>) -> Duration {
    use chrono::TimeZone;
    let tz = chrono_tz::America::New_York;
    let local = now.with_timezone(&tz);
    let mut day = local.date_naive();
    loop {
        let at = tz
            .from_local_datetime(&day.and_hms_opt(1, 1, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc);
        if at > now {
            return (at - now).to_std().unwrap();
        }
        day = day.succ_opt().unwrap();
    }
}

fn private_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Writes the config (and the credential files) and returns its path.
fn config(sim: &SimHandle, dir: &Path, password: &str, extra: &str) -> PathBuf {
    let ca = dir.join("ca.pem");
    sim.write_ca(&ca).unwrap();
    private_file(&dir.join("password"), &format!("{password}\n"));
    private_file(&dir.join("totp"), TOTP_SECRET);
    let cfg = dir.join("pbal.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nurl = \"{url}\"\nca_cert = \"{ca}\"\ntickle_interval_secs = 1\n\
             [account]\nusername = \"{USER}\"\n\
             [state]\ndir = \"{state}\"\n\
             [log]\nfilter = \"trace\"\nformat = \"human\"\n\
             [notify]\ncommand = \"printf '%s\\\\n' >> {alerts}\"\n\
             [login]\npassword_file = \"{pw}\"\ntotp_secret_file = \"{totp}\"\npush_poll_secs = 1\n\
             {extra}",
            url = sim.base_url(),
            ca = ca.display(),
            state = dir.join("state").display(),
            alerts = dir.join("alerts.txt").display(),
            pw = dir.join("password").display(),
            totp = dir.join("totp").display(),
        ),
    )
    .unwrap();
    cfg
}

fn pbal(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pbal"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("PBAL_IBKR_PASSWORD")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` (state files, journal, cookie jar), as bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// Asserts that neither the logs nor any state file contains a secret of this login.
fn assert_no_secrets(sim: &SimHandle, state: &Path, logs: &str) {
    let mut secrets = vec![PASSWORD.to_owned(), TOTP_SECRET.to_owned()];
    let issued = sim.srp_issued_secrets();
    assert!(!issued.is_empty(), "the sim recorded the session keys");
    secrets.extend(issued);
    let mut haystacks = files(state);
    haystacks.push((PathBuf::from("<logs>"), logs.as_bytes().to_vec()));
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "logs captured at trace"
    );
    for s in &secrets {
        let needles = [
            s.clone(),
            s.to_uppercase(),
            s.trim_start_matches('0').to_owned(),
        ];
        for (path, bytes) in &haystacks {
            let hay = String::from_utf8_lossy(bytes);
            for n in &needles {
                assert!(
                    !hay.contains(n.as_str()),
                    "{} contains a secret",
                    path.display()
                );
            }
        }
    }
}

async fn login_with(factor: SecondFactor, expect: &str) {
    let sim = sim(factor).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&sim, dir.path(), PASSWORD, "");
    let out = tokio::task::spawn_blocking(move || pbal(&cfg, &["login"]))
        .await
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("Client login succeeds"), "{all}");
    assert!(all.contains(expect), "{all}");
    assert!(all.contains("login: OK") && all.contains("ready"), "{all}");
    assert_eq!(sim.srp_logins(), 1);
    assert_no_secrets(&sim, &dir.path().join("state"), &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_totp() {
    login_with(SecondFactor::Totp, "TOTP code accepted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_push() {
    login_with(SecondFactor::Push, "IB Key push approved").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_second_factor() {
    login_with(SecondFactor::None, "second factor: none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stops_after_one_attempt_until_reset() {
    let sim = sim(SecondFactor::None).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&sim, dir.path(), "Wrong-Password-1", "");
    let c = cfg.clone();
    let out = tokio::task::spawn_blocking(move || pbal(&c, &["login"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("wrong username or password"),
        "{}",
        text(&out)
    );
    assert_eq!(sim.login_failures(), 1);
    let alerts = std::fs::read_to_string(dir.path().join("alerts.txt")).unwrap();
    assert!(alerts.contains("stopped"), "{alerts}");

    // A second manual login and a daemon both refuse to try again.
    let c = cfg.clone();
    let out = tokio::task::spawn_blocking(move || pbal(&c, &["login"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--reset"), "{}", text(&out));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pbal"))
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("auth/status"))
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "the daemon never checked the session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert_eq!(sim.login_failures(), 1, "no attempt after the stop");
    let inits = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/sso/Authenticator")
        .count();
    assert_eq!(
        inits, 2,
        "INIT + COMPLETEAUTH of the one attempt, nothing since"
    );
    let c = cfg.clone();
    let check = tokio::task::spawn_blocking(move || pbal(&c, &["login", "--check"]))
        .await
        .unwrap();
    assert!(!check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("wrong username or password"),
        "{}",
        text(&check)
    );

    // `pbal status` and `pbal check` say why.
    let c = cfg.clone();
    let status = tokio::task::spawn_blocking(move || pbal(&c, &["status"]))
        .await
        .unwrap();
    assert!(
        text(&status).contains("login      STOPPED since"),
        "{}",
        text(&status)
    );
    let c = cfg.clone();
    let json = tokio::task::spawn_blocking(move || pbal(&c, &["status", "--format", "json"]))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status JSON");
    let login = v["login"].as_str().unwrap_or_default();
    assert!(
        login.starts_with("STOPPED since") && login.contains("pbal login --reset"),
        "{v}"
    );
    let c = cfg.clone();
    let out = tokio::task::spawn_blocking(move || pbal(&c, &["check"]))
        .await
        .unwrap();
    assert!(text(&out).contains("FAIL login"), "{}", text(&out));

    // Fixed credentials + --reset: logs in.
    private_file(&dir.path().join("password"), PASSWORD);
    let c = cfg.clone();
    let out = tokio::task::spawn_blocking(move || pbal(&c, &["login", "--reset"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sim.srp_logins(), 1);
    let c = cfg.clone();
    let status = tokio::task::spawn_blocking(move || pbal(&c, &["status"]))
        .await
        .unwrap();
    assert!(
        text(&status).contains(&format!("login      pbal logs in as {USER} (last login 20")),
        "{}",
        text(&status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_logs_in_trades_and_logs_in_again_after_the_nightly_reset() {
    // No second factor here: TOTP's never-reuse rule could make the second login wait for
    // the next 30 s step (that rule has its own tests).
    let sim = sim_with(SecondFactor::None, |cfg| {
        // With IB Key the nightly reset ends the whole session (reference §2.4, IBeam #234).
        cfg.behaviour.nightly_reset = Some(NightlyReset {
            ends_sso: true,
            ..NightlyReset::default()
        });
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &sim,
        dir.path(),
        PASSWORD,
        "[orders]\nmode = \"submit\"\n[portfolio]\ncash = \"available\"\n\
         [schedule]\ncron = \"* * * * * *\"\ncalendar = \"none\"\ntimezone = \"UTC\"\n\
         period = \"month\"\npreflight_before_secs = 0\n",
    );
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pbal"))
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait = |what: &str, secs: u64, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            if Instant::now() > deadline {
                let logs = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String = logs.lines().rev().take(40).collect::<Vec<_>>().join("\n");
                panic!("timed out waiting for {what}; last log lines (reversed):\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the first login", 60, &|| sim.srp_logins() == 1);
    wait("the due run's orders", 90, &|| !sim.orders().is_empty());
    // The simulated clock passes 01:00 New York: the reset ends the session and pbal, tickling
    // every second, finds it gone and logs in again by itself.
    sim.advance(until_next_reset(sim.now()));
    assert!(!sim.session().sso, "the nightly reset ended the session");
    wait("the login after the nightly reset", 90, &|| {
        sim.srp_logins() == 2
    });
    wait("the brokerage session after it", 30, &|| {
        sim.session().authenticated
    });
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("logged in to the gateway"), "{logs}");
    assert_no_secrets(&sim, &dir.path().join("state"), &logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_user_is_refused_before_the_password_proof_unless_allowed() {
    let mut cfg = SimConfig::relaxed();
    cfg.start_state = StartState::LoggedOut;
    cfg.account.account_id = "U7654321".into();
    cfg.account.username = USER.to_lowercase();
    cfg.account.password = PASSWORD.into();
    let sim = Simulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&sim, dir.path(), PASSWORD, "");
    let out = tokio::task::spawn_blocking(move || pbal(&cfg, &["login"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("live-trading user"), "{}", text(&out));
    // Only INIT was sent: no password proof for a user pbal may not use.
    let auth = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/sso/Authenticator")
        .count();
    assert_eq!(auth, 1);
    assert_eq!(sim.srp_logins(), 0);
}
