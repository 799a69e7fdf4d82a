//! Fixed-point text for plan figures, computed on a `Decimal`'s integer mantissa and scale.
//!
//! Why: a plan of 10^5 rows has ~10^6 figures to round and print. Through
//! `Decimal::round_dp_with_strategy`, `normalize` and a digit-by-digit loop they cost more
//! than planning itself (an exact plan's weights carry 28 decimals, a 96-bit mantissa that
//! `rust_decimal` divides limb by limb, ten at a time).
//!
//! Why it is exact: every figure is `m · 10^-s` with `m < 2^96`, `s ≤ 28`. Rounding to `dp`
//! decimals half away from zero (`RoundingStrategy::MidpointAwayFromZero`, what the reports
//! have always used) is `q = ⌊|m| / 10^(s-dp)⌋`, plus one when the remainder is at least half
//! the divisor, with the sign of `m`; that is integer arithmetic on the mantissa, done here in
//! `u64`, in two `u64` halves of base 10^18, or from an `f64` estimate of a small quotient
//! that integer comparisons then correct ([`estimate`]) — never an `f64` result. A figure that could leave those
//! bounds (a mantissa that would not fit 96 bits after scaling, a normal form of a mantissa
//! above 2^64) goes through the `Decimal` path it replaced, kept in [`slow`] and compared
//! against the fast one by property tests.
use rust_decimal::Decimal;

mod estimate;
pub(super) mod fig;
pub(super) mod normal_width;
mod thresholds;
pub(super) mod width;

/// 10^k for k = 0..=19 (all that fit `u64`).
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `(v / 10^k, v % 10^k)` for `k ≤ 19`, each power a constant: the compiler turns a division by
/// a constant into a multiplication, where a division by a variable is a slow `div`. Inlined so
/// that a constant `k` at the call site (cents: 2) needs no jump.
#[inline(always)]
fn div_rem_pow10(v: u64, k: usize) -> (u64, u64) {
    macro_rules! by_constant {
        ($($k:literal)*) => {
            match k {
                $($k => (v / POW10[$k], v % POW10[$k]),)*
                _ => (v / POW10[k], v % POW10[k]),
            }
        };
    }
    by_constant!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19)
}

/// "00", "01", …, "99": two digits per division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `|v|`'s mantissa, its scale and its sign.
///
/// The scale (at most 28, a `Decimal` invariant) is taken as its low five bits, which leaves
/// it unchanged and costs nothing (the byte is masked either way), but tells the compiler it
/// is below [`SCALES`]: tables indexed by a scale have that many entries and need no bounds
/// check per figure.
#[inline(always)]
pub(super) fn parts(v: Decimal) -> (u128, u32, bool) {
    (
        v.mantissa().unsigned_abs(),
        v.scale() & (SCALES as u32 - 1),
        v.is_sign_negative(),
    )
}

/// Entries of a table indexed by a scale ([`parts`]).
const SCALES: usize = 32;

/// `(⌊m / 10^9⌋, m mod 10^9)` by long division over 32-bit limbs: three `u64` divisions by a
/// constant (multiplications), where `u128 / u128` is a library call.
fn div_rem_1e9(m: u128) -> (u128, u64) {
    const D: u64 = 1_000_000_000;
    let hi = (m >> 64) as u64;
    let mid = u64::from((m >> 32) as u32);
    let lo = u64::from(m as u32);
    let (q2, r) = (hi / D, hi % D);
    let cur = (r << 32) | mid;
    let (q1, r) = (cur / D, cur % D);
    let cur = (r << 32) | lo;
    let (q0, r) = (cur / D, cur % D);
    (
        (u128::from(q2) << 64) | (u128::from(q1) << 32) | u128::from(q0),
        r,
    )
}

/// `m = h · 10^18 + l` with `l < 10^18`; `m < 2^96` keeps `h < 2^37`.
fn split_1e18(m: u128) -> (u64, u64) {
    let (a, r0) = div_rem_1e9(m);
    let (h, r1) = div_rem_1e9(a);
    (h as u64, r1 * 1_000_000_000 + r0)
}

/// [`div_round`], with the estimate for 11 or more decimals inlined (a weight's 28 decimals
/// shown as cents of a percentage: 24), where it is a handful of instructions.
#[inline(always)]
fn div_round_inline(m: u128, k: u32) -> u128 {
    if k as usize >= estimate::MIN_K
        && let Some(q) = estimate::round_pow10(m, k as usize)
    {
        return u128::from(q);
    }
    div_round(m, k)
}

