//! The real rebalance cycle behind the driver's [`CycleRunner`] and [`SessionProbe`] seams.
//!
//! Mapping of cycle results to scheduler outcomes (why each):
//! - a report → [`Outcome::Done`]: dry-run recorded, plan staged, orders executed, or nothing
//!   to do — the period's work is done either way;
//! - a guard violation → [`Outcome::Refused`]: kill switch, live account, caps, price sanity
//!   are deliberate "no"s a human must look at, never retried behind their back;
//! - broker and journal errors → retryable [`Outcome::Failed`] (gateway down, session lost,
//!   database busy): the scheduler retries after a back-off, a bounded number of times;
//! - planning, account and staged-plan errors → non-retryable: the same inputs fail the same
//!   way until the configuration or the account changes.
//!
//! `Cycle::run` first finishes any interrupted earlier run and reports that instead
//! (`status = "resumed"`); the adapter then runs the period's own cycle, so a resumed manual
//! run is never mistaken for this period's rebalance.
use crate::cycle::broker::Broker;
use crate::cycle::{Cycle, CycleError, CycleReport, RunKind, snapshot};
use crate::scheduler::driver::{CycleRunner, Outcome, PreflightReport, SessionProbe};

impl<B: Broker> CycleRunner for Cycle<B> {
    async fn run(&self, period: &str) -> Outcome {
        let mode = self.settings.orders.mode;
        for _ in 0..2 {
            match Cycle::run(self, mode, RunKind::Scheduled, Some(period)).await {
                // The interrupted run was this period's own: finishing it is the period's work.
                Ok(report)
                    if report.status == "resumed" && report.period.as_deref() == Some(period) =>
                {
                    return done(self, &report).await;
                }
                Ok(report) if report.status == "resumed" => {
                    tracing::info!(run = %report.run_id, "finished an interrupted run first");
                }
                Ok(report) => return done(self, &report).await,
                Err(e) => return outcome_of(&e),
            }
        }
        Outcome::Failed {
            reason: "interrupted runs kept being resumed; the period's own cycle did not start"
                .into(),
            retryable: true,
        }
    }

