//! Exact integer shortcuts for the planner's per-row Decimal operations.
//!
//! Why: at 10^5 rows the planner's time went mostly to 96-bit `Decimal` division and
//! rounding (`round_dp_with_strategy`, `div_impl`), once or twice per row. Each function here
//! computes the same result on `i128` mantissas and returns `None` whenever it cannot prove
//! the answer identical (too many digits, overflow, unusual scale); the caller then takes the
//! Decimal path. "Identical" includes the scale and the sign of zero, which show in the plan's
//! JSON: the property tests below compare the 16-byte representations, not just the values.
use rust_decimal::{Decimal, RoundingStrategy};

use super::mantissa::{POW10, POW10_I};

/// `10^k` for `k ≤ 38`: a table lookup for the scales a Decimal has (`k ≤ 28`, every call
/// here), since `checked_pow` on `i128` is a loop of overflow-checked multiplications
/// (~200 instructions, once or twice per row at 10^5 rows).
#[inline]
fn pow10(k: u32) -> Option<i128> {
    match POW10_I.get(k as usize) {
        Some(&p) => Some(p),
        None => 10i128.checked_pow(k),
    }
}

/// Whether `|v| > limit` for a non-negative `limit`, comparing the mantissa first: a value whose
/// mantissa is at most `limit` is at most `limit` (its scale only divides), so the common case
/// needs no rescaling comparison.
pub(crate) fn abs_exceeds(v: Decimal, limit: Decimal) -> bool {
    let m = v.mantissa().unsigned_abs();
    if limit.scale() == 0 && m <= limit.mantissa().unsigned_abs() {
        return false;
    }
    v.abs() > limit
}

/// `(num / den).round_dp_with_strategy(0, MidpointNearestEven)` for `den > 0`, exactly.
///
/// Decimal division rounds the quotient to 28–29 significant digits before the rounding to
/// an integer, so the two agree unless that first rounding crosses a midpoint `k + ½`. The
/// shortcut is taken only when it cannot:
/// - `den` is `10^j` with `scale(num) + j ≤ 28`: the quotient is exactly representable, so
///   the division does not round at all; or
/// - `|num′| + den′ < 10^26` (`q = num′ / den′` on integers): the division scales its
///   quotient until the mantissa passes ~7.9·10^26 (or the scale reaches 28), so it keeps
///   `10^t > 7.9·10^26 / (|q| + 1) > den′` fractional units and errs by at most `½·10^−t`,
///   less than `1 / (2·den′)`, the smallest distance from `q` to a midpoint it is not on; a
///   quotient exactly on a midpoint is exact in the division too.
///
/// The result is an integer at scale 0 with a positive zero, as the Decimal path returns.
pub(crate) fn round_half_even_div(num: Decimal, den: Decimal) -> Option<Decimal> {
    if num.is_zero() || den.is_sign_negative() || den.is_zero() {
        return None;
    }
    let (mn, sn) = (num.mantissa(), num.scale());
    let (md, sd) = (den.mantissa(), den.scale());
    // q = mn·10^sd / (md·10^sn)
    let pow_den = md.checked_mul(pow10(sn)?)?;
    let pow_num = mn.checked_mul(pow10(sd)?)?;
    let exact = is_pow10(md) && sn + ilog10(md) <= 28 && sd == 0;
    if !exact && pow_num.unsigned_abs().checked_add(pow_den.unsigned_abs())? >= 10u128.pow(26) {
        return None;
    }
    let q = pow_num.div_euclid(pow_den);
    let r = pow_num.rem_euclid(pow_den); // 0 ≤ r < den: q is the floor
    let twice = r.checked_mul(2)?;
    let up = twice > pow_den || (twice == pow_den && q & 1 == 1);
    let n = if up { q + 1 } else { q };
    Some(Decimal::from_i128_with_scale(n, 0))
}

fn is_pow10(m: i128) -> bool {
    m > 0 && pow10(ilog10(m)) == Some(m)
}

fn ilog10(m: i128) -> u32 {
    if m <= 0 { 0 } else { m.ilog10() }
}

