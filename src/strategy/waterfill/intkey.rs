//! The water-fill's keys as single integers where the levels allow it.
//!
//! Why: the fill orders the levels of the assets it may move (an O(n) guess of the reach,
//! then a sort of those reached). With `(⌊level⌋, level, index)` keys (48 bytes, a Decimal
//! comparison on every tie of the integer parts) that cost ~30 M instructions of a 10^5-row
//! never-sell fill: building the keys, eight partition passes moving 48-byte keys, and the
//! sort. With equal weights (the usual input) every level is the asset's value itself, and
//! the values have few decimals: each key is then one `i128`, the level at the values' common
//! scale and the index packed together, and every comparison is one integer comparison.
//!
//! Why it is exact: the level at a common scale `S` (at least every value's scale) is
//! `value · 10^S` exactly, so comparing those integers compares the levels; packing
//! `level·2^32 + index` (with `|level·10^S| < 2^94` and `index < 2^32`) orders by the level,
//! then by the index — the order of the Decimal keys, `(⌊level⌋, level, index)`, which is also
//! `(level, index)`. For a drain the level is negated, which orders the highest level first
//! and equal levels by index, as the Decimal keys' `descending` does. The Decimal level the
//! fill compares with is `level(asset)`, the same Decimal the Decimal key holds. Anything
//! else (a weight other than one, a value too large at the common scale) keeps the Decimal
//! keys.
use rust_decimal::Decimal;

use super::{Asset, Key, level};
use crate::strategy::mantissa::{POW10_I, mul_bounded};

/// What the water-fill reads of a key: an integer prefix of its order for the reach guess
/// (`reach::presort`), the asset it stands for, and that asset's level.
pub(super) trait Keyed: Copy {
    /// The level floored at the keys' scale: `⌊level⌋` for the Decimal keys, the exact
    /// level at the common scale for [`IntKey`].
    fn prefix(&self) -> i128;
    fn idx(&self) -> usize;
    fn level(&self, assets: &[Asset]) -> Decimal;
}

impl Keyed for Key {
    fn prefix(&self) -> i128 {
        self.0
    }
    fn idx(&self) -> usize {
        self.2
    }
    fn level(&self, _: &[Asset]) -> Decimal {
        self.1
    }
}

/// `±level·2^32 + index` (negated for a drain, `DESC`): see the module docs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct IntKey<const DESC: bool>(i128);

impl<const DESC: bool> Keyed for IntKey<DESC> {
    fn prefix(&self) -> i128 {
        let v = self.0 >> 32;
        if DESC { -v } else { v }
    }
    fn idx(&self) -> usize {
        (self.0 & 0xFFFF_FFFF) as usize
    }
    fn level(&self, assets: &[Asset]) -> Decimal {
        level(&assets[self.idx()])
    }
}

/// Whether a weight counts for the fill (`> 0`, without a Decimal comparison).
fn positive(w: Decimal) -> bool {
    !w.is_zero() && !w.is_sign_negative()
}

/// The integer keys of the assets with a positive weight and their common scale, if every
/// such weight is one (so each level is the value: `level`'s first branch) and every value
/// fits (see the module docs); `None` otherwise.
pub(super) fn keys<const DESC: bool>(assets: &[Asset]) -> Option<(Vec<IntKey<DESC>>, u32)> {
    if assets.len() >= 1 << 32 {
        return None;
    }
    // The common scale, and whether every level is the value (a weight written `1`, or
    // equal to one).
    let mut s = 0;
    for a in assets.iter().filter(|a| positive(a.weight)) {
        let w = a.weight;
        if !((w.scale() == 0 && w.mantissa() == 1) || w == Decimal::ONE) {
            return None;
        }
        s = s.max(a.value.scale());
    }
    let mut keys = Vec::with_capacity(assets.len());
    for (i, a) in assets.iter().enumerate() {
        if !positive(a.weight) {
            continue;
        }
        let (m, vs) = (a.value.mantissa(), a.value.scale());
        // Values at the common scale (the usual case: all at one scale) need no product.
        let v = if vs == s {
            m
        } else {
            mul_bounded(m, POW10_I[(s - vs) as usize])?
        };
        if v.unsigned_abs() >= 1 << 94 {
            return None;
        }
        let v = if DESC { -v } else { v };
        keys.push(IntKey((v << 32) | i as i128));
    }
    Some((keys, s))
}

/// An integer amount at `scale` (`amount · 10^scale`, saturated: the reach guess then keeps
/// everything, which is still correct, only slower).
pub(super) fn scaled(amount: i128, scale: u32) -> i128 {
    amount.saturating_mul(POW10_I[scale as usize])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::tests::{drain_full_sort, fill_full_sort};
    use super::super::{Asset, drain, fill_up};
    use super::keys;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// On the integer keys (weights one, written `1` or `1.0`, and zero weights left out of
        /// the fill;
        /// values at scales 0 to 6, zero values, many ties, huge values that refuse the keys),
        /// fill and drain give the full Decimal sort's result, representation included.
        #[test]
        fn integer_keys_fill_and_drain_as_the_full_sort(
            rows in prop::collection::vec((0i64..300, 1i64..5_000, 0u32..7, 0u8..12), 1..600),
            frac in 0u32..1000,
            huge in 0u8..8,
        ) {
            let names: Vec<String> = (0..rows.len()).map(|i| format!("S{i:05}")).collect();
            let assets: Vec<Asset> = rows
                .iter()
                .zip(&names)
                .map(|((q, m, s, w), sym)| {
                    let mut price = Decimal::new(*m, *s);
                    if huge == 0 && *w == 3 {
                        price = Decimal::from_i128_with_scale(i128::from(*m) << 64, 0);
                    }
                    let quantity = Decimal::from(*q);
                    Asset {
                        symbol: sym,
                        price,
                        quantity,
                        value: quantity * price,
                        pnl: Decimal::ZERO,
                        weight: match w {
                            0 => Decimal::ZERO,
                            1 => Decimal::new(10, 1),
                            _ => Decimal::ONE,
                        },
                        conid: None,
                        currency: None,
                    }
                })
                .collect();
            let total: Decimal = assets.iter().map(|a| a.value).sum();
            let amount = (total * Decimal::new(i64::from(frac), 3)).round_dp(2);
            prop_assume!(amount > Decimal::ZERO);
            if huge != 0 {
                prop_assert!(keys::<false>(&assets).is_some() && keys::<true>(&assets).is_some());
            }
            // The drain sells zero-weight holdings first, which the reference leaves out: it
            // is compared on the others.
            let weighted: Vec<Asset> =
                assets.iter().filter(|a| !a.weight.is_zero()).cloned().collect();
            if !weighted.is_empty() {
                let (got, want) = (drain(&weighted, amount), drain_full_sort(&weighted, amount));
                let diff = (0..got.len()).find(|&i| got[i].serialize() != want[i].serialize());
                prop_assert!(diff.is_none(), "{:?}", diff.map(|i| (i, got[i], want[i])));
            }
            let (got, want) = (fill_up(&assets, amount), fill_full_sort(&assets, amount));
            let diff = (0..got.len()).find(|&i| got[i].serialize() != want[i].serialize());
            prop_assert!(diff.is_none(), "{:?}", diff.map(|i| (i, got[i], want[i])));
        }
    }
}
