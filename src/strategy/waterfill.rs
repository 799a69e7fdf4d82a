//! The continuous never-sell optimum: exact water-fill in O(n log n) (one sort, one pass over
//! prefix sums), instead of the original's dollar-by-dollar heap loop.
use rust_decimal::Decimal;

use super::{Asset, fast, tie_break};
use intkey::Keyed;

/// Continuous never-sell trades (dollars) for budget `b`: buys when `b ≥ 0`, sells when `b < 0`.
/// The caller has checked that a withdrawal does not exceed the portfolio.
pub(crate) fn never_sell(assets: &[Asset], b: Decimal) -> Vec<Decimal> {
    if b >= Decimal::ZERO {
        fill_up(assets, b)
    } else {
        drain(assets, -b)
    }
}

/// Level of an asset: value per unit of weight. Only called for positive weights.
fn level(a: &Asset) -> Decimal {
    // `1` written as `1` (the usual equal weights) is recognised without a Decimal comparison.
    let w = a.weight;
    if (w.scale() == 0 && w.mantissa() == 1) || w == Decimal::ONE {
        a.value
    } else {
        a.value / a.weight
    }
}

/// Raise the lowest levels to a common level `L` until `budget` is spent:
/// `x_i = max(0, w_i·L − p_i)` with `Σ x_i = budget`.
fn fill_up(assets: &[Asset], budget: Decimal) -> Vec<Decimal> {
    let mut out = vec![Decimal::ZERO; assets.len()];
    if budget.is_zero() {
        return out;
    }
    if let Some((keyed, scale)) = intkey::keys::<false>(assets) {
        fill_keys(assets, budget, keyed, scale, Ord::cmp, &mut out);
        return out;
    }
    // `then_with`: the Decimal comparison runs only when the integer prefixes tie.
    let ascending = |x: &Key, y: &Key| {
        x.0.cmp(&y.0)
            .then_with(|| x.1.cmp(&y.1))
            .then_with(|| x.2.cmp(&y.2))
    };
    fill_keys(assets, budget, keyed_levels(assets), 0, ascending, &mut out);
    out
}

/// [`fill_up`] over keys in `order` whose prefixes are levels at `scale` ([`Keyed`]).
fn fill_keys<K: Keyed>(
    assets: &[Asset],
    budget: Decimal,
    mut keyed: Vec<K>,
    scale: u32,
    order: impl Fn(&K, &K) -> std::cmp::Ordering + Copy,
    out: &mut [Decimal],
) {
    let per = intkey::scaled(per_weight(assets, &keyed, budget), scale);
    let sorted = reach::presort(&mut keyed, per, true, order);
    let (k, lvl) = common_level(
        assets,
        &mut keyed,
        sorted,
        order,
        |sum_p, sum_w| (budget + sum_p) / sum_w,
        // Stop when the next asset is already at or above the level reached.
        |lvl, next| lvl <= next,
    );
    for key in &keyed[..k] {
        let i = key.idx();
        let a = &assets[i];
        out[i] = (a.weight * lvl - a.value).max(Decimal::ZERO);
    }
}

/// Raise `amount` by selling: zero-weight holdings first (lower P&L, then symbol), then lower
/// the highest levels to a common level `L`: `x_i = −max(0, p_i − w_i·L)`, `L ≥ 0`.
fn drain(assets: &[Asset], amount: Decimal) -> Vec<Decimal> {
    let mut out = vec![Decimal::ZERO; assets.len()];
    let mut left = amount;
    let mut zero: Vec<usize> = (0..assets.len())
        .filter(|&i| assets[i].weight.is_zero() && assets[i].value > Decimal::ZERO)
        .collect();
    zero.sort_unstable_by(|&x, &y| tie_break(&assets[x], &assets[y]));
    for i in zero {
        if left.is_zero() {
            return out;
        }
        let take = assets[i].value.min(left);
        out[i] = -take;
        left -= take;
    }
    if left.is_zero() {
        return out;
    }
    if let Some((keyed, scale)) = intkey::keys::<true>(assets) {
        drain_keys(assets, left, keyed, scale, Ord::cmp, &mut out);
        return out;
    }
    // Highest level first; equal levels by index.
    let descending = |x: &Key, y: &Key| {
        y.0.cmp(&x.0)
            .then_with(|| y.1.cmp(&x.1))
            .then_with(|| x.2.cmp(&y.2))
    };
    drain_keys(assets, left, keyed_levels(assets), 0, descending, &mut out);
    out
}

