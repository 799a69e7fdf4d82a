//! The `periods` table: which run claimed each period (e.g. `2027-Q1`) and how it ended, so a
//! period is rebalanced at most once whatever restarts happen.
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, Result, ts};

/// Where a period stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodRecord {
    pub period: String,
    /// `claimed` (a run is on it), `completed`, or `missed`.
    pub state: String,
    pub run_id: Option<String>,
    pub reason: Option<String>,
    pub updated_at: String,
}

/// Result of trying to claim a period for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This run now owns the period.
    Claimed,
    /// Someone already did: the existing record says what happened.
    Taken(PeriodRecord),
}

impl Journal {
    /// Claims `period` for `run_id`, atomically: the first claimant wins; any later one gets
    /// the existing record. This is the "never twice in a period" guard.
    pub fn claim_period(&self, period: &str, run_id: &str, now: DateTime<Utc>) -> Result<Claim> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO periods (period, state, run_id, updated_at) VALUES (?1, 'claimed', ?2, ?3)
                 ON CONFLICT(period) DO NOTHING",
                params![period, run_id, ts(now)],
            )?;
            if n == 1 {
                return Ok(Claim::Claimed);
            }
            let rec = period_row(c, period)?.ok_or_else(|| JournalError::NotFound {
                what: "period",
                id: period.to_owned(),
            })?;
            Ok(Claim::Taken(rec))
        })
    }

    /// Sets a period's final state (`completed` or `missed`) with a reason.
    pub fn settle_period(
        &self,
        period: &str,
        state: &str,
        run_id: Option<&str>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO periods (period, state, run_id, reason, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(period) DO UPDATE SET state = ?2, run_id = COALESCE(?3, run_id), reason = ?4, updated_at = ?5",
                params![period, state, run_id, reason, ts(now)],
            )?;
            Ok(())
        })
    }

    /// Releases a claim that never placed an order (e.g. the run failed before planning), so the
    /// period can be retried. Does nothing unless the period is still `claimed` by `run_id`.
    pub fn release_period(&self, period: &str, run_id: &str) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "DELETE FROM periods WHERE period = ?1 AND run_id = ?2 AND state = 'claimed'",
                params![period, run_id],
            )?;
            Ok(n == 1)
        })
    }

    /// One period's record.
    pub fn period(&self, period: &str) -> Result<Option<PeriodRecord>> {
        self.with(|c| period_row(c, period))
    }

    /// All period records, newest first.
    pub fn periods(&self) -> Result<Vec<PeriodRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT period, state, run_id, reason, updated_at FROM periods ORDER BY period DESC",
            )?;
            let v = st
                .query_map([], period_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }
}

fn period_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PeriodRecord> {
    Ok(PeriodRecord {
        period: r.get(0)?,
        state: r.get(1)?,
        run_id: r.get(2)?,
        reason: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn period_row(c: &Connection, period: &str) -> Result<Option<PeriodRecord>> {
    Ok(c.query_row(
        "SELECT period, state, run_id, reason, updated_at FROM periods WHERE period = ?1",
        [period],
        period_from_row,
    )
    .optional()?)
}
