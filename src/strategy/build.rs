//! The plan's rows and orders from the planner's decisions: one [`PlanLine`] per asset (in
//! symbol order) and one [`Trade`] per non-zero trade.
//!
//! Why an [`Outline`] before the [`Plan`]: at 10^5 rows the lines (240 bytes each) and the
//! orders (96 bytes and a symbol each) were ~37 MB of fresh memory that `pbal plan` only
//! read once to print them, and fresh memory is what a large input pays for most (the
//! kernel zeroes every page; dropping the orders alone saved ~10 % of the run). An outline
//! keeps what the planner decided (assets, targets, spends and the totals) and computes the
//! rows from them: [`Outline::into_plan`] collects them into a [`Plan`] (the daemon, the
//! journal), [`Outline::each_lines`] hands them out a chunk at a time into one reused buffer
//! (the report writers). Both compute every line with the one function [`Rows::fill`], and the
//! orders are read off the lines (a non-zero trade's sign is its side) by the one function
//! [`trade_of`], so a printed outline is its plan.
use rust_decimal::Decimal;

use super::{
    Asset, Granularity, MarginSummary, Plan, PlanLine, PlanRequest, Side, Spend, Strategy, Trade,
    mantissa, symbol,
};

/// The plan for `spend` (one decision per asset, in `assets`' order).
pub(super) fn build_plan<'a>(
    req: &PlanRequest,
    assets: Vec<Asset<'a>>,
    weight_sum: Decimal,
    targets: Vec<Decimal>,
    total_before: Decimal,
    spend: Vec<Spend>,
    proven_optimal: bool,
) -> Outline<'a> {
    let cash_used = cash_used(&spend);
    let parts = Parts {
        weight_sum,
        total_before,
        proven_optimal,
        cash_used,
    };
    build_plan_summed(req, assets, targets, spend, parts)
}

/// The net cash `spend` uses: `Σ value` as [`build_plan`] sums it. A caller that has this
/// sum of the same spends already passes it to [`build_plan_summed`] (at 10^5 rows a second
/// pass over the spends cost ~49 instructions a row).
pub(super) fn cash_used(spend: &[Spend]) -> Decimal {
    mantissa::sum(spend.iter().map(|s| s.value()))
}

/// The figures of a plan besides its rows: see [`build_plan`]'s arguments; `cash_used` must be
/// [`cash_used`] of the spends.
pub(super) struct Parts {
    pub weight_sum: Decimal,
    pub total_before: Decimal,
    pub proven_optimal: bool,
    pub cash_used: Decimal,
}

/// [`build_plan`] with the spends' sum already known.
pub(super) fn build_plan_summed<'a>(
    req: &PlanRequest,
    assets: Vec<Asset<'a>>,
    targets: Vec<Decimal>,
    spend: Vec<Spend>,
    parts: Parts,
) -> Outline<'a> {
    let Parts {
        weight_sum,
        total_before,
        proven_optimal,
        cash_used,
    } = parts;
    debug_assert_eq!(cash_used.serialize(), self::cash_used(&spend).serialize());
    debug_assert_eq!((assets.len(), targets.len()), (spend.len(), spend.len()));
    let total_after = total_before + cash_used;
    let trades = spend.iter().filter(|s| !s.shares().is_zero()).count();
    Outline {
        strategy: req.strategy,
        granularity: req.granularity,
        cash: req.cash,
        buffer: req.buffer,
        cash_used,
        cash_left: req.cash - cash_used,
        total_before,
        total_after,
        proven_optimal,
        notes: Vec::new(),
        margin: None,
        trades,
        rows: Rows {
            inv_before: inverse(total_before),
            inv_after: inverse(total_after),
            inv_weights: inverse(weight_sum),
            weight_sum,
            assets,
            targets,
            spend,
        },
    }
}

/// A plan as the planner decided it, its rows not yet written out (module docs). The figures
/// besides the rows are [`Plan`]'s, under the same names.
#[derive(Debug)]
pub struct Outline<'a> {
    pub strategy: Strategy,
    pub granularity: Granularity,
    pub cash: Decimal,
    pub buffer: Decimal,
    pub cash_used: Decimal,
    pub cash_left: Decimal,
    pub total_before: Decimal,
    pub total_after: Decimal,
    pub proven_optimal: bool,
    pub notes: Vec<String>,
    pub margin: Option<MarginSummary>,
    /// How many lines trade (a non-zero share count): the plan's number of orders.
    trades: usize,
    rows: Rows<'a>,
}

