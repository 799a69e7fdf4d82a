//! The durable journal: one SQLite file (WAL, `synchronous=FULL`, mode 0600) in the state dir.
//!
//! It is the memory that makes pbal safe with money across crashes:
//! - **runs** and their account snapshots, plans and outcomes (`pbal history`);
//! - **staged plans** awaiting a human decision — never deleted, only moved between states, so a
//!   crash can never lose one;
//! - **order intents**, written *before* their POST (write-ahead), keyed by the deterministic
//!   cOID, so a restarted process reconciles with the gateway instead of submitting twice;
//! - **fills**, idempotent by execution id;
//! - **periods** (e.g. `2027-Q1`) with the run that claimed them, so a period is rebalanced at
//!   most once whatever restarts happen;
//! - an append-only **event** log for forensics.
//!
//! This module is the only one that touches SQLite. Its methods are synchronous; async callers
//! go through [`Journal::call`], which runs them on tokio's blocking pool.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Journal errors. Every one of them stops a money path (fail closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("journal: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("journal: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal: stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("journal: {what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("journal: staged plan `{id}` is {state}, not pending")]
    NotPending { id: String, state: String },
    #[error("journal: the blocking task failed: {0}")]
    Join(String),
}

type Result<T> = std::result::Result<T, JournalError>;

const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,             -- manual | scheduled | approve | demo
    mode          TEXT NOT NULL,             -- dry-run | stage | submit
    period        TEXT,
    account_id    TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,             -- running | planned | staged | submitted | completed | refused | failed
    prices_delayed INTEGER NOT NULL DEFAULT 0,
    snapshot_json TEXT,
    plan_json     TEXT,
    outcome_json  TEXT,
    error         TEXT
);
CREATE TABLE IF NOT EXISTS staged_plans (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs(id),
    account_id    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    state         TEXT NOT NULL,             -- pending | approved | rejected | expired | superseded
    plan_json     TEXT NOT NULL,
    snapshot_json TEXT NOT NULL,
    whatif_json   TEXT NOT NULL,
    decided_at    TEXT,
    decision_note TEXT,
    decided_run_id TEXT
);
CREATE TABLE IF NOT EXISTS order_intents (
    coid          TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs(id),
    leg           INTEGER NOT NULL,
    account_id    TEXT NOT NULL,
    conid         INTEGER NOT NULL,
    symbol        TEXT NOT NULL,
    sec_type      TEXT NOT NULL,
    side          TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    order_type    TEXT NOT NULL,
    limit_price   TEXT,
    tif           TEXT NOT NULL,
    state         TEXT NOT NULL,
    gateway_order_id TEXT,
    filled_qty    TEXT,
    avg_price     TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (run_id, leg)
);
CREATE TABLE IF NOT EXISTS fills (
    execution_id  TEXT PRIMARY KEY,
    coid          TEXT,
    gateway_order_id TEXT,
    symbol        TEXT NOT NULL,
    side          TEXT NOT NULL,
    size          TEXT NOT NULL,
    price         TEXT NOT NULL,
    commission    TEXT,
    trade_time    TEXT,
    recorded_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS periods (
    period        TEXT PRIMARY KEY,
    state         TEXT NOT NULL,             -- claimed | completed | missed
    run_id        TEXT,
    reason        TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    run_id        TEXT,
    kind          TEXT NOT NULL,
    payload_json  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_by_state ON order_intents(state);
CREATE INDEX IF NOT EXISTS staged_by_state ON staged_plans(state);
"#;

/// States of an order intent. `Intent` is written before the POST; the rest after the gateway
/// answered (or after reconciliation found out what happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Committed, POST not known to have reached the gateway.
    Intent,
    /// The POST's fate is unknown (timeout, 503, crash mid-call): reconcile before anything else.
    Unknown,
    /// The gateway accepted it (has an order id); not yet terminal.
    Working,
    Filled,
    Cancelled,
    /// The gateway refused it (error text) or a prompt was not on the allowlist.
    Rejected,
    /// pbal decided not to send it (kill switch, guard, stale plan).
    Skipped,
}

impl IntentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Intent => "intent",
            IntentState::Unknown => "unknown",
            IntentState::Working => "working",
            IntentState::Filled => "filled",
            IntentState::Cancelled => "cancelled",
            IntentState::Rejected => "rejected",
            IntentState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "intent" => IntentState::Intent,
            "unknown" => IntentState::Unknown,
            "working" => IntentState::Working,
            "filled" => IntentState::Filled,
            "cancelled" => IntentState::Cancelled,
            "rejected" => IntentState::Rejected,
            "skipped" => IntentState::Skipped,
            // Unreadable states are treated as unknown: reconcile rather than assume.
            _ => IntentState::Unknown,
        }
    }

    /// True when nothing more will happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            IntentState::Filled
                | IntentState::Cancelled
                | IntentState::Rejected
                | IntentState::Skipped
        )
    }
}

