//! The root lower-bound proof for inputs with more free assets than the search takes
//! ([`MAX_EXACT_ASSETS`](super::MAX_EXACT_ASSETS)): there the proof is only "the incumbent meets
//! the bound of the whole problem", `Bounds::new(..).at(0, budget) >= incumbent`.
//!
//! Why a path of its own: at 10^3 assets that one comparison cost more than the rest of the
//! plan (~1 ms: per-suffix tables, two Decimal divisions per asset, Decimal-keyed sorts) and
//! nearly always fails. This computes the very same Decimal values with the same operations in
//! the same order — so the answer is the same bit for bit, rounding included — but only those
//! the lexicographic comparison needs: the primary (squared) term first, the spend and the
//! absolute term only when the primary terms tie; the cut list only when the budget binds; no
//! per-suffix tables; sorts on exact integer keys; the per-asset floors of quotients on
//! integers ([`crate::strategy::fast::quotient_floor`]). A property test compares the answer
//! with the full bound on random inputs.
use std::cmp::{Ordering, Reverse};

use rust_decimal::Decimal;

use super::{Cut, Item, Quad, Reach, Relax, fill_cost, recip, sell, weighted_square};

mod int;

/// Whether the root bound proves the plan `n` optimal: the answer of the full bound (see the
/// module docs). `order` lists the assets with a choice in index order; `free_budget` is the
/// budget left after the assets without one. Exact integers decide where they can
/// ([`int::proves`]), Decimals otherwise. Buy-only plans (never-sell deposits) go straight to
/// the Decimal path: there the budget binds as a rule (a deposit that covers every shortfall
/// is rare), which the integers leave to it (the cut term divides).
pub(super) fn proves(
    items: &[Item],
    order: Vec<usize>,
    n: &[Decimal],
    budget: Decimal,
    free_budget: Decimal,
    cash_k: Option<Decimal>,
    buy_only: bool,
) -> bool {
    if !buy_only && let Some(answer) = int::proves(items, &order, n, budget, free_budget, cash_k) {
        return answer;
    }
    proves_decimal(items, order, n, budget, free_budget, cash_k)
}

/// [`proves`] on Decimals: the reference of the integer path, and its fallback.
fn proves_decimal(
    items: &[Item],
    mut order: Vec<usize>,
    n: &[Decimal],
    budget: Decimal,
    free_budget: Decimal,
    cash_k: Option<Decimal>,
) -> bool {
    // The incumbent's terms are summed in index order; keep it before sorting.
    let by_index = order.clone();
    let inc = Incumbent {
        items,
        n,
        free: &by_index,
    };
    let mut inc0 = inc.primary();
    if let Some(kc) = cash_k {
        let spent: Decimal = n.iter().zip(items).map(|(n, it)| *n * it.price).sum();
        inc0 = inc0.saturating_add(sell::cash_cost(kc, budget - spent).0);
    }
    sort_by_price_desc(items, &mut order);
    let reach = Reach::new(items, &order, free_budget);

    let root = Root::new(items, &order);
    if root.min_spend > free_budget {
        return false;
    }
    let b = match &reach {
        Some(r) => match r.max_below(0, free_budget) {
            Some(b) => b,
            None => return false,
        },
        None => free_budget,
    };
    match root.primary(items, &order, b).cmp(&inc0) {
        Ordering::Less => return false,
        Ordering::Greater => return true,
        Ordering::Equal => {}
    }
    match (-b.min(root.max_spend)).cmp(&inc.spend()) {
        Ordering::Less => return false,
        Ordering::Greater => return true,
        Ordering::Equal => {}
    }
    secondary(items, &order).bound(b) >= inc.absolute()
}

/// The incumbent's cost terms, each summed as `Cost`'s saturating addition sums it.
struct Incumbent<'a> {
    items: &'a [Item],
    n: &'a [Decimal],
    free: &'a [usize],
}

impl Incumbent<'_> {
    fn term(&self, f: impl Fn(&Item, Decimal) -> Decimal) -> Decimal {
        self.free.iter().fold(Decimal::ZERO, |acc, &i| {
            let it = &self.items[i];
            acc.saturating_add(f(it, self.n[i] * it.price))
        })
    }
    fn primary(&self) -> Decimal {
        self.term(|it, s| weighted_square(it.k, it.d - s))
    }
    fn spend(&self) -> Decimal {
        self.term(|_, s| -s)
    }
    fn absolute(&self) -> Decimal {
        self.term(|it, s| (it.d - s).abs())
    }
}