/// The level part of [`drain`] over keys in `order` whose prefixes are levels at `scale`.
fn drain_keys<K: Keyed>(
    assets: &[Asset],
    left: Decimal,
    mut keyed: Vec<K>,
    scale: u32,
    order: impl Fn(&K, &K) -> std::cmp::Ordering + Copy,
    out: &mut [Decimal],
) {
    let per = intkey::scaled(per_weight(assets, &keyed, left), scale);
    let sorted = reach::presort(&mut keyed, per, false, order);
    let (k, lvl) = common_level(
        assets,
        &mut keyed,
        sorted,
        order,
        |sum_p, sum_w| ((sum_p - left) / sum_w).max(Decimal::ZERO),
        // Stop when the next asset is already at or below the level reached.
        |lvl, next| lvl >= next,
    );
    for key in &keyed[..k] {
        let i = key.idx();
        let a = &assets[i];
        out[i] = -(a.value - a.weight * lvl).max(Decimal::ZERO).min(a.value);
    }
}

/// An asset's level with an integer prefix, `(⌊level⌋, level, index)`: the prefix settles most
/// comparisons of the selection.
type Key = (i128, Decimal, usize);

/// The keyed levels of the assets with a positive weight (the only ones a water-fill moves).
fn keyed_levels(assets: &[Asset]) -> Vec<Key> {
    assets
        .iter()
        .enumerate()
        // `> 0` without a Decimal comparison: neither zero (of either sign) nor negative.
        .filter(|(_, a)| !a.weight.is_zero() && !a.weight.is_sign_negative())
        .map(|(i, a)| {
            let l = level(a);
            (fast::floor_i128(l), l, i)
        })
        .collect()
}

/// `⌈amount / w⌉` (an integer bound) for the first keyed asset's weight `w`: the amount per
/// unit of weight when the weights are equal, a guess for [`reach::presort`] otherwise.
fn per_weight<K: Keyed>(assets: &[Asset], keyed: &[K], amount: Decimal) -> i128 {
    let Some(i) = keyed.first().map(Keyed::idx) else {
        return 0;
    };
    let w = assets[i].weight;
    let a = if w == Decimal::ONE {
        amount
    } else {
        amount.checked_div(w).unwrap_or(Decimal::MAX)
    };
    fast::floor_i128(a) + 1
}

/// The common level of a water-fill and how many assets reach it: walks the levels in `order`,
/// summing values and weights, and stops at the first prefix whose `level(Σp, Σw)` has
/// `reached(level, next asset's level)`. Returns `(k, L)`; the first `k` keys are then sorted.
///
/// Usually only a few of the levels move: select the first `want` in `order` (O(n)), sort just
/// those, and widen the window only if the level passes them — the same `k` and `L` as sorting
/// everything, since the order is total and `select_nth` leaves the next element in its sorted
/// place. A wider window selects and sorts only past the sorted prefix and continues its sums
/// (the same additions in the same order as a restart). `presorted` keys are already sorted at
/// the front with the next one in place ([`reach::presort`]): the first window.
fn common_level<K: Keyed>(
    assets: &[Asset],
    keyed: &mut [K],
    presorted: usize,
    order: impl Fn(&K, &K) -> std::cmp::Ordering + Copy,
    level: impl Fn(Decimal, Decimal) -> Decimal,
    reached: impl Fn(Decimal, Decimal) -> bool,
) -> (usize, Decimal) {
    let n = keyed.len();
    let (mut sorted, mut summed) = (presorted, 0usize);
    let mut want = if presorted > 0 { presorted } else { 256 };
    let (mut sum_p, mut sum_w) = (Decimal::ZERO, Decimal::ZERO);
    loop {
        let window = want.min(n);
        if window > sorted {
            if window < n {
                keyed[sorted..].select_nth_unstable_by(window - sorted, order);
            }
            keyed[sorted..window].sort_unstable_by(order);
            sorted = window;
        }
        for k in summed + 1..=window {
            let a = &assets[keyed[k - 1].idx()];
            sum_p += a.value;
            sum_w += a.weight;
            let lvl = level(sum_p, sum_w);
            if k == n || reached(lvl, keyed[k].level(assets)) {
                return (k, lvl);
            }
        }
        if window == n {
            return (0, Decimal::ZERO); // no asset with a positive weight
        }
        summed = window;
        want = want.max(64).saturating_mul(4);
    }
}

mod dust;
mod intkey;
mod reach;

