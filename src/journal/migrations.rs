//! Versioned schema migrations, kept in SQLite's `user_version` header field.
//!
//! Why: users upgrade pbal in place over a state directory that holds staged plans and the
//! write-ahead order intents that make orders exactly-once, so every schema change must carry
//! an existing journal forward — and a journal written by a *newer* pbal must be refused
//! rather than misread (an older binary would not know what a new column or state means).
//!
//! Rules:
//! - `MIGRATIONS` is ordered and append-only; a released migration is never edited, because
//!   journals out there have already run it. Migration `n` takes the schema from `n - 1` to
//!   `n`, and [`SCHEMA_VERSION`] is the last one's number.
//! - Migration 1 is the exact DDL pbal wrote before migrations existed (which also set
//!   `user_version = 1`), so those journals are recognised as version 1.
//! - All pending migrations run in one `BEGIN IMMEDIATE` transaction together with the new
//!   `user_version`: a failed upgrade leaves the file exactly as it was (the old pbal can still
//!   use it), and two processes opening an old journal at once migrate it only once.
//! - An up-to-date journal is only read on open (no write lock), so readers such as
//!   `pbal status` never wait on the daemon.
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{JournalError, Result};

/// The schema version this pbal writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One step of the schema.
pub(super) struct Migration {
    /// The `user_version` after this step (1-based, consecutive).
    pub version: i64,
    /// What it changes, for error messages.
    pub what: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    what: "runs, staged plans, order intents, fills, periods and events",
    sql: V1,
}];

/// Version 1: the schema as pbal created it before versioned migrations (unchanged text).
const V1: &str = r#"
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

/// Reads the schema version stored in the file's header (0 for a new, empty file).
pub(super) fn stored_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the journal at `path` (open as `conn`) to [`SCHEMA_VERSION`].
///
/// # Errors
/// [`JournalError::TooNew`] for a journal written by a newer pbal (left untouched),
/// [`JournalError::Migration`] when a step fails (nothing is changed).
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    apply(conn, path, MIGRATIONS)
}

/// [`migrate`] over an explicit list, so tests can exercise upgrades beyond the real ones.
pub(super) fn apply(conn: &mut Connection, path: &Path, migrations: &[Migration]) -> Result<()> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let open_err = |source| JournalError::Open {
        path: path.to_path_buf(),
        source,
    };
    let found = stored_version(conn).map_err(open_err)?;
    refuse_newer(path, found, latest)?;
    if found == latest {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    // Another process may have upgraded the file between the read above and the lock.
    let found = stored_version(&tx).map_err(open_err)?;
    refuse_newer(path, found, latest)?;
    for m in migrations.iter().filter(|m| m.version > found) {
        tx.execute_batch(m.sql)
            .map_err(|source| JournalError::Migration {
                path: path.to_path_buf(),
                version: m.version,
                what: m.what,
                source,
            })?;
    }
    tx.pragma_update(None, "user_version", latest)
        .map_err(open_err)?;
    tx.commit().map_err(open_err)?;
    tracing::info!(path = %path.display(), from = found, to = latest, "journal schema upgraded");
    Ok(())
}

fn refuse_newer(path: &Path, found: i64, supported: i64) -> Result<()> {
    if found > supported {
        return Err(JournalError::TooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
