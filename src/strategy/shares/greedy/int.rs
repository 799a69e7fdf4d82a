//! The greedy of [`super::complete`] on exact integers.
//!
//! Why: at 10^5 rows the Decimal greedy spent most of its time building and ordering steps:
//! one `Item::delta` per asset (~1,000 instructions even on the exact-integer path, since each
//! value is re-aligned per operation), a 128-byte step per asset, and Decimal comparisons in
//! the selection and sorts of the pool (hard whole shares: ~250 M instructions of 850 M).
//! Here every value is an `i128` at one scale per kind, chosen once for the whole run: prices,
//! spends and cash at the money scale, deviations at a scale at least that, the primary term
//! at the sum of the scales of its factors, the P&L rank at its own. A step is then a handful
//! of integer operations and its order an integer comparison.
//!
//! Why it is exact: a Decimal operation is exact when its result's mantissa at its natural
//! scale (sum of the scales for a product, the larger for a sum) is below 2^96 and that scale
//! is at most 28. Each common scale here is at least the natural scale of the same quantity,
//! so a value below 2^96 at the common scale is below 2^96 at its natural scale too: every
//! intermediate is checked against that bound (and the largest common scale against 28). Then
//! every Decimal operation of `Item::delta` is exact, so its value equals the integer's, and
//! comparing integers at one scale compares the values — which is all the greedy does with
//! them. The order (`Step`'s: integer key prefix, cost change, rank, symbol) is the order of
//! `(cost change, rank, symbol)`, since the key is a monotone prefix of the first term.
//! Anything else (a fractional quantity, a value or scale out of range, an operation that
//! would not be exact) returns `false` before `n` or `left` is touched, and the Decimal
//! greedy runs instead.
//!
//! The walk (pool of first steps consumed in sorted chunks of doubling size, follow-up steps
//! in a heap, merged) is the Decimal greedy's, so the same steps are taken in the same order;
//! the results are written back as the Decimal greedy writes them (see [`commit`]).
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rust_decimal::Decimal;

use super::super::Item;

/// `2^96`: the first magnitude a Decimal mantissa cannot hold.
const LIMIT: u128 = 1 << 96;

/// `10^k` for `k ≤ 28`.
const POW10: [i128; 29] = {
    let mut t = [1i128; 29];
    let mut k = 1;
    while k < 29 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `v` if `|v| < 2^96`.
fn fit(v: i128) -> Option<i128> {
    (v.unsigned_abs() < LIMIT).then_some(v)
}

/// `a · b` if both factors are below 2^64 and the product below 2^96.
fn mul(a: i128, b: i128) -> Option<i128> {
    let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
    if (x | y) >> 64 != 0 {
        return None;
    }
    let p = x * y;
    if p >= LIMIT {
        return None;
    }
    let p = p as i128;
    Some(if (a < 0) != (b < 0) { -p } else { p })
}

/// `v · 10^s` as an integer, if `s ≥ scale(v)` and the result is below 2^96.
fn at(v: Decimal, s: u32) -> Option<i128> {
    let vs = v.scale();
    if vs > s {
        return None;
    }
    let m = v.mantissa();
    if vs == s {
        return Some(m);
    }
    mul(m, POW10[(s - vs) as usize])
}

/// The value of an integral Decimal (`None` if it has a fraction).
fn whole(v: Decimal) -> Option<i128> {
    let (m, s) = (v.mantissa(), v.scale());
    if s == 0 {
        return Some(m);
    }
    let p = POW10[s as usize];
    (m % p == 0).then(|| m / p)
}

/// An integral Decimal as an integer below 2^63 in magnitude (a quantity).
fn integral(v: Decimal) -> Option<i128> {
    whole(v).filter(|q| q.unsigned_abs() < 1 << 63)
}

/// One step up of one asset, every term an integer at its kind's scale. The derived order
/// is the Decimal `Step`'s (fields in that order; `idx`, `to`, `cash` are never reached, the
/// symbol being unique).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Step {
    prim: i128,
    spend: i128,
    ter: i128,
    rank: i128,
    sym: i64,
    idx: u32,
    to: i128,
    cash: i128,
}

