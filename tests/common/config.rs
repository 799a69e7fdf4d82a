//! Config files and runs of the real `pbal` binary, for tests that drive it in another process.
use std::path::{Path, PathBuf};
use std::process::Command;

use pbal::sim::SimHandle;

/// `[gateway]` and `[state]` sections pointing at `sim` (its CA written to `<dir>/ca.pem`,
/// state in `<dir>/state`), followed by `extra` TOML sections.
pub fn write_config(dir: &Path, sim: &SimHandle, extra: &str) -> PathBuf {
    let ca = dir.join("ca.pem");
    sim.write_ca(&ca).unwrap();
    let cfg = dir.join("pbal.toml");
    let text = format!(
        "[gateway]\nurl = \"{url}\"\nca_cert = \"{ca}\"\n\n[state]\ndir = \"{state}\"\n{extra}",
        url = sim.base_url(),
        ca = ca.display(),
        state = dir.join("state").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// The `[portfolio]` and `[orders]` sections of a hard rebalance that submits limit orders,
/// with caps wide enough for the sample account.
pub const SUBMIT_HARD: &str = r#"
[portfolio]
strategy = "hard"
cash = 0

[orders]
mode = "submit"
type = "limit"
max_order_value = 100000
max_turnover_pct = 100
max_orders = 50
poll_interval_secs = 1
fill_timeout_secs = 20
"#;

/// The `pbal` binary under test.
pub fn pbal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pbal"))
}

/// Runs `cmd` to completion, asserts it succeeded (showing its stderr otherwise) and parses
/// its stdout as one JSON document.
pub fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("pbal runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}
