//! Issue 10 item 12: submit mode previews every order (what-if) before placing it and refuses
//! one whose preview returns an error, a warning not on `orders.prompt_allowlist`, or a margin
//! or equity change beyond `orders.max_margin_change_pct`. Asserted on what the simulated
//! account did (orders placed), on the run's notes, and on the previews kept in the journal.
mod common;

use pbal::config::{OrderMode, Settings};
use pbal::cycle::{CycleReport, RunKind};
use pbal::sim::{FaultAction, FaultRule, Side};
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use common::SimEnv as Env;

fn settings(env: &Env) -> Settings {
    common::settings::rebalancing(&env.sim, env.path(), "hard")
}

async fn submit(s: Settings) -> (CycleReport, Vec<Value>) {
    let c = common::cycle::relaxed(s);
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    let rid = r.run_id.clone();
    let events = c.journal.call(move |j| j.events(Some(&rid))).await.unwrap();
    let previews = events
        .into_iter()
        .filter(|(_, kind, _)| kind == pbal::cycle::whatif_gate::EVENT_KIND)
        .map(|(_, _, p)| p)
        .collect();
    (r, previews)
}

/// Every what-if answers `body` (the gateway's shape), whatever the order.
fn whatif_answers(body: Value) -> FaultRule {
    FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders/whatif".into(),
        action: FaultAction::Status {
            status: 200,
            body: Some(body),
        },
        skip: 0,
        times: None,
    }
}

fn preview(warn: Value, error: Value) -> Value {
    json!({
        "amount": {"amount": "1,000.00 USD (10 Shares)", "commission": "1 USD", "total": "1,001.00 USD"},
        "equity": {"current": "118,000", "change": "-1", "after": "117,999"},
        "initial": {"current": "0", "change": "0", "after": "0"},
        "maintenance": {"current": "0", "change": "0", "after": "0"},
        "position": {"current": "0", "change": "10", "after": "10"},
        "warn": warn,
        "error": error,
    })
}

/// In a margin account a buy raises the initial margin by half its value (Reg T). Above the
/// configured share of equity, the buys are refused before any POST; the sells (which lower
/// the margin) go through. Each preview, with its margin change, is in the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buy_whose_margin_change_exceeds_the_limit_is_not_placed() {
    let env = Env::relaxed().await;
    env.set_market_open(Some(true));
    let mut s = settings(&env);
    s.orders.max_margin_change_pct = dec!(0.01);
    let (r, previews) = submit(s).await;
    let orders = env.orders();
    assert!(orders.iter().any(|o| o.side == Side::Sell), "{orders:?}");
    assert!(
        orders.iter().all(|o| o.side == Side::Sell),
        "a buy was placed despite its margin change: {orders:?}"
    );
    assert_eq!(r.status, "partial", "{r:#?}");
    let refusal = r
        .notes
        .iter()
        .find(|n| n.contains("max_margin_change_pct"))
        .unwrap_or_else(|| panic!("no refusal note: {:?}", r.notes));
    assert!(
        refusal.starts_with("BUY ") && refusal.contains("0.01%"),
        "{refusal}"
    );
    let legs = r.plan.as_ref().unwrap().legs.len();
    assert_eq!(previews.len(), legs, "one preview per order: {previews:#?}");
    let buy = previews
        .iter()
        .find(|p| p["side"] == "BUY")
        .expect("a buy preview");
    assert_eq!(buy["passed"], false);
    assert!(buy["whatif"]["initial_change"].is_string(), "{buy:#}");
    assert!(buy["margin_change_pct"].is_string(), "{buy:#}");
}

/// A preview warning whose id is not allowed refuses every order; allowing its id (`o21` for
/// the code `21`) lets them through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatif_warning_refuses_unless_its_id_is_allowed() {
    let warn = json!("21/You are trying to submit an order without having market data");
    let env = Env::relaxed().await;
    env.set_market_open(Some(true));
    env.add_fault(whatif_answers(preview(warn.clone(), Value::Null)));
    let (r, _) = submit(settings(&env)).await;
    assert!(env.orders().is_empty(), "{:?}", env.orders());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("prompt_allowlist") && n.contains("21/")),
        "{:?}",
        r.notes
    );

    let env = Env::relaxed().await;
    env.set_market_open(Some(true));
    env.add_fault(whatif_answers(preview(warn, Value::Null)));
    let mut s = settings(&env);
    s.orders.prompt_allowlist = vec!["o21".into()];
    let (r, _) = submit(s).await;
    assert_eq!(r.status, "completed", "{r:#?}");
    assert!(!env.orders().is_empty());
}

/// A preview that returns an error is a refusal, with the error in the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatif_error_refuses_the_order() {
    let env = Env::relaxed().await;
    env.set_market_open(Some(true));
    env.add_fault(whatif_answers(preview(
        Value::Null,
        json!("No trading permissions for this contract"),
    )));
    let (r, _) = submit(settings(&env)).await;
    assert!(env.orders().is_empty(), "{:?}", env.orders());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("No trading permissions") && n.contains("not placed")),
        "{:?}",
        r.notes
    );
}
