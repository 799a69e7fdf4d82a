//! Snapshot + settings → the strategy's plan → numbered order legs (sells first).
//!
//! The planner itself is pure ([`crate::strategy`]); this module only translates the live
//! account into its request and its trades into orders with deterministic cOIDs.
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::CycleError;
use super::broker::{OrderRequest, OrderType, Side};
use super::guards::{self, SizedOrder};
use super::snapshot::AccountSnapshot;
use crate::config::Settings;
use crate::strategy::{self, Granularity, Holding, PlanRequest, Strategy, Targets};

fn default_sec_type() -> String {
    "STK".to_owned()
}

/// One order of a run, numbered: legs `0..k` are sells, the rest buys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub leg: u32,
    pub symbol: String,
    pub conid: i64,
    #[serde(default = "default_sec_type")]
    pub sec_type: String,
    pub side: Side,
    pub quantity: Decimal,
    /// Reference price the plan was sized at.
    pub price: Decimal,
    pub order_type: OrderType,
    pub tif: String,
}

impl Leg {
    /// The deterministic client order id: run id + leg + side. Unique per run and leg, so a
    /// restarted process can find out whether the gateway already has it.
    pub fn coid(&self, run_id: &str) -> String {
        let side = match self.side {
            Side::Buy => 'B',
            Side::Sell => 'S',
        };
        format!("pbal-{run_id}-{:02}{side}", self.leg)
    }

    /// The order exactly as sent.
    pub fn order_request(&self, run_id: &str) -> OrderRequest {
        OrderRequest {
            coid: self.coid(run_id),
            conid: self.conid,
            symbol: self.symbol.clone(),
            sec_type: self.sec_type.clone(),
            side: self.side,
            quantity: self.quantity,
            order_type: self.order_type,
            tif: self.tif.clone(),
        }
    }

    /// Value at the reference price (positive).
    pub fn value(&self) -> Decimal {
        self.quantity * self.price
    }
}

/// What a run will do: the strategy's plan and the order legs derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub plan: strategy::Plan,
    pub legs: Vec<Leg>,
    /// The tax record of a `tax-aware` plan (lots per sale, ST/LT totals, budget use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<super::tax_step::TaxRecord>,
}

impl RunPlan {
    /// Orders with their values for the caps: at the limit price when it is above the
    /// reference price (a buy's limit is what it may cost), else at the reference price (a
    /// sell fills at or above its limit).
    pub fn sized_orders(&self) -> Vec<SizedOrder> {
        self.legs
            .iter()
            .map(|l| {
                let price = match l.order_type {
                    OrderType::Limit { price } => price.max(l.price),
                    OrderType::Market => l.price,
                };
                SizedOrder {
                    symbol: l.symbol.clone(),
                    side: l.side,
                    quantity: l.quantity,
                    value: l.quantity * price,
                }
            })
            .collect()
    }
}

/// A limit price moved onto the contract's tick: buys down, sells up
/// ([`super::pricing::round_to_tick`]).
fn on_tick(t: OrderType, side: Side, increments: &[super::pricing::IncrementRule]) -> OrderType {
    match t {
        OrderType::Limit { price } => OrderType::Limit {
            price: super::pricing::round_to_tick(price, side, increments),
        },
        OrderType::Market => OrderType::Market,
    }
}

/// Cash held back (limit orders only) so buys still fit when they fill at their limit (up to `limit_offset_bps`
/// above the reference price) and sells fill as far below it: the offset applied to the cash
/// invested, plus, for `hard`, to the holdings whose sales fund buys. Rounded up to the cent.
/// Execution trims buys to the cash actually available anyway; this keeps that the exception.
fn limit_headroom(
    holdings: &[Holding],
    cash: Decimal,
    strategy: Strategy,
    settings: &Settings,
) -> Decimal {
    if settings.orders.kind != crate::config::OrderKind::Limit {
        // Market orders have no price bound to reserve for; execution trims buys to the cash.
        return Decimal::ZERO;
    }
    let offset = settings.orders.limit_offset_bps / Decimal::from(10_000);
    let mut exposed = cash.max(Decimal::ZERO);
    if strategy == Strategy::Hard {
        exposed += holdings
            .iter()
            .map(|h| h.quantity * h.price)
            .sum::<Decimal>();
    }
    (exposed * offset).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero)
}

