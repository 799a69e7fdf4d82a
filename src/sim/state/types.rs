//! The simulator's own order, execution, holding and session types: a leaf's types, so a
//! client bug is never mirrored by sharing a type with `ibkr`.
use super::*;

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    #[serde(rename = "BUY")]
    Buy,
    #[serde(rename = "SELL")]
    Sell,
}

/// Order types the simulator accepts (`LMT`, `MKT`, `MOC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderType {
    #[serde(rename = "LMT")]
    Limit,
    #[serde(rename = "MKT")]
    Market,
    #[serde(rename = "MOC")]
    MarketOnClose,
}

/// IBKR order statuses used by the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderStatus {
    PreSubmitted,
    Submitted,
    /// Cancellation requested, not yet confirmed (no longer fills).
    PendingCancel,
    Filled,
    Cancelled,
    Inactive,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PreSubmitted => "PreSubmitted",
            OrderStatus::Submitted => "Submitted",
            OrderStatus::PendingCancel => "PendingCancel",
            OrderStatus::Filled => "Filled",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Inactive => "Inactive",
        }
    }
    pub fn is_working(self) -> bool {
        matches!(self, OrderStatus::PreSubmitted | OrderStatus::Submitted)
    }
}

/// An order the simulator accepted (visible to tests through the admin API).
#[derive(Debug, Clone, Serialize)]
pub struct SimOrder {
    pub order_id: u64,
    pub coid: Option<String>,
    pub account: String,
    pub conid: i64,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    /// Requested shares (None for cash-quantity orders until they fill).
    pub quantity: Option<Decimal>,
    pub cash_qty: Option<Decimal>,
    pub tif: String,
    pub filled: Decimal,
    pub avg_price: Option<Decimal>,
    pub status: OrderStatus,
    pub placed_at: DateTime<Utc>,
    pub last_update: DateTime<Utc>,
    /// Brokerage session the order was placed in (live orders/status show only the current one).
    pub session_generation: u64,
    #[serde(skip)]
    pub partial_done: bool,
    /// Reads left before a `PendingCancel` order shows `Cancelled`.
    #[serde(skip)]
    pub cancel_reads_left: u32,
}

impl SimOrder {
    /// Total shares of the order (cash orders: what has filled so far, since size is decided at fill).
    pub fn total_size(&self) -> Decimal {
        self.quantity.unwrap_or(self.filled)
    }
    pub fn remaining(&self) -> Decimal {
        match self.quantity {
            Some(q) => q - self.filled,
            None => Decimal::ZERO,
        }
    }
}

/// One execution (fill) of an order.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub execution_id: String,
    pub order_id: u64,
    pub coid: Option<String>,
    pub conid: i64,
    pub symbol: String,
    pub side: Side,
    pub size: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub net_amount: Decimal,
    pub at: DateTime<Utc>,
}

/// A held position (or zero) of one instrument.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    pub quantity: Decimal,
    pub avg_cost: Decimal,
    pub realized_pnl: Decimal,
}

/// What the simulator received under one cOID: every POST counts (duplicates, unconfirmed,
/// faulted), so tests can prove an order was sent exactly once.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CoidRecord {
    pub posts: u32,
    /// Order id if the order was placed.
    pub order_id: Option<u64>,
    pub placed_at: Option<DateTime<Utc>>,
    pub duplicate_rejections: u32,
}

/// An order waiting for answers to its questions.
#[derive(Debug, Clone)]
pub(crate) struct PendingReply {
    pub order: NewOrder,
    pub questions: VecDeque<(String, String)>,
    pub generation: u64,
}

/// A validated order ticket, not yet placed.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder {
    pub coid: Option<String>,
    pub conid: i64,
    pub side: Side,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    pub quantity: Option<Decimal>,
    pub cash_qty: Option<Decimal>,
    pub tif: String,
}

/// Session state (reference §2): SSO login, brokerage session, priming and suppression.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub sso: bool,
    /// Whether an SSO session existed since start (no session *lost* → tickle 401 instead of
    /// 200 `{"error":"no session"}`).
    pub had_sso: bool,
    pub sso_started: Option<DateTime<Utc>>,
    pub session_id: String,
    pub authenticated: bool,
    pub competing: bool,
    /// Pending `ssodh/init`: becomes authenticated at this instant.
    pub auth_ready_at: Option<DateTime<Utc>>,
    /// Increments on every brokerage (re)authentication.
    pub generation: u64,
    pub iserver_primed: bool,
    pub portfolio_primed: bool,
    pub suppressed: BTreeSet<String>,
    pub last_activity: DateTime<Utc>,
    #[serde(skip)]
    pub md_calls: HashMap<i64, u32>,
    #[serde(skip)]
    pub live_orders_calls: u32,
    /// Forced `{"error":"no session"}` tickles remaining (fault).
    #[serde(skip)]
    pub tickle_no_session: u32,
    /// The "active but not authenticated" loop seen in the wild (IBeam #7, #16, #130):
    /// `ssodh/init` answers but `authenticated` stays false until the named remedy.
    pub stuck: Option<StuckUntil>,
}

/// What clears a stuck brokerage session (reference: client-portal pitfalls §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StuckUntil {
    /// `POST /iserver/reauthenticate` fixes it.
    Reauthenticate,
    /// Only `/logout` followed by a fresh login fixes it.
    Relogin,
    /// Nothing pbal can do (IBKR's side); a human restarts the gateway.
    Never,
}

#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    pub hits: HashMap<String, VecDeque<DateTime<Utc>>>,
    pub penalty_until: Option<DateTime<Utc>>,
    pub rejected: u64,
}

/// A request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
}
