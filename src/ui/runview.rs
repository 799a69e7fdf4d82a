//! One run as a human reviews it: the journal's record, its orders and fills, the commissions
//! paid, and how far the portfolio is from target afterwards (residual drift).
//!
//! The history page, the per-run report files and the CSV export all read this one view, so
//! they never disagree about what a run did.
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::cycle::planning::RunPlan;
use crate::journal::{FillRecord, Journal, JournalError, OrderIntent, RunRecord};

/// Distance from target of one asset after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftRow {
    pub symbol: String,
    pub target_weight: Decimal,
    /// Weight after the fills that actually happened (at the plan's reference prices).
    pub weight_after: Decimal,
    /// `weight_after − target_weight`.
    pub drift: Decimal,
}

/// Everything about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run: RunRecord,
    pub orders: Vec<OrderIntent>,
    pub fills: Vec<FillRecord>,
    /// Sum of the fills' commissions (fills without one count as zero).
    pub commissions: Decimal,
    /// Per asset, when the run has a plan.
    pub drift: Vec<DriftRow>,
    /// Largest absolute drift, as a fraction of 1.
    pub max_drift: Option<Decimal>,
}

impl RunView {
    /// Reads run `id` with its orders and fills from the journal.
    pub fn load(journal: &Journal, id: &str) -> Result<Self, JournalError> {
        let run = journal.run(id)?;
        let orders = journal.intents_for_run(id)?;
        let coids: Vec<String> = orders.iter().map(|i| i.coid.clone()).collect();
        let fills = journal.fills_for_coids(&coids)?;
        Ok(Self::build(run, orders, fills))
    }

    /// Assembles the view (pure: the journal reads are in [`RunView::load`]).
    pub fn build(run: RunRecord, orders: Vec<OrderIntent>, fills: Vec<FillRecord>) -> Self {
        let commissions = fills
            .iter()
            .filter_map(|f| f.commission.as_deref())
            .filter_map(|c| c.parse::<Decimal>().ok())
            .sum();
        let plan = run
            .plan
            .clone()
            .and_then(|p| serde_json::from_value::<RunPlan>(p).ok());
        let drift = plan.map(|p| drift(&p, &orders)).unwrap_or_default();
        let max_drift = drift.iter().map(|d| d.drift.abs()).max();
        Self {
            run,
            orders,
            fills,
            commissions,
            drift,
            max_drift,
        }
    }
}

/// Residual drift: holdings before the run plus what actually filled, valued at the plan's
/// prices, against the targets. A run that filled everything shows the plan's own residual
/// (whole shares rarely hit targets exactly); a dry-run or a staged run shows the drift the
/// plan would leave; an unfilled order leaves the drift it meant to remove.
fn drift(plan: &RunPlan, orders: &[OrderIntent]) -> Vec<DriftRow> {
    let executed = !orders.is_empty();
    let mut filled: BTreeMap<&str, Decimal> = BTreeMap::new();
    for o in orders {
        let q = o
            .filled_qty
            .as_deref()
            .and_then(|q| q.parse::<Decimal>().ok())
            .unwrap_or_default();
        let signed = if o.side.eq_ignore_ascii_case("SELL") {
            -q
        } else {
            q
        };
        *filled.entry(o.symbol.as_str()).or_default() += signed;
    }
    let values: Vec<(&str, Decimal, Decimal)> = plan
        .plan
        .lines
        .iter()
        .map(|l| {
            let value = if executed {
                (l.quantity_before + filled.get(l.symbol.as_str()).copied().unwrap_or_default())
                    * l.price
            } else {
                l.value_after
            };
            (l.symbol.as_str(), l.target_weight, value)
        })
        .collect();
    let total: Decimal = values.iter().map(|v| v.2).sum();
    values
        .into_iter()
        .map(|(symbol, target, value)| {
            let weight = if total.is_zero() {
                Decimal::ZERO
            } else {
                value / total
            };
            DriftRow {
                symbol: symbol.to_owned(),
                target_weight: target,
                weight_after: weight,
                drift: weight - target,
            }
        })
        .collect()
}
