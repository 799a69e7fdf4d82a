//! The scheduler task: reads the clock, asks [`Schedule::due_at`], and acts — sleep, wait for a
//! login, pre-flight, run the cycle, record the outcome — with every outside dependency behind
//! a small trait so tests drive it with tokio's paused time and fakes.
//!
//! # Why not tokio-cron-scheduler
//! The brief suggested it as the timer; it is deliberately not used (nor a dependency):
//! - it freezes a time zone's UTC offset when a job is created (#87, #107, still open), so
//!   a New York schedule runs an hour off after every DST change until restart;
//! - it polls the wall clock every 500 ms (≈172,800 wakeups a day for a daemon that acts four
//!   times a year), keeps state only in memory, and hangs on a current-thread runtime, which
//!   rules out `tokio::time::pause()` tests.
//!
//! Instead the driver computes the next decision point (the slot, a pre-flight time, a login
//! deadline) and sleeps until it with `tokio::time::sleep`, capped at
//! [`DriverConfig::max_sleep`]. The cap exists because tokio's timers run on the monotonic
//! clock, which stops while the machine is suspended: after a laptop wakes, the driver notices
//! within `max_sleep` and the pure decision (catch-up) takes over. Idle cost: one wakeup per
//! `max_sleep` (5 min by default), no busy polling.
//!
//! # Guarantees
//! - An `AttemptStarted` event is durably recorded **before** the cycle starts; if recording
//!   fails, the cycle does not start (fail closed).
//! - The cycle is never cancelled by the driver: shutdown is the cycle's own business (it parks
//!   between steps and returns [`Outcome::Parked`]); the driver then stops.
//! - A login wait alerts once, re-checks the session every [`DriverConfig::login_recheck`], and
//!   after `schedule.login_wait` closes the period as missed with the reason.
//! - The pre-flight check runs once per period per process, `schedule.preflight_before` ahead.
//!
//! Size: ~630 lines, a little over the ~600-line aim: the loop (under 80 lines) and one small
//! method per decision (login deadline, wait, login wait, attempt, pre-flight, missed).
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Decision, PeriodEvent, PeriodKey, RunReason, Schedule, ScheduleState};
use crate::notify::{Alert, Notify, Severity, kind, messages};

/// What one cycle reports back to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The period's rebalance is done: orders submitted, a plan staged for approval, or a
    /// dry-run recorded (or nothing needed doing). Closes the period. `summary` is the one line
    /// the journal records; `alert`, when the runner has one (a staged plan with its orders,
    /// a run with its outcome and drift), is sent instead of a generic "done" alert.
    Done {
        summary: String,
        alert: Option<Alert>,
    },
    /// A guard refused (kill switch, live account, caps, stale prices). Closes the period as
    /// missed — a guard's "no" is not retried behind the user's back.
    Refused { reason: String },
    /// The cycle failed. Retryable failures (gateway down, timeouts) are retried after
    /// [`super::RETRY_BACKOFF`], up to [`super::MAX_ATTEMPTS`]; others close the period.
    Failed { reason: String, retryable: bool },
    /// Orders of unknown fate stop the cycle until a human settles them. Retried like a
    /// transient failure (the gateway may still tell), and a human is alerted at once with
    /// `reason`, which names the commands to run.
    Blocked { reason: String },
    /// Shutdown was requested and the cycle stopped safely between steps. Nothing is recorded:
    /// the next start resumes the period (the cycle reconciles its orders).
    Parked,
}

/// The result of a pre-flight check: empty means "a run now would have everything it needs".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightReport {
    pub problems: Vec<String>,
}

/// The rebalance cycle, as the scheduler sees it. The cycle must be idempotent per period
/// (its journal keys the run and its orders' cOIDs by period), because an interrupted attempt
/// is resumed by calling `run` again with the same period.
pub trait CycleRunner: Send + Sync {
    /// Runs (or resumes) the cycle for `period`, e.g. `"2027-Q1"`.
    fn run(&self, period: &str) -> impl Future<Output = Outcome> + Send;
    /// Checks session, account, targets and market data without trading.
    fn preflight(&self, period: &str) -> impl Future<Output = PreflightReport> + Send;
}