/// The common scales and the items.
struct Ctx<'a> {
    items: &'a [Item],
    n: &'a [Decimal],
    /// Prices, spends, cash.
    sm: u32,
    /// Deviations (≥ `sm`).
    sd: u32,
    /// Weight factors.
    sk: u32,
    /// P&L ranks.
    sr: u32,
}

impl<'a> Ctx<'a> {
    /// The scales, if every item's values fit them (checked once here, so that failures
    /// later are only those of the steps' own arithmetic).
    fn new(items: &'a [Item], n: &'a [Decimal], left: Decimal) -> Option<Ctx<'a>> {
        let max = |f: fn(&Item) -> Decimal| items.iter().map(|it| f(it).scale()).max();
        let sm = max(|it| it.price).unwrap_or(0).max(left.scale());
        let sd = max(|it| it.d).unwrap_or(0).max(sm);
        let (sk, sr) = (
            max(|it| it.k).unwrap_or(0),
            max(|it| it.up_rank).unwrap_or(0),
        );
        if sm + sd + sk > 28 || sr > 28 {
            return None;
        }
        let c = Ctx {
            items,
            n,
            sm,
            sd,
            sk,
            sr,
        };
        for (it, &q) in items.iter().zip(n) {
            at(it.price, sm)?;
            at(it.d, sd)?;
            at(it.k, sk)?;
            at(it.up_rank, sr)?;
            whole(it.hi)?;
            integral(q)?;
        }
        at(left, sm)?;
        Some(c)
    }

    /// Asset `i`'s step up from the integer quantity `cur`: `Ok(None)` when there is none,
    /// it costs more than `left` or it does not lower the cost (as `greedy::next_step`);
    /// `Err(())` when the integers cannot answer exactly.
    fn step(&self, i: usize, cur: i128, left: Option<i128>) -> Result<Option<Step>, ()> {
        self.step_exact(i, cur, left).ok_or(())
    }

    fn step_exact(&self, i: usize, cur: i128, left: Option<i128>) -> Option<Option<Step>> {
        let it = &self.items[i];
        let to = cur + 1;
        if whole(it.hi).is_none_or(|hi| to > hi) {
            return Some(None);
        }
        let p = at(it.price, self.sm)?;
        if left.is_some_and(|l| p > l) {
            return Some(None);
        }
        let up = POW10[(self.sd - self.sm) as usize];
        // As `Item::delta`: s = cur·P, step = P, r = d − s, prim = k·step·(step − 2r),
        // ter = |r − step| − |r|; deviations at `sd`, the rest at `sm`.
        let s = mul(mul(cur, p)?, up)?;
        let step_d = mul(p, up)?;
        let r = fit(at(it.d, self.sd)? - s)?;
        let inner = fit(fit(step_d - r)? - r)?;
        let prim = mul(mul(p, inner)?, at(it.k, self.sk)?)?;
        let ter = fit(fit(r - step_d)?.abs() - r.abs())?;
        // `(prim, −step, ter) < 0` with `step > 0`: exactly when `prim ≤ 0`.
        if prim > 0 || (prim == 0 && p <= 0) {
            return Some(None);
        }
        // A step up on a sale sells one share fewer: give it to the higher P&L first.
        let rank = at(it.up_rank, self.sr)?;
        let fewer_sold = to <= 0 && cur < 0;
        let (rank, sym) = if fewer_sold {
            (-rank, -(i as i64))
        } else {
            (rank, i as i64)
        };
        Some(Some(Step {
            prim,
            spend: -p,
            ter,
            rank,
            sym,
            idx: i as u32,
            to,
            cash: p,
        }))
    }

    /// The step of a pooled asset (one that has not moved: its quantity is still `n`'s).
    fn pooled(&self, e: u32) -> Option<Step> {
        let i = e as usize;
        let cur = integral(self.n[i])?;
        self.step(i, cur, None).ok().flatten()
    }

    /// Takes the pool's best entries — at least `take`, and every entry tied on the primary
    /// term with the worst of those — in step order. What stays in the pool is worse than
    /// all of them, as the merge needs. The selection compares integers only; full steps are
    /// built once per entry of a run of equal primary terms, to order the run.
    fn chunk(&self, pool: &mut Vec<(i128, u32)>, take: usize) -> Vec<(i128, u32)> {
        let len = pool.len();
        let mut cut = len - take;
        if take > 0 && take < len {
            pool.select_nth_unstable_by(cut, |a, b| b.0.cmp(&a.0));
            let v = pool[cut].0;
            let mut j = 0;
            while j < cut {
                if pool[j].0 == v {
                    cut -= 1;
                    pool.swap(j, cut);
                } else {
                    j += 1;
                }
            }
        }
        let mut chunk: Vec<(i128, u32)> = pool.drain(cut..).collect();
        chunk.sort_unstable_by_key(|e| e.0);
        let mut a = 0;
        while a < chunk.len() {
            let b = a + chunk[a..].iter().take_while(|e| e.0 == chunk[a].0).count();
            if b - a > 1 {
                let mut run: Vec<(Option<Step>, u32)> = chunk[a..b]
                    .iter()
                    .map(|e| (self.pooled(e.1), e.1))
                    .collect();
                run.sort_unstable_by_key(|x| x.0);
                for (slot, (_, e)) in chunk[a..b].iter_mut().zip(run) {
                    slot.1 = e;
                }
            }
            a = b;
        }
        chunk
    }
}