/// The root's sums of `Bounds::new` (same operations, same order: last asset first).
struct Root {
    min_spend: Decimal,
    max_spend: Decimal,
    prim: Quad,
}

impl Root {
    fn new(items: &[Item], order: &[usize]) -> Root {
        let mut r = Root {
            min_spend: Decimal::ZERO,
            max_spend: Decimal::ZERO,
            prim: Quad::default(),
        };
        for &i in order.iter().rev() {
            let it = &items[i];
            let (l, h) = (it.lo * it.price, it.hi * it.price);
            r.min_spend += l;
            r.max_spend += h;
            let e = it.d.max(l).min(h);
            let q = r.prim;
            r.prim = Quad {
                e: q.e + e,
                f: q.f.saturating_add(weighted_square(it.k, it.d - e)),
                inv_k: q.inv_k + recip(it.k),
                int: q.int.saturating_add(it.int_min(it.d, true)),
            };
        }
        r
    }

    /// `Bounds::prim_at(0, b)`: the cut list is built and sorted only when the budget binds.
    fn primary(&self, items: &[Item], order: &[usize], b: Decimal) -> Decimal {
        let q = &self.prim;
        let excess = q.e - b;
        if excess <= Decimal::ZERO {
            return q.unbudgeted();
        }
        let cuts: Vec<Cut> = order.iter().map(|&i| Cut::of(&items[i])).collect();
        match sorted_positions(cuts.iter().map(|c| c.mu)) {
            Some(pos) => fill_cost(q, pos.iter().map(|&j| &cuts[j as usize]), excess),
            None => {
                let mut cuts = cuts;
                cuts.sort_by_key(|c| c.mu);
                fill_cost(q, cuts.iter(), excess)
            }
        }
    }
}

/// The root's `Relax` sums of `Bounds::new` (the absolute-deviation bound).
fn secondary(items: &[Item], order: &[usize]) -> Relax {
    let mut s = Relax::default();
    for &i in order.iter().rev() {
        let it = &items[i];
        let (l, h) = (it.lo * it.price, it.hi * it.price);
        let e = it.d.max(l).min(h);
        s = Relax {
            e: s.e + e,
            f: s.f + (it.d - e).abs(),
            int: s.int + it.int_min(it.d, false),
        };
    }
    s
}

/// Exact, order-preserving integer images of `vals`: every mantissa at the largest scale.
/// `None` when one does not fit an `i128`.
fn scaled_keys(vals: impl Iterator<Item = Decimal> + Clone) -> Option<Vec<i128>> {
    let top = vals.clone().map(|v| v.scale()).max().unwrap_or(0);
    vals.map(|v| {
        v.mantissa()
            .checked_mul(10i128.checked_pow(top - v.scale())?)
    })
    .collect()
}

/// Positions of `vals` in ascending order, ties by position: the permutation of a stable
/// sort by value, computed on integer keys. `None` when the keys do not fit.
fn sorted_positions(vals: impl Iterator<Item = Decimal> + Clone) -> Option<Vec<u32>> {
    let keys = scaled_keys(vals)?;
    let mut pos: Vec<(i128, u32)> = keys.into_iter().zip(0u32..).collect();
    pos.sort_unstable();
    Some(pos.into_iter().map(|(_, j)| j).collect())
}

/// Sorts the assets by descending price, ties by index (a total order, so any sort gives the
/// same permutation), on exact integer keys where they fit.
pub(super) fn sort_by_price_desc(items: &[Item], order: &mut [usize]) {
    match scaled_keys(order.iter().map(|&i| items[i].price)) {
        Some(keys) => {
            let mut keyed: Vec<(Reverse<i128>, usize)> = keys
                .into_iter()
                .zip(order.iter())
                .map(|(k, &i)| (Reverse(k), i))
                .collect();
            keyed.sort_unstable();
            for (o, (_, i)) in order.iter_mut().zip(keyed) {
                *o = i;
            }
        }
        None => order.sort_by(|&a, &b| items[b].price.cmp(&items[a].price).then(a.cmp(&b))),
    }
}

#[cfg(test)]
mod tests;