/// Rows handed out per call of [`Outline::each_lines`]: ~1 MB of lines, reused.
const LINES_PER_CHUNK: usize = 4096;

impl<'a> Outline<'a> {
    /// Number of lines (one per asset).
    pub fn len(&self) -> usize {
        self.rows.assets.len()
    }

    /// Whether the plan has no lines.
    pub fn is_empty(&self) -> bool {
        self.rows.assets.is_empty()
    }

    /// Number of orders: the lines with a non-zero share count.
    pub fn trade_count(&self) -> usize {
        self.trades
    }

    /// Calls `f` with every line, in order, a chunk at a time (the lines [`Self::into_plan`]
    /// collects). The chunks share one buffer; each call's lines are gone at the next.
    pub fn each_lines<E>(&self, mut f: impl FnMut(&[PlanLine]) -> Result<(), E>) -> Result<(), E> {
        let n = self.len();
        let mut buf: Vec<PlanLine> = Vec::with_capacity(n.min(LINES_PER_CHUNK));
        let mut cache = Cache::default();
        let mut at = 0;
        while at < n {
            let end = n.min(at + LINES_PER_CHUNK);
            buf.truncate(end - at);
            for (k, i) in (at..end).enumerate() {
                match buf.get_mut(k) {
                    Some(line) => self.rows.fill(i, &mut cache, line),
                    None => buf.push(self.rows.line(i, &mut cache)),
                }
            }
            f(&buf)?;
            at = end;
        }
        Ok(())
    }

    /// The plan: every line and every order collected.
    pub fn into_plan(self) -> Plan {
        let mut cache = Cache::default();
        // Plain loops pushing into vectors sized up front: an iterator chain's closure (the
        // orders' `filter_map`) became a call per line in some builds.
        let mut lines: Vec<PlanLine> = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            lines.push(self.rows.line(i, &mut cache));
        }
        let mut trades = Vec::with_capacity(self.trades);
        for line in &lines {
            if let Some(t) = trade_of(line) {
                trades.push(Trade {
                    symbol: symbol::owned(t.symbol),
                    conid: line.conid,
                    side: t.side,
                    shares: t.shares,
                    value: t.value,
                    price: line.price,
                });
            }
        }
        debug_assert_eq!(trades.len(), self.trades);
        Plan {
            strategy: self.strategy,
            granularity: self.granularity,
            cash: self.cash,
            buffer: self.buffer,
            cash_used: self.cash_used,
            cash_left: self.cash_left,
            total_before: self.total_before,
            total_after: self.total_after,
            lines,
            trades,
            proven_optimal: self.proven_optimal,
            notes: self.notes,
            margin: self.margin,
        }
    }
}

/// What the planner decided per asset, and the reciprocals every line multiplies by.
#[derive(Debug)]
struct Rows<'a> {
    assets: Vec<Asset<'a>>,
    targets: Vec<Decimal>,
    spend: Vec<Spend>,
    weight_sum: Decimal,
    inv_before: Decimal,
    inv_after: Decimal,
    inv_weights: Decimal,
}

/// The last target weight and weight after computed, by their inputs' bits: with equal
/// weights every line has the same target weight, and a hard rebalance in exact amounts
/// brings every equal-weight asset to the same value (a 96-bit product each time). A cached
/// figure is the very one the computation returns, so the lines do not depend on the order
/// they are computed in.
#[derive(Default)]
struct Cache {
    target: Option<(Decimal, Decimal)>,
    after: Option<(Decimal, Decimal)>,
}

