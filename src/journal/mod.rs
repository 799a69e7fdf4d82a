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
//!
//! One file per table (`runs`, `staged`, `intents`, `fills`, `periods`, `events`), each with
//! its record types and its `impl Journal` block; the schema and its upgrades live in
//! `migrations.rs`.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

mod events;
mod fills;
mod intents;
mod migrations;
mod periods;
mod resolve;
mod runs;
mod staged;

pub use fills::FillRecord;
pub use intents::{IntentState, OrderIntent};
pub use migrations::SCHEMA_VERSION;
pub use periods::{Claim, PeriodRecord};
pub use resolve::{OpenOrder, Resolution};
pub use runs::RunRecord;
pub use staged::StagedPlan;

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
    #[error(
        "journal {path}: schema version {found} was written by a newer pbal; this pbal understands \
         up to version {supported}. Upgrade pbal (the journal was not changed)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "journal {path}: upgrading to schema version {version} ({what}) failed, nothing was \
         changed: {source}"
    )]
    Migration {
        path: PathBuf,
        version: i64,
        what: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

type Result<T> = std::result::Result<T, JournalError>;

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

/// Timestamps are stored as RFC 3339 text with milliseconds (sortable as text).
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an optional JSON column.
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

    /// Opens the journal at an explicit path, upgrading its schema if it was written by an
    /// earlier pbal (see `journal/migrations.rs`).
    ///
    /// # Errors
    /// [`JournalError::TooNew`] when a newer pbal wrote it; [`JournalError::Open`] or
    /// [`JournalError::Migration`] naming the file otherwise.
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
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )
        .map_err(open_err)?;
        migrations::migrate(&mut conn, path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// The schema version stored in the journal file at `path`, read without upgrading it
    /// (`0` for a new, empty file); compare with [`SCHEMA_VERSION`].
    pub fn stored_version(path: &Path) -> Result<i64> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| JournalError::Open {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Ok(migrations::stored_version(&conn)?)
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
}

#[cfg(test)]
mod tests;
