//! End-to-end tests of `pbal plan -s tax-aware`: the real binary on the example Flex files.
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn ex(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/tax")
        .join(name);
    p.to_string_lossy().into_owned()
}

fn plan(args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "plan".to_string(),
        ex("positions.csv"),
        "-s".into(),
        "tax-aware".into(),
        "--as-of".into(),
        "2025-06-30".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    Command::cargo_bin("pbal")
        .unwrap()
        .args(all)
        .output()
        .unwrap()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn a_budget_cuts_the_sale_and_the_audit_names_lots_and_reasons() {
    let out = plan(&[
        "--lots",
        &ex("lots.xml"),
        "--trades",
        &ex("trades.csv"),
        "--tax-budget",
        "500",
        "--st-weight",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // FIFO: the 2023 lot (+40/share, long-term) goes first; 500 allows 12 shares (480).
    assert!(
        text.contains("SELL 12 VTI @ 100: short-term 0.00, long-term 480.00"),
        "{text}"
    );
    assert!(text.contains("lot opened 2023-01-10 (long-term"), "{text}");
    assert!(text.contains("Budget: 500.00, left 20.00"), "{text}");
    assert!(
        text.contains("VTI: wanted -27, planned -12 (tax budget)"),
        "{text}"
    );
    // BND was sold at a loss on 2025-06-15: no buy back within 30 days.
    assert!(
        text.contains("BND: wanted 7, planned 0 (wash sale"),
        "{text}"
    );
    assert!(text.contains("Strategy tax-aware"), "{text}");
    assert!(text.contains("not tax advice"), "{text}");
}

#[test]
fn a_harvest_is_its_own_sale_in_the_json_with_lots_per_position() {
    let out = plan(&[
        "--lots",
        &ex("lots.xml"),
        "--lot-method",
        "HIFO",
        "--harvest",
        "--harvest-min-loss",
        "100",
        "--alternate",
        "VTI=ITOT",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["strategy"], "tax-aware");
    let tax = &v["tax"];
    for key in [
        "realized_short_term",
        "realized_long_term",
        "budget",
        "budget_left",
    ] {
        assert!(tax.get(key).is_some(), "tax.{key} missing");
    }
    assert_eq!(tax["budget"], Value::Null);
    assert_eq!(num(&tax["harvests"][0]["loss"]), 500.0);
    assert_eq!(tax["harvests"][0]["alternate_shares"], 33);
    let sales = tax["sales"].as_array().unwrap();
    assert_eq!(sales[0]["kind"], "harvest");
    assert!(
        sales.iter().all(|s| s["symbol"] != "ITOT"),
        "the alternate is never sold in the run that bought it: {sales:?}"
    );
    let vti = v["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "VTI")
        .unwrap();
    assert_eq!(vti["lots"].as_array().unwrap().len(), 3);
    let itot = v["trades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["symbol"] == "ITOT")
        .unwrap();
    assert_eq!(itot["side"], "BUY");
}

#[test]
fn missing_lots_and_mismatched_lots_are_clear_errors() {
    let out = plan(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs --lots"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let lots = dir.path().join("lots.csv");
    std::fs::write(
        &lots,
        "Symbol,Quantity,CostBasisPrice,OpenDateTime,LevelOfDetail\nVTI,49,60,20230110,LOT\nBND,40,52,20240629,LOT\n",
    )
    .unwrap();
    let out = plan(&["--lots", lots.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VTI: the lots add up to 49 shares but the position is 50"),
        "{err}"
    );
    std::fs::write(
        &lots,
        "Symbol,Quantity,CostBasisPrice,OpenDateTime\nVTI,x,60,20230110\n",
    )
    .unwrap();
    let out = plan(&["--lots", lots.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lots.csv:2: column Quantity: \"x\" is not a number"),
        "{err}"
    );
}

/// `--group US=VTI,ITOT --exposure-cap US=0.5`: equal targets give the group 2/3; the cap
/// holds it to 1/2 of 7,000, so 15 VTI are sold (the oldest lot first: +40 a share, LT) and
/// BND is bought to the other half.
#[test]
fn an_exposure_cap_holds_the_group_to_its_cap() {
    let out = plan(&[
        "--lots",
        &ex("lots.xml"),
        "--group",
        "US=VTI,ITOT",
        "--exposure-cap",
        "US=0.5",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let trades: Vec<(String, String, f64)> = v["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["symbol"].as_str().unwrap().to_string(),
                t["side"].as_str().unwrap().to_string(),
                num(&t["shares"]),
            )
        })
        .collect();
    assert_eq!(
        trades,
        vec![
            ("BND".to_string(), "BUY".to_string(), 30.0),
            ("VTI".to_string(), "SELL".to_string(), 15.0)
        ]
    );
    assert_eq!(num(&v["tax"]["realized_long_term"]), 600.0);
    let bad = plan(&["--lots", &ex("lots.xml"), "--exposure-cap", "US=0.5"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no exposure group named US"));
}
