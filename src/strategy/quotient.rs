//! `Decimal`'s `checked_div` for a divisor whose mantissa fits 32 bits (a price, nearly
//! always), on a `u128` quotient: the shares of an exact-granularity plan, `x / price`.
//!
//! Why: `exact` granularity divides every row's amount (a 28-digit `T − p`) by its price;
//! `rust_decimal` does it limb by limb in `div_impl` + `div_remainder_32` + `unscale`, ~390
//! instructions a row at 10^5 rows (7 % of a hard exact plan).
//!
//! Why it is exact: it is the same algorithm, step for step, on a `u128` instead of three
//! `u32` limbs: the integer quotient and remainder; while a remainder is left (or the scale is
//! negative), the quotient is scaled up by the power of ten `rust_decimal`'s `find_scale`
//! allows (the same thresholds, [`find_scale`]) and the scaled remainder divided in; at the
//! last digit the remainder rounds half to even; a quotient that passes 2^96 is divided by
//! ten with the same rounding ([`unscale_from_overflow`]); then the same partial
//! trailing-zero removal ([`unscale`], which only tries a power when the low bits allow it,
//! so `1.50` may stay `1.50`). Every divisor wider than 32 bits goes to `rust_decimal`
//! itself. A property test compares the 16-byte results on random and edge operands.
use rust_decimal::Decimal;

use super::mantissa::LIMIT;

/// `a.checked_div(b)`, bit for bit.
#[inline]
pub(crate) fn checked_div(a: Decimal, b: Decimal) -> Option<Decimal> {
    let d = b.mantissa().unsigned_abs();
    let Ok(d) = u32::try_from(d) else {
        return a.checked_div(b);
    };
    if d == 0 {
        return None;
    }
    if a.is_zero() {
        return Some(Decimal::ZERO);
    }
    let negative = a.is_sign_negative() != b.is_sign_negative();
    let scale = a.scale() as i32 - b.scale() as i32;
    let (q, rem) = div_rem(a.mantissa().unsigned_abs(), d);
    let (q, scale) = if rem != 0 || scale < 0 {
        remainder_loop(q, rem, d, scale)?
    } else {
        (q, scale)
    };
    Some(Decimal::from_parts(
        q as u32,
        (q >> 32) as u32,
        (q >> 64) as u32,
        negative,
        scale as u32,
    ))
}

/// `m / d` and `m % d` for `m < 2^96`, as two 64-by-32-bit divisions.
fn div_rem(m: u128, d: u32) -> (u128, u32) {
    let d = u64::from(d);
    let high = (m >> 32) as u64;
    let (q1, r1) = (high / d, high % d);
    let low = (r1 << 32) | (m as u64 & 0xffff_ffff);
    let (q0, r0) = (low / d, low % d);
    ((u128::from(q1) << 32) | u128::from(q0), r0 as u32)
}

/// `rust_decimal`'s `div_remainder_32` and the `unscale` after it: more digits while a
/// remainder is left, the last one rounded half to even. `None` on overflow.
fn remainder_loop(mut q: u128, mut rem: u32, d: u32, mut scale: i32) -> Option<(u128, i32)> {
    let mut require_unscale = false;
    loop {
        let power_scale = if rem == 0 {
            if scale >= 0 {
                break;
            }
            9.min(-scale) as u32
        } else {
            require_unscale = true;
            let p = if scale == Decimal::MAX_SCALE as i32 {
                0
            } else {
                find_scale(q, scale)?
            };
            if p == 0 {
                // The last digit: round the remainder half to even (`rem << 1` as a u32).
                let twice = rem.wrapping_shl(1);
                let up = if twice < rem {
                    true
                } else {
                    twice >= d && (twice > d || q & 1 == 1)
                };
                if up {
                    q += 1;
                    if q >= LIMIT {
                        (q, scale) = unscale_from_overflow(q, scale, true)?;
                    }
                }
                break;
            }
            p
        };
        let power = POW10[power_scale as usize];
        scale += power_scale as i32;
        q *= u128::from(power);
        if q >= LIMIT {
            return None;
        }
        let scaled = u64::from(rem) * power;
        let (add, r) = (scaled / u64::from(d), scaled % u64::from(d));
        rem = r as u32;
        q += u128::from(add);
        if q >= LIMIT {
            (q, scale) = unscale_from_overflow(q, scale, rem != 0)?;
            break;
        }
    }
    if require_unscale {
        scale = unscale(&mut q, scale);
    }
    Some((q, scale))
}