/// One order pbal intends to place, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub coid: String,
    pub run_id: String,
    pub leg: u32,
    pub account_id: String,
    pub conid: i64,
    pub symbol: String,
    /// `STK`, `FUND` …
    pub sec_type: String,
    pub side: String,
    /// Decimal text, exact.
    pub quantity: String,
    pub order_type: String,
    pub limit_price: Option<String>,
    pub tif: String,
    pub state: IntentState,
    pub gateway_order_id: Option<String>,
    pub filled_qty: Option<String>,
    pub avg_price: Option<String>,
    pub last_error: Option<String>,
}

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

/// An execution reported by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRecord {
    pub execution_id: String,
    pub coid: Option<String>,
    pub gateway_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub size: String,
    pub price: String,
    pub commission: Option<String>,
    pub trade_time: Option<String>,
}

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

/// Handle to the journal. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json_opt(s: Option<String>) -> Result<Option<serde_json::Value>> {
    Ok(match s {
        Some(s) => Some(serde_json::from_str(&s)?),
        None => None,
    })
}

impl Journal {
    /// File name of the journal inside the state directory.
    pub const FILE_NAME: &'static str = "journal.sqlite3";

    /// Opens (creating if needed) the journal in `state_dir`, mode 0600.
    ///
    /// # Errors
    /// [`JournalError::Open`] naming the file when SQLite cannot open or migrate it.
    pub fn open_in(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        Self::open(&state_dir.join(Self::FILE_NAME))
    }

    /// Opens the journal at an explicit path.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            // Create it empty with 0600 before SQLite does (umask may not be set by the caller).
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            crate::util::set_private(path)?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )
        .map_err(open_err)?;
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                "schema version {version} is newer than this pbal understands ({SCHEMA_VERSION}); upgrade pbal"
            ))));
        }
        if version < SCHEMA_VERSION {
            // Only a new (or older) journal is written to on open: reopening an up-to-date one
            // takes no write lock, so readers (`pbal status`, `history`) never wait on the daemon.
            conn.execute_batch(SCHEMA).map_err(open_err)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(open_err)?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on tokio's blocking pool, so SQLite never stalls an async worker.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Journal) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| JournalError::Join(e.to_string()))?
    }

    fn with<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        // A poisoned lock means a panic mid-statement; SQLite itself rolled back, so continue.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Checkpoints the WAL into the main file; called at clean shutdown.
    pub fn checkpoint(&self) -> Result<()> {
        self.with(|c| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
    }

    // ----- runs -------------------------------------------------------------------------------

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

    // ----- staged plans -----------------------------------------------------------------------

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

    // ----- order intents ----------------------------------------------------------------------

    /// Writes an intent before its POST. Returns `false` (and changes nothing) if an intent
    /// with this cOID already exists — the caller must then reconcile, not submit.
    pub fn insert_intent(&self, intent: &OrderIntent, now: DateTime<Utc>) -> Result<bool> {
        self.with(|c| insert_intent_on(c, intent, now))
    }

    /// Writes a phase's intents in one transaction: after a crash either all of them exist or
    /// none does, so a resumed run never mistakes a half-written phase for a complete one.
    /// Returns how many were new.
    pub fn insert_intents(&self, intents: &[OrderIntent], now: DateTime<Utc>) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut inserted = 0;
            for i in intents {
                inserted += usize::from(insert_intent_on(&tx, i, now)?);
            }
            tx.commit()?;
            Ok(inserted)
        })
    }

    /// Updates an intent's state and what the gateway told us.
    #[allow(clippy::too_many_arguments)]
    pub fn update_intent(
        &self,
        coid: &str,
        state: IntentState,
        gateway_order_id: Option<&str>,
        filled_qty: Option<&str>,
        avg_price: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE order_intents SET state = ?2,
                     gateway_order_id = COALESCE(?3, gateway_order_id),
                     filled_qty = COALESCE(?4, filled_qty),
                     avg_price = COALESCE(?5, avg_price),
                     last_error = COALESCE(?6, last_error),
                     updated_at = ?7
                 WHERE coid = ?1",
                params![
                    coid,
                    state.as_str(),
                    gateway_order_id,
                    filled_qty,
                    avg_price,
                    error,
                    ts(now)
                ],
            )?;
            if n == 0 {
                return Err(JournalError::NotFound {
                    what: "order intent",
                    id: coid.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// One intent by cOID.
    pub fn intent(&self, coid: &str) -> Result<Option<OrderIntent>> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("{INTENT_SELECT} WHERE coid = ?1"),
                [coid],
                intent_from_row,
            )
            .optional()?)
        })
    }

    /// Intents of a run, in leg order.
    pub fn intents_for_run(&self, run_id: &str) -> Result<Vec<OrderIntent>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{INTENT_SELECT} WHERE run_id = ?1 ORDER BY leg"))?;
            let v = st
                .query_map([run_id], intent_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    /// Every intent whose fate is not final: what start-up reconciliation must resolve
    /// before any new order may be placed.
    pub fn open_intents(&self) -> Result<Vec<OrderIntent>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "{INTENT_SELECT} WHERE state IN ('intent', 'unknown', 'working') ORDER BY created_at, leg"
            ))?;
            let v = st
                .query_map([], intent_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    // ----- fills ------------------------------------------------------------------------------

    /// Records an execution; returns `false` if it was already recorded.
    pub fn record_fill(&self, fill: &FillRecord, now: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO fills (execution_id, coid, gateway_order_id, symbol, side, size, price, commission, trade_time, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(execution_id) DO NOTHING",
                params![
                    fill.execution_id,
                    fill.coid,
                    fill.gateway_order_id,
                    fill.symbol,
                    fill.side,
                    fill.size,
                    fill.price,
                    fill.commission,
                    fill.trade_time,
                    ts(now)
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// Fills of the orders with these cOIDs.
    pub fn fills_for_coids(&self, coids: &[String]) -> Result<Vec<FillRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT execution_id, coid, gateway_order_id, symbol, side, size, price, commission, trade_time
                 FROM fills WHERE coid = ?1 ORDER BY trade_time, execution_id",
            )?;
            let mut out = Vec::new();
            for coid in coids {
                let rows = st.query_map([coid], |r| {
                    Ok(FillRecord {
                        execution_id: r.get(0)?,
                        coid: r.get(1)?,
                        gateway_order_id: r.get(2)?,
                        symbol: r.get(3)?,
                        side: r.get(4)?,
                        size: r.get(5)?,
                        price: r.get(6)?,
                        commission: r.get(7)?,
                        trade_time: r.get(8)?,
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        })
    }

    // ----- periods ----------------------------------------------------------------------------

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

    // ----- events -----------------------------------------------------------------------------

    /// Appends an audit event.
    pub fn event(
        &self,
        run_id: Option<&str>,
        kind: &str,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO events (at, run_id, kind, payload_json) VALUES (?1, ?2, ?3, ?4)",
                params![ts(now), run_id, kind, payload.to_string()],
            )?;
            Ok(())
        })
    }

    /// Events of a run (or all, when `run_id` is None), oldest first.
    pub fn events(&self, run_id: Option<&str>) -> Result<Vec<(String, String, serde_json::Value)>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT at, kind, payload_json FROM events WHERE (?1 IS NULL OR run_id = ?1) ORDER BY id",
            )?;
            let rows = st.query_map([run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, kind, payload) = row?;
                out.push((at, kind, serde_json::from_str(&payload)?));
            }
            Ok(out)
        })
    }
}

