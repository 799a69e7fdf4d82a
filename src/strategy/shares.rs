//! Whole-share planning: start from the floor of the continuous optimum, complete greedily,
//! then prove (or improve) optimality with a bounded branch and bound. The objective and the
//! constraints are stated in the module docs of [`crate::strategy`].
//!
//! Size: about 850 lines, over the ~600-line aim on purpose. The lower bound and the branch
//! and bound share the `Item`/`Cost` invariants, and the "proven optimal" claim is only sound
//! while they change together; splitting them across files would hide that coupling. Around
//! them: the greedy completion (`shares/greedy.rs`), withdrawals (`shares/sell.rs`), the
//! root-only proof of large inputs (`shares/root.rs`) and exact integer step costs
//! (`shares/exact.rs`).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Asset, mantissa};

mod exact;
#[cfg(test)]
mod gen_tests;
mod greedy;
mod intmin;
#[cfg(test)]
mod intmin_tests;
mod root;
mod sell;
#[cfg(test)]
mod start_tests;

/// Branch and bound runs only when at most this many assets have more than one choice.
pub const MAX_EXACT_ASSETS: usize = 48;
/// Branch and bound gives up (keeping the best plan found, marked unproven) after this many nodes.
pub const NODE_LIMIT: u64 = 400_000;
/// Above this many assets even the O(n) root proof is skipped: it never succeeds at that
/// scale in practice and costs more than the rest of the plan (the greedy plan is returned,
/// marked unproven).
pub const MAX_PROOF_INPUT: usize = 4096;

/// Which trades the strategy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    BuyOnly,
    SellOnly,
    Both,
}

pub(crate) struct Solution {
    /// Signed share counts per asset (+ buy, − sell).
    pub quantities: Vec<Decimal>,
    pub proven_optimal: bool,
}

/// Lexicographic cost: (weighted squared deviation, −spend, absolute deviation from the
/// targets). The middle term prefers investing idle cash (or raising no more than needed)
/// when the deviation is unchanged. Arithmetic saturates: absurd magnitudes compare as
/// "very bad" instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Cost(pub Decimal, pub Decimal, pub Decimal);

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost(
            self.0.saturating_add(o.0),
            self.1.saturating_add(o.1),
            self.2.saturating_add(o.2),
        )
    }
}
impl std::ops::Sub for Cost {
    type Output = Cost;
    fn sub(self, o: Cost) -> Cost {
        Cost(
            self.0.saturating_sub(o.0),
            self.1.saturating_sub(o.1),
            self.2.saturating_sub(o.2),
        )
    }
}

/// `k · v²`, saturating.
pub(crate) fn weighted_square(k: Decimal, v: Decimal) -> Decimal {
    v.saturating_mul(v).saturating_mul(k)
}

/// One asset's integer choice set: `lo` (≤ 0; may be fractional = close the whole position)
/// and the integers in `[lo, hi]`.
#[derive(Debug, Clone)]
struct Item {
    price: Decimal,
    lo: Decimal,
    hi: Decimal,
    /// Reference of the primary (squared) and of the tertiary (absolute) deviation:
    /// `T_i − p_i`.
    d: Decimal,
    /// Weight of the squared deviation: `max_w / w_i` (1 for zero-weight assets).
    k: Decimal,
    /// Tie-break rank for "one step up" (lower first): buying the loser first (the P&L). For
    /// sales, selling one share fewer of the winner first (so losses are sold first) ranks by
    /// its negation. (Kept to six Decimals: at 10^5 rows every byte per item is touched memory.)
    up_rank: Decimal,
}

