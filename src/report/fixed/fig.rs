//! Figures as small values (`q · 10^-s` in a `u64`, a sign) instead of text, for the table
//! writer that formats every figure straight into its place in a row.
//!
//! Why: the text table's column widths depend on every row. Formatting each figure into a
//! side buffer and copying it into the row later cost a `Vec` update per figure and a copy;
//! a [`Fig`] knows its printed length without being printed ([`Fig::len`]), so the widths can
//! be measured first and each figure then written once where it belongs
//! ([`Fig::write_before`]).
//!
//! Why it is exact: each constructor returns the value the matching text function of
//! [`super`] prints (same rounding, same trailing zeros, same sign rule), and `None` whenever
//! that text would need more than a `u64` mantissa or more than 19 decimals; the property tests
//! compare the written text with the `Decimal` reference on the same random decimals.
use rust_decimal::Decimal;

use super::{PAIRS, POW10, SCALES, digits, div_rem_pow10, div_round_inline, parts, strip_zeros};
use crate::strategy::mantissa::POW10 as POW10_128;

/// `± q · 10^-s` printed with exactly `s` decimals (`s ≤ 19`, no point when `s = 0`, at least
/// one digit before the point). `neg` is never set with `q = 0` (no `-0.00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::report) struct Fig {
    q: u64,
    s: u32,
    neg: bool,
}

impl Fig {
    fn new(q: u64, s: u32, neg: bool) -> Option<Fig> {
        (s <= 19).then_some(Fig {
            q,
            s,
            neg: neg && q != 0,
        })
    }

    /// Bytes the figure prints as: sign, the digits of `q` (at least `s + 1`), the point.
    #[inline]
    pub(in crate::report) fn len(self) -> usize {
        let n = self.q.checked_ilog10().map_or(1, |l| l as usize + 1);
        usize::from(self.neg) + n.max(self.s as usize + 1) + usize::from(self.s > 0)
    }

    /// Writes the figure so that it ends just before `buf[end]`; returns where it starts
    /// (`end - self.len()`). May write spaces into up to 16 bytes before that start: the
    /// caller fills rows right to left, so whatever belongs there is written afterwards.
    ///
    /// Why: the shapes nearly every figure has are inlined, each written through one
    /// fixed-size window (one bounds check): cents below 10^4 (percentages, small money) as
    /// two digit pairs; cents below 10^8 (money) and whole numbers below 10^8 (share counts)
    /// as eight digits converted at once in one `u64` ([`eight_digits`]) and stored with one
    /// write, where a loop over digit pairs cost ~15 instructions a pair. The rest is
    /// [`Self::write_general`].
    #[inline(always)]
    pub(in crate::report) fn write_before(self, buf: &mut [u8], end: usize) -> usize {
        if self.q >= POW10[8] || end < 10 || self.s > 7 {
            return general(self.q, self.s, self.neg, buf, end);
        }
        let Ok(w) = <&mut [u8; 10]>::try_from(&mut buf[end - 10..end]) else {
            return general(self.q, self.s, self.neg, buf, end);
        };
        let mut at = if self.s == 2 && self.q < 10_000 {
            let (int, frac) = ((self.q / 100) as usize, (self.q % 100) as usize);
            w[5..7].copy_from_slice(&SPACED_PAIRS[int]);
            w[7] = b'.';
            w[8..10].copy_from_slice(&DIGIT_PAIRS[frac]);
            6 - usize::from(int >= 10)
        } else if self.s == 2 {
            // All eight digits one byte to the left, then the point over the first decimal
            // and the two decimals after it; at least one digit before the point.
            let e = eight_digits(self.q);
            let z = leading_zeros(e).min(5);
            let x = e | FILL[z];
            w[1..9].copy_from_slice(&x.to_le_bytes());
            w[8..10].copy_from_slice(&((x >> 48) as u16).to_le_bytes());
            w[7] = b'.';
            1 + z
        } else if self.s == 0 {
            let e = eight_digits(self.q);
            let z = leading_zeros(e).min(7);
            w[2..10].copy_from_slice(&(e | FILL[z]).to_le_bytes());
            2 + z
        } else {
            point_inside(w, self.q, self.s as usize)
        };
        if self.neg {
            at -= 1;
            w[at] = b'-';
        }
        end - 10 + at
    }

