//! The seam between the rebalance cycle and the gateway.
//!
//! The cycle needs a dozen broker operations; naming them in one trait keeps the cycle's
//! money logic testable against a fake and independent of HTTP details. The production
//! implementation is the Client Portal client (`ibkr_broker.rs`); end-to-end tests drive it
//! against `pbal sim`.
use std::future::Future;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What kind of failure a [`BrokerError`] is, which decides what the daemon does about it.
///
/// Why kinds instead of strings: a certificate pin mismatch or a symbol that does not resolve
/// fails the same way on every retry, so retrying it three times only delays the alert; a
/// timeout or a lost session is worth waiting for. The classification happens once, where the
/// gateway's own error is still known (the adapter), and survives the trait boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerErrorKind {
    /// Timeouts, an unreachable gateway, 5xx, rate limiting: the same call may work later.
    Transient,
    /// The gateway's session is not usable: wait for the keeper or a login, then retry.
    SessionNotReady,
    /// The gateway (or IBKR) said no to this request: retrying the same request is pointless.
    Refused,
    /// pbal's configuration is wrong (trust, URL, an unresolvable symbol): a human must fix it.
    Config,
    /// Anything else, including answers pbal cannot interpret: fail closed and alert.
    Fatal,
}

impl std::fmt::Display for BrokerErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BrokerErrorKind::Transient => "transient gateway error",
            BrokerErrorKind::SessionNotReady => "gateway session not ready",
            BrokerErrorKind::Refused => "refused by the gateway",
            BrokerErrorKind::Config => "configuration problem",
            BrokerErrorKind::Fatal => "gateway error",
        })
    }
}

/// A broker error as the cycle sees it: a [`BrokerErrorKind`], a message, and the error it came
/// from (kept as the `source`, so logs show the whole chain).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct BrokerError {
    kind: BrokerErrorKind,
    message: String,
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl BrokerError {
    /// An error of `kind` with a message and no underlying error.
    pub fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by `source` (its text becomes the message).
    pub fn from_source(
        kind: BrokerErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BrokerError {
            kind,
            message: source.to_string(),
            source: Some(std::sync::Arc::new(source)),
        }
    }

    /// A [`BrokerErrorKind::Transient`] error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Transient, message)
    }

    /// A [`BrokerErrorKind::SessionNotReady`] error.
    pub fn not_ready(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::SessionNotReady, message)
    }

    /// A [`BrokerErrorKind::Refused`] error.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Refused, message)
    }

    /// A [`BrokerErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Config, message)
    }

    /// A [`BrokerErrorKind::Fatal`] error.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Fatal, message)
    }

    pub fn kind(&self) -> BrokerErrorKind {
        self.kind
    }

    /// The message without the kind's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when waiting for a login (or the keeper) may fix it.
    pub fn is_session_lost(&self) -> bool {
        self.kind == BrokerErrorKind::SessionNotReady
    }

    /// True when trying again later may succeed without a human: transient failures and a
    /// session that is not ready yet. Everything else alerts once and stops for the period.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            BrokerErrorKind::Transient | BrokerErrorKind::SessionNotReady
        )
    }
}

/// Buy or sell: the planner's own type, so a planned trade's side reaches the broker as is.
pub use crate::strategy::Side;

/// An account the gateway offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub id: String,
    /// What the gateway says; the cycle also checks the id prefix and fails closed.
    pub paper: bool,
}

/// One held position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerPosition {
    pub conid: i64,
    pub symbol: String,
    pub quantity: Decimal,
    pub mark_price: Decimal,
    pub market_value: Decimal,
    pub unrealized_pnl: Decimal,
    pub currency: String,
    pub asset_class: String,
}

/// Cash and account value, in the account's base currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balances {
    pub currency: String,
    /// Settled cash: what can be invested without borrowing.
    pub settled_cash: Decimal,
    /// Cash balance including unsettled proceeds (what buys after sells may use).
    pub cash: Decimal,
    pub net_liquidation: Decimal,
    /// IBKR's excess liquidity (`excessliquidity`), for the margin budget; `None`: unknown.
    #[serde(default)]
    pub excess_liquidity: Option<Decimal>,
    /// A cash account (`tradingType`) never borrows. Unknown counts as cash (fail closed).
    #[serde(default = "yes")]
    pub cash_account: bool,
    /// Negative cash in other currencies (`EUR -2000`): a loan the margin budget cannot
    /// count in `currency`, so a margin budget is refused while it exists.
    #[serde(default)]
    pub foreign_debts: Vec<(String, Decimal)>,
}

fn yes() -> bool {
    true
}

/// How to find a symbol's contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractSpec {
    pub symbol: String,
    pub sec_type: String,
    pub currency: String,
    pub exchange: Option<String>,
    pub conid: Option<i64>,
}