    async fn preflight(&self, _period: &str) -> PreflightReport {
        let mut problems = Vec::new();
        let now = self.clock.now();
        match snapshot::take(&self.broker, &self.settings, now).await {
            Ok(snap) => {
                if let Err(e) = self.plan_run(&snap).await {
                    problems.push(e.to_string());
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(why) =
            crate::cycle::kill_switch::engaged(&self.state_dir, self.settings.orders.enabled)
        {
            problems.push(format!("the kill switch is on: {why}"));
        }
        PreflightReport { problems }
    }
}

impl<B: Broker> SessionProbe for Cycle<B> {
    async fn ready(&self) -> Result<(), String> {
        self.broker.ensure_ready().await.map_err(|e| e.to_string())
    }
}

fn outcome_of(e: &CycleError) -> Outcome {
    let reason = e.to_string();
    match e {
        CycleError::Parked => Outcome::Parked,
        CycleError::Guard(_) => Outcome::Refused { reason },
        // A human must settle orders the gateway no longer tells about: alert now, keep trying.
        CycleError::Blocked(_) => Outcome::Blocked { reason },
        // Only failures that may clear by themselves are retried; a pin mismatch or an
        // unresolvable symbol alerts once and stops for the period.
        CycleError::Broker(b) => Outcome::Failed {
            reason,
            retryable: b.is_retryable(),
        },
        CycleError::Journal(_) | CycleError::Busy(_) => Outcome::Failed {
            reason,
            retryable: true,
        },
        _ => Outcome::Failed {
            reason,
            retryable: false,
        },
    }
}

/// The period's outcome with its alert (staged plan, or run outcome and drift).
async fn done<B: Broker>(cycle: &Cycle<B>, r: &CycleReport) -> Outcome {
    Outcome::Done {
        summary: summary(r),
        alert: Some(super::alerts::for_report(cycle, r).await),
    }
}

fn summary(r: &CycleReport) -> String {
    let planned = r.plan.as_ref().map_or(0, |p| p.legs.len());
    let mut s = format!(
        "{}: {planned} planned order(s), {} executed (run {}, account {})",
        r.status,
        r.orders.len(),
        r.run_id,
        r.account_id,
    );
    if let Some(id) = &r.staged_id {
        s.push_str(&format!("; approve with `pbal staged approve {id}`"));
    }
    if r.prices_delayed {
        s.push_str("; prices were delayed");
    }
    s
}

#[cfg(test)]
mod tests {
    //! The driver, the real cycle (stage mode), and the journal-backed period store together,
    //! against a minimal in-memory broker that refuses to place orders (stage never places).
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use rust_decimal_macros::dec;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::adapters::journal_store::JournalPeriodStore;
    use crate::config::{CashSetting, OrderMode, Settings};
    use crate::cycle::fake::FakeBroker;
    use crate::journal::Journal;
    use crate::notify::{Alert, Notify};
    use crate::scheduler::Schedule;
    use crate::scheduler::driver::{Clock, Driver, DriverConfig, TokioClock};

    /// AAA 30 × 100 and BBB 10 × 100, no cash: off a 50/50 target.
    fn book() -> FakeBroker {
        FakeBroker::new(
            &[
                ("AAA", 1, dec!(30), dec!(100)),
                ("BBB", 2, dec!(10), dec!(100)),
            ],
            dec!(0),
        )
    }

    #[derive(Default)]
    struct Alerts(std::sync::Mutex<Vec<Alert>>);

    impl Notify for Alerts {
        async fn notify(&self, alert: &Alert) {
            self.0.lock().unwrap().push(alert.clone());
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn settings(dir: &std::path::Path, mode: OrderMode) -> Settings {
        let mut s = Settings::load_from(
            None,
            vec![
                ("PBAL__PORTFOLIO__TARGETS__AAA".into(), "0.5".into()),
                ("PBAL__PORTFOLIO__TARGETS__BBB".into(), "0.5".into()),
                ("PBAL__PORTFOLIO__STRATEGY".into(), "hard".into()),
            ],
        )
        .unwrap();
        s.orders.max_turnover_pct = dec!(100);
        s.orders.mode = mode;
        s.state.dir = Some(dir.to_path_buf());
        s
    }

    type RealDriver = Driver<
        Arc<Cycle<FakeBroker>>,
        Arc<Cycle<FakeBroker>>,
        JournalPeriodStore,
        Alerts,
        TokioClock,
    >;

    fn real_driver(dir: &std::path::Path, start: &str, mode: OrderMode) -> RealDriver {
        let clock = TokioClock::starting_at(utc(start));
        let journal = Journal::open_in(dir).unwrap();
        let cycle = Arc::new(
            Cycle::new(book(), journal.clone(), settings(dir, mode))
                .with_clock(Arc::new(move || clock.now())),
        );
        let schedule = Schedule::from_settings(&cycle.settings.schedule).unwrap();
        let store = JournalPeriodStore::new(journal);
        Driver {
            schedule,
            runner: cycle.clone(),
            probe: cycle,
            store,
            notifier: Alerts::default(),
            clock,
            config: DriverConfig {
                max_sleep: Duration::from_secs(3600),
                ..DriverConfig::default()
            },
        }
    }

    async fn drive(d: &RealDriver, span: Duration) {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::join!(d.run(cancel), async move {
            tokio::time::sleep(span).await;
            stop.cancel();
        });
    }

    #[tokio::test(start_paused = true)]
    async fn scheduled_stage_run_happens_once_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        // Seed "tracking since" before the Q1 slot, as a first start in December would.
        {
            let d = real_driver(dir.path(), "2026-12-20T12:00:00Z", OrderMode::Stage);
            drive(&d, Duration::from_secs(60)).await;
        }
        let d = real_driver(dir.path(), "2027-01-04T14:00:00Z", OrderMode::Stage);
        drive(&d, Duration::from_secs(2 * 86_400)).await;
        assert!(
            d.runner.broker.whatifs.load(Ordering::SeqCst) > 0,
            "the cycle staged a plan"
        );
        let journal = Journal::open_in(dir.path()).unwrap();
        assert_eq!(
            journal.period("2027-Q1").unwrap().unwrap().state,
            "completed"
        );
        let staged = journal.runs(10).unwrap();
        assert_eq!(staged.len(), 1, "{staged:?}");
        let done = d.notifier.0.lock().unwrap().clone();
        // "Plan staged" carries the orders (side, quantity, symbol, limit), the turnover, the
        // expiry the journal recorded, the next step and the page.
        let staged = journal.staged_plans(utc("2027-01-04T15:00:00Z")).unwrap();
        let expires: DateTime<Utc> = staged[0].expires_at.parse().unwrap();
        let alert = done
            .iter()
            .find(|a| {
                a.cause
                    .as_ref()
                    .is_some_and(|c| c.kind == crate::notify::kind::PLAN_STAGED)
            })
            .unwrap_or_else(|| panic!("no plan-staged alert in {done:?}"));
        let m = &alert.message;
        assert!(m.starts_with("2 order(s), turnover "), "{m}");
        assert!(
            m.contains("- SELL 10 AAA limit ") && m.contains("- BUY 9 BBB limit "),
            "{m}"
        );
        assert!(
            m.contains(&format!("expires {}", expires.format("%Y-%m-%d %H:%M UTC"))),
            "{m}"
        );
        assert!(
            m.contains(&format!("pbal staged approve {}", staged[0].id)),
            "{m}"
        );
        assert!(alert.page && alert.title.contains("2027-Q1"), "{alert:?}");
        assert_eq!(alert.cause.as_ref().unwrap().key, staged[0].id);

        // Restart inside the quarter: no second run.
        let again = real_driver(dir.path(), "2027-01-06T15:00:00Z", OrderMode::Stage);
        drive(&again, Duration::from_secs(3 * 86_400)).await;
        assert_eq!(again.runner.broker.whatifs.load(Ordering::SeqCst), 0);
        assert_eq!(journal.runs(10).unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_submitted_run_alerts_its_outcome_and_residual_drift() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = real_driver(dir.path(), "2026-12-20T12:00:00Z", OrderMode::Submit);
            drive(&d, Duration::from_secs(60)).await;
        }
        let d = real_driver(dir.path(), "2027-01-04T14:00:00Z", OrderMode::Submit);
        drive(&d, Duration::from_secs(2 * 86_400)).await;
        let alerts = d.notifier.0.lock().unwrap().clone();
        let a = alerts
            .iter()
            .find(|a| {
                a.cause
                    .as_ref()
                    .is_some_and(|c| c.kind == crate::notify::kind::RUN_FINISHED)
            })
            .unwrap_or_else(|| panic!("no run-finished alert in {alerts:?}"));
        assert_eq!(a.title, "pbal: 2027-Q1 rebalance completed", "{a:?}");
        assert!(
            a.message
                .starts_with("Outcome: completed — 2 of 2 planned order(s) filled"),
            "{}",
            a.message
        );
        assert!(
            a.message.contains("\nResidual drift: largest "),
            "{}",
            a.message
        );
        let run = Journal::open_in(dir.path()).unwrap().runs(1).unwrap();
        assert_eq!(a.cause.as_ref().unwrap().key, run[0].id);
    }

    #[tokio::test(start_paused = true)]
    async fn kill_switch_refuses_and_closes_the_period() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = real_driver(dir.path(), "2026-12-20T12:00:00Z", OrderMode::Stage);
            drive(&d, Duration::from_secs(60)).await;
        }
        std::fs::write(dir.path().join(crate::cycle::kill_switch::STOP_FILE), "").unwrap();
        let d = real_driver(dir.path(), "2027-01-04T14:00:00Z", OrderMode::Submit);
        drive(&d, Duration::from_secs(86_400)).await;
        let journal = Journal::open_in(dir.path()).unwrap();
        let rec = journal.period("2027-Q1").unwrap().unwrap();
        assert_eq!(rec.state, "missed", "{rec:?}");
        assert!(rec.reason.unwrap_or_default().contains("refused"));
        // The pre-flight (at start, the run being 90 minutes away) saw the kill switch too.
        let alerts = d.notifier.0.lock().unwrap().clone();
        assert!(
            alerts
                .iter()
                .any(|a| a.title.contains("pre-flight") && a.message.contains("kill switch")),
            "{alerts:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn login_wait_through_the_real_cycle_then_stage() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = real_driver(dir.path(), "2026-12-20T12:00:00Z", OrderMode::Stage);
            drive(&d, Duration::from_secs(60)).await;
        }
        let d = real_driver(dir.path(), "2027-01-04T15:00:00Z", OrderMode::Stage);
        d.runner.broker.ready.store(false, Ordering::SeqCst);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let broker_ready = &d.runner.broker.ready;
        tokio::join!(d.run(cancel), async move {
            // The user logs in at 12:00 EST, 90 minutes after the slot.
            tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
            broker_ready.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(86_400)).await;
            stop.cancel();
        });
        let journal = Journal::open_in(dir.path()).unwrap();
        assert_eq!(
            journal.period("2027-Q1").unwrap().unwrap().state,
            "completed"
        );
        let runs = journal.runs(10).unwrap();
        assert_eq!(runs.len(), 1);
        assert!(
            runs[0].started_at.starts_with("2027-01-04T17:0"),
            "{runs:?}"
        );
        let alerts = d.notifier.0.lock().unwrap().clone();
        assert!(
            alerts.iter().any(|a| a.title.contains("log in")),
            "{alerts:?}"
        );
    }

    /// An earlier order the gateway no longer tells about: the period's run places nothing and
    /// a human is alerted at once with the reason and the commands that settle it.
    #[tokio::test(start_paused = true)]
    async fn an_order_of_unknown_fate_blocks_the_period_and_alerts_with_the_commands() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = real_driver(dir.path(), "2026-12-20T12:00:00Z", OrderMode::Stage);
            drive(&d, Duration::from_secs(60)).await;
        }
        let journal = Journal::open_in(dir.path()).unwrap();
        let then = utc("2026-12-21T15:00:00Z");
        journal
            .begin_run("R0", "manual", "submit", None, then)
            .unwrap();
        let intent = crate::journal::OrderIntent {
            coid: "pbal-R0-00B".into(),
            run_id: "R0".into(),
            leg: 0,
            account_id: "DU1".into(),
            conid: 1,
            symbol: "AAA".into(),
            sec_type: "STK".into(),
            side: "BUY".into(),
            quantity: "3".into(),
            order_type: "LMT".into(),
            limit_price: Some("100".into()),
            tif: "DAY".into(),
            state: crate::journal::IntentState::Unknown,
            gateway_order_id: Some("77".into()),
            filled_qty: None,
            avg_price: None,
            last_error: None,
        };
        journal.insert_intent(&intent, then).unwrap();
        journal
            .finish_run("R0", "partial", None, None, then)
            .unwrap();
        let d = real_driver(dir.path(), "2027-01-04T14:00:00Z", OrderMode::Submit);
        drive(&d, Duration::from_secs(3 * 3600)).await;
        assert!(d.runner.broker.posts().is_empty(), "nothing placed");
        let expected = crate::cycle::open_orders::blocked_message(&[journal
            .intent("pbal-R0-00B")
            .unwrap()
            .unwrap()]);
        assert!(expected.contains("pbal orders resolve pbal-R0-00B --as cancelled"));
        let alerts = d.notifier.0.lock().unwrap().clone();
        assert!(
            alerts
                .iter()
                .any(|a| a.title.contains("2027-Q1 rebalance is blocked") && a.message == expected),
            "{alerts:?}"
        );
    }

    /// Moved from the cycle's tests: it drives the runner (the scheduler seam), so it lives
    /// with the adapter that implements it.
    #[tokio::test(start_paused = true)]
    async fn a_period_retry_after_an_interruption_does_not_invest_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = FakeBroker::new(
            &[
                ("AAA", 1, dec!(10), dec!(100)),
                ("BBB", 2, dec!(10), dec!(100)),
            ],
            dec!(5000),
        );
        b.fail_after = Some(1); // session lost after the first buy
        let mut s = crate::cycle::tests::settings("never-sell", CashSetting::Amount(dec!(1000)));
        s.orders.mode = OrderMode::Submit;
        let c = crate::cycle::tests::cycle(b, s, &dir);
        let o = CycleRunner::run(&c, "2027-Q1").await;
        eprintln!("attempt 1: {o:?}");
        // Same journal, book and clock; only the broker's failure switch is cleared.
        let mut c2 = c;
        c2.broker.fail_after = None;
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

    /// The day-before check plans the way the run will: for `tax-aware` that means asking for
    /// the lots, so a missing tax source shows up a day early (and is not reported as an
    /// unknown strategy, which it is not).
    #[tokio::test]
    async fn preflight_of_a_tax_aware_portfolio_asks_for_the_lots() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), OrderMode::Stage);
        s.portfolio.strategy = "tax-aware".into();
        let cycle = Cycle::new(book(), Journal::open_in(dir.path()).unwrap(), s);
        let report = cycle.preflight("2027-Q1").await;
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].contains("needs tax lots"),
            "{:?}",
            report.problems
        );
    }
}