/// `(2^96 − 1) / 10^k`: the largest quotient that can take `k` more digits.
const fn room(k: u32) -> u128 {
    (LIMIT - 1) / 10u128.pow(k)
}

/// [`room`] for `k ≤ 9`, as a table: a 128-bit division at run time is a library call.
const ROOM: [u128; 10] = {
    let mut t = [0; 10];
    let mut k = 0;
    while k < 10 {
        t[k] = room(k as u32);
        k += 1;
    }
    t
};

/// `2^32 / 10^k` for `k ≤ 9`: the top-word bound of `k` more digits (`rust_decimal`'s
/// `OVERFLOW_MAX_k_HI`).
const MAX_HI: [u32; 10] = {
    let mut t = [0; 10];
    let mut k = 0;
    while k < 10 {
        t[k] = ((1u64 << 32) / 10u64.pow(k as u32)) as u32;
        k += 1;
    }
    t
};

/// `10^k` for `k ≤ 9`.
const POW10: [u64; 10] = {
    let mut t = [1; 10];
    let mut k = 1;
    while k < 10 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `rust_decimal`'s `Buf12::find_scale`: how many digits (≤ 9) the quotient may take, judged
/// mostly from its top 32 bits; `None` where it reports an overflow.
fn find_scale(q: u128, scale: i32) -> Option<u32> {
    let hi = (q >> 64) as u32;
    let low64 = q as u64;
    let max_hi = |k: usize| MAX_HI[k];
    if hi > max_hi(1) {
        return (scale >= 0).then_some(0);
    }
    let top = |k: u32| {
        let r = ROOM[k as usize];
        ((r >> 64) as u32, r as u64)
    };
    if scale > Decimal::MAX_SCALE as i32 - 9 {
        let x = (Decimal::MAX_SCALE as i32 - scale) as u32;
        if hi < top(x).0 {
            return (x as i32 + scale >= 0).then_some(x);
        }
    } else if hi < max_hi(9) || hi == max_hi(9) && low64 <= top(9).1 {
        return Some(9);
    }
    let mut x = match hi {
        h if h > max_hi(5) && h > max_hi(3) && h > max_hi(2) => 1,
        h if h > max_hi(5) && h > max_hi(3) => 2,
        h if h > max_hi(5) && h > max_hi(4) => 3,
        h if h > max_hi(5) => 4,
        h if h > max_hi(7) && h > max_hi(6) => 5,
        h if h > max_hi(7) => 6,
        h if h > max_hi(8) => 7,
        _ => 8,
    };
    let (top_hi, top_low) = top(x);
    if hi == top_hi && low64 > top_low {
        x -= 1;
    }
    (x as i32 + scale >= 0).then_some(x)
}

/// A quotient `v` in `[2^96, 2^97)` one digit shorter, rounded half to even (`sticky`: digits
/// below were not zero), at one scale less; `None` below scale 0.
fn unscale_from_overflow(v: u128, scale: i32, sticky: bool) -> Option<(u128, i32)> {
    let scale = scale - 1;
    if scale < 0 {
        return None;
    }
    let (q, r) = (v / 10, v % 10);
    let up = r > 5 || (r == 5 && (sticky || q & 1 == 1));
    Some((q + u128::from(up), scale))
}

/// `rust_decimal`'s `unscale`: strips trailing zeros in steps of 8, 4, 2 and 1 digits, each
/// tried only when the low bits make it possible (the 8-digit step only on a zero low word).
fn unscale(q: &mut u128, mut scale: i32) -> i32 {
    // Each division by div_rem: two 64-bit divisions, where `u128` `/` is a library call.
    while *q as u32 == 0 && scale >= 8 {
        match div_rem(*q, 100_000_000) {
            (d, 0) => *q = d,
            _ => break,
        }
        scale -= 8;
    }
    for (k, mask, power) in [(4, 0xf, 10_000), (2, 0x3, 100), (1, 0x1, 10)] {
        if *q as u32 & mask == 0
            && scale >= k
            && let (d, 0) = div_rem(*q, power)
        {
            *q = d;
            scale -= k;
        }
    }
    scale
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX96: u128 = LIMIT - 1;

    /// Dividends of every size (the 28-digit `T − p` of a plan above all) and scale.
    fn dividend() -> impl Strategy<Value = Decimal> {
        let m = prop_oneof![
            Just(0u128),
            1u128..1000,
            0u128..=u128::from(u64::MAX),
            0u128..=MAX96,
            (MAX96 - 1000)..=MAX96,
            Just(MAX96),
        ];
        (m, 0u32..=28, any::<bool>()).prop_map(|(m, s, neg)| {
            let mut d = Decimal::from_i128_with_scale(m as i128, s);
            d.set_sign_negative(neg);
            d
        })
    }

    /// Divisors: prices (cents, 4 decimals), small integers, 32-bit edges, wider ones.
    fn divisor() -> impl Strategy<Value = Decimal> {
        let m = prop_oneof![
            4 => 1u128..100_000,
            2 => 1u128..=u128::from(u32::MAX),
            1 => Just(u128::from(u32::MAX)),
            1 => prop::sample::select(vec![1u128, 2, 3, 7, 10, 1000, 1 << 31]),
            1 => 0u128..=MAX96,
            1 => Just(0u128),
        ];
        (
            m,
            prop_oneof![Just(2u32), Just(0), Just(4), 0u32..=28],
            any::<bool>(),
        )
            .prop_map(|(m, s, neg)| {
                let mut d = Decimal::from_i128_with_scale(m as i128, s);
                d.set_sign_negative(neg);
                d
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        #[test]
        fn checked_div_matches_decimal(a in dividend(), b in divisor()) {
            let want = a.checked_div(b).map(|d| d.serialize());
            prop_assert_eq!(checked_div(a, b).map(|d| d.serialize()), want, "{:?} / {:?}", a, b);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// Quotients of exactly `room(p)` with a remainder: scaled by `10^p` they land just
        /// below 2^96, and adding the remainder's digits overflows
        /// ([`unscale_from_overflow`]); and dividends just below 2^96.
        #[test]
        fn quotients_at_the_96_bit_edge_match_decimal(
            p in 1u32..=8,
            d in 1u64..100_000_000,
            rem in any::<u64>(),
            s in 0u32..=20,
            k in 0u128..100_000,
            edge in any::<bool>(),
        ) {
            let d = (d % 10u64.pow(p)).max(1);
            let m = if edge {
                room(p) * u128::from(d) + u128::from(rem % d)
            } else {
                MAX96 - k
            };
            prop_assume!(m <= MAX96);
            let a = Decimal::from_i128_with_scale(m as i128, s);
            let b = Decimal::new(d as i64, 0);
            let want = a.checked_div(b).map(|d| d.serialize());
            prop_assert_eq!(checked_div(a, b).map(|d| d.serialize()), want, "{:?} / {:?}", a, b);
        }
    }

    #[test]
    fn plan_like_quotients_match_decimal() {
        // 28-digit amounts over cents prices, and quotients near 2^96 and scale 28.
        let cases = [
            ("1234.5678901234567890123456789", "21.56"),
            ("79228162514264337593543950335", "0.01"),
            ("79228162514264337593543950335", "3"),
            ("0.0000000000000000000000000001", "3"),
            ("7922816251426433759354395033.5", "0.7"),
            ("1", "3"),
            ("2", "3"),
            ("100", "0.04"),
            ("-150", "1.50"),
        ];
        for (a, b) in cases {
            let (a, b): (Decimal, Decimal) = (a.parse().unwrap(), b.parse().unwrap());
            let want = a.checked_div(b).map(|d| d.serialize());
            assert_eq!(checked_div(a, b).map(|d| d.serialize()), want, "{a} / {b}");
        }
    }
}