    /// [`Self::write_before`] for any figure (called through [`general`]).
    #[inline(always)]
    fn write_general(self, buf: &mut [u8], end: usize) -> usize {
        let s = self.s as usize;
        let tail = s + usize::from(s > 0);
        let (int, frac) = div_rem_pow10(self.q, s);
        let wide = int >= POW10[8];
        if s > 8 || int >= POW10[16] || end < tail + if wide { 16 } else { 8 } {
            return self.write_exact(buf, end);
        }
        match s {
            0 => {}
            1 => buf[end - 1] = b'0' + frac as u8,
            2 => {
                let d = frac as usize * 2;
                buf[end - 2..end].copy_from_slice(&PAIRS[d..d + 2]);
            }
            // Zeros before the fraction land on the point and the integer part, written next.
            _ => buf[end - 8..end].copy_from_slice(&(eight_digits(frac) | FILL[0]).to_le_bytes()),
        }
        let point = end - tail;
        if s > 0 {
            buf[point] = b'.';
        }
        let n = if wide {
            let lo = eight_digits(int % POW10[8]) | FILL[0];
            let hi = eight_digits(int / POW10[8]);
            let z = leading_zeros(hi);
            buf[point - 8..point].copy_from_slice(&lo.to_le_bytes());
            buf[point - 16..point - 8].copy_from_slice(&(hi | FILL[z]).to_le_bytes());
            16 - z
        } else {
            let w = eight_digits(int);
            let z = leading_zeros(w).min(7);
            buf[point - 8..point].copy_from_slice(&(w | FILL[z]).to_le_bytes());
            8 - z
        };
        let mut start = point - n;
        if self.neg {
            start -= 1;
            buf[start] = b'-';
        }
        start
    }

    /// [`Self::write_before`] byte by byte, touching nothing outside the figure: for figures
    /// with more than 16 integer or 8 decimal digits, or too close to the start of `buf`.
    #[cold]
    fn write_exact(self, buf: &mut [u8], end: usize) -> usize {
        let s = self.s as usize;
        let int = if s > 0 {
            let (int, frac) = div_rem_pow10(self.q, s);
            let point = end - s - 1;
            buf[point + 1..end].fill(b'0');
            digits(buf, end, frac);
            buf[point] = b'.';
            int
        } else {
            self.q
        };
        let point = end - s - usize::from(s > 0);
        let mut start = digits(buf, point, int);
        if self.neg {
            start -= 1;
            buf[start] = b'-';
        }
        start
    }
}

/// [`Fig::write_general`], out of line, its figure passed as scalars: a `Fig` passed whole
/// went through the stack, which cost three stores on every inlined figure, rare shape or
/// not.
#[inline(never)]
fn general(q: u64, s: u32, neg: bool, buf: &mut [u8], end: usize) -> usize {
    Fig { q, s, neg }.write_general(buf, end)
}

/// `q < 10^8` with `s` decimals (`1 ≤ s ≤ 7`) written to end at `w[10]`; returns where it
/// starts. (Share counts in exact plans and prices with more than two decimals: the general
/// writer cost ~120 instructions a figure.)
///
/// The eight digits of `q` (leading zeros as spaces, keeping one digit before the point) are
/// the figure without its point: the first `8 − s` go to `w[1..]` as they are, and the word
/// written at `w[2..10]` holds the rest of those digits one byte later, the point, and the
/// last `s` digits in place.
#[inline(always)]
fn point_inside(w: &mut [u8; 10], q: u64, s: usize) -> usize {
    let e = eight_digits(q);
    let z = leading_zeros(e).min(7 - s);
    let x = e | FILL[z];
    // Lanes (bytes) below `7 − s` of the word: integer digits 1.., then the point at lane
    // `7 − s`, then the decimals, which are lanes `8 − s..8` of `x` already.
    let int = (1u64 << (8 * (7 - s))) - 1;
    let word = ((x >> 8) & int) | (u64::from(b'.') << (8 * (7 - s))) | (x & !(int << 8 | 0xff));
    w[1] = x as u8;
    w[2..10].copy_from_slice(&word.to_le_bytes());
    1 + z
}

