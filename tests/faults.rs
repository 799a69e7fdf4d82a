//! The fault suite (issue 10): a submit cycle against the simulator with one fault at one step
//! (positions, ledger, snapshot, sell POST, live orders, buy POST, reply, cancel), for every
//! step × fault kind, then the fault is healed (faults cleared, a human logs in again
//! if the session went) and pbal runs again. Every case checks the same invariants:
//! - no cOID was placed twice at the gateway;
//! - no buy beyond the budget: the buys' gross value never exceeds the net proceeds of the
//!   sells (the account's cash is kept out with `portfolio.cash = 0`);
//! - after the rerun the journal and the gateway agree on every order (placed, filled);
//! - each run ends `completed`, `partial`, `resumed`, `nothing-to-do` or with an error that
//!   says what happened — never silently.
//!
//! The matrix (fault × step → first run / rerun) is printed with `--nocapture` and copied into
//! the README. Cases run concurrently (each on its own simulator) with relaxed pacing, so the
//! whole matrix (80 cases) stays under two minutes on two cores.
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use pbal::adapters::IbkrBroker;
use pbal::config::OrderMode;
use pbal::cycle::{Cycle, CycleError, RunKind};
use pbal::journal::IntentState;
use pbal::sim::{
    FaultAction, FaultRule, FillMode, PromptCondition, PromptRule, SessionAction, SimConfig,
};
use rust_decimal::Decimal;

use common::SimEnv;

/// Where in the cycle the fault strikes: (name, method, path, which occurrence is hit).
#[derive(Clone, Copy)]
struct Step {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Matching requests let through first (`usize::MAX` = after the sells).
    skip: u32,
    /// What the gateway must do for the step to happen at all.
    needs: Needs,
}

/// Steps that a plain run never reaches get the gateway behaviour that makes them happen.
#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    /// Every order asks an allow-listed confirmation question (`POST /iserver/reply/{id}`).
    Prompt,
    /// Orders fill only in part (funds too) and the fill window is short, so the rest is
    /// cancelled (`DELETE …/order/{id}`), which shows `PendingCancel` for a read first.
    Cancel,
}

const AFTER_SELLS: u32 = u32::MAX;

const STEPS: [Step; 8] = [
    Step {
        name: "positions",
        method: "GET",
        path: "/portfolio/*/positions/*",
        skip: 0,
        needs: Needs::Nothing,
    },
    Step {
        name: "ledger",
        method: "GET",
        path: "/portfolio/*/ledger",
        skip: 0,
        needs: Needs::Nothing,
    },
    Step {
        name: "snapshot",
        method: "GET",
        path: "/iserver/marketdata/snapshot",
        skip: 1,
        needs: Needs::Nothing,
    },
    Step {
        name: "sell POST",
        method: "POST",
        path: "/iserver/account/*/orders",
        skip: 0,
        needs: Needs::Nothing,
    },
    Step {
        name: "live orders",
        method: "GET",
        path: "/iserver/account/orders",
        skip: 0,
        needs: Needs::Nothing,
    },
    Step {
        name: "buy POST",
        method: "POST",
        path: "/iserver/account/*/orders",
        skip: AFTER_SELLS,
        needs: Needs::Nothing,
    },
    Step {
        name: "reply",
        method: "POST",
        path: "/iserver/reply/*",
        skip: 0,
        needs: Needs::Prompt,
    },
    Step {
        name: "cancel",
        method: "DELETE",
        path: "/iserver/account/*/order/*",
        skip: 0,
        needs: Needs::Cancel,
    },
];

fn kinds() -> Vec<(&'static str, FaultAction)> {
    vec![
        (
            "500",
            FaultAction::Status {
                status: 500,
                body: Some(serde_json::json!({"error": "failed to process request"})),
            },
        ),
        (
            "503-after-apply",
            FaultAction::StatusAfterApply { status: 503 },
        ),
        ("drop", FaultAction::Drop),
        ("drop-after-apply", FaultAction::DropAfterApply),
        ("delay", FaultAction::Delay { ms: 1500 }),
        ("session loss", FaultAction::SessionLoss),
        ("competing", FaultAction::Competing),
        ("nightly reset", FaultAction::NightlyReset),
        (
            "reject",
            FaultAction::RejectOrder {
                message: "Order rejected - reason: simulated".into(),
            },
        ),
        (
            "429",
            FaultAction::Status {
                status: 429,
                body: None,
            },
        ),
    ]
}

