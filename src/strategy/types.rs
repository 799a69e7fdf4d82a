//! The planner's public vocabulary. These types cross every boundary of the daemon (the cycle
//! builds a [`PlanRequest`] from live account data, the journal stores the [`Plan`] as JSON,
//! `pbal plan` renders it), so they are plain data: `Serialize + Deserialize + Clone + PartialEq`,
//! with money and quantities as exact [`Decimal`]s.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One position (or a target symbol not held yet: quantity 0 with a price).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    pub symbol: String,
    /// Shares held; may be fractional (fractional-share accounts). Never negative (no shorts).
    pub quantity: Decimal,
    /// Price per share used for planning (mark or last).
    pub price: Decimal,
    /// Unrealized P&L; tie-breaker only (sell losses first, buy the loser first).
    #[serde(default)]
    pub unrealized_pnl: Decimal,
    /// IBKR contract id, carried through to the trades so orders need no second lookup.
    #[serde(default)]
    pub conid: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    /// Market value as reported (e.g. the Flex Query's `PositionValue`), used instead of
    /// `quantity · price` when present, so a value-based input is planned on exactly its values.
    #[serde(default)]
    pub market_value: Option<Decimal>,
}

impl Holding {
    /// A holding from symbol, quantity and price (no P&L, conid or currency).
    pub fn new(symbol: impl Into<String>, quantity: Decimal, price: Decimal) -> Self {
        Holding {
            symbol: symbol.into(),
            quantity,
            price,
            unrealized_pnl: Decimal::ZERO,
            conid: None,
            currency: None,
            market_value: None,
        }
    }

    /// Market value: the reported `market_value`, else `quantity · price`.
    pub fn value(&self) -> Decimal {
        self.market_value.unwrap_or(self.quantity * self.price)
    }
}

/// Target allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// Equal weight over every holding in the request (the original tool's only mode).
    #[default]
    Equal,
    /// Symbol → weight. Weights are normalised by their sum, so `{A: 1, B: 3}` means 25 % / 75 %.
    /// Every symbol here must appear among the holdings (it needs a price); a held symbol absent
    /// from the map has target 0.
    Weights(BTreeMap<String, Decimal>),
}

/// How to move toward the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Buy only when adding cash, sell only when withdrawing (the original's `try_avoid_sell`):
    /// never realises gains just to rebalance.
    #[default]
    NeverSell,
    /// Trade every asset to its target value (the original's `hard_rebalance`).
    Hard,
    /// The fewest trades that bring every weight within its band (Fintual's trade
    /// minimisation); needs bands. See `strategy::mintrades`.
    MinTrades,
}

/// What `min-trades` minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Minimise {
    /// Whole shares traded.
    #[default]
    Shares,
    /// Orders (assets traded).
    Orders,
}

impl FromStr for Minimise {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "shares" => Ok(Minimise::Shares),
            "orders" => Ok(Minimise::Orders),
            other => Err(format!(
                "unknown --minimise {other:?}; use shares or orders"
            )),
        }
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::NeverSell => "never-sell",
            Strategy::Hard => "hard",
            Strategy::MinTrades => "min-trades",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = PlanError;
    /// Accepts the config names and the original tool's names (`try_avoid_sell`, `hard_rebalance`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "never-sell" | "never_sell" | "try_avoid_sell" | "try-avoid-sell" => {
                Ok(Strategy::NeverSell)
            }
            "hard" | "hard_rebalance" | "hard-rebalance" => Ok(Strategy::Hard),
            "min-trades" | "min_trades" => Ok(Strategy::MinTrades),
            other => Err(PlanError::UnknownStrategy(other.to_string())),
        }
    }
}

/// How trades are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Whole shares, chosen to minimise the deviation from the targets within the cash budget.
    #[default]
    Shares,
    /// Fractional amounts: the continuous optimum (fractional-share accounts).
    Exact,
    /// Steps of 10^N dollars, N = 1..=4: parity with the original tool's `-i N`.
    Increment(u32),
}

impl Granularity {
    /// The dollar step of increment mode.
    pub fn step(self) -> Option<Decimal> {
        match self {
            Granularity::Increment(n) => Some(Decimal::from(10u64.pow(n.min(9)))),
            _ => None,
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::Shares => f.write_str("shares"),
            Granularity::Exact => f.write_str("exact"),
            Granularity::Increment(n) => write!(f, "increment:{n}"),
        }
    }
}