impl Item {
    fn cost(&self, n: Decimal) -> Cost {
        let s = n * self.price;
        Cost(weighted_square(self.k, self.d - s), -s, (self.d - s).abs())
    }
    fn up(&self, n: Decimal) -> Option<Decimal> {
        let m = if n.scale() == 0 || n.fract().is_zero() {
            n + Decimal::ONE
        } else {
            n.ceil()
        };
        (m <= self.hi).then_some(m)
    }
    fn down(&self, n: Decimal) -> Option<Decimal> {
        if !n.fract().is_zero() {
            return None;
        }
        let m = n - Decimal::ONE;
        if m >= self.lo {
            Some(m)
        } else if n > self.lo {
            Some(self.lo)
        } else {
            None
        }
    }
    fn clamp(&self, n: Decimal) -> Decimal {
        if n < self.lo {
            self.lo
        } else if n > self.hi {
            self.hi
        } else {
            n
        }
    }
    /// The start point `⌊x/P⌋` for the continuous optimum `x`, clamped (feasible: spends at
    /// most `x`).
    fn start(&self, x: Decimal) -> Decimal {
        if x.is_zero() {
            return self.clamp(Decimal::ZERO);
        }
        if let Some(q) = super::fast::floor_div_int(x, self.price)
            && let Some(n) = self.clamp_int(q)
        {
            return n;
        }
        self.clamp(floor_div(x, self.price))
    }
    /// [`Item::clamp`] of the integer `q` (as `floor_div` returns it: scale 0), compared on
    /// integers: `None` unless both limits are at scale 0 (then their mantissas are their
    /// values, and a negative zero compares as zero in both). Returns the limit itself or
    /// `q` at scale 0, the same Decimal the comparison of Decimals picks; it saves the two
    /// Decimal comparisons per asset (~120 instructions at 10^5 rows).
    #[inline]
    fn clamp_int(&self, q: i128) -> Option<Decimal> {
        if self.lo.scale() != 0 || self.hi.scale() != 0 {
            return None;
        }
        Some(if q < self.lo.mantissa() {
            self.lo
        } else if q > self.hi.mantissa() {
            self.hi
        } else {
            Decimal::from_i128_with_scale(q, 0)
        })
    }
    /// `cost(to) − cost(cur)` in closed form (cheaper than two full costs: no squares).
    fn delta(&self, cur: Decimal, to: Decimal) -> Cost {
        let s = cur * self.price;
        let step = (to - cur) * self.price;
        // k·((r − s − δ)² − (r − s)²) = k·δ·(δ − 2(r − s))
        let r = self.d - s;
        let prim = step.saturating_mul(step - r - r).saturating_mul(self.k);
        let x = self.d - s;
        Cost(prim, -step, (x - step).abs() - x.abs())
    }
    /// The value of [`Item::delta`], from exact integers where they suffice
    /// ([`exact::delta`]). Only the value is the same (a zero may carry another scale), so
    /// only where the result is compared, never added to: the greedy's steps, the repair.
    fn delta_value(&self, cur: Decimal, to: Decimal) -> Cost {
        exact::delta(self, cur, to).unwrap_or_else(|| self.delta(cur, to))
    }
    fn has_choice(&self) -> bool {
        self.lo != self.hi
    }
    /// Minimum of `k·|target − nP|^e` (e = 2 if `square`, else 1) over the integer choices,
    /// ignoring the budget (the cost is convex, so the neighbours of `target/P` suffice).
    ///
    /// On exact integers where they give the same Decimal ([`Item::int_min_fast`]).
    fn int_min(&self, target: Decimal, square: bool) -> Decimal {
        self.int_min_fast(target, square)
            .unwrap_or_else(|| self.int_min_ref(target, square))
    }
    /// [`Item::int_min`] on Decimals: the reference of the integer path, and its fallback.
    fn int_min_ref(&self, target: Decimal, square: bool) -> Decimal {
        let f = super::fast::quotient_floor(target, self.price)
            .unwrap_or_else(|| (target / self.price).floor());
        [self.clamp(f), self.clamp(f + Decimal::ONE), self.lo]
            .iter()
            .map(|n| {
                let v = target - *n * self.price;
                if square {
                    weighted_square(self.k, v)
                } else {
                    v.abs()
                }
            })
            .min()
            .unwrap_or_default()
    }
}

/// Whether `a` and `b` have the same mantissa and scale (so the same value): a cheap test
/// before a Decimal comparison (~60 instructions) that equal weights would all take.
#[inline]
fn same_repr(a: Decimal, b: Decimal) -> bool {
    a.scale() == b.scale() && a.mantissa() == b.mantissa()
}

/// How much of a holding `q` can be sold: all of it, or only its whole shares.
pub(crate) fn sellable(q: Decimal, whole: bool) -> Decimal {
    if whole { q.floor() } else { q }
}

