//! Crash safety: the real `pbal` binary is SIGKILLed while an order POST is in flight (the
//! simulator has applied it but not answered), then restarted. Every planned order must exist at
//! the simulator exactly once — for a kill at the first, the middle and the last order.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pbal::journal::Journal;
use pbal::sim::faults::{FaultAction, FaultRule};
use pbal::sim::{SimConfig, SimHandle, Simulator};

fn write_config(dir: &Path, sim: &SimHandle) -> std::path::PathBuf {
    common::config::write_config(dir, sim, common::config::SUBMIT_HARD)
}

fn pbal(cfg: &Path) -> Command {
    let mut c = common::config::pbal();
    c.args([
        "--config",
        cfg.to_str().unwrap(),
        "rebalance",
        "--mode",
        "submit",
    ])
    .env_remove("RUST_LOG")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// Kills pbal while order POST number `k` (1-based) hangs after being applied, restarts it, and
/// checks that every planned order exists exactly once.
async fn crash_at(k_of: impl Fn(usize) -> usize) {
    // Learn how many orders the plan has from a dry run against an identical simulator.
    let probe = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let pdir = tempfile::tempdir().unwrap();
    let pcfg = write_config(pdir.path(), &probe);
    let report = common::config::run_json(common::config::pbal().args([
        "--config",
        pcfg.to_str().unwrap(),
        "rebalance",
        "--mode",
        "dry-run",
        "--format",
        "json",
    ]));
    let n = report["plan"]["legs"].as_array().unwrap().len();
    assert!(n >= 3, "the sample plan needs several orders, got {n}");
    probe.shutdown().await;

    let k = k_of(n);
    let sim = Simulator::start(SimConfig::relaxed()).await.unwrap();
    sim.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::DelayAfterApply { ms: 60_000 },
        skip: (k - 1) as u32,
        times: Some(1),
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim);
    let mut child = pbal(&cfg).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.orders().len() < k {
        assert!(Instant::now() < deadline, "pbal never reached order {k}");
        assert!(child.try_wait().unwrap().is_none(), "pbal exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(sim.orders().len(), k);
    sim.clear_faults();

    // Restart: the interrupted run is resumed, nothing is sent twice.
    let status = pbal(&cfg).status().unwrap();
    assert!(status.success(), "restarted pbal failed: {status:?}");

    let journal = Journal::open_in(&dir.path().join("state")).unwrap();
    let runs = journal.runs(10).unwrap();
    let submit_run = runs.iter().find(|r| r.mode == "submit").unwrap();
    let intents = journal.intents_for_run(&submit_run.id).unwrap();
    assert_eq!(intents.len(), n, "every planned leg has an intent");
    let planned: BTreeSet<String> = intents.iter().map(|i| i.coid.clone()).collect();
    let orders = sim.orders();
    let placed: Vec<String> = orders.iter().filter_map(|o| o.coid.clone()).collect();
    let unique: BTreeSet<String> = placed.iter().cloned().collect();
    assert_eq!(
        placed.len(),
        unique.len(),
        "an order exists twice: {placed:?}"
    );
    assert_eq!(unique, planned, "placed orders differ from the plan");
    assert_eq!(
        runs.iter().filter(|r| r.mode == "submit").count(),
        1,
        "no second run was started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_first_order_post() {
    crash_at(|_| 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_middle_order_post() {
    crash_at(|n| n / 2 + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_last_order_post() {
    crash_at(|n| n).await;
}
