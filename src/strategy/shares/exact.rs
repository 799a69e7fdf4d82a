//! Exact integer arithmetic for the greedy's per-step cost change.
//!
//! Why: at 10^5 rows the greedy computed one `Item::delta` per asset (ten 96-bit Decimal
//! operations, ~800 instructions). Here each value is held as rust_decimal holds it — mantissa
//! and scale — in an `i128`, and every operation checks that its exact result fits what a
//! Decimal can hold without rounding (|mantissa| < 2^96, scale ≤ 28, and for an addition both
//! operands aligned to the common scale as well). While that holds, the Decimal operation is
//! exact too, so both give the same value; as soon as it does not, the caller takes the Decimal
//! path. Only the *value* is guaranteed (a zero may differ in scale or sign), so the result is
//! used where only comparisons follow: the greedy's step order and the repair's sort.
use rust_decimal::Decimal;

use super::{Cost, Item};
use crate::strategy::mantissa::{LIMIT, POW10_I, mul_bounded};

/// A Decimal value as (mantissa, scale), exact by construction (see the module docs).
#[derive(Clone, Copy)]
struct Fx {
    m: i128,
    s: u32,
}

impl Fx {
    fn of(d: Decimal) -> Fx {
        Fx {
            m: d.mantissa(),
            s: d.scale(),
        }
    }
    fn mul(self, o: Fx) -> Option<Fx> {
        let s = self.s + o.s;
        if s > 28 {
            return None;
        }
        let m = mul_bounded(self.m, o.m)?;
        Some(Fx { m, s })
    }
    fn aligned(self, s: u32) -> Option<i128> {
        if s == self.s {
            return Some(self.m);
        }
        mul_bounded(self.m, POW10_I[(s - self.s) as usize])
    }
    fn add(self, o: Fx) -> Option<Fx> {
        let s = self.s.max(o.s);
        // Both operands are below 2^96, so the sum cannot overflow an i128.
        let m = self.aligned(s)? + o.aligned(s)?;
        (m.unsigned_abs() < LIMIT).then_some(Fx { m, s })
    }
    fn neg(self) -> Fx {
        Fx {
            m: -self.m,
            s: self.s,
        }
    }
    fn sub(self, o: Fx) -> Option<Fx> {
        self.add(o.neg())
    }
    fn abs(self) -> Fx {
        Fx {
            m: self.m.abs(),
            s: self.s,
        }
    }
    fn dec(self) -> Decimal {
        Decimal::from_i128_with_scale(self.m, self.s)
    }
}

/// The value of [`Item::delta`] — `cost(to) − cost(cur)` — when every Decimal operation in it
/// is exact; `None` otherwise (then the Decimal path, which may round or saturate, decides).
pub(super) fn delta(it: &Item, cur: Decimal, to: Decimal) -> Option<Cost> {
    let p = Fx::of(it.price);
    let s = Fx::of(cur).mul(p)?;
    let step = Fx::of(to).sub(Fx::of(cur))?.mul(p)?;
    // `d − s` is both the squared term's `r` and the absolute term's `x`.
    let r = Fx::of(it.d).sub(s)?;
    let prim = step.mul(step.sub(r)?.sub(r)?)?.mul(Fx::of(it.k))?;
    let x = r;
    let ter = x.sub(step)?.abs().sub(x.abs())?;
    Some(Cost(prim.dec(), step.neg().dec(), ter.dec()))
}

/// For the greedy's first steps: whether [`Item::delta`] from `cur` to `to` is below zero
/// (exactly when its primary term is at most zero, the step's spend being positive) and the
/// greedy's key of that primary term — without the other two terms. `None` when an operation is not
/// exact or the spend is not positive.
pub(super) fn primary(it: &Item, cur: Decimal, to: Decimal) -> Option<(bool, i128)> {
    let p = Fx::of(it.price);
    let s = Fx::of(cur).mul(p)?;
    let step = Fx::of(to).sub(Fx::of(cur))?.mul(p)?;
    if step.m <= 0 {
        return None;
    }
    let r = Fx::of(it.d).sub(s)?;
    let prim = step.mul(step.sub(r)?.sub(r)?)?.mul(Fx::of(it.k))?;
    Some((prim.m <= 0, super::greedy::key_of(prim.m, prim.s)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::{Cost, Item};
    use super::{delta, primary};

    /// Decimals of every size the planner meets and beyond: cents, many decimals, 28 digits.
    fn value() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (-10_000_000_000i64..10_000_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
            (-1_000_000_000_000_000i64..1_000_000_000_000_000, 0u32..12)
                .prop_map(|(m, s)| Decimal::new(m, s)),
            (
                -79_228_162_514_264_337_593_543_950_335i128..79_228_162_514_264_337_593_543_950_335,
                0u32..=28
            )
                .prop_map(|(m, s)| Decimal::from_i128_with_scale(m, s)),
            (1i64..1000, 1i64..1000).prop_map(|(a, b)| Decimal::from(a) / Decimal::from(b)),
            Just(Decimal::ZERO),
        ]
    }

    fn price() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (1i64..100_000_000, 0u32..5).prop_map(|(m, s)| Decimal::new(m, s)),
            (1i64..1000, 1i64..1000).prop_map(|(a, b)| Decimal::from(a) / Decimal::from(b)),
        ]
    }

    fn quantity() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (-1_000_000i64..1_000_000).prop_map(Decimal::from),
            (-100_000_000i64..0, 1u32..5).prop_map(|(m, s)| Decimal::new(m, s)),
            (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(Decimal::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// Wherever the integer path answers, it equals the Decimal path in value.
        #[test]
        fn delta_equals_the_decimal_path(
            price in price(), d in value(), k in prop_oneof![Just(Decimal::ONE), price()],
            cur in quantity(), step in 1i64..3,
        ) {
            let it = Item { price, lo: Decimal::MIN, hi: Decimal::MAX, d, k, up_rank: Decimal::ZERO };
            let to = if cur.fract().is_zero() { cur + Decimal::from(step) } else { cur.ceil() };
            // The Decimal path is only called where an exact path answers (it panics on an
            // overflow far outside the planner's range).
            if let Some(got) = delta(&it, cur, to) {
                prop_assert_eq!(got, it.delta(cur, to));
            }
            if let Some((improving, key)) = primary(&it, cur, to) {
                let want = it.delta(cur, to);
                prop_assert_eq!(improving, want < Cost::default());
                prop_assert_eq!(key, super::super::greedy::int_key(want.0));
            }
        }
    }

    /// The planner's usual inputs (cents, few decimals, weight factor 1) take the fast path.
    #[test]
    fn usual_inputs_take_the_integer_path() {
        let it = Item {
            price: Decimal::new(2156, 2),
            lo: Decimal::ZERO,
            hi: Decimal::from(1000),
            d: Decimal::new(12_498_378_446, 5),
            k: Decimal::ONE,
            up_rank: Decimal::ZERO,
        };
        let (cur, to) = (Decimal::from(355), Decimal::from(356));
        assert_eq!(delta(&it, cur, to), Some(it.delta(cur, to)));
        assert!(primary(&it, cur, to).is_some());
    }
}