/// Sells one more unit at a time, choosing the step that raises the cost least, until the
/// start is within the budget (`left ≥ 0`). The caller has checked that selling everything
/// sellable suffices; if not, `left` stays negative and the caller refuses the plan.
fn repair(items: &[Item], n: &mut [Decimal], left: &mut Decimal) {
    // One sort by the cost of each asset's next sale, then one pass: O(n log n) even when
    // many holdings have fractional remainders (a rescan per step would be quadratic).
    let mut cand: Vec<(Cost, usize)> = (0..items.len())
        .filter_map(|i| {
            let to = items[i].down(n[i])?;
            Some((items[i].delta_value(n[i], to), i))
        })
        .collect();
    cand.sort();
    for (_, i) in cand {
        if *left >= Decimal::ZERO {
            break;
        }
        let (it, q) = (&items[i], n[i]);
        if !q.fract().is_zero() {
            continue; // `down` takes no step from a fractional quantity
        }
        // The whole-share steps `down` would take one at a time (q-1, q-2, … while ≥ lo), as
        // many as the shortfall needs at once: a step loop ran ~10^11 times on a start that
        // overspent 10^11 shares of a $1 asset. `(q - to)·price` is the value and scale the
        // one-share steps add up to.
        // Counts at scale 0 (`trunc`), so `q - count` keeps `q`'s scale as `q - 1` does.
        let whole = (q - it.lo).floor().max(Decimal::ZERO).trunc();
        let short = -*left;
        let mut need = floor_div(short, it.price).trunc();
        if need * it.price < short {
            need += Decimal::ONE;
        }
        let to = q - need.min(whole);
        if to != q {
            *left += (q - to) * it.price;
            n[i] = to;
        }
        // `down`'s last step: from the lowest whole share to a fractional lower limit.
        if *left < Decimal::ZERO && to > it.lo {
            *left += (to - it.lo) * it.price;
            n[i] = it.lo;
        }
    }
}

/// `⌊x / p⌋` for `p > 0`, exactly: a float estimate, corrected with exact multiplications
/// (a Decimal division costs several multiplications; this runs once per asset).
pub(crate) fn floor_div(x: Decimal, p: Decimal) -> Decimal {
    // Exact on integer mantissas whenever they fit `i128` (always, for prices and values in
    // range); the estimate is the fallback and the reference.
    super::fast::floor_div(x, p).unwrap_or_else(|| floor_div_estimate(x, p))
}

/// [`floor_div`] from a float estimate (see there).
pub(crate) fn floor_div_estimate(x: Decimal, p: Decimal) -> Decimal {
    use rust_decimal::prelude::FromPrimitive;
    let guess = match (x.to_f64(), p.to_f64()) {
        (Some(xf), Some(pf)) if pf > 0.0 => {
            let q = (xf / pf).floor();
            (q.abs() < 1e15).then(|| i64::from_f64(q)).flatten()
        }
        _ => None,
    };
    let Some(q) = guess else {
        return (x / p).floor();
    };
    let mut n = Decimal::from(q);
    // The estimate is off by at most a few units; walk to the exact floor.
    for _ in 0..8 {
        if n * p > x {
            n -= Decimal::ONE;
        } else if (n + Decimal::ONE) * p <= x {
            n += Decimal::ONE;
        } else {
            return n;
        }
    }
    (x / p).floor()
}

/// Solves the whole-share problem for `assets` with target deviations `d`, continuous optimum
/// `x` and budget `budget` (`Σ x = budget`; spend must stay `≤ budget`).
pub(crate) fn solve(
    assets: &[Asset],
    d: &[Decimal],
    x: &[Decimal],
    budget: Decimal,
    dir: Direction,
    whole: bool,
) -> Solution {
    let large = assets.len() > MAX_PROOF_INPUT;
    if large
        && dir != Direction::SellOnly
        && let Some(quantities) = greedy::solve_wide(assets, d, x, budget, dir, whole)
    {
        // Large inputs skip the proof (`branch_and_bound`), so the plan is unproven.
        return Solution {
            quantities,
            proven_optimal: false,
        };
    }
    let items = items(assets, d, dir, whole, large);
    let (mut n, cash_k) = start_and_complete(&items, x, budget, dir);
    let proven = branch_and_bound(&items, x, &mut n, budget, cash_k, dir == Direction::BuyOnly);
    Solution {
        quantities: n,
        proven_optimal: proven,
    }
}

/// The whole-share choice set of every asset (see [`Item`]); `large`: above
/// [`MAX_PROOF_INPUT`] assets, where no exact search needs the buy cap.
fn items(assets: &[Asset], d: &[Decimal], dir: Direction, whole: bool, large: bool) -> Vec<Item> {
    // As `Iterator::max` (the last of equal maxima), skipping the Decimal comparison for a
    // weight with the same representation as the maximum so far (equal weights: every one).
    let max_w = assets
        .iter()
        .map(|a| a.weight)
        .reduce(|m, w| if !same_repr(m, w) && w >= m { w } else { m })
        .unwrap_or(Decimal::ONE);
    assets
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let lo = match dir {
                Direction::BuyOnly => Decimal::ZERO,
                Direction::SellOnly | Direction::Both => -sellable(a.quantity, whole),
            };
            // Buying past the target never helps (one share less is cheaper and closer). The
            // cap only matters to the exact search; large inputs skip that division (the
            // greedy stops at the target anyway, where a further share makes things worse).
            let buy_cap = if a.weight.is_zero() {
                Decimal::ZERO
            } else if large {
                Decimal::MAX
            } else {
                let r = d[i].max(Decimal::ZERO);
                super::fast::quotient_ceil(r, a.price).unwrap_or_else(|| (r / a.price).ceil())
            };
            let hi = match dir {
                Direction::SellOnly => Decimal::ZERO,
                Direction::BuyOnly | Direction::Both => buy_cap,
            };
            let k = if a.weight.is_zero() || same_repr(a.weight, max_w) || a.weight == max_w {
                Decimal::ONE
            } else {
                max_w.checked_div(a.weight).unwrap_or(Decimal::MAX)
            };
            Item {
                price: a.price,
                lo,
                hi,
                d: d[i],
                k,
                up_rank: a.pnl,
            }
        })
        .collect()
}

