//! End-to-end tests of `pbal plan`: the real binary on real files.
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/portfolio.csv")
}

fn pbal() -> Command {
    Command::cargo_bin("pbal").unwrap()
}

fn json(args: &[&str]) -> Value {
    let out = pbal().arg("plan").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn position<'a>(v: &'a Value, sym: &str) -> &'a Value {
    v["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == sym)
        .unwrap()
}

#[test]
fn readme_example_matches_the_original_tool() {
    // `pbal ~/Downloads/positions-custom.csv -i 2 -c 5000` from the original README.
    let ex = example();
    let v = json(&[
        ex.to_str().unwrap(),
        "-i",
        "2",
        "-c",
        "5000",
        "--format",
        "json",
    ]);
    let expect = [
        ("FTEC", "0.00", "0"),
        ("VAW", "0.00", "0"),
        ("VCR", "2800.00", "10"),
        ("VDC", "1500.00", "8"),
        ("VHT", "0.00", "0"),
        ("VIS", "600.00", "3"),
        ("VNQ", "100.00", "1"),
        ("VOX", "0.00", "0"),
        ("VPU", "0.00", "0"),
        ("VSMAX", "0.00", "0"),
    ];
    for (sym, value, shares) in expect {
        let p = position(&v, sym);
        assert_eq!(p["trade_value"].to_string(), value, "{sym}");
        assert_eq!(p["trade_shares"].to_string(), shares, "{sym}");
    }
    assert_eq!(v["cash_used"].to_string(), "5000.00");
    assert_eq!(v["granularity"], "increment:2");
    assert_eq!(v["trades"].as_array().unwrap().len(), 4);
}

#[test]
fn json_output_follows_the_documented_schema() {
    let ex = example();
    let v = json(&[ex.to_str().unwrap(), "-c", "5000", "--format", "json"]);
    let num = serde_json::json!({"type": "number"});
    let schema = serde_json::json!({
        "type": "object",
        "required": ["strategy", "granularity", "cash", "cash_used", "cash_left",
                     "total_before", "total_after", "positions", "trades"],
        "properties": {
            "strategy": {"enum": ["never-sell", "hard"]},
            "granularity": {"type": "string"},
            "cash": num, "cash_used": num, "cash_left": num,
            "total_before": num, "total_after": num,
            "positions": {"type": "array", "items": {
                "type": "object",
                "required": ["symbol", "price", "value_before", "target_weight", "trade_value",
                             "trade_shares", "value_after", "weight_before", "weight_after"],
                "properties": {"symbol": {"type": "string"}, "price": num,
                    "value_before": num, "target_weight": num, "trade_value": num,
                    "trade_shares": num, "value_after": num, "weight_before": num,
                    "weight_after": num}
            }},
            "trades": {"type": "array", "items": {
                "type": "object",
                "required": ["symbol", "side", "shares", "value"],
                "properties": {"side": {"enum": ["BUY", "SELL"]}, "shares": num, "value": num}
            }}
        }
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&v), "{v}");
    assert_eq!(v["strategy"], "never-sell");
    assert_eq!(v["granularity"], "shares");
    // Whole shares: every trade is an integer number of shares, and nothing exceeds the cash.
    for t in v["trades"].as_array().unwrap() {
        assert!(t["shares"].as_f64().unwrap().fract() == 0.0, "{t}");
        assert_eq!(t["side"], "BUY");
    }
    assert_eq!(v["cash_used"].to_string(), "4995.84");
    assert_eq!(v["cash_left"].to_string(), "4.16");
}

