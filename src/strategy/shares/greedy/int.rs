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
//! so a value below 2^96 at the common scale is below 2^96 at its natural scale too. Before
//! the walk, [`Ctx::bounded`] shows from the largest inputs that no intermediate of any step
//! can reach 2^96 (quantities only grow by steps, each costing at least the smallest price
//! out of a cash that only shrinks), and the largest common scale is checked against 28.
//! Then every Decimal operation of `Item::delta` is exact, so its value equals the
//! integer's, and comparing integers at one scale compares the values — which is all the
//! greedy does with them. The order (`Step`'s: integer key prefix, cost change, rank,
//! symbol) is the order of `(cost change, rank, symbol)`, since the key is a monotone prefix
//! of the first term. Anything else (a fractional quantity, a value or scale out of range,
//! a negative cash) returns `false` before `n` or `left` is touched, and the Decimal greedy
//! runs instead.
//!
//! The walk (pool of first steps consumed in sorted chunks of doubling size, follow-up steps
//! in a heap, merged) is the Decimal greedy's, so the same steps are taken in the same order;
//! the results are written back as the Decimal greedy writes them (see [`commit`]).
//!
//! Cost: each asset's inputs are converted once into integer columns ([`Col`]) and the pool
//! holds one packed integer per asset ([`Entry`]), so the selections and sorts compare plain
//! integers. The first chunk is sized from the cash ([`first_chunk`]): a hard rebalance takes
//! about half the pool, which one sort orders for less than a chain of doubling selections.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rust_decimal::Decimal;

use super::super::Item;
use crate::strategy::mantissa::{LIMIT, POW10_I, mul_bounded};

mod every;
mod wide;
use every::every_first_step;
pub(in crate::strategy::shares) use wide::solve as solve_wide;

/// `v · 10^s` as an integer, if `s ≥ scale(v)` and the result is below 2^96.
#[inline]
fn at(v: Decimal, s: u32) -> Option<i128> {
    let vs = v.scale();
    if vs > s {
        return None;
    }
    let m = v.mantissa();
    if vs == s {
        return Some(m);
    }
    mul_bounded(m, POW10_I[(s - vs) as usize])
}

/// The value of an integral Decimal (`None` if it has a fraction).
#[inline]
fn whole(v: Decimal) -> Option<i128> {
    let (m, s) = (v.mantissa(), v.scale());
    if s == 0 {
        return Some(m);
    }
    let p = POW10_I[s as usize];
    (m % p == 0).then(|| m / p)
}

/// An integral Decimal as an integer below 2^63 in magnitude (a quantity).
fn integral(v: Decimal) -> Option<i128> {
    whole(v).filter(|q| q.unsigned_abs() < 1 << 63)
}

/// One step up of one asset, every term an integer at its kind's scale. The derived order
/// is the Decimal `Step`'s (fields in that order; `to` is never reached, the symbol being
/// unique).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Step {
    prim: i128,
    spend: i128,
    ter: i128,
    rank: i128,
    /// The asset's index, negated when the step sells one share fewer.
    sym: i64,
    /// The quantity after the step.
    to: i64,
}

impl Step {
    fn idx(&self) -> usize {
        self.sym.unsigned_abs() as usize
    }
}

/// One asset's inputs at the common scales, converted once by [`Ctx::new`] (a step then reads
/// integers instead of decoding three Decimals: ~180 instructions a step at 10^5 rows).
#[derive(Clone, Copy)]
struct Col {
    /// The price at the money scale: the cash of one step.
    p: i128,
    /// The deviation reference `d` at the deviation scale.
    d: i128,
    /// The weight factor at its scale.
    k: i128,
    /// The quantity at the start of the walk (quantities stay below 2^62: [`Ctx::bounded`]).
    cur: i64,
    /// The upper limit, saturated to `i64` (it is only compared with quantities below 2^62,
    /// so the saturation changes no comparison).
    hi: i64,
}

