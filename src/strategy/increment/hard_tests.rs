//! The integer rows of `hard -i N` against the `Decimal` row ([`super::super::hard_row`]),
//! all 16 bytes of both results.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::Rows;
use crate::strategy::Asset;
use crate::strategy::increment::hard_row;

fn dec(m: i128, s: u32) -> Decimal {
    Decimal::from_i128_with_scale(m, s)
}

fn asset(value: Decimal, price: Decimal, quantity: Decimal) -> Asset<'static> {
    Asset {
        symbol: "X",
        price,
        quantity,
        value,
        pnl: Decimal::ZERO,
        weight: Decimal::ONE,
        conid: None,
        currency: None,
    }
}

/// Steps and prices where roundings land on midpoints (`x/p = n/2` for a step of 4 and a
/// price of 8), and everyday ones.
fn step() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(dec(1, 0)),
        Just(dec(4, 0)),
        Just(dec(10, 0)),
        Just(dec(1000, 0)),
        Just(dec(5, 1)),
        Just(dec(25, 2)),
        (1i128..100_000, 0u32..4).prop_map(|(m, s)| dec(m, s)),
    ]
}

fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(dec(8, 0)),
        Just(dec(8, 1)),
        Just(dec(25, 1)),
        (1i128..10_000_000, 0u32..5).prop_map(|(m, s)| dec(m, s)),
        (1i128..(1i128 << 80), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

/// (value, price, quantity, target): mostly a target some steps from the value (on a
/// midpoint or a hair off it), the quantity the value implies; unrelated ones too.
fn row() -> impl Strategy<Value = (Decimal, Decimal, Decimal, Decimal, Decimal)> {
    let near = (
        (0i128..100_000_000, 0u32..4).prop_map(|(m, s)| dec(m, s)),
        price(),
        step(),
        -2_000i128..2_000,
        prop_oneof![Just(0i128), Just(5), Just(1), Just(-1)],
        0u32..=20,
        any::<bool>(),
    )
        .prop_map(|(value, price, step, k, frac, frac_scale, whole)| {
            let q = value.checked_div(price).unwrap_or_default();
            let quantity = if whole { q.floor() } else { q };
            // `k` steps away, plus half a step (a midpoint) or a hair either side of it.
            let half = if frac == 5 {
                step / Decimal::TWO
            } else {
                dec(frac, frac_scale)
            };
            let target = step
                .checked_mul(Decimal::from(k))
                .and_then(|d| value.checked_add(d))
                .and_then(|t| t.checked_add(half))
                .unwrap_or(value);
            (value, price, quantity, target, step)
        });
    let any_dec = || {
        prop_oneof![
            (-1_000_000_000i128..1_000_000_000, 0u32..6).prop_map(|(m, s)| dec(m, s)),
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| dec(i128::from(m), s)),
            Just(Decimal::ZERO),
            Just(-Decimal::ZERO),
        ]
    };
    // Selling (nearly) everything: a target within a step of zero, a whole quantity written
    // with decimals (`10.00`), so a sale of exactly the value or the quantity differs from
    // `n·step` or `k` in its bits.
    let all = (
        1i128..1_000,
        0u32..3,
        (1i128..100_000, 0u32..3).prop_map(|(m, s)| dec(m, s)),
        prop_oneof![
            Just(dec(1, 0)),
            Just(dec(25, 2)),
            Just(dec(10, 0)),
            Just(dec(5, 0))
        ],
        0i128..1_000,
        prop_oneof![Just(0i128), Just(0), 1i128..3],
    )
        .prop_map(|(q, qs, price, step, t, more)| {
            let quantity = dec(q * 10i128.pow(qs), qs);
            let value = quantity * price;
            // Sometimes more held than the value says (a value from another source), so a
            // sale of exactly the value is not also one of exactly the holding.
            let quantity = quantity + Decimal::from(more);
            let target = (step * dec(t, 3)).round_dp(2);
            (value, price, quantity, target, step)
        });
    prop_oneof![
        4 => near,
        2 => all,
        1 => (any_dec(), price(), any_dec(), any_dec(), step()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]

    /// Every row taken on integers is the reference's row, bit for bit.
    #[test]
    fn an_integer_row_is_the_reference_row((value, price, quantity, target, step) in row()) {
        let a = asset(value, price, quantity);
        // The reference panics where `Decimal` overflows; such rows say nothing here.
        prop_assume!(std::panic::catch_unwind(|| hard_row(&a, target, step)).is_ok());
        if let Some((x, n)) = Rows::new(step).row(&a, target) {
            let (wx, wn) = hard_row(&a, target, step);
            prop_assert_eq!(
                (x.serialize(), n.serialize()),
                (wx.serialize(), wn.serialize()),
                "value {} price {} quantity {} target {} step {}: {} {} vs {} {}",
                value, price, quantity, target, step, x, n, wx, wn
            );
        }
    }
}

/// Everyday rows take the integer path (else it would silently do nothing), buying and
/// selling, and equal the reference; the memo serves a second row of the same target.
#[test]
fn everyday_rows_are_planned_on_integers() {
    let step = Decimal::from(1000);
    let target: Decimal = "127462.723456789".parse().unwrap();
    let mut rows = Rows::new(step);
    for (v, p) in [
        ("7093.24", "21.56"),
        ("276237.67", "320.09"),
        ("127000.00", "17.33"),
    ] {
        let (v, p): (Decimal, Decimal) = (v.parse().unwrap(), p.parse().unwrap());
        let a = asset(v, p, v / p);
        let got = rows.row(&a, target).expect("the integer path");
        let want = hard_row(&a, target, step);
        assert_eq!(
            (got.0.serialize(), got.1.serialize()),
            (want.0.serialize(), want.1.serialize()),
            "{v} at {p}"
        );
    }
}