impl Rows<'_> {
    /// Line `i`, newly allocated.
    fn line(&self, i: usize, cache: &mut Cache) -> PlanLine {
        let a = &self.assets[i];
        let f = self.figures(i, cache);
        PlanLine {
            symbol: symbol::owned(a.symbol),
            conid: a.conid,
            currency: a.currency.map(str::to_string),
            price: a.price,
            unrealized_pnl: a.pnl,
            quantity_before: a.quantity,
            value_before: a.value,
            target_weight: f.target_weight,
            target_value: self.targets[i],
            trade_shares: f.trade_shares,
            trade_value: f.trade_value,
            value_after: f.value_after,
            weight_before: f.weight_before,
            weight_after: f.weight_after,
        }
    }

    /// Line `i` written over `line`, reusing its symbol's allocation: the same line as
    /// [`Self::line`].
    fn fill(&self, i: usize, cache: &mut Cache, line: &mut PlanLine) {
        let a = &self.assets[i];
        let f = self.figures(i, cache);
        line.symbol.clear();
        line.symbol.push_str(a.symbol);
        line.conid = a.conid;
        if line.currency.as_deref() != a.currency {
            line.currency = a.currency.map(str::to_string);
        }
        line.price = a.price;
        line.unrealized_pnl = a.pnl;
        line.quantity_before = a.quantity;
        line.value_before = a.value;
        line.target_weight = f.target_weight;
        line.target_value = self.targets[i];
        line.trade_shares = f.trade_shares;
        line.trade_value = f.trade_value;
        line.value_after = f.value_after;
        line.weight_before = f.weight_before;
        line.weight_after = f.weight_after;
    }

    /// The computed figures of line `i`.
    #[inline(always)]
    fn figures(&self, i: usize, cache: &mut Cache) -> Figures {
        let a = &self.assets[i];
        // One match on the spend for both figures (`value()` and `shares()` each matched).
        let (trade_shares, trade_value) = match self.spend[i] {
            Spend::Shares(n, v) | Spend::Value(v, n) => (n, v),
        };
        let value_after = mantissa::add(a.value, trade_value);
        let w = a.weight;
        let target_weight = match cache.target {
            Some((k, t)) if k.serialize() == w.serialize() => t,
            _ => {
                let t = if w == self.weight_sum {
                    Decimal::ONE
                } else {
                    mantissa::mul(w, self.inv_weights)
                };
                cache.target = Some((w, t));
                t
            }
        };
        let weight_after = match cache.after {
            Some((k, w)) if k.serialize() == value_after.serialize() => w,
            _ => {
                let w = mantissa::mul(value_after, self.inv_after);
                cache.after = Some((value_after, w));
                w
            }
        };
        Figures {
            trade_shares,
            trade_value,
            value_after,
            target_weight,
            weight_before: mantissa::mul(a.value, self.inv_before),
            weight_after,
        }
    }
}

/// A line's figures besides the asset's own.
struct Figures {
    trade_shares: Decimal,
    trade_value: Decimal,
    value_after: Decimal,
    target_weight: Decimal,
    weight_before: Decimal,
    weight_after: Decimal,
}

/// `1 / t` to 16 significant digits (0 for 0). Weights are informational: each row multiplies
/// by one reciprocal instead of dividing, and 16 digits are plenty for a weight and keep the
/// per-row products short.
fn inverse(t: Decimal) -> Decimal {
    if t.is_zero() {
        Decimal::ZERO
    } else {
        let i = Decimal::ONE / t;
        i.round_sf(16).unwrap_or(i)
    }
}

/// The order a line stands for, borrowed from it (what a [`Trade`] holds but the conid and
/// price, which are the line's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeOf<'l> {
    pub symbol: &'l str,
    pub side: Side,
    /// Shares to trade (> 0).
    pub shares: Decimal,
    /// Dollar value (> 0).
    pub value: Decimal,
}

/// The order of a line that trades (a non-zero share count), `None` otherwise: its side is
/// the sign of its share count — a sign test where `> 0` was a `Decimal` comparison, the same
/// answer for a non-zero value.
#[inline(always)]
pub fn trade_of(line: &PlanLine) -> Option<TradeOf<'_>> {
    let n = line.trade_shares;
    if n.is_zero() {
        return None;
    }
    Some(TradeOf {
        symbol: &line.symbol,
        side: if n.is_sign_negative() {
            Side::Sell
        } else {
            Side::Buy
        },
        shares: n.abs(),
        value: line.trade_value.abs(),
    })
}
