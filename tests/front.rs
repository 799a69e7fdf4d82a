//! The two executables: `pbal` runs `plan` itself and hands every other command to `pbal-full`
//! (src/main.rs says why). These tests hold the split invisible to users: the same help,
//! errors, exit codes and output either way, and a clear error when `pbal-full` is missing.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn front() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pbal"))
}

fn full() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pbal-full"))
}

/// Runs `exe` as `pbal` (argv[0]), as an installed front would `exec` it.
fn run(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe).arg0("pbal").args(args).output().unwrap()
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/portfolio.csv");
    p.to_str().unwrap().to_owned()
}

fn assert_same(args: &[&str]) {
    let (a, b) = (run(&front(), args), run(&full(), args));
    assert_eq!(a.status.code(), b.status.code(), "exit code of {args:?}");
    assert_eq!(
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
        "stdout of {args:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
        "stderr of {args:?}"
    );
}

#[test]
fn plan_reads_the_same_through_the_front_as_through_pbal_full() {
    let ex = example();
    assert_same(&["plan", "--help"]);
    assert_same(&["plan", &ex, "-c", "5000", "-i", "2"]);
    assert_same(&["plan", &ex, "-c", "5000", "--format", "json"]);
    assert_same(&[
        "plan",
        &ex,
        "-s",
        "hard",
        "--granularity",
        "exact",
        "-c",
        "-100",
    ]);
    // Global options are accepted after the subcommand, as by the full CLI.
    assert_same(&["plan", &ex, "--log-format", "json", "-c", "100"]);
    // Errors: bad flag (clap, exit 2), bad value, unreadable file (exit 2, message).
    assert_same(&["plan", "--bogus"]);
    assert_same(&["plan", &ex, "-i", "9"]);
    assert_same(&["plan", "/nonexistent/positions.csv"]);
}

#[test]
fn every_other_command_is_handed_to_pbal_full() {
    // `--version`, top-level help and a subcommand the front does not know all come from
    // pbal-full, with its exit codes.
    assert_same(&["--version"]);
    assert_same(&["--help"]);
    assert_same(&["status", "--help"]);
    assert_same(&["no-such-command"]);
    let v = run(&front(), &["--version"]);
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("pbal "));
}

#[test]
fn the_handover_keeps_the_process_id() {
    // `exec`, not a child: supervisors (systemd `Type=notify`, launchd) and signals must see
    // one process. A long-running command started through the front is, under the PID the
    // kernel gave the front, the pbal-full executable (a fork would leave `pbal` there).
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(front())
        .args(["sim", "--listen", "127.0.0.1:0", "--ca-out"])
        .arg(dir.path().join("ca.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let exe = Path::new("/proc").join(child.id().to_string()).join("exe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        seen = std::fs::read_link(&exe).ok();
        if seen.as_deref() == Some(full().canonicalize().unwrap().as_path()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        seen,
        Some(full().canonicalize().unwrap()),
        "PID {}",
        child.id()
    );
}

#[test]
fn a_missing_pbal_full_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("pbal");
    std::fs::copy(front(), &lone).unwrap();
    let out = Command::new(&lone).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot start") && err.contains("pbal-full"),
        "unclear error: {err}"
    );
    // `plan` still works without it.
    let ok = Command::new(&lone)
        .args(["plan", &example(), "-c", "100"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn a_service_installed_through_the_front_starts_the_front() {
    // `pbal service install` runs in pbal-full, but the unit must name `pbal` (the command users
    // know, and the path that stays valid when pbal-full is only ever started by it).
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(front())
        .args(["service", "install", "--systemd", "--user", "--print"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = String::from_utf8_lossy(&out.stdout);
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let expected = format!("{} run", front().canonicalize().unwrap().display());
    assert!(exec.starts_with(&expected), "ExecStart={exec}");
}

#[test]
fn a_closed_pipe_is_an_error_not_a_signal_in_both_executables() {
    // The front has its own C `main` (no std runtime start-up), so it must ignore SIGPIPE
    // itself: `pbal plan … | head -1` ends with "Broken pipe" and status 2, not killed by a
    // signal. The plan below is larger than a pipe's buffer, and nobody reads it.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let mut body = String::from("symbol,quantity,price\n");
    for i in 0..3000 {
        body.push_str(&format!("S{i:05},{},{}.25\n", 10 + i % 7, 20 + i % 13));
    }
    std::fs::write(&csv, body).unwrap();
    for exe in [front(), full()] {
        let mut child = Command::new(&exe)
            .args(["plan", csv.to_str().unwrap(), "-c", "1000"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // close the read end before anything is read
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {:?}",
            exe.display(),
            out.status
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Broken pipe"), "{}: {err}", exe.display());
    }
}