/// Plans the snapshot with the configured strategy and turns the trades into legs.
pub fn plan(snap: &AccountSnapshot, settings: &Settings) -> Result<RunPlan, CycleError> {
    let strategy_kind = Strategy::from_str(&settings.portfolio.strategy)
        .map_err(|e| CycleError::Plan(e.to_string()))?;
    let (request, run_cash) = request(snap, settings, strategy_kind)?;
    let mut plan = match &run_cash.margin {
        Some(m) => strategy::margin::plan(&request, m),
        None => strategy::plan(&request),
    }
    .map_err(|e| CycleError::Plan(e.to_string()))?;
    plan.notes.extend(run_cash.note);
    let legs = legs(snap, settings, &plan)?;
    Ok(RunPlan {
        plan,
        legs,
        tax: None,
    })
}

/// The planner's request for the snapshot under `settings`, planned as `strategy_kind`, and
/// the run's cash (with the loan it may add).
pub(crate) fn request(
    snap: &AccountSnapshot,
    settings: &Settings,
    strategy_kind: Strategy,
) -> Result<(PlanRequest, super::margin::RunCash), CycleError> {
    let p = &settings.portfolio;
    let granularity =
        Granularity::from_str(&p.granularity).map_err(|e| CycleError::Plan(e.to_string()))?;
    let holdings: Vec<Holding> = snap
        .instruments
        .iter()
        .map(|i| Holding {
            symbol: i.symbol.clone(),
            quantity: i.quantity,
            price: i.price,
            unrealized_pnl: i.unrealized_pnl,
            conid: Some(i.conid),
            currency: Some(snap.balances.currency.clone()),
            // Value at the checked live price, not the (possibly stale) position mark.
            market_value: None,
        })
        .collect();
    let targets = if p.targets.is_empty() {
        Targets::Equal
    } else {
        Targets::Weights(p.targets.clone())
    };
    let run_cash = super::margin::run_cash(snap, settings)?;
    let cash = run_cash.cash;
    // The headroom covers the loan's buys too.
    let exposed = cash + run_cash.margin.as_ref().map_or(Decimal::ZERO, |m| m.room());
    let request = PlanRequest {
        buffer: p.buffer + limit_headroom(&holdings, exposed, strategy_kind, settings),
        holdings,
        targets,
        cash,
        min_trade_value: p.min_trade_value,
        strategy: strategy_kind,
        granularity,
        sell_fractional_remainders: p.sell_fractional_remainders,
        bands: strategy::Bands {
            abs_pct: p.band_abs_pct,
            rel_pct: p.band_rel_pct,
            mode: p.band_mode,
        },
        minimise: p.minimise,
    };
    Ok((request, run_cash))
}

/// The plan's trades as numbered order legs: sells first, then buys, by symbol.
pub(crate) fn legs(
    snap: &AccountSnapshot,
    settings: &Settings,
    plan: &strategy::Plan,
) -> Result<Vec<Leg>, CycleError> {
    let mut legs = Vec::new();
    let mut trades: Vec<&strategy::Trade> = plan.trades.iter().collect();
    // Sells first (their proceeds fund the buys), then buys; by symbol within a side.
    trades.sort_by(|a, b| {
        (a.side != strategy::Side::Sell, &a.symbol)
            .cmp(&(b.side != strategy::Side::Sell, &b.symbol))
    });
    for t in trades {
        let inst = snap.instrument(&t.symbol).ok_or_else(|| {
            CycleError::Plan(format!("{}: planned but not in the snapshot", t.symbol))
        })?;
        let side = t.side;
        // Fractional (`exact`) quantities go to the broker with at most 4 decimals, rounded
        // toward zero so a buy never costs more, nor a sell exceeds the holding, than planned.
        let quantity = t
            .shares
            .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::ToZero);
        if quantity <= Decimal::ZERO {
            continue;
        }
        legs.push(Leg {
            leg: legs.len() as u32,
            symbol: t.symbol.clone(),
            conid: inst.conid,
            sec_type: inst.sec_type.clone(),
            side,
            quantity,
            price: inst.price,
            // Mutual funds trade once a day at NAV and accept market orders only.
            order_type: if inst.sec_type == "FUND" {
                OrderType::Market
            } else {
                on_tick(
                    guards::order_type(side, &inst.quote, inst.price, &settings.orders),
                    side,
                    &inst.increments,
                )
            },
            tif: settings.orders.tif.clone(),
        });
    }
    Ok(legs)
}
