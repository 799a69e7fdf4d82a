//! The widest figure of a column of money or percentages, found without rounding each value.
//!
//! Why: the table's column widths depend on every row, so every figure is looked at twice:
//! once for the widths, once to print it. A figure's length depends only on its sign and on
//! how many digits its rounded value has, and that count changes only when the mantissa
//! crosses a threshold. So the first look compares each mantissa with the threshold for its
//! scale (one 128-bit comparison) and rounds only the values that cross it, a handful per
//! column.
//!
//! Why it is exact: a figure is `[-]q` with two decimals, `q` the value rounded half away
//! from zero to `dp` decimals. At scale `s`, `q ≥ Q` holds exactly when `m ≥ ⌈Q / 10^(dp-s)⌉`
//! (`s ≤ dp`: `q = m·10^(dp-s)`) or `m ≥ Q·10^(s-dp) - 10^(s-dp)/2` (`s > dp`), and the
//! length grows with `q`. A threshold that is too low (left from fewer digits, or not yet
//! computed: zero) only sends a value to the exact rounding; one is never too high, because
//! it is recomputed from the longest figure seen whenever a value reaches it.
use rust_decimal::Decimal;

use super::thresholds::{SIGN, Thresholds, flags, mantissa};
use super::{SCALES, div_round, parts};

/// A text function of [`super`]: what the general table writer prints for a value.
pub(in crate::report) type Text = fn(&mut Vec<u8>, Decimal);

/// How long the longest figure of a column is (see the module documentation).
pub(in crate::report) struct Widest {
    /// The decimals `q` counts (money: 2; a weight shown as a percentage with two decimals: 4).
    dp: u32,
    /// Mantissas from here on are printed by `Decimal` arithmetic (a weight times 100 that
    /// overflows 96 bits), whose rounding the thresholds do not model: measured by printing.
    limit: u128,
    text: Text,
    /// The longest of those printed.
    printed: usize,
    /// The most digits of `q` seen among non-negative values (at least 3: `0.00`), and among
    /// negative values printed with a minus sign (0: none yet).
    digits: [u32; 2],
    /// Per sign and scale: a mantissa below this has at most `digits` digits.
    threshold: Thresholds,
    /// Whether any value reached a threshold ([`Self::with_floor`]'s floor at the start).
    grown: bool,
}

impl Widest {
    /// A column of values rounded to `dp` decimals, measured from thresholds below `limit`
    /// and by printing them with `text` from there on.
    pub(in crate::report) fn new(dp: u32, limit: u128, text: Text) -> Widest {
        Widest {
            dp,
            limit,
            text,
            printed: 0,
            digits: [3, 0],
            threshold: Thresholds::new([0; SCALES]),
            grown: false,
        }
    }

    /// The same column, with every threshold starting at `floor` (per scale, both signs)
    /// instead of zero: values below it are never rounded, so [`Self::all_below_floor`] tells
    /// whether every value was, at no cost per value.
    ///
    /// Exact for the widths only when every mantissa below `floor[s]` prints as `0.00`, the
    /// shortest figure, with no minus sign (the weights' [`fig::PCT_ZERO`]): such a value
    /// cannot widen the column, so skipping it leaves [`Self::len`] as it was.
    ///
    /// [`fig::PCT_ZERO`]: super::fig::PCT_ZERO
    pub(in crate::report) fn with_floor(mut self, floor: &[u128; SCALES]) -> Widest {
        self.threshold = Thresholds::new(*floor);
        self
    }

    /// Whether no value counted so far reached a threshold: with [`Self::with_floor`], whether
    /// every value was below the floor.
    pub(in crate::report) fn all_below_floor(&self) -> bool {
        !self.grown
    }

    /// Counts `v`. By reference: a `Decimal` passed by value to the cold [`Self::grow`] was
    /// copied to the stack for every figure, needed or not.
    #[inline(always)]
    pub(in crate::report) fn add(&mut self, v: &Decimal) {
        if self.threshold.reached(flags(v), mantissa(v)) {
            self.grow(v, false);
        }
    }

    /// Counts `|v|`.
    #[inline(always)]
    pub(in crate::report) fn add_abs(&mut self, v: &Decimal) {
        if self.threshold.reached(flags(v) & !SIGN, mantissa(v)) {
            self.grow(v, true);
        }
    }

    /// Rounds the value (`|v|` if `abs`) exactly, and raises this scale's threshold above it.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, v: &Decimal, abs: bool) {
        let (m, s, neg) = parts(*v);
        let sign = usize::from(neg && !abs);
        self.grown = true;
        if m >= self.limit {
            let mut t = Vec::new();
            (self.text)(&mut t, if abs { v.abs() } else { *v });
            self.printed = self.printed.max(t.len());
            return;
        }
        let q = if s <= self.dp {
            m * 10u128.pow(self.dp - s)
        } else {
            div_round(m, s - self.dp)
        };
        if q != 0 {
            let n = q.ilog10() + 1;
            self.digits[sign] = self.digits[sign].max(n);
        }
        let t = self.above(self.digits[sign], s);
        self.threshold.set(s, sign, t);
    }

    /// The smallest mantissa at scale `s` whose `q` has more than `d` digits (`q ≥ 10^d`),
    /// capped at the limit.
    fn above(&self, d: u32, s: u32) -> u128 {
        let least = match 10u128.checked_pow(d) {
            Some(big) if s <= self.dp => Some(big.div_ceil(10u128.pow(self.dp - s))),
            Some(big) => {
                let p = 10u128.pow(s - self.dp);
                big.checked_mul(p).map(|x| x - p / 2)
            }
            None => None,
        };
        least.map_or(self.limit, |t| t.min(self.limit))
    }

    /// The length of the longest figure: sign, digits (at least `0.00`), point.
    pub(in crate::report) fn len(&self) -> usize {
        let pos = self.digits[0] as usize + 1;
        let neg = match self.digits[1] {
            0 => 0,
            d => d.max(3) as usize + 2,
        };
        pos.max(neg).max(self.printed)
    }
}