/// What the walk reads of an asset beyond its columns: the P&L rank (a late tie-break), and
/// for the write-back ([`commit`]) the price and the step up as Decimals.
trait Source {
    fn rank(&self, i: usize) -> Decimal;
    fn price(&self, i: usize) -> Decimal;
    /// `Item::up` of asset `i` from `cur`.
    fn up(&self, i: usize, cur: Decimal) -> Option<Decimal>;
}

impl Source for [Item] {
    fn rank(&self, i: usize) -> Decimal {
        self[i].up_rank
    }
    fn price(&self, i: usize) -> Decimal {
        self[i].price
    }
    fn up(&self, i: usize, cur: Decimal) -> Option<Decimal> {
        self[i].up(cur)
    }
}

/// The common scales and the assets' columns.
struct Ctx<'a, S: Source + ?Sized> {
    src: &'a S,
    cols: Vec<Col>,
    /// `10^(sd − sm)`: from the money scale to the deviation scale.
    up: i128,
    /// P&L ranks.
    sr: u32,
    /// Prices, spends, cash.
    sm: u32,
    /// Whether every start is a Decimal at scale 0 (then the write-back takes its integer
    /// path whenever cash is left: [`commit`]).
    whole_starts: bool,
}

/// `v · 10^s` for `s ≥ scale(v)`, where [`Ctx::new`] has shown that it fits.
#[inline]
fn conv(v: Decimal, s: u32) -> i128 {
    v.mantissa() * POW10_I[(s - v.scale()) as usize]
}

/// Largest magnitudes of the converted inputs, for the bounds of [`Ctx::new`].
#[derive(Default)]
struct Max {
    p: u128,
    min_p: u128,
    d: u128,
    k: u128,
    q: u128,
}

impl<'a> Ctx<'a, [Item]> {
    /// The common scales (the largest of each kind), the columns and the pool of first steps
    /// ([`Pool`]), if the primary term's scale fits 28 and every value a step can meet
    /// provably stays below 2^96 (see [`Ctx::bounded`]).
    ///
    /// One pass converts each asset and takes its first step's primary term
    /// ([`primary`]) before the bounds are known, in wrapping arithmetic: where the bounds
    /// hold (the only case that returns) that arithmetic was exact; a second pass over the
    /// columns cost ~90 instructions per asset at 10^5 rows.
    fn new(items: &'a [Item], n: &[Decimal], left: Decimal) -> Option<(Ctx<'a, [Item]>, Pool)> {
        let (mut sm, mut sd, mut sk, mut sr) = (left.scale(), 0, 0, 0);
        let mut sr_min = u32::MAX;
        for it in items {
            sm = sm.max(it.price.scale());
            sd = sd.max(it.d.scale());
            sk = sk.max(it.k.scale());
            sr = sr.max(it.up_rank.scale());
            sr_min = sr_min.min(it.up_rank.scale());
        }
        let sd = sd.max(sm);
        if sm + sd + sk > 28 || sr > 28 || items.len() >= 1 << IDX_BITS {
            return None;
        }
        let left_m = at(left, sm)?;
        if left_m < 0 {
            return None;
        }
        let up = POW10_I[(sd - sm) as usize];
        let mut m = Max {
            min_p: u128::MAX,
            ..Max::default()
        };
        let mut cols = Vec::with_capacity(items.len());
        let mut whole_starts = true;
        let mut pool = Pool {
            entries: Vec::with_capacity(items.len()),
            max_cash: 0,
            cash: 0,
        };
        for (i, (it, &q)) in items.iter().zip(n).enumerate() {
            let p = at(it.price, sm)?;
            if p <= 0 {
                return None;
            }
            let (d, k) = (at(it.d, sd)?, at(it.k, sk)?);
            m.p = m.p.max(p.unsigned_abs());
            m.min_p = m.min_p.min(p.unsigned_abs());
            m.d = m.d.max(d.unsigned_abs());
            m.k = m.k.max(k.unsigned_abs());
            // Ranks all at one scale convert as they are (`conv` multiplies by one).
            if sr_min != sr {
                at(it.up_rank, sr)?;
            }
            let hi = whole(it.hi)?;
            whole_starts &= q.scale() == 0;
            let q = integral(q)?;
            m.q = m.q.max(q.unsigned_abs());
            let col = Col {
                p,
                d,
                k,
                // Below 2^63: `integral`.
                cur: q as i64,
                hi: i64::try_from(hi).unwrap_or(if hi < 0 { i64::MIN } else { i64::MAX }),
            };
            if col.hi > col.cur && p <= left_m {
                let prim = primary(&col, col.cur, up);
                if prim <= 0 {
                    pool.max_cash = pool.max_cash.max(p);
                    pool.cash = pool.cash.saturating_add(p);
                    pool.entries.push(entry(prim, i));
                }
            }
            cols.push(col);
        }
        let c = Ctx {
            src: items,
            cols,
            up,
            sr,
            sm,
            whole_starts,
        };
        c.bounded(&m, left_m)?;
        Some((c, pool))
    }
}

