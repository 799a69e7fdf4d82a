use super::*;
use chrono::TimeZone;
use serde_json::json;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 4, h, m, 0).unwrap()
}

fn open() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open_in(dir.path()).unwrap();
    (dir, j)
}

fn intent(coid: &str, run: &str, leg: u32) -> OrderIntent {
    OrderIntent {
        coid: coid.into(),
        run_id: run.into(),
        leg,
        account_id: "DU1".into(),
        conid: 42,
        symbol: "VTI".into(),
        sec_type: "STK".into(),
        side: "BUY".into(),
        quantity: "3".into(),
        order_type: "LMT".into(),
        limit_price: Some("250.25".into()),
        tif: "DAY".into(),
        state: IntentState::Intent,
        gateway_order_id: None,
        filled_qty: None,
        avg_price: None,
        last_error: None,
    }
}

#[test]
fn file_is_private_and_survives_reopen() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open_in(dir.path()).unwrap();
        j.begin_run("r1", "manual", "stage", None, t(10, 0))
            .unwrap();
    }
    let path = dir.path().join(Journal::FILE_NAME);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let j = Journal::open_in(dir.path()).unwrap();
    assert_eq!(j.run("r1").unwrap().status, "running");
    assert_eq!(j.unfinished_runs().unwrap(), vec!["r1".to_string()]);
}

#[test]
fn run_lifecycle_round_trips_json() {
    let (_d, j) = open();
    j.begin_run("r1", "manual", "dry-run", Some("2027-Q1"), t(10, 0))
        .unwrap();
    j.record_snapshot("r1", "DU1", &json!({"cash": "100.5"}), true)
        .unwrap();
    j.record_plan("r1", &json!({"trades": [1, 2]})).unwrap();
    j.finish_run("r1", "planned", Some(&json!({"ok": true})), None, t(10, 1))
        .unwrap();
    let r = j.run("r1").unwrap();
    assert_eq!(r.account_id.as_deref(), Some("DU1"));
    assert!(r.prices_delayed);
    assert_eq!(r.plan, Some(json!({"trades": [1, 2]})));
    assert_eq!(r.status, "planned");
    assert!(j.unfinished_runs().unwrap().is_empty());
    assert!(matches!(
        j.record_plan("nope", &json!({})),
        Err(JournalError::NotFound { .. })
    ));
}

#[test]
fn intent_is_written_once_per_coid() {
    let (_d, j) = open();
    j.begin_run("r1", "manual", "submit", None, t(10, 0))
        .unwrap();
    assert!(j.insert_intent(&intent("c1", "r1", 0), t(10, 0)).unwrap());
    // A second writer with the same cOID (e.g. after a crash) does not overwrite it.
    let mut again = intent("c1", "r1", 0);
    again.quantity = "99".into();
    assert!(!j.insert_intent(&again, t(10, 1)).unwrap());
    assert_eq!(j.intent("c1").unwrap().unwrap().quantity, "3");
    assert_eq!(j.open_intents().unwrap().len(), 1);

    j.update_intent(
        "c1",
        IntentState::Working,
        Some("123"),
        None,
        None,
        None,
        t(10, 2),
    )
    .unwrap();
    j.update_intent(
        "c1",
        IntentState::Filled,
        None,
        Some("3"),
        Some("250.1"),
        None,
        t(10, 3),
    )
    .unwrap();
    let i = j.intent("c1").unwrap().unwrap();
    assert_eq!(i.state, IntentState::Filled);
    assert_eq!(
        i.gateway_order_id.as_deref(),
        Some("123"),
        "COALESCE keeps the id"
    );
    assert!(j.open_intents().unwrap().is_empty());
}

#[test]
fn staged_plan_decisions_are_compare_and_set() {
    let (_d, j) = open();
    j.begin_run("r1", "manual", "stage", None, t(10, 0))
        .unwrap();
    j.stage_plan(
        "s1",
        "r1",
        "DU1",
        &json!({"p": 1}),
        &json!({}),
        &json!([]),
        t(10, 0),
        t(12, 0),
    )
    .unwrap();
    j.decide_staged("s1", "approved", None, Some("r2"), t(11, 0))
        .unwrap();
    let e = j
        .decide_staged("s1", "approved", None, None, t(11, 1))
        .unwrap_err();
    assert!(matches!(e, JournalError::NotPending { ref state, .. } if state == "approved"));
    assert_eq!(j.staged_plan("s1", t(11, 2)).unwrap().plan, json!({"p": 1}));
}

