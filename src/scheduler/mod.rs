//! When a rebalance is due: pure `*_at(now, …)` decisions, and the driver that acts on them.
//!
//! Why pure: the rules that decide whether money moves today (trading day? regular hours?
//! already done this quarter? missed while the laptop slept?) must be testable on literal
//! dates, including both DST transition days, without a clock or a runtime. The driver
//! ([`driver`]) only reads the clock, sleeps, and carries out a [`Decision`].
//!
//! # Layout
//! - [`calendar`]: the NYSE calendar for any year (holidays, observed rules, early closes).
//! - [`period`]: periods (quarter by default) and their journal keys (`2027-Q1`).
//! - this module: [`Schedule`] (cron in `schedule.timezone` + calendar + period + catch-up),
//!   [`Schedule::due_at`], [`Schedule::next_run_at`], [`Schedule::preflight_at`].
//! - `state`: the [`ScheduleState`] folded from [`PeriodEvent`]s that the journal stores.
//! - Size: this file is ~650 lines, ~60 of them these semantics; the rest is [`Schedule`],
//!   whose slot, catch-up and missed-period rules read one another.
//! - [`driver`]: the tokio task, over traits (`CycleRunner`, `SessionProbe`, `PeriodStore`,
//!   `crate::notify::Notify`, `crate::clock::Clock`); their production implementations live
//!   in [`crate::adapters`], so the scheduler knows nothing of the cycle, journal or config.
//!
//! # Semantics
//! **Cron.** `schedule.cron` has six fields (`sec min hour dom month dow`) and is read in
//! `schedule.timezone`. Day-of-month and day-of-week are **AND**ed (not Vixie cron's OR), so the
//! default `0 30 10 1-7 1,4,7,10 Mon-Fri` means "10:30 on each weekday among the first seven
//! days of January, April, July and October": up to five candidate slots per quarter.
//!
//! **DST.** A slot is a wall-clock time in `schedule.timezone`. A slot inside the hour skipped
//! when clocks spring forward fires at the first wall time after the gap (02:30 → 03:00 on the
//! US spring-forward day); a slot inside the hour repeated when clocks fall back fires once,
//! at its first occurrence (01:30 daylight time, not again at 01:30 standard time). Offsets
//! are recomputed for every slot — nothing is frozen at start-up (tokio-cron-scheduler
//! #87/#107 is why that crate is not used for slots; see [`driver`]).
//!
//! **Calendar.** With `calendar = "NYSE"` a run may only *start* inside the trading window of
//! an NYSE trading day: from 5 minutes after the 09:30 open (the opening auction's quotes are
//! not what a plan should be priced on) until 30 minutes before the close (16:00, or 13:00 on
//! early-close days), so DAY orders have time to fill before the bell. With `calendar =
//! "none"` every instant is allowed.
//!
//! **Periods.** The period's *slot* is its first cron slot that falls in the trading window.
//! If no cron slot of the period does (e.g. a cron at 03:00), the slot is deferred to the first
//! trading-window instant after the period's first cron slot. A period with no cron slot at all
//! has no run. Only slots at or after the moment the daemon first started watching the
//! schedule (`ScheduleState::since`, recorded once in the journal) count: installing pbal in
//! mid-February does not trigger a "catch-up" of the January slot it never watched.
//!
//! **Missed periods are reported.** A period that ended without a completed run (daemon
//! stopped, machine off, no trading time left) is closed as missed once, with the reason, so
//! the journal and the human know; only the immediately preceding period is checked.
//!
//! **Catch-up** (`schedule.catch_up = true`, default): once the slot has passed without a
//! completed run, the run happens at the next allowed instant of the same period (now, if now is
//! allowed). With `catch_up = false` a run starts only within [`ON_TIME_GRACE`] of one of the
//! period's cron slots that is in the trading window (later slots of the same period still
//! count, so a missed 2 January slot is taken on 3 January at 10:30).
//!
//! **Exactly once.** A period closed as completed or missed never runs again, whatever restarts
//! happen: the close is an event in the journal, and [`Schedule::due_at`] reads it. A run that
//! was interrupted (crash, kill) is resumed in the same period (the cycle reconciles its
//! orders by client order id, so resuming never duplicates an order); a run that failed with a
//! retryable error is retried after [`RETRY_BACKOFF`]; after [`MAX_ATTEMPTS`] attempts the
//! period is closed as missed. A missed period is not retried automatically — a human was told
//! and can run `pbal rebalance`.
use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

