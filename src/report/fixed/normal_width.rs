//! The widest figure of a column printed in normal form (prices; share counts, at most six
//! decimals), found without printing or even rounding each value.
//!
//! Why: the table measures every figure before it prints it. A price or a share count drops
//! its trailing zeros, so its length is not a function of its size alone, and measuring it
//! cost building its [`Fig`](super::fig::Fig) and counting its digits (~50 instructions a
//! figure, twice a row). Here a figure costs one 128-bit comparison of its mantissa with a
//! threshold for its sign and scale; only values at or above it are measured exactly.
//!
//! Why it is exact: with `t = min(s, dp)` decimals kept and `q` the mantissa rounded half
//! away from zero to them, the text is at most `sign + max(digits(q), t + 1) + [t > 0]`
//! bytes (dropping trailing zeros removes as many digits as decimals, and the point only
//! when none are left), and that bound grows with the mantissa at a fixed scale. A mantissa
//! below its threshold has a bound of at most the widest text measured so far, so it cannot
//! widen the column. A threshold that is too low (not yet computed: zero) only sends a value
//! to the exact measure; one is never too high, because the width only grows.
use rust_decimal::Decimal;

use super::thresholds::{SIGN, Thresholds, flags, mantissa};
use super::{SCALES, parts};

/// The longest figure of a normal-form column (see the module documentation).
pub(in crate::report) struct NormalWidest {
    /// The most decimals shown (prices: all 28; share counts: 6, rounded).
    dp: u32,
    /// The longest text so far (at least the header's width).
    width: usize,
    /// Per sign and scale: a mantissa below this cannot print longer than `width`.
    threshold: Thresholds,
}

impl NormalWidest {
    /// A column showing at most `dp` decimals, at least `width` wide.
    pub(in crate::report) fn new(dp: u32, width: usize) -> NormalWidest {
        NormalWidest {
            dp,
            width,
            threshold: Thresholds::new([0; SCALES]),
        }
    }

    /// Counts `v`, whose exact printed length `len` returns when it is needed.
    #[inline(always)]
    pub(in crate::report) fn add(&mut self, v: &Decimal, len: impl FnOnce() -> usize) {
        if self.threshold.reached(flags(v), mantissa(v)) {
            let (_, s, neg) = parts(*v);
            self.grow(len, s, usize::from(neg));
        }
    }

    /// Counts `|v|` (by reference, as [`Self::add`]: a local `v.abs()` for `len` to borrow
    /// went through the stack on every row).
    #[inline(always)]
    pub(in crate::report) fn add_abs(&mut self, v: &Decimal, len: impl FnOnce() -> usize) {
        if self.threshold.reached(flags(v) & !SIGN, mantissa(v)) {
            let (_, s, _) = parts(*v);
            self.grow(len, s, 0);
        }
    }

    /// Measures the value exactly and raises its scale's threshold to the new width.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, len: impl FnOnce() -> usize, s: u32, sign: usize) {
        self.width = self.width.max(len());
        let t = self.below(s, sign);
        self.threshold.set(s, sign, t);
    }

    /// The smallest mantissa at scale `s` whose length bound exceeds `width` (0: any).
    fn below(&self, s: u32, sign: usize) -> u128 {
        let t = s.min(self.dp);
        let point = usize::from(t > 0);
        if sign + t as usize + 1 + point > self.width {
            return 0;
        }
        // digits(q) ≤ d ⟺ q < 10^d.
        let d = (self.width - sign - point) as u32;
        let Some(big) = 10u128.checked_pow(d) else {
            return u128::MAX;
        };
        if s <= self.dp {
            big
        } else {
            // q ≥ 10^d ⟺ m ≥ 10^d·p − p/2 (rounding half away from zero by p = 10^(s−dp)).
            let p = 10u128.pow(s - self.dp);
            big.checked_mul(p).map_or(u128::MAX, |x| x - p / 2)
        }
    }

    /// The column's width: the longest text, or the width it started with.
    pub(in crate::report) fn len(&self) -> usize {
        self.width
    }
}
