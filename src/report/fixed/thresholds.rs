//! The per-sign, per-scale thresholds of a measured column ([`super::width`],
//! [`super::normal_width`]), with the one for the last sign and scale seen kept at hand.
//!
//! Why: the table measures every figure of every row (eight a row) by comparing its mantissa
//! with the threshold for its sign and scale. Finding that entry from a `Decimal`'s flags
//! (shifts, a mask, an index) cost about as much as the comparison itself. Nearly every
//! value of a column has the same flags (money at two decimals, positive), so the entry for
//! the last flags seen is kept with those flags, and a figure whose flags (one load) match
//! them is compared at once.
//!
//! Why it is exact: `at` is always the table's entry for the sign and scale of `key`: it is
//! loaded whenever `key` changes, and [`Thresholds::set`] writes both (it is only called for
//! the value [`Thresholds::reached`] just looked at, whose flags are `key`). Equal flags mean
//! equal sign and scale (the flags hold both; their low 16 bits are always zero in a
//! `Decimal`, so the starting key matches none).
use rust_decimal::Decimal;

use super::SCALES;

/// A `Decimal`'s flags word (scale in bits 16..24, sign in bit 31): one load.
#[inline(always)]
pub(in crate::report) fn flags(v: &Decimal) -> u32 {
    let b = v.serialize();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `|v|`'s mantissa (two loads).
#[inline(always)]
pub(in crate::report) fn mantissa(v: &Decimal) -> u128 {
    v.mantissa().unsigned_abs()
}

/// The sign bit of [`flags`].
pub(in crate::report) const SIGN: u32 = 1 << 31;

pub(in crate::report) struct Thresholds {
    /// Per sign and scale: a mantissa below this needs no closer look.
    table: [[u128; SCALES]; 2],
    /// The flags `at` belongs to (`u32::MAX`, no `Decimal`'s flags, at the start).
    key: u32,
    /// `table[sign][scale]` for the sign and scale in `key`.
    at: u128,
}

impl Thresholds {
    /// Every threshold `floor[s]` for scale `s`, either sign.
    pub(in crate::report) fn new(floor: [u128; SCALES]) -> Thresholds {
        Thresholds {
            table: [floor; 2],
            key: u32::MAX,
            at: 0,
        }
    }

    /// Whether the mantissa `m` of a value with flags `key` reaches its threshold. The sign
    /// and scale are only decoded when the flags change ([`Self::rekey`]): decoded before the
    /// test, they cost five instructions a figure.
    #[inline(always)]
    pub(in crate::report) fn reached(&mut self, key: u32, m: u128) -> bool {
        if key != self.key {
            self.rekey(key);
        }
        m >= self.at
    }

    /// Makes `at` the threshold of the sign and scale in `key`.
    #[cold]
    #[inline(never)]
    fn rekey(&mut self, key: u32) {
        self.key = key;
        self.at = self.table[usize::from(key & SIGN != 0)][((key >> 16) as usize) % SCALES];
    }

    /// Sets the threshold of the value [`Self::reached`] last looked at (sign `sign`, scale
    /// `s`).
    pub(in crate::report) fn set(&mut self, s: u32, sign: usize, t: u128) {
        self.table[sign][s as usize] = t;
        self.at = t;
    }
}
