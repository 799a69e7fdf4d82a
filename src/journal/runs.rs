//! The `runs` table: one row per rebalance attempt, with the snapshot it planned on, the plan,
//! and its outcome — what `pbal history` shows and what crash recovery looks for.
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, Result, json_opt, ts};

/// A run as listed by `pbal history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub kind: String,
    pub mode: String,
    pub period: Option<String>,
    pub account_id: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub prices_delayed: bool,
    pub snapshot: Option<serde_json::Value>,
    pub plan: Option<serde_json::Value>,
    pub outcome: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Journal {
    /// Records the start of a run.
    pub fn begin_run(
        &self,
        id: &str,
        kind: &str,
        mode: &str,
        period: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (id, kind, mode, period, started_at, status) VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
                params![id, kind, mode, period, ts(now)],
            )?;
            Ok(())
        })
    }

    /// Stores the account snapshot a run planned on.
    pub fn record_snapshot(
        &self,
        run_id: &str,
        account_id: &str,
        snapshot: &serde_json::Value,
        prices_delayed: bool,
    ) -> Result<()> {
        self.update_run(run_id, |c| {
            c.execute(
                "UPDATE runs SET account_id = ?2, snapshot_json = ?3, prices_delayed = ?4 WHERE id = ?1",
                params![run_id, account_id, snapshot.to_string(), prices_delayed],
            )
        })
    }

    /// Stores the plan of a run.
    pub fn record_plan(&self, run_id: &str, plan: &serde_json::Value) -> Result<()> {
        self.update_run(run_id, |c| {
            c.execute(
                "UPDATE runs SET plan_json = ?2 WHERE id = ?1",
                params![run_id, plan.to_string()],
            )
        })
    }

    /// Closes a run with its final status, outcome and error (if any).
    pub fn finish_run(
        &self,
        run_id: &str,
        status: &str,
        outcome: Option<&serde_json::Value>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.update_run(run_id, |c| {
            c.execute(
                "UPDATE runs SET status = ?2, outcome_json = ?3, error = ?4, finished_at = ?5 WHERE id = ?1",
                params![
                    run_id,
                    status,
                    outcome.map(|o| o.to_string()),
                    error,
                    ts(now)
                ],
            )
        })
    }

    fn update_run(
        &self,
        run_id: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        self.with(|c| match f(c)? {
            0 => Err(JournalError::NotFound {
                what: "run",
                id: run_id.to_owned(),
            }),
            _ => Ok(()),
        })
    }

    /// The most recent runs, newest first.
    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, kind, mode, period, account_id, started_at, finished_at, status, prices_delayed,
                        snapshot_json, plan_json, outcome_json, error
                 FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit], run_from_row)?;
            rows.map(|r| r?.finish()).collect()
        })
    }

    /// One run by id.
    pub fn run(&self, id: &str) -> Result<RunRecord> {
        self.with(|c| {
            c.query_row(
                "SELECT id, kind, mode, period, account_id, started_at, finished_at, status, prices_delayed,
                        snapshot_json, plan_json, outcome_json, error
                 FROM runs WHERE id = ?1",
                [id],
                run_from_row,
            )
            .optional()?
            .ok_or_else(|| JournalError::NotFound {
                what: "run",
                id: id.to_owned(),
            })?
            .finish()
        })
    }

    /// Runs left in `running` state by a crash (for reconciliation and `pbal status`).
    pub fn unfinished_runs(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id FROM runs WHERE status = 'running' ORDER BY started_at")?;
            let ids = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids)
        })
    }
}

/// Row with JSON columns still as text; `finish` parses them outside rusqlite's error type.
struct RawRun {
    rec: RunRecord,
    snapshot: Option<String>,
    plan: Option<String>,
    outcome: Option<String>,
}

impl RawRun {
    fn finish(mut self) -> Result<RunRecord> {
        self.rec.snapshot = json_opt(self.snapshot)?;
        self.rec.plan = json_opt(self.plan)?;
        self.rec.outcome = json_opt(self.outcome)?;
        Ok(self.rec)
    }
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        rec: RunRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            mode: r.get(2)?,
            period: r.get(3)?,
            account_id: r.get(4)?,
            started_at: r.get(5)?,
            finished_at: r.get(6)?,
            status: r.get(7)?,
            prices_delayed: r.get(8)?,
            snapshot: None,
            plan: None,
            outcome: None,
            error: r.get(12)?,
        },
        snapshot: r.get(9)?,
        plan: r.get(10)?,
        outcome: r.get(11)?,
    })
}
