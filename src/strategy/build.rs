//! The plan's rows and orders from the planner's decisions: one [`PlanLine`] per asset (in
//! symbol order) and one [`Trade`] per non-zero trade.
//!
//! Why its own pass shape: at 10^5 rows building the plan cost ~400 instructions a row
//! beyond the two symbol copies, most of it moving each 240-byte line through the stack
//! into the vector and re-deciding each trade's side with `Decimal` comparisons. The lines
//! are now collected straight into their vector, and the orders are read off the finished
//! lines (a non-zero trade's sign is its side), with the same figures as before.
use rust_decimal::Decimal;

use super::{Asset, Plan, PlanLine, PlanRequest, Side, Spend, Trade, mantissa, symbol};

/// The plan for `spend` (one decision per asset, in `assets`' order).
pub(super) fn build_plan(
    req: &PlanRequest,
    assets: &[Asset],
    weight_sum: Decimal,
    targets: &[Decimal],
    total_before: Decimal,
    spend: Vec<Spend>,
    proven_optimal: bool,
) -> Plan {
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
pub(super) fn build_plan_summed(
    req: &PlanRequest,
    assets: &[Asset],
    targets: &[Decimal],
    spend: Vec<Spend>,
    parts: Parts,
) -> Plan {
    let Parts {
        weight_sum,
        total_before,
        proven_optimal,
        cash_used,
    } = parts;
    debug_assert_eq!(cash_used.serialize(), self::cash_used(&spend).serialize());
    let total_after = total_before + cash_used;
    let (inv_before, inv_after) = (inverse(total_before), inverse(total_after));
    let inv_weights = inverse(weight_sum);
    // One target weight per distinct weight in a row (with equal weights: one for all).
    let mut last: Option<(Decimal, Decimal)> = None;
    let mut target_weight = |w: Decimal| match last {
        Some((k, t)) if k.serialize() == w.serialize() => t,
        _ => {
            let t = if w == weight_sum {
                Decimal::ONE
            } else {
                mantissa::mul(w, inv_weights)
            };
            last = Some((w, t));
            t
        }
    };
    // A weight after per distinct value after in a row: a hard rebalance in exact amounts
    // brings every equal-weight asset to the same value, a 96-bit product each time.
    let mut last_after: Option<(Decimal, Decimal)> = None;
    let mut weight_after = |v: Decimal| match last_after {
        Some((k, w)) if k.serialize() == v.serialize() => w,
        _ => {
            let w = mantissa::mul(v, inv_after);
            last_after = Some((v, w));
            w
        }
    };
    // Plain loops pushing into vectors sized up front: an iterator chain's closure (the
    // orders' `filter_map`) became a call per line in some builds.
    let mut lines: Vec<PlanLine> = Vec::with_capacity(assets.len());
    for ((a, s), &target_value) in assets.iter().zip(&spend).zip(targets) {
        // One match on the spend for both figures (`value()` and `shares()` each matched).
        let (trade_shares, trade_value) = match *s {
            Spend::Shares(n, v) | Spend::Value(v, n) => (n, v),
        };
        let value_after = mantissa::add(a.value, trade_value);
        lines.push(PlanLine {
            symbol: symbol::owned(a.symbol),
            conid: a.conid,
            currency: a.currency.map(str::to_string),
            price: a.price,
            unrealized_pnl: a.pnl,
            quantity_before: a.quantity,
            value_before: a.value,
            target_weight: target_weight(a.weight),
            target_value,
            trade_shares,
            trade_value,
            value_after,
            weight_before: mantissa::mul(a.value, inv_before),
            weight_after: weight_after(value_after),
        });
    }
    let mut trades = Vec::with_capacity(lines.len());
    for line in &lines {
        if !line.trade_shares.is_zero() {
            trades.push(trade(line));
        }
    }
    Plan {
        strategy: req.strategy,
        granularity: req.granularity,
        cash: req.cash,
        buffer: req.buffer,
        cash_used,
        cash_left: req.cash - cash_used,
        total_before,
        total_after,
        lines,
        trades,
        proven_optimal,
        notes: Vec::new(),
        margin: None,
    }
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

/// The order of a line that trades (a non-zero share count): its side is the sign of its
/// share count — a sign test where `> 0` was a `Decimal` comparison, the same answer for a
/// non-zero value.
#[inline(always)]
fn trade(line: &PlanLine) -> Trade {
    let n = line.trade_shares;
    Trade {
        symbol: symbol::owned(&line.symbol),
        conid: line.conid,
        side: if n.is_sign_negative() {
            Side::Sell
        } else {
            Side::Buy
        },
        shares: n.abs(),
        value: line.trade_value.abs(),
        price: line.price,
    }
}
