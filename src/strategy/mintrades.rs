//! Fewest trades (`min-trades`, Fintual's "trade minimisation"): the fewest whole shares
//! traded (or the fewest orders) such that every weight ends within its band, sales never
//! exceed a holding, and the net spend stays within the cash (a withdrawal raises at least
//! `|c|`).
//!
//! Weights are measured against `V + B` (the bands' convention, `strategy::bands`), so each
//! asset's band is a box of share counts `n_i ∈ [L_i, U_i]` independent of the others, and the
//! only coupling is the budget `Σ n_i·P_i ≤ B`:
//! 1. Each asset starts at the point of its box closest to zero (0 when already inside its
//!    band). That minimises every term on its own, so when it fits the budget it is optimal.
//! 2. Otherwise the plan must free `D = Σ n_i·P_i − B` more cash, and the only way to is to
//!    sell more of assets whose box allows it (`k_i ≤ n_i − L_i` more shares, each costing a
//!    share, or one order if the asset was not trading). For `shares` this is a bounded
//!    covering knapsack, `min Σ k_i` subject to `Σ k_i·P_i ≥ D`, solved by a depth-first
//!    search (prices descending, bound `⌈rest / P_max⌉`) that proves its answer within
//!    [`NODE_LIMIT`] nodes and otherwise returns the best found, marked unproven. For
//!    `orders`, assets already selling are free and the others cost one order each, so the
//!    fewest orders take the largest capacities first (optimal for a cardinality cover);
//!    within them the shares are then minimised by the same search.
//!
//! Ties (same count): less cash raised beyond what is needed. No plan meeting every band
//! within the cash is refused, naming the tightest asset.
use rust_decimal::Decimal;

use super::shares::{floor_div, sellable};
use super::{Asset, Outline, PlanError, PlanRequest, Spend, build_plan, investable, target_values};
use crate::strategy::types::{Bands, Minimise};

mod fast;

/// The covering search gives up (best found, unproven) after this many nodes.
pub const NODE_LIMIT: u64 = 200_000;

pub(crate) fn plan<'a>(
    req: &'a PlanRequest,
    given: super::Given<'a>,
) -> Result<Outline<'a>, PlanError> {
    if req.bands.is_off() {
        return Err(PlanError::MinTradesNeedsBands);
    }
    if req.bands.abs_pct < Decimal::ZERO || req.bands.rel_pct < Decimal::ZERO {
        return Err(PlanError::NegativeBand);
    }
    let (assets, weight_sum, total_before) = super::validate(req, given)?;
    let budget = investable(req);
    let total = total_before + budget;
    if total < Decimal::ZERO {
        return Err(PlanError::WithdrawalExceedsPortfolio {
            requested: -budget,
            available: total_before,
        });
    }
    let per = total.checked_div(weight_sum).unwrap_or_default();
    let targets = target_values(&assets, weight_sum, total, per);
    let band = Band {
        bands: &req.bands,
        weight_sum,
        total,
    };
    // Nearly every run: the start fits the cash, decided on integers ([`fast`]).
    let (spend, proven) = match fast::start(&band, &assets, &targets, budget) {
        Some(spend) => (spend, true),
        None => searched(req, &band, &assets, &targets, budget)?,
    };
    let mut p = build_plan(
        req,
        assets,
        weight_sum,
        targets,
        total_before,
        spend,
        proven,
    );
    if !proven {
        p.notes.push(format!(
            "min-trades: best plan found within {NODE_LIMIT} search nodes; fewest trades not proven"
        ));
    }
    Ok(p)
}

/// Each asset's start at the point of its box nearest zero and, when that start spends more
/// than `budget`, the covering search's extra sales: the spends and whether they are proven
/// fewest. [`fast::start`] gives the same answer on integers when the start fits.
fn searched(
    req: &PlanRequest,
    band: &Band,
    assets: &[Asset],
    targets: &[Decimal],
    budget: Decimal,
) -> Result<(Vec<Spend>, bool), PlanError> {
    let boxes = boxes(band, assets, targets)?;
    let mut n: Vec<Decimal> = boxes.iter().map(|&(lo, hi)| nearest_zero(lo, hi)).collect();
    let spend: Decimal = n.iter().zip(assets).map(|(n, a)| *n * a.price).sum();
    let need = spend - budget;
    let mut proven = true;
    if need > Decimal::ZERO {
        let (extra, done) = cover(req.minimise, assets, &boxes, &n, need).ok_or_else(|| {
            // The asset forcing the most spend is the tightest.
            let i = (0..n.len())
                .max_by_key(|&i| n[i] * assets[i].price)
                .unwrap_or_default();
            PlanError::BandsUnreachable {
                symbol: assets.get(i).map_or("cash", |a| a.symbol).to_string(),
                reason: format!(
                    "the bands need {spend} of net spending but the cash allows {budget}"
                ),
            }
        })?;
        for (i, k) in extra {
            n[i] -= k;
        }
        proven = done;
    }
    let spend = n
        .iter()
        .zip(assets)
        .map(|(n, a)| Spend::Shares(*n, *n * a.price))
        .collect();
    Ok((spend, proven))
}

