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

use rust_decimal::Decimal;

use super::{Asset, PlanError, Spend};

mod hard;
mod int;

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
    // The integer quotient where it is provably the Decimal one (`int`, `fast`): this division
    // and rounding were a quarter of a `-i 3` plan at 10^5 rows.
    let n = int::round_div(value, a.price);
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

/// [`never_sell`] on integers, for equal weights (every level is `sign · value`): the same
/// heap and tie-breaking on `(level, pnl, symbol rank)` with the values, P&Ls and step as
/// `i64` at their common decimal scale. Identical answers, several times faster at 10^5
/// steps than comparing 96-bit decimals; a deposit does not even run the heap but counts
/// each asset's steps from the last level it reaches (`int::buy_counts`). `None` (the caller
/// takes the decimal path) when a weight is not 1 or a number does not fit.
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
    let step_i = int::fixed_point(step, scale)?;
    let mut steps = steps;
    steps.rescale(0);
    let left = u64::try_from(steps.mantissa()).ok()?;
    // Headroom: at most `steps` steps, each adding `step` to a level and a P&L.
    let reach = i64::try_from(left).ok()?.checked_mul(step_i)?;
    let mut value = Vec::with_capacity(assets.len());
    let mut pnl = Vec::with_capacity(assets.len());
    for a in assets {
        let v = int::fixed_point(a.value, scale)?;
        let p = int::fixed_point(a.pnl, scale)?;
        v.checked_add(reach)?;
        p.checked_add(reach)?;
        value.push(v);
        pnl.push(p);
    }
    let count = if sells {
        heap_counts(value, &pnl, step_i, left, true)
    } else {
        match int::buy_counts(&value, &pnl, step_i, left) {
            Some(c) => c,
            None => heap_counts(value, &pnl, step_i, left, false),
        }
    };
    let signed_step = if sells { -step } else { step };
    Some(
        assets
            .iter()
            .zip(count)
            .map(|(a, k)| {
                // As the decimal path computes it: (value + k·step) − value. With no step that
                // is `value − value`: a positive zero at the value's scale, built directly (most
                // assets take no step), except that a zero value comes back as itself, sign
                // included (`ZERO − (−0.00)` is `−0.00`).
                let x = if k == 0 {
                    if a.value.is_zero() {
                        a.value
                    } else {
                        Decimal::new(0, a.value.scale())
                    }
                } else {
                    (a.value + Decimal::from(k) * signed_step) - a.value
                };
                Spend::Value(x, shares_of(x, a))
            })
            .collect(),
    )
}

/// The steps each asset gets from the integer heap of [`never_sell_fixed_point`].
fn heap_counts(
    mut value: Vec<i64>,
    pnl: &[i64],
    step_i: i64,
    mut left: u64,
    sells: bool,
) -> Vec<u64> {
    let sign: i64 = if sells { -1 } else { 1 };
    let heap: Vec<_> = (0..value.len())
        .map(|i| Reverse((sign * value[i], pnl[i], i as u32)))
        .collect();
    let mut heap = BinaryHeap::from(heap);
    let mut count = vec![0u64; value.len()];
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
    count
}

/// Hard rebalance in steps: `round_half_even((T_i − p_i) / step) · step`, never selling more
/// than the holding.
pub(crate) fn hard(assets: &[Asset], targets: &[Decimal], step: Decimal) -> Vec<Spend> {
    // Nearly every row on integers ([`hard`]); the others as the reference plans them.
    let mut rows = hard::Rows::new(step);
    assets
        .iter()
        .zip(targets)
        .map(|(a, &t)| {
            let (x, n) = rows.row(a, t).unwrap_or_else(|| hard_row(a, t, step));
            Spend::Value(x, n)
        })
        .collect()
}

/// One row of [`hard`] on `Decimal`s (value traded, shares traded): the target's distance
/// rounded to whole steps, a sale never beyond the holding.
fn hard_row(a: &Asset, t: Decimal, step: Decimal) -> (Decimal, Decimal) {
    let d = t - a.value;
    let n = int::round_div(d, step);
    let x = n * step;
    let x = x.max(-a.value);
    (x, shares_of(x, a))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Found by review: a holding whose value is a negative zero (possible through the library
    /// API) that takes no step. The decimal path returns `value` itself for a zero value
    /// (`0·step` is `ZERO`, and `ZERO − (−0.00)` keeps the sign), so the fast path must too.
    #[test]
    fn a_negative_zero_value_without_a_step_keeps_its_sign() {
        let names = ["A", "B"];
        let asset = |i: usize, quantity: i64, value: Decimal| Asset {
            symbol: names[i],
            price: Decimal::TEN,
            quantity: Decimal::from(quantity),
            value,
            pnl: Decimal::ZERO,
            weight: Decimal::ONE,
            conid: None,
            currency: None,
        };
        let assets = [
            asset(0, 0, -Decimal::new(0, 2)),
            asset(1, 100, Decimal::from(1000)),
        ];
        let bits = |v: &[Spend]| -> Vec<[u8; 16]> {
            v.iter()
                .map(|s| match s {
                    Spend::Shares(a, _) | Spend::Value(a, _) => a.serialize(),
                })
                .collect()
        };
        // A withdrawal of one step (sold from B) and a deposit below one step (no step at all).
        for (budget, step) in [(-100i64, 100i64), (5, 10)] {
            let (budget, step) = (Decimal::from(budget), Decimal::from(step));
            let sign = if budget < Decimal::ZERO {
                Decimal::NEGATIVE_ONE
            } else {
                Decimal::ONE
            };
            let steps = (budget.abs() / step).trunc();
            let fast =
                never_sell_fixed_point(&assets, budget < Decimal::ZERO, steps, step).unwrap();
            let slow = never_sell_decimal(&assets, sign, budget.abs(), step);
            assert_eq!(bits(&fast), bits(&slow), "budget {budget}, step {step}");
        }
    }

    proptest! {
        /// The integer heap gives exactly the decimal heap's answer (ties included: values,
        /// P&Ls and steps collide often at these sizes).
        #[test]
        fn fixed_point_equals_decimal(
            rows in prop::collection::vec((-5i64..300, 0i64..400, -50i64..50), 1..12),
            cash in -3000i64..6000,
            n in 1u32..3,
        ) {
            let names: Vec<String> = (0..rows.len()).map(|i| format!("S{i:02}")).collect();
            let assets: Vec<Asset> = rows
                .iter()
                .zip(&names)
                .enumerate()
                .map(|(i, ((q, cents, pnl), s))| {
                    // Prices at 2 to 4 decimals: values at several scales.
                    let price = Decimal::new((cents + 1) * 10i64.pow(i as u32 % 3), 2 + i as u32 % 3);
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

        /// The deposit's step counts without the heap equal the heap's, on integers with many
        /// ties of level and P&L, and with as many steps as assets or far more.
        #[test]
        fn buy_counts_equal_heap(
            rows in prop::collection::vec((-40i64..400, -20i64..20), 1..60),
            step in 1i64..50,
            steps in 0u64..3000,
        ) {
            let value: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let pnl: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let want = heap_counts(value.clone(), &pnl, step, steps, false);
            prop_assert_eq!(int::buy_counts(&value, &pnl, step, steps), Some(want));
        }
    }
}