/// The digits of `v < 10^8` as eight bytes of values 0..=9, most significant first in the
/// order `u64::to_le_bytes` lays them out (leading zeros included); `| FILL[z]` makes them
/// ASCII with the first `z` as spaces.
///
/// Why it is exact: `v` is split into two 4-digit halves, each half into two 2-digit
/// quarters (`y·10486 >> 20 = ⌊y/100⌋` for every `y < 43699`), each quarter into two digits
/// (`z·103 >> 10 = ⌊z/10⌋` for every `z < 179`); every lane holds its value with room to
/// spare, so no carry crosses into the next. The test below checks it against `format!`.
#[inline(always)]
fn eight_digits(v: u64) -> u64 {
    let a = (v / 10_000) | ((v % 10_000) << 32);
    let b = ((a * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let c = b | ((a - b * 100) << 16);
    let d = ((c * 103) >> 10) & 0x000F_000F_000F_000F;
    d | ((c - d * 10) << 8)
}

/// "00" to "99" (also [`PAIRS`]).
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// [`DIGIT_PAIRS`] with a space for the leading zero of 0..=9 (" 0" to " 9").
const SPACED_PAIRS: [[u8; 2]; 100] = {
    let mut t = DIGIT_PAIRS;
    let mut i = 0;
    while i < 10 {
        t[i][0] = b' ';
        i += 1;
    }
    t
};

/// How many of [`eight_digits`]' digits are leading zeros (8 for zero): their bytes are 0.
#[inline(always)]
fn leading_zeros(e: u64) -> usize {
    (e.trailing_zeros() / 8) as usize
}

/// `FILL[z]`: ASCII `'0'` added to each digit byte, spaces for the first `z` (whose digit
/// bytes are zero, so `|` sets them).
const FILL: [u64; 9] = {
    let mut t = [0u64; 9];
    let mut z = 0;
    while z < 9 {
        let spaces = if z == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * z)) - 1
        };
        t[z] = (0x3030_3030_3030_3030 & !spaces) | (0x2020_2020_2020_2020 & spaces);
        z += 1;
    }
    t
};

/// `v` rounded half away from zero to cents, as [`super::fixed_dp`]`(v, 2)` prints it.
#[inline(always)]
pub(in crate::report) fn cents(v: Decimal) -> Option<Fig> {
    let (m, s, neg) = parts(v);
    // Cents as they are (nearly all money): no multiplication, no overflow check.
    let q = if s == 2 {
        u64::try_from(m).ok()?
    } else if s < 2 {
        u64::try_from(m)
            .ok()?
            .checked_mul(POW10[(2 - s) as usize])?
    } else if let Ok(m) = u64::try_from(m)
        && s <= 21
    {
        // Money of an exact plan (shares with six decimals times a price: scale 8) is
        // rounded here, inline, by a constant per scale; `div_round` cost a call and ~40
        // instructions. The same rounding as its `u64` branch.
        let k = (s - 2) as usize;
        let (q, r) = div_rem_pow10(m, k);
        q + u64::from(r >= POW10[k] / 2)
    } else {
        u64::try_from(div_round_inline(m, s - 2)).ok()?
    };
    Fig::new(q, 2, neg)
}

/// A weight as a percentage with two decimals, as [`super::pct`] prints it (without the `%`).
#[inline(always)]
pub(in crate::report) fn pct(v: Decimal) -> Option<Fig> {
    let (m, s, neg) = parts(v);
    if m >= (1u128 << 96) / 100 {
        return None;
    }
    let q = if s <= 4 {
        m * u128::from(POW10[(4 - s) as usize])
    } else {
        div_round_inline(m, s - 4)
    };
    Fig::new(u64::try_from(q).ok()?, 2, neg)
}

/// Per scale, the weight mantissas below this print as `0.00` in [`pct`]: a weight under
/// half a unit of 10^-4 (0.005 %), or (four decimals or fewer) zero.
pub(in crate::report) const PCT_ZERO: [u128; SCALES] = {
    let mut t = [1u128; SCALES];
    let mut s = 5;
    while s < 29 {
        t[s] = POW10_128[s - 4] / 2;
        s += 1;
    }
    t
};

/// Whether [`pct`] prints `v` as `0.00` (nearly every weight of a plan of 10^5 positions,
/// about 10^-5 each): one comparison, where rounding it costs ~20 instructions and writing
/// its digits ~15 more.
///
/// Exact: [`pct`] rounds `m·10^(4−s)` half away from zero; at `s ≤ 4` that is zero only for
/// `m = 0`, above it zero exactly when `m / 10^(s−4) < 1/2`, i.e. `m < 10^(s−4)/2` (an even
/// number). A zero never gets a minus sign ([`Fig::new`]).
#[inline(always)]
pub(in crate::report) fn pct_is_zero(v: Decimal) -> bool {
    let (m, s, _) = parts(v);
    m < PCT_ZERO[s as usize]
}