impl<S: Source + ?Sized> Ctx<'_, S> {
    /// Shows that no step's arithmetic reaches 2^96: every step costs at least the smallest
    /// price and the cash only shrinks, so no quantity passes `|n| + left / min_p`; from
    /// there each term of [`Ctx::prim`] and [`Ctx::key`] is bounded by the same expression
    /// on the bounds of its operands. (Then the steps need no checks of their own.)
    fn bounded(&self, m: &Max, left: i128) -> Option<()> {
        let fit = |v: u128| (v < LIMIT).then_some(v);
        let steps = u128::try_from(left).ok()? / m.min_p.max(1);
        // Quantities (and the `to` of a step) stay below 2^62.
        let cur = m.q.checked_add(steps)?.checked_add(1)?;
        if cur >= 1 << 62 {
            return None;
        }
        let up = self.up.unsigned_abs();
        let s = fit(cur.checked_mul(m.p)?.checked_mul(up)?)?;
        let step_d = fit(m.p.checked_mul(up)?)?;
        let r = fit(m.d + s)?;
        let inner = fit(step_d + 2 * r)?;
        let partial = fit(m.p.checked_mul(inner)?)?;
        fit(partial.checked_mul(m.k)?)?;
        fit(r + step_d)?;
        Some(())
    }

    /// The primary term of asset `i`'s step up from the quantity `cur`, if there is a step
    /// (`cur < hi`) that costs at most `left` and does not raise the primary term (as
    /// `greedy::next_step`: with `step = P > 0`, the cost change `(prim, −step, ter)` is
    /// below zero exactly when `prim ≤ 0`).
    ///
    /// As `Item::delta`: `s = cur·P`, `step = P`, `r = d − s`, `prim = k·step·(step − 2r)`;
    /// deviations at `sd`, the rest at `sm`. Exact: [`Ctx::bounded`].
    #[inline]
    fn prim(&self, i: usize, cur: i64, left: i128) -> Option<i128> {
        let c = &self.cols[i];
        if c.hi <= cur || c.p > left {
            return None;
        }
        let prim = primary(c, cur, self.up);
        (prim <= 0).then_some(prim)
    }

    /// The whole step of asset `i` up from `cur` (`cur < hi`), improving or not: the primary
    /// term, `ter = |r − step| − |r|` and the tie-breaks.
    fn key(&self, i: usize, cur: i64) -> Step {
        let c = &self.cols[i];
        let step_d = c.p * self.up;
        let r = c.d - i128::from(cur) * step_d;
        let prim = c.p * (step_d - r - r) * c.k;
        let ter = (r - step_d).abs() - r.abs();
        // A step up on a sale sells one share fewer: give it to the higher P&L first.
        let rank = conv(self.src.rank(i), self.sr);
        // Below 2^62: `Ctx::bounded`.
        let to = cur + 1;
        let (rank, sym) = if cur < 0 {
            (-rank, -(i as i64))
        } else {
            (rank, i as i64)
        };
        Step {
            prim,
            spend: -c.p,
            ter,
            rank,
            sym,
            to,
        }
    }

    /// The order of two pooled entries' full steps ([`Ctx::pooled`]), each part computed
    /// only when the ones before it tie: runs of equal primary terms at 10^5 rows (assets of
    /// one price) mostly differ in the P&L, so neither step is built in full.
    fn tie(&self, a: Entry, b: Entry) -> std::cmp::Ordering {
        let (ia, ib) = (idx_of(a), idx_of(b));
        let (ca, cb) = (&self.cols[ia], &self.cols[ib]);
        let ter = |c: &Col| {
            let step_d = c.p * self.up;
            let r = c.d - i128::from(c.cur) * step_d;
            (r - step_d).abs() - r.abs()
        };
        // The step's fields in order: prim, spend = −P, ter, rank, sym (`to` is never
        // reached: the symbols of two assets differ).
        let signed = |c: &Col, i: usize| {
            let rank = conv(self.src.rank(i), self.sr);
            if c.cur < 0 {
                (-rank, -(i as i64))
            } else {
                (rank, i as i64)
            }
        };
        prim_of(a)
            .cmp(&prim_of(b))
            .then_with(|| cb.p.cmp(&ca.p))
            .then_with(|| ter(ca).cmp(&ter(cb)))
            .then_with(|| signed(ca, ia).cmp(&signed(cb, ib)))
    }

    /// The step of [`Ctx::prim`] in full.
    fn step(&self, i: usize, cur: i64, left: i128) -> Option<Step> {
        self.prim(i, cur, left)?;
        Some(self.key(i, cur))
    }

    /// The step of a pooled asset (one that has not moved: it is still at its start).
    fn pooled(&self, e: Entry) -> Step {
        let i = idx_of(e);
        self.key(i, self.cols[i].cur)
    }

    /// Takes the pool's best entries — at least `take`, and every entry tied on the primary
    /// term with the worst of those — in step order. What stays in the pool is worse than
    /// all of them, as the merge needs. The selection and the sort compare plain integers
    /// ([`Entry`]); full steps are built only to order runs of equal primary terms.
    fn chunk(&self, pool: &mut Vec<Entry>, take: usize) -> Vec<Entry> {
        let len = pool.len();
        let mut cut = len - take;
        if take > 0 && take < len {
            pool.select_nth_unstable_by(cut, |a, b| b.cmp(a));
            let v = prim_of(pool[cut]);
            let mut j = 0;
            while j < cut {
                if prim_of(pool[j]) == v {
                    cut -= 1;
                    pool.swap(j, cut);
                } else {
                    j += 1;
                }
            }
        }
        let mut chunk: Vec<Entry> = pool.drain(cut..).collect();
        chunk.sort_unstable();
        let mut a = 0;
        while a < chunk.len() {
            let v = prim_of(chunk[a]);
            let b = a + chunk[a..].iter().take_while(|&&e| prim_of(e) == v).count();
            if b - a > 1 {
                chunk[a..b].sort_unstable_by(|&x, &y| self.tie(x, y));
            }
            a = b;
        }
        chunk
    }
}

