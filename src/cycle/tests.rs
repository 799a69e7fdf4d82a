//! Cycle tests against an in-memory broker. They pin down the money logic (sells before buys,
//! write-ahead, resume without duplicates, stale approvals, guards); the end-to-end tests in
//! `tests/` repeat the important ones against the simulator over TLS.

use std::sync::atomic::Ordering;

use chrono::TimeZone;

use rust_decimal_macros::dec;

use super::broker::*;
use super::*;
use crate::config::{CashSetting, OrderKind};
use crate::journal::IntentState;

use super::fake::FakeBroker;

pub(crate) fn settings(strategy: &str, cash: CashSetting) -> Settings {
    let mut s = Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
    s.portfolio.strategy = strategy.into();
    s.portfolio.cash = cash;
    s.orders.kind = OrderKind::Market;
    s.orders.max_order_value = dec!(1000000);
    s.orders.max_turnover_pct = dec!(100);
    s.orders.fill_timeout_secs = 5;
    s.orders.poll_interval_secs = 1;
    s
}

pub(crate) fn cycle(broker: FakeBroker, s: Settings, dir: &tempfile::TempDir) -> Cycle<FakeBroker> {
    let t0 = Utc.with_ymd_and_hms(2027, 1, 4, 15, 30, 0).unwrap();
    let mut s = s;
    s.state.dir = Some(dir.path().to_path_buf());
    Cycle::new(broker, Journal::open_in(dir.path()).unwrap(), s)
        .with_clock(std::sync::Arc::new(move || t0))
}

/// Two assets off target: A overweight, B underweight.
fn lopsided() -> FakeBroker {
    FakeBroker::new(
        &[
            ("AAA", 1, dec!(30), dec!(100)),
            ("BBB", 2, dec!(10), dec!(100)),
        ],
        dec!(0),
    )
}

#[tokio::test]
async fn dry_run_places_nothing_and_records_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let c = cycle(
        lopsided(),
        settings("hard", CashSetting::Amount(dec!(0))),
        &dir,
    );
    let r = c
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "planned");
    assert_eq!(r.plan.as_ref().unwrap().legs.len(), 2);
    assert!(c.broker.posts().is_empty());
    let run = c.journal.run(&r.run_id).unwrap();
    assert_eq!(run.status, "planned");
    assert!(run.plan.is_some() && run.snapshot.is_some());
}

#[tokio::test(start_paused = true)]
async fn submit_sells_before_buys_and_reaches_target() {
    let dir = tempfile::tempdir().unwrap();
    let c = cycle(
        lopsided(),
        settings("hard", CashSetting::Amount(dec!(0))),
        &dir,
    );
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:?}");
    let posts = c.broker.posts();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[0].ends_with('S') && posts[1].ends_with('B'),
        "{posts:?}"
    );
    let drift = r
        .notes
        .iter()
        .find(|n| n.contains("residual drift"))
        .unwrap();
    assert!(drift.contains("0.00 percentage points"), "{drift}");
    let b = c.broker.book.lock().unwrap();
    assert_eq!(b.positions["AAA"].1, dec!(20));
    assert_eq!(b.positions["BBB"].1, dec!(20));
    assert_eq!(b.cash, dec!(0));
}

#[tokio::test]
async fn stage_then_approve_places_exactly_the_staged_orders() {
    let dir = tempfile::tempdir().unwrap();
    let c = cycle(
        lopsided(),
        settings("hard", CashSetting::Amount(dec!(0))),
        &dir,
    );
    let r = c
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    let staged = r.staged_id.unwrap();
    assert!(c.broker.posts().is_empty(), "staging places nothing");
    let a = c.approve(&staged).await.unwrap();
    assert_eq!(a.status, "completed", "{a:?}");
    let orders = c.broker.orders();
    assert_eq!(orders.len(), 2);
    let qty: Vec<_> = orders
        .values()
        .map(|(o, _, _)| (o.symbol.clone(), o.quantity))
        .collect();
    assert!(qty.contains(&("AAA".into(), dec!(10))) && qty.contains(&("BBB".into(), dec!(10))));
    // A second approval is refused: the plan is no longer pending.
    let e = c.approve(&staged).await.unwrap_err();
    assert!(e.to_string().contains("approved"), "{e}");
    assert_eq!(c.broker.orders().len(), 2);
}

