//! `|m| / 10^k` rounded half away from zero for 96-bit mantissas, from an `f64` estimate that
//! integer comparisons then correct.
//!
//! Why: a weight has 28 decimals, so its mantissa is above 2^64 and printing it (cents of a
//! percentage: `k = 24`) needs a 96-bit division. Long division in base 10^9 costs ~75
//! instructions; at three weights a row (twice, for the widths and for the text) that was a
//! fifth of the table. Here it is a conversion, a multiplication and one or two 128-bit
//! comparisons.
//!
//! Why it is exact: the result is the integer `q` with `q·10^k ≤ m + 10^k/2 < (q+1)·10^k`
//! (that is rounding half away from zero of `m / 10^k`), established by integer comparisons
//! that move `q` until both hold. The estimate only chooses where to start; its error bound
//! ([`round_pow10`]) only says that they move it at most one step.

use crate::strategy::mantissa::POW10;

/// 2^34 · 10^-k in `f64`: 10^-k correctly rounded (the compiler rounds each literal), times a
/// power of two (exact).
const SCALE: [f64; 29] = {
    const INV: [f64; 29] = [
        1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
        1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22, 1e-23, 1e-24, 1e-25, 1e-26,
        1e-27, 1e-28,
    ];
    let mut t = [0.0; 29];
    let mut k = 0;
    while k < 29 {
        t[k] = INV[k] * (1u64 << 34) as f64;
        k += 1;
    }
    t
};

/// 10^k / 2.
const HALF: [u128; 29] = {
    let mut t = [0u128; 29];
    let mut k = 1;
    while k < 29 {
        t[k] = POW10[k] / 2;
        k += 1;
    }
    t
};

/// 2^52: an `f64` in [2^52, 2^53) has the unit as its last mantissa bit.
const MAGIC: f64 = 4_503_599_627_370_496.0;

/// Quotients up to this bound are estimated; larger ones take the long division.
const LIMIT: f64 = (1u64 << 48) as f64;

/// The smallest `k` estimated: below it, the 34 bits the estimate drops could be worth a
/// unit of the quotient.
pub(super) const MIN_K: usize = 11;

/// `m / 10^k` rounded half away from zero, for `m < 2^96` and `MIN_K ≤ k ≤ 28`; `None` when
/// the quotient may be 2^48 or more.
///
/// Error bound: with `m = x·2^34 + t` (`t < 2^34`), the estimate is `x·2^34/10^k · (1 + δ)`:
/// converting `x < 2^63`, the constant and the product each round by at most 2^-53, so
/// `|δ| < 2^-51`, which below 2^48 is less than 1/8; and `t/10^k < 0.18`. So the estimate is
/// within 0.31 of `m / 10^k`, its nearest integer within 0.81, and the answer (within 1/2 of
/// `m / 10^k`) differs from that integer by at most one: each correction loop runs at most
/// once, and `q·10^k ≤ n + 10^k < 2^98` never overflows.
#[inline(always)]
pub(super) fn round_pow10(m: u128, k: usize) -> Option<u64> {
    // Below half a unit the answer is 0: the weights of a plan of 10^5 positions (about
    // 10^-5 each) nearly all print as 0.00 %.
    if m < HALF[k] {
        return Some(0);
    }
    let p = POW10[k];
    let est = ((m >> 34) as i64 as f64) * SCALE[k];
    // Never NaN: a finite integer times a finite constant.
    if est >= LIMIT {
        return None;
    }
    // 0 ≤ est < 2^48: adding 2^52 leaves the integer nearest to it in the low bits of the
    // mantissa (cheaper than a saturating cast). Rounding `m / 10^k`'s estimate to nearest
    // usually is the answer itself: the loops below then only check it.
    let mut q = (est + MAGIC).to_bits() - MAGIC.to_bits();
    let n = m + HALF[k];
    let mut prod = u128::from(q) * p;
    while prod > n {
        q -= 1;
        prod -= p;
    }
    while n - prod >= p {
        q += 1;
        prod += p;
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX96: u128 = (1 << 96) - 1;

    /// Rounding half away from zero in `u128` arithmetic.
    fn reference(m: u128, k: usize) -> u128 {
        let p = POW10[k];
        m / p + u128::from(m % p >= p / 2)
    }

    /// Near multiples and midpoints of 10^k, anywhere below 2^96 and near the 2^48 bound.
    fn case() -> impl Strategy<Value = (u128, usize)> {
        (MIN_K..=28).prop_flat_map(|k| {
            let p = POW10[k];
            prop_oneof![
                (0u128..=MAX96).prop_map(move |m| (m, k)),
                (0u128..=(MAX96 / p), -2i64..=2, any::<bool>()).prop_map(move |(q, d, half)| {
                    let m = q * p + if half { p / 2 } else { 0 };
                    (m.saturating_add_signed(i128::from(d)).min(MAX96), k)
                }),
                ((1u64 << 47)..(1 << 49), -2i64..=2).prop_map(move |(q, d)| {
                    let m = u128::from(q).saturating_mul(p).min(MAX96);
                    (m.saturating_add_signed(i128::from(d)).min(MAX96), k)
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Equal to `u128` rounding whenever it answers, and it answers for every quotient
        /// below 2^47.
        #[test]
        fn estimate_matches_division((m, k) in case()) {
            let want = reference(m, k);
            match round_pow10(m, k) {
                Some(q) => prop_assert_eq!(u128::from(q), want, "{} {}", m, k),
                None => prop_assert!(want >= 1 << 47, "{} {}", m, k),
            }
        }
    }

    #[test]
    fn edges() {
        for (k, &p) in POW10.iter().enumerate().skip(MIN_K) {
            for m in [0, 1, p / 2 - 1, p / 2, p - 1, p, p + p / 2, MAX96] {
                if let Some(q) = round_pow10(m, k) {
                    assert_eq!(u128::from(q), reference(m, k), "{m} {k}");
                } else {
                    assert!(reference(m, k) >= 1 << 47, "{m} {k}");
                }
            }
        }
        assert_eq!(round_pow10(MAX96, 24), Some(79_228));
    }
}
