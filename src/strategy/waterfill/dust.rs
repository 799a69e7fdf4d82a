//! Exact granularity: the trades must net to the budget, never beyond it.
//!
//! Why: the continuous trades come from divisions, which leave dust in the 28th digit, so
//! `Σ x_i` can miss the budget by ~1e-20 either way. Above the budget means spending more cash
//! than was given, or freeing less than a withdrawal asked: a money path, so it fails closed.
//! Below it (a hair of cash left over) is safe.
use rust_decimal::Decimal;

use super::super::{Asset, PlanError};

/// How many trades are tried at each step (each try re-adds every trade).
const DUST_TRIES: usize = 8;

/// The largest miss treated as rounding dust; anything larger is a real over-spend.
fn dust_limit() -> Decimal {
    Decimal::new(1, 12)
}

/// Makes `Σ x` equal `budget` when one trade can take the dust exactly (the largest first: it
/// moves least in relative terms); otherwise, when the sum is above the budget, cuts one trade
/// by the dust rounded down to its last digit, so the plan ends a hair under. No trade changes
/// direction or sells more than is held. Refuses the plan, with the numbers, when neither works
/// or when the sum is above the budget by more than dust.
pub(crate) fn fix_dust(
    mut x: Vec<Decimal>,
    budget: Decimal,
    assets: &[Asset],
) -> Result<Vec<Decimal>, PlanError> {
    let sum: Decimal = x.iter().sum();
    let diff = budget - sum;
    if diff.is_zero() {
        return Ok(x);
    }
    if diff.abs() > dust_limit() {
        return if diff > Decimal::ZERO {
            Ok(x)
        } else {
            Err(over(sum, budget))
        };
    }
    let mut order: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_zero()).collect();
    order.sort_by(|&a, &b| x[b].abs().cmp(&x[a].abs()).then(a.cmp(&b)));
    // When a trade's 28 significant digits cannot hold the correction (`x + diff` rounds
    // back), the next largest is tried (found by the bands property test: three 1/3 weights,
    // cash −501, freed 500.99999999999999999999999996).
    let exact = |i: usize, x: &[Decimal]| Some(x[i] + diff);
    if try_trades(&mut x, &order, assets, exact, |t| t == budget) {
        return Ok(x);
    }
    if diff > Decimal::ZERO {
        return Ok(x);
    }
    let cut = |i: usize, x: &[Decimal]| cut_down(x[i], diff);
    if try_trades(&mut x, &order, assets, cut, |t| t <= budget) {
        return Ok(x);
    }
    Err(over(sum, budget))
}

/// Sets the first of `order`'s trades (at most [`DUST_TRIES`] tried) whose new amount is
/// allowed and makes the total pass `accept`; false (and `x` unchanged) when none does.
fn try_trades(
    x: &mut [Decimal],
    order: &[usize],
    assets: &[Asset],
    new_amount: impl Fn(usize, &[Decimal]) -> Option<Decimal>,
    accept: impl Fn(Decimal) -> bool,
) -> bool {
    let mut tries = 0;
    for &i in order {
        let before = x[i];
        let Some(amount) = new_amount(i, x) else {
            continue;
        };
        if !allowed(before, amount, assets[i].value) {
            continue;
        }
        x[i] = amount;
        if accept(x.iter().sum()) {
            return true;
        }
        x[i] = before;
        tries += 1;
        if tries == DUST_TRIES {
            break;
        }
    }
    false
}

/// A corrected amount keeps its trade's direction and sells at most the holding.
fn allowed(before: Decimal, amount: Decimal, held: Decimal) -> bool {
    let same_way = if before > Decimal::ZERO {
        amount >= Decimal::ZERO
    } else {
        amount <= Decimal::ZERO
    };
    same_way && amount >= -held
}

/// `x + diff` (`diff < 0`) rounded down to a digit `x` can hold: at most a few last-digit steps
/// below the rounded sum, so the cut is at least `|diff|`.
fn cut_down(x: Decimal, diff: Decimal) -> Option<Decimal> {
    let mut amount = x + diff;
    for _ in 0..4 {
        if amount - x <= diff {
            return Some(amount);
        }
        amount = amount.checked_sub(Decimal::new(1, amount.scale()))?;
    }
    None
}

fn over(sum: Decimal, budget: Decimal) -> PlanError {
    PlanError::Overflow(format!(
        "the exact trades net {sum}, more than the budget {budget}, and no trade can take the \
         difference without selling more than is held; use --granularity shares"
    ))
}

#[cfg(test)]
#[path = "dust_tests.rs"]
mod tests;
