//! A journal written by an earlier pbal opens, is upgraded to the current schema, and keeps
//! every record: users upgrade pbal in place over a state directory holding staged plans and
//! the order intents that make orders exactly-once.
//!
//! `fixtures/journal/v1.sqlite3` was written through `Journal`'s public API by pbal at schema
//! version 1 (before versioned migrations existed): one completed submit run with a filled
//! intent, its fill, a completed period and an event; one staged run with a pending plan.
use chrono::TimeZone;
use pbal::journal::{Claim, IntentState, Journal, SCHEMA_VERSION};
use serde_json::json;

fn fixture_copy(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/journal")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(Journal::FILE_NAME);
    std::fs::copy(&src, &dst).unwrap();
    (dir, dst)
}

#[test]
fn a_version_1_journal_opens_upgrades_and_keeps_its_records() {
    let (_dir, path) = fixture_copy("v1.sqlite3");
    let before = Journal::stored_version(&path).unwrap();
    assert_eq!(before, 1, "the fixture is a version-1 journal");

    let j = Journal::open(&path).unwrap();
    assert_eq!(Journal::stored_version(&path).unwrap(), SCHEMA_VERSION);

    let run = j.run("run-1").unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.account_id.as_deref(), Some("DU1234567"));
    assert_eq!(
        run.plan,
        Some(json!({"legs": [{"symbol": "VTI", "qty": "3"}]}))
    );
    let intents = j.intents_for_run("run-1").unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].state, IntentState::Filled);
    assert_eq!(intents[0].limit_price.as_deref(), Some("250.25"));
    assert!(j.open_intents().unwrap().is_empty());
    let fills = j.fills_for_coids(&["pbal-run-1-0".to_string()]).unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, "250.10");
    assert_eq!(j.period("2027-Q1").unwrap().unwrap().state, "completed");
    assert_eq!(j.events(Some("run-1")).unwrap().len(), 1);

    // The staged plan is still pending and can be decided (before its expiry).
    let at = chrono::Utc.with_ymd_and_hms(2027, 1, 4, 13, 0, 0).unwrap();
    assert_eq!(j.staged_plan("stage-1", at).unwrap().state, "pending");
    j.decide_staged("stage-1", "rejected", Some("test"), None, at)
        .unwrap();

    // And the upgraded journal takes new writes, including the exactly-once guards.
    j.begin_run("run-3", "manual", "submit", Some("2027-Q2"), at)
        .unwrap();
    assert_eq!(
        j.claim_period("2027-Q2", "run-3", at).unwrap(),
        Claim::Claimed
    );
    let mut again = intents[0].clone();
    again.run_id = "run-3".into();
    assert!(
        !j.insert_intent(&again, at).unwrap(),
        "a cOID from before the upgrade is still known"
    );
}

#[test]
fn reopening_an_upgraded_journal_is_a_no_op() {
    let (_dir, path) = fixture_copy("v1.sqlite3");
    drop(Journal::open(&path).unwrap());
    let j = Journal::open(&path).unwrap();
    assert_eq!(Journal::stored_version(&path).unwrap(), SCHEMA_VERSION);
    assert_eq!(j.runs(10).unwrap().len(), 2);
}
