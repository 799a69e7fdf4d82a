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

/// 2^96: the first mantissa `Decimal` cannot hold. Every integer fast path checks its results
/// against this one bound: below it, the `Decimal` operation is exact too.
pub(crate) const LIMIT: u128 = 1 << 96;

/// `10^k` for every scale a `Decimal` has (`k ≤ 28`): one table for every integer fast path
/// (`checked_pow` loops).
pub(crate) const POW10: [u128; 29] = {
    let mut t = [1u128; 29];
    let mut k = 1;
    while k < 29 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// [`POW10`] as signed integers, for the fast paths that work on signed mantissas.
pub(crate) const POW10_I: [i128; 29] = {
    let mut t = [0i128; 29];
    let mut k = 0;
    while k < 29 {
        t[k] = POW10[k] as i128;
        k += 1;
    }
    t
};

/// `a · b` if both factors are below 2^64 and the product below 2^96, so that the product is a
/// `Decimal` mantissa; `None` otherwise (the caller then takes the `Decimal` path). The 2^64
/// bound keeps it to one 64×64→128-bit multiplication.
#[inline]
pub(crate) fn mul_bounded(a: i128, b: i128) -> Option<i128> {
    let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
    if (x | y) >> 64 != 0 {
        return None;
    }
    let p = x * y;
    if p >= LIMIT {
        return None;
    }
    let p = p as i128;
    Some(if (a < 0) != (b < 0) { -p } else { p })
}

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
///
/// Terms of different scales are aligned as `Decimal`'s `+` aligns them when both operands
/// are below 2^64 (its 32- and 64-bit paths): the one of smaller scale is multiplied by
/// `10^d` (`d ≤ 19`) and the exact result, if below 2^96, is kept at the larger scale. A zero
/// term leaves the sum as it is, and a sum that is zero (at the start, or after cancelling)
/// becomes the next non-zero term itself, as `Decimal` returns the other operand of a zero.
/// Only a zero total (whose scale and sign depend on the order of events) and operands
/// beyond those bounds go through `Decimal` itself.
pub(crate) fn sum(values: impl Iterator<Item = Decimal> + Clone) -> Decimal {
    let mut total: i128 = 0;
    let mut scale = 0;
    for v in values.clone() {
        if v.is_zero() {
            continue;
        }
        let m = v.mantissa();
        if v.scale() == scale && total != 0 {
            // One scale: exact while below 2^96 (both terms are, so `i128` cannot overflow).
            total += m;
            if total.unsigned_abs() >= LIMIT {
                return values.sum();
            }
        } else if total == 0 {
            (total, scale) = (m, v.scale());
        } else {
            match add_aligned(total, scale, m, v.scale()) {
                Some((t, s)) => (total, scale) = (t, s),
                None => return values.sum(),
            }
        }
    }
    if total == 0 {
        return values.sum();
    }
    parts(total.unsigned_abs(), total < 0, scale)
}

/// `(a, sa) + (b, sb)` for non-zero mantissas below 2^64, aligned to the larger scale, when
/// the scales differ by at most 19 and the exact result is below 2^96 (`Decimal`'s 64-bit
/// path); `None` otherwise.
#[cold]
fn add_aligned(a: i128, sa: u32, b: i128, sb: u32) -> Option<(i128, u32)> {
    const WORD: u128 = 1 << 64;
    if a.unsigned_abs() >= WORD || b.unsigned_abs() >= WORD {
        return None;
    }
    let d = sa.abs_diff(sb);
    if d > 19 {
        return None;
    }
    let p = 10i128.pow(d);
    // Below 2^64 · 10^19, which is below 2^128 but not always below i128::MAX.
    let (a, b, s) = if sa >= sb {
        (a, b.checked_mul(p)?, sa)
    } else {
        (a.checked_mul(p)?, b, sb)
    };
    let t = a + b;
    (t.unsigned_abs() < LIMIT).then_some((t, s))
}

/// `a == b` as `Decimal` compares them (by value: `1.0 == 1`), answered without the call
/// when the two are the same bits, or both non-zero integers (scale 0) of different bits,
/// which then differ in value too.
#[inline]
pub(crate) fn eq(a: Decimal, b: Decimal) -> bool {
    if a.serialize() == b.serialize() {
        return true;
    }
    if a.scale() == 0 && b.scale() == 0 && !a.is_zero() && !b.is_zero() {
        return false;
    }
    a == b
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

        #[test]
        fn eq_matches_decimal(a in decimal(), b in decimal(), same in any::<bool>(), k in 0u32..3) {
            let b = if same { a } else { b };
            prop_assert_eq!(eq(a, b), a == b, "{:?} == {:?}", a, b);
            // The same value at another scale (`1` and `1.00`).
            let mut c = a;
            c.rescale(a.scale() + k);
            prop_assert_eq!(eq(a, c), a == c, "{:?} == {:?}", a, c);
            prop_assert_eq!(eq(c, a), c == a, "{:?} == {:?}", c, a);
            let a1 = Decimal::from_i128_with_scale(a.mantissa() % 1000, 0);
            let b1 = Decimal::from_i128_with_scale(b.mantissa() % 1000, 0);
            prop_assert_eq!(eq(a1, b1), a1 == b1, "{:?} == {:?}", a1, b1);
        }

        /// Mixed scales of both signs, with cancellations to zero on the way.
        #[test]
        fn sum_of_mixed_scales_matches_decimal(
            ts in prop::collection::vec((-1_000_000i64..1_000_000, 0u32..=22, 0u8..4), 0..20),
        ) {
            let mut vs = Vec::new();
            for (m, s, k) in ts {
                let v = Decimal::new(m, s);
                vs.push(v);
                if k == 0 {
                    vs.push(-v); // cancels what came before it partly or wholly
                }
            }
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
