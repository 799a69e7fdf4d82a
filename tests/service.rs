//! The generated service units: `contrib/` matches the generator, systemd accepts the units,
//! the plist parses, and `pbal service install` writes where it says.
//!
//! Regenerate `contrib/` after changing the generator: `PBAL_BLESS=1 cargo test --test service`.
use std::path::{Path, PathBuf};
use std::process::Command;

use pbal::service::{self, UnitOptions};

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib")
}

fn pbal_bin() -> &'static str {
    env!("CARGO_BIN_EXE_pbal")
}

/// Compares `contrib/<rel>` with `generated`, or rewrites it under `PBAL_BLESS=1`.
fn check_contrib(rel: &str, generated: &str) {
    let path = contrib().join(rel);
    if std::env::var_os("PBAL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run PBAL_BLESS=1 cargo test --test service)",
            path.display()
        )
    });
    assert_eq!(
        on_disk,
        generated,
        "{} is stale: run PBAL_BLESS=1 cargo test --test service",
        path.display()
    );
}

#[test]
fn contrib_copies_match_the_generator() {
    check_contrib(
        "systemd/pbal.service",
        &service::systemd_unit(&UnitOptions::contrib_systemd(false)),
    );
    check_contrib(
        "systemd/user/pbal.service",
        &service::systemd_unit(&UnitOptions::contrib_systemd(true)),
    );
    check_contrib(
        &format!("launchd/{}.plist", service::LAUNCHD_LABEL),
        &service::launchd_plist(&UnitOptions::contrib_launchd()),
    );
}

/// `systemd-analyze verify` must accept the unit with no warning at all (it exits 0 even on
/// unknown keys, so stderr is checked too). The binary must exist, so the test's own build is
/// used as ExecStart. CI installs the `systemd` Debian package for this.
fn verify(user: bool) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("systemd-analyze not found: apt-get install -y systemd");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut o = UnitOptions::contrib_systemd(user);
    o.exec = PathBuf::from(pbal_bin());
    let unit = dir.path().join("pbal.service");
    std::fs::write(&unit, service::systemd_unit(&o)).unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("systemd-analyze");
    if user {
        // The user manager needs a runtime dir; a private one keeps the test hermetic.
        cmd.arg("--user").env("XDG_RUNTIME_DIR", runtime.path());
    }
    let out = cmd.arg("verify").arg(&unit).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify (user={user}) rejected the unit: {stderr}"
    );
}

#[test]
fn systemd_analyze_accepts_the_system_unit() {
    verify(false);
}

#[test]
fn systemd_analyze_accepts_the_user_unit() {
    verify(true);
}

/// Hardening regressions show up as a worse `systemd-analyze security` exposure score
/// (0 = locked down, 10 = unprotected). The unit scores 1.2 today.
#[test]
fn system_unit_exposure_stays_low() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = UnitOptions::contrib_systemd(false);
    o.exec = PathBuf::from(pbal_bin());
    let unit = dir.path().join("pbal.service");
    std::fs::write(&unit, service::systemd_unit(&o)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (apt-get install -y systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for pbal.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in: {text}"));
    assert!(score <= 1.5, "exposure {score} > 1.5:\n{text}");
}

/// The `plist` crate is lenient; launchd's own parser (and `plutil -lint`, Python's
/// `plistlib`) are not. A strict XML parser catches what they would reject, e.g. `--` inside a
/// comment, and the shipped copy in `contrib/` is checked too.
#[test]
fn launchd_plist_is_well_formed_xml() {
    let generated = service::launchd_plist(&UnitOptions::contrib_launchd());
    let shipped = std::fs::read_to_string(format!(
        "{}/contrib/launchd/{}.plist",
        env!("CARGO_MANIFEST_DIR"),
        service::LAUNCHD_LABEL
    ))
    .unwrap();
    for (what, text) in [("generated", &generated), ("contrib", &shipped)] {
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        if let Err(e) = roxmltree::Document::parse_with_options(text, opts) {
            panic!("{what} plist is not well-formed XML: {e}\n{text}");
        }
    }
    // Where macOS's own linter exists, it has the last word.
    if std::process::Command::new("plutil")
        .arg("-help")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pbal.plist");
        std::fs::write(&f, &generated).unwrap();
        let st = std::process::Command::new("plutil")
            .arg("-lint")
            .arg(&f)
            .status()
            .unwrap();
        assert!(st.success(), "plutil -lint rejects the plist");
    }
}

#[test]
fn launchd_plist_parses_with_the_expected_keys() {
    let text = service::launchd_plist(&UnitOptions::contrib_launchd());
    let v: plist::Value = plist::from_bytes(text.as_bytes()).expect("valid property list");
    let d = v.as_dictionary().unwrap();
    assert_eq!(
        d.get("Label").and_then(|v| v.as_string()),
        Some(service::LAUNCHD_LABEL)
    );
    assert_eq!(d.get("RunAtLoad").and_then(|v| v.as_boolean()), Some(true));
    let keep = d.get("KeepAlive").and_then(|v| v.as_dictionary()).unwrap();
    assert_eq!(
        keep.get("SuccessfulExit").and_then(|v| v.as_boolean()),
        Some(false)
    );
    let args: Vec<&str> = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            "/usr/local/bin/pbal",
            "run",
            "--config",
            "/Users/YOU/Library/Application Support/pbal/pbal.toml"
        ]
    );
    for k in ["StandardOutPath", "StandardErrorPath"] {
        assert_eq!(
            d.get(k).and_then(|v| v.as_string()),
            Some("/Users/YOU/Library/Logs/pbal/pbal.log")
        );
    }
    assert_eq!(
        d.get("Umask").and_then(|v| v.as_signed_integer()),
        Some(0o077)
    );
}

#[test]
fn install_print_writes_nothing_and_shows_commands() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(pbal_bin())
        .args([
            "service",
            "install",
            "--launchd",
            "--print",
            "--exec",
            "/opt/pbal/bin/pbal",
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: plist::Value = plist::from_bytes(stdout.as_bytes()).unwrap();
    assert!(v.as_dictionary().unwrap().contains_key("KeepAlive"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("launchctl bootstrap gui/$(id -u)"));
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn install_user_unit_writes_file_state_dir_and_refuses_to_clobber() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("pbal.toml");
    let state = home.path().join("state dir");
    std::fs::write(&cfg, format!("[state]\ndir = \"{}\"\n", state.display())).unwrap();
    let install = |extra: &[&str]| {
        Command::new(pbal_bin())
            .args(["--config"])
            .arg(&cfg)
            .args(["service", "install", "--systemd", "--user"])
            .args(extra)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    let out = install(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit_path = home.path().join(".config/systemd/user/pbal.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={} run --config {}",
            pbal_bin(),
            cfg.display()
        )),
        "{unit}"
    );
    assert!(
        unit.contains(&format!("ReadWritePaths=-\"{}\"", state.display())),
        "{unit}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("systemctl --user enable --now pbal.service")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // A different existing unit is not replaced without --force.
    std::fs::write(&unit_path, "[Service]\nExecStart=/bin/true\n").unwrap();
    let out = install(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&unit_path).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    let out = install(&["--force"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&unit_path).unwrap(), unit);
}

#[test]
fn user_flag_requires_systemd() {
    let out = Command::new(pbal_bin())
        .args(["service", "install", "--launchd", "--user", "--print"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