#[test]
fn original_strategy_names_are_accepted() {
    let ex = example();
    let ex = ex.to_str().unwrap();
    let a = json(&[ex, "-s", "try_avoid_sell", "-c", "1000", "--format", "json"]);
    assert_eq!(a["strategy"], "never-sell");
    let b = json(&[ex, "-s", "hard_rebalance", "--format", "json"]);
    assert_eq!(b["strategy"], "hard");
    // A hard rebalance with no cash sells the winners and buys the laggards.
    let sides: Vec<&str> = b["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["side"].as_str().unwrap())
        .collect();
    assert!(
        sides.contains(&"BUY") && sides.contains(&"SELL"),
        "{sides:?}"
    );
    assert!(b["cash_used"].as_f64().unwrap() <= 0.0);
}

#[test]
fn table_output_shows_every_symbol_and_the_cash_footer() {
    let out = pbal()
        .args(["plan", example().to_str().unwrap(), "-c", "5000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sym in [
        "FTEC", "VAW", "VCR", "VDC", "VHT", "VIS", "VNQ", "VOX", "VPU", "VSMAX",
    ] {
        assert!(text.lines().any(|l| l.starts_with(sym)), "{sym}\n{text}");
    }
    assert!(
        text.contains("Cash requested 5000.00, used 4995.84, left 4.16"),
        "{text}"
    );
}

#[test]
fn withdrawal_with_a_negative_cash_flag_sells_only() {
    let ex = example();
    let v = json(&[ex.to_str().unwrap(), "-c", "-3000", "--format", "json"]);
    let trades = v["trades"].as_array().unwrap();
    assert!(!trades.is_empty());
    assert!(trades.iter().all(|t| t["side"] == "SELL"));
    assert!(v["cash_used"].as_f64().unwrap() <= -3000.0);
}

#[test]
fn exact_granularity_and_targets_file() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("t.csv");
    std::fs::write(&targets, "symbol,weight\nVCR,1\nVDC,1\n").unwrap();
    let ex = example();
    let v = json(&[
        ex.to_str().unwrap(),
        "-c",
        "1000",
        "--granularity",
        "exact",
        "--targets",
        targets.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(v["granularity"], "exact");
    assert_eq!(v["cash_used"].to_string(), "1000.00");
    assert_eq!(position(&v, "VCR")["trade_value"].to_string(), "1000.00");
    assert_eq!(position(&v, "FTEC")["target_weight"].to_string(), "0.0000");
}

/// Runs `pbal plan` on `content` and returns (exit code, stderr).
fn failing(content: &[u8], extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, content).unwrap();
    let out = pbal().arg("plan").arg(&path).args(extra).output().unwrap();
    let err = String::from_utf8(out.stderr)
        .unwrap()
        .replace(path.to_str().unwrap(), "bad.csv");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn csv_errors_are_one_message_naming_file_line_and_column() {
    let head = "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\n";
    let cases = [
        (
            format!("{head}\"A\",\"100\",\"10\",\"0\"\n\"A\",\"5\",\"1\",\"0\"\n"),
            "bad.csv:3: column Symbol: duplicate symbol A",
        ),
        (
            format!("{head}\"A\",\"100\",\"0\",\"0\"\n"),
            "bad.csv:2: column MarkPrice: price must be positive",
        ),
        (
            format!("{head}\"A\",\"100\",\"-3\",\"0\"\n"),
            "bad.csv:2: column MarkPrice: price must be positive",
        ),
        (
            format!("{head}\"A\",\"\",\"3\",\"0\"\n"),
            "bad.csv:2: column PositionValue: empty value",
        ),
        (
            format!("{head}\"A\",\"1x\",\"3\",\"0\"\n"),
            "bad.csv:2: column PositionValue: \"1x\" is not a number",
        ),
        (
            "\"Symbol\",\"MarkPrice\"\n\"A\",\"3\"\n".to_string(),
            "bad.csv:1: missing column(s) PositionValue",
        ),
    ];
    for (content, want) in cases {
        let (code, err) = failing(content.as_bytes(), &[]);
        assert_ne!(code, 0, "{content}");
        assert_eq!(err.lines().count(), 1, "one message: {err}");
        assert!(err.contains(want), "got {err:?}, want {want:?}");
    }
}

/// A missing or unreadable file is one line naming the file and the reason, once: the reason
/// is both in the CSV error's message and its source, and the error chain printed it twice.
#[test]
fn an_unreadable_csv_names_the_file_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.csv");
    let out = pbal().arg("plan").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!(
        "error: {}: cannot read: No such file or directory (os error 2)\n",
        path.display()
    );
    assert_eq!(err, want);
}

#[test]
fn flex_quirks_are_accepted() {
    // BOM, CRLF, unquoted values with spaces, extra columns, any column order.
    let content = b"\xEF\xBB\xBFMarkPrice,Extra,Symbol,PositionValue,FifoPnlUnrealized\r\n 10.0 ,x,FOO, 50000.0 ,-1000\r\n5,y,BAR,100000,1000\r\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.csv");
    std::fs::write(&path, content).unwrap();
    let v = json(&[path.to_str().unwrap(), "-c", "50000", "--format", "json"]);
    assert_eq!(position(&v, "FOO")["trade_value"].to_string(), "50000.00");
    assert_eq!(position(&v, "BAR")["trade_value"].to_string(), "0.00");
}

#[test]
fn bad_flags_fail_clearly() {
    let ex = example();
    let ex = ex.to_str().unwrap();
    let out = pbal()
        .args(["plan", ex, "-i", "2", "--granularity", "exact"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = pbal().args(["plan", ex, "-i", "7"]).output().unwrap();
    assert!(!out.status.success());
    let out = pbal().args(["plan", ex, "-c", "NaN"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number"));
    let out = pbal().args(["plan", ex, "-s", "yolo"]).output().unwrap();
    assert!(!out.status.success());
    let (code, err) = failing(b"Symbol,PositionValue,MarkPrice\nA,1,2\n", &["-c", "-5"]);
    assert_ne!(code, 0);
    assert!(err.contains("exceeds the portfolio value"), "{err}");
}

#[test]
fn empty_portfolio_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    std::fs::write(&path, "Symbol,PositionValue,MarkPrice,FifoPnlUnrealized\n").unwrap();
    let v = json(&[path.to_str().unwrap(), "-c", "100", "--format", "json"]);
    assert!(v["positions"].as_array().unwrap().is_empty());
    assert_eq!(v["cash_left"].to_string(), "100.00");
}

#[test]
fn whole_shares_never_print_a_fractional_sell() {
    // FOO holds 8.5 shares: whole shares can raise at most 80 + 100 = 180.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    std::fs::write(&csv, "symbol,quantity,price\nBAR,10,10\nFOO,8.5,10\n").unwrap();
    let f = csv.to_str().unwrap();
    let out = pbal()
        .args(["plan", f, "-c", "-183", "--format", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most 180") && err.contains("183"), "{err}");
    assert!(err.contains("--granularity exact"), "{err}");

    let v = json(&[
        f,
        "-c",
        "-183",
        "--sell-fractional-remainders",
        "--format",
        "json",
    ]);
    assert_eq!(position(&v, "FOO")["trade_shares"].to_string(), "-8.5");
    assert!(v["notes"][0].as_str().unwrap().contains("FOO"));

    let v = json(&[f, "-c", "-150", "-s", "hard", "--format", "json"]);
    for p in v["positions"].as_array().unwrap() {
        let n = p["trade_shares"].as_f64().unwrap();
        assert_eq!(n.fract(), 0.0, "{p}");
    }
}

#[test]
fn band_flags_skip_a_portfolio_inside_its_bands() {
    let ex = example();
    let f = ex.to_str().unwrap();
    let v = json(&[f, "-s", "hard", "--band-abs-pct", "50", "--format", "json"]);
    assert_eq!(v["trades"].as_array().unwrap().len(), 0);
    assert!(v["notes"][0].as_str().unwrap().contains("within its band"));
    let v = json(&[
        f,
        "-s",
        "hard",
        "--band-abs-pct",
        "2",
        "--band-mode",
        "to-band",
        "--format",
        "json",
    ]);
    assert!(!v["trades"].as_array().unwrap().is_empty());
    assert!(v["notes"][0].as_str().unwrap().contains("band edges"));
}

#[test]
fn min_trades_keeps_every_weight_within_its_band() {
    let ex = example();
    let f = ex.to_str().unwrap();
    let v = json(&[
        f,
        "-s",
        "min-trades",
        "--band-abs-pct",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(v["strategy"], "min-trades");
    // Weights against V + c (cash 0 here: the value before), as the bands are defined.
    let total = v["total_before"].as_f64().unwrap();
    for p in v["positions"].as_array().unwrap() {
        let w = p["value_after"].as_f64().unwrap() / total;
        let t = p["target_weight"].as_f64().unwrap();
        assert!((w - t).abs() <= 0.03 + 1e-6, "{p}");
    }
    let out = pbal()
        .args(["plan", f, "-s", "min-trades", "--format", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("band"));
}

/// Issue 12 item 6: `--max-margin-pct` borrows within P % of `--net-liq` and shows the loan and
/// the cushion; a cushion below `--min-cushion-pct` is refused with the numbers.
#[test]
fn margin_budget_borrows_within_the_limit_and_refuses_a_thin_cushion() {
    let ex = example();
    let ex = ex.to_str().unwrap();
    // The example holds 112,900.48 and no cash: net liquidation 112,900.48, limit 20 % =
    // 22,580.10, excess liquidity (Reg T) 112,900.48 − 25 % = 84,675.36.
    let base = [ex, "--max-margin-pct", "20", "--net-liq", "112900.48"];
    let v = json(&[&base[..], &["--format", "json"]].concat());
    let m = &v["margin"];
    let loan: f64 = m["loan_new"].as_f64().unwrap();
    assert!(loan > 22_000.0 && loan <= 22_580.10, "{m}");
    assert_eq!(m["loan_limit"].to_string(), "22580.10");
    assert_eq!(m["excess_liquidity_before"].to_string(), "84675.36");
    assert_eq!(
        v["cash_used"], m["loan_new"],
        "no own cash: every dollar is borrowed"
    );
    let cushion: f64 = m["cushion_pct_after"].as_f64().unwrap();
    assert!((49.0..51.0).contains(&cushion), "{m}");

    let table = pbal().arg("plan").args(base).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("Margin loan ") && text.contains("cushion"),
        "{text}"
    );

    let out = pbal()
        .arg("plan")
        .args(base)
        .args(["--min-cushion-pct", "60"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("margin cushion") && err.contains("84675.36") && err.contains("60%"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "a refused plan prints no trades");

    let out = pbal()
        .arg("plan")
        .args([ex, "--max-margin-pct", "20"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--max-margin-pct without --net-liq");
}