/// `|m| / 10^k` rounded half away from zero (`m < 2^96`, `k ≤ 28`).
fn div_round(m: u128, k: u32) -> u128 {
    if k == 0 {
        return m;
    }
    let k = k as usize;
    if let Ok(m) = u64::try_from(m) {
        if k > 19 {
            return 0; // m < 2^64 < 10^20 / 2
        }
        let (q, r) = div_rem_pow10(m, k);
        return u128::from(q + u64::from(r >= POW10[k] / 2));
    }
    if k >= estimate::MIN_K
        && let Some(q) = estimate::round_pow10(m, k)
    {
        return u128::from(q);
    }
    let (h, l) = split_1e18(m);
    if k <= 18 {
        let (q, r) = div_rem_pow10(l, k);
        u128::from(h) * u128::from(POW10[18 - k]) + u128::from(q + u64::from(r >= POW10[k] / 2))
    } else {
        // The remainder is (h mod p)·10^18 + l with l < 10^18: at least half of 10^k exactly
        // when h mod p is at least half of p.
        let (q, r) = div_rem_pow10(h, k - 18);
        u128::from(q + u64::from(r >= POW10[k - 18] / 2))
    }
}

/// Writes `v` (`v < 10^width`) as exactly `width` digits ending before `buf[end]`; `buf` is
/// pre-filled with `'0'`, so leading zeros are already there.
fn digits(buf: &mut [u8], end: usize, mut v: u64) -> usize {
    let mut i = end;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    i
}

/// Writes `± q · 10^-s` with `dp ≥ s` decimals (zero-padded): a minus sign only when `q ≠ 0`,
/// at least one digit before the point, no point when `dp = 0`. `q < 2^96`, `dp ≤ 28`.
fn put(o: &mut Vec<u8>, neg: bool, q: u128, s: u32, dp: u32) {
    match u64::try_from(q) {
        Ok(q) if dp <= 19 => put64(o, neg && q != 0, q, s as usize, dp as usize),
        _ => {
            let mut buf = [b'0'; 64];
            let mut start = put_wide(&mut buf, q, s as usize, dp as usize);
            if neg && q != 0 {
                start -= 1;
                buf[start] = b'-';
            }
            o.extend_from_slice(&buf[start..]);
        }
    }
}

/// [`put`] for `q < 2^64`, `dp ≤ 19`: the text (at most 41 bytes) is written in place into a
/// fixed 48-byte window appended to `o`, then cut to length — a constant-size copy the compiler
/// inlines, where a copy of the exact length is a `memcpy` call per figure.
#[inline(always)]
fn put64(o: &mut Vec<u8>, neg: bool, q: u64, s: usize, dp: usize) {
    let (int, frac) = div_rem_pow10(q, s);
    let int_len = int.checked_ilog10().map_or(1, |l| l as usize + 1);
    let point = usize::from(neg) + int_len;
    let len = point + if dp > 0 { dp + 1 } else { 0 };
    let at = o.len();
    o.extend_from_slice(&[b'0'; 48]);
    let w = &mut o[at..at + 48];
    if neg {
        w[0] = b'-';
    }
    if dp > 0 {
        // The fraction's digits, then zeros up to dp (already there); with s = 0 the one
        // '0' written lands where the point goes.
        digits(w, point + 1 + s, frac);
        w[point] = b'.';
    }
    digits(w, point, int);
    o.truncate(at + len);
}

/// [`put`] for mantissas above `u64` or scales above 19: all digits first, then the point.
fn put_wide(buf: &mut [u8; 64], q: u128, s: usize, dp: usize) -> usize {
    let n = buf.len();
    let end = n - (dp - s);
    let mut start = match u64::try_from(q) {
        Ok(q) => digits(buf, end, q),
        Err(_) => {
            let (h, l) = split_1e18(q);
            digits(buf, end, l);
            digits(buf, end - 18, h)
        }
    };
    if dp > 0 {
        let point = n - dp;
        start = start.min(point - 1);
        buf.copy_within(start..point, start - 1);
        start -= 1;
        buf[point - 1] = b'.';
    }
    start
}

/// `v` rounded half away from zero to exactly `dp` decimals (`dp ≤ 19`), e.g. cents as
/// `8000.00`; fewer decimals are padded with zeros.
pub(super) fn fixed_dp(o: &mut Vec<u8>, v: Decimal, dp: u32) {
    let (m, s, neg) = parts(v);
    if s <= dp {
        put(o, neg, m, s, dp);
    } else {
        put(o, neg, div_round(m, s - dp), dp, dp);
    }
}

/// Cents as the JSON `trades` have always shown them: `round_dp(2)` then `rescale(2)`. Equal
/// to [`fixed_dp`] unless padding to cents would overflow 96 bits (then `rescale` decides).
pub(super) fn money(o: &mut Vec<u8>, v: Decimal) {
    let (m, s, _) = parts(v);
    if s < 2 && m >= (1u128 << 96) / 100 {
        slow::fixed(o, slow::money(v));
    } else {
        fixed_dp(o, v, 2);
    }
}