#[tokio::test]
async fn approve_after_a_price_move_restages_instead_of_submitting() {
    let dir = tempfile::tempdir().unwrap();
    let c = cycle(
        lopsided(),
        settings("hard", CashSetting::Amount(dec!(0))),
        &dir,
    );
    let staged = c
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap()
        .staged_id
        .unwrap();
    c.broker.set_price("BBB", dec!(103)); // 3% > 1% tolerance
    let a = c.approve(&staged).await.unwrap();
    assert_eq!(a.status, "restaged");
    assert!(
        a.notes.iter().any(|n| n.contains("BBB: price")),
        "{:?}",
        a.notes
    );
    assert!(c.broker.posts().is_empty());
    let old = c.journal.staged_plan(&staged, c.clock.now()).unwrap();
    assert_eq!(old.state, "superseded");
    let new = a.staged_id.unwrap();
    assert_ne!(new, staged);
    assert_eq!(
        c.journal.staged_plan(&new, c.clock.now()).unwrap().state,
        "pending"
    );
}

#[tokio::test]
async fn a_live_account_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.account = "U999".into();
    b.paper = false;
    let c = cycle(b, settings("hard", CashSetting::Amount(dec!(0))), &dir);
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, CycleError::Guard(GuardViolation::LiveAccount(_))),
        "{e}"
    );
    assert!(c.broker.posts().is_empty());
    let runs = c.journal.runs(5).unwrap();
    assert_eq!(runs[0].status, "refused");
}

#[tokio::test]
async fn caps_refuse_the_whole_plan() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("hard", CashSetting::Amount(dec!(0)));
    s.orders.max_order_value = dec!(999);
    let c = cycle(lopsided(), s, &dir);
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max_order_value"), "{e}");
    assert!(c.broker.posts().is_empty());
}

#[tokio::test]
async fn kill_switch_stops_submission() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(guards::STOP_FILE), "").unwrap();
    let c = cycle(
        lopsided(),
        settings("hard", CashSetting::Amount(dec!(0))),
        &dir,
    );
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, CycleError::Guard(GuardViolation::KillSwitch(_))),
        "{e}"
    );
    assert!(c.broker.posts().is_empty());
    // Dry-run still works: it places nothing.
    assert!(
        c.run(OrderMode::DryRun, RunKind::Manual, None)
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_prompt_not_on_the_allowlist_stops_that_order_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.prompt_for = Some(("BBB".into(), "o163".into()));
    let c = cycle(b, settings("hard", CashSetting::Amount(dec!(0))), &dir);
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "partial");
    let bbb = r.orders.iter().find(|o| o.symbol == "BBB").unwrap();
    assert_eq!(bbb.state, IntentState::Rejected);
    assert!(bbb.message.as_deref().unwrap().contains("o163"));
    assert!(r.notes.iter().any(|n| n.contains("prompt_allowlist")));
}

#[tokio::test(start_paused = true)]
async fn a_crash_mid_run_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let four = || {
        // DDD is a target not held yet (quantity 0): resolved to a contract by the cycle.
        FakeBroker::new(
            &[
                ("AAA", 1, dec!(40), dec!(100)),
                ("BBB", 2, dec!(30), dec!(100)),
                ("CCC", 3, dec!(10), dec!(100)),
                ("DDD", 4, dec!(0), dec!(100)),
            ],
            dec!(0),
        )
    };
    let mut b = four();
    b.fail_after = Some(1); // the second POST "crashes"
    let mut s = settings("hard", CashSetting::Amount(dec!(0)));
    for sym in ["AAA", "BBB", "CCC", "DDD"] {
        s.portfolio.targets.insert(sym.into(), dec!(0.25));
    }
    let c = cycle(b, s, &dir);
    let e = c.run(OrderMode::Submit, RunKind::Manual, None).await;
    assert!(e.is_err());
    assert_eq!(c.broker.posts().len(), 1);
    // Session loss mid-run leaves the run open (it wrote intents), exactly as a SIGKILL would.
    assert_eq!(c.journal.unfinished_runs().unwrap().len(), 1);

    // "Restart": same journal and book, healthy broker.
    // Same journal, book and clock; only the broker's failure switch is cleared.
    let mut c2 = c;
    c2.broker.fail_after = None;
    let r = c2
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "resumed", "{r:?}");
    let posts = c2.broker.posts();
    let mut unique = posts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        posts.len(),
        "a cOID was POSTed twice: {posts:?}"
    );
    // Targets are 20 each: sells AAA 20 (sent before the crash) and BBB 10, buys CCC 10, DDD 20.
    assert_eq!(posts.len(), 4, "{posts:?}");
    let b = c2.broker.book.lock().unwrap();
    for s in ["AAA", "BBB", "CCC", "DDD"] {
        assert_eq!(b.positions[s].1, dec!(20), "{s}");
    }
}