/// `[schedule]`: when the daemon rebalances.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Seconds-resolution cron (`sec min hour dom month dow`), in `timezone`.
    pub cron: String,
    /// IANA time zone the cron is read in.
    pub timezone: String,
    /// Exchange calendar (`NYSE`) or `none`.
    pub calendar: String,
    /// Run later in the same period if the scheduled time was missed.
    pub catch_up: bool,
    /// How long to wait for a login when a run is due and the session is not Ready.
    pub login_wait_secs: u64,
    /// Pre-flight check this long before each scheduled run.
    pub preflight_before_secs: u64,
    /// The unit of "at most one completed run": `quarter` (default), `month` or `year`.
    pub period: String,
}

pub mod calendar;
pub mod driver;
pub mod period;
mod state;

pub use calendar::Calendar;
pub use period::{Period, PeriodKey, PeriodKind};
pub use state::{Attempt, PeriodEvent, ScheduleState};

/// A run that starts this soon after its slot is "scheduled", later it is a catch-up; with
/// `catch_up = false` it is the only lateness tolerated (timer jitter, a slow wake-up).
pub const ON_TIME_GRACE: Duration = Duration::minutes(5);
/// Wait between a failed (retryable) attempt and the next one in the same period.
pub const RETRY_BACKOFF: Duration = Duration::minutes(15);
/// Attempts per period before it is closed as missed (bounds a crash loop).
pub const MAX_ATTEMPTS: u32 = 3;
/// A run does not start in the first minutes of a session.
pub const AFTER_OPEN: Duration = Duration::minutes(5);
/// A run does not start in the last minutes of a session.
pub const BEFORE_CLOSE: Duration = Duration::minutes(30);
/// How far ahead to look for the next period with a run (cron restricted to rare months).
const MAX_PERIODS_AHEAD: usize = 60;

/// Errors in `[schedule]`; each names the config key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error(
        "schedule.cron `{cron}`: {message} (six fields: sec min hour day-of-month month day-of-week)"
    )]
    Cron { cron: String, message: String },
    #[error("schedule.timezone `{0}` is not an IANA time zone (e.g. America/New_York)")]
    TimeZone(String),
    #[error("schedule.calendar `{0}`: expected NYSE or none")]
    Calendar(String),
    #[error("schedule.period `{0}`: expected quarter, month or year")]
    Period(String),
}

impl ScheduleError {
    /// The config key this error is about.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Cron { .. } => "schedule.cron",
            Self::TimeZone(_) => "schedule.timezone",
            Self::Calendar(_) => "schedule.calendar",
            Self::Period(_) => "schedule.period",
        }
    }
}

/// Why a run starts now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunReason {
    /// At (or within [`ON_TIME_GRACE`] of) the period's slot.
    Scheduled,
    /// The slot passed without a run (daemon down, machine asleep, login wait).
    CatchUp,
    /// A previous attempt in this period failed with a retryable error.
    Retry,
    /// A previous attempt in this period was interrupted (process died).
    Resume,
}

/// What the driver should do at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start (or resume) the cycle for `period` now. `slot` is the period's scheduled slot.
    Run {
        period: PeriodKey,
        slot: DateTime<Utc>,
        reason: RunReason,
    },
    /// Nothing to do before `until` (then ask again).
    Wait { until: DateTime<Utc> },
    /// Close `period` as missed (record it, tell the human), then ask again.
    Missed { period: PeriodKey, reason: String },
    /// The cron never fires again within the search horizon: nothing will ever run.
    Never,
}