/// The start (the floor of the continuous optimum `x`, repaired to the budget where whole
/// shares overspend), completed greedily; with the weight of the excess cash for
/// withdrawals (`None` otherwise).
fn start_and_complete(
    items: &[Item],
    x: &[Decimal],
    budget: Decimal,
    dir: Direction,
) -> (Vec<Decimal>, Option<Decimal>) {
    let mut n: Vec<Decimal> = items.iter().zip(x).map(|(it, &c)| it.start(c)).collect();
    // `mantissa::mul`/`sum` return what `*` and `Iterator::sum` return, bit for bit.
    let spent = mantissa::sum(
        n.iter()
            .zip(items)
            .map(|(n, it)| mantissa::mul(*n, it.price)),
    );
    let mut left = budget - spent;
    if left < Decimal::ZERO {
        // Whole shares: a sale the continuous optimum puts in a fractional remainder is not
        // available, so sell more elsewhere (the cheapest in cost first).
        repair(items, &mut n, &mut left);
    }
    // Withdrawals: the cash freed beyond |c| is a holding with target 0 (weight 1, like any
    // zero-weight holding), and every sale must be needed (see `sell`).
    let cash_k = (dir == Direction::SellOnly).then_some(Decimal::ONE);
    match cash_k {
        Some(kc) => sell::complete(items, &mut n, &mut left, kc),
        None => greedy::complete(items, &mut n, &mut left),
    }
    (n, cash_k)
}

/// Which total spends (in cents) the undecided assets can reach exactly — a subset-sum
/// table. The continuous bound assumes any remaining budget can be spent; with whole shares
/// only these amounts can, which is what makes proofs fast when many plans tie on the
/// deviation (buy-only, whole-cent prices, small budgets).
struct Reach {
    /// `bits[k]`: bitset over 0..=cap cents of spends reachable by `order[k..]`.
    bits: Vec<Vec<u64>>,
    cap: usize,
}

/// Largest total bitset size (bits over all suffixes) we are willing to build.
const REACH_MAX_BITS: usize = 200_000_000;
/// Largest number of word operations spent building the table.
const REACH_MAX_WORK: usize = 2_000_000;

impl Reach {
    fn new(items: &[Item], order: &[usize], budget: Decimal) -> Option<Reach> {
        let cents = |v: Decimal| -> Option<usize> {
            let c = v * Decimal::ONE_HUNDRED;
            if !c.fract().is_zero() || c < Decimal::ZERO {
                return None;
            }
            c.to_usize()
        };
        if order.iter().any(|&i| items[i].lo != Decimal::ZERO) {
            return None;
        }
        // The table covers every cent up to the budget (floored to the cent, not the dollar:
        // a dollar floor hid spends in the budget's last dollar and let the bound prune them).
        let cap = (budget.max(Decimal::ZERO) * Decimal::ONE_HUNDRED)
            .floor()
            .to_usize()?;
        let words = cap / 64 + 1;
        if words.checked_mul(64 * (order.len() + 1))? > REACH_MAX_BITS {
            return None;
        }
        // Work is Σ (choices per asset) · words; keep it to a few tens of milliseconds.
        let work = order.iter().try_fold(0usize, |acc, &i| {
            let hi = items[i].hi.to_usize()?;
            acc.checked_add(hi.min(cap).checked_add(1)?.checked_mul(words)?)
        })?;
        if work > REACH_MAX_WORK {
            return None;
        }
        let mut bits = vec![vec![0u64; words]; order.len() + 1];
        bits[order.len()][0] = 1;
        for k in (0..order.len()).rev() {
            let it = &items[order[k]];
            let p = cents(it.price).filter(|p| *p > 0)?;
            let hi = it.hi.to_usize()?;
            let (head, tail) = bits.split_at_mut(k + 1);
            let (dst, src) = (&mut head[k], &tail[0]);
            for n in 0..=hi {
                let shift = n.checked_mul(p)?;
                if shift > cap {
                    break;
                }
                or_shifted(dst, src, shift, cap);
            }
        }
        Some(Reach { bits, cap })
    }