/// The 429 penalty box, shortened so a case can wait it out (the real one is 10 minutes).
const PENALTY_SECS: u64 = 2;

/// The prompt every order asks at the reply step (allow-listed, so pbal confirms it).
const PROMPT: &str = "o451";

/// The simulator for `step`: relaxed, plus what makes the step happen.
fn sim_config(needs: Needs) -> SimConfig {
    let mut cfg = SimConfig::relaxed();
    match needs {
        Needs::Nothing => {}
        Needs::Prompt => {
            cfg.behaviour.prompts = vec![PromptRule {
                id: PROMPT.into(),
                condition: PromptCondition::Always,
                text: "The following order \"{order}\" value estimate exceeds the Total Value \
                       Limit. Are you sure you want to submit this order?"
                    .into(),
            }];
        }
        Needs::Cancel => {
            cfg.behaviour.fill_mode = FillMode::Partial {
                fraction: rust_decimal_macros::dec!(0.5),
            };
            cfg.behaviour.cancel_pending_reads = 1;
        }
    }
    cfg
}

/// Relaxed client pacing: the simulator is relaxed too, and this suite is not about pacing.
fn cycle(env: &SimEnv, needs: Needs) -> Cycle<IbkrBroker> {
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "hard");
    s.gateway.rate_limit_penalty_secs = PENALTY_SECS;
    // Orders fill at once in the simulator; the window only bounds the wait for orders whose
    // POST went unanswered, so a short one keeps the matrix fast without changing outcomes.
    s.orders.fill_timeout_secs = 5;
    match needs {
        Needs::Nothing => {}
        Needs::Prompt => s.orders.prompt_allowlist = vec![PROMPT.into()],
        Needs::Cancel => s.orders.fill_timeout_secs = 1,
    }
    common::cycle::relaxed(s)
}

fn outcome(r: &Result<pbal::cycle::CycleReport, CycleError>) -> String {
    match r {
        Ok(rep) => rep.status.clone(),
        Err(e) if e.is_session_lost() => "error: session".into(),
        Err(CycleError::Busy(_)) => "error: busy".into(),
        Err(CycleError::Broker(_)) => "error: gateway".into(),
        Err(e) => format!(
            "error: {}",
            e.to_string().chars().take(24).collect::<String>()
        ),
    }
}

const FINISHED: [&str; 4] = ["completed", "partial", "resumed", "nothing-to-do"];

/// Runs one case and checks the invariants; returns "first → rerun".
async fn run_case(step: Step, kind: &'static str, action: FaultAction, sells: u32) -> String {
    let env = SimEnv::start(sim_config(step.needs)).await;
    let c = cycle(&env, step.needs);
    env.sim.add_fault(FaultRule {
        method: Some(step.method.into()),
        path: step.path.into(),
        action,
        skip: if step.skip == AFTER_SELLS {
            sells
        } else {
            step.skip
        },
        times: Some(1),
    });
    let first = c.run(OrderMode::Submit, RunKind::Manual, None).await;
    if let Err(e) = &first {
        assert!(
            !e.to_string().trim().is_empty(),
            "{kind} at {}: silent error",
            step.name
        );
    }
    // Heal: the fault is gone; a human logs in again if the session went; after a 429 pbal
    // sends nothing until the penalty box is over, so the rerun comes after it.
    env.sim.clear_faults();
    if step.needs == Needs::Cancel {
        // What was not cancelled fills now (funds too: they fill at the next NAV).
        env.sim.set_fill_mode(FillMode::Immediate);
    }
    if kind == "429" {
        tokio::time::sleep(std::time::Duration::from_secs(PENALTY_SECS + 1)).await;
    }
    let session = env.sim.session();
    if !session.sso || !session.authenticated || session.competing {
        env.sim.set_session(SessionAction::Authenticate);
    }
    let rerun = c.run(OrderMode::Submit, RunKind::Manual, None).await;
    let (a, b) = (outcome(&first), outcome(&rerun));
    let case = format!("{kind} at {}", step.name);
    assert!(
        first.is_err() || FINISHED.contains(&a.as_str()),
        "{case}: first run {a}"
    );
    assert!(
        FINISHED.contains(&b.as_str()),
        "{case}: the rerun after healing must finish, got {rerun:?}"
    );
    check_invariants(&env, &c, &case);
    format!("{a} → {b}")
}

