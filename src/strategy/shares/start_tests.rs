//! `Item::start` (integer floor and clamp) against its Decimal reference,
//! `clamp(floor_div(x, P))` through Decimal comparisons: the same 16 bytes on random and
//! edge inputs (negative, zero and negative-zero limits, limits at other scales, `Decimal::MAX`,
//! many decimals, huge values, quotients on and next to whole numbers).
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::gen_tests::{limit, price, signed};
use super::{Item, floor_div};

fn x() -> impl Strategy<Value = Decimal> {
    signed(8)
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
    fn start_equals_the_decimal_clamp(x in x(), p in price(), lo in limit(-1, Decimal::MIN), hi in limit(1, Decimal::MAX), mult in -3i128..4) {
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
