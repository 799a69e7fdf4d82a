//! End-to-end: the rebalance cycle on the real gateway client, over real TLS, against the
//! simulator on 127.0.0.1:0. Each test asserts on what the simulator received.
mod common;

use std::collections::BTreeSet;

use pbal::adapters::IbkrBroker;
use pbal::config::{OrderMode, Settings};
use pbal::cycle::{Cycle, CycleError, GuardViolation, RunKind};
use pbal::journal::IntentState;
use pbal::sim::SimConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use common::SimEnv as Env;

async fn start(cfg: SimConfig) -> Env {
    Env::start(cfg).await
}

/// Defaults pointed at the simulator, with caps wide enough for the sample account and a hard
/// rebalance (so plans contain sells and buys).
fn settings(env: &Env, strategy: &str) -> Settings {
    common::settings::rebalancing(&env.sim, env.path(), strategy)
}

fn cycle(s: Settings) -> Cycle<IbkrBroker> {
    common::cycle::build(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_places_nothing() {
    let env = start(SimConfig::relaxed()).await;
    let c = cycle(settings(&env, "hard"));
    let r = c
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "planned");
    assert!(
        !r.plan.unwrap().legs.is_empty(),
        "the sample account is off target"
    );
    assert!(env.sim.orders().is_empty());
    assert_eq!(c.journal.run(&r.run_id).unwrap().status, "planned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_then_approve_places_exactly_the_planned_orders() {
    let env = start(SimConfig::relaxed()).await;
    let c = cycle(settings(&env, "hard"));
    let r = c
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "staged");
    assert!(env.sim.orders().is_empty(), "staging only runs what-if");
    let legs = r.plan.unwrap().legs;
    let a = c.approve(r.staged_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(a.status, "completed", "{a:?}");
    let orders = env.sim.orders();
    assert_eq!(orders.len(), legs.len());
    let sent: BTreeSet<(String, Decimal)> = orders
        .iter()
        .map(|o| (o.symbol.clone(), o.quantity.unwrap()))
        .collect();
    let planned: BTreeSet<(String, Decimal)> = legs
        .iter()
        .map(|l| (l.symbol.clone(), l.quantity))
        .collect();
    assert_eq!(sent, planned);
    for rec in env.sim.coid_records().values() {
        assert_eq!(rec.posts, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_after_a_price_move_restages() {
    let env = start(SimConfig::relaxed()).await;
    let c = cycle(settings(&env, "hard"));
    let r = c
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    let sym = r.plan.as_ref().unwrap().legs[0].symbol.clone();
    let p = env.sim.price(&sym).unwrap();
    env.sim.set_price(&sym, p * dec!(1.03)).unwrap();
    let a = c.approve(r.staged_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(a.status, "restaged", "{a:?}");
    assert!(a.notes.iter().any(|n| n.contains(&sym)), "{:?}", a.notes);
    assert!(env.sim.orders().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_sends_sells_before_buys() {
    let env = start(SimConfig::relaxed()).await;
    let c = cycle(settings(&env, "hard"));
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:?}");
    let mut orders = env.sim.orders();
    orders.sort_by_key(|o| o.order_id);
    let first_buy = orders.iter().position(|o| format!("{:?}", o.side) == "Buy");
    let last_sell = orders
        .iter()
        .rposition(|o| format!("{:?}", o.side) == "Sell");
    if let (Some(b), Some(s)) = (first_buy, last_sell) {
        assert!(s < b, "a buy was sent before a sell: {orders:?}");
    }
    assert!(
        last_sell.is_some() && first_buy.is_some(),
        "hard rebalance sells and buys"
    );
    let intents = c.journal.intents_for_run(&r.run_id).unwrap();
    assert!(intents.iter().all(|i| i.state == IntentState::Filled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_account_is_refused_unless_allowed() {
    let mut cfg = SimConfig::relaxed();
    cfg.account.account_id = "U7654321".into();
    let env = start(cfg).await;
    let c = cycle(settings(&env, "hard"));
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, CycleError::Guard(GuardViolation::LiveAccount(_))),
        "{e}"
    );
    assert!(env.sim.orders().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_refuse_with_the_numbers() {
    let env = start(SimConfig::relaxed()).await;
    let mut s = settings(&env, "hard");
    s.orders.max_order_value = dec!(100);
    let c = cycle(s);
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max_order_value 100"), "{e}");
    assert!(env.sim.orders().is_empty());
}

fn prompt_everything() -> SimConfig {
    let mut cfg = SimConfig::relaxed();
    cfg.behaviour.prompts = vec![pbal::sim::config::PromptRule {
        id: "o163".into(),
        condition: pbal::sim::config::PromptCondition::Always,
        text: "The following order \"{order}\" price exceeds the Percentage constraint of 3%."
            .into(),
    }];
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_not_on_the_allowlist_stops_the_order_with_its_name() {
    let env = start(prompt_everything()).await;
    let c = cycle(settings(&env, "hard"));
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "partial");
    assert!(
        env.sim.orders().is_empty(),
        "refused prompts discard the order"
    );
    // Sells are refused by name; with `portfolio.cash = 0` the buys then have no proceeds to
    // spend and are trimmed to nothing (never paid from the account's other cash).
    assert!(
        r.orders.iter().all(|o| (o.state == IntentState::Rejected
            && o.message.as_deref().unwrap_or("").contains("o163"))
            || (o.state == IntentState::Skipped && o.quantity.is_zero())),
        "{:?}",
        r.orders
    );
    assert!(r.orders.iter().any(|o| o.state == IntentState::Rejected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowlisted_prompt_is_confirmed() {
    let env = start(prompt_everything()).await;
    let mut s = settings(&env, "hard");
    s.orders.prompt_allowlist = vec!["o163".into()];
    let c = cycle(s);
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(env.sim.orders().len(), r.orders.len());
}