impl FromStr for Granularity {
    type Err = PlanError;
    /// `shares`, `exact`, or `increment:N` (N = 1..=4).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "shares" => Ok(Granularity::Shares),
            "exact" => Ok(Granularity::Exact),
            _ => {
                let n = s
                    .strip_prefix("increment:")
                    .or_else(|| s.strip_prefix("increment-"))
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| PlanError::UnknownGranularity(s.to_string()))?;
                if (1..=4).contains(&n) {
                    Ok(Granularity::Increment(n))
                } else {
                    Err(PlanError::InvalidIncrement(n))
                }
            }
        }
    }
}

/// Everything the planner needs. Pure data: the planner does no I/O and reads no clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub holdings: Vec<Holding>,
    #[serde(default)]
    pub targets: Targets,
    /// Cash to add (> 0) or to withdraw (< 0).
    pub cash: Decimal,
    /// Cash to keep uninvested: buys never spend more than `cash − buffer` (plus sells in `hard`).
    #[serde(default)]
    pub buffer: Decimal,
    /// Trades smaller than this (absolute value) are dropped; 0 keeps everything.
    #[serde(default)]
    pub min_trade_value: Decimal,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub granularity: Granularity,
    /// `shares` granularity: allow closing a fractional position entirely (the only way its
    /// fractional remainder can be sold in whole-share mode). Off: whole shares only.
    #[serde(default)]
    pub sell_fractional_remainders: bool,
    /// Drift bands: when set, only assets outside their band trade (see `strategy::bands`).
    #[serde(default)]
    pub bands: Bands,
    /// `min-trades` only: shares or orders.
    #[serde(default)]
    pub minimise: Minimise,
}

/// What an asset outside its band trades to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BandMode {
    /// Back to its target weight.
    #[default]
    ToTarget,
    /// Only to the nearer edge of its band (the least trading that restores the band).
    ToBand,
}

impl FromStr for BandMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "to-target" | "to_target" => Ok(BandMode::ToTarget),
            "to-band" | "to_band" => Ok(BandMode::ToBand),
            other => Err(format!(
                "unknown band mode {other:?}; use to-target or to-band"
            )),
        }
    }
}

/// Drift bands around the target weights. Both zero (the default): no bands, every run trades.
/// With both set, the tighter one applies (the 5/25 rule).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Bands {
    /// ± percentage points of the portfolio (5 = an asset targeted at 20 % may sit in 15–25 %).
    #[serde(default)]
    pub abs_pct: Decimal,
    /// ± percent of the target weight (25 = an asset targeted at 20 % may sit in 15–25 %).
    #[serde(default)]
    pub rel_pct: Decimal,
    #[serde(default)]
    pub mode: BandMode,
}

impl Bands {
    /// No band set: every run trades every asset as the strategy decides.
    pub fn is_off(&self) -> bool {
        self.abs_pct.is_zero() && self.rel_pct.is_zero()
    }
}

impl PlanRequest {
    /// A request with the defaults: equal weights, no buffer, never-sell, whole shares.
    pub fn new(holdings: Vec<Holding>, cash: Decimal) -> Self {
        PlanRequest {
            holdings,
            targets: Targets::Equal,
            cash,
            buffer: Decimal::ZERO,
            min_trade_value: Decimal::ZERO,
            strategy: Strategy::NeverSell,
            granularity: Granularity::Shares,
            sell_fractional_remainders: false,
            bands: Bands::default(),
            minimise: Minimise::Shares,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One order to place. `shares` and `value` are positive; `side` gives the direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub symbol: String,
    pub conid: Option<i64>,
    pub side: Side,
    /// Shares to trade (> 0). Whole numbers except in `exact` granularity or when closing a
    /// fractional position.
    pub shares: Decimal,
    /// Planned dollar value (> 0): `shares · price`, or the step multiple in increment mode.
    pub value: Decimal,
    /// The price the plan was computed with (orders re-check it against live quotes).
    pub price: Decimal,
}

/// One row of the plan: a symbol before and after. `trade_*` are signed (+ buy, − sell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLine {
    pub symbol: String,
    pub conid: Option<i64>,
    pub currency: Option<String>,
    pub price: Decimal,
    pub unrealized_pnl: Decimal,
    pub quantity_before: Decimal,
    pub value_before: Decimal,
    /// Normalised target weight (fraction of 1).
    pub target_weight: Decimal,
    /// Target value `w · (total_before + investable cash)`.
    pub target_value: Decimal,
    pub trade_shares: Decimal,
    pub trade_value: Decimal,
    pub value_after: Decimal,
    pub weight_before: Decimal,
    pub weight_after: Decimal,
}

/// The planner's answer. `cash_used` is net cash spent (buys − sells; negative when raising
/// cash); `cash_left = cash − cash_used`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub strategy: Strategy,
    pub granularity: Granularity,
    pub cash: Decimal,
    pub buffer: Decimal,
    pub cash_used: Decimal,
    pub cash_left: Decimal,
    pub total_before: Decimal,
    pub total_after: Decimal,
    /// One line per symbol, sorted by symbol (row order of the input never matters).
    pub lines: Vec<PlanLine>,
    /// Non-zero trades, sorted by symbol.
    pub trades: Vec<Trade>,
    /// `true` when the whole-share search proved its answer optimal (always `true` for
    /// `exact` and `increment`, which have no integer search). See [`crate::strategy`] docs.
    pub proven_optimal: bool,
    /// Things the reader must know about this plan (a fractional position closed entirely,
    /// why nothing trades, a heuristic answer…), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The margin loan and the cushion, when the plan was made with a margin budget
    /// (`strategy::margin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<super::margin::MarginSummary>,
}

