//! The README's first command: `pbal demo` stages a plan on the bundled simulator, and
//! `pbal demo --approve ID` submits exactly that plan.
mod common;

fn demo(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    common::config::run_json(
        common::config::pbal()
            .args([
                "demo",
                "--format",
                "json",
                "--state-dir",
                dir.to_str().unwrap(),
            ])
            .args(extra),
    )
}

#[test]
fn demo_stages_then_approval_fills_the_staged_orders() {
    let dir = tempfile::tempdir().unwrap();
    let staged = demo(dir.path(), &[]);
    assert_eq!(staged["status"], "staged", "{staged}");
    assert_eq!(staged["account_id"], "DU1234567");
    let legs = staged["plan"]["legs"].as_array().unwrap().clone();
    assert!(!legs.is_empty(), "the sample account has cash to invest");
    let id = staged["staged_id"].as_str().unwrap();

    let done = demo(dir.path(), &["--approve", id]);
    assert_eq!(done["status"], "completed", "{done}");
    let orders = done["orders"].as_array().unwrap();
    assert_eq!(orders.len(), legs.len());
    for (o, l) in orders.iter().zip(&legs) {
        assert_eq!(o["symbol"], l["symbol"]);
        assert_eq!(o["quantity"], l["quantity"]);
        assert_eq!(o["state"], "filled");
    }
}
