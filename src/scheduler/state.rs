//! What the scheduler remembers: [`PeriodEvent`]s appended to the journal and the
//! [`ScheduleState`] folded from them.
//!
//! Why events: the journal only appends, so a crash between two writes never leaves a
//! half-updated row, and "exactly one run per period" is a property of the fold (the first
//! close of a period wins) that unit tests check on literal event lists.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PeriodKey;

/// What happened to a period, as recorded in the journal. The journal stores these events
/// (append-only) and folds them with [`ScheduleState::apply`]; the scheduler never needs
/// anything else from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PeriodEvent {
    /// The daemon started watching this schedule (first start only). Periods whose slot came
    /// before this are not reported as missed.
    TrackingStarted { at: DateTime<Utc> },
    /// A cycle for `period` is about to start (written before the cycle runs).
    AttemptStarted {
        period: PeriodKey,
        at: DateTime<Utc>,
    },
    /// The attempt failed with an error that may pass (gateway down, timeout).
    AttemptFailed {
        period: PeriodKey,
        at: DateTime<Utc>,
        reason: String,
    },
    /// The period's rebalance is done (submitted, staged for approval, or dry-run recorded).
    Completed {
        period: PeriodKey,
        at: DateTime<Utc>,
        summary: String,
    },
    /// The period closes without a completed rebalance.
    Missed {
        period: PeriodKey,
        at: DateTime<Utc>,
        reason: String,
    },
}

/// The latest attempt the journal knows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub period: PeriodKey,
    /// 1 for the first attempt in the period.
    pub number: u32,
    pub started_at: DateTime<Utc>,
    /// Set when the attempt failed; `None` while running or if the process died during it.
    pub failed: Option<(DateTime<Utc>, String)>,
}

/// Everything [`super::Schedule::due_at`] needs to know about the past.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScheduleState {
    pub since: Option<DateTime<Utc>>,
    /// Completed periods and when.
    pub completed: BTreeMap<PeriodKey, DateTime<Utc>>,
    /// Missed periods and why.
    pub missed: BTreeMap<PeriodKey, String>,
    pub last_attempt: Option<Attempt>,
}

impl ScheduleState {
    /// Folds journal events, in the order they were recorded.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a PeriodEvent>) -> Self {
        let mut s = Self::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    /// Applies one event. The first close of a period wins: a late `Missed` after `Completed`
    /// (or the reverse) does not rewrite history.
    pub fn apply(&mut self, e: &PeriodEvent) {
        match e {
            PeriodEvent::TrackingStarted { at } => {
                self.since.get_or_insert(*at);
            }
            PeriodEvent::AttemptStarted { period, at } => {
                let number = match &self.last_attempt {
                    Some(a) if &a.period == period => a.number + 1,
                    _ => 1,
                };
                self.last_attempt = Some(Attempt {
                    period: period.clone(),
                    number,
                    started_at: *at,
                    failed: None,
                });
            }
            PeriodEvent::AttemptFailed { period, at, reason } => {
                if let Some(a) = self.last_attempt.as_mut().filter(|a| &a.period == period) {
                    a.failed = Some((*at, reason.clone()));
                }
            }
            PeriodEvent::Completed { period, at, .. } => {
                if !self.is_closed(period) {
                    self.completed.insert(period.clone(), *at);
                }
            }
            PeriodEvent::Missed { period, reason, .. } => {
                if !self.is_closed(period) {
                    self.missed.insert(period.clone(), reason.clone());
                }
            }
        }
    }

    /// True once the period is completed or missed: it never runs again.
    pub fn is_closed(&self, p: &PeriodKey) -> bool {
        self.completed.contains_key(p) || self.missed.contains_key(p)
    }
}
