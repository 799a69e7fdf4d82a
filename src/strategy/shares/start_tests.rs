//! `Item::start` (integer floor and clamp) against its Decimal reference,
//! `clamp(floor_div(x, P))` through Decimal comparisons: the same 16 bytes on random and
//! edge inputs (negative, zero and negative-zero limits, limits at other scales, `Decimal::MAX`,
//! many decimals, huge values, quotients on and next to whole numbers).
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::{Item, floor_div};

fn dec(m: i128, s: u32) -> Decimal {
    Decimal::from_i128_with_scale(m, s)
}

/// A limit: zero of either sign, a whole number at scale 0 or at another scale, a fraction,
/// or `Decimal::MAX`.
fn limit(sign: i128) -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(-Decimal::ZERO),
        (0i128..2_000).prop_map(move |m| dec(sign * m, 0)),
        (0i128..2_000, 1u32..4).prop_map(move |(m, s)| dec(sign * m * 10i128.pow(s), s)),
        (0i128..2_000_000, 1u32..4).prop_map(move |(m, s)| dec(sign * m, s)),
        Just(if sign > 0 { Decimal::MAX } else { Decimal::MIN }),
    ]
}

fn x() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (-1_000_000_000i128..1_000_000_000, 0u32..8).prop_map(|(m, s)| dec(m, s)),
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| dec(i128::from(m), s)),
        (-(1i128 << 95)..(1i128 << 95), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (1i128..1_000_000, 0u32..5).prop_map(|(m, s)| dec(m, s)),
        (1i128..(1i128 << 90), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

fn item(price: Decimal, lo: Decimal, hi: Decimal) -> Item {
    Item {
        price,
        lo,
        hi,
        d: Decimal::ZERO,
        k: Decimal::ONE,
        up_rank: Decimal::ZERO,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn start_equals_the_decimal_clamp(x in x(), p in price(), lo in limit(-1), hi in limit(1), mult in -3i128..4) {
        let it = item(p, lo, hi);
        // Also quotients exactly on a whole number, and just either side of it.
        let on = p.checked_mul(Decimal::from(mult)).unwrap_or(x);
        let tiny = Decimal::new(1, 8);
        for x in [x, on, on.checked_sub(tiny).unwrap_or(x), on.checked_add(tiny).unwrap_or(x)] {
            // Where the reference itself overflows (a quotient beyond 96 bits, or its exact
            // walk `n·P` near the top of the range), there is nothing to match.
            let Some(q) = x.checked_div(p) else { continue };
            if (q.floor().abs() + Decimal::from(9)).checked_mul(p).is_none() {
                continue;
            }
            let want = if x.is_zero() { it.clamp(Decimal::ZERO) } else { it.clamp(floor_div(x, p)) };
            let got = it.start(x);
            prop_assert_eq!(got.serialize(), want.serialize(), "{} / {} in [{}, {}]: {} vs {}", x, p, lo, hi, got, want);
        }
    }
}
