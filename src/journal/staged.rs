//! The `staged_plans` table: plans awaiting a human decision. Never deleted, only moved between
//! states (compare-and-set), so a crash can never lose one and two approvals cannot both win.
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, Result, ts};

/// A staged plan and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedPlan {
    pub id: String,
    pub run_id: String,
    pub account_id: String,
    pub created_at: String,
    pub expires_at: String,
    pub state: String,
    pub plan: serde_json::Value,
    pub snapshot: serde_json::Value,
    pub whatif: serde_json::Value,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub decided_run_id: Option<String>,
}

impl Journal {
    /// Stores a staged plan (state `pending`).
    #[allow(clippy::too_many_arguments)]
    pub fn stage_plan(
        &self,
        id: &str,
        run_id: &str,
        account_id: &str,
        plan: &serde_json::Value,
        snapshot: &serde_json::Value,
        whatif: &serde_json::Value,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO staged_plans (id, run_id, account_id, created_at, expires_at, state, plan_json, snapshot_json, whatif_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8)",
                params![
                    id,
                    run_id,
                    account_id,
                    ts(now),
                    ts(expires_at),
                    plan.to_string(),
                    snapshot.to_string(),
                    whatif.to_string()
                ],
            )?;
            Ok(())
        })
    }

    /// Staged plans, newest first; expired pending plans are reported as `expired`
    /// (and persisted so) as of `now`.
    pub fn staged_plans(&self, now: DateTime<Utc>) -> Result<Vec<StagedPlan>> {
        self.expire_staged(now)?;
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, run_id, account_id, created_at, expires_at, state, plan_json, snapshot_json, whatif_json,
                        decided_at, decision_note, decided_run_id
                 FROM staged_plans ORDER BY created_at DESC, rowid DESC",
            )?;
            let rows = st.query_map([], staged_from_row)?;
            rows.map(|r| r?.finish()).collect()
        })
    }

    /// One staged plan by id (expiry applied as of `now`).
    pub fn staged_plan(&self, id: &str, now: DateTime<Utc>) -> Result<StagedPlan> {
        self.expire_staged(now)?;
        self.with(|c| {
            c.query_row(
                "SELECT id, run_id, account_id, created_at, expires_at, state, plan_json, snapshot_json, whatif_json,
                        decided_at, decision_note, decided_run_id
                 FROM staged_plans WHERE id = ?1",
                [id],
                staged_from_row,
            )
            .optional()?
            .ok_or_else(|| JournalError::NotFound {
                what: "staged plan",
                id: id.to_owned(),
            })?
            .finish()
        })
    }

    fn expire_staged(&self, now: DateTime<Utc>) -> Result<()> {
        self.with(|c| {
            // Read first: a reader must not take the write lock when nothing expired.
            let due: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM staged_plans WHERE state = 'pending' AND expires_at <= ?1)",
                [ts(now)],
                |r| r.get(0),
            )?;
            if !due {
                return Ok(());
            }
            c.execute(
                "UPDATE staged_plans SET state = 'expired', decided_at = ?1, decision_note = 'expired'
                 WHERE state = 'pending' AND expires_at <= ?1",
                [ts(now)],
            )?;
            Ok(())
        })
    }

    /// Moves a pending staged plan to `new_state` (`approved`, `rejected`, `superseded`).
    /// Atomic compare-and-set: two approvals racing cannot both win.
    ///
    /// # Errors
    /// [`JournalError::NotPending`] if it was already decided or expired.
    pub fn decide_staged(
        &self,
        id: &str,
        new_state: &str,
        note: Option<&str>,
        decided_run_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.expire_staged(now)?;
        self.with(|c| {
            let n = c.execute(
                "UPDATE staged_plans SET state = ?2, decided_at = ?3, decision_note = ?4, decided_run_id = ?5
                 WHERE id = ?1 AND state = 'pending'",
                params![id, new_state, ts(now), note, decided_run_id],
            )?;
            if n == 1 {
                return Ok(());
            }
            let state: Option<String> = c
                .query_row("SELECT state FROM staged_plans WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            Err(match state {
                None => JournalError::NotFound {
                    what: "staged plan",
                    id: id.to_owned(),
                },
                Some(state) => JournalError::NotPending {
                    id: id.to_owned(),
                    state,
                },
            })
        })
    }

    /// Puts back to `pending` a plan whose approving run ended before writing any order intent
    /// (crash, session loss, gateway error): the approval was used up, nothing was sent, and
    /// the user must be able to approve it again. Returns whether a plan was reopened.
    pub fn reopen_approval(&self, run_id: &str) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE staged_plans SET state = 'pending', decided_at = NULL, decided_run_id = NULL,
                        decision_note = 'approval interrupted before any order was sent'
                 WHERE decided_run_id = ?1 AND state = 'approved'
                   AND NOT EXISTS (SELECT 1 FROM order_intents WHERE run_id = ?1)",
                [run_id],
            )?;
            Ok(n == 1)
        })
    }
}

struct RawStaged {
    rec: StagedPlan,
    plan: String,
    snapshot: String,
    whatif: String,
}

impl RawStaged {
    fn finish(mut self) -> Result<StagedPlan> {
        self.rec.plan = serde_json::from_str(&self.plan)?;
        self.rec.snapshot = serde_json::from_str(&self.snapshot)?;
        self.rec.whatif = serde_json::from_str(&self.whatif)?;
        Ok(self.rec)
    }
}

fn staged_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawStaged> {
    Ok(RawStaged {
        rec: StagedPlan {
            id: r.get(0)?,
            run_id: r.get(1)?,
            account_id: r.get(2)?,
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            state: r.get(5)?,
            plan: serde_json::Value::Null,
            snapshot: serde_json::Value::Null,
            whatif: serde_json::Value::Null,
            decided_at: r.get(9)?,
            decision_note: r.get(10)?,
            decided_run_id: r.get(11)?,
        },
        plan: r.get(6)?,
        snapshot: r.get(7)?,
        whatif: r.get(8)?,
    })
}
