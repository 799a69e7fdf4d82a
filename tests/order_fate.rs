//! Orders whose fate the gateway tells late, partly, or not at all (issue 10 items 4 and 5):
//! a cancellation that takes a few polls, orders that drop off the live-orders list but still
//! answer by id, a reset between two runs, and mutual-fund orders that fill at the next NAV.
//! Each case once left an order `unknown` (or cancelled a fund order) and so blocked every
//! later period; the simulator reproduces the gateway's behaviour with its knobs.
mod common;

use pbal::config::{OrderMode, Settings};
use pbal::cycle::{Cycle, CycleError, RunKind};
use pbal::journal::{IntentState, OrderIntent};
use pbal::sim::{
    Behaviour, FaultAction, FaultRule, FillMode, MarketHours, SessionAction, SimConfig,
};

use common::SimEnv;

/// The sample account, with its mutual fund made a stock unless `fund` (a fund order
/// legitimately stays open past the fill window, which the fund test covers on its own).
async fn env(fund: bool, tune: impl FnOnce(&mut Behaviour)) -> SimEnv {
    let mut cfg = SimConfig::relaxed();
    if !fund {
        for i in &mut cfg.account.instruments {
            i.asset_class = "STK".into();
        }
    }
    tune(&mut cfg.behaviour);
    SimEnv::start(cfg).await
}

/// A hard rebalance in submit mode with a 2 s fill window.
fn settings(env: &SimEnv) -> Settings {
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "hard");
    s.orders.fill_timeout_secs = 2;
    s.orders.poll_interval_secs = 1;
    s
}

fn all_intents(c: &Cycle<pbal::adapters::IbkrBroker>) -> Vec<OrderIntent> {
    let mut v = Vec::new();
    for r in c.journal.runs(100).unwrap() {
        v.extend(c.journal.intents_for_run(&r.id).unwrap());
    }
    v
}