/// `v` in its normal form, as [`super::normalized`] prints it.
#[inline(always)]
pub(in crate::report) fn normalized(v: Decimal) -> Option<Fig> {
    let (m, s, neg) = parts(v);
    let (q, s) = strip_zeros(u64::try_from(m).ok()?, s);
    Fig::new(q, s, neg)
}

/// `|v|` as a share count, as [`super::shares`] prints it: whole numbers as they are,
/// fractions to at most six decimals in normal form.
#[inline(always)]
pub(in crate::report) fn abs_shares(v: Decimal) -> Option<Fig> {
    let (m, s, _) = parts(v);
    if s == 0 {
        return Fig::new(u64::try_from(m).ok()?, 0, false);
    }
    let (q, s) = if s > 6 {
        (div_round_inline(m, s - 6), 6)
    } else {
        (m, s)
    };
    let (q, s) = strip_zeros(u64::try_from(q).ok()?, s);
    Fig::new(q, s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii(v: u64, z: usize) -> String {
        String::from_utf8((eight_digits(v) | FILL[z]).to_le_bytes().to_vec()).unwrap()
    }

    /// Every value at a lane boundary (multiples of 10, 100, 10^4 and one either side) and a
    /// spread of others: the digits `format!` gives, and the leading zeros counted.
    #[test]
    fn eight_digits_are_the_decimal_digits() {
        let mut vs: Vec<u64> = (0..100_000).map(|i| i * 997 % 100_000_000).collect();
        for p in [10u64, 100, 10_000, 1_000_000, 10_000_000] {
            for k in 0..1000u64 {
                let b = (k * p) % 100_000_000;
                vs.extend([b, b.saturating_sub(1), b + 1]);
            }
        }
        vs.extend([0, 1, 9, 10, 99_999_999, 10_000_000, 9_999_999]);
        for v in vs {
            let want = format!("{v:08}");
            assert_eq!(ascii(v, 0), want, "{v}");
            let z = want.len() - want.trim_start_matches('0').len();
            assert_eq!(leading_zeros(eight_digits(v)), z, "{v}");
            let spaced = format!("{:>8}", if v == 0 { String::new() } else { v.to_string() });
            assert_eq!(ascii(v, z), spaced, "{v}");
        }
    }

    /// The figure as [`Fig::write_before`] and as the byte-by-byte [`Fig::write_exact`]
    /// write it at the end of a buffer of `#`: the text, and whether `write_before` left the
    /// bytes before it as `#` or spaces.
    fn both(f: Fig) -> (String, String, bool) {
        let (mut a, mut b) = ([b'#'; 32], [b'#'; 32]);
        let (sa, sb) = (f.write_before(&mut a, 32), f.write_exact(&mut b, 32));
        let clean = a[..sa].iter().all(|&c| c == b'#' || c == b' ');
        let text = |buf: &[u8]| String::from_utf8(buf.to_vec()).unwrap();
        (text(&a[sa..]), text(&b[sb..]), clean)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Every decimal count the inline shapes take (the point inside the eight digits:
        /// `1 ≤ s ≤ 7`), with small and eight-digit values, either sign.
        #[test]
        fn inline_shapes_match_the_exact_writer(
            q in proptest::prop_oneof![0u64..1000, 0u64..100_000_000],
            s in 0u32..=7,
            neg: bool,
        ) {
            let f = Fig::new(q, s, neg).unwrap();
            let (fast, exact, clean) = both(f);
            proptest::prop_assert_eq!(&fast, &exact);
            proptest::prop_assert_eq!(fast.len(), f.len());
            proptest::prop_assert!(clean);
        }
    }

    #[test]
    fn point_inside_edges() {
        for (q, s, want) in [
            (0, 1, "0.0"),
            (5, 7, "0.0000005"),
            (99_999_999, 1, "9999999.9"),
            (99_999_999, 7, "9.9999999"),
            (12_345_678, 6, "12.345678"),
            (1_000, 3, "1.000"),
        ] {
            let f = Fig::new(q, s, false).unwrap();
            assert_eq!(both(f).0, want);
            assert_eq!(
                both(Fig::new(q, s, true).unwrap()).0,
                if q == 0 {
                    want.to_string()
                } else {
                    format!("-{want}")
                }
            );
        }
    }
}
