//! Never-sell withdrawals in whole shares: the cash freed beyond the withdrawal is part of the
//! deviation, and no sale is larger than the withdrawal needs.
//!
//! The objective is the deposits' weighted squared deviation `Σ k_i (T_i − p_i − s_i)²` plus
//! `k_c · e²` for the excess cash `e = c − Σ s_i ≥ 0` (a holding with target 0 that is over its
//! target, `k_c = 1` like any zero-weight holding). On its own that objective would reward
//! selling far more than asked whenever a holding is well above its target — a hard rebalance
//! in disguise, which never-sell promises not to do. So the plan must also be a *minimal cover*:
//! un-selling the last unit of any sold asset (one share, or the fractional lot of a closed
//! position) would no longer raise `|c|`, i.e. `e < step_i` for every sold asset. Among the
//! minimal covers the objective decides, so on small withdrawals the sale comes from the
//! highest `p/w` (the holding most over its target), as the water-fill does.
use rust_decimal::Decimal;

use super::{Cost, Item, weighted_square};

/// Cash freed by un-selling the last unit of an asset at quantity `n` (`None` when not sold).
pub(super) fn unsell_cash(it: &Item, n: Decimal) -> Option<Decimal> {
    if n >= Decimal::ZERO {
        return None;
    }
    it.up(n).map(|to| (to - n) * it.price)
}

/// Whether every sale is needed: un-selling any one unit would leave less than `|c|` raised.
pub(super) fn is_minimal<'a>(
    excess: Decimal,
    sold: impl Iterator<Item = (&'a Item, Decimal)>,
) -> bool {
    let mut sold = sold;
    sold.all(|(it, n)| unsell_cash(it, n).is_none_or(|step| excess < step))
}

/// The excess-cash term of the cost.
pub(super) fn cash_cost(kc: Decimal, excess: Decimal) -> Cost {
    Cost(weighted_square(kc, excess), Decimal::ZERO, Decimal::ZERO)
}

/// Largest number of sold assets for which completion compares every candidate at every step
/// (O(k²)); above it a single pass in order of the assets' own cost change (O(k log k)).
const SCAN_LIMIT: usize = 2048;

/// Completes a feasible start (`Σ s ≤ c`, sales rounded away from zero) into a minimal cover:
/// while some sold unit is not needed (its cash ≤ `left`), un-sell the one that lowers the
/// cost (including the excess-cash term) most. Ties: the higher P&L keeps its shares (losses
/// are sold first), then the later symbol. `left` is the excess cash `e` and stays ≥ 0.
pub(super) fn complete(items: &[Item], n: &mut [Decimal], left: &mut Decimal, kc: Decimal) {
    let sold: Vec<usize> = (0..items.len()).filter(|&i| n[i] < Decimal::ZERO).collect();
    // Cost change of un-selling one unit of `i`, with the excess cash going from `left` to
    // `left − step`.
    let delta = |i: usize, cur: Decimal, left: Decimal| -> Option<(Cost, Decimal, Decimal)> {
        let it = &items[i];
        let step = unsell_cash(it, cur)?;
        if step > left {
            return None;
        }
        let to = it.up(cur)?;
        let cash = weighted_square(kc, left - step) - weighted_square(kc, left);
        let d = it.delta(cur, to);
        Some((Cost(d.0.saturating_add(cash), d.1, d.2), to, step))
    };
    let key = |i: usize, c: Cost| (c, -items[i].up_rank, std::cmp::Reverse(i));
    if sold.len() > SCAN_LIMIT {
        let mut by_own: Vec<(Cost, usize)> = sold
            .iter()
            .filter_map(|&i| delta(i, n[i], *left).map(|(c, _, _)| (c, i)))
            .collect();
        by_own.sort_by_key(|a| key(a.1, a.0));
        for (_, i) in by_own {
            while let Some((_, to, step)) = delta(i, n[i], *left) {
                n[i] = to;
                *left -= step;
            }
        }
        return;
    }
    loop {
        let best = sold
            .iter()
            .filter_map(|&i| delta(i, n[i], *left).map(|(c, to, step)| (key(i, c), i, to, step)))
            .min_by(|a, b| a.0.cmp(&b.0));
        let Some((_, i, to, step)) = best else {
            return;
        };
        n[i] = to;
        *left -= step;
    }
}