pub(crate) use dust::fix_dust;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::{Asset, drain, fill_up, level};

    /// The fill before the integer-keyed, windowed selection: one full sort, then the pass.
    pub(super) fn fill_full_sort(assets: &[Asset], budget: Decimal) -> Vec<Decimal> {
        let mut out = vec![Decimal::ZERO; assets.len()];
        let mut idx: Vec<(Decimal, usize)> = assets
            .iter()
            .enumerate()
            .filter(|(_, a)| a.weight > Decimal::ZERO)
            .map(|(i, a)| (level(a), i))
            .collect();
        if budget.is_zero() || idx.is_empty() {
            return out;
        }
        idx.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
        let (mut sum_p, mut sum_w) = (Decimal::ZERO, Decimal::ZERO);
        let (mut k, mut lvl) = (0, Decimal::ZERO);
        for j in 1..=idx.len() {
            let a = &assets[idx[j - 1].1];
            sum_p += a.value;
            sum_w += a.weight;
            (k, lvl) = (j, (budget + sum_p) / sum_w);
            if j == idx.len() || lvl <= idx[j].0 {
                break;
            }
        }
        for &(_, i) in &idx[..k] {
            let a = &assets[i];
            out[i] = (a.weight * lvl - a.value).max(Decimal::ZERO);
        }
        out
    }

    /// The drain before the windowed selection: one full sort, then the same pass.
    pub(super) fn drain_full_sort(assets: &[Asset], amount: Decimal) -> Vec<Decimal> {
        let mut out = vec![Decimal::ZERO; assets.len()];
        let mut idx: Vec<(Decimal, usize)> = assets
            .iter()
            .enumerate()
            .filter(|(_, a)| a.weight > Decimal::ZERO)
            .map(|(i, a)| (level(a), i))
            .collect();
        idx.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let (mut sum_p, mut sum_w) = (Decimal::ZERO, Decimal::ZERO);
        let (mut k, mut lvl) = (0, Decimal::ZERO);
        while k < idx.len() {
            let a = &assets[idx[k].1];
            sum_p += a.value;
            sum_w += a.weight;
            k += 1;
            lvl = ((sum_p - amount) / sum_w).max(Decimal::ZERO);
            if k == idx.len() || lvl >= idx[k].0 {
                break;
            }
        }
        for &(_, i) in &idx[..k] {
            let a = &assets[i];
            out[i] = -(a.value - a.weight * lvl).max(Decimal::ZERO).min(a.value);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Windows of 256, 1024, 4096 levels (widened as the level falls past them) give the
        /// full sort's result, representation included; repeated levels test the ties.
        #[test]
        fn windowed_fill_and_drain_equal_full_sort(
            rows in prop::collection::vec((0i64..2000, 1i64..50_000, 1i64..4), 1..3000),
            frac in 0u32..1000,
            equal in any::<bool>(),
        ) {
            // Equal weights (the reach guess is then a bound) or not (only a guess).
            let w0 = rows[0].2;
            let names: Vec<String> = (0..rows.len()).map(|i| format!("S{i:05}")).collect();
            let assets: Vec<Asset> = rows
                .iter()
                .zip(&names)
                .map(|((q, cents, w), s)| {
                    let price = Decimal::new(*cents, 2);
                    Asset {
                        symbol: s,
                        price,
                        quantity: Decimal::from(*q),
                        value: Decimal::from(*q) * price,
                        pnl: Decimal::ZERO,
                        weight: Decimal::from(if equal { w0 } else { *w }),
                        conid: None,
                        currency: None,
                    }
                })
                .collect();
            let total: Decimal = assets.iter().map(|a| a.value).sum();
            // From a sliver of the portfolio to nearly all of it.
            let amount = (total * Decimal::new(i64::from(frac), 3)).round_dp(2);
            prop_assume!(amount > Decimal::ZERO); // `drain` returns at once on nothing to raise
            let (got, want) = (drain(&assets, amount), drain_full_sort(&assets, amount));
            let diff = (0..got.len()).find(|&i| got[i].serialize() != want[i].serialize());
            prop_assert!(diff.is_none(), "{:?}", diff.map(|i| (i, got[i], want[i], amount, assets.len())));
            // The same portfolio receiving that amount instead.
            let (got, want) = (fill_up(&assets, amount), fill_full_sort(&assets, amount));
            let diff = (0..got.len()).find(|&i| got[i].serialize() != want[i].serialize());
            prop_assert!(diff.is_none(), "{:?}", diff.map(|i| (i, got[i], want[i], amount, assets.len())));
        }
    }
}