    /// Largest reachable spend (dollars) of `order[k..]` not above `budget`.
    fn max_below(&self, k: usize, budget: Decimal) -> Option<Decimal> {
        let c = (budget * Decimal::ONE_HUNDRED).floor();
        if c < Decimal::ZERO {
            return None;
        }
        let c = c.to_usize().unwrap_or(usize::MAX).min(self.cap);
        let b = &self.bits[k];
        let (mut w, bit) = (c / 64, c % 64);
        let mask = if bit == 63 {
            u64::MAX
        } else {
            (1u64 << (bit + 1)) - 1
        };
        let mut word = b[w] & mask;
        loop {
            if word != 0 {
                let top = 63 - word.leading_zeros() as usize;
                return Some(Decimal::new((w * 64 + top) as i64, 2));
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            word = b[w];
        }
    }
}

/// `dst |= src << shift`, truncated at `cap` bits.
fn or_shifted(dst: &mut [u64], src: &[u64], shift: usize, cap: usize) {
    let (ws, bs) = (shift / 64, shift % 64);
    let n = dst.len();
    for i in (ws..n).rev() {
        let j = i - ws;
        let mut v = src[j] << bs;
        if bs != 0 && j > 0 {
            v |= src[j - 1] >> (64 - bs);
        }
        dst[i] |= v;
    }
    let last = cap % 64;
    if last != 63 {
        dst[n - 1] &= (1u64 << (last + 1)) - 1;
    }
}

/// Suffix sums for the lower bound on the cost of the assets not yet decided.
struct Bounds {
    min_spend: Vec<Decimal>,
    max_spend: Vec<Decimal>,
    prim: Vec<Quad>,
    /// Per suffix, the assets' cut limits sorted by saturation point (see [`Bounds::prim_at`]);
    /// built for every suffix when the search runs, else only for the root.
    cuts: Vec<Vec<Cut>>,
    sec: Vec<Relax>,
    reach: Option<Reach>,
}

/// Suffix sums for the lower bound on the weighted squared deviation.
#[derive(Clone, Copy, Default)]
struct Quad {
    /// Σ e_j, e_j = reference clamped to [lo·P, hi·P].
    e: Decimal,
    /// Σ k_j (r_j − e_j)².
    f: Decimal,
    /// Σ 1/k_j.
    inv_k: Decimal,
    /// Σ per-asset integer minimum.
    int: Decimal,
}

impl Quad {
    /// Relaxation: since `(r−s)² ≥ (r−e)² + (e−s)²` for `s` in the box, the cost is at least
    /// `f + min Σ k (e−s)²` subject to `Σ s ≤ budget`, which is `excess² / Σ 1/k`
    /// (Cauchy–Schwarz). The per-asset integer minimum is another bound; take the larger.
    fn bound(&self, budget: Decimal) -> Decimal {
        let excess = (self.e - budget).max(Decimal::ZERO);
        let cut = if excess.is_zero() || self.inv_k.is_zero() {
            Decimal::ZERO
        } else {
            excess
                .saturating_mul(excess)
                .checked_div(self.inv_k)
                .unwrap_or(Decimal::MAX)
        };
        self.f.saturating_add(cut).max(self.int)
    }
    fn unbudgeted(&self) -> Decimal {
        self.f.max(self.int)
    }
}

/// How far one asset's spend can be cut below `e` (to its lower limit) and at what weight.
#[derive(Clone, Copy)]
struct Cut {
    /// `c · k`: the multiplier level at which this asset is cut all the way.
    mu: Decimal,
    c: Decimal,
    k: Decimal,
    inv_k: Decimal,
}

impl Cut {
    /// The asset's cut limit over its spend box `[lo·P, hi·P]`.
    fn of(it: &Item) -> Cut {
        let (l, h) = (it.lo * it.price, it.hi * it.price);
        let c = it.d.max(l).min(h) - l;
        Cut {
            mu: c.saturating_mul(it.k),
            c,
            k: it.k,
            inv_k: recip(it.k),
        }
    }
}

/// `1 / k` (0 where it does not exist). A weight factor of exactly one (equal weights, zero-weight
/// assets) skips the division: `1 / 1` is `1`, bit for bit.
fn recip(k: Decimal) -> Decimal {
    if k.mantissa() == 1 && k.scale() == 0 {
        return Decimal::ONE;
    }
    Decimal::ONE.checked_div(k).unwrap_or_default()
}

#[derive(Clone, Copy, Default)]
struct Relax {
    /// Σ e_j, e_j = target clamped to [lo·P, hi·P].
    e: Decimal,
    /// Σ |target − e_j|.
    f: Decimal,
    /// Σ per-asset integer minimum.
    int: Decimal,
}

impl Relax {
    /// Lower bound with `budget` left: the continuous relaxation (each dollar cut from Σ e
    /// costs one dollar) or the per-asset integer minimum, whichever is larger.
    fn bound(&self, budget: Decimal) -> Decimal {
        let excess = (self.e - budget).max(Decimal::ZERO);
        (self.f + excess).max(self.int)
    }
    fn unbudgeted(&self) -> Decimal {
        self.f.max(self.int)
    }
}

impl Bounds {
    fn new(items: &[Item], order: &[usize], budget: Decimal) -> Self {
        let m = order.len();
        let mut b = Bounds {
            reach: Reach::new(items, order, budget),
            min_spend: vec![Decimal::ZERO; m + 1],
            max_spend: vec![Decimal::ZERO; m + 1],
            prim: vec![Quad::default(); m + 1],
            sec: vec![Relax::default(); m + 1],
            cuts: Vec::new(),
        };
        let suffixes = if m <= MAX_EXACT_ASSETS { m } else { 1.min(m) };
        for k in 0..suffixes {
            let mut list: Vec<Cut> = order[k..].iter().map(|&i| Cut::of(&items[i])).collect();
            list.sort_by_key(|c| c.mu);
            b.cuts.push(list);
        }
        for k in (0..m).rev() {
            let it = &items[order[k]];
            let (l, h) = (it.lo * it.price, it.hi * it.price);
            b.min_spend[k] = b.min_spend[k + 1] + l;
            b.max_spend[k] = b.max_spend[k + 1] + h;
            let e = it.d.max(l).min(h);
            let nx = b.prim[k + 1];
            b.prim[k] = Quad {
                e: nx.e + e,
                f: nx.f.saturating_add(weighted_square(it.k, it.d - e)),
                inv_k: nx.inv_k + recip(it.k),
                int: nx.int.saturating_add(it.int_min(it.d, true)),
            };
            let e = it.d.max(l).min(h);
            let nx = b.sec[k + 1];
            b.sec[k] = Relax {
                e: nx.e + e,
                f: nx.f + (it.d - e).abs(),
                int: nx.int + it.int_min(it.d, false),
            };
        }
        b
    }
    /// Lower bound on the cost of `order[k..]` with `budget` left, or `None` if infeasible.
    fn at(&self, k: usize, budget: Decimal) -> Option<Cost> {
        if self.min_spend[k] > budget {
            return None;
        }
        // Spend can only land on reachable amounts: tighten the budget to the largest one.
        let budget = match &self.reach {
            Some(r) => r.max_below(k, budget)?,
            None => budget,
        };
        Some(Cost(
            self.prim_at(k, budget),
            -budget.min(self.max_spend[k]),
            self.sec[k].bound(budget),
        ))
    }
    /// Lower bound on the squared deviation of `order[k..]` with `budget` left: the exact
    /// continuous optimum with each spend kept at or above its lower limit. The assets must
    /// together be cut by `excess = Σ e − budget`; cutting `δ_j ≤ c_j` costs `k_j δ_j²`, so
    /// the optimum is `δ_j = min(c_j, μ / k_j)` for the `μ` where the cuts add up (water-fill
    /// over the assets sorted by `c_j k_j`). Falls back to the box-free Cauchy–Schwarz bound
    /// where no sorted list was built.
    fn prim_at(&self, k: usize, budget: Decimal) -> Decimal {
        let q = &self.prim[k];
        let Some(list) = self.cuts.get(k) else {
            return q.bound(budget);
        };
        let excess = q.e - budget;
        if excess <= Decimal::ZERO {
            return q.unbudgeted();
        }
        fill_cost(q, list.iter(), excess)
    }