/// Why a plan could not be made. Every message names the symbol or field and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("{symbol}: price must be a positive finite number, got {price}; fix the price")]
    NonPositivePrice { symbol: String, price: Decimal },
    #[error(
        "{symbol}: quantity must not be negative (short positions are not supported), got {quantity}"
    )]
    NegativeQuantity { symbol: String, quantity: Decimal },
    #[error(
        "{symbol}: market value must not be negative (short positions are not supported), got {value}"
    )]
    NegativeValue { symbol: String, value: Decimal },
    #[error("{0}: symbol appears more than once; merge the rows")]
    DuplicateSymbol(String),
    #[error("{0}: empty symbol")]
    EmptySymbol(String),
    #[error("target {symbol}: weight must not be negative, got {weight}")]
    NegativeWeight { symbol: String, weight: Decimal },
    #[error("targets: the weights sum to zero; give at least one symbol a positive weight")]
    ZeroTotalWeight,
    #[error(
        "target {0}: symbol has no holding and no price; add it as a quantity-0 holding with a price"
    )]
    TargetWithoutPrice(String),
    #[error("buffer must not be negative, got {0}")]
    NegativeBuffer(Decimal),
    #[error("min_trade_value must not be negative, got {0}")]
    NegativeMinTrade(Decimal),
    #[error(
        "cash: withdrawal of {requested} exceeds the portfolio value {available}; withdraw at most {available}"
    )]
    WithdrawalExceedsPortfolio {
        requested: Decimal,
        available: Decimal,
    },
    #[error(
        "unknown strategy {0:?}; use never-sell (try_avoid_sell), hard (hard_rebalance) or min-trades"
    )]
    UnknownStrategy(String),
    #[error("unknown granularity {0:?}; use shares, exact or increment:N")]
    UnknownGranularity(String),
    #[error("increment: N must be 1..=4 (steps of 10^N dollars), got {0}")]
    InvalidIncrement(u32),
    #[error(
        "whole shares can raise at most {max} (every whole share held) but the plan needs {needed}; \
         use --granularity exact (fractional shares), or set portfolio.sell_fractional_remainders \
         = true to close fractional positions entirely, or ask for less"
    )]
    WholeSharesCannotRaise { needed: Decimal, max: Decimal },
    #[error(
        "min-trades needs a band: set --band-abs-pct and/or --band-rel-pct (portfolio.band_abs_pct / band_rel_pct)"
    )]
    MinTradesNeedsBands,
    #[error("min-trades plans whole shares; use --granularity shares")]
    MinTradesWholeSharesOnly,
    #[error(
        "{symbol}: no plan keeps every weight within its band: {reason}; widen the band or add cash"
    )]
    BandsUnreachable { symbol: String, reason: String },
    #[error("bands: band_abs_pct and band_rel_pct must not be negative")]
    NegativeBand,
    #[error("amounts too large to plan exactly: {0}")]
    Overflow(String),
    #[error("margin budget: {0}")]
    InvalidMargin(String),
    #[error(
        "margin budget: the account summary has no excess liquidity (excessliquidity), so the \
         cushion cannot be checked; pbal does not plan on margin blind. Set \
         portfolio.max_margin_pct = 0 to plan without borrowing"
    )]
    MarginUnknown,
    #[error("margin budget: the loan would be {loan}, above the limit {limit}")]
    LoanAboveLimit { loan: Decimal, limit: Decimal },
    /// The estimated cushion after the trades is below the minimum; boxed: the numbers are
    /// many and the happy path should not carry them.
    #[error("margin cushion: {0}")]
    CushionTooLow(Box<super::margin::CushionShortfall>),
}
