//! Whole-share planning: start from the floor of the continuous optimum, complete greedily,
//! then prove (or improve) optimality with a bounded branch and bound. The objective and the
//! constraints are stated in the module docs of [`crate::strategy`].
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rust_decimal::Decimal;

use super::Asset;

/// Branch and bound runs only when at most this many assets have more than one choice.
pub const MAX_EXACT_ASSETS: usize = 48;
/// Branch and bound gives up (keeping the best plan found, marked unproven) after this many nodes.
pub const NODE_LIMIT: u64 = 400_000;

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

/// Lexicographic cost (deviation from targets, distance from the continuous optimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Cost(Decimal, Decimal);

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost(self.0 + o.0, self.1 + o.1)
    }
}
impl std::ops::Sub for Cost {
    type Output = Cost;
    fn sub(self, o: Cost) -> Cost {
        Cost(self.0 - o.0, self.1 - o.1)
    }
}

/// One asset's integer choice set: `lo` (≤ 0; may be fractional = close the whole position)
/// and the integers in `[lo, hi]`.
#[derive(Debug, Clone)]
struct Item {
    price: Decimal,
    lo: Decimal,
    hi: Decimal,
    /// Target deviation `T_i − p_i` (dollars).
    d: Decimal,
    /// Continuous optimum `x_i` (dollars).
    x: Decimal,
}

impl Item {
    fn cost(&self, n: Decimal) -> Cost {
        let s = n * self.price;
        Cost((self.d - s).abs(), (self.x - s).abs())
    }
    fn up(&self, n: Decimal) -> Option<Decimal> {
        let m = if n.fract().is_zero() {
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
    /// The start point `⌊x/P⌋`, clamped (feasible: spends at most `x`).
    fn start(&self) -> Decimal {
        self.clamp((self.x / self.price).floor())
    }
    fn has_choice(&self) -> bool {
        self.lo != self.hi
    }
    /// Minimum of one cost component over the integer choices, ignoring the budget.
    fn int_min(&self, target: Decimal) -> Decimal {
        let f = (target / self.price).floor();
        [self.clamp(f), self.clamp(f + Decimal::ONE), self.lo]
            .iter()
            .map(|n| (target - *n * self.price).abs())
            .min()
            .unwrap_or_default()
    }
}

/// Solves the whole-share problem for `assets` with target deviations `d`, continuous optimum
/// `x` and budget `budget` (`Σ x = budget`; spend must stay `≤ budget`).
pub(crate) fn solve(
    assets: &[Asset],
    d: &[Decimal],
    x: &[Decimal],
    budget: Decimal,
    dir: Direction,
) -> Solution {
    let items: Vec<Item> = assets
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let lo = match dir {
                Direction::BuyOnly => Decimal::ZERO,
                Direction::SellOnly | Direction::Both => -a.quantity,
            };
            // Buying past the target never helps (one share less is cheaper and closer).
            let buy_cap = if a.weight.is_zero() {
                Decimal::ZERO
            } else {
                (d[i].max(Decimal::ZERO) / a.price).ceil()
            };
            let hi = match dir {
                Direction::SellOnly => Decimal::ZERO,
                Direction::BuyOnly | Direction::Both => buy_cap,
            };
            Item {
                price: a.price,
                lo,
                hi,
                d: d[i],
                x: x[i],
            }
        })
        .collect();

    let mut n: Vec<Decimal> = items.iter().map(Item::start).collect();
    let spent: Decimal = n.iter().zip(&items).map(|(n, it)| *n * it.price).sum();
    let mut left = budget - spent;
    if left < Decimal::ZERO {
        // Only possible through rounding dust in x; fall back to the most conservative start.
        n = items
            .iter()
            .map(|it| it.lo.max(Decimal::ZERO).min(it.hi))
            .collect();
        left = budget
            - n.iter()
                .zip(&items)
                .map(|(n, it)| *n * it.price)
                .sum::<Decimal>();
    }
    greedy(&items, assets, &mut n, &mut left);

    let proven = branch_and_bound(&items, &mut n, budget);
    Solution {
        quantities: n,
        proven_optimal: proven,
    }
}

