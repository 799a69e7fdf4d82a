//! Per-run report files and the CSV export.
//!
//! Every finished run writes `<state dir>/reports/<run>.html` (the history page's chart and
//! tables, self-contained: embedded stylesheet, inline SVG, no external asset, so it can be
//! mailed or archived) and `<run>.json`, the machine-readable audit record: the snapshot,
//! each price with its source and time, the plan, the guards, orders, fills, and cash before and
//! after. Both are 0600 (account data). Writing is best effort — the journal stays the record;
//! a report that cannot be written is logged, never a reason to fail a run.
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::html::{self, Frame};
use super::pages;
use super::runview::RunView;
use crate::cycle::snapshot::AccountSnapshot;
use crate::journal::{Journal, JournalError};

/// Directory of the report files inside the state dir.
pub const REPORTS_DIR: &str = "reports";

/// Report problems.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("report {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
}

/// Where a price came from: `live`, `delayed`, or `prior close` (no bid, ask or last).
fn price_source(q: &crate::cycle::broker::Quote, price: Decimal) -> &'static str {
    if q.bid.is_none() && q.ask.is_none() && q.last.is_none() && q.close == Some(price) {
        "prior close"
    } else if q.delayed {
        "delayed"
    } else {
        "live"
    }
}

/// Which guards the run passed, or the refusal.
fn guards(v: &RunView) -> Value {
    if v.run.status == "refused" {
        return json!({"refused": v.run.error});
    }
    let mut passed = vec!["price sanity (spread, mark deviation)", "live account"];
    if v.run.plan.is_some() {
        passed.push("caps (order value, turnover, order count)");
    }
    if v.run.mode == "submit" && !v.orders.is_empty() {
        passed.push("kill switch");
    }
    json!({"passed": passed})
}

/// The audit record of one run.
pub fn audit_record(v: &RunView) -> Value {
    let snap = v
        .run
        .snapshot
        .clone()
        .and_then(|s| serde_json::from_value::<AccountSnapshot>(s).ok());
    let prices: Vec<Value> = snap
        .iter()
        .flat_map(|s| {
            s.instruments.iter().map(move |i| {
                json!({"symbol": i.symbol, "price": i.price, "bid": i.quote.bid, "ask": i.quote.ask,
                       "last": i.quote.last, "close": i.quote.close,
                       "source": price_source(&i.quote, i.price), "time": s.taken_at})
            })
        })
        .collect();
    // Cash after: before, minus buys, plus sells, minus commissions — from the fills.
    let cash_before = snap.as_ref().map(|s| s.balances.cash);
    let flow: Decimal = v
        .fills
        .iter()
        .map(|f| {
            let amount = f.size.parse::<Decimal>().unwrap_or_default()
                * f.price.parse::<Decimal>().unwrap_or_default();
            if f.side.eq_ignore_ascii_case("SELL") || f.side.eq_ignore_ascii_case("S") {
                amount
            } else {
                -amount
            }
        })
        .sum();
    json!({
        "run": {"id": v.run.id, "kind": v.run.kind, "mode": v.run.mode, "status": v.run.status,
                "period": v.run.period, "account_id": v.run.account_id,
                "started_at": v.run.started_at, "finished_at": v.run.finished_at,
                "error": v.run.error, "prices_delayed": v.run.prices_delayed},
        "snapshot": v.run.snapshot,
        "prices": prices,
        "plan": v.run.plan,
        "guards": guards(v),
        "orders": v.orders,
        "fills": v.fills,
        "commissions": v.commissions,
        "cash_before": cash_before,
        "cash_after": cash_before.map(|c| c + flow - v.commissions),
        "residual_drift": v.drift,
        "max_drift": v.max_drift,
    })
}

/// The self-contained HTML report of one run.
pub fn html_report(v: &RunView) -> String {
    html::page(
        Frame::Report,
        &format!("Run {}", v.run.id),
        &pages::run_detail(v),
    )
}

/// Writes both files for `run_id`; returns the HTML path.
pub fn write(journal: &Journal, state_dir: &Path, run_id: &str) -> Result<PathBuf, ReportError> {
    let v = RunView::load(journal, run_id)?;
    let dir = state_dir.join(REPORTS_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // Run ids are timestamps with hex digits; anything else would not be a file name we chose.
    let safe: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let json_path = dir.join(format!("{safe}.json"));
    let body = serde_json::to_vec_pretty(&audit_record(&v)).unwrap_or_default();
    crate::util::atomic_write_private(&json_path, &body).map_err(io(&json_path))?;
    let html_path = dir.join(format!("{safe}.html"));
    crate::util::atomic_write_private(&html_path, html_report(&v).as_bytes())
        .map_err(io(&html_path))?;
    Ok(html_path)
}

/// [`write()`], logging instead of failing (a report never fails a run).
pub fn write_logged(journal: &Journal, state_dir: &Path, run_id: &str) {
    match write(journal, state_dir, run_id) {
        Ok(p) => tracing::debug!(report = %p.display(), "run report written"),
        Err(e) => tracing::warn!(run = %run_id, error = %e, "could not write the run report"),
    }
}

/// Orders and fills of `runs` as CSV: one row per fill, plus one row for each order without
/// a fill (so unfilled and cancelled orders appear too).
pub fn write_csv(runs: &[RunView], out: impl std::io::Write) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "run",
        "started_at",
        "kind",
        "mode",
        "run_status",
        "coid",
        "side",
        "symbol",
        "quantity",
        "order_state",
        "filled_qty",
        "avg_price",
        "execution_id",
        "fill_size",
        "fill_price",
        "commission",
        "trade_time",
    ])?;
    for v in runs {
        let r = &v.run;
        for o in &v.orders {
            let head = [
                r.id.as_str(),
                r.started_at.as_str(),
                r.kind.as_str(),
                r.mode.as_str(),
                r.status.as_str(),
                o.coid.as_str(),
                o.side.as_str(),
                o.symbol.as_str(),
                o.quantity.as_str(),
                o.state.as_str(),
                o.filled_qty.as_deref().unwrap_or(""),
                o.avg_price.as_deref().unwrap_or(""),
            ];
            let fills: Vec<_> = v
                .fills
                .iter()
                .filter(|f| f.coid.as_deref() == Some(o.coid.as_str()))
                .collect();
            if fills.is_empty() {
                w.write_record(head.iter().copied().chain(["", "", "", "", ""]))?;
            }
            for f in fills {
                w.write_record(head.iter().copied().chain([
                    f.execution_id.as_str(),
                    f.size.as_str(),
                    f.price.as_str(),
                    f.commission.as_deref().unwrap_or(""),
                    f.trade_time.as_deref().unwrap_or(""),
                ]))?;
            }
        }
    }
    w.flush().map_err(|e| ReportError::Io {
        path: PathBuf::from("<stdout>"),
        source: e,
    })?;
    Ok(())
}
