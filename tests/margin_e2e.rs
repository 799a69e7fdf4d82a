//! End-to-end margin budget (issue 12 item 6): the cycle on the real client against the
//! simulator's Reg T margin account. Assertions are on the simulated account's money: what it
//! owes after the run against the limit, and that a refused plan placed nothing.
mod common;

use pbal::config::{CashSetting, OrderMode, Settings};
use pbal::cycle::RunKind;
use pbal::sim::SimConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use common::SimEnv as Env;

/// Never-sell with the settled cash and a margin budget of `pct` % of net liquidation.
fn settings(env: &Env, pct: Decimal, cushion: Decimal) -> Settings {
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "never-sell");
    s.portfolio.cash = CashSetting::Available;
    s.portfolio.max_margin_pct = pct;
    s.portfolio.min_cushion_pct = cushion;
    s
}

fn net_liquidation(env: &Env) -> Decimal {
    env.sim.cash()
        + env
            .sim
            .positions()
            .iter()
            .map(|p| p.quantity * p.price)
            .sum::<Decimal>()
}

fn bought(env: &Env) -> Decimal {
    env.sim
        .executions()
        .iter()
        .filter(|e| format!("{:?}", e.side) == "Buy")
        .map(|e| e.size * e.price)
        .sum()
}

/// A margin account borrows within the limit: it ends owing more than nothing and at most
/// 10 % of its net liquidation, and the run's plan shows the loan and the cushion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_margin_account_borrows_within_the_limit() {
    let env = Env::relaxed().await;
    let nlv = net_liquidation(&env);
    let cash = env.sim.cash();
    let c = common::cycle::build(settings(&env, dec!(10), dec!(10)));
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    // A buy may be trimmed by a share when limit prices on the tick cost a cent more than the
    // plan's headroom; none may be rejected by the gateway.
    assert!(
        matches!(r.status.as_str(), "completed" | "partial"),
        "{r:?}"
    );
    assert!(
        r.orders
            .iter()
            .all(|o| o.filled == o.quantity && o.message.is_none()),
        "{:?}",
        r.orders
    );
    let plan = &r.plan.as_ref().expect("a plan").plan;
    let m = plan
        .margin
        .as_ref()
        .expect("the plan shows its margin budget");
    assert_eq!(m.loan_limit, nlv / dec!(10));
    assert!(m.loan_new > dec!(1000), "{m:?}");
    assert!(m.cushion_pct_after >= dec!(10), "{m:?}");
    // The money: the buys spent the cash and a loan, never beyond the limit.
    let owed = -env.sim.cash();
    assert!(
        owed > Decimal::ZERO,
        "nothing borrowed: cash {}",
        env.sim.cash()
    );
    assert!(
        owed <= nlv / dec!(10),
        "owes {owed}, limit {}",
        nlv / dec!(10)
    );
    assert!(
        bought(&env) > cash,
        "bought only {} with {cash} cash",
        bought(&env)
    );
}

/// The same account with a 70 % minimum cushion: excess liquidity after borrowing 10 % would be
/// about 75 % − 10 % − 2.5 % of net liquidation, so the plan is refused with its numbers, and
/// nothing is ordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loan_that_breaks_the_cushion_is_refused() {
    let env = Env::relaxed().await;
    let c = common::cycle::build(settings(&env, dec!(10), dec!(70)));
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("margin cushion") && e.contains("below min_cushion_pct 70%"),
        "{e}"
    );
    assert!(env.sim.orders().is_empty(), "a refused plan ordered");
}

/// A cash account never borrows, whatever `portfolio.max_margin_pct` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cash_account_never_borrows() {
    let mut cfg = SimConfig::relaxed();
    cfg.account.account_type = "cash".into();
    let env = Env::start(cfg).await;
    let c = common::cycle::build(settings(&env, dec!(20), dec!(10)));
    let r = c
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap();
    let plan = &r.plan.as_ref().expect("a plan").plan;
    assert!(plan.margin.is_none());
    assert!(plan.cash_used <= env.sim.cash(), "{plan:?}");
    assert!(
        plan.notes.iter().any(|n| n.contains("never borrows")),
        "{:?}",
        plan.notes
    );
}
