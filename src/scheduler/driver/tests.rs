//! The driver under tokio's paused time: virtual days pass in milliseconds, and the fakes see
//! the same virtual wall clock as the scheduler.
use std::collections::VecDeque;

use super::*;
use crate::scheduler::Schedule;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The shipped default schedule (see `config/default.toml`).
fn default_schedule() -> Schedule {
    Schedule::from_settings(&crate::scheduler::ScheduleSettings {
        cron: "0 30 10 1-7 1,4,7,10 Mon-Fri".into(),
        timezone: "America/New_York".into(),
        calendar: "NYSE".into(),
        catch_up: true,
        login_wait_secs: 6 * 3600,
        preflight_before_secs: 24 * 3600,
        period: "quarter".into(),
    })
    .unwrap()
}

struct FakeRunner {
    clock: TokioClock,
    outcomes: Mutex<VecDeque<Outcome>>,
    runs: Mutex<Vec<(String, DateTime<Utc>)>>,
    preflights: Mutex<Vec<(String, DateTime<Utc>)>>,
    preflight_problems: Vec<String>,
    run_takes: Duration,
}

impl FakeRunner {
    fn new(clock: TokioClock) -> Self {
        Self {
            clock,
            outcomes: Mutex::default(),
            runs: Mutex::default(),
            preflights: Mutex::default(),
            preflight_problems: Vec::new(),
            run_takes: Duration::from_secs(120),
        }
    }
    fn runs(&self) -> Vec<(String, DateTime<Utc>)> {
        self.runs.lock().unwrap().clone()
    }
}

impl CycleRunner for FakeRunner {
    async fn run(&self, period: &str) -> Outcome {
        self.runs
            .lock()
            .unwrap()
            .push((period.to_owned(), self.clock.now()));
        tokio::time::sleep(self.run_takes).await;
        self.outcomes
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Outcome::Done {
                summary: "staged 3 orders".into(),
                alert: None,
            })
    }
    async fn preflight(&self, period: &str) -> PreflightReport {
        self.preflights
            .lock()
            .unwrap()
            .push((period.to_owned(), self.clock.now()));
        PreflightReport {
            problems: self.preflight_problems.clone(),
        }
    }
}

/// Ready from `ready_from` on (never if `None`).
struct FakeProbe {
    clock: TokioClock,
    ready_from: Option<DateTime<Utc>>,
}

impl SessionProbe for FakeProbe {
    async fn ready(&self) -> Result<(), String> {
        match self.ready_from {
            Some(t) if self.clock.now() >= t => Ok(()),
            _ => Err("not authenticated".into()),
        }
    }
}

struct Recorder {
    clock: TokioClock,
    alerts: Mutex<Vec<(DateTime<Utc>, Alert)>>,
}

impl Recorder {
    fn alerts(&self) -> Vec<(DateTime<Utc>, Alert)> {
        self.alerts.lock().unwrap().clone()
    }
}

impl Notify for Recorder {
    async fn notify(&self, alert: &Alert) {
        self.alerts
            .lock()
            .unwrap()
            .push((self.clock.now(), alert.clone()));
    }
}

/// A store whose `AttemptStarted` writes fail (disk full, journal locked).
struct BrokenStore(MemoryStore);

impl PeriodStore for BrokenStore {
    type Error = String;
    async fn load(&self) -> Result<ScheduleState, String> {
        self.0.load().await
    }
    async fn record(&self, event: PeriodEvent) -> Result<(), String> {
        if matches!(event, PeriodEvent::AttemptStarted { .. }) {
            return Err("disk full".into());
        }
        self.0.record(event).await
    }
}

type TestDriver<S = MemoryStore> = Driver<FakeRunner, FakeProbe, S, Recorder, TokioClock>;