/// What an asset's band depends on besides the asset: its half-width is a fraction of the
/// total after the run.
pub(super) struct Band<'a> {
    pub bands: &'a Bands,
    pub weight_sum: Decimal,
    pub total: Decimal,
}

impl Band<'_> {
    /// The band's half-width in money for an asset of weight `w`.
    pub(super) fn width(&self, w: Decimal) -> Decimal {
        super::bands::half_width(self.bands, w / self.weight_sum).saturating_mul(self.total)
    }
}

/// Each asset's band as a box of whole share counts, or the tightest asset's refusal.
fn boxes(
    band: &Band,
    assets: &[Asset],
    targets: &[Decimal],
) -> Result<Vec<(Decimal, Decimal)>, PlanError> {
    let mut out = Vec::with_capacity(assets.len());
    // The half-width depends on the weight alone: one division for all equal weights.
    let mut width = super::fast::Memo::new();
    for (a, t) in assets.iter().zip(targets) {
        let h = width.get(a.weight, |w| band.width(w));
        out.push(row_box(a, *t, h)?);
    }
    Ok(out)
}

/// One asset's box `[lo, hi]` of share counts for target value `t` and half-width `h`, or its
/// refusal. The reference of [`fast::start`]'s integer rows.
pub(super) fn row_box(a: &Asset, t: Decimal, h: Decimal) -> Result<(Decimal, Decimal), PlanError> {
    let held = sellable(a.quantity, true);
    // A band so wide its edges leave `Decimal` (found by review: it panicked) is refused.
    let edges = t.checked_sub(h).and_then(|tl| {
        Some((
            a.value.checked_sub(tl)?,
            (t.checked_add(h)?).checked_sub(a.value)?,
        ))
    });
    let Some((below, above)) = edges else {
        return Err(PlanError::Overflow(format!(
            "min-trades: a band of ±{h} around the target {t} of {}; use a narrower band",
            a.symbol
        )));
    };
    // Fewest shares reaching the band's lower edge, most staying under its upper edge.
    let lo = -floor_div(below, a.price);
    let hi = floor_div(above, a.price);
    let lo = lo.max(-held);
    if lo > hi {
        let reason = if -held > hi {
            format!("selling all {held} whole shares still leaves it above its band")
        } else {
            format!(
                "no whole number of shares at {} lands inside its band",
                a.price
            )
        };
        return Err(PlanError::BandsUnreachable {
            symbol: a.symbol.to_string(),
            reason,
        });
    }
    Ok((lo, hi))
}

pub(super) fn nearest_zero(lo: Decimal, hi: Decimal) -> Decimal {
    Decimal::ZERO.max(lo).min(hi)
}

