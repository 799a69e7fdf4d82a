//! [`proves`](super::proves) on exact integers, for the usual case: the budget does not bind
//! the relaxation (`Σ e ≤ b`), so each term of the root bound — weighted squares, spends,
//! absolute deviations, per-asset integer minima — is a sum without a division, and so is
//! each term of the incumbent; the answer is their lexicographic comparison.
//!
//! Why: at 10^3 rows the root proof cost about a third of the whole run (~3.5 M instructions:
//! per asset ~20 Decimal operations, the integer minimum's three weighted squares among them).
//! Here each is a few `i128` operations.
//!
//! Why it is exact: every value is computed at a common scale (`sd`: the largest scale of the
//! prices, deviations and budgets; squares at `2·sd + sk ≤ 28`), each at least the natural
//! scale of the same Decimal value (quantities must be at scale 0), and every value and
//! partial sum is checked below 2^96 — so each Decimal operation of the reference
//! (`Root::new`, `secondary`, `Incumbent`, `Item::int_min`, `sell::cash_cost`) is exact,
//! saturates nowhere, and equals the integer, whatever the order of summation. The integer
//! minimum's floor is the reference's own ([`quotient_floor_int`]: `None` where the reference
//! would take the Decimal division). Anything else — a quantity at another scale, a scale
//! beyond 28, an overflow, a budget that binds (the cut term divides) — answers `None`, and the
//! Decimal path decides.
use std::cmp::Ordering;

use rust_decimal::Decimal;

use super::super::Item;
use crate::strategy::fast::quotient_floor_int;
use crate::strategy::mantissa::{LIMIT, POW10_I, mul_bounded};

fn fit(v: i128) -> Option<i128> {
    (v.unsigned_abs() < LIMIT).then_some(v)
}

fn add(a: i128, b: i128) -> Option<i128> {
    fit(a + b)
}

/// `v · 10^s` if `s ≥ scale(v)` and it fits.
fn at(v: Decimal, s: u32) -> Option<i128> {
    let vs = v.scale();
    if vs > s {
        return None;
    }
    mul_bounded(v.mantissa(), POW10_I[(s - vs) as usize])
}

/// The common scales.
struct Scales {
    /// Prices, spends (quantities are at scale 0), deviations, budgets.
    sd: u32,
    /// Weight factors.
    sk: u32,
}

impl Scales {
    fn new(items: &[Item], order: &[usize], budgets: [Decimal; 2]) -> Option<Scales> {
        let (mut sp, mut sd, mut sk) = (0, budgets[0].scale().max(budgets[1].scale()), 0);
        for &i in order {
            let it = &items[i];
            sp = sp.max(it.price.scale());
            sd = sd.max(it.d.scale());
            sk = sk.max(it.k.scale());
        }
        let sd = sd.max(sp);
        (2 * sd + sk <= 28).then_some(Scales { sd, sk })
    }

    /// `k · v²` for `v` at `sd`, at the square scale (`k·v` first: both factors of each
    /// product then stay below 2^64 in the usual range).
    fn square(&self, k: i128, v: i128) -> Option<i128> {
        mul_bounded(mul_bounded(k, v)?, v)
    }
}

/// A quantity at scale 0 as an integer below 2^63 (another scale would raise the natural
/// scale of its spend above `sd`).
fn whole(v: Decimal) -> Option<i128> {
    let m = v.mantissa();
    (v.scale() == 0 && m.unsigned_abs() < 1 << 63).then_some(m)
}

/// One asset at the common scales.
struct Row {
    /// Price at `sd`.
    p: i128,
    d: i128,
    k: i128,
    lo: i128,
    hi: i128,
}

