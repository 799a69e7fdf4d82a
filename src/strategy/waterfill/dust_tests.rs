//! `fix_dust` must never leave a plan that spends more than its budget (or, for a withdrawal,
//! frees less than asked): a money path fails closed. These cases are the ones the exact
//! correction cannot make: every large trade is a sale of the whole holding (it cannot grow),
//! or adding the dust rounds back in 28 digits.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::super::Asset;
use super::fix_dust;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn asset(value: Decimal) -> Asset<'static> {
    Asset {
        symbol: "X",
        price: Decimal::ONE,
        quantity: value,
        value,
        pnl: Decimal::ZERO,
        weight: Decimal::ONE,
        conid: None,
        currency: None,
    }
}

fn total(x: &[Decimal]) -> Decimal {
    x.iter().sum()
}

/// The checks every result must pass: within the budget, no sale above its holding, and no
/// trade moved by more than the dust it had to absorb plus its own last digit.
fn check(before: &[Decimal], after: &[Decimal], budget: Decimal, assets: &[Asset<'_>]) {
    assert!(total(after) <= budget, "{} > {budget}", total(after));
    let moved = (total(before) - budget).abs();
    for ((b, a), s) in before.iter().zip(after).zip(assets) {
        assert!(
            *a >= -s.value,
            "a sale of {a} exceeds the holding {}",
            s.value
        );
        let ulp = Decimal::new(1, a.scale().max(b.scale()));
        assert!((*a - *b).abs() <= moved + ulp, "{b} moved to {a}");
    }
}

#[test]
fn whole_holding_sales_cannot_absorb_so_a_smaller_trade_does() {
    // Eight sales of whole holdings are the largest trades; the withdrawal frees 1e-13 short.
    let mut assets = vec![asset(d("100")); 8];
    assets.push(asset(d("1000")));
    let mut x = vec![d("-100"); 8];
    x.push(d("-0.5"));
    let budget = d("-800.5000000000001");
    let out = fix_dust(x.clone(), budget, &assets).expect("a smaller sale can free the dust");
    check(&x, &out, budget, &assets);
    assert_eq!(total(&out), budget);
}

#[test]
fn dust_that_rounds_back_is_trimmed_down_to_a_representable_amount() {
    // 28-digit trades: adding 1e-27 to any of them rounds back, so the exact sum is out of
    // reach; the trade is cut by its last digit instead (a hair under the budget is safe).
    let x = vec![
        d("3333333333.333333333333333333"),
        d("3333333333.333333333333333333"),
    ];
    let assets = vec![asset(d("1")), asset(d("1"))];
    let budget = total(&x) - Decimal::new(1, 27);
    let out = fix_dust(x.clone(), budget, &assets).expect("trimming a buy is always possible");
    check(&x, &out, budget, &assets);
}

#[test]
fn over_budget_beyond_dust_is_refused_with_the_numbers() {
    let x = vec![d("10"), d("10.5")];
    let assets = vec![asset(d("1")), asset(d("1"))];
    let err = fix_dust(x, d("20"), &assets).unwrap_err().to_string();
    assert!(err.contains("20.5") && err.contains("20"), "{err}");
}

#[test]
fn under_budget_is_left_alone_when_no_trade_can_take_the_dust() {
    // Spending a hair less than the cash is safe: nothing to refuse.
    let x = vec![d("-100"), d("-100")];
    let assets = vec![asset(d("100")), asset(d("100"))];
    let budget = d("-199.9999999999999");
    let out = fix_dust(x.clone(), budget, &assets).unwrap();
    assert!(total(&out) <= budget);
}

proptest! {
    /// Random trades and a budget off their sum by dust either way: the result never exceeds
    /// the budget, never sells more than is held, and moves trades by no more than the dust.
    #[test]
    fn never_over_budget(
        trades in prop::collection::vec((-10_000_000_000i64..10_000_000_000, 0u32..=18, any::<bool>()), 1..12),
        dust in -10i64..=10,
        dust_scale in 13u32..=28,
    ) {
        let x: Vec<Decimal> = trades.iter().map(|&(m, s, _)| Decimal::new(m, s)).collect();
        // A sale held exactly (the flag) cannot grow; others hold ten times more.
        let assets: Vec<Asset<'_>> = trades
            .iter()
            .zip(&x)
            .map(|(&(_, _, whole), v)| {
                let held = if *v < Decimal::ZERO && whole { -*v } else { v.abs() * Decimal::TEN + Decimal::ONE };
                asset(held)
            })
            .collect();
        let budget = total(&x) + Decimal::new(dust, dust_scale);
        match fix_dust(x.clone(), budget, &assets) {
            Ok(out) => check(&x, &out, budget, &assets),
            // Refused only when no trade could have been cut: every buy smaller than the
            // dust, every sale already the whole holding.
            Err(_) => {
                let dust = (total(&x) - budget).abs();
                for (v, a) in x.iter().zip(&assets) {
                    let ulp = Decimal::new(1, v.scale());
                    prop_assert!(
                        v.is_zero() || (*v > Decimal::ZERO && *v < dust + ulp) || (*v < Decimal::ZERO && *v - dust < -a.value),
                        "refused although {v} (held {}) could take {dust}", a.value
                    );
                }
            }
        }
    }
}