/// More shares to sell per asset so that at least `need` more cash is raised, minimising the
/// objective; `None` if even every allowed sale is not enough. The flag says "proven".
fn cover(
    minimise: Minimise,
    assets: &[Asset],
    boxes: &[(Decimal, Decimal)],
    n: &[Decimal],
    need: Decimal,
) -> Option<(Vec<(usize, Decimal)>, bool)> {
    // (index, price, capacity in shares)
    let mut items: Vec<(usize, Decimal, Decimal)> = (0..assets.len())
        .filter(|&i| n[i] <= Decimal::ZERO && boxes[i].0 < n[i])
        .map(|i| (i, assets[i].price, n[i] - boxes[i].0))
        .collect();
    let max_cash: Decimal = items.iter().map(|(_, p, c)| *p * *c).sum();
    if max_cash < need {
        return None;
    }
    if minimise == Minimise::Orders {
        // Already selling: free. Others: one order each, largest capacity first.
        let (mut free, mut rest): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|&(i, _, _)| n[i] < Decimal::ZERO);
        rest.sort_by(|a, b| (b.1 * b.2).cmp(&(a.1 * a.2)).then(a.0.cmp(&b.0)));
        let mut cash: Decimal = free.iter().map(|(_, p, c)| *p * *c).sum();
        for it in rest {
            if cash >= need {
                break;
            }
            cash += it.1 * it.2;
            free.push(it);
        }
        items = free;
    }
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut s = Cover {
        items: &items,
        cur: vec![Decimal::ZERO; items.len()],
        best: None,
        nodes: 0,
    };
    s.dfs(0, need, Decimal::ZERO);
    let proven = s.nodes <= NODE_LIMIT;
    let (_, _, best) = s.best?;
    Some((
        items.iter().zip(best).map(|(it, k)| (it.0, k)).collect(),
        proven,
    ))
}

struct Cover<'a> {
    items: &'a [(usize, Decimal, Decimal)],
    cur: Vec<Decimal>,
    /// (shares, excess cash, choice)
    best: Option<(Decimal, Decimal, Vec<Decimal>)>,
    nodes: u64,
}

/// One level of [`Cover::dfs`]'s search: item `k`, the cash still needed and the shares sold
/// before it, and the share count `q` being tried (counted down to zero).
struct Level {
    k: usize,
    need: Decimal,
    count: Decimal,
    price: Decimal,
    q: Decimal,
    /// Whether `q` has been tried (its subtree searched) and the next is due.
    tried: bool,
}

impl Cover<'_> {
    /// Depth-first over the items in order, each from the most shares that can help down to
    /// none, pruned by a lower bound, stopping past [`NODE_LIMIT`] nodes once a cover is known.
    /// Why a loop over an explicit stack and not recursion: a chain of "none of this one" is as
    /// deep as the item list (up to the node limit), and one call frame per level overflowed
    /// the main thread's stack at ~400,000 sellable holdings.
    fn dfs(&mut self, k: usize, need: Decimal, count: Decimal) {
        let mut stack: Vec<Level> = Vec::new();
        stack.extend(self.enter(k, need, count));
        while let Some(top) = stack.last_mut() {
            if top.tried {
                // Past the limit every child returns at once: stop counting down here too (up
                // to a whole holding of share counts, ~10^15 for a cheap asset; found by
                // review).
                if top.q.is_zero() || (self.nodes > NODE_LIMIT && self.best.is_some()) {
                    self.cur[top.k] = Decimal::ZERO;
                    stack.pop();
                    continue;
                }
                top.q -= Decimal::ONE;
            }
            top.tried = true;
            self.cur[top.k] = top.q;
            let (k, need, count) = (top.k + 1, top.need - top.q * top.price, top.count + top.q);
            stack.extend(self.enter(k, need, count));
        }
    }

    /// A node: counted, recorded if it covers the need, and returned as a level to count down
    /// unless it is a leaf or pruned.
    fn enter(&mut self, k: usize, need: Decimal, count: Decimal) -> Option<Level> {
        self.nodes += 1;
        if self.nodes > NODE_LIMIT && self.best.is_some() {
            return None;
        }
        if need <= Decimal::ZERO {
            let key = (count, -need);
            if self.best.as_ref().is_none_or(|b| key < (b.0, b.1)) {
                self.best = Some((count, -need, self.cur.clone()));
            }
            return None;
        }
        let &(_, price, cap) = self.items.get(k)?;
        // The fewest shares of this price that cover the need; also a lower bound on the
        // shares still to sell, as every remaining share is at most this price (prices descend).
        let fewest = (need / price).ceil();
        if self.best.as_ref().is_some_and(|b| count + fewest > b.0) {
            return None;
        }
        Some(Level {
            k,
            need,
            count,
            price,
            q: fewest.min(cap),
            tried: false,
        })
    }
}

