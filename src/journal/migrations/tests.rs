//! Upgrade mechanics on synthetic migration lists (the real list has one step today), and the
//! refusal of journals from a newer pbal.
use super::*;
use crate::journal::Journal;

fn file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(Journal::FILE_NAME);
    (dir, path)
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut st = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

const ADD_NOTE: Migration = Migration {
    version: 2,
    what: "runs.note",
    sql: "ALTER TABLE runs ADD COLUMN note TEXT;",
};

#[test]
fn a_new_file_gets_every_migration_and_the_latest_version() {
    let (_d, path) = file();
    let mut conn = Connection::open(&path).unwrap();
    migrate(&mut conn, &path).unwrap();
    assert_eq!(stored_version(&conn).unwrap(), SCHEMA_VERSION);
    assert!(columns(&conn, "order_intents").contains(&"coid".to_string()));
}

#[test]
fn pending_migrations_run_in_order_and_keep_the_rows() {
    let (_d, path) = file();
    let mut conn = Connection::open(&path).unwrap();
    apply(&mut conn, &path, &MIGRATIONS[..1]).unwrap();
    conn.execute(
        "INSERT INTO runs (id, kind, mode, started_at, status) VALUES ('r1', 'manual', 'stage', 't', 'running')",
        [],
    )
    .unwrap();
    let steps = [
        Migration { ..MIGRATIONS[0] },
        ADD_NOTE,
        Migration {
            version: 3,
            what: "backfill runs.note",
            // Only works if step 2 ran first.
            sql: "UPDATE runs SET note = 'from v1';",
        },
    ];
    apply(&mut conn, &path, &steps).unwrap();
    assert_eq!(stored_version(&conn).unwrap(), 3);
    let note: String = conn
        .query_row("SELECT note FROM runs WHERE id = 'r1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(note, "from v1");
    // Up to date: nothing runs again (step 2 would fail on the existing column).
    apply(&mut conn, &path, &steps).unwrap();
}

#[test]
fn a_failing_migration_changes_nothing() {
    let (_d, path) = file();
    let mut conn = Connection::open(&path).unwrap();
    apply(&mut conn, &path, &MIGRATIONS[..1]).unwrap();
    let steps = [
        Migration { ..MIGRATIONS[0] },
        ADD_NOTE,
        Migration {
            version: 3,
            what: "broken step",
            sql: "ALTER TABLE runs ADD COLUMN other TEXT; THIS IS NOT SQL;",
        },
    ];
    let err = apply(&mut conn, &path, &steps).unwrap_err();
    assert!(
        matches!(err, JournalError::Migration { version: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("broken step"), "{msg}");
    // Steps 2 and 3 were one transaction with the version bump: all rolled back.
    assert_eq!(stored_version(&conn).unwrap(), 1);
    let cols = columns(&conn, "runs");
    assert!(!cols.contains(&"note".to_string()), "{cols:?}");
    assert!(!cols.contains(&"other".to_string()), "{cols:?}");
}

#[test]
fn a_journal_from_a_newer_pbal_is_refused_naming_file_and_versions() {
    let (_d, path) = file();
    drop(Journal::open(&path).unwrap());
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert!(
        matches!(err, JournalError::TooNew { found, supported, .. } if found == newer && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("version {newer}")), "{msg}");
    assert!(
        msg.contains(&format!("up to version {SCHEMA_VERSION}")),
        "{msg}"
    );
    // Refusing leaves the file as the newer pbal wrote it.
    assert_eq!(Journal::stored_version(&path).unwrap(), newer);
}