/// `x.round_dp_with_strategy(dp, ToNegativeInfinity)` on the mantissa: a floor division by
/// `10^(scale − dp)`. `None` for zero (the Decimal path keeps the sign of a zero) and when
/// the scale is already at most `dp` (nothing to do there either).
/// Inlined: called once per row, and a call costs as much as the division itself.
#[inline]
pub(crate) fn floor_dp(x: Decimal, dp: u32) -> Option<Decimal> {
    let s = x.scale();
    if s <= dp || x.is_zero() {
        return None;
    }
    let q = x.mantissa().div_euclid(pow10(s - dp)?);
    Some(Decimal::from_i128_with_scale(q, dp))
}

/// `⌊x / p⌋` for `p > 0` at scale 0, exactly on integers: `⌊mx·10^sp / (mp·10^sx)⌋`.
/// `None` when a product does not fit in `i128`, or when `|q| ≥ 10^15`: beyond that the
/// float estimate of `shares::floor_div_estimate` (the reference) gives up and floors a
/// rounded Decimal quotient, which this must match.
pub(crate) fn floor_div(x: Decimal, p: Decimal) -> Option<Decimal> {
    floor_div_int(x, p).map(|q| Decimal::from_i128_with_scale(q, 0))
}

/// The integer of [`floor_div`] (`|q| < 999,999,999,999,999`), with a 64-bit division where
/// both operands fit (the 128-bit one is a library call of ~100 instructions): the
/// whole-share start takes it per asset and clamps it on integers.
#[inline]
pub(crate) fn floor_div_int(x: Decimal, p: Decimal) -> Option<i128> {
    if p.is_sign_negative() || p.is_zero() {
        return None;
    }
    let (mx, mp) = (x.mantissa(), p.mantissa());
    let q = match (scaled_i64(mx, p.scale()), scaled_i64(mp, x.scale())) {
        // `den > 0`, so `div_euclid` is the floor and cannot overflow.
        (Some(a), Some(b)) => i128::from(a.div_euclid(b)),
        _ => {
            let num = mx.checked_mul(pow10(p.scale())?)?;
            let den = mp.checked_mul(pow10(x.scale())?)?;
            num.div_euclid(den)
        }
    };
    if q.unsigned_abs() >= 999_999_999_999_999 {
        return None;
    }
    Some(q)
}

/// `m · 10^s` if it is below 2^63 in magnitude, from one 64×64-bit product (which cannot
/// overflow 128 bits): the usual operands of [`floor_div_int`], without the overflow-checked
/// 128-bit multiplications of its general path.
#[inline]
fn scaled_i64(m: i128, s: u32) -> Option<i64> {
    let a = u64::try_from(m.unsigned_abs()).ok()?;
    let p = u64::try_from(*POW10.get(s as usize)?).ok()?;
    let v = i64::try_from(u128::from(a) * u128::from(p)).ok()?;
    Some(if m < 0 { -v } else { v })
}

/// `num′ / den′` on integers for `x / p` with `p > 0`, when the Decimal quotient of `x / p`
/// cannot round across an integer: the guard of [`round_half_even_div`] (`|num′| + den′ <
/// 10^26`) bounds the division's error by `1 / (2·den′)`, while a quotient that is not an
/// integer lies at least `1 / den′` from every integer (and an integer quotient is exact).
fn integer_ratio(x: Decimal, p: Decimal) -> Option<(i128, i128)> {
    if p.is_sign_negative() || p.is_zero() {
        return None;
    }
    let num = x.mantissa().checked_mul(pow10(p.scale())?)?;
    let den = p.mantissa().checked_mul(pow10(x.scale())?)?;
    if num.unsigned_abs().checked_add(den.unsigned_abs())? >= 10u128.pow(26) {
        return None;
    }
    Some((num, den))
}

/// `(x / p).floor()` for `p > 0`, bit for bit, without the 96-bit division (see
/// [`integer_ratio`] for why the floors agree). The whole-share bounds take it per asset.
pub(crate) fn quotient_floor(x: Decimal, p: Decimal) -> Option<Decimal> {
    let (num, den) = integer_ratio(x, p)?;
    Some(Decimal::from_i128_with_scale(num.div_euclid(den), 0))
}