fn insert_intent_on(c: &Connection, intent: &OrderIntent, now: DateTime<Utc>) -> Result<bool> {
    let n = c.execute(
                "INSERT INTO order_intents (coid, run_id, leg, account_id, conid, symbol, side, quantity, order_type,
                                            limit_price, tif, state, gateway_order_id, created_at, updated_at, sec_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)
                 ON CONFLICT(coid) DO NOTHING",
                params![
                    intent.coid,
                    intent.run_id,
                    intent.leg,
                    intent.account_id,
                    intent.conid,
                    intent.symbol,
                    intent.side,
                    intent.quantity,
                    intent.order_type,
                    intent.limit_price,
                    intent.tif,
                    intent.state.as_str(),
                    intent.gateway_order_id,
                    ts(now),
                    intent.sec_type
                ],
            )?;
    Ok(n == 1)
}

const INTENT_SELECT: &str = "SELECT coid, run_id, leg, account_id, conid, symbol, side, quantity, order_type, limit_price, tif,
        state, gateway_order_id, filled_qty, avg_price, last_error, sec_type FROM order_intents";

fn intent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderIntent> {
    Ok(OrderIntent {
        coid: r.get(0)?,
        run_id: r.get(1)?,
        leg: r.get(2)?,
        account_id: r.get(3)?,
        conid: r.get(4)?,
        symbol: r.get(5)?,
        side: r.get(6)?,
        quantity: r.get(7)?,
        order_type: r.get(8)?,
        limit_price: r.get(9)?,
        tif: r.get(10)?,
        state: IntentState::parse(&r.get::<_, String>(11)?),
        gateway_order_id: r.get(12)?,
        filled_qty: r.get(13)?,
        avg_price: r.get(14)?,
        last_error: r.get(15)?,
        sec_type: r.get(16)?,
    })
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

#[cfg(test)]
mod tests;