    fn unbudgeted(&self, k: usize) -> Cost {
        Cost(
            self.prim[k].unbudgeted(),
            -self.max_spend[k],
            self.sec[k].unbudgeted(),
        )
    }
}

/// The water-fill of [`Bounds::prim_at`] over `cuts` (sorted by `mu`) for `excess > 0`.
fn fill_cost<'c>(
    q: &Quad,
    cuts: impl Iterator<Item = &'c Cut> + Clone,
    excess: Decimal,
) -> Decimal {
    let mut act_inv: Decimal = cuts.clone().map(|c| c.inv_k).sum();
    let (mut sat_c, mut sat_cost) = (Decimal::ZERO, Decimal::ZERO);
    for cut in cuts {
        if sat_c + cut.mu.saturating_mul(act_inv) >= excess {
            break;
        }
        sat_c += cut.c;
        sat_cost = sat_cost.saturating_add(weighted_square(cut.k, cut.c));
        act_inv -= cut.inv_k;
    }
    let cost = if act_inv <= Decimal::ZERO {
        // Everything cut to its limit and still short: infeasible, caught by min_spend;
        // what was cut is still a valid bound.
        sat_cost
    } else {
        let mu = (excess - sat_c)
            .checked_div(act_inv)
            .unwrap_or(Decimal::MAX);
        sat_cost.saturating_add(mu.saturating_mul(mu).saturating_mul(act_inv))
    };
    q.f.saturating_add(cost).max(q.int)
}

