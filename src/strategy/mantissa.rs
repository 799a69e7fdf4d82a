//! `Decimal` products and sums on the integer mantissa when `rust_decimal` would compute them
//! exactly, for the per-row figures of a plan (values after, weights, spends, totals).
//!
//! Why: at 10^5 rows a plan made ~5·10^5 calls into `rust_decimal`'s general `mul` and `add`
//! (~100 instructions each: limb buffers, scale alignment, overflow and rounding checks) for
//! figures whose exact result is a single 64×64-bit product or a sum of equal-scale mantissas.
//!
//! Why it is exact: each fast path returns the bits `rust_decimal` returns, and only where its
//! result is provably exact: a product of non-zero mantissas that fits 96 bits at a scale of at
//! most 28 is what `mul` returns (it rescales only beyond either bound, and returns `ZERO` for a
//! zero operand, as here); a sum of non-zero terms of one scale whose magnitudes add up below
//! 2^96 is the exact sum at that scale, which every left-to-right `add` produces (a zero left operand
//! returns the right one unchanged and a zero right one the left, so zeros of any scale change nothing as long as the
//! total is not zero). Anything else — other scales, a zero total, larger magnitudes — goes
//! through `rust_decimal` itself. Property tests compare both on random and edge inputs.
use rust_decimal::Decimal;

/// 2^96: the first mantissa `Decimal` cannot hold.
const LIMIT: u128 = 1 << 96;

/// `a * b`, exactly as `Decimal`'s `*` computes it.
#[inline]
pub(crate) fn mul(a: Decimal, b: Decimal) -> Decimal {
    if a.is_zero() || b.is_zero() {
        return Decimal::ZERO;
    }
    let (ma, mb) = (a.mantissa().unsigned_abs(), b.mantissa().unsigned_abs());
    let scale = a.scale() + b.scale();
    if let (Ok(x), Ok(y)) = (u64::try_from(ma), u64::try_from(mb))
        && scale <= Decimal::MAX_SCALE
    {
        let p = u128::from(x) * u128::from(y);
        if p < LIMIT {
            return parts(p, a.is_sign_negative() != b.is_sign_negative(), scale);
        }
    }
    a * b
}

/// `a + b`, exactly as `Decimal`'s `+` computes it.
#[inline]
pub(crate) fn add(a: Decimal, b: Decimal) -> Decimal {
    if a.is_zero() {
        return b;
    }
    if b.is_zero() {
        return a;
    }
    if a.scale() == b.scale() {
        let (x, y) = (a.mantissa(), b.mantissa());
        // Both below 2^96 in magnitude: the sum fits i128.
        let s = x + y;
        if s != 0 && s.unsigned_abs() < LIMIT {
            return parts(s.unsigned_abs(), s < 0, a.scale());
        }
    }
    a + b
}

/// `Σ values` from `Decimal::ZERO`, left to right, exactly as `Iterator::sum` computes it.
pub(crate) fn sum(values: impl Iterator<Item = Decimal> + Clone) -> Decimal {
    let mut scale = None;
    let mut total: i128 = 0;
    let mut magnitude: u128 = 0;
    for v in values.clone() {
        if v.is_zero() {
            continue;
        }
        if *scale.get_or_insert(v.scale()) != v.scale() {
            return values.sum();
        }
        let m = v.mantissa();
        magnitude += m.unsigned_abs();
        if magnitude >= LIMIT {
            return values.sum();
        }
        total += m;
    }
    match scale {
        Some(s) if total != 0 => parts(total.unsigned_abs(), total < 0, s),
        _ => values.sum(),
    }
}

/// The decimal `±m · 10^-scale` (`0 < m < 2^96`, `scale ≤ 28`).
fn parts(m: u128, negative: bool, scale: u32) -> Decimal {
    Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        (m >> 64) as u32,
        negative,
        scale,
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;

    const MAX96: u128 = LIMIT - 1;

    /// Random decimals: small, 64-bit and 96-bit mantissas, zeros (with their sign), every
    /// scale, with a bias to the scales plans use (0, 2, 28).
    fn decimal() -> impl Strategy<Value = Decimal> {
        let m = prop_oneof![
            Just(0u128),
            0u128..1000,
            0u128..=u128::from(u64::MAX),
            0u128..=MAX96,
            Just(MAX96),
        ];
        let s = prop_oneof![Just(0u32), Just(2), Just(28), 0u32..=28];
        (m, s, any::<bool>()).prop_map(|(m, s, neg)| {
            let mut d = Decimal::from_i128_with_scale(m as i128, s);
            d.set_sign_negative(neg);
            d
        })
    }

    fn bits(d: Decimal) -> [u8; 16] {
        d.serialize()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn mul_matches_decimal(a in decimal(), b in decimal()) {
            if let Some(want) = a.checked_mul(b) {
                prop_assert_eq!(bits(mul(a, b)), bits(want), "{:?} * {:?}", a, b);
            }
        }

        #[test]
        fn add_matches_decimal(a in decimal(), b in decimal()) {
            if let Some(want) = a.checked_add(b) {
                prop_assert_eq!(bits(add(a, b)), bits(want), "{:?} + {:?}", a, b);
            }
        }

        #[test]
        fn sum_matches_decimal(vs in prop::collection::vec(decimal(), 0..12)) {
            let mut want = Some(Decimal::ZERO);
            for v in &vs {
                want = want.and_then(|w| w.checked_add(*v));
            }
            if let Some(want) = want {
                prop_assert_eq!(bits(sum(vs.iter().copied())), bits(want), "{:?}", vs);
            }
        }

        /// Same-scale terms of both signs (the fast path's case), cancellations included.
        #[test]
        fn sum_of_one_scale_matches_decimal(
            ms in prop::collection::vec(-1_000_000i64..1_000_000, 0..20),
            s in 0u32..=28,
        ) {
            let vs: Vec<Decimal> = ms.iter().map(|&m| Decimal::new(m, s)).collect();
            let want: Decimal = vs.iter().copied().sum();
            prop_assert_eq!(bits(sum(vs.iter().copied())), bits(want));
        }
    }

    #[test]
    fn zeros_and_signs_are_kept_as_decimal_keeps_them() {
        let neg_zero = {
            let mut z = dec!(0.000);
            z.set_sign_negative(true);
            z
        };
        let cases = [
            (dec!(1.50), dec!(0.000)),
            (dec!(0.000), dec!(1.50)),
            (neg_zero, dec!(0)),
            (dec!(2.25), dec!(-2.25)),
            (dec!(-2.25), dec!(2.25)),
            (neg_zero, dec!(-3)),
        ];
        for (a, b) in cases {
            assert_eq!(bits(add(a, b)), bits(a + b), "{a:?} + {b:?}");
            assert_eq!(bits(mul(a, b)), bits(a * b), "{a:?} * {b:?}");
            assert_eq!(
                bits(sum([a, b].into_iter())),
                bits([a, b].into_iter().sum())
            );
        }
        assert_eq!(
            bits(sum([neg_zero].into_iter())),
            bits([neg_zero].into_iter().sum())
        );
    }
}