#[tokio::test(start_paused = true)]
async fn never_sell_with_available_cash_buys_only() {
    let dir = tempfile::tempdir().unwrap();
    let b = FakeBroker::new(
        &[
            ("AAA", 1, dec!(30), dec!(100)),
            ("BBB", 2, dec!(10), dec!(100)),
        ],
        dec!(1050),
    );
    let c = cycle(b, settings("never-sell", CashSetting::Available), &dir);
    let r = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "completed", "{r:?}");
    assert!(r.orders.iter().all(|o| o.side == Side::Buy));
    let b = c.broker.book.lock().unwrap();
    assert_eq!(b.positions["BBB"].1, dec!(20));
    assert_eq!(b.cash, dec!(50));
}

#[tokio::test(start_paused = true)]
async fn shutdown_parks_between_steps_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.fills = false; // orders stay working: the cycle sits in its fill window
    let c = cycle(b, settings("hard", CashSetting::Amount(dec!(0))), &dir);
    let stop = c.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        stop.cancel();
    });
    let e = c
        .run(OrderMode::Submit, RunKind::Manual, None)
        .await
        .unwrap_err();
    assert!(matches!(e, CycleError::Parked), "{e}");
    assert_eq!(
        c.broker.posts().len(),
        1,
        "only the sell was sent before parking"
    );
    assert_eq!(
        c.journal.unfinished_runs().unwrap().len(),
        1,
        "the run stays open"
    );
    // A parked cycle refuses to start anything else.
    assert!(matches!(
        c.run(OrderMode::DryRun, RunKind::Manual, None).await,
        Err(CycleError::Parked)
    ));
}

#[tokio::test]
async fn exact_granularity_sends_at_most_four_decimals_rounded_down() {
    let dir = tempfile::tempdir().unwrap();
    let b = FakeBroker::new(
        &[
            ("AAA", 1, dec!(30), dec!(100)),
            ("BBB", 2, dec!(10), dec!(30)),
        ],
        dec!(1000),
    );
    let mut s = settings("never-sell", CashSetting::Available);
    s.portfolio.granularity = "exact".into();
    let c = cycle(b, s, &dir);
    let r = c
        .run(OrderMode::DryRun, RunKind::Manual, None)
        .await
        .unwrap();
    let legs = r.plan.unwrap().legs;
    assert_eq!(legs.len(), 1, "{legs:?}");
    let q = legs[0].quantity;
    assert_eq!(
        q,
        dec!(33.3333),
        "1000 / 30 rounded toward zero at 4 decimals"
    );
    assert!(q * dec!(30) <= dec!(1000));
}

#[tokio::test(start_paused = true)]
async fn dry_run_and_stage_never_finish_an_interrupted_submit_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.fail_after = Some(0); // the first POST "crashes": the run stays open with its intents
    let c = cycle(b, settings("hard", CashSetting::Amount(dec!(0))), &dir);
    assert!(
        c.run(OrderMode::Submit, RunKind::Manual, None)
            .await
            .is_err()
    );
    assert_eq!(c.journal.unfinished_runs().unwrap().len(), 1);
    for mode in [OrderMode::DryRun, OrderMode::Stage] {
        let r = c.run(mode, RunKind::Manual, None).await.unwrap();
        assert!(
            r.notes.iter().any(|n| n.contains("interrupted submit run")),
            "{:?}",
            r.notes
        );
    }
    assert!(
        c.broker.posts().is_empty(),
        "no order was placed by dry-run or stage"
    );
    assert_eq!(
        c.journal.unfinished_runs().unwrap().len(),
        1,
        "still waiting for a submit"
    );
}