#[derive(PartialEq, Eq)]
struct Step {
    delta: Cost,
    pnl: Decimal,
    idx: usize,
    to: Decimal,
}
impl Ord for Step {
    fn cmp(&self, o: &Self) -> Ordering {
        self.delta
            .cmp(&o.delta)
            .then_with(|| self.pnl.cmp(&o.pnl))
            .then_with(|| self.idx.cmp(&o.idx))
    }
}
impl PartialOrd for Step {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Repeatedly take the affordable one-share step that lowers the cost most (ties: lower P&L,
/// then symbol). A step's gain only shrinks as an asset grows (each cost term is convex), and
/// the cash left only shrinks, so an asset whose next step is unaffordable or not improving is
/// never reconsidered: O((n + k) log n) for k steps.
fn greedy(items: &[Item], assets: &[Asset], n: &mut [Decimal], left: &mut Decimal) {
    let next = |i: usize, cur: Decimal| -> Option<Step> {
        let it = &items[i];
        let to = it.up(cur)?;
        let delta = it.cost(to) - it.cost(cur);
        (delta < Cost::default()).then_some(Step {
            delta,
            pnl: assets[i].pnl,
            idx: i,
            to,
        })
    };
    let mut heap: BinaryHeap<Reverse<Step>> = (0..items.len())
        .filter_map(|i| next(i, n[i]).map(Reverse))
        .collect();
    while let Some(Reverse(step)) = heap.pop() {
        let i = step.idx;
        let price = (step.to - n[i]) * items[i].price;
        if price > *left {
            continue;
        }
        *left -= price;
        n[i] = step.to;
        if let Some(s) = next(i, n[i]) {
            heap.push(Reverse(s));
        }
    }
}

/// Suffix sums for the lower bound on the cost of the assets not yet decided.
struct Bounds {
    min_spend: Vec<Decimal>,
    prim: Vec<Relax>,
    sec: Vec<Relax>,
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
    fn new(items: &[Item], order: &[usize]) -> Self {
        let m = order.len();
        let mut b = Bounds {
            min_spend: vec![Decimal::ZERO; m + 1],
            prim: vec![Relax::default(); m + 1],
            sec: vec![Relax::default(); m + 1],
        };
        for k in (0..m).rev() {
            let it = &items[order[k]];
            let (l, h) = (it.lo * it.price, it.hi * it.price);
            b.min_spend[k] = b.min_spend[k + 1] + l;
            for (rel, target) in [(&mut b.prim, it.d), (&mut b.sec, it.x)] {
                let e = target.max(l).min(h);
                rel[k] = Relax {
                    e: rel[k + 1].e + e,
                    f: rel[k + 1].f + (target - e).abs(),
                    int: rel[k + 1].int + it.int_min(target),
                };
            }
        }
        b
    }
    /// Lower bound on the cost of `order[k..]` with `budget` left, or `None` if infeasible.
    fn at(&self, k: usize, budget: Decimal) -> Option<Cost> {
        if self.min_spend[k] > budget {
            return None;
        }
        Some(Cost(self.prim[k].bound(budget), self.sec[k].bound(budget)))
    }
    fn unbudgeted(&self, k: usize) -> Cost {
        Cost(self.prim[k].unbudgeted(), self.sec[k].unbudgeted())
    }
}

struct Search<'a> {
    items: &'a [Item],
    order: Vec<usize>,
    bounds: Bounds,
    cur: Vec<Decimal>,
    best: Vec<Decimal>,
    best_cost: Cost,
    nodes: u64,
    aborted: bool,
}

/// Improves `n` in place to an optimal plan if the search completes; returns whether the
/// result is proven optimal.
fn branch_and_bound(items: &[Item], n: &mut [Decimal], budget: Decimal) -> bool {
    let fixed: Vec<usize> = (0..items.len())
        .filter(|&i| !items[i].has_choice())
        .collect();
    let mut order: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].has_choice())
        .collect();
    let fixed_spend: Decimal = fixed.iter().map(|&i| n[i] * items[i].price).sum();
    let free_budget = budget - fixed_spend;
    let incumbent = order
        .iter()
        .fold(Cost::default(), |c, &i| c + items[i].cost(n[i]));

    // Cheap proof for any size: the incumbent meets the root lower bound.
    order.sort_by(|&a, &b| items[b].price.cmp(&items[a].price).then(a.cmp(&b)));
    let bounds = Bounds::new(items, &order);
    let root = bounds.at(0, free_budget);
    if root.is_some_and(|lb| lb >= incumbent) {
        return true;
    }
    if order.len() > MAX_EXACT_ASSETS {
        return false;
    }
    let cur: Vec<Decimal> = order.iter().map(|&i| n[i]).collect();
    let mut s = Search {
        items,
        best: cur.clone(),
        cur,
        order,
        bounds,
        best_cost: incumbent,
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
            if partial < self.best_cost {
                self.best_cost = partial;
                self.best.clone_from(&self.cur);
            }
            return;
        }
        let it = &self.items[self.order[k]];
        // Beyond both minimisers of the asset's own cost, moving further only gets worse.
        let hi_min = (it.d / it.price).max(it.x / it.price);
        let lo_min = (it.d / it.price).min(it.x / it.price);
        let start = it.start();
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