/// The first steps of the walk: the improving, affordable first step of each asset that has
/// one ([`Entry`]), the largest and the total of their cash.
struct Pool {
    entries: Vec<Entry>,
    max_cash: i128,
    cash: i128,
}

/// The primary term of a step up from `cur`, as `Item::delta` computes it: `s = cur·P`,
/// `step = P`, `r = d − s`, `prim = k·step·(step − 2r)`, deviations at the deviation scale
/// (`up` lifts the price there). Wrapping, so that [`Ctx::new`] may compute it before its
/// bounds are shown; once they are ([`Ctx::bounded`]), no operation wraps and it is exact.
#[inline]
fn primary(c: &Col, cur: i64, up: i128) -> i128 {
    let step_d = c.p.wrapping_mul(up);
    let r = c.d.wrapping_sub(i128::from(cur).wrapping_mul(step_d));
    c.p.wrapping_mul(step_d.wrapping_sub(r).wrapping_sub(r))
        .wrapping_mul(c.k)
}

/// A pool entry: an asset's first primary term and its index in one integer,
/// `prim·2^31 + i` (`|prim| < 2^96` by [`Ctx::bounded`] and `i < 2^31` by [`Ctx::new`], so it
/// fits an `i128`). Ordered as the pair `(prim, i)`, so selecting and sorting entries are
/// primitive integer comparisons on 16 bytes (the pairs took 32 bytes and a closure call per
/// comparison: ~850 instructions per entry to sort 5·10^4 of them).
type Entry = i128;