fn unknown(c: &Cycle<pbal::adapters::IbkrBroker>) -> Vec<String> {
    all_intents(c)
        .into_iter()
        .filter(|i| i.state == IntentState::Unknown)
        .map(|i| format!("{} {}: {:?}", i.coid, i.symbol, i.last_error))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cancel_and_orders_missing_from_the_list_do_not_block_the_next_period() {
    // Nothing fills; a cancel shows PendingCancel for 3 reads; the live list never shows an
    // order (it forgets at once), so only the status by id can tell.
    let env = env(false, |b| {
        b.fill_mode = FillMode::Never;
        b.cancel_pending_reads = 3;
        b.live_orders_forget_after_ms = Some(0);
    })
    .await;
    let c = common::cycle::relaxed(settings(&env));
    let first = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await
        .expect("the first run finishes");
    assert_eq!(first.status, "partial");
    assert!(unknown(&c).is_empty(), "left unknown: {:?}", unknown(&c));
    for o in env.sim.orders() {
        assert_eq!(format!("{:?}", o.status), "Cancelled", "{o:?}");
        let i = c
            .journal
            .intent(o.coid.as_deref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(i.state, IntentState::Cancelled, "{i:?}");
    }
    // The next quarter plans and trades again instead of stopping at the old orders.
    env.sim
        .update_behaviour(|b| b.live_orders_forget_after_ms = None);
    env.sim.set_fill_mode(FillMode::Immediate);
    let next = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q2"))
        .await;
    let next = next.expect("the next period is not blocked");
    assert!(
        ["completed", "partial"].contains(&next.status.as_str()),
        "{next:?}"
    );
}

/// Interrupts a run after its sells were placed: the session goes at the first live-orders poll
/// after them (the two calls before are the reconciliation's, asked twice as the first answer
/// after a login is empty).
async fn interrupted_after_the_sells(env: &SimEnv, c: &Cycle<pbal::adapters::IbkrBroker>) {
    env.sim.add_fault(FaultRule {
        method: Some("GET".into()),
        path: "/iserver/account/orders".into(),
        action: FaultAction::SessionLoss,
        skip: 2,
        times: Some(1),
    });
    let r = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await;
    assert!(matches!(r, Err(ref e) if e.is_session_lost()), "{r:?}");
    assert!(!env.sim.orders().is_empty(), "the sells were placed");
}

/// A human cancels every working order in the broker's UI (here: the gateway's DELETE).
async fn human_cancels_everything(env: &SimEnv) {
    let api = common::http::Api::new(&env.sim);
    api.prime().await;
    let acct = env.sim.account_id();
    for o in env.sim.orders() {
        let (status, body) = api
            .delete(&format!("/iserver/account/{acct}/order/{}", o.order_id))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_gone_after_a_reset_is_settled_by_its_status() {
    let env = env(false, |b| {
        b.fill_mode = FillMode::Never;
        b.order_status_across_resets = true;
    })
    .await;
    let c = common::cycle::relaxed(settings(&env));
    interrupted_after_the_sells(&env, &c).await;
    // A new brokerage session: the old orders drop off the live list.
    env.sim.set_session(SessionAction::Authenticate);
    human_cancels_everything(&env).await;
    let resumed = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await
        .expect("the interrupted run is resumed");
    assert_eq!(resumed.status, "resumed");
    assert!(unknown(&c).is_empty(), "left unknown: {:?}", unknown(&c));
    for i in all_intents(&c).iter().filter(|i| i.side == "SELL") {
        assert_eq!(i.state, IntentState::Cancelled, "{i:?}");
    }
    env.sim.set_fill_mode(FillMode::Immediate);
    let next = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q2"))
        .await;
    assert!(next.is_ok(), "the next period is not blocked: {next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_order_waits_for_its_nav_without_blocking_or_repeating() {
    // Market hours exist (so a fund fills at the next close) and the market is open now.
    let mut cfg = SimConfig::relaxed();
    cfg.account.market_hours = Some(MarketHours {
        tz: "America/New_York".into(),
        open: "09:30".into(),
        close: "16:00".into(),
    });
    let env = SimEnv::start(cfg).await;
    env.sim.set_market_open(Some(true));
    let c = common::cycle::relaxed(settings(&env));
    let first = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q1"))
        .await
        .expect("the first run finishes");
    let fund = first
        .orders
        .iter()
        .find(|l| l.symbol == "VSMAX")
        .expect("the plan trades the fund")
        .clone();
    assert_eq!(fund.state, IntentState::Working, "{first:?}");
    let at_gateway = env.sim.order_by_coid(&fund.coid).unwrap();
    assert_eq!(
        format!("{:?}", at_gateway.status),
        "Submitted",
        "a fund order is not cancelled at the fill window"
    );
    assert!(
        first
            .notes
            .iter()
            .any(|n| n.contains("VSMAX") && n.contains("NAV")),
        "{:?}",
        first.notes
    );
    // A run while it waits places nothing and says why.
    let placed = env.sim.orders().len();
    let waiting = c.run(OrderMode::Submit, RunKind::Manual, None).await;
    match &waiting {
        Err(CycleError::Busy(m)) => assert!(m.contains("VSMAX") && m.contains("NAV"), "{m}"),
        other => panic!("expected a wait for the fund's NAV, got {other:?}"),
    }
    assert_eq!(
        env.sim.orders().len(),
        placed,
        "no order placed while waiting"
    );
    // Days later the fund has filled at a close: the next run learns it and goes ahead.
    env.sim.advance(std::time::Duration::from_secs(4 * 86_400));
    env.sim.set_session(SessionAction::Authenticate);
    let later = c
        .run(OrderMode::Submit, RunKind::Scheduled, Some("2027-Q2"))
        .await;
    assert!(later.is_ok(), "{later:?}");
    let i = c.journal.intent(&fund.coid).unwrap().unwrap();
    assert_eq!(i.state, IntentState::Filled, "{i:?}");
    let dup = env
        .sim
        .orders()
        .iter()
        .filter(|o| o.coid.as_deref() == Some(fund.coid.as_str()))
        .count();
    assert_eq!(dup, 1);
}