/// When the fake session becomes ready.
#[derive(Clone, Copy)]
enum Ready {
    Always,
    At(&'static str),
    Never,
}

fn driver_with<S>(start: &str, store: S, ready: Ready) -> TestDriver<S> {
    let clock = TokioClock::starting_at(utc(start));
    Driver {
        schedule: default_schedule(),
        runner: FakeRunner::new(clock),
        probe: FakeProbe {
            clock,
            ready_from: match ready {
                Ready::Always => Some(DateTime::<Utc>::MIN_UTC),
                Ready::At(t) => Some(utc(t)),
                Ready::Never => None,
            },
        },
        store,
        notifier: Recorder {
            clock,
            alerts: Mutex::default(),
        },
        clock,
        config: DriverConfig::default(),
    }
}

fn tracked_store() -> MemoryStore {
    MemoryStore::with_events(vec![PeriodEvent::TrackingStarted {
        at: utc("2026-12-01T00:00:00Z"),
    }])
}

fn driver(start: &str) -> TestDriver {
    driver_with(start, tracked_store(), Ready::Always)
}

/// Runs the driver for `span` of virtual time, then cancels it and waits for it to stop.
async fn drive<S: PeriodStore>(d: &TestDriver<S>, span: Duration) {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::join!(d.run(cancel), async move {
        tokio::time::sleep(span).await;
        stop.cancel();
    });
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn count(events: &[PeriodEvent], f: impl Fn(&PeriodEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[tokio::test(start_paused = true)]
async fn due_run_executes_once_and_is_recorded() {
    // Monday 4 Jan 2027, 09:00 EST; the slot is 10:30 EST (15:30Z).
    let d = driver("2027-01-04T14:00:00Z");
    drive(&d, 3 * DAY).await;
    assert_eq!(
        d.runner.runs(),
        [("2027-Q1".to_owned(), utc("2027-01-04T15:30:00Z"))]
    );
    let events = d.store.events();
    assert_eq!(
        count(
            &events,
            |e| matches!(e, PeriodEvent::Completed { period, summary, .. }
            if period.as_str() == "2027-Q1" && summary == "staged 3 orders")
        ),
        1
    );
    // The pre-flight (due since 3 Jan 15:30Z) ran once at start, found nothing: no alert
    // except the completion notice.
    assert_eq!(d.runner.preflights.lock().unwrap().len(), 1);
    let alerts = d.notifier.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].1.severity, Severity::Info);
    assert!(alerts[0].1.title.contains("2027-Q1"));
}

#[tokio::test(start_paused = true)]
async fn restart_inside_the_period_does_not_run_again() {
    let first = driver("2027-01-04T14:00:00Z");
    drive(&first, DAY).await;
    assert_eq!(first.runner.runs().len(), 1);

    // "Restart" on 5 Jan with the journal's events: the rest of Q1 passes without a run,
    // then Q2 runs on Thursday 1 April 10:30 EDT.
    let mut second = driver_with(
        "2027-01-05T15:30:00Z",
        MemoryStore::with_events(first.store.events()),
        Ready::Always,
    );
    second.config.max_sleep = HOUR;
    drive(&second, 87 * DAY).await;
    assert_eq!(
        second.runner.runs(),
        [("2027-Q2".to_owned(), utc("2027-04-01T14:30:00Z"))]
    );
    let events = second.store.events();
    assert_eq!(
        count(
            &events,
            |e| matches!(e, PeriodEvent::AttemptStarted { period, .. } if period.as_str() == "2027-Q1")
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn login_wait_then_success_runs_once_logged_in() {
    // The session becomes ready two hours after the slot.
    let d = driver_with(
        "2027-01-04T15:00:00Z",
        tracked_store(),
        Ready::At("2027-01-04T17:30:00Z"),
    );
    drive(&d, DAY).await;
    let runs = d.runner.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    // Re-checked every minute: the run starts within a minute of the login.
    assert!(
        runs[0].1 >= utc("2027-01-04T17:30:00Z") && runs[0].1 <= utc("2027-01-04T17:31:00Z"),
        "{runs:?}"
    );
    let alerts = d.notifier.alerts();
    let login: Vec<_> = alerts
        .iter()
        .filter(|(_, a)| a.severity == Severity::Warning && a.title.contains("log in"))
        .collect();
    // One login alert for the run (the pre-flight at start also reports the session).
    assert_eq!(login.len(), 1, "{alerts:?}");
    assert_eq!(login[0].0, utc("2027-01-04T15:30:00Z"));
    assert!(login[0].1.message.contains("not authenticated"));
    // The exact next step (the daemon's login hint) and the cause: this period and reason.
    assert!(
        login[0]
            .1
            .message
            .contains(&format!("Next step: {}", d.config.login_hint)),
        "{}",
        login[0].1.message
    );
    let cause = login[0].1.cause.clone().unwrap();
    assert_eq!(cause.kind, crate::notify::kind::LOGIN_NEEDED);
    assert!(cause.key.starts_with("2027-Q1: "), "{cause:?}");
    assert!(
        !d.store
            .events()
            .iter()
            .any(|e| matches!(e, PeriodEvent::Missed { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn login_wait_then_missed_closes_the_period() {
    let d = driver_with("2027-01-04T15:00:00Z", tracked_store(), Ready::Never);
    drive(&d, 3 * DAY).await;
    assert!(d.runner.runs().is_empty());
    let events = d.store.events();
    let missed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeriodEvent::Missed { period, at, reason } => {
                Some((period.clone(), *at, reason.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(missed.len(), 1, "{events:?}");
    assert_eq!(missed[0].0.as_str(), "2027-Q1");
    // Six hours after the wait began at the 10:30 EST slot.
    assert_eq!(missed[0].1, utc("2027-01-04T21:30:00Z"));
    assert!(
        missed[0].2.contains("no brokerage login within 6 h"),
        "{}",
        missed[0].2
    );
    let alerts = d.notifier.alerts();
    let (_, a) = alerts
        .iter()
        .find(|(_, a)| a.severity == Severity::Critical && a.title.contains("2027-Q1"))
        .unwrap_or_else(|| panic!("no missed alert in {alerts:?}"));
    // The reason, then how to log in and rebalance by hand; once per period.
    assert!(
        a.message.contains("no brokerage login within 6 h")
            && a.message
                .contains(&format!("Next step: {}", d.config.login_hint))
            && a.message.contains("`pbal rebalance`"),
        "{}",
        a.message
    );
    let cause = a.cause.clone().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.key.as_str()),
        (crate::notify::kind::PERIOD_MISSED, "2027-Q1")
    );
}

#[tokio::test(start_paused = true)]
async fn preflight_problem_alerts_a_day_ahead() {
    let mut d = driver("2027-01-02T12:00:00Z");
    d.runner.preflight_problems = vec!["no price for VXUS".into()];
    drive(&d, 3 * DAY).await;
    let alerts = d.notifier.alerts();
    let pf: Vec<_> = alerts
        .iter()
        .filter(|(_, a)| a.title.contains("pre-flight"))
        .collect();
    assert_eq!(pf.len(), 1, "{alerts:?}");
    assert_eq!(pf[0].0, utc("2027-01-03T15:30:00Z"));
    assert!(pf[0].1.message.contains("no price for VXUS"));
    assert_eq!(d.runner.runs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retryable_failure_is_retried_after_backoff() {
    let d = driver("2027-01-04T15:00:00Z");
    d.runner
        .outcomes
        .lock()
        .unwrap()
        .push_back(Outcome::Failed {
            reason: "gateway timeout".into(),
            retryable: true,
        });
    drive(&d, DAY).await;
    let runs = d.runner.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    // First attempt 15:30, fails at 15:32; retry 15 minutes after the failure.
    assert_eq!(runs[1].1, utc("2027-01-04T15:47:00Z"));
    assert!(
        d.store
            .events()
            .iter()
            .any(|e| matches!(e, PeriodEvent::Completed { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn refused_run_closes_the_period_without_retry() {
    let d = driver("2027-01-04T15:00:00Z");
    d.runner
        .outcomes
        .lock()
        .unwrap()
        .push_back(Outcome::Refused {
            reason: "kill switch: STOP file present".into(),
        });
    drive(&d, 3 * DAY).await;
    assert_eq!(d.runner.runs().len(), 1);
    let events = d.store.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PeriodEvent::Missed { reason, .. }
        if reason.contains("refused: kill switch")))
    );
    assert!(
        d.notifier
            .alerts()
            .iter()
            .any(|(_, a)| a.severity == Severity::Critical && a.message.contains("kill switch"))
    );
}

#[tokio::test(start_paused = true)]
async fn unrecorded_attempt_never_runs() {
    let d = driver_with(
        "2027-01-04T15:00:00Z",
        BrokenStore(tracked_store()),
        Ready::Always,
    );
    drive(&d, 2 * HOUR).await;
    assert!(d.runner.runs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_cycle_waits_for_it_and_the_next_start_resumes() {
    let mut d = driver("2027-01-04T15:29:00Z");
    d.runner.run_takes = Duration::from_secs(600);
    d.runner.outcomes.lock().unwrap().push_back(Outcome::Parked);
    // Cancel two minutes into the run (15:32); the driver lets the cycle park itself.
    drive(&d, Duration::from_secs(180)).await;
    assert_eq!(d.runner.runs().len(), 1);
    assert!(
        d.clock.now() >= utc("2027-01-04T15:40:00Z"),
        "the driver returned before the cycle did"
    );
    let events = d.store.events();
    assert!(
        matches!(events.last(), Some(PeriodEvent::AttemptStarted { .. })),
        "{events:?}"
    );

    // Next start: the interrupted attempt is resumed and completes.
    let second = driver_with(
        "2027-01-04T15:45:00Z",
        MemoryStore::with_events(events),
        Ready::Always,
    );
    drive(&second, HOUR).await;
    assert_eq!(second.runner.runs().len(), 1);
    let events = second.store.events();
    assert_eq!(
        count(&events, |e| matches!(e, PeriodEvent::AttemptStarted { .. })),
        2
    );
    assert!(matches!(events.last(), Some(PeriodEvent::Completed { .. })));
}

#[tokio::test(start_paused = true)]
async fn first_start_records_tracking_and_does_not_catch_up_the_past() {
    // Installed Wednesday 10 Feb 2027: Q1's slot (4 Jan) was never watched.
    let mut d = driver_with(
        "2027-02-10T16:00:00Z",
        MemoryStore::default(),
        Ready::Always,
    );
    d.config.max_sleep = HOUR;
    drive(&d, 10 * DAY).await;
    assert!(d.runner.runs().is_empty());
    assert!(matches!(
        d.store.events().first(),
        Some(PeriodEvent::TrackingStarted { at }) if *at == utc("2027-02-10T16:00:00Z")
    ));
}

/// Counts loads: one per driver wake-up.
struct CountingStore(MemoryStore, std::sync::atomic::AtomicUsize);

impl PeriodStore for CountingStore {
    type Error = String;
    async fn load(&self) -> Result<ScheduleState, String> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.load().await
    }
    async fn record(&self, event: PeriodEvent) -> Result<(), String> {
        self.0.record(event).await
    }
}

#[tokio::test(start_paused = true)]
async fn idle_driver_wakes_once_per_max_sleep_not_more() {
    // Q1 done; nothing is due until April: a whole idle day.
    let mut events = tracked_store().events();
    events.push(PeriodEvent::Completed {
        period: PeriodKey::from("2027-Q1"),
        at: utc("2027-01-04T15:40:00Z"),
        summary: String::new(),
    });
    let d = driver_with(
        "2027-01-10T00:00:00Z",
        CountingStore(MemoryStore::with_events(events), Default::default()),
        Ready::Always,
    );
    drive(&d, DAY).await;
    let wakeups = d.store.1.load(std::sync::atomic::Ordering::Relaxed);
    // 86,400 s / 300 s = 288 naps, plus the first look.
    assert_eq!(wakeups, 289);
    assert!(d.runner.runs().is_empty());
}