/// The integer of [`quotient_floor`], with a 64-bit division where both operands fit (the
/// 128-bit one is a library call of ~100 instructions).
/// Inlined: the root proofs take it once per asset (it became a call when the integer minimum
/// of `shares/intmin.rs` took it too).
#[inline(always)]
pub(crate) fn quotient_floor_int(x: Decimal, p: Decimal) -> Option<i128> {
    let (num, den) = integer_ratio(x, p)?;
    if let (Ok(a), Ok(b)) = (i64::try_from(num), i64::try_from(den)) {
        // `den > 0`, so `div_euclid` is the floor and cannot overflow.
        return Some(i128::from(a.div_euclid(b)));
    }
    Some(num.div_euclid(den))
}

/// `(x / p).ceil()` for `p > 0`, bit for bit (see [`quotient_floor`]). `None` where the Decimal
/// path yields a negative zero (a quotient in (−1, 0)), which an integer cannot carry.
pub(crate) fn quotient_ceil(x: Decimal, p: Decimal) -> Option<Decimal> {
    let (num, den) = integer_ratio(x, p)?;
    let q = -(-num).div_euclid(den);
    if q == 0 && num < 0 {
        return None;
    }
    Some(Decimal::from_i128_with_scale(q, 0))
}

/// `⌊v⌋` as an integer: the mantissa floor-divided by `10^scale` (any Decimal fits an `i128`),
/// the same as `v.floor().to_i128()` without building the intermediate Decimal. Used as an
/// integer prefix of Decimal orderings, so most comparisons in sorts and heaps are integer ones.
pub(crate) fn floor_i128(v: Decimal) -> i128 {
    let (m, s) = (v.mantissa(), v.scale());
    if s == 0 {
        return m;
    }
    // Usual magnitudes (< 2^64, scale ≤ 19) take a 64-bit division, several times cheaper
    // than the 128-bit one.
    let abs = m.unsigned_abs();
    if let (Ok(a), Some(p)) = (u64::try_from(abs), 10u64.checked_pow(s)) {
        let (q, r) = (a / p, a % p);
        let q = i128::from(q);
        return if m >= 0 {
            q
        } else if r == 0 {
            -q
        } else {
            -q - 1
        };
    }
    m.div_euclid(10i128.pow(s))
}

/// Remembers one result per exact representation of a key (scale included), for per-row
/// quantities that depend only on an asset's weight: with equal weights every row shares one.
pub(crate) struct Memo {
    last: Option<([u8; 16], Decimal)>,
}

impl Memo {
    pub(crate) fn new() -> Self {
        Memo { last: None }
    }
    pub(crate) fn get(&mut self, key: Decimal, f: impl FnOnce(Decimal) -> Decimal) -> Decimal {
        let k = key.serialize();
        if let Some((lk, v)) = self.last
            && lk == k
        {
            return v;
        }
        let v = f(key);
        self.last = Some((k, v));
        v
    }
}

/// The Decimal reference of [`round_half_even_div`].
#[cfg(test)]
pub(crate) fn round_half_even_div_ref(num: Decimal, den: Decimal) -> Decimal {
    (num / den).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
}