struct Search<'a> {
    items: &'a [Item],
    /// The continuous optimum per asset (index order): where each asset's choices start.
    cont: &'a [Decimal],
    order: Vec<usize>,
    bounds: Bounds,
    cur: Vec<Decimal>,
    best: Vec<Decimal>,
    best_cost: Cost,
    /// Withdrawals: weight of the excess cash; leaves must be minimal covers (`sell`).
    cash_k: Option<Decimal>,
    /// Withdrawals: `excess_cap[k]` bounds the excess cash of a minimal cover given the
    /// choices of `order[..k]` (the smallest unit sold so far, or the largest price).
    excess_cap: Vec<Decimal>,
    nodes: u64,
    aborted: bool,
}

/// Improves `n` in place to an optimal plan if the search completes; returns whether the
/// result is proven optimal. `cont` is the continuous optimum the search starts from;
/// `buy_only` (never-sell deposits) only picks the root proof's path.
fn branch_and_bound(
    items: &[Item],
    cont: &[Decimal],
    n: &mut [Decimal],
    budget: Decimal,
    cash_k: Option<Decimal>,
    buy_only: bool,
) -> bool {
    if items.len() > MAX_PROOF_INPUT {
        return false;
    }
    let fixed: Vec<usize> = (0..items.len())
        .filter(|&i| !items[i].has_choice())
        .collect();
    let mut order: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].has_choice())
        .collect();
    let fixed_spend: Decimal = fixed.iter().map(|&i| n[i] * items[i].price).sum();
    let free_budget = budget - fixed_spend;
    if order.len() > MAX_EXACT_ASSETS {
        // Only the root bound can prove anything here: the cheap path to the same answer.
        return root::proves(items, order, n, budget, free_budget, cash_k, buy_only);
    }
    let mut incumbent = order
        .iter()
        .fold(Cost::default(), |c, &i| c + items[i].cost(n[i]));
    if let Some(kc) = cash_k {
        let spent: Decimal = n.iter().zip(items).map(|(n, it)| *n * it.price).sum();
        incumbent = incumbent + sell::cash_cost(kc, budget - spent);
    }

    // Cheap proof for any size: the incumbent meets the root lower bound. (The bounds ignore
    // the excess-cash term and the minimal-cover rule of withdrawals: both only add cost or
    // remove plans, so the bounds stay valid lower bounds.)
    root::sort_by_price_desc(items, &mut order);
    let bounds = Bounds::new(items, &order, free_budget);
    let root = bounds.at(0, free_budget);
    if root.is_some_and(|lb| lb >= incumbent) {
        return true;
    }
    let cur: Vec<Decimal> = order.iter().map(|&i| n[i]).collect();
    let max_price = order
        .iter()
        .map(|&i| items[i].price)
        .max()
        .unwrap_or_default();
    let order_len = order.len();
    let mut s = Search {
        items,
        cont,
        best: cur.clone(),
        cur,
        order,
        bounds,
        best_cost: incumbent,
        cash_k,
        excess_cap: vec![max_price; order_len + 1],
        nodes: 0,
        aborted: false,
    };
    s.dfs(0, free_budget, Cost::default());
    for (k, &i) in s.order.iter().enumerate() {
        n[i] = s.best[k];
    }
    !s.aborted
}