/// The next run the schedule would start if nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextRun {
    pub period: PeriodKey,
    pub at: DateTime<Utc>,
}

/// When the pre-flight check for the next run is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preflight {
    pub period: PeriodKey,
    /// When to check (may be in the past: check now).
    pub at: DateTime<Utc>,
    /// The run it prepares.
    pub run_at: DateTime<Utc>,
}

/// The compiled `[schedule]` section: parsed once, evaluated many times.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    cron_text: String,
    tz: Tz,
    calendar: Calendar,
    period: PeriodKind,
    catch_up: bool,
    /// How long the driver waits for a login when a run is due.
    pub login_wait: std::time::Duration,
    /// How long before a run the pre-flight check happens (zero: never).
    pub preflight_before: Duration,
}

/// The slot of one period and the earliest instant its run may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PeriodPlan {
    slot: DateTime<Utc>,
    start: DateTime<Utc>,
    deferred: bool,
}

impl Schedule {
    /// Parses and validates `[schedule]`.
    ///
    /// # Errors
    /// A [`ScheduleError`] naming the key at fault.
    pub fn from_settings(s: &ScheduleSettings) -> Result<Self, ScheduleError> {
        let cron = parse_cron(&s.cron)?;
        let tz = Tz::from_str(s.timezone.trim())
            .map_err(|_| ScheduleError::TimeZone(s.timezone.clone()))?;
        // A cron that never matches (30 February) is a configuration error, not a daemon that
        // silently idles forever. Any date-based pattern matches within 28 years.
        let probe = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).single();
        if let Some(probe) = probe {
            let horizon = probe + Duration::days(366 * 28);
            let hit = cron.find_next_occurrence(&probe.with_timezone(&tz), true);
            if !matches!(hit, Ok(t) if t.with_timezone(&Utc) < horizon) {
                return Err(ScheduleError::Cron {
                    cron: s.cron.clone(),
                    message: "never matches a date".into(),
                });
            }
        }
        let calendar = Calendar::parse(&s.calendar)
            .ok_or_else(|| ScheduleError::Calendar(s.calendar.clone()))?;
        let period =
            PeriodKind::parse(&s.period).ok_or_else(|| ScheduleError::Period(s.period.clone()))?;
        Ok(Self {
            cron,
            cron_text: s.cron.clone(),
            tz,
            calendar,
            period,
            catch_up: s.catch_up,
            login_wait: std::time::Duration::from_secs(s.login_wait_secs),
            preflight_before: Duration::seconds(
                i64::try_from(s.preflight_before_secs).unwrap_or(i64::MAX / 1_000_000),
            ),
        })
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn cron_text(&self) -> &str {
        &self.cron_text
    }

    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// The period containing `t`.
    pub fn period_at(&self, t: DateTime<Utc>) -> Period {
        Period::containing(self.period, self.tz, t)
    }

    /// True if a run may start at `t` (inside a trading window, or always without a calendar).
    pub fn allowed_at(&self, t: DateTime<Utc>) -> bool {
        match self.window_on_or_after(t) {
            Some((ws, we)) => ws <= t && t < we,
            None => false,
        }
    }

    /// The trading window containing `t` or the next one: `[open + 5 min, close − 30 min)`.
    fn window_on_or_after(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match self.calendar {
            Calendar::None => Some((t, DateTime::<Utc>::MAX_UTC)),
            Calendar::Nyse => {
                let mut from = t;
                // Sessions are ≥ 3.5 h, so the margins never empty one; two tries suffice.
                for _ in 0..3 {
                    let s = self.calendar.session_on_or_after(from)?;
                    let (ws, we) = (s.open + AFTER_OPEN, s.close - BEFORE_CLOSE);
                    if we > t {
                        return Some((ws, we));
                    }
                    from = s.close;
                }
                None
            }
        }
    }