const IDX_BITS: u32 = 31;

fn entry(prim: i128, i: usize) -> Entry {
    (prim << IDX_BITS) | i as i128
}

/// The primary term of an entry (the shift floors, and `0 ≤ i < 2^31`).
fn prim_of(e: Entry) -> i128 {
    e >> IDX_BITS
}

fn idx_of(e: Entry) -> usize {
    (e & ((1 << IDX_BITS) - 1)) as usize
}

/// Runs the greedy of [`super::complete`] on integers. Returns `false`, with `n` and `left`
/// untouched, when the integers cannot answer exactly (see the module docs).
pub(super) fn complete(items: &[Item], n: &mut [Decimal], left: &mut Decimal) -> bool {
    let Some((taken, end)) = walk(items, n, *left, None) else {
        return false;
    };
    commit(items, n, left, &taken, end);
    true
}

/// The cash left after the walk: its mantissa at the money scale.
struct End {
    left: i128,
    sm: u32,
}

/// How many of the pool's best entries the first chunk takes: about twice the number of
/// first steps the cash buys if the steps taken cost what the pool's do on average, and the
/// whole pool once that passes a quarter of it (then one sort beats a chain of selections
/// over the pool, each O(pool)). Only the work depends on it: any chunk size gives the same
/// steps in the same order ([`walk`]).
fn first_chunk(len: usize, left: i128, cash: i128) -> usize {
    let len_i = len as i128;
    if cash <= 0 || left.saturating_mul(4) >= cash {
        return len;
    }
    // `4·left < cash` here, so this is below `len / 2`.
    let est = (left.saturating_mul(2).saturating_mul(len_i) / cash) as usize;
    est.max(64)
}

/// The walk; returns the assets of the steps taken, in order, and the cash left. `first`
/// overrides the size of the first chunk ([`first_chunk`]; the tests vary it).
fn walk(
    items: &[Item],
    n: &[Decimal],
    left: Decimal,
    first: Option<usize>,
) -> Option<(Vec<u32>, End)> {
    let (c, pool) = Ctx::new(items, n, left)?;
    let left = at(left, c.sm)?;
    Some(run(&c, pool, left, first))
}