/// `v` in its normal form (no trailing zeros), as `Decimal::normalize` then `Display` give.
pub(super) fn normalized(o: &mut Vec<u8>, v: Decimal) {
    let (m, s, neg) = parts(v);
    match u64::try_from(m) {
        Ok(m) => {
            let (q, s) = strip_zeros(m, s);
            put(o, neg, u128::from(q), s, s);
        }
        Err(_) => slow::fixed(o, v.normalize()),
    }
}

/// Trailing zeros off `m · 10^-s` (zero has scale 0).
fn strip_zeros(mut m: u64, mut s: u32) -> (u64, u32) {
    if m == 0 {
        return (0, 0);
    }
    while s > 0 && m.is_multiple_of(10) {
        m /= 10;
        s -= 1;
    }
    (m, s)
}

/// Share counts: whole numbers as they are, fractions to at most six decimals in normal form.
pub(super) fn shares(o: &mut Vec<u8>, v: Decimal) {
    let (m, s, neg) = parts(v);
    if s == 0 {
        return put(o, neg, m, 0, 0);
    }
    let (q, s) = if s > 6 {
        (div_round(m, s - 6), 6)
    } else {
        (m, s)
    };
    match u64::try_from(q) {
        Ok(q) => {
            let (q, s) = strip_zeros(q, s);
            put(o, neg, u128::from(q), s, s);
        }
        Err(_) => slow::fixed(o, slow::shares(v)),
    }
}

/// A weight as a percentage with two decimals, without the `%` (`0.125` → `12.50`): the
/// weight times 100 rounded to cents. Exact in integers while the product fits 96 bits, as it
/// does in `Decimal` (the mantissa times 100, same scale); otherwise the `Decimal` path.
pub(super) fn pct(o: &mut Vec<u8>, v: Decimal) {
    let (m, s, neg) = parts(v);
    if m >= (1u128 << 96) / 100 {
        let r = slow::round(v * Decimal::ONE_HUNDRED, 2);
        return slow::fixed_dp(o, r, 2);
    }
    // m·100·10^-s in cents is m·10^(4-s).
    if s <= 4 {
        put(o, neg, m * u128::from(POW10[(4 - s) as usize]), 2, 2);
    } else {
        put(o, neg, div_round(m, s - 4), 2, 2);
    }
}

/// The `Decimal` path the integer one replaced: the fallback for out-of-range figures and the
/// reference the property tests compare against.
pub(super) mod slow {
    use rust_decimal::{Decimal, RoundingStrategy};

    pub(in crate::report) fn round(v: Decimal, dp: u32) -> Decimal {
        v.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
    }

    /// Cents, always with two decimals (`8000.00`).
    pub(in crate::report) fn money(v: Decimal) -> Decimal {
        let mut r = round(v, 2);
        r.rescale(2);
        r
    }

    pub(in crate::report) fn shares(v: Decimal) -> Decimal {
        if v.scale() == 0 {
            v
        } else {
            round(v, 6).normalize()
        }
    }

    /// `v` as fixed-point text from its mantissa and scale.
    pub(in crate::report) fn fixed(o: &mut Vec<u8>, v: Decimal) {
        let scale = v.scale() as usize;
        write_digits(o, v.mantissa(), scale, scale);
    }

    /// `v` rounded (half away from zero) to exactly `dp` decimals.
    pub(in crate::report) fn fixed_dp(o: &mut Vec<u8>, v: Decimal, dp: u32) {
        let r = if v.scale() <= dp { v } else { round(v, dp) };
        write_digits(o, r.mantissa(), r.scale() as usize, dp as usize);
    }

    /// Writes `mantissa · 10^-scale` with `dp ≥ scale` decimals (zero-padded).
    fn write_digits(o: &mut Vec<u8>, mantissa: i128, scale: usize, dp: usize) {
        let mut buf = [0u8; 96];
        let mut i = buf.len();
        let pad = dp - scale;
        for _ in 0..pad {
            i -= 1;
            buf[i] = b'0';
        }
        let mut digits = pad;
        let mut m = mantissa.unsigned_abs();
        while m > 0 || digits <= dp {
            if digits == dp && dp > 0 {
                i -= 1;
                buf[i] = b'.';
            }
            i -= 1;
            buf[i] = b'0' + (m % 10) as u8;
            m /= 10;
            digits += 1;
        }
        if mantissa < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        o.extend_from_slice(&buf[i..]);
    }
}

#[cfg(test)]
#[path = "fixed_tests.rs"]
mod tests;