#[test]
fn staged_plans_expire_but_are_kept() {
    let (_d, j) = open();
    j.begin_run("r1", "manual", "stage", None, t(10, 0))
        .unwrap();
    j.stage_plan(
        "s1",
        "r1",
        "DU1",
        &json!({}),
        &json!({}),
        &json!([]),
        t(10, 0),
        t(12, 0),
    )
    .unwrap();
    assert_eq!(j.staged_plan("s1", t(11, 59)).unwrap().state, "pending");
    assert_eq!(j.staged_plan("s1", t(12, 0)).unwrap().state, "expired");
    let e = j
        .decide_staged("s1", "approved", None, None, t(12, 1))
        .unwrap_err();
    assert!(matches!(e, JournalError::NotPending { .. }));
    assert_eq!(j.staged_plans(t(13, 0)).unwrap().len(), 1);
}

#[test]
fn a_period_is_claimed_once() {
    let (_d, j) = open();
    assert_eq!(
        j.claim_period("2027-Q1", "r1", t(10, 0)).unwrap(),
        Claim::Claimed
    );
    match j.claim_period("2027-Q1", "r2", t(10, 5)).unwrap() {
        Claim::Taken(rec) => assert_eq!(rec.run_id.as_deref(), Some("r1")),
        other => panic!("{other:?}"),
    }
    // A release by another run does nothing; by the owner it frees the period.
    assert!(!j.release_period("2027-Q1", "r2").unwrap());
    assert!(j.release_period("2027-Q1", "r1").unwrap());
    assert_eq!(
        j.claim_period("2027-Q1", "r3", t(11, 0)).unwrap(),
        Claim::Claimed
    );
    j.settle_period("2027-Q1", "completed", None, None, t(11, 5))
        .unwrap();
    let rec = j.period("2027-Q1").unwrap().unwrap();
    assert_eq!(
        (rec.state.as_str(), rec.run_id.as_deref()),
        ("completed", Some("r3"))
    );
    assert!(
        !j.release_period("2027-Q1", "r3").unwrap(),
        "completed periods stay"
    );
}

#[test]
fn fills_are_idempotent_by_execution_id() {
    let (_d, j) = open();
    let f = FillRecord {
        execution_id: "e1".into(),
        coid: Some("c1".into()),
        gateway_order_id: Some("1".into()),
        symbol: "VTI".into(),
        side: "B".into(),
        size: "3".into(),
        price: "250.10".into(),
        commission: Some("1.00".into()),
        trade_time: Some("20270104-15:30:00".into()),
    };
    assert!(j.record_fill(&f, t(10, 0)).unwrap());
    assert!(!j.record_fill(&f, t(10, 1)).unwrap());
    assert_eq!(j.fills_for_coids(&["c1".into()]).unwrap(), vec![f]);
}

#[test]
fn events_are_appended_in_order() {
    let (_d, j) = open();
    j.event(Some("r1"), "a", &json!(1), t(10, 0)).unwrap();
    j.event(None, "b", &json!(2), t(10, 0)).unwrap();
    j.event(Some("r1"), "c", &json!(3), t(10, 0)).unwrap();
    let kinds: Vec<_> = j
        .events(Some("r1"))
        .unwrap()
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(kinds, vec!["a", "c"]);
    assert_eq!(j.events(None).unwrap().len(), 3);
}

#[tokio::test]
async fn call_runs_on_the_blocking_pool() {
    let (_d, j) = open();
    j.call(|j| j.begin_run("r1", "manual", "stage", None, t(10, 0)))
        .await
        .unwrap();
    let status = j.call(|j| Ok(j.run("r1")?.status)).await.unwrap();
    assert_eq!(status, "running");
}

#[test]
fn a_phase_of_intents_is_written_all_or_nothing() {
    let (_d, j) = open();
    j.begin_run("r1", "manual", "submit", None, t(10, 0))
        .unwrap();
    // The second intent reuses leg 0 of the run: the UNIQUE(run_id, leg) check fails midway.
    let batch = [intent("c1", "r1", 0), intent("c2", "r1", 0)];
    assert!(j.insert_intents(&batch, t(10, 0)).is_err());
    assert!(j.intents_for_run("r1").unwrap().is_empty(), "rolled back");
    let batch = [intent("c1", "r1", 0), intent("c2", "r1", 1)];
    assert_eq!(j.insert_intents(&batch, t(10, 0)).unwrap(), 2);
    assert_eq!(
        j.insert_intents(&batch, t(10, 1)).unwrap(),
        0,
        "existing cOIDs untouched"
    );
}
