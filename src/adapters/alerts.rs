//! The alert a finished scheduled cycle sends: "plan staged" with its orders, turnover and
//! expiry, or "run finished" with its outcome and residual drift.
//!
//! Why in the adapters: the words live in [`crate::notify::messages`] (a leaf, plain values),
//! the facts in the cycle's report and the journal; this is where the two meet, and the
//! scheduler only forwards the result.
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::cycle::broker::{Broker, OrderType};
use crate::cycle::{Cycle, CycleReport};
use crate::journal::IntentState;
use crate::notify::Alert;
use crate::notify::messages::{self, OrderLine, RunFinished, StagedPlan};

/// The note the cycle writes after an order-placing run (see `cycle::execute`).
const DRIFT_NOTE: &str = "residual drift after the run: ";

/// The alert for `r`.
pub(crate) async fn for_report<B: Broker>(cycle: &Cycle<B>, r: &CycleReport) -> Alert {
    match (&r.staged_id, &r.plan) {
        (Some(id), Some(plan)) => {
            let orders: Vec<OrderLine> = plan
                .legs
                .iter()
                .map(|l| OrderLine {
                    side: l.side.as_str().to_uppercase(),
                    quantity: l.quantity,
                    symbol: l.symbol.clone(),
                    limit: match l.order_type {
                        OrderType::Limit { price } => Some(price),
                        OrderType::Market => None,
                    },
                })
                .collect();
            let turnover: Decimal = plan.legs.iter().map(|l| l.value().abs()).sum();
            let total = plan.plan.total_before;
            let turnover_pct =
                (total > Decimal::ZERO).then(|| turnover / total * Decimal::ONE_HUNDRED);
            let expires = expiry(cycle, id).await;
            messages::plan_staged(&StagedPlan {
                staged_id: id,
                period: r.period.as_deref(),
                orders: &orders,
                turnover,
                turnover_pct,
                currency: &cycle.settings.portfolio.currency,
                expires: &expires,
            })
        }
        _ => {
            let drift = r.notes.iter().find_map(|n| n.strip_prefix(DRIFT_NOTE));
            let mut notes: Vec<String> = r
                .notes
                .iter()
                .filter(|n| !n.starts_with(DRIFT_NOTE))
                .cloned()
                .collect();
            if r.prices_delayed {
                notes.push("prices were delayed".into());
            }
            messages::run_finished(&RunFinished {
                run_id: &r.run_id,
                period: r.period.as_deref(),
                status: &r.status,
                planned: r.plan.as_ref().map_or(0, |p| p.legs.len()),
                filled: r
                    .orders
                    .iter()
                    .filter(|o| o.state == IntentState::Filled)
                    .count(),
                drift,
                notes: &notes,
            })
        }
    }
}

/// When the staged plan expires (from the journal, which decides it), in UTC.
async fn expiry<B: Broker>(cycle: &Cycle<B>, id: &str) -> String {
    let (id, now) = (id.to_owned(), cycle.clock.now());
    match cycle.journal.call(move |j| j.staged_plan(&id, now)).await {
        Ok(p) => p
            .expires_at
            .parse::<DateTime<Utc>>()
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or(p.expires_at),
        Err(e) => format!("unknown ({e})"),
    }
}