/// The walk of [`walk`] on a built context, from the cash `left` at the money scale.
fn run<S: Source + ?Sized>(
    c: &Ctx<'_, S>,
    pool: Pool,
    mut left: i128,
    first: Option<usize>,
) -> (Vec<u32>, End) {
    if first.is_none()
        && let Some(taken) = every_first_step(c, &pool, left)
    {
        return (
            taken,
            End {
                left: left - pool.cash,
                sm: c.sm,
            },
        );
    }
    let Pool {
        entries: mut pool,
        max_cash: mut pool_max_cash,
        cash: pool_cash,
    } = pool;
    let mut taken = Vec::new();
    let mut heap: BinaryHeap<Reverse<Step>> = BinaryHeap::new();
    let mut k = first.unwrap_or_else(|| first_chunk(pool.len(), left, pool_cash));
    loop {
        let take = k.min(pool.len());
        let chunk = c.chunk(&mut pool, take);
        let mut pos = 0;
        // The full step of `chunk[pos]`, built only to compare with a heap step.
        let mut head: Option<Step> = None;
        loop {
            let from_chunk = match (chunk.get(pos), heap.peek()) {
                (Some(&e), Some(Reverse(b))) => *head.get_or_insert_with(|| c.pooled(e)) < *b,
                (Some(_), None) => true,
                (None, Some(_)) if pool.is_empty() => false,
                _ => break,
            };
            let (i, to, cash) = if from_chunk {
                let i = idx_of(chunk[pos]);
                pos += 1;
                head = None;
                (i, c.cols[i].cur + 1, c.cols[i].p)
            } else {
                let Some(Reverse(s)) = heap.pop() else {
                    break;
                };
                // The step's cash is its price.
                (s.idx(), s.to, -s.spend)
            };
            if cash > left {
                continue;
            }
            left -= cash;
            taken.push(i as u32);
            if let Some(next) = c.step(i, to, left) {
                heap.push(Reverse(next));
            }
        }
        if pool_max_cash > left {
            let budget = left;
            pool.retain(|&e| c.cols[idx_of(e)].p <= budget);
            pool_max_cash = budget;
        }
        if pool.is_empty() && heap.is_empty() {
            break;
        }
        k = k.saturating_mul(2);
    }
    (taken, End { left, sm: c.sm })
}

/// Writes the steps taken back as the Decimal greedy does: `n[i] = Item::up(n[i])` and
/// `left −= (to − cur)·P` per step, in order (the same Decimal operations, so the same
/// representations).
///
/// Where every stepped asset starts at scale 0 and cash is left, without the Decimal
/// operations (~230 instructions a step): each step is then `n + 1` at scale 0
/// ([`plus_one`], bit for bit `+`), `to − cur` is `1` at scale 0 and `1·P` is `P` as
/// it is; every `left − P` is exact (the walk's bounds) and non-zero (the cash only shrinks
/// and ends non-zero), so it keeps the larger scale of its operands. The cash left is then
/// `end` at the largest scale of the start's cash and the prices stepped, which divides the
/// money scale's mantissa exactly.
fn commit<S: Source + ?Sized>(
    src: &S,
    n: &mut [Decimal],
    left: &mut Decimal,
    taken: &[u32],
    end: End,
) {
    // A step from −1 gives Decimal's zero of `−1 + 1`; at scale 0 the next `to − cur` is
    // still `1` at scale 0.
    let plain_zero = (Decimal::NEGATIVE_ONE + Decimal::ONE).scale() == 0;
    if end.left != 0 && plain_zero && taken.iter().all(|&e| n[e as usize].scale() == 0) {
        let mut s = left.scale();
        for &e in taken {
            let i = e as usize;
            n[i] = plus_one(n[i]);
            s = s.max(src.price(i).scale());
        }
        *left = Decimal::from_i128_with_scale(end.left / POW10_I[(end.sm - s) as usize], s);
        return;
    }
    for &e in taken {
        let i = e as usize;
        let cur = n[i];
        if let Some(to) = src.up(i, cur) {
            *left -= (to - cur) * src.price(i);
            n[i] = to;
        }
    }
}

/// `n + 1`, bit for bit: for `n` at scale 0 the exact sum at scale 0 where it is not zero
/// (as `mantissa::add`, kept local so that function stays inlined where the rows use it);
/// else Decimal's `+` (a zero from −1 carries Decimal's sign and scale).
#[inline]
fn plus_one(n: Decimal) -> Decimal {
    let m = n.mantissa() + 1;
    if n.scale() != 0 || m == 0 || m.unsigned_abs() >= LIMIT {
        return n + Decimal::ONE;
    }
    Decimal::from_i128_with_scale(m, 0)
}

#[cfg(test)]
mod tests;