impl Search<'_> {
    fn prunes(&self, bound: Cost) -> bool {
        bound >= self.best_cost
    }

    fn dfs(&mut self, k: usize, budget: Decimal, partial: Cost) {
        if self.aborted {
            return;
        }
        if k == self.order.len() {
            let mut partial = partial;
            if let Some(kc) = self.cash_k {
                let sold = self.order.iter().zip(&self.cur);
                if !sell::is_minimal(budget, sold.map(|(&i, &q)| (&self.items[i], q))) {
                    return;
                }
                partial = partial + sell::cash_cost(kc, budget);
            }
            if partial < self.best_cost {
                self.best_cost = partial;
                self.best.clone_from(&self.cur);
            }
            return;
        }
        let it = &self.items[self.order[k]];
        // Beyond the minimiser of the primary deviation, each step adds a whole price to it,
        // so once a bound prunes it prunes every further step in that direction.
        let hi_min = it.d / it.price;
        let lo_min = hi_min;
        let start = it.start(self.cont[self.order[k]]);
        // Upward from the start (spending more), then downward (spending less).
        let mut cand = Some(start);
        while let Some(q) = cand {
            if !self.visit(k, q, budget, partial, q >= hi_min, true) {
                break;
            }
            cand = it.up(q);
        }
        let mut cand = it.down(start);
        while let Some(q) = cand {
            if !self.visit(k, q, budget, partial, q <= lo_min, false) {
                break;
            }
            cand = it.down(q);
        }
    }

    /// Tries quantity `q` for `order[k]`. Returns `false` when the caller should stop moving
    /// in this direction (infeasible going up, or pruned where the bound is monotone).
    fn visit(
        &mut self,
        k: usize,
        q: Decimal,
        budget: Decimal,
        partial: Cost,
        monotone: bool,
        upward: bool,
    ) -> bool {
        self.nodes += 1;
        if self.nodes > NODE_LIMIT {
            self.aborted = true;
            return false;
        }
        let it = &self.items[self.order[k]];
        let spend = q * it.price;
        if self.cash_k.is_some() {
            // Withdrawals: a minimal cover leaves less excess cash than the unit of any sold
            // asset; the rest can at best sell nothing more (their max spend). Selling more
            // here only adds excess, so going down stops; going up may become feasible.
            let cap = match sell::unsell_cash(it, q) {
                Some(step) => step.min(self.excess_cap[k]),
                None => self.excess_cap[k],
            };
            if budget - spend - self.bounds.max_spend[k + 1] >= cap {
                return upward;
            }
            self.excess_cap[k + 1] = cap;
        }
        let own = partial + it.cost(q);
        let Some(rest) = self.bounds.at(k + 1, budget - spend) else {
            // Infeasible: spending more never helps; spending less may.
            return !upward;
        };
        if self.prunes(own + rest) {
            if upward {
                return !monotone;
            }
            // Going down frees budget, so use the budget-free bound to decide to stop.
            return !(monotone && self.prunes(own + self.bounds.unbudgeted(k + 1)));
        }
        self.cur[k] = q;
        self.dfs(k + 1, budget - spend, own);
        !self.aborted
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::floor_div;

    #[test]
    fn floor_div_is_exact_on_boundaries() {
        assert_eq!(floor_div(dec!(2796.80), dec!(279.68)), dec!(10));
        assert_eq!(floor_div(dec!(2796.79), dec!(279.68)), dec!(9));
        assert_eq!(floor_div(dec!(-0.01), dec!(279.68)), dec!(-1));
        assert_eq!(floor_div(dec!(-559.36), dec!(279.68)), dec!(-2));
        assert_eq!(floor_div(Decimal::ZERO, dec!(3)), Decimal::ZERO);
        let third = dec!(1) / dec!(3);
        assert_eq!(
            floor_div(dec!(1), third),
            dec!(3).min((dec!(1) / third).floor())
        );
    }

    /// Regression: `repair` sold one share per iteration, so a start that overspends by
    /// 10^11 shares of a $1 asset (here: the remainder 0.5 of a $123,456,789,012 holding
    /// cannot be sold in whole shares, so the other asset's target is out of reach) ran for
    /// hours. The plan must come back at once, trading nothing.
    #[test]
    fn repair_steps_many_shares_at_once() {
        use crate::strategy::{Granularity, Holding, PlanRequest, Strategy, plan};
        let holdings = vec![
            Holding::new("A", dec!(0.5), dec!(123456789012)),
            Holding::new("B", dec!(12345678), dec!(1)),
        ];
        let mut req = PlanRequest::new(holdings, Decimal::ZERO);
        req.strategy = Strategy::Hard;
        req.granularity = Granularity::Shares;
        let p = plan(&req).expect("a plan");
        assert!(p.trades.is_empty(), "{:?}", p.trades);
        assert_eq!(p.lines[1].trade_shares, Decimal::ZERO);
        assert_eq!(p.lines[0].trade_shares, Decimal::ZERO);
    }

    proptest! {
        #[test]
        fn floor_div_matches_the_definition(x in -10_000_000_000i64..10_000_000_000, p in 1i64..100_000_000, sx in 0u32..6, sp in 0u32..6) {
            let (x, p) = (Decimal::new(x, sx), Decimal::new(p, sp));
            let n = floor_div(x, p);
            prop_assert_eq!(n.fract(), Decimal::ZERO);
            prop_assert!(n * p <= x && (n + Decimal::ONE) * p > x, "{} {} {}", x, p, n);
        }
    }
}
