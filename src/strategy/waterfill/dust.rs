//! Exact granularity: the trades must net to the budget, never beyond it.
//!
//! Why: the continuous trades come from divisions, which leave dust in the 28th digit, so
//! `Σ x_i` can miss the budget by ~1e-20 either way. Above the budget means spending more cash
//! than was given, or freeing less than a withdrawal asked: a money path, so it fails closed.
//! Below it (a hair of cash left over) is safe.
use rust_decimal::Decimal;

use super::super::{Asset, PlanError};

/// How many trades the exact correction tries (each try re-adds every trade).
const EXACT_TRIES: usize = 8;
/// How many trades the cut tries, and how many sizes on each (see [`cut_sizes`]).
const CUT_TRADES: usize = 3;

/// Whether a miss of `miss` dollars is rounding dust: at most 1e-12 dollars, or 1e-16 of the
/// amounts, or 1e-27 of the raw weights' sum per asset. The last is for very large raw weights
/// (validation accepts up to 1e15 each): each target is the weight times the value per unit of
/// weight, a quotient with 28 decimals, so its error grows with the weight (found by review:
/// 72 weights near 1e15 missed by 1.3e-12 on a $36,000 plan). Anything larger is a real
/// over-spend, which no correction should hide.
fn is_dust(miss: Decimal, magnitude: impl Fn() -> Decimal, assets: &[Asset]) -> bool {
    if miss <= Decimal::new(1, 12) {
        return true;
    }
    // Only here, past the cheap bound: O(n) sums the common case does not pay.
    if miss <= magnitude() * Decimal::new(1, 16) {
        return true;
    }
    let weights: Decimal = assets.iter().map(|a| a.weight).sum();
    let n = Decimal::from(assets.len());
    miss <= weights * n * Decimal::new(1, 27)
}

/// Makes the trades net exactly `budget` when one trade can take the dust (the largest first:
/// it moves least in relative terms); otherwise, when they net above the budget, cuts one trade
/// a little more than the dust, so the plan ends a hair under. No trade changes direction or
/// sells more than is held. Refuses the plan, with the numbers, only when no trade has room or
/// the miss is more than dust.
///
/// The sums are `Decimal` sums in trade order, the very sums the plan reports as cash used, so
/// "within the budget" holds for what the plan shows; each is rounded to 28 significant digits
/// at most, and the orders themselves are cut to whole units of the broker's precision toward
/// zero, which keeps the money actually spent below the trades.
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
    // The amounts' size, for the relative bounds: only summed when a bound needs it.
    let magnitude = |x: &[Decimal]| x.iter().map(|v| v.abs()).sum::<Decimal>() + budget.abs();
    if !is_dust(diff.abs(), || magnitude(&x), assets) {
        return if diff > Decimal::ZERO {
            Ok(x)
        } else {
            Err(over(sum, budget, "more than rounding dust"))
        };
    }
    let mut order = Largest::new(&x);
    // When a trade's 28 significant digits cannot hold the correction (`x + diff` rounds
    // back), the next largest is tried (found by the bands property test: three 1/3 weights,
    // cash −501, freed 500.99999999999999999999999996).
    let mut tries = 0;
    let mut k = 0;
    while let Some(i) = order.get(k, &x) {
        k += 1;
        let (before, amount) = (x[i], x[i] + diff);
        if !allowed(before, amount, assets[i].value) {
            continue;
        }
        x[i] = amount;
        if x.iter().sum::<Decimal>() == budget {
            return Ok(x);
        }
        x[i] = before;
        tries += 1;
        if tries == EXACT_TRIES {
            break;
        }
    }
    if diff > Decimal::ZERO {
        return Ok(x);
    }
    let size = magnitude(&x);
    if cut(&mut x, &mut order, assets, budget, -diff, size) {
        return Ok(x);
    }
    Err(over(
        sum,
        budget,
        "and no trade has room to take the difference",
    ))
}

/// The non-zero trades' indices, largest `|x|` first (ties: lower index first), ordered only
/// as far as they are read.
///
/// Why: the largest trade nearly always takes the dust, and sorting every trade first cost
/// more than the rest of the correction (~18M instructions at 10^5 rows). Each time the
/// reader passes the ordered head, the next least entries of the rest (1, 2, 4, … of them,
/// so reading everything stays `O(n log n)`) are selected and sorted; the order is total, so
/// the sequence is the full sort's. `x` must be the trades the order was begun with (the
/// callers restore every trade they try before reading on).
struct Largest {
    order: Vec<usize>,
    sorted: usize,
    chunk: usize,
}

impl Largest {
    fn new(x: &[Decimal]) -> Largest {
        let order = (0..x.len()).filter(|&i| !x[i].is_zero()).collect();
        Largest {
            order,
            sorted: 0,
            chunk: 1,
        }
    }

    /// The `k`-th largest trade, reading in order (`k` at most one past the last read).
    fn get(&mut self, k: usize, x: &[Decimal]) -> Option<usize> {
        if k >= self.order.len() {
            return None;
        }
        if k >= self.sorted {
            let by = |&a: &usize, &b: &usize| x[b].abs().cmp(&x[a].abs()).then(a.cmp(&b));
            let rest = &mut self.order[self.sorted..];
            let c = self.chunk.min(rest.len());
            if c < rest.len() {
                rest.select_nth_unstable_by(c - 1, by);
            }
            rest[..c].sort_by(by);
            self.sorted += c;
            self.chunk *= 2;
        }
        Some(self.order[k])
    }
}

/// Cuts one of the largest trades with room by the first of [`cut_sizes`] after which the
/// trades net at most `budget`; false (and `x` unchanged) when none works.
///
/// Why more than the miss: the sums round. Cutting by exactly the miss often leaves the
/// rounded total where it was (a partial sum needs a 29th digit and drops it), so ordinary
/// plans were refused (found by review: 90 of 500 deposits of ~$71,000 on eleven holdings).
fn cut(
    x: &mut [Decimal],
    order: &mut Largest,
    assets: &[Asset],
    budget: Decimal,
    miss: Decimal,
    magnitude: Decimal,
) -> bool {
    let mut trades = 0;
    let mut k = 0;
    while let Some(i) = order.get(k, x) {
        k += 1;
        let before = x[i];
        let mut fits = false;
        for size in cut_sizes(miss, magnitude) {
            let Some(amount) = before.checked_sub(size) else {
                break;
            };
            if !allowed(before, amount, assets[i].value) {
                break;
            }
            fits = true;
            x[i] = amount;
            if x.iter().sum::<Decimal>() <= budget {
                return true;
            }
        }
        x[i] = before;
        if fits {
            trades += 1;
            if trades == CUT_TRADES {
                break;
            }
        }
    }
    false
}

/// The cuts tried on one trade, smallest first: the miss, then the miss plus 1, 10, … 10^6
/// rounding steps of the sums (a step: 1e-27 of the amounts, at least the last digit any
/// partial sum of them can drop), so the largest is ~1e-21 of the plan.
fn cut_sizes(miss: Decimal, magnitude: Decimal) -> impl Iterator<Item = Decimal> {
    let step = (magnitude * Decimal::new(1, 27)).max(Decimal::new(1, 28));
    std::iter::once(miss).chain((0..=6).map(move |k| miss + step * Decimal::from(10i64.pow(k))))
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

fn over(sum: Decimal, budget: Decimal, why: &str) -> PlanError {
    PlanError::Overflow(format!(
        "the exact trades net {sum}, above the budget {budget} {why}; \
         use --granularity shares"
    ))
}

#[cfg(test)]
#[path = "dust_tests.rs"]
mod tests;
