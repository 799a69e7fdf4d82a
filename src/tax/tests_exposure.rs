//! Exposure group caps, on literal weights and holdings.
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::exposure::targets;
use super::*;
use crate::strategy::{Holding, PlanRequest, Side, Strategy, Targets};

fn weights(pairs: &[(&str, Decimal)]) -> Targets {
    Targets::Weights(pairs.iter().map(|(s, w)| (s.to_string(), *w)).collect())
}

fn holdings(pairs: &[(&str, Decimal)]) -> Vec<Holding> {
    pairs
        .iter()
        .map(|(s, q)| Holding::new(*s, *q, dec!(100)))
        .collect()
}

fn group(name: &str, members: &[&str]) -> (String, Vec<String>) {
    (
        name.to_string(),
        members.iter().map(|m| m.to_string()).collect(),
    )
}

fn caps(pairs: &[(&str, Decimal)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(s, c)| (s.to_string(), *c)).collect()
}

fn weight_map(t: Targets) -> BTreeMap<String, Decimal> {
    match t {
        Targets::Weights(m) => m.into_iter().map(|(k, v)| (k, v.round_dp(6))).collect(),
        Targets::Equal => panic!("weights expected"),
    }
}

#[test]
fn a_capped_group_gets_the_cap_and_the_rest_goes_to_the_others_pro_rata() {
    // GOOGLE's targets add up to 0.30; capped at 0.20 and split 3:1 as held (GOOG 30,
    // GOOGL 10 shares); the 0.10 freed goes to VTI and BND in proportion (0.35 each → 0.40).
    let t = weights(&[
        ("GOOG", dec!(0.15)),
        ("GOOGL", dec!(0.15)),
        ("VTI", dec!(0.35)),
        ("BND", dec!(0.35)),
    ]);
    let h = holdings(&[
        ("GOOG", dec!(30)),
        ("GOOGL", dec!(10)),
        ("VTI", dec!(30)),
        ("BND", dec!(30)),
    ]);
    let g = [group("GOOGLE", &["GOOG", "GOOGL"])];
    let w = weight_map(targets(&t, &h, &g, &caps(&[("GOOGLE", dec!(0.20))])).unwrap());
    assert_eq!(w["GOOG"], dec!(0.15));
    assert_eq!(w["GOOGL"], dec!(0.05));
    assert_eq!(w["VTI"], dec!(0.40));
    assert_eq!(w["BND"], dec!(0.40));
    // A cap above the group's target changes nothing.
    let w = weight_map(targets(&t, &h, &g, &caps(&[("GOOGLE", dec!(0.5))])).unwrap());
    assert_eq!(w["GOOG"] + w["GOOGL"], dec!(0.30));
    assert_eq!(w["VTI"], dec!(0.35));
}

#[test]
fn capping_one_group_can_push_another_over_its_cap() {
    // A (0.40) is cut to 0.30; the freed 0.10 lifts B from 0.30 to 0.35, over its 0.32 cap,
    // so B is cut too and C takes the rest: 0.38.
    let t = weights(&[
        ("A1", dec!(0.2)),
        ("A2", dec!(0.2)),
        ("B1", dec!(0.15)),
        ("B2", dec!(0.15)),
        ("C", dec!(0.3)),
    ]);
    let h = holdings(&[
        ("A1", dec!(1)),
        ("A2", dec!(1)),
        ("B1", dec!(1)),
        ("B2", dec!(1)),
        ("C", dec!(1)),
    ]);
    let g = [group("A", &["A1", "A2"]), group("B", &["B1", "B2"])];
    let w =
        weight_map(targets(&t, &h, &g, &caps(&[("A", dec!(0.30)), ("B", dec!(0.32))])).unwrap());
    assert_eq!(w["A1"] + w["A2"], dec!(0.30));
    assert_eq!(w["B1"] + w["B2"], dec!(0.32));
    assert_eq!(w["C"], dec!(0.38));
}

#[test]
fn caps_that_leave_weight_nowhere_to_go_are_an_error() {
    let t = weights(&[("A1", dec!(0.5)), ("A2", dec!(0.5))]);
    let h = holdings(&[("A1", dec!(1)), ("A2", dec!(1))]);
    let g = [group("A", &["A1", "A2"])];
    let e = targets(&t, &h, &g, &caps(&[("A", dec!(0.6))]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exposure cap") && e.contains('A'), "{e}");
    // And a cap on a name that is no group.
    let s = TaxSettings {
        exposure_caps: caps(&[("NOPE", dec!(0.1))]),
        ..TaxSettings::default()
    };
    let e = validate_settings(&s).unwrap_err().to_string();
    assert!(e.contains("NOPE"), "{e}");
}

#[test]
fn a_tax_aware_plan_sells_a_group_down_to_its_cap() {
    let lot = |sym: &str, q: Decimal| Lot {
        symbol: sym.into(),
        conid: None,
        quantity: q,
        cost_basis_price: dec!(100),
        open: chrono::NaiveDate::from_ymd_opt(2020, 1, 2)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
        holding_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 2).unwrap(),
    };
    let mut req = TaxRequest {
        plan: PlanRequest {
            strategy: Strategy::Hard,
            targets: weights(&[
                ("GOOG", dec!(0.15)),
                ("GOOGL", dec!(0.15)),
                ("VTI", dec!(0.35)),
                ("BND", dec!(0.35)),
            ]),
            ..PlanRequest::new(
                holdings(&[
                    ("GOOG", dec!(30)),
                    ("GOOGL", dec!(10)),
                    ("VTI", dec!(30)),
                    ("BND", dec!(30)),
                ]),
                dec!(0),
            )
        },
        lots: vec![
            lot("GOOG", dec!(30)),
            lot("GOOGL", dec!(10)),
            lot("VTI", dec!(30)),
            lot("BND", dec!(30)),
        ],
        trades: vec![],
        as_of: chrono::NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        settings: TaxSettings {
            exposure_groups: BTreeMap::from([group("GOOGLE", &["GOOG", "GOOGL"])]),
            exposure_caps: caps(&[("GOOGLE", dec!(0.20))]),
            ..TaxSettings::default()
        },
    };
    // 10,000 in all; the group holds 4,000 and may hold 2,000: 15 GOOG and 5 GOOGL are sold
    // (the 3:1 split kept), VTI and BND bought to 4,000 each.
    let p = plan(&req).unwrap();
    let t: Vec<(&str, Side, Decimal)> = p
        .plan
        .trades
        .iter()
        .map(|t| (t.symbol.as_str(), t.side, t.shares))
        .collect();
    assert_eq!(
        t,
        vec![
            ("BND", Side::Buy, dec!(10)),
            ("GOOG", Side::Sell, dec!(15)),
            ("GOOGL", Side::Sell, dec!(5)),
            ("VTI", Side::Buy, dec!(10)),
        ]
    );
    let after: Decimal = p
        .plan
        .lines
        .iter()
        .filter(|l| l.symbol.starts_with("GOOG"))
        .map(|l| l.weight_after)
        .sum();
    assert_eq!(after, dec!(0.2));
    // Without the cap the group keeps its combined target of 0.30 (sells 10 of 40 shares).
    req.settings.exposure_caps.clear();
    let p = plan(&req).unwrap();
    let sold: Decimal = p
        .plan
        .trades
        .iter()
        .filter(|t| t.side == Side::Sell)
        .map(|t| t.shares)
        .sum();
    assert_eq!(sold, dec!(10));
}