/// Is the brokerage session usable right now?
pub trait SessionProbe: Send + Sync {
    /// `Ok(())` when Ready (authenticated, connected); otherwise why not, for the alert.
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send;
}

// Shared ownership: one `Arc<Cycle>` is both the runner and the session probe.
impl<T: CycleRunner> CycleRunner for std::sync::Arc<T> {
    fn run(&self, period: &str) -> impl Future<Output = Outcome> + Send {
        (**self).run(period)
    }
    fn preflight(&self, period: &str) -> impl Future<Output = PreflightReport> + Send {
        (**self).preflight(period)
    }
}

impl<T: SessionProbe> SessionProbe for std::sync::Arc<T> {
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send {
        (**self).ready()
    }
}

/// Durable period bookkeeping (the journal implements it: append the event, fold on load).
pub trait PeriodStore: Send + Sync {
    type Error: std::fmt::Display + Send;
    /// The state folded from every recorded event ([`ScheduleState::from_events`]).
    fn load(&self) -> impl Future<Output = Result<ScheduleState, Self::Error>> + Send;
    /// Appends one event durably (committed before returning).
    fn record(&self, event: PeriodEvent) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

pub use crate::clock::{Clock, SystemClock, TokioClock};

/// An in-memory [`PeriodStore`] for tests and for `pbal run` without a journal.
#[derive(Debug, Default)]
pub struct MemoryStore {
    events: Mutex<Vec<PeriodEvent>>,
}

impl MemoryStore {
    pub fn with_events(events: Vec<PeriodEvent>) -> Self {
        Self {
            events: Mutex::new(events),
        }
    }

    /// A copy of every recorded event, in order.
    pub fn events(&self) -> Vec<PeriodEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl PeriodStore for MemoryStore {
    type Error = String;
    async fn load(&self) -> Result<ScheduleState, String> {
        let events = self
            .events
            .lock()
            .map_err(|_| "store poisoned".to_owned())?;
        Ok(ScheduleState::from_events(events.iter()))
    }
    async fn record(&self, event: PeriodEvent) -> Result<(), String> {
        self.events
            .lock()
            .map_err(|_| "store poisoned".to_owned())?
            .push(event);
        Ok(())
    }
}

/// Timing knobs of the driver (not user configuration: they bound behaviour, not policy).
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Longest single sleep (see the module docs: suspend and clock jumps).
    pub max_sleep: Duration,
    /// Session re-check period during a login wait.
    pub login_recheck: Duration,
    /// Pause after the store failed before trying again.
    pub store_retry: Duration,
    /// Where the one-line "waiting for …" status goes besides the log (the daemon passes the
    /// service manager's status call; the scheduler itself knows nothing of systemd).
    pub status_sink: fn(&str),
    /// The exact next step when a login is needed (the daemon knows whether pbal logs in by
    /// itself and where the gateway's page is; the scheduler does not).
    pub login_hint: String,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            max_sleep: Duration::from_secs(300),
            login_recheck: Duration::from_secs(60),
            store_retry: Duration::from_secs(60),
            status_sink: |_| {},
            login_hint: "log in to the IBKR Client Portal Gateway (its page in a browser on \
                         this machine), or run `pbal login` if pbal has your credentials"
                .to_owned(),
        }
    }
}

/// The scheduler with its dependencies. Build it with a struct literal and call
/// [`Driver::run`] in a task.
pub struct Driver<R, P, S, N, C = SystemClock> {
    pub schedule: Schedule,
    pub runner: R,
    pub probe: P,
    pub store: S,
    pub notifier: N,
    pub clock: C,
    pub config: DriverConfig,
}

/// A login wait in progress.
/// What [`Driver::tracked_state`] found.
enum Tracked {
    Stop,
    Again,
    State(ScheduleState),
}

struct LoginWait {
    period: PeriodKey,
    deadline: DateTime<Utc>,
    last_reason: String,
}

