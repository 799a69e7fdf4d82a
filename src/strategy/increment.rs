//! Increment granularity: parity with the original Python tool's `-i N` (steps of 10^N dollars).
//!
//! The original (`try_avoid_sell.py`) kept a min-heap of `(sign·value, pnl_key, symbol)`, popped
//! the head, added one step to its value **and to its P&L key**, pushed it back, and repeated
//! while `|cash| ≥ step`; `sign` is −1 for withdrawals, so it then takes steps from the largest
//! values. `hard_rebalance` rounded `T_i − p_i` to the step (Python `round`, half-to-even).
//! Shares are `round(value / price)`, half-to-even. We reproduce that exactly with Decimals
//! (the original used floats, so it may differ from us on ties that floats got wrong), and fix
//! its bugs: a sale never exceeds the holding (an asset that cannot give a whole step leaves the
//! heap), zero-weight holdings are never bought and are sold first, and an empty portfolio
//! plans nothing. With non-equal targets the heap key is value / weight.
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rust_decimal::{Decimal, RoundingStrategy};

use super::{Asset, PlanError, Spend};

/// Upper bound on loop iterations (steps); beyond it the user should pick a larger step.
const MAX_STEPS: u64 = 20_000_000;

#[derive(Debug, PartialEq, Eq)]
struct Key {
    /// `sign · value / weight`, or `None` for "before everything" (zero-weight sells).
    level: Option<Decimal>,
    pnl: Decimal,
    idx: usize,
    symbol_rank: usize,
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        let lv = match (&self.level, &o.level) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        };
        lv.then_with(|| self.pnl.cmp(&o.pnl))
            .then_with(|| self.symbol_rank.cmp(&o.symbol_rank))
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn shares_of(value: Decimal, a: &Asset) -> Decimal {
    let n = (value / a.price).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    // A sale never exceeds the holding (the quantity may be fractional).
    n.max(-a.quantity)
}

/// Never-sell in steps: buys when `budget ≥ 0`, sells (raising `−budget`) otherwise.
pub(crate) fn never_sell(
    assets: &[Asset],
    budget: Decimal,
    step: Decimal,
) -> Result<Vec<Spend>, PlanError> {
    let sign = if budget >= Decimal::ZERO {
        Decimal::ONE
    } else {
        Decimal::NEGATIVE_ONE
    };
    let mut remaining = budget.abs();
    let steps = (remaining / step).trunc();
    if steps > Decimal::from(MAX_STEPS) {
        return Err(PlanError::Overflow(format!(
            "increment: {remaining} in steps of {step} is more than {MAX_STEPS} steps; use a larger increment"
        )));
    }
    let mut value: Vec<Decimal> = assets.iter().map(|a| a.value).collect();
    let mut heap = BinaryHeap::with_capacity(assets.len());
    // Assets are sorted by symbol, so the index is the symbol rank.
    for (i, a) in assets.iter().enumerate() {
        let level = if a.weight.is_zero() {
            if sign.is_sign_positive() {
                continue; // never buy what has no target
            }
            None
        } else if a.weight == Decimal::ONE {
            Some(sign * a.value)
        } else {
            Some(sign * a.value / a.weight)
        };
        heap.push(Reverse(Key {
            level,
            pnl: a.pnl,
            idx: i,
            symbol_rank: i,
        }));
    }
    while remaining >= step {
        let Some(Reverse(mut k)) = heap.pop() else {
            break;
        };
        let a = &assets[k.idx];
        if sign.is_sign_negative() && value[k.idx] < step {
            continue; // cannot give a whole step without selling more than held
        }
        value[k.idx] += sign * step;
        k.pnl += step;
        k.level = k.level.map(|l| {
            if a.weight == Decimal::ONE {
                l + step
            } else {
                l + step / a.weight
            }
        });
        heap.push(Reverse(k));
        remaining -= step;
    }
    Ok(assets
        .iter()
        .zip(value)
        .map(|(a, v)| {
            let x = v - a.value;
            Spend::Value(x, shares_of(x, a))
        })
        .collect())
}

/// Hard rebalance in steps: `round_half_even((T_i − p_i) / step) · step`, never selling more
/// than the holding.
pub(crate) fn hard(assets: &[Asset], targets: &[Decimal], step: Decimal) -> Vec<Spend> {
    assets
        .iter()
        .zip(targets)
        .map(|(a, t)| {
            let x = ((*t - a.value) / step)
                .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
                * step;
            let x = x.max(-a.value);
            Spend::Value(x, shares_of(x, a))
        })
        .collect()
}
