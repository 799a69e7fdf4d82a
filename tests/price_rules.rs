//! Issue 10 item 6 (rest): caps are checked on what an order may really cost — its limit price,
//! not the reference price it was sized at — and limit prices lie on the contract's tick
//! (from `/iserver/contract/rules`), buys rounded down and sells up. The simulator rejects a
//! limit price off the tick, as IBKR does.
mod common;

use pbal::config::{CashSetting, OrderMode, Settings};
use pbal::cycle::{CycleError, GuardViolation, RunKind};
use pbal::sim::{Side, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use common::SimEnv as Env;

/// Buys only (never-sell, 4000 of the account's cash to invest): every leg has a limit above
/// its reference price.
fn buys_only(env: &Env) -> Settings {
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "never-sell");
    s.portfolio.cash = CashSetting::Amount(dec!(4000));
    s
}

/// A cap between the largest order's value at its reference price and at its limit price:
/// the order must be refused (at the reference price it would pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_are_checked_on_the_limit_price() {
    let env = Env::relaxed().await;
    let s = buys_only(&env);
    let plan = common::cycle::relaxed(s.clone())
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap()
        .plan
        .unwrap();
    let at_reference = plan.legs.iter().map(|l| l.value()).max().unwrap();
    let at_limit = plan
        .legs
        .iter()
        .map(|l| match l.order_type {
            pbal::cycle::broker::OrderType::Limit { price } => l.quantity * price,
            pbal::cycle::broker::OrderType::Market => l.value(),
        })
        .max()
        .unwrap();
    assert!(at_limit > at_reference, "{plan:#?}");
    let mut capped = s;
    capped.orders.max_order_value = ((at_reference + at_limit) / Decimal::TWO).round_dp(2);
    let e = common::cycle::relaxed(capped)
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, CycleError::Guard(GuardViolation::OrderValue { .. })),
        "{e}"
    );
}

/// Every instrument trades in steps of 0.05. pbal's limit prices (ask + 10 bp) land on the
/// tick — buys rounded down, sells up — so no order is rejected for its price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_prices_are_rounded_onto_the_contract_tick() {
    let mut cfg = SimConfig::relaxed();
    for i in &mut cfg.account.instruments {
        i.tick = Some(dec!(0.05));
    }
    let env = Env::start(cfg).await;
    env.set_market_open(Some(true));
    let s = common::settings::rebalancing(&env.sim, env.path(), "hard");
    let r = common::cycle::relaxed(s)
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:#?}");
    let orders = env.orders();
    assert!(orders.iter().any(|o| o.side == Side::Sell));
    assert!(orders.iter().any(|o| o.side == Side::Buy));
    // The mutual fund (VSMAX) takes market orders; every other order is a limit order.
    for o in orders.iter().filter(|o| o.symbol != "VSMAX") {
        let l = o.limit_price.expect("limit orders");
        assert!(
            (l % dec!(0.05)).is_zero(),
            "{} limit {l} off the tick",
            o.symbol
        );
        let price = env.price(&o.symbol).unwrap();
        match o.side {
            // Through the touch by at most 10 bp, then down to the tick.
            Side::Buy => assert!(l <= (price + dec!(0.01)) * dec!(1.001), "{o:?}"),
            Side::Sell => assert!(l >= (price - dec!(0.01)) * dec!(0.999), "{o:?}"),
        }
    }
}