impl<R, P, S, N, C> Driver<R, P, S, N, C>
where
    R: CycleRunner,
    P: SessionProbe,
    S: PeriodStore,
    N: Notify,
    C: Clock,
{
    /// Runs until `cancel` (checked between steps, never during a cycle).
    pub async fn run(&self, cancel: CancellationToken) {
        let mut login: Option<LoginWait> = None;
        let mut preflighted: HashSet<PeriodKey> = HashSet::new();
        let mut last_status = String::new();
        for warning in self.schedule.warnings(self.clock.now()) {
            tracing::warn!(%warning, "schedule");
        }
        while !cancel.is_cancelled() {
            let state = match self.tracked_state(&cancel).await {
                Tracked::Stop => return,
                Tracked::Again => continue,
                Tracked::State(s) => s,
            };
            let now = self.clock.now();

            self.maybe_preflight(now, &state, &mut preflighted).await;

            // A login wait whose deadline passed closes the period, whatever the schedule says
            // now (e.g. the trading window closed while waiting) — unless the user logged in
            // meanwhile, in which case the schedule simply resumes.
            if let Some(lw) = &login
                && now >= lw.deadline
            {
                if !self.end_login_wait(lw, &state, now, &cancel).await {
                    return;
                }
                login = None;
                continue;
            }

            let go_on = match self.schedule.due_at(now, &state) {
                Decision::Never => {
                    tracing::warn!(cron = %self.schedule.cron_text(), "the schedule never fires again; idle");
                    cancel.cancelled().await;
                    return;
                }
                Decision::Missed { period, reason } => {
                    self.close_missed(&period, now, &reason).await
                        || self.nap(self.config.store_retry, &cancel).await
                }
                Decision::Wait { until } => {
                    let wake = self.wake_at(until, now, &state, &preflighted, login.as_ref());
                    self.publish_status(now, &state, &mut last_status);
                    self.sleep_until(wake, &cancel).await
                }
                Decision::Run {
                    period,
                    slot,
                    reason,
                } => match self.probe.ready().await {
                    Err(why) => {
                        self.wait_for_login(period, slot, why, now, &mut login, &cancel)
                            .await
                    }
                    Ok(()) => {
                        if let Some(lw) = login.take() {
                            tracing::info!(period = %lw.period, "session ready; the login wait is over");
                        }
                        // An attempt that could not be recorded never runs unrecorded: nap.
                        if self.attempt(&period, reason, now).await {
                            !cancel.is_cancelled()
                        } else {
                            self.nap(self.config.store_retry, &cancel).await
                        }
                    }
                },
            };
            if !go_on {
                return;
            }
        }
    }

    /// The schedule's past, read from the journal; on the very first start, records that
    /// tracking starts now (slots before it were never watched, so they are not "missed").
    async fn tracked_state(&self, cancel: &CancellationToken) -> Tracked {
        let state = match self.store.load().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the schedule journal; retrying");
                return if self.nap(self.config.store_retry, cancel).await {
                    Tracked::Again
                } else {
                    Tracked::Stop
                };
            }
        };
        if state.since.is_some() {
            return Tracked::State(state);
        }
        let now = self.clock.now();
        if let Err(e) = self
            .store
            .record(PeriodEvent::TrackingStarted { at: now })
            .await
        {
            tracing::error!(error = %e, "cannot record the schedule start; retrying");
            if !self.nap(self.config.store_retry, cancel).await {
                return Tracked::Stop;
            }
        }
        Tracked::Again
    }

    /// The login wait's deadline passed: the period closes as missed unless the session is
    /// ready now (or the period closed meanwhile). False when cancelled.
    async fn end_login_wait(
        &self,
        lw: &LoginWait,
        state: &ScheduleState,
        now: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> bool {
        match self.probe.ready().await {
            _ if state.is_closed(&lw.period) => true,
            Ok(()) => {
                tracing::info!(period = %lw.period, "session ready; the login wait is over");
                true
            }
            Err(why) => {
                let reason = format!(
                    "no brokerage login within {} (session: {why})",
                    human(self.schedule.login_wait),
                );
                self.close_missed(&lw.period, now, &reason).await
                    || self.nap(self.config.store_retry, cancel).await
            }
        }
    }

    /// When to wake from a wait: the next slot, or earlier for a pre-flight or a login
    /// deadline.
    fn wake_at(
        &self,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        state: &ScheduleState,
        preflighted: &HashSet<PeriodKey>,
        login: Option<&LoginWait>,
    ) -> DateTime<Utc> {
        let mut wake = until;
        if let Some(pf) = self.schedule.preflight_at(now, state)
            && pf.at > now
            && !preflighted.contains(&pf.period)
        {
            wake = wake.min(pf.at);
        }
        if let Some(lw) = login {
            wake = wake.min(lw.deadline);
        }
        wake
    }

    /// Tells the log and the service manager when the next run is, once per change.
    fn publish_status(&self, now: DateTime<Utc>, state: &ScheduleState, last: &mut String) {
        let status = match self.schedule.next_run_at(now, state) {
            Some(n) => format!("next run {} at {}", n.period, self.schedule.local(n.at)),
            None => "no run scheduled".to_owned(),
        };
        if status != *last {
            tracing::info!(%status, "scheduler waiting");
            (self.config.status_sink)(&status);
            *last = status;
        }
    }

    /// A run is due but the session is not ready: alert once per period, then re-check until
    /// the login deadline. False when cancelled.
    async fn wait_for_login(
        &self,
        period: PeriodKey,
        slot: DateTime<Utc>,
        why: String,
        now: DateTime<Utc>,
        login: &mut Option<LoginWait>,
        cancel: &CancellationToken,
    ) -> bool {
        if login.as_ref().is_none_or(|lw| lw.period != period) {
            let deadline = now
                + chrono::Duration::from_std(self.schedule.login_wait)
                    .unwrap_or(chrono::Duration::zero());
            self.notifier
                .notify(&messages::login_needed(
                    period.as_str(),
                    &self.schedule.local(slot),
                    &why,
                    &self.schedule.local(deadline),
                    &self.config.login_hint,
                ))
                .await;
            *login = Some(LoginWait {
                period,
                deadline,
                last_reason: why,
            });
        } else if let Some(lw) = login.as_mut() {
            lw.last_reason = why;
        }
        let deadline = login.as_ref().map_or(now, |lw| lw.deadline);
        let recheck = now
            + chrono::Duration::from_std(self.config.login_recheck)
                .unwrap_or(chrono::Duration::zero());
        self.sleep_until(recheck.min(deadline), cancel).await
    }

    /// Records the attempt, runs the cycle, records the outcome. False if the attempt could
    /// not be recorded (the cycle was not started).
    async fn attempt(&self, period: &PeriodKey, reason: RunReason, now: DateTime<Utc>) -> bool {
        if let Err(e) = self
            .store
            .record(PeriodEvent::AttemptStarted {
                period: period.clone(),
                at: now,
            })
            .await
        {
            tracing::error!(error = %e, %period, "cannot record the attempt; not starting the cycle");
            return false;
        }
        tracing::info!(%period, reason = ?reason, "starting the rebalance cycle");
        let outcome = self.runner.run(period.as_str()).await;
        self.record_outcome(period, outcome).await;
        true
    }

    /// Journals what the cycle did and tells the human: completed, refused (missed), failed
    /// (retried or missed), blocked by orders of unknown fate, or parked for shutdown.
    async fn record_outcome(&self, period: &PeriodKey, outcome: Outcome) {
        let at = self.clock.now();
        match outcome {
            Outcome::Done { summary, alert } => {
                tracing::info!(%period, %summary, "rebalance cycle done");
                self.record(PeriodEvent::Completed {
                    period: period.clone(),
                    at,
                    summary: summary.clone(),
                })
                .await;
                let alert = alert.unwrap_or_else(|| {
                    Alert::new(
                        Severity::Info,
                        format!("pbal: {period} rebalance done"),
                        summary,
                    )
                    .with_cause(kind::RUN_FINISHED, period.as_str())
                });
                self.notifier.notify(&alert).await;
            }
            Outcome::Refused { reason } => {
                self.close_missed(period, at, &format!("refused: {reason}"))
                    .await;
            }
            Outcome::Failed {
                reason,
                retryable: true,
            } => {
                tracing::warn!(%period, %reason, "rebalance cycle failed; will retry");
                self.record(PeriodEvent::AttemptFailed {
                    period: period.clone(),
                    at,
                    reason,
                })
                .await;
            }
            Outcome::Failed {
                reason,
                retryable: false,
            } => {
                self.record(PeriodEvent::AttemptFailed {
                    period: period.clone(),
                    at,
                    reason: reason.clone(),
                })
                .await;
                self.close_missed(period, at, &format!("failed: {reason}"))
                    .await;
            }
            Outcome::Blocked { reason } => {
                tracing::error!(%period, %reason, "rebalance cycle blocked by orders of unknown fate");
                self.record(PeriodEvent::AttemptFailed {
                    period: period.clone(),
                    at,
                    reason: reason.clone(),
                })
                .await;
                self.notifier
                    .notify(
                        &Alert::new(
                            Severity::Critical,
                            format!("pbal: the {period} rebalance is blocked"),
                            reason.clone(),
                        )
                        .with_cause(kind::DAEMON_BLOCKED, reason),
                    )
                    .await;
            }
            Outcome::Parked => {
                tracing::info!(%period, "cycle parked for shutdown; it resumes on the next start");
            }
        }
    }

    async fn maybe_preflight(
        &self,
        now: DateTime<Utc>,
        state: &ScheduleState,
        done: &mut HashSet<PeriodKey>,
    ) {
        let Some(pf) = self.schedule.preflight_at(now, state) else {
            return;
        };
        if pf.at > now || done.contains(&pf.period) {
            return;
        }
        done.insert(pf.period.clone());
        let mut problems = self.runner.preflight(pf.period.as_str()).await.problems;
        if let Err(why) = self.probe.ready().await {
            problems.insert(0, format!("brokerage session not ready: {why}"));
        }
        if problems.is_empty() {
            tracing::info!(period = %pf.period, run_at = %self.schedule.local(pf.run_at), "pre-flight check passed");
            return;
        }
        let list = problems.join("\n- ");
        self.notifier
            .notify(
                &Alert::new(
                    Severity::Warning,
                    format!("pbal: pre-flight check for the {} rebalance", pf.period),
                    format!(
                        "The run at {} would fail now:\n- {list}\nNext step: fix these before \
                         then (`pbal check` re-runs the checks).",
                        self.schedule.local(pf.run_at),
                    ),
                )
                .with_cause(kind::PREFLIGHT, format!("{}: {list}", pf.period)),
            )
            .await;
    }

    /// Records the period as missed and alerts. False if the record failed (then the alert
    /// is not sent either: the next loop retries both, instead of alerting in a loop).
    async fn close_missed(&self, period: &PeriodKey, at: DateTime<Utc>, reason: &str) -> bool {
        tracing::error!(%period, %reason, "period missed");
        if !self
            .record(PeriodEvent::Missed {
                period: period.clone(),
                at,
                reason: reason.to_owned(),
            })
            .await
        {
            return false;
        }
        let step = if reason.starts_with("no brokerage login") {
            format!(
                "{}; then run `pbal rebalance` if you still want this period's rebalance",
                self.config.login_hint
            )
        } else {
            "fix the cause above (`pbal check` shows what a run needs), then run \
             `pbal rebalance` if you still want this period's rebalance"
                .to_owned()
        };
        self.notifier
            .notify(&messages::period_missed(period.as_str(), reason, &step))
            .await;
        true
    }

    async fn record(&self, event: PeriodEvent) -> bool {
        match self.store.record(event.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, ?event, "cannot record a schedule event");
                false
            }
        }
    }

    /// Sleeps until wall time `until` (at most `max_sleep`, at least 1 s so a logic slip can
    /// never become a busy loop). False if cancelled.
    async fn sleep_until(&self, until: DateTime<Utc>, cancel: &CancellationToken) -> bool {
        let left = (until - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        self.nap(
            left.clamp(
                Duration::from_secs(1),
                self.config.max_sleep.max(Duration::from_secs(1)),
            ),
            cancel,
        )
        .await
    }

    async fn nap(&self, d: Duration, cancel: &CancellationToken) -> bool {
        tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else {
        format!("{} min", s / 60)
    }
}

#[cfg(test)]
mod tests;