/// Runs the greedy of [`super::complete`] on integers. Returns `false`, with `n` and `left`
/// untouched, when the integers cannot answer exactly (see the module docs).
pub(super) fn complete(items: &[Item], n: &mut [Decimal], left: &mut Decimal) -> bool {
    let Some(taken) = walk(items, n, *left) else {
        return false;
    };
    commit(items, n, left, &taken);
    true
}

/// The walk; returns the assets of the steps taken, in order.
fn walk(items: &[Item], n: &[Decimal], left: Decimal) -> Option<Vec<u32>> {
    let c = Ctx::new(items, n, left)?;
    let mut left = at(left, c.sm)?;
    let mut pool: Vec<(i128, u32)> = Vec::with_capacity(items.len());
    let mut pool_max_cash = 0;
    for (i, &q) in n.iter().enumerate() {
        if let Some(s) = c.step(i, integral(q)?, Some(left)).ok()? {
            pool_max_cash = pool_max_cash.max(s.cash);
            pool.push((s.prim, i as u32));
        }
    }
    let mut taken = Vec::new();
    let mut heap: BinaryHeap<Reverse<Step>> = BinaryHeap::new();
    let mut k = 64;
    loop {
        let take = k.min(pool.len());
        let chunk = c.chunk(&mut pool, take);
        let mut pos = 0;
        let mut head: Option<Step> = None;
        loop {
            if head.is_none() {
                head = chunk.get(pos).and_then(|e| c.pooled(e.1));
            }
            let from_chunk = match (&head, heap.peek()) {
                (Some(a), Some(Reverse(b))) => a < b,
                (Some(_), None) => true,
                (None, Some(_)) if pool.is_empty() => false,
                _ => break,
            };
            let step = if from_chunk {
                pos += 1;
                head.take()
            } else {
                heap.pop().map(|Reverse(s)| s)
            };
            let Some(s) = step else {
                break;
            };
            if s.cash > left {
                continue;
            }
            left -= s.cash;
            taken.push(s.idx);
            if let Some(next) = c.step(s.idx as usize, s.to, Some(left)).ok()? {
                heap.push(Reverse(next));
            }
        }
        if pool_max_cash > left {
            let budget = left;
            pool.retain(|&(_, e)| at(items[e as usize].price, c.sm).is_some_and(|p| p <= budget));
            pool_max_cash = budget;
        }
        if pool.is_empty() && heap.is_empty() {
            break;
        }
        k = k.saturating_mul(2);
    }
    Some(taken)
}

/// Writes the steps taken back as the Decimal greedy does: `n[i] = Item::up(n[i])` and
/// `left −= (to − cur)·P` per step, in order (the same Decimal operations, so the same
/// representations).
fn commit(items: &[Item], n: &mut [Decimal], left: &mut Decimal, taken: &[u32]) {
    for &e in taken {
        let (i, it) = (e as usize, &items[e as usize]);
        let cur = n[i];
        if let Some(to) = it.up(cur) {
            *left -= (to - cur) * it.price;
            n[i] = to;
        }
    }
}

#[cfg(test)]
mod tests;
