//! Greedy completion of the whole-share start: buy (or un-sell) one share at a time, always
//! the affordable step that lowers the cost most. See [`complete`].
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rust_decimal::Decimal;

use super::{Cost, Item, exact};

mod int;
pub(in crate::strategy::shares) use int::solve_wide;

#[derive(Clone, PartialEq, Eq)]
pub(super) struct Step {
    /// `⌊primary delta · 10^10⌋` as an integer ([`int_key`]): a monotone prefix of the order
    /// below that settles almost every comparison without comparing Decimals.
    key: i128,
    delta: Cost,
    rank: Decimal,
    /// Symbol order: ascending for buys; descending when the step sells one share fewer
    /// (so the earlier symbol keeps selling — "then symbol" for sales too).
    sym: isize,
    idx: usize,
    to: Decimal,
    /// Cash the step costs; valid while the asset's quantity is unchanged (an asset has one
    /// live step at a time, and it is replaced whenever the asset moves).
    cash: Decimal,
}
impl Ord for Step {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key
            .cmp(&o.key)
            .then_with(|| self.delta.cmp(&o.delta))
            .then_with(|| self.rank.cmp(&o.rank))
            .then_with(|| self.sym.cmp(&o.sym))
    }
}
impl PartialOrd for Step {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Monotone (non-decreasing) integer prefix of a Decimal: `⌊v·10^KEY_DIGITS⌋`, saturated.
pub(super) fn int_key(v: Decimal) -> i128 {
    key_of(v.mantissa(), v.scale())
}

/// Decimal digits the step keys keep: with whole-dollar keys, tens of thousands of first
/// steps tied (hard rebalances at 10^5 rows), and every tie compares full steps.
const KEY_DIGITS: u32 = 10;

/// `⌊m·10^(KEY_DIGITS − s)⌋`, saturated: the same integer for every representation of a
/// value, and non-decreasing in the value, so it is a valid prefix of the step order.
pub(super) fn key_of(m: i128, s: u32) -> i128 {
    const POW10: [i128; 19] = {
        let mut t = [1i128; 19];
        let mut k = 1;
        while k < 19 {
            t[k] = t[k - 1] * 10;
            k += 1;
        }
        t
    };
    if s <= KEY_DIGITS {
        let p = POW10[(KEY_DIGITS - s) as usize];
        // Below 2^80 the product stays below 2^114: no overflow check needed.
        if m.unsigned_abs() < 1 << 80 {
            return m * p;
        }
        m.checked_mul(p)
            .unwrap_or(if m < 0 { i128::MIN } else { i128::MAX })
    } else {
        // A Decimal's scale is at most 28, so the divisor is at most 10^18.
        m.div_euclid(POW10[(s - KEY_DIGITS) as usize])
    }
}

/// Asset `i`'s next step up from `cur` if it is affordable with `left` and lowers the cost.
/// Only affordable steps are considered: the cash left only shrinks, so a step that is
/// unaffordable now never becomes affordable.
fn next_step(items: &[Item], i: usize, cur: Decimal, left: Decimal) -> Option<Step> {
    let it = &items[i];
    let to = it.up(cur)?;
    let cash = (to - cur) * it.price;
    if cash > left {
        return None;
    }
    let delta = it.delta_value(cur, to);
    // A step up on a sale sells one share fewer: give it to the higher P&L first.
    let fewer_sold = to <= Decimal::ZERO && cur < Decimal::ZERO;
    let (rank, sym) = if fewer_sold {
        (-it.up_rank, -(i as isize))
    } else {
        (it.up_rank, i as isize)
    };
    (delta < Cost::default()).then_some(Step {
        key: int_key(delta.0),
        delta,
        rank,
        sym,
        idx: i,
        to,
        cash,
    })
}

/// Whether asset `i`'s next step from `cur` exists, is affordable and lowers the cost — the
/// same answer as [`next_step`] — with its key and cash, computed without the full step where
/// exact integers suffice ([`exact::primary`]): a step spends `step > 0`, so its cost change
/// `(prim, −step, ter)` is below zero exactly when `prim ≤ 0`, and the rest of the step is
/// only needed on key ties and when the step is taken.
fn first_key(items: &[Item], i: usize, cur: Decimal, left: Decimal) -> Option<(i128, Decimal)> {
    let it = &items[i];
    let to = it.up(cur)?;
    let cash = (to - cur) * it.price;
    if cash > left {
        return None;
    }
    match exact::primary(it, cur, to) {
        Some((improving, key)) => improving.then_some((key, cash)),
        None => next_step(items, i, cur, left).map(|s| (s.key, s.cash)),
    }
}

/// Where the full first steps of pool entries come from.
enum Source {
    /// Rebuilt when needed; an entry names its asset. The step exists, since the asset has
    /// not moved since its key was taken (each asset has one pool entry and leaves the pool
    /// when its step is taken), and its content depends only on the asset's quantity (`left`
    /// only gates it).
    Lazy,
    /// Built once up front; an entry names its step.
    Eager(Vec<Step>),
}

impl Source {
    fn step(&self, items: &[Item], n: &[Decimal], e: u32) -> Step {
        match self {
            Source::Lazy => {
                let i = e as usize;
                next_step(items, i, n[i], Decimal::MAX)
                    .expect("a pooled asset is unchanged, so its improving step is still there")
            }
            Source::Eager(store) => store[e as usize].clone(),
        }
    }
    fn cash(&self, items: &[Item], n: &[Decimal], e: u32) -> Option<Decimal> {
        match self {
            Source::Lazy => {
                let (it, cur) = (&items[e as usize], n[e as usize]);
                it.up(cur).map(|to| (to - cur) * it.price)
            }
            Source::Eager(store) => Some(store[e as usize].cash),
        }
    }
}

/// The step order on pool entries: the integer key, then the full steps.
fn by_step(
    src: &Source,
    items: &[Item],
    n: &[Decimal],
    a: &(i128, u32),
    b: &(i128, u32),
) -> Ordering {
    a.0.cmp(&b.0)
        .then_with(|| src.step(items, n, a.1).cmp(&src.step(items, n, b.1)))
}

/// Sorts pool entries into the step order: by key, then each run of equal keys by its full
/// steps, each built once (equal keys are common: equal weights give every asset of one price
/// the same first step but for the P&L and the symbol). The order is total (the symbol breaks
/// every tie), so this is the order a comparison sort by [`by_step`] gives.
fn sort_steps(src: &Source, items: &[Item], n: &[Decimal], chunk: &mut [(i128, u32)]) {
    chunk.sort_unstable_by_key(|e| e.0);
    let mut a = 0;
    while a < chunk.len() {
        let b = a + chunk[a..].iter().take_while(|e| e.0 == chunk[a].0).count();
        if b - a > 1 {
            let mut run: Vec<(Step, u32)> = chunk[a..b]
                .iter()
                .map(|e| (src.step(items, n, e.1), e.1))
                .collect();
            run.sort_unstable_by(|x, y| x.0.cmp(&y.0));
            for (slot, (_, i)) in chunk[a..b].iter_mut().zip(run) {
                slot.1 = i;
            }
        }
        a = b;
    }
}

/// Whether the greedy will likely take steps from a large share of the assets: the cash left
/// buys at least a sixteenth of them at the dearest price (hard rebalances, where every
/// asset's start leaves a fraction). Then every first step is needed in full anyway and is
/// built once up front; otherwise only the few the greedy reaches are. Either way the steps,
/// their order and so the plan are the same; only the work differs.
///
/// A heuristic, so the dearest price is taken from a sample of at most ~1024 assets.
fn is_wide(items: &[Item], left: Decimal) -> bool {
    let stride = (items.len() / 1024).max(1);
    let max_price = items
        .iter()
        .step_by(stride)
        .map(|it| it.price)
        .max()
        .unwrap_or_default();
    left.saturating_mul(Decimal::from(16)) >= max_price.saturating_mul(Decimal::from(items.len()))
}

/// The pool with every first step built: entries name their step in the store.
fn eager_pool(items: &[Item], n: &[Decimal], left: Decimal) -> (Vec<(i128, u32)>, Source, Decimal) {
    let store: Vec<Step> = (0..items.len())
        .filter_map(|i| next_step(items, i, n[i], left))
        .collect();
    let pool = store.iter().zip(0u32..).map(|(s, j)| (s.key, j)).collect();
    let max_cash = store.iter().map(|s| s.cash).max().unwrap_or_default();
    (pool, Source::Eager(store), max_cash)
}

/// The pool of first-step keys only ([`first_key`]): entries name their asset.
fn lazy_pool(items: &[Item], n: &[Decimal], left: Decimal) -> (Vec<(i128, u32)>, Source, Decimal) {
    let mut pool: Vec<(i128, u32)> = Vec::with_capacity(items.len());
    let mut max_cash = Decimal::ZERO;
    for (i, &cur) in n.iter().enumerate() {
        if let Some((key, cash)) = first_key(items, i, cur, left) {
            max_cash = max_cash.max(cash);
            pool.push((key, i as u32));
        }
    }
    (pool, Source::Lazy, max_cash)
}

/// Repeatedly take the affordable one-share step that lowers the cost most (ties: lower P&L,
/// then symbol). A step's gain only shrinks as an asset grows (each cost term is convex), and
/// the cash left only shrinks, so an asset whose next step is unaffordable or not improving is
/// never reconsidered.
///
/// Every asset's first step is sorted once (O(n log n)); steps that follow a purchase go to a
/// small heap, and the two streams are merged in the same order a single heap would produce.
/// Unaffordable first steps are then skipped in O(1) instead of being popped from a heap.
///
/// Unless the greedy is likely to go wide ([`is_wide`]), the pool holds only `(key, asset)`
/// pairs (32 bytes instead of a 128-byte step per asset: at 10^5 rows that is megabytes of
/// fresh memory); the full step is rebuilt on key ties, for the chunk's head and when taken.
///
/// The walk runs on exact integers wherever they give the same answer ([`int`]: the usual
/// inputs), else on Decimals.
pub(super) fn complete(items: &[Item], n: &mut [Decimal], left: &mut Decimal) {
    if !int::complete(items, n, left) {
        complete_decimal(items, n, left);
    }
}

/// [`complete`] on Decimals: the reference of the integer walk, and its fallback.
fn complete_decimal(items: &[Item], n: &mut [Decimal], left: &mut Decimal) {
    let next = |i: usize, cur: Decimal, left: Decimal| next_step(items, i, cur, left);
    let (mut pool, src, mut pool_max_cash) = if is_wide(items, *left) {
        eager_pool(items, n, *left)
    } else {
        lazy_pool(items, n, *left)
    };
    let mut heap: BinaryHeap<Reverse<Step>> = BinaryHeap::new();
    // The pool is consumed in sorted chunks of growing size: select the best `k` to the end
    // (O(pool), no shifting), sort only those, and drop what became unaffordable before the
    // next chunk. Usually the cash runs out within the first chunk, so 10^5 candidates cost
    // one selection instead of a full sort; doubling `k` bounds the work at O(n log n).
    let mut k = 64;
    loop {
        let len = pool.len();
        let take = k.min(len);
        if take > 0 && take < len {
            pool.select_nth_unstable_by(len - take, |a, b| by_step(&src, items, n, b, a));
        }
        let mut chunk: Vec<(i128, u32)> = pool.drain(len - take..).collect();
        sort_steps(&src, items, n, &mut chunk);
        let mut pos = 0;
        // The full step of `chunk[pos]`, built once per position.
        let mut head: Option<Step> = None;
        loop {
            if head.is_none() {
                head = chunk.get(pos).map(|c| src.step(items, n, c.1));
            }
            // Heap steps may be merged only while a chunk step is there to compare with, or
            // once the pool is empty: the pool holds steps worse than the whole chunk.
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
            let Some(Step {
                idx: i, to, cash, ..
            }) = step
            else {
                break;
            };
            if cash > *left {
                continue;
            }
            *left -= cash;
            n[i] = to;
            if let Some(s) = next(i, n[i], *left) {
                heap.push(Reverse(s));
            }
        }
        let budget = *left;
        if pool_max_cash > budget {
            pool.retain(|&(_, e)| src.cash(items, n, e).is_some_and(|c| c <= budget));
            pool_max_cash = budget;
        }
        if pool.is_empty() && heap.is_empty() {
            break;
        }
        k = k.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests;
