//! Cycle tests against an in-memory broker. They pin down the money logic (sells before buys,
//! write-ahead, resume without duplicates, stale approvals, guards); the end-to-end tests in
//! `tests/` repeat the important ones against the simulator over TLS.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeZone;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::broker::*;
use super::*;
use crate::config::{CashSetting, OrderKind};
use crate::journal::IntentState;

#[derive(Default)]
struct Book {
    positions: BTreeMap<String, (i64, Decimal, Decimal)>, // symbol -> (conid, qty, price)
    cash: Decimal,
    /// cOID -> (order, status, order id)
    orders: BTreeMap<String, (OrderRequest, OrderStatus, String)>,
    posts: Vec<String>,
    executions: Vec<Execution>,
}

/// A broker that fills market and marketable orders at its price, immediately.
struct FakeBroker {
    book: Mutex<Book>,
    account: String,
    paper: bool,
    /// Fail every POST after this many (simulates a crash mid-run).
    fail_after: Option<usize>,
    /// Prompt every order of this symbol with a prompt id.
    prompt_for: Option<(String, String)>,
    fills: bool,
    post_count: AtomicUsize,
    /// `balances` answers "session lost" while set.
    fail_balances: std::sync::atomic::AtomicBool,
}

impl FakeBroker {
    fn new(positions: &[(&str, i64, Decimal, Decimal)], cash: Decimal) -> Self {
        let mut book = Book {
            cash,
            ..Default::default()
        };
        for (s, c, q, p) in positions {
            book.positions.insert(s.to_string(), (*c, *q, *p));
        }
        FakeBroker {
            book: Mutex::new(book),
            account: "DU111".into(),
            paper: true,
            fail_after: None,
            prompt_for: None,
            fills: true,
            post_count: AtomicUsize::new(0),
            fail_balances: Default::default(),
        }
    }

    fn set_price(&self, symbol: &str, price: Decimal) {
        self.book
            .lock()
            .unwrap()
            .positions
            .get_mut(symbol)
            .unwrap()
            .2 = price;
    }

    fn posts(&self) -> Vec<String> {
        self.book.lock().unwrap().posts.clone()
    }

    fn orders(&self) -> BTreeMap<String, (OrderRequest, OrderStatus, String)> {
        self.book.lock().unwrap().orders.clone()
    }
}

impl Broker for FakeBroker {
    async fn ensure_ready(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    async fn accounts(&self) -> Result<Vec<AccountInfo>, BrokerError> {
        Ok(vec![AccountInfo {
            id: self.account.clone(),
            paper: self.paper,
        }])
    }
    async fn positions(&self, _a: &str) -> Result<Vec<BrokerPosition>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(b.positions
            .iter()
            .filter(|(_, (_, q, _))| !q.is_zero())
            .map(|(s, (c, q, p))| BrokerPosition {
                conid: *c,
                symbol: s.clone(),
                quantity: *q,
                mark_price: *p,
                market_value: q * p,
                unrealized_pnl: Decimal::ZERO,
                currency: "USD".into(),
                asset_class: "STK".into(),
            })
            .collect())
    }
    async fn balances(&self, _a: &str) -> Result<Balances, BrokerError> {
        if self.fail_balances.load(Ordering::SeqCst) {
            return Err(BrokerError::NotReady("session lost".into()));
        }
        let b = self.book.lock().unwrap();
        let pv: Decimal = b.positions.values().map(|(_, q, p)| q * p).sum();
        Ok(Balances {
            currency: "USD".into(),
            settled_cash: b.cash,
            cash: b.cash,
            net_liquidation: b.cash + pv,
        })
    }
    async fn resolve(&self, spec: &ContractSpec) -> Result<i64, BrokerError> {
        let b = self.book.lock().unwrap();
        b.positions
            .get(&spec.symbol)
            .map(|p| p.0)
            .ok_or_else(|| BrokerError::Other(format!("no contract for {}", spec.symbol)))
    }
    async fn quotes(&self, conids: &[i64]) -> Result<Vec<Quote>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(conids
            .iter()
            .filter_map(|c| {
                b.positions.values().find(|p| p.0 == *c).map(|p| Quote {
                    conid: *c,
                    bid: Some(p.2 - dec!(0.01)),
                    ask: Some(p.2 + dec!(0.01)),
                    last: Some(p.2),
                    close: None,
                    delayed: false,
                })
            })
            .collect())
    }
    async fn whatif(&self, _a: &str, o: &OrderRequest) -> Result<serde_json::Value, BrokerError> {
        Ok(serde_json::json!({"amount": {"amount": format!("{} shares", o.quantity)}}))
    }
    async fn place(&self, _a: &str, o: &OrderRequest) -> Result<PlaceResult, BrokerError> {
        let n = self.post_count.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|k| n >= k) {
            return Err(BrokerError::NotReady("connection lost".into()));
        }
        if let Some((sym, id)) = &self.prompt_for
            && *sym == o.symbol
        {
            return Ok(PlaceResult::Refused {
                prompt_id: id.clone(),
                text: "Are you sure?".into(),
            });
        }
        let mut b = self.book.lock().unwrap();
        b.posts.push(o.coid.clone());
        if b.orders.contains_key(&o.coid) {
            return Ok(PlaceResult::DuplicateCoid);
        }
        let order_id = format!("{}", 1000 + b.orders.len());
        let mut status = OrderStatus::Working;
        if self.fills {
            let entry = b.positions.get_mut(&o.symbol).unwrap();
            let price = entry.2;
            match o.side {
                Side::Buy => entry.1 += o.quantity,
                Side::Sell => entry.1 -= o.quantity,
            }
            let signed = match o.side {
                Side::Buy => -(o.quantity * price),
                Side::Sell => o.quantity * price,
            };
            b.cash += signed;
            status = OrderStatus::Filled;
            // Like the gateway: every fill is an execution with its price and commission.
            let execution_id = format!("x{}", b.executions.len());
            b.executions.push(Execution {
                execution_id,
                order_id: order_id.clone(),
                coid: Some(o.coid.clone()),
                symbol: o.symbol.clone(),
                side: o.side,
                size: o.quantity,
                price,
                commission: Some(Decimal::ZERO),
                time: None,
            });
        }
        b.orders
            .insert(o.coid.clone(), (o.clone(), status, order_id.clone()));
        Ok(PlaceResult::Submitted {
            order_id,
            status: "Submitted".into(),
        })
    }
    async fn live_orders(&self, _a: &str) -> Result<Vec<LiveOrder>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(b.orders
            .iter()
            .map(|(coid, (o, st, id))| LiveOrder {
                order_id: id.clone(),
                coid: Some(coid.clone()),
                conid: o.conid,
                side: o.side,
                status: *st,
                filled: if *st == OrderStatus::Filled {
                    o.quantity
                } else {
                    Decimal::ZERO
                },
                remaining: Decimal::ZERO,
                avg_price: None,
            })
            .collect())
    }
    async fn trades(&self, _a: &str, _d: u32) -> Result<Vec<Execution>, BrokerError> {
        Ok(self.book.lock().unwrap().executions.clone())
    }
    async fn cancel(&self, _a: &str, order_id: &str) -> Result<(), BrokerError> {
        let mut b = self.book.lock().unwrap();
        for (_, st, id) in b.orders.values_mut() {
            if id == order_id && *st == OrderStatus::Working {
                *st = OrderStatus::Cancelled;
            }
        }
        Ok(())
    }
}