/// The Decimal reference of [`floor_dp`].
pub(crate) fn floor_dp_ref(x: Decimal, dp: u32) -> Decimal {
    x.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Same value, scale and sign (the 16-byte representation).
    fn same(a: Decimal, b: Decimal) -> bool {
        a.serialize() == b.serialize()
    }

    /// Decimals from small to 28 digits, any scale, both signs, with round and midpoint-ish
    /// mantissas over-represented.
    fn decimal() -> impl Strategy<Value = Decimal> {
        (
            prop_oneof![
                -1_000_000i128..1_000_000,
                -10_000_000_000_000_000i128..10_000_000_000_000_000,
                -79_228_162_514_264_337_593_543_950_335i128..79_228_162_514_264_337_593_543_950_335,
                (0u32..28, -9i128..10).prop_map(|(k, d)| 10i128.pow(k) * 5 + d),
                (0u32..28).prop_map(|k| -(10i128.pow(k) * 5)),
            ],
            0u32..=28,
        )
            .prop_map(|(m, s)| Decimal::from_i128_with_scale(m, s))
    }

    fn positive() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (1i128..1_000_000_000, 0u32..8).prop_map(|(m, s)| Decimal::from_i128_with_scale(m, s)),
            (0u32..5).prop_map(|k| Decimal::from(10i64.pow(k))),
            decimal().prop_filter_map("positive", |d| (d > Decimal::ZERO).then_some(d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn round_half_even_div_equals_decimal(num in decimal(), den in positive()) {
            // The reference itself may overflow (a tiny divisor): then there is nothing to match.
            if let Some(q) = num.checked_div(den) {
                let want = q.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
                if let Some(got) = round_half_even_div(num, den) {
                    prop_assert!(same(got, want), "{num} / {den}: {got} vs {want}");
                    prop_assert!(same(want, round_half_even_div_ref(num, den)));
                }
            }
        }

        #[test]
        fn floor_dp_equals_decimal(x in decimal(), dp in 0u32..12) {
            if let Some(got) = floor_dp(x, dp) {
                let want = floor_dp_ref(x, dp);
                prop_assert!(same(got, want), "{x} at {dp}: {got} vs {want}");
            }
        }

        #[test]
        fn floor_div_equals_estimate(x in decimal(), p in positive()) {
            // The reference may overflow on a tiny divisor, and in its exact walk (`n·p` for n
            // within a few units of the quotient) near the top of the range: it is only called
            // where neither happens.
            if let Some(got) = floor_div(x, p)
                && (got.abs() + Decimal::from(9)).checked_mul(p).is_some()
            {
                let want = crate::strategy::shares::floor_div_estimate(x, p);
                prop_assert!(same(got, want), "{x} / {p}: {got} vs {want}");
            }
        }

        #[test]
        fn quotient_floor_and_ceil_equal_decimal(x in decimal(), p in positive()) {
            if let Some(q) = x.checked_div(p) {
                if let Some(got) = quotient_floor(x, p) {
                    prop_assert!(same(got, q.floor()), "{x} / {p}: {got} vs {}", q.floor());
                }
                if let Some(got) = quotient_ceil(x, p) {
                    prop_assert!(same(got, q.ceil()), "{x} / {p}: {got} vs {}", q.ceil());
                }
            }
        }

        #[test]
        fn floor_i128_equals_decimal_floor(v in decimal()) {
            use rust_decimal::prelude::ToPrimitive;
            prop_assert_eq!(Some(floor_i128(v)), v.floor().to_i128());
        }

        #[test]
        fn abs_exceeds_equals_compare(v in decimal(), l in 0i64..2_000_000_000_000_000) {
            let limit = Decimal::from(l);
            prop_assert_eq!(abs_exceeds(v, limit), v.abs() > limit);
        }
    }

    #[test]
    fn edge_cases_match() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        for (n, p) in [
            ("2.5", "1"),
            ("3.5", "1"),
            ("-2.5", "1"),
            ("-0.4", "1"),
            ("0.5", "1"),
            ("-0.5", "1"),
            ("1500", "1000"),
            ("2500", "1000"),
            ("-2500", "1000"),
            ("7093.24", "21.56"),
            ("250123.4567890123456789012345", "1000"),
            ("0.5000000000000000000000000001", "1"),
            ("279.68", "279.68"),
            ("-559.36", "279.68"),
        ] {
            let (n, p) = (d(n), d(p));
            if let Some(got) = round_half_even_div(n, p) {
                assert!(same(got, round_half_even_div_ref(n, p)), "{n}/{p}");
            }
            if let Some(got) = quotient_floor(n, p) {
                assert!(same(got, (n / p).floor()), "{n}/{p}");
            }
            if let Some(got) = quotient_ceil(n, p) {
                assert!(same(got, (n / p).ceil()), "{n}/{p}");
            }
        }
        // A quotient in (−1, 0) ceils to a negative zero: left to the Decimal path.
        assert_eq!(quotient_ceil(d("-0.3"), d("7")), None);
        assert!(same(quotient_floor(d("-0.3"), d("7")).unwrap(), d("-1")));
        assert!(same(
            quotient_ceil(d("0"), d("7")).unwrap(),
            (d("0") / d("7")).ceil()
        ));
        assert!(same(
            quotient_ceil(d("7093.25"), d("21.56")).unwrap(),
            d("330")
        ));
        assert!(round_half_even_div(d("2.5"), d("1")).is_some());
        assert!(same(
            floor_dp(d("-0.00000000001"), 10).unwrap(),
            d("-0.0000000001")
        ));
        assert_eq!(floor_dp(d("0.000000000000"), 10), None);
        assert!(same(floor_div(d("-0.01"), d("279.68")).unwrap(), d("-1")));
        assert!(same(floor_div(d("0"), d("3")).unwrap(), d("0")));
    }
}
