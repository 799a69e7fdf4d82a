//! The `tax-aware` plan inside a cycle: the broker's tax statement (Flex lots and trades),
//! brought up to date with pbal's own journal fills, checked share for share against the live
//! positions, then planned by the pure [`crate::tax`] engine.
//!
//! Why the checks are strict: the engine predicts realised gains from the lots; lots that do
//! not add up to the positions (a manual trade, a transfer, a corporate action, a statement
//! from the wrong account) would make every prediction, and so the budget, wrong. The cycle
//! refuses with both numbers instead of guessing.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::broker::Broker;
use super::planning::{self, RunPlan};
use super::snapshot::AccountSnapshot;
use super::{Cycle, CycleError};
use crate::config::Settings;
use crate::journal::FillRecord;
use crate::strategy::{Side, Strategy};
use crate::tax::{self, Lot, PastTrade, TaxAudit, TaxRequest, feed};

/// The strategy name that selects this path.
pub const TAX_AWARE: &str = "tax-aware";

/// What a broker's tax source delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxStatement {
    pub lots: Vec<Lot>,
    /// Past executions (wash-sale window, year-to-date realised results).
    pub trades: Vec<PastTrade>,
    /// The last day the statement covers (Flex `toDate`): journal fills after it are applied.
    pub through: NaiveDate,
    /// Where it came from, for the run record (e.g. "Flex query 123").
    pub source: String,
}

/// The tax side of a run record: the audit plus where its inputs came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxRecord {
    pub audit: TaxAudit,
    pub statement: String,
    pub statement_through: NaiveDate,
    /// pbal's own fills applied on top of the statement.
    pub journal_fills_applied: usize,
    /// When the prices were read, and which quote field each came from.
    pub priced_at: DateTime<Utc>,
    pub prices: BTreeMap<String, PriceSource>,
}

/// One symbol's price and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceSource {
    pub price: Decimal,
    /// `last`, `mid`, `close` or `mark`: the quote field the checked price equals.
    pub source: String,
    pub delayed: bool,
}

impl TaxRecord {
    /// The audit as text (sales with their lots, totals, budget, limits) and where its inputs
    /// came from, for the CLI and the approval page.
    pub fn text(&self) -> String {
        let mut s = tax::render::text(&self.audit);
        s.push_str(&format!(
            "  Lots from {} (through {}), {} journal fill(s) applied since; prices as of {}\n",
            self.statement,
            self.statement_through,
            self.journal_fills_applied,
            self.priced_at.format("%Y-%m-%d %H:%M:%S UTC"),
        ));
        s
    }
}

impl<B: Broker> Cycle<B> {
    /// Plans the snapshot: with the configured strategy, or for `tax-aware` with the tax
    /// engine on the broker's statement and the journal's fills.
    pub(crate) async fn plan_run(&self, snap: &AccountSnapshot) -> Result<RunPlan, CycleError> {
        if self.settings.portfolio.strategy != TAX_AWARE {
            return planning::plan(snap, &self.settings);
        }
        let stmt = self.broker.tax_statement().await?;
        let fills = self.journal.call(|j| j.all_fills()).await?;
        plan_tax(snap, &self.settings, &stmt, &fills)
    }
}

fn tax_error(e: impl std::fmt::Display) -> CycleError {
    CycleError::Plan(format!("tax-aware: {e}"))
}

