//! Issue 10 item 9: gateway answers are classified by their body first. Each test makes the
//! simulator answer the way real gateways do at the worst moment and asserts on what the
//! simulated account did, not on what pbal says:
//! - a 500 `Please query /accounts first` on an order POST (the gateway re-authenticated
//!   itself) means "not placed": pbal re-primes and sends that one POST once more, same cOID;
//! - a 400 `no bridge` is a session that is not ready, never a rejected leg;
//! - a tickle without `iserver.authStatus` is not a healthy session;
//! - a multi-account user's selection goes back to another account after every
//!   re-authentication: pbal selects the configured one again, so trades (the sells' proceeds)
//!   are read from the right account.
mod common;

use pbal::config::OrderMode;
use pbal::cycle::RunKind;
use pbal::ibkr::{
    GatewayClient, GatewayError, OrderSize, OrderTicket, OrderType, PlaceOutcome, PromptPolicy,
    SessionState, Side, WaitForHuman,
};
use pbal::sim::{FaultAction, FaultRule, NoBrokerageReply, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use common::SimEnv as Env;

fn client(env: &Env) -> GatewayClient {
    env.client()
}

fn ticket(env: &Env, coid: &str) -> OrderTicket {
    OrderTicket {
        account_id: env.account_id(),
        conid: env.conid("VNQ").unwrap(),
        sec_type: Some("STK".into()),
        coid: coid.into(),
        side: Side::Buy,
        order_type: OrderType::Limit {
            price: env.price("VNQ").unwrap(),
        },
        size: OrderSize::Quantity(dec!(1)),
        tif: "DAY".into(),
        outside_rth: false,
        listing_exchange: None,
    }
}

fn on_order_post(action: FaultAction, times: u32) -> FaultRule {
    FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action,
        skip: 0,
        times: Some(times),
    }
}

fn order_posts(env: &Env) -> usize {
    env.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/orders"))
        .count()
}

/// The gateway re-authenticated itself just before the order POST: it answers 500
/// `Please query /accounts first` without taking the order. pbal re-primes and sends the
/// same POST once more; the order exists exactly once.
#[tokio::test]
async fn not_primed_on_an_order_post_re_primes_and_sends_it_once_more() {
    let env = Env::relaxed().await;
    env.set_market_open(Some(true));
    let c = client(&env);
    c.ensure_ready().await.unwrap();
    env.add_fault(on_order_post(FaultAction::Reauthenticated, 1));
    let out = c
        .place_order(&ticket(&env, "ga-reprime-1"), &PromptPolicy::new([]))
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::Submitted { .. }), "{out:?}");
    let placed: Vec<_> = env
        .orders()
        .into_iter()
        .filter(|o| o.coid.as_deref() == Some("ga-reprime-1"))
        .collect();
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(order_posts(&env), 2, "one refused POST, one retry");
}

/// Refused again after the re-priming: no third POST; the caller learns the session is not
/// ready (the order certainly does not exist).
#[tokio::test]
async fn not_primed_twice_is_never_retried_a_second_time() {
    let env = Env::relaxed().await;
    let c = client(&env);
    c.ensure_ready().await.unwrap();
    env.add_fault(on_order_post(FaultAction::Reauthenticated, 5));
    let e = c
        .place_order(&ticket(&env, "ga-reprime-2"), &PromptPolicy::new([]))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::NotPrimed), "{e}");
    assert!(e.is_session_lost());
    assert_eq!(order_posts(&env), 2, "exactly one retry");
    assert!(env.orders().is_empty());
}

/// The brokerage session vanished between the Ready check and the POST, and the gateway says
/// `Bad Request: no bridge` (HTTP 400, plain text): a session that is not ready, not a leg
/// IBKR rejected.
#[tokio::test]
async fn no_bridge_on_an_order_post_is_a_session_not_ready_not_a_rejection() {
    let mut cfg = SimConfig::relaxed();
    cfg.behaviour.no_brokerage_reply = NoBrokerageReply::NoBridge;
    let env = Env::start(cfg).await;
    let c = client(&env);
    c.ensure_ready().await.unwrap();
    env.add_fault(on_order_post(FaultAction::NightlyReset, 1));
    let r = c
        .place_order(&ticket(&env, "ga-bridge-1"), &PromptPolicy::new([]))
        .await;
    match r {
        Err(e @ GatewayError::NoBrokerage { .. }) => assert!(e.is_session_lost(), "{e}"),
        other => panic!("expected a session error, got {other:?}"),
    }
    assert!(env.orders().is_empty());
    assert!(c.status().state < SessionState::Ready);
}

/// Without a brokerage session the gateway's tickle carries no `iserver.authStatus`. The
/// keeper must not read that as healthy: it recovers (ssodh/init, priming) instead.
#[tokio::test]
async fn a_tickle_without_auth_status_is_not_healthy() {
    let env = Env::relaxed().await;
    let c = client(&env);
    c.ensure_ready().await.unwrap();
    env.set_session(pbal::sim::SessionAction::NightlyReset);
    assert!(!env.session().authenticated);
    c.maintain(&WaitForHuman::default()).await.unwrap();
    let s = env.session();
    assert!(
        s.authenticated && s.iserver_primed,
        "the keeper took a tickle without authStatus for a healthy session: {s:?}"
    );
    assert_eq!(c.status().state, SessionState::Ready);
}

/// A user with two accounts: after every authentication the gateway selects the other one.
/// A hard rebalance with `portfolio.cash = 0` budgets its buys on the proceeds the trades
/// endpoint reports for its sells — read from the wrong account they are zero and the buys are
/// dropped. With an extra re-authentication right before the first order POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_account_user_gets_the_configured_account_back_after_reauthentication() {
    let mut cfg = SimConfig::relaxed();
    cfg.account.other_accounts = vec!["DU7777777".into()];
    let env = Env::start(cfg).await;
    env.set_market_open(Some(true));
    assert_eq!(env.selected_account(), "DU7777777");
    env.add_fault(on_order_post(FaultAction::Reauthenticated, 1));
    let mut s = common::settings::rebalancing(&env.sim, env.path(), "hard");
    s.account.id = env.account_id();
    let c = common::cycle::relaxed(s);
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:#?}");
    let bought: Decimal = env
        .executions()
        .iter()
        .filter(|e| format!("{:?}", e.side) == "Buy")
        .map(|e| e.net_amount)
        .sum();
    assert!(bought > Decimal::ZERO, "no buy went through");
    for (coid, rec) in env.coid_records() {
        assert!(rec.posts <= 1, "{coid} posted {} times", rec.posts);
    }
    assert_eq!(env.selected_account(), env.account_id());
}
