//! `fix_dust` must never leave a plan that spends more than its budget (or, for a withdrawal,
//! frees less than asked): a money path fails closed. These cases are the ones the exact
//! correction cannot make: every large trade is a sale of the whole holding (it cannot grow),
//! or adding the dust rounds back in 28 digits.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::super::Asset;
use super::{Largest, fix_dust};

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
/// trade moved by more than the dust it had to absorb, the cuts' rounding steps and its own
/// last digit; no trade changes direction.
fn check(before: &[Decimal], after: &[Decimal], budget: Decimal, assets: &[Asset<'_>]) {
    assert!(total(after) <= budget, "{} > {budget}", total(after));
    // The miss, plus the larger cuts' rounding steps: at most ~1e-21 of the amounts.
    let magnitude: Decimal = before.iter().map(|v| v.abs()).sum::<Decimal>() + budget.abs();
    let moved = (total(before) - budget).abs() + magnitude * Decimal::new(2, 21);
    for ((b, a), s) in before.iter().zip(after).zip(assets) {
        assert!(
            *a >= -s.value,
            "a sale of {a} exceeds the holding {}",
            s.value
        );
        let same_way = *a == *b || (*a > Decimal::ZERO) == (*b > Decimal::ZERO);
        assert!(same_way, "{b} turned to {a}");
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

/// A holding as a Flex Query gives it: value and price (the quantity follows).
fn flex(symbol: &str, value: &str, price: &str) -> crate::strategy::Holding {
    let (value, price) = (d(value), d(price));
    let mut h = crate::strategy::Holding::new(symbol, value / price, price);
    h.market_value = Some(value);
    h
}

/// Found by review: cutting a trade by exactly the dust often leaves the *rounded* sum where it
/// was (a partial sum needs 29 digits and drops one), so ordinary exact plans were refused.
/// Eleven equal-weight holdings, a hard exact deposit: it must plan, within the cash.
#[test]
fn an_ordinary_hard_exact_deposit_is_planned_within_the_cash() {
    use crate::strategy::{Granularity, PlanRequest, Strategy, plan};
    let rows = [
        ("S000", "89407.19", "501.69"),
        ("S001", "28396.12", "516.01"),
        ("S002", "8647.78", "128.94"),
        ("S003", "92076.85", "884.96"),
        ("S004", "83634.16", "71.81"),
        ("S005", "86261.59", "938.86"),
        ("S006", "26522.27", "303.19"),
        ("S007", "34925.85", "478.00"),
        ("S008", "24075.51", "170.56"),
        ("S009", "87179.10", "138.60"),
        ("S010", "85811.49", "223.54"),
    ];
    let holdings: Vec<_> = rows.iter().map(|(s, v, p)| flex(s, v, p)).collect();
    for cash in ["71087.18", "71000.00", "71000.37", "71003.51", "71004.99"] {
        let mut req = PlanRequest::new(holdings.clone(), d(cash));
        req.strategy = Strategy::Hard;
        req.granularity = Granularity::Exact;
        let p = plan(&req).unwrap_or_else(|e| panic!("cash {cash}: {e}"));
        assert!(p.cash_used <= d(cash), "cash {cash}: used {}", p.cash_used);
    }
}

/// Found by review: a miss of 6e-24 that the rounded partial sums absorb unless the cut is a
/// digit larger; an easy safe plan exists (cut the largest buy by 1e-22).
#[test]
fn a_cut_the_rounded_sum_swallows_is_made_larger() {
    let x = vec![d("480141.008"), d("312140.6172"), d("-1")];
    let assets = vec![
        asset(d("4801411.08")),
        asset(d("3121406.172")),
        asset(d("1")),
    ];
    let budget = total(&x) + Decimal::new(-6, 24);
    let out = fix_dust(x.clone(), budget, &assets).expect("a larger cut is safe");
    assert!(total(&out) <= budget);
}

/// Found by review: with very large weights the division dust passes 1e-12 dollars (here
/// 1.2e-15 of the amounts); it is still dust relative to the plan, not a reason to refuse.
#[test]
fn dust_is_judged_relative_to_the_amounts() {
    let x = vec![d("40000.000000000001"), d("32309.0000000000002")];
    let assets = vec![asset(d("1")), asset(d("1"))];
    let budget = d("72309");
    let out = fix_dust(x.clone(), budget, &assets).expect("1.2e-15 of a 72,309 plan is dust");
    assert!(total(&out) <= budget);
}

proptest! {
    /// Reading the lazily ordered trades gives the full sort's sequence (largest `|x|` first,
    /// ties by index, zeros left out), however far it is read.
    #[test]
    fn largest_first_reads_as_the_full_sort(
        x in prop::collection::vec(
            prop_oneof![
                Just(Decimal::ZERO),
                (-20i64..20).prop_map(Decimal::from),
                (-2_000_000i64..2_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
            ],
            0..200,
        ),
        read in 0usize..220,
    ) {
        let mut want: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_zero()).collect();
        want.sort_by(|&a, &b| x[b].abs().cmp(&x[a].abs()).then(a.cmp(&b)));
        let mut order = Largest::new(&x);
        let got: Vec<usize> = (0..read).map_while(|k| order.get(k, &x)).collect();
        prop_assert_eq!(&got[..], &want[..read.min(want.len())]);
    }
}