/// A market-data quote. Prices may be missing; the cycle refuses to size orders without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub conid: i64,
    pub bid: Option<Decimal>,
    pub ask: Option<Decimal>,
    pub last: Option<Decimal>,
    /// Prior close (or today's close once struck): the anchor for symbols not held and the
    /// price of a mutual fund without a live quote (its last NAV).
    #[serde(default)]
    pub close: Option<Decimal>,
    /// Delayed (not real-time) data.
    pub delayed: bool,
}

/// Order type with its limit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OrderType {
    Market,
    Limit { price: Decimal },
}

/// One order exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub coid: String,
    pub conid: i64,
    pub symbol: String,
    /// `STK`, `FUND` … (sent as `conid:secType`).
    pub sec_type: String,
    pub side: Side,
    pub quantity: Decimal,
    pub order_type: OrderType,
    pub tif: String,
}

/// What happened to a placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlaceResult {
    /// The gateway took it.
    Submitted { order_id: String, status: String },
    /// A confirmation prompt not on the allowlist; the order was discarded.
    Refused { prompt_id: String, text: String },
    /// The gateway said no.
    Rejected { reason: String },
    /// The gateway already has this cOID: reconcile, never resend.
    DuplicateCoid,
    /// The POST's fate is unknown (timeout, 503): reconcile before anything else.
    Unknown { reason: String },
}

/// Normalised order status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    Working,
    Filled,
    Cancelled,
    /// Inactive / rejected by the venue.
    Inactive,
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, OrderStatus::Working)
    }
}

/// An order the gateway knows about (live orders of this session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveOrder {
    pub order_id: String,
    /// The cOID we sent (`order_ref`).
    pub coid: Option<String>,
    pub conid: i64,
    pub side: Side,
    pub status: OrderStatus,
    pub filled: Decimal,
    pub remaining: Decimal,
    pub avg_price: Option<Decimal>,
}

/// One execution (fill).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub execution_id: String,
    pub order_id: String,
    pub coid: Option<String>,
    pub symbol: String,
    pub side: Side,
    pub size: Decimal,
    pub price: Decimal,
    pub commission: Option<Decimal>,
    pub time: Option<String>,
}

/// The operations a rebalance cycle performs against the broker.
pub trait Broker: Send + Sync {
    /// Confirms the session is Ready now (orders require a recent confirmation).
    fn ensure_ready(&self) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// Tradable accounts.
    fn accounts(&self) -> impl Future<Output = Result<Vec<AccountInfo>, BrokerError>> + Send;
    /// All positions, fresh (cache invalidated, every page).
    fn positions(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Vec<BrokerPosition>, BrokerError>> + Send;
    /// Cash and net liquidation.
    fn balances(&self, account: &str)
    -> impl Future<Output = Result<Balances, BrokerError>> + Send;
    /// Symbol → conid.
    fn resolve(&self, spec: &ContractSpec)
    -> impl Future<Output = Result<i64, BrokerError>> + Send;
    /// Quotes for many conids (pre-flight handled inside).
    fn quotes(
        &self,
        conids: &[i64],
    ) -> impl Future<Output = Result<Vec<Quote>, BrokerError>> + Send;
    /// IBKR what-if for one order; nothing is placed.
    fn whatif(
        &self,
        account: &str,
        order: &OrderRequest,
    ) -> impl Future<Output = Result<serde_json::Value, BrokerError>> + Send;
    /// Places one order, answering only allow-listed prompts. Never retried blindly.
    fn place(
        &self,
        account: &str,
        order: &OrderRequest,
    ) -> impl Future<Output = Result<PlaceResult, BrokerError>> + Send;
    /// Orders the gateway knows about for this account.
    fn live_orders(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Vec<LiveOrder>, BrokerError>> + Send;
    /// One order by the gateway's id, for an order the live list no longer shows (the list is
    /// incomplete on real gateways and forgets orders across a reset). `Ok(None)` when the
    /// gateway cannot tell (it answers 503 for orders of an earlier session): the caller then
    /// keeps the order's fate open rather than guessing.
    fn order_status(
        &self,
        account: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<LiveOrder>, BrokerError>> + Send;
    /// Executions of the last `days` days.
    fn trades(
        &self,
        account: &str,
        days: u32,
    ) -> impl Future<Output = Result<Vec<Execution>, BrokerError>> + Send;
    /// The price increments (ticks) of a contract for `side`, from its trading rules. The
    /// default names none, which [`super::pricing::tick_at`] reads as one cent.
    fn price_increments(
        &self,
        _conid: i64,
        _side: Side,
    ) -> impl Future<Output = Result<Vec<super::pricing::IncrementRule>, BrokerError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Requests cancellation of one of our orders.
    fn cancel(
        &self,
        account: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// The tax lots and past trades `tax-aware` plans with (IBKR: a Flex statement). A
    /// broker without a source refuses, and so does the cycle: no lots, no tax-aware plan.
    fn tax_statement(
        &self,
    ) -> impl Future<Output = Result<super::tax_step::TaxStatement, BrokerError>> + Send {
        async {
            Err(BrokerError::config(
                "portfolio.strategy = \"tax-aware\" needs tax lots, and this broker has no \
                 source for them; configure [flex]",
            ))
        }
    }
}