impl Row {
    fn of(it: &Item, s: &Scales) -> Option<Row> {
        Some(Row {
            p: at(it.price, s.sd)?,
            d: at(it.d, s.sd)?,
            k: at(it.k, s.sk)?,
            lo: whole(it.lo)?,
            hi: whole(it.hi)?,
        })
    }
    /// `d − n·P` at `sd`.
    fn dev(&self, n: i128) -> Option<i128> {
        fit(self.d - mul_bounded(n, self.p)?)
    }
    /// `Item::int_min(d, true)` and `Item::int_min(d, false)`: the least weighted square and
    /// the least absolute deviation over `⌊d/P⌋`, `⌊d/P⌋ + 1` (clamped) and `lo`.
    fn int_min(&self, it: &Item, s: &Scales) -> Option<(i128, i128)> {
        let f = quotient_floor_int(it.d, it.price)?;
        let clamp = |n: i128| {
            if n < self.lo {
                self.lo
            } else if n > self.hi {
                self.hi
            } else {
                n
            }
        };
        let v = self.dev(self.lo)?;
        let (mut sq, mut abs) = (s.square(self.k, v)?, v.abs());
        for n in [clamp(f), clamp(f.checked_add(1)?)] {
            let v = self.dev(n)?;
            sq = sq.min(s.square(self.k, v)?);
            abs = abs.min(v.abs());
        }
        Some((sq, abs))
    }
}

/// The answer of `proves` where the integers decide it (see the module docs). `order` lists
/// the assets with a choice in index order.
pub(super) fn proves(
    items: &[Item],
    order: &[usize],
    n: &[Decimal],
    budget: Decimal,
    free_budget: Decimal,
    cash_k: Option<Decimal>,
) -> Option<bool> {
    // The reachable-spend table (`Reach`) applies only where every lower limit is zero.
    if order.iter().all(|&i| items[i].lo.is_zero()) {
        return None;
    }
    let s = Scales::new(items, order, [budget, free_budget])?;
    let free = at(free_budget, s.sd)?;
    // The incumbent's terms and the root's sums (`Root::new`, `secondary`).
    let (mut inc, mut root) = (Terms::default(), Terms::default());
    let (mut min_spend, mut max_spend, mut e_sum) = (0, 0, 0);
    for &i in order {
        let it = &items[i];
        let r = Row::of(it, &s)?;
        let q = whole(n[i])?;
        let v = r.dev(q)?;
        inc.add(s.square(r.k, v)?, mul_bounded(q, r.p)?, v.abs())?;
        let (l, h) = (mul_bounded(r.lo, r.p)?, mul_bounded(r.hi, r.p)?);
        min_spend = add(min_spend, l)?;
        max_spend = add(max_spend, h)?;
        let e = r.d.max(l).min(h);
        e_sum = add(e_sum, e)?;
        let gap = fit(r.d - e)?;
        root.add(s.square(r.k, gap)?, 0, gap.abs())?;
        let (sq, abs) = r.int_min(it, &s)?;
        root.int_sq = add(root.int_sq, sq)?;
        root.int_abs = add(root.int_abs, abs)?;
    }
    let mut inc0 = inc.sq;
    if let Some(kc) = cash_k {
        // The excess cash `budget − Σ n·P` over every asset.
        let mut spent = 0;
        for (q, it) in n.iter().zip(items) {
            spent = add(spent, mul_bounded(whole(*q)?, at(it.price, s.sd)?)?)?;
        }
        let excess = fit(at(budget, s.sd)? - spent)?;
        inc0 = add(inc0, s.square(at(kc, s.sk)?, excess)?)?;
    }
    if min_spend > free {
        return Some(false);
    }
    let b = free;
    if e_sum > b {
        return None; // the budget binds: the cut term divides
    }
    // The lexicographic comparison of `proves`: primary, then spend, then absolute terms
    // (`Relax::bound` with no excess is `max(f, int)`).
    for (bound, incumbent) in [
        (root.sq.max(root.int_sq), inc0),
        (-b.min(max_spend), -inc.spend),
    ] {
        match bound.cmp(&incumbent) {
            Ordering::Less => return Some(false),
            Ordering::Greater => return Some(true),
            Ordering::Equal => {}
        }
    }
    Some(root.abs.max(root.int_abs) >= inc.abs)
}

/// Sums of the three cost terms (and, for the root, of the per-asset integer minima).
#[derive(Default)]
struct Terms {
    sq: i128,
    spend: i128,
    abs: i128,
    int_sq: i128,
    int_abs: i128,
}

impl Terms {
    fn add(&mut self, sq: i128, spend: i128, abs: i128) -> Option<()> {
        self.sq = add(self.sq, sq)?;
        self.spend = add(self.spend, spend)?;
        self.abs = add(self.abs, abs)?;
        Some(())
    }
}
