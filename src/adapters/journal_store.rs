//! [`PeriodStore`] over the SQLite journal, so the daemon's "exactly once per period" survives
//! restarts, crashes and reboots.
//!
//! Schedule events are appended to the journal's audit `events` table (kind `schedule`, the
//! [`PeriodEvent`] as JSON) and folded on load. Closes (completed / missed) are also written to
//! the journal's `periods` table, and that table is read on every load: a period settled by
//! anything else (a manual `pbal rebalance` for that period) is closed for the scheduler too.
//!
//! The folded events are cached after the first load: the driver is the only writer of
//! `schedule` events, and re-reading the whole audit trail on every wake-up would grow with the
//! journal's age. The `periods` table is small and always re-read.
use std::sync::Mutex;

use chrono::Utc;

use crate::journal::{Journal, JournalError};
use crate::scheduler::driver::PeriodStore;
use crate::scheduler::{PeriodEvent, PeriodKey, ScheduleState};

/// Audit-event kind of schedule events.
pub const EVENT_KIND: &str = "schedule";

/// The journal-backed period store.
#[derive(Debug)]
pub struct JournalPeriodStore {
    journal: Journal,
    cache: Mutex<Option<ScheduleState>>,
}

impl JournalPeriodStore {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            cache: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<ScheduleState> {
        self.cache.lock().ok().and_then(|c| c.clone())
    }
}

impl PeriodStore for JournalPeriodStore {
    type Error = JournalError;

    async fn load(&self) -> Result<ScheduleState, JournalError> {
        let mut state = match self.cached() {
            Some(s) => s,
            None => {
                let events = self
                    .journal
                    .call(|j| {
                        let mut out = Vec::new();
                        for (_, kind, payload) in j.events(None)? {
                            if kind == EVENT_KIND {
                                out.push(serde_json::from_value::<PeriodEvent>(payload)?);
                            }
                        }
                        Ok(out)
                    })
                    .await?;
                let s = ScheduleState::from_events(events.iter());
                if let Ok(mut c) = self.cache.lock() {
                    *c = Some(s.clone());
                }
                s
            }
        };
        // Periods settled outside the scheduler are closed too (never twice in a period).
        let records = self.journal.call(|j| j.periods()).await?;
        for r in records {
            let period = PeriodKey(r.period.clone());
            let at = chrono::DateTime::parse_from_rfc3339(&r.updated_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now());
            match r.state.as_str() {
                "completed" => state.apply(&PeriodEvent::Completed {
                    period,
                    at,
                    summary: String::new(),
                }),
                "missed" => state.apply(&PeriodEvent::Missed {
                    period,
                    at,
                    reason: r.reason.unwrap_or_default(),
                }),
                _ => {}
            }
        }
        Ok(state)
    }

    async fn record(&self, event: PeriodEvent) -> Result<(), JournalError> {
        let payload = serde_json::to_value(&event)?;
        let ev = event.clone();
        self.journal
            .call(move |j| {
                let at = match &ev {
                    PeriodEvent::TrackingStarted { at }
                    | PeriodEvent::AttemptStarted { at, .. }
                    | PeriodEvent::AttemptFailed { at, .. }
                    | PeriodEvent::Completed { at, .. }
                    | PeriodEvent::Missed { at, .. } => *at,
                };
                j.event(None, EVENT_KIND, &payload, at)?;
                match &ev {
                    PeriodEvent::Completed {
                        period, summary, ..
                    } => j.settle_period(period.as_str(), "completed", None, Some(summary), at),
                    PeriodEvent::Missed { period, reason, .. } => {
                        j.settle_period(period.as_str(), "missed", None, Some(reason), at)
                    }
                    _ => Ok(()),
                }
            })
            .await?;
        if let Ok(mut c) = self.cache.lock()
            && let Some(s) = c.as_mut()
        {
            s.apply(&event);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::*;

    fn utc(s: &str) -> chrono::DateTime<Utc> {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn events_survive_a_restart_and_settle_the_periods_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalPeriodStore::new(Journal::open_in(dir.path()).unwrap());
        assert_eq!(store.load().await.unwrap(), ScheduleState::default());
        for e in [
            PeriodEvent::TrackingStarted {
                at: utc("2026-12-01T00:00:00Z"),
            },
            PeriodEvent::AttemptStarted {
                period: "2027-Q1".into(),
                at: utc("2027-01-04T15:30:00Z"),
            },
            PeriodEvent::Completed {
                period: "2027-Q1".into(),
                at: utc("2027-01-04T15:41:00Z"),
                summary: "staged 3 orders".into(),
            },
        ] {
            store.record(e).await.unwrap();
        }
        let before = store.load().await.unwrap();
        assert!(before.is_closed(&"2027-Q1".into()));

        // A new process: a fresh store over the same file sees the same state.
        let again = JournalPeriodStore::new(Journal::open_in(dir.path()).unwrap());
        let after = again.load().await.unwrap();
        assert_eq!(after.since, Some(utc("2026-12-01T00:00:00Z")));
        assert_eq!(after.last_attempt, before.last_attempt);
        assert!(after.completed.contains_key(&"2027-Q1".into()));
        let rec = again
            .journal
            .period("2027-Q1")
            .unwrap()
            .expect("periods row");
        assert_eq!(rec.state, "completed");
    }

    #[tokio::test]
    async fn a_period_settled_outside_the_scheduler_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open_in(dir.path()).unwrap();
        let store = JournalPeriodStore::new(journal.clone());
        // Warm the cache first: the periods table must still be read on later loads.
        assert!(!store.load().await.unwrap().is_closed(&"2027-Q2".into()));
        journal
            .settle_period(
                "2027-Q2",
                "completed",
                Some("r1"),
                None,
                utc("2027-04-01T15:00:00Z"),
            )
            .unwrap();
        assert!(store.load().await.unwrap().is_closed(&"2027-Q2".into()));
    }
}
