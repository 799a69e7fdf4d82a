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

use super::{Asset, PlanError, Spend, fast};

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
    // The integer quotient where it is provably the Decimal one (`fast`): this division and
    // rounding were a quarter of a `-i 3` plan at 10^5 rows.
    let n = fast::round_half_even_div(value, a.price).unwrap_or_else(|| {
        (value / a.price).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
    });
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
    let remaining = budget.abs();
    let steps = (remaining / step).trunc();
    if steps > Decimal::from(MAX_STEPS) {
        return Err(PlanError::Overflow(format!(
            "increment: {remaining} in steps of {step} is more than {MAX_STEPS} steps; use a larger increment"
        )));
    }
    if let Some(spend) = never_sell_fixed_point(assets, sign.is_sign_negative(), steps, step) {
        return Ok(spend);
    }
    Ok(never_sell_decimal(assets, sign, remaining, step))
}

/// The decimal heap (any weights).
fn never_sell_decimal(
    assets: &[Asset],
    sign: Decimal,
    mut remaining: Decimal,
    step: Decimal,
) -> Vec<Spend> {
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
    assets
        .iter()
        .zip(value)
        .map(|(a, v)| {
            let x = v - a.value;
            Spend::Value(x, shares_of(x, a))
        })
        .collect()
}

/// Scales `v` to an integer at `scale` decimals, when it fits an `i64` exactly.
fn fixed_point(v: Decimal, scale: u32) -> Option<i64> {
    let mut r = v;
    r.rescale(scale);
    // `rescale` saturates silently when the digits do not fit: check it is still `v`.
    if r != v {
        return None;
    }
    i64::try_from(r.mantissa()).ok()
}

/// [`never_sell`] on integers, for equal weights (every level is `sign · value`): the same
/// heap and tie-breaking on `(level, pnl, symbol rank)` with the values, P&Ls and step as
/// `i64` at their common decimal scale. Identical answers, several times faster at 10^5
/// steps than comparing 96-bit decimals. `None` (the caller takes the decimal path) when a
/// weight is not 1 or a number does not fit.
fn never_sell_fixed_point(
    assets: &[Asset],
    sells: bool,
    steps: Decimal,
    step: Decimal,
) -> Option<Vec<Spend>> {
    if assets.iter().any(|a| a.weight != Decimal::ONE) {
        return None;
    }
    let scale = assets
        .iter()
        .map(|a| a.value.scale().max(a.pnl.scale()))
        .max()
        .unwrap_or(0)
        .max(step.scale());
    let step_i = fixed_point(step, scale)?;
    let sign: i64 = if sells { -1 } else { 1 };
    let mut steps = steps;
    steps.rescale(0);
    let mut value = Vec::with_capacity(assets.len());
    let mut heap = Vec::with_capacity(assets.len());
    for (i, a) in assets.iter().enumerate() {
        let v = fixed_point(a.value, scale)?;
        let p = fixed_point(a.pnl, scale)?;
        value.push(v);
        // Headroom: at most `steps` steps, each adding `step` to a level and a P&L.
        let reach = i64::try_from(steps.mantissa()).ok()?.checked_mul(step_i)?;
        v.checked_add(reach)?;
        p.checked_add(reach)?;
        heap.push(Reverse((sign * v, p, i as u32)));
    }
    let mut heap = BinaryHeap::from(heap);
    let mut count = vec![0u64; assets.len()];
    let mut left = u64::try_from(steps.mantissa()).ok()?;
    // Keys are unique (the index is part of them), so the order of the steps is that of the
    // keys whatever the queue does; raising the top in place (one sift-down) is the same
    // sequence as pop + push at half the work.
    while left > 0 {
        let Some(mut top) = heap.peek_mut() else {
            break;
        };
        let Reverse((level, pnl, i)) = *top;
        let k = i as usize;
        if sells && value[k] < step_i {
            // Cannot give a whole step without selling more than held: leaves the heap.
            std::collections::binary_heap::PeekMut::pop(top);
            continue;
        }
        value[k] += sign * step_i;
        count[k] += 1;
        *top = Reverse((level + step_i, pnl + step_i, i));
        left -= 1;
    }
    let signed_step = if sells { -step } else { step };
    Some(
        assets
            .iter()
            .zip(count)
            .map(|(a, k)| {
                // As the decimal path computes it: (value + k·step) − value.
                let x = (a.value + Decimal::from(k) * signed_step) - a.value;
                Spend::Value(x, shares_of(x, a))
            })
            .collect(),
    )
}

/// Hard rebalance in steps: `round_half_even((T_i − p_i) / step) · step`, never selling more
/// than the holding.
pub(crate) fn hard(assets: &[Asset], targets: &[Decimal], step: Decimal) -> Vec<Spend> {
    assets
        .iter()
        .zip(targets)
        .map(|(a, t)| {
            let d = *t - a.value;
            let n = fast::round_half_even_div(d, step).unwrap_or_else(|| {
                (d / step).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
            });
            let x = n * step;
            let x = x.max(-a.value);
            Spend::Value(x, shares_of(x, a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The integer heap gives exactly the decimal heap's answer (ties included: values,
        /// P&Ls and steps collide often at these sizes).
        #[test]
        fn fixed_point_equals_decimal(
            rows in prop::collection::vec((0i64..300, 0i64..400, -50i64..50), 1..12),
            cash in -3000i64..6000,
            n in 1u32..3,
        ) {
            let names: Vec<String> = (0..rows.len()).map(|i| format!("S{i:02}")).collect();
            let assets: Vec<Asset> = rows
                .iter()
                .zip(&names)
                .map(|((q, cents, pnl), s)| {
                    let price = Decimal::new(cents + 1, 2);
                    Asset {
                        symbol: s,
                        price,
                        quantity: Decimal::from(*q),
                        value: Decimal::from(*q) * price,
                        pnl: Decimal::new(*pnl * 25, 1),
                        weight: Decimal::ONE,
                        conid: None,
                        currency: None,
                    }
                })
                .collect();
            let step = Decimal::from(10u64.pow(n));
            let budget = Decimal::from(cash);
            let sign = if cash >= 0 { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            let steps = (budget.abs() / step).trunc();
            let fast = never_sell_fixed_point(&assets, cash < 0, steps, step).unwrap();
            let slow = never_sell_decimal(&assets, sign, budget.abs(), step);
            // The 16-byte representations: scale and sign of zero included.
            let bits = |v: &[Spend]| -> Vec<([u8; 16], [u8; 16])> {
                v.iter().map(|s| match s {
                    Spend::Shares(a, b) | Spend::Value(a, b) => (a.serialize(), b.serialize()),
                }).collect()
            };
            prop_assert_eq!(bits(&fast), bits(&slow));
            prop_assert_eq!(fast, slow);
        }
    }
}