#[cfg(test)]
mod cover_tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::{Cover, NODE_LIMIT};

    /// The search as it was written before it ran on an explicit stack: one call per level.
    /// The reference the loop must match node for node (same nodes counted, same best).
    fn recursive(s: &mut Cover, k: usize, need: Decimal, count: Decimal) {
        s.nodes += 1;
        if s.nodes > NODE_LIMIT && s.best.is_some() {
            return;
        }
        if need <= Decimal::ZERO {
            let key = (count, -need);
            if s.best.as_ref().is_none_or(|b| key < (b.0, b.1)) {
                s.best = Some((count, -need, s.cur.clone()));
            }
            return;
        }
        let Some(&(_, price, cap)) = s.items.get(k) else {
            return;
        };
        let at_least = count + (need / price).ceil();
        if s.best.as_ref().is_some_and(|b| at_least > b.0) {
            return;
        }
        let mut q = (need / price).ceil().min(cap);
        loop {
            s.cur[k] = q;
            recursive(s, k + 1, need - q * price, count + q);
            if q.is_zero() || (s.nodes > NODE_LIMIT && s.best.is_some()) {
                break;
            }
            q -= Decimal::ONE;
        }
        s.cur[k] = Decimal::ZERO;
    }

    proptest! {
        /// Prices in cents, descending as `cover` sorts them; capacities in whole shares; the
        /// need in cents. Both searches must count the same nodes and keep the same best.
        #[test]
        fn the_loop_visits_what_the_recursion_visited(
            mut cents in proptest::collection::vec(1i64..5_000, 1..9),
            caps in proptest::collection::vec(0i64..6, 9),
            need in 1i64..40_000,
        ) {
            cents.sort_unstable_by(|a, b| b.cmp(a));
            let items: Vec<(usize, Decimal, Decimal)> = cents
                .iter()
                .zip(&caps)
                .enumerate()
                .map(|(i, (&c, &cap))| (i, Decimal::new(c, 2), Decimal::from(cap)))
                .collect();
            let need = Decimal::new(need, 2);
            let fresh = || Cover {
                items: &items,
                cur: vec![Decimal::ZERO; items.len()],
                best: None,
                nodes: 0,
            };
            let mut a = fresh();
            a.dfs(0, need, Decimal::ZERO);
            let mut b = fresh();
            recursive(&mut b, 0, need, Decimal::ZERO);
            prop_assert_eq!(a.nodes, b.nodes);
            prop_assert_eq!(a.best, b.best);
            prop_assert!(a.cur.iter().all(|q| q.is_zero()));
        }
    }

    /// Found by review: the search recursed one call per item, and a chain of "sell none of
    /// this one" choices goes as deep as the item list (up to the node limit, ~67,000 levels
    /// here), so 400,000 sellable holdings overflowed the main thread's stack (SIGSEGV). The
    /// search must run in constant stack: this test runs on a test thread's 2 MiB stack.
    #[test]
    fn a_long_chain_of_unsold_items_does_not_overflow_the_stack() {
        let items: Vec<(usize, Decimal, Decimal)> = (0..150_000)
            .map(|i| (i, Decimal::ONE, Decimal::ONE))
            .collect();
        let mut s = Cover {
            items: &items,
            cur: vec![Decimal::ZERO; items.len()],
            best: None,
            nodes: 0,
        };
        s.dfs(0, Decimal::ONE, Decimal::ZERO);
        let (count, excess, choice) = s.best.expect("a cover");
        assert_eq!((count, excess), (Decimal::ONE, Decimal::ZERO));
        assert_eq!(choice[0], Decimal::ONE, "the first cover found is kept");
        assert_eq!(choice.iter().filter(|q| !q.is_zero()).count(), 1);
        assert!(s.nodes > NODE_LIMIT, "the chain runs to the node limit");
    }

    /// Found by review: the node limit only stopped new nodes, so a node already counting
    /// down a large share count kept calling children that returned at once (a plan with
    /// holdings near 10^15 shares ran for minutes). Here 333,334 counts of a $3 asset: the
    /// limit is passed after ~50,000 of them, and the search must stop there.
    #[test]
    fn the_node_limit_stops_a_search_counting_down_a_large_holding() {
        let items = [
            (0, Decimal::from(3), Decimal::from(10_000_000)),
            (1, Decimal::from(2), Decimal::from(10_000_000)),
        ];
        let mut s = Cover {
            items: &items,
            cur: vec![Decimal::ZERO; items.len()],
            best: None,
            nodes: 0,
        };
        s.dfs(0, Decimal::from(1_000_000), Decimal::ZERO);
        assert!(s.best.is_some());
        assert!(
            s.nodes <= NODE_LIMIT + items.len() as u64 + 1,
            "{} nodes",
            s.nodes
        );
    }
}