    /// The earliest allowed instant in `[t, limit)`.
    fn next_allowed(&self, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (ws, _) = self.window_on_or_after(t)?;
        let at = ws.max(t);
        (at < limit).then_some(at)
    }

    /// The first cron slot at or after `t` (whole seconds), evaluated in the schedule's zone.
    ///
    /// croner searches in local wall time; started inside the *second* pass of a repeated
    /// (fall-back) hour it can answer with the *first* pass of a matching wall time, which is
    /// earlier than `t`. Such answers are skipped: a repeated wall time fires only at its first
    /// occurrence (module docs), so nothing is lost.
    fn cron_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = ceil_second(t);
        let mut from = t.with_timezone(&self.tz);
        let mut inclusive = true;
        for _ in 0..4000 {
            let hit = self.cron.find_next_occurrence(&from, inclusive).ok()?;
            if hit.with_timezone(&Utc) >= t {
                return Some(hit.with_timezone(&Utc));
            }
            from = hit;
            inclusive = false;
        }
        None
    }

    /// The first cron slot in `[from, to)` that is inside a trading window.
    fn first_allowed_cron_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut t = from;
        // Each turn either returns or moves past one closed stretch or one cron slot; the
        // bound covers a dense cron (every second) across a weekend.
        for _ in 0..10_000 {
            let c = self.cron_at_or_after(t)?;
            if c >= to {
                return None;
            }
            let (ws, we) = self.window_on_or_after(c)?;
            if ws <= c && c < we {
                return Some(c);
            }
            // c is outside trading hours: continue from the next window's start (or just past
            // c if the window starts earlier, which cannot happen but keeps progress certain).
            t = if ws > c { ws } else { c + Duration::seconds(1) };
            if t >= to {
                return None;
            }
        }
        None
    }

    /// The slot and earliest start of period `p`, counting only slots at or after `since`
    /// (a daemon installed mid-quarter does not "catch up" a slot it never watched).
    fn plan(&self, p: &Period, since: Option<DateTime<Utc>>) -> Option<PeriodPlan> {
        let from = since.map_or(p.start, |s| s.max(p.start));
        if from >= p.end {
            return None;
        }
        if let Some(slot) = self.first_allowed_cron_in(from, p.end) {
            return Some(PeriodPlan {
                slot,
                start: slot,
                deferred: false,
            });
        }
        let raw = self.cron_at_or_after(from).filter(|c| *c < p.end)?;
        let start = self.next_allowed(raw, p.end)?;
        Some(PeriodPlan {
            slot: raw,
            start,
            deferred: true,
        })
    }

    /// The first period after `p` that is open and has a run, with that run's start. Jumps
    /// from cron slot to cron slot, so a cron that fires once a year costs a few look-ups.
    fn next_period_start(&self, p: &Period, state: &ScheduleState) -> Option<DateTime<Utc>> {
        let mut t = p.end;
        for _ in 0..MAX_PERIODS_AHEAD {
            let q = self.period_at(self.cron_at_or_after(t)?);
            if !state.is_closed(&q.key)
                && let Some(pp) = self.plan(&q, state.since)
            {
                return Some(pp.start);
            }
            t = q.end;
        }
        None
    }

    fn wait_next_period(&self, p: &Period, state: &ScheduleState) -> Decision {
        match self.next_period_start(p, state) {
            Some(until) => Decision::Wait { until },
            None => Decision::Never,
        }
    }

    /// The decision at `now`. See the module docs for the rules.
    pub fn due_at(&self, now: DateTime<Utc>, state: &ScheduleState) -> Decision {
        let p = self.period_at(now);

        // A previous period that ended without a run is reported once, so a human learns that
        // a quarter was skipped (unless its slot predates the daemon watching the schedule).
        let prev = p.prev(self.tz);
        if !state.is_closed(&prev.key)
            && state.since.is_some()
            && let Some(pp) = self.plan(&prev, state.since)
        {
            return Decision::Missed {
                period: prev.key,
                reason: format!(
                    "the period ended without a completed run (slot {}); was the daemon stopped or the machine off?",
                    self.local(pp.slot)
                ),
            };
        }

        if state.is_closed(&p.key) {
            return self.wait_next_period(&p, state);
        }
        let Some(pp) = self.plan(&p, state.since) else {
            return self.wait_next_period(&p, state);
        };
        if now < pp.start {
            return Decision::Wait { until: pp.start };
        }

        // Attempts already made in this period: resume, retry after back-off, or give up.
        let attempt = state.last_attempt.as_ref().filter(|a| a.period == p.key);
        if let Some(a) = attempt {
            return self.after_attempt(now, &p, &pp, a);
        }
        if self.catch_up {
            let reason = if now >= pp.start + ON_TIME_GRACE {
                RunReason::CatchUp
            } else {
                RunReason::Scheduled
            };
            return match self.next_allowed(now, p.end) {
                Some(t) if t <= now => Decision::Run {
                    period: p.key,
                    slot: pp.slot,
                    reason,
                },
                Some(t) => Decision::Wait { until: t },
                None => Decision::Missed {
                    period: p.key,
                    reason: format!(
                        "the slot ({}) passed and no trading time is left in the period",
                        self.local(pp.slot)
                    ),
                },
            };
        }
        self.without_catch_up(now, &p, &pp)
    }

    /// An attempt was already made in this period: resume it, retry after the back-off, or
    /// give up after [`MAX_ATTEMPTS`].
    fn after_attempt(
        &self,
        now: DateTime<Utc>,
        p: &Period,
        pp: &PeriodPlan,
        a: &Attempt,
    ) -> Decision {
        if a.number >= MAX_ATTEMPTS {
            let last = a
                .failed
                .as_ref()
                .map(|(_, r)| r.as_str())
                .unwrap_or("the process stopped during the attempt");
            return Decision::Missed {
                period: p.key.clone(),
                reason: format!("{} attempts did not complete; last: {last}", a.number),
            };
        }
        let (earliest, reason) = match &a.failed {
            Some((at, _)) => (*at + RETRY_BACKOFF, RunReason::Retry),
            None => (now, RunReason::Resume),
        };
        match self.next_allowed(earliest.max(now), p.end) {
            Some(t) if t <= now => Decision::Run {
                period: p.key.clone(),
                slot: pp.slot,
                reason,
            },
            Some(t) => Decision::Wait { until: t },
            None => Decision::Missed {
                period: p.key.clone(),
                reason: "an attempt did not complete and no trading time is left in the period"
                    .into(),
            },
        }
    }

    /// `schedule.catch_up = false`: run only at the deferred start or within the grace of an
    /// in-window cron slot; otherwise wait for the next slot, or the period is missed.
    fn without_catch_up(&self, now: DateTime<Utc>, p: &Period, pp: &PeriodPlan) -> Decision {
        if pp.deferred {
            // No cron slot of the period is in trading hours: the deferred start is the one
            // scheduled time.
            if now < pp.start + ON_TIME_GRACE && self.allowed_at(now) {
                return Decision::Run {
                    period: p.key.clone(),
                    slot: pp.slot,
                    reason: RunReason::Scheduled,
                };
            }
            return Decision::Missed {
                period: p.key.clone(),
                reason: format!(
                    "the deferred slot ({}) passed without a run and schedule.catch_up is false",
                    self.local(pp.start)
                ),
            };
        }

        // No catch-up: only within the grace of an in-window cron slot.
        let recent = self.first_allowed_cron_in(
            (now - ON_TIME_GRACE).max(p.start),
            now + Duration::seconds(1),
        );
        if let Some(slot) = recent
            && self.allowed_at(now)
        {
            return Decision::Run {
                period: p.key.clone(),
                slot,
                reason: RunReason::Scheduled,
            };
        }
        match self.first_allowed_cron_in(now + Duration::seconds(1), p.end) {
            Some(until) => Decision::Wait { until },
            None => Decision::Missed {
                period: p.key.clone(),
                reason: format!(
                    "the period's slots passed without a run and schedule.catch_up is false (first slot {})",
                    self.local(pp.slot)
                ),
            },
        }
    }

    /// When the next run would start, assuming nothing else happens (for `pbal status` and the
    /// pre-flight check). `now` itself if a run is due now.
    pub fn next_run_at(&self, now: DateTime<Utc>, state: &ScheduleState) -> Option<NextRun> {
        let mut state = state.clone();
        let mut t = now;
        for _ in 0..(MAX_PERIODS_AHEAD * 4) {
            match self.due_at(t, &state) {
                Decision::Run { period, .. } => return Some(NextRun { period, at: t }),
                Decision::Wait { until } => t = until.max(t + Duration::seconds(1)),
                Decision::Missed { period, reason } => state.apply(&PeriodEvent::Missed {
                    period,
                    at: t,
                    reason,
                }),
                Decision::Never => return None,
            }
        }
        None
    }

    /// The pre-flight check for the next run: `preflight_before` ahead of it. `None` when
    /// disabled, when no run is coming, or when the run is due now (too late to warn).
    pub fn preflight_at(&self, now: DateTime<Utc>, state: &ScheduleState) -> Option<Preflight> {
        if self.preflight_before <= Duration::zero() {
            return None;
        }
        let next = self.next_run_at(now, state)?;
        (next.at > now).then(|| Preflight {
            at: next.at - self.preflight_before,
            period: next.period,
            run_at: next.at,
        })
    }

    /// `t` as exchange (New York) time, for `pbal status`.
    pub fn exchange_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&calendar::EXCHANGE_TZ)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    /// Configuration smells worth logging at start-up. Not errors: the schedule still works,
    /// but probably not as the user meant.
    pub fn warnings(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut out = Vec::new();
        if self.calendar == Calendar::None {
            out.push(
                "schedule.calendar = \"none\": runs may start outside market hours and on holidays"
                    .to_owned(),
            );
            return out;
        }
        let mut p = self.period_at(now).next(self.tz);
        for _ in 0..4 {
            if let Some(pp) = self.plan(&p, None)
                && pp.deferred
            {
                out.push(format!(
                    "no slot of schedule.cron `{}` in {} falls in the NYSE trading window \
                     (open + 5 min to close − 30 min, New York time); the run is deferred to {}",
                    self.cron_text,
                    p.key,
                    self.local(pp.start)
                ));
                break;
            }
            p = p.next(self.tz);
        }
        out
    }

    /// `t` as wall time in the schedule's zone, for messages.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }
}

/// `due_at` straight from settings (compiles the schedule each call; the driver keeps a
/// compiled [`Schedule`] instead).
///
/// # Errors
/// A [`ScheduleError`] if `[schedule]` is invalid.
pub fn due_at(
    now: DateTime<Utc>,
    state: &ScheduleState,
    settings: &ScheduleSettings,
) -> Result<Decision, ScheduleError> {
    Ok(Schedule::from_settings(settings)?.due_at(now, state))
}

/// Six-field cron with day-of-month AND day-of-week (see the module docs).
fn parse_cron(text: &str) -> Result<Cron, ScheduleError> {
    let err = |message: String| ScheduleError::Cron {
        cron: text.to_owned(),
        message,
    };
    if text.split_whitespace().count() != 6 {
        return Err(err(format!(
            "has {} fields, expected 6",
            text.split_whitespace().count()
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(text)
        .map_err(|e| err(e.to_string()))
}

/// Rounds up to a whole second, so a slot found from a sub-second `now` is itself whole.
fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    match t.duration_trunc(Duration::seconds(1)) {
        Ok(s) if s == t => t,
        Ok(s) => s + Duration::seconds(1),
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests;