fn check_invariants(env: &SimEnv, c: &Cycle<IbkrBroker>, case: &str) {
    // 1. No cOID placed twice.
    let mut per_coid: BTreeMap<String, usize> = BTreeMap::new();
    for o in env.sim.orders() {
        if let Some(coid) = &o.coid {
            *per_coid.entry(coid.clone()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_coid.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{case}: placed twice {twice:?}");
    // 2. No buy beyond the budget (cash = 0: the buys live on the sells' proceeds).
    let mut sold = Decimal::ZERO;
    let mut bought = Decimal::ZERO;
    for e in env.sim.executions() {
        match format!("{:?}", e.side).as_str() {
            "Sell" => sold += e.net_amount,
            _ => bought += e.size * e.price,
        }
    }
    assert!(
        bought <= sold,
        "{case}: buys {bought} beyond the sells' proceeds {sold}"
    );
    // 3. Journal and gateway agree.
    let runs = c.journal.runs(100).unwrap();
    let mut journal: BTreeMap<String, pbal::journal::OrderIntent> = BTreeMap::new();
    for r in &runs {
        for i in c.journal.intents_for_run(&r.id).unwrap() {
            journal.insert(i.coid.clone(), i);
        }
    }
    for o in env.sim.orders() {
        let Some(coid) = &o.coid else { continue };
        let i = journal
            .get(coid)
            .unwrap_or_else(|| panic!("{case}: gateway order {coid} unknown to the journal"));
        let filled = format!("{:?}", o.status) == "Filled";
        assert!(
            !filled || i.state == IntentState::Filled,
            "{case}: {coid} filled at the gateway, journal says {:?}",
            i.state
        );
        assert!(
            !matches!(i.state, IntentState::Intent | IntentState::Skipped),
            "{case}: {coid} placed but the journal says {:?}",
            i.state
        );
    }
    for i in journal.values() {
        if i.state == IntentState::Filled {
            let o = env.sim.order_by_coid(&i.coid);
            assert!(
                o.is_some_and(|o| format!("{:?}", o.status) == "Filled"),
                "{case}: journal says {} filled, the gateway does not",
                i.coid
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_step_keeps_the_invariants() {
    // How many sells the sample plan has (the buy POST step starts after them).
    let probe = SimEnv::start(SimConfig::relaxed()).await;
    let r = cycle(&probe, Needs::Nothing)
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap();
    let sells = r
        .plan
        .unwrap()
        .legs
        .iter()
        .filter(|l| format!("{:?}", l.side) == "Sell")
        .count() as u32;
    assert!(sells > 0);
    let cases: Vec<(Step, &'static str, FaultAction)> = STEPS
        .iter()
        .flat_map(|s| kinds().into_iter().map(move |(k, a)| (*s, k, a)))
        .collect();
    let results: Arc<std::sync::Mutex<BTreeMap<(&str, &str), String>>> = Default::default();
    futures::stream::iter(cases)
        .map(|(step, kind, action)| {
            let results = results.clone();
            async move {
                let out = tokio::spawn(run_case(step, kind, action, sells))
                    .await
                    .unwrap_or_else(|e| format!("FAILED: {e}"));
                results.lock().unwrap().insert((kind, step.name), out);
            }
        })
        // The cases mostly wait (poll intervals, fill windows), so 12 at once on two cores
        // keep the 80 cases at about the wall time 60 took with 8.
        .buffer_unordered(12)
        .collect::<Vec<()>>()
        .await;
    let results = results.lock().unwrap();
    let mut table = String::from("| fault \\ step |");
    for s in STEPS {
        table.push_str(&format!(" {} |", s.name));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(STEPS.len()));
    for (k, _) in kinds() {
        table.push_str(&format!("\n| {k} |"));
        for s in STEPS {
            table.push_str(&format!(
                " {} |",
                results.get(&(k, s.name)).map(String::as_str).unwrap_or("?")
            ));
        }
    }
    println!("first run → rerun after healing\n{table}");
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, v)| v.starts_with("FAILED"))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}\n{table}");
}
