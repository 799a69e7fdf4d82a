//! `pbal orders list | resolve` end to end (issue 10 item 4): an order the gateway can no
//! longer tell about blocks new orders with a message naming the commands; a human settles it
//! with the real binary, which asks the gateway first and never contradicts a definite
//! answer; then the next run goes ahead.
mod common;

use pbal::config::OrderMode;
use pbal::cycle::{CycleError, RunKind};
use pbal::journal::IntentState;
use pbal::sim::{FaultAction, FaultRule, FillMode, SessionAction, SimConfig};

use common::SimEnv;
use common::config::{SUBMIT_HARD, pbal, write_config};

fn run_cli(cfg: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = pbal()
        .arg("--config")
        .arg(cfg)
        .arg("orders")
        .args(args)
        .output()
        .expect("pbal runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_gateway_forgot_is_settled_by_a_human_and_unblocks_the_next_run() {
    let mut cfg = SimConfig::relaxed();
    for i in &mut cfg.account.instruments {
        i.asset_class = "STK".into();
    }
    cfg.behaviour.fill_mode = FillMode::Never;
    let env = SimEnv::start(cfg).await;
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "hard");
    s.orders.fill_timeout_secs = 2;
    let c = common::cycle::relaxed(s);
    // The session goes at the second sell POST: one sell is at the gateway, then a new
    // brokerage session begins (the gateway forgets the old one's orders) and a human cancels
    // that order in the broker's UI.
    env.sim.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::SessionLoss,
        skip: 1,
        times: Some(1),
    });
    let first = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await;
    assert!(first.is_err(), "{first:?}");
    let placed = env.sim.orders();
    assert_eq!(placed.len(), 1);
    let coid = placed[0].coid.clone().unwrap();
    env.sim.set_session(SessionAction::Authenticate);
    let api = common::http::Api::new(&env.sim);
    api.prime().await;
    let (st, body) = api
        .delete(&format!(
            "/iserver/account/{}/order/{}",
            env.sim.account_id(),
            placed[0].order_id
        ))
        .await;
    assert_eq!(st, 200, "{body}");
    // The resumed run finishes; the forgotten order stays unknown (the gateway answers 503).
    let resumed = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await
        .expect("resumed");
    assert_eq!(resumed.status, "resumed");
    let i = c.journal.intent(&coid).unwrap().unwrap();
    assert_eq!(i.state, IntentState::Unknown, "{i:?}");
    let blocked = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q2"))
        .await;
    match &blocked {
        Err(CycleError::Blocked(m)) => {
            assert_eq!(
                m,
                &pbal::cycle::open_orders::blocked_message(std::slice::from_ref(&i))
            );
            assert!(
                m.contains(&format!("pbal orders resolve {coid} --as cancelled")),
                "{m}"
            );
            assert!(m.contains("pbal orders list"), "{m}");
        }
        other => panic!("expected blocked, got {other:?}"),
    }

    let cfg = write_config(env.path(), &env.sim, SUBMIT_HARD);
    let (ok, out, err) = run_cli(&cfg, &["list"]);
    assert!(ok, "{err}");
    assert!(out.contains(&coid) && out.contains("unknown"), "{out}");
    let (ok, _, err) = run_cli(&cfg, &["resolve", "pbal-nope", "--as", "cancelled"]);
    assert!(!ok && err.contains("no order with cOID pbal-nope"), "{err}");
    // A gateway that does know the order (here: it was cancelled) is never contradicted.
    env.sim
        .update_behaviour(|b| b.order_status_across_resets = true);
    let (ok, _, err) = run_cli(&cfg, &["resolve", &coid, "--as", "filled"]);
    assert!(!ok, "filled against the gateway's cancelled");
    assert!(
        err.contains("the gateway says") && err.contains("cancelled"),
        "{err}"
    );
    assert_eq!(
        c.journal.intent(&coid).unwrap().unwrap().state,
        IntentState::Unknown
    );
    // The gateway cannot tell: the human's word is recorded with who and when.
    env.sim
        .update_behaviour(|b| b.order_status_across_resets = false);
    let (ok, out, err) = run_cli(&cfg, &["resolve", &coid, "--as", "cancelled"]);
    assert!(ok, "{err}");
    assert!(out.contains("resolved as cancelled by"), "{out}");
    let i = c.journal.intent(&coid).unwrap().unwrap();
    assert_eq!(i.state, IntentState::Cancelled);
    let note = i.last_error.unwrap_or_default();
    assert!(
        note.contains("(uid ") && note.contains("cannot tell"),
        "{note}"
    );
    let (ok, _, err) = run_cli(&cfg, &["resolve", &coid, "--as", "cancelled"]);
    assert!(!ok && err.contains("already cancelled"), "{err}");
    let (ok, out, _) = run_cli(&cfg, &["list"]);
    assert!(ok && out.contains("no open orders"), "{out}");

    env.sim.set_fill_mode(FillMode::Immediate);
    let next = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q2"))
        .await;
    assert!(next.is_ok(), "the next period goes ahead: {next:?}");
}

#[test]
fn only_the_state_dirs_owner_may_resolve() {
    // A state dir others may write to is refused before the journal is even opened.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cfg = dir.path().join("pbal.toml");
    std::fs::write(&cfg, format!("[state]\ndir = \"{}\"\n", state.display())).unwrap();
    let (ok, _, err) = run_cli(&cfg, &["resolve", "pbal-x", "--as", "filled"]);
    assert!(!ok);
    assert!(err.contains("writable by others"), "{err}");
}