/// An interrupted submit run `run_id` started at `started`, recorded exactly as `run_inner`
/// would (snapshot, plan), with its sell leg written as an intent in `state` with `order_id`.
/// Returns the sell leg and its cOID.
async fn interrupted_run_with_sell(
    c: &Cycle<FakeBroker>,
    run_id: &str,
    started: chrono::DateTime<Utc>,
    state: IntentState,
    order_id: &str,
) -> (planning::Leg, String) {
    let now = c.clock.now();
    c.journal
        .begin_run(run_id, "manual", "submit", None, started)
        .unwrap();
    let snap = snapshot::take(&c.broker, &c.settings, now).await.unwrap();
    c.journal
        .record_snapshot(
            run_id,
            &snap.account_id,
            &serde_json::to_value(&snap).unwrap(),
            false,
        )
        .unwrap();
    let plan = planning::plan(&snap, &c.settings).unwrap();
    c.journal
        .record_plan(run_id, &serde_json::to_value(&plan).unwrap())
        .unwrap();
    let sell = plan
        .legs
        .iter()
        .find(|l| l.side == Side::Sell)
        .unwrap()
        .clone();
    let coid = sell.coid(run_id);
    let i = crate::journal::OrderIntent {
        coid: coid.clone(),
        run_id: run_id.into(),
        leg: sell.leg,
        account_id: snap.account_id.clone(),
        conid: sell.conid,
        symbol: sell.symbol.clone(),
        sec_type: sell.sec_type.clone(),
        side: "SELL".into(),
        quantity: sell.quantity.to_string(),
        order_type: "MKT".into(),
        limit_price: None,
        tif: sell.tif.clone(),
        state,
        gateway_order_id: Some(order_id.into()),
        filled_qty: None,
        avg_price: None,
        last_error: None,
    };
    c.journal.insert_intents(&[i], started).unwrap();
    (sell, coid)
}

// Found by an independent review of the money paths; each failed before its fix.
#[tokio::test(start_paused = true)]
async fn an_order_the_gateway_once_had_is_never_resent_after_two_interruptions() {
    let dir = tempfile::tempdir().unwrap();
    let b = lopsided();
    let s = settings("hard", CashSetting::Amount(dec!(0)));
    let c = cycle(b, s, &dir);
    // A run "crashed" after the sell was accepted (the gateway gave it order id 777).
    let now = c.clock.now();
    let (_, coid) = interrupted_run_with_sell(&c, "R1", now, IntentState::Working, "777").await;
    // The gateway (new session) no longer lists order 777. First restart: session is lost again
    // while sizing buys, so the run stays open.
    c.broker.fail_balances.store(true, Ordering::SeqCst);
    let e = c.resume_interrupted().await;
    assert!(e.is_err(), "{e:?}");
    let st = c.journal.intent(&coid).unwrap().unwrap();
    eprintln!(
        "after first resume: {:?} {:?}",
        st.state, st.gateway_order_id
    );
    assert!(c.broker.posts().is_empty());
    // Second restart, healthy.
    c.broker.fail_balances.store(false, Ordering::SeqCst);
    let _ = c.resume_interrupted().await;
    let posts = c.broker.posts();
    eprintln!("posts: {posts:?}");
    assert!(
        !posts.contains(&coid),
        "order {coid} (gateway id 777) was POSTed again: {posts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_runs_working_order_is_cancelled_before_the_next_run_trades() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.fills = false;
    let s = settings("hard", CashSetting::Amount(dec!(0)));
    let c = cycle(b, s, &dir);
    let then = c.clock.now() - chrono::Duration::hours(2);
    let (sell, coid) = interrupted_run_with_sell(&c, "R0", then, IntentState::Working, "900").await;
    // SIGKILL during the fill window: the DAY order is still working at the gateway.
    c.broker.book.lock().unwrap().orders.insert(
        coid.clone(),
        (sell.order_request("R0"), OrderStatus::Working, "900".into()),
    );
    let r = c.run(OrderMode::Submit, RunKind::Manual, None).await;
    eprintln!("{:?}", r.as_ref().map(|r| &r.status));
    let orders = c.broker.orders();
    let sells: Vec<_> = orders
        .iter()
        .filter(|(_, (o, _, _))| o.side == Side::Sell)
        .map(|(k, (o, st, _))| (k.clone(), o.quantity, *st))
        .collect();
    eprintln!("sell orders at the gateway: {sells:?}");
    let st = c.journal.intent(&coid).unwrap().unwrap();
    eprintln!("old intent: {:?}", st.state);
    let live = sells
        .iter()
        .filter(|(_, _, st)| *st != OrderStatus::Cancelled)
        .count();
    assert!(
        live <= 1,
        "two sells of the same imbalance are live at the gateway: {sells:?}"
    );
    assert_eq!(
        st.state,
        IntentState::Cancelled,
        "the abandoned run's order was cancelled"
    );
}