fn settings(strategy: &str, cash: CashSetting) -> Settings {
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

fn cycle(broker: FakeBroker, s: Settings, dir: &tempfile::TempDir) -> Cycle<FakeBroker> {
    let t0 = Utc.with_ymd_and_hms(2027, 1, 4, 15, 30, 0).unwrap();
    Cycle {
        broker,
        journal: Journal::open_in(dir.path()).unwrap(),
        settings: s,
        state_dir: dir.path().to_path_buf(),
        clock: Arc::new(move || t0),
        stop: Default::default(),
    }
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
    let old = c.journal.staged_plan(&staged, (c.clock)()).unwrap();
    assert_eq!(old.state, "superseded");
    let new = a.staged_id.unwrap();
    assert_ne!(new, staged);
    assert_eq!(
        c.journal.staged_plan(&new, (c.clock)()).unwrap().state,
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
    let Cycle {
        broker,
        journal,
        settings,
        state_dir,
        clock,
        stop,
    } = c;
    let mut healthy = broker;
    healthy.fail_after = None;
    let c2 = Cycle {
        broker: healthy,
        journal,
        settings,
        state_dir,
        clock,
        stop,
    };
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
    let now = (c.clock)();
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
    let now = (c.clock)();
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
async fn a_period_retry_after_an_interruption_does_not_invest_twice() {
    use crate::scheduler::driver::CycleRunner;
    let dir = tempfile::tempdir().unwrap();
    let mut b = FakeBroker::new(
        &[
            ("AAA", 1, dec!(10), dec!(100)),
            ("BBB", 2, dec!(10), dec!(100)),
        ],
        dec!(5000),
    );
    b.fail_after = Some(1); // session lost after the first buy
    let mut s = settings("never-sell", CashSetting::Amount(dec!(1000)));
    s.orders.mode = OrderMode::Submit;
    let c = cycle(b, s, &dir);
    let o = CycleRunner::run(&c, "2027-Q1").await;
    eprintln!("attempt 1: {o:?}");
    let Cycle {
        broker,
        journal,
        settings,
        state_dir,
        clock,
        stop,
    } = c;
    let mut healthy = broker;
    healthy.fail_after = None;
    let c2 = Cycle {
        broker: healthy,
        journal,
        settings,
        state_dir,
        clock,
        stop,
    };
    // The driver retries the period (retryable failure).
    let o = CycleRunner::run(&c2, "2027-Q1").await;
    eprintln!("attempt 2: {o:?}");
    let cash = c2.broker.book.lock().unwrap().cash;
    eprintln!("posts {:?} cash left {cash}", c2.broker.posts());
    assert_eq!(
        cash,
        dec!(4000),
        "the period's 1000 deposit was invested more than once"
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_runs_working_order_is_cancelled_before_the_next_run_trades() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = lopsided();
    b.fills = false;
    let s = settings("hard", CashSetting::Amount(dec!(0)));
    let c = cycle(b, s, &dir);
    let then = (c.clock)() - chrono::Duration::hours(2);
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