/// The pure part of a `tax-aware` run: statement + journal fills + snapshot → plan and record.
pub fn plan_tax(
    snap: &AccountSnapshot,
    settings: &Settings,
    stmt: &TaxStatement,
    fills: &[FillRecord],
) -> Result<RunPlan, CycleError> {
    let tz: chrono_tz::Tz = settings
        .schedule
        .timezone
        .parse()
        .map_err(|_| tax_error("schedule.timezone is not an IANA zone"))?;
    // Flex dates are the exchange's (US Eastern by default): compare in the schedule's zone.
    let as_of = snap.taken_at.with_timezone(&tz).date_naive();
    let cutoff = stmt
        .through
        .and_hms_opt(23, 59, 59)
        .expect("23:59:59 is a valid time");
    let fills = journal_fills(fills, tz)?;
    let applied = fills.iter().filter(|f| f.time > cutoff).count();
    let engine_settings = settings.tax.engine(&settings.exposure, Default::default());
    let lots = relabel(&stmt.lots, snap);
    let (lots, journal_trades) = feed::roll_forward_trades(
        &lots,
        cutoff,
        &fills,
        engine_settings.lot_method,
        engine_settings.st_weight,
    )
    .map_err(tax_error)?;
    let held: BTreeMap<String, Decimal> = snap
        .instruments
        .iter()
        .filter(|i| !i.quantity.is_zero())
        .map(|i| (i.symbol.clone(), i.quantity))
        .collect();
    feed::check_positions(&lots, &held).map_err(tax_error)?;
    // Statement trades up to its last day, then pbal's own (a later statement row would be
    // one of pbal's fills counted twice).
    let mut trades: Vec<PastTrade> = stmt
        .trades
        .iter()
        .filter(|t| t.trade_date <= stmt.through)
        .cloned()
        .collect();
    trades.extend(journal_trades);
    let ytd = tax::wash::year_to_date(&trades, as_of);
    let (request, run_cash) = planning::request(snap, settings, Strategy::Hard)?;
    if run_cash.margin.is_some() {
        return Err(tax_error(
            "tax-aware plans do not borrow; set portfolio.max_margin_pct = 0 or use another strategy",
        ));
    }
    let treq = TaxRequest {
        plan: request,
        lots,
        trades,
        as_of,
        settings: settings.tax.engine(&settings.exposure, ytd),
    };
    let p = tax::plan(&treq).map_err(tax_error)?;
    let legs = planning::legs(snap, settings, &p.plan)?;
    Ok(RunPlan {
        plan: p.plan,
        legs,
        tax: Some(TaxRecord {
            audit: p.tax,
            statement: stmt.source.clone(),
            statement_through: stmt.through,
            journal_fills_applied: applied,
            priced_at: snap.taken_at,
            prices: price_sources(snap),
        }),
    })
}

/// Lots named by the snapshot's symbol for their conid (the statement and the positions
/// endpoint may spell a ticker differently); lots of unmanaged positions (options, futures)
/// are left out, as the snapshot leaves those positions out.
fn relabel(lots: &[Lot], snap: &AccountSnapshot) -> Vec<Lot> {
    let by_conid: BTreeMap<i64, &str> = snap
        .instruments
        .iter()
        .map(|i| (i.conid, i.symbol.as_str()))
        .collect();
    let unmanaged: BTreeSet<&str> = snap.unmanaged.iter().map(String::as_str).collect();
    lots.iter()
        .filter(|l| !unmanaged.contains(l.symbol.as_str()))
        .map(|l| {
            let mut l = l.clone();
            if let Some(sym) = l.conid.and_then(|c| by_conid.get(&c)) {
                l.symbol = (*sym).to_owned();
            }
            l
        })
        .collect()
}

/// The journal's fills in the engine's form, times in `tz` (as Flex dates are). A fill
/// without a readable time cannot be placed before or after the statement: an error.
fn journal_fills(fills: &[FillRecord], tz: chrono_tz::Tz) -> Result<Vec<feed::Fill>, CycleError> {
    fills
        .iter()
        .map(|f| {
            let bad = |what: &str| {
                tax_error(format!(
                    "journal fill {} ({} {}): {what}",
                    f.execution_id, f.side, f.symbol
                ))
            };
            let time = f
                .trade_time
                .as_deref()
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y%m%d-%H:%M:%S").ok())
                .ok_or_else(|| bad("no readable trade time"))?
                .and_utc()
                .with_timezone(&tz)
                .naive_local();
            let side = match f.side.as_str() {
                "BUY" => Side::Buy,
                "SELL" => Side::Sell,
                other => return Err(bad(&format!("side {other:?}"))),
            };
            let num = |s: &str, what: &str| {
                s.parse::<Decimal>()
                    .map_err(|_| bad(&format!("{what} {s:?}")))
            };
            Ok(feed::Fill {
                symbol: f.symbol.clone(),
                conid: None,
                time,
                side,
                quantity: num(&f.size, "size")?,
                price: num(&f.price, "price")?,
            })
        })
        .collect()
}

/// Which quote field each checked price came from.
fn price_sources(snap: &AccountSnapshot) -> BTreeMap<String, PriceSource> {
    snap.instruments
        .iter()
        .map(|i| {
            let q = &i.quote;
            let mid = q.bid.zip(q.ask).map(|(b, a)| (a + b) / Decimal::TWO);
            let source = if q.last == Some(i.price) {
                "last"
            } else if mid == Some(i.price) {
                "mid"
            } else if q.close == Some(i.price) {
                "close"
            } else {
                "mark"
            };
            let p = PriceSource {
                price: i.price,
                source: source.to_owned(),
                delayed: q.delayed,
            };
            (i.symbol.clone(), p)
        })
        .collect()
}
