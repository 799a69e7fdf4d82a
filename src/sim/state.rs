//! The simulated world behind the HTTP surface: session, account, orders, fills, pacing,
//! faults and a request log. Everything is synchronous and takes `now` from the caller, so
//! the simulated clock (real time + an offset that tests can advance) drives idle expiry,
//! the nightly reset, delayed fills, market hours and rate-limit windows alike.
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde::Serialize;

use super::account::{AccountSpec, InstrumentSpec};
use super::config::{Behaviour, EndpointLimit, FillMode, StartState};
use super::faults::ActiveFault;

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

pub(crate) struct SimState {
    pub behaviour: Behaviour,
    pub clock_offset: ChronoDuration,
    pub account_id: String,
    /// The user's other accounts (see [`AccountSpec::other_accounts`]).
    pub other_accounts: Vec<String>,
    /// The account endpoints without an account in the path (trades) answer for.
    pub selected_account: String,
    pub currency: String,
    pub username: String,
    pub password: String,
    pub supports_fractions: bool,
    pub market_hours: Option<super::account::MarketHours>,
    /// `None` = follow market hours (or always open without hours).
    pub market_override: Option<bool>,
    pub cash: Decimal,
    pub instruments: BTreeMap<i64, InstrumentSpec>,
    pub prices: BTreeMap<i64, Decimal>,
    pub holdings: BTreeMap<i64, Holding>,
    pub positions_cache: Option<Vec<(i64, Holding, Decimal)>>,
    pub session: Session,
    pub orders: Vec<SimOrder>,
    pub coids: BTreeMap<String, CoidRecord>,
    pub pending: HashMap<String, PendingReply>,
    pub executions: Vec<Execution>,
    pub faults: Vec<ActiveFault>,
    pub rate: RateLimiter,
    pub requests: VecDeque<RequestRecord>,
    pub next_order_id: u64,
    pub last_tick: DateTime<Utc>,
    pub realized_total: Decimal,
    /// Cash in other currencies, settlement and cash-account rules (`money.rs`).
    pub books: super::money::Books,
}

const MAX_LOG: usize = 20_000;

impl SimState {
    pub fn new(
        account: &AccountSpec,
        behaviour: Behaviour,
        start: StartState,
        faults: Vec<super::faults::FaultRule>,
    ) -> Self {
        let now = Utc::now();
        let mut instruments = BTreeMap::new();
        let mut prices = BTreeMap::new();
        let mut holdings = BTreeMap::new();
        for ins in &account.instruments {
            prices.insert(ins.conid, ins.price);
            if ins.quantity > Decimal::ZERO {
                holdings.insert(
                    ins.conid,
                    Holding {
                        quantity: ins.quantity,
                        avg_cost: ins.avg_cost,
                        realized_pnl: Decimal::ZERO,
                    },
                );
            }
            instruments.insert(ins.conid, ins.clone());
        }
        let mut s = SimState {
            behaviour,
            clock_offset: ChronoDuration::zero(),
            account_id: account.account_id.clone(),
            other_accounts: account.other_accounts.clone(),
            selected_account: account.account_id.clone(),
            currency: account.currency.clone(),
            username: account.username.clone(),
            password: account.password.clone(),
            supports_fractions: account.supports_fractions.unwrap_or(true),
            market_hours: account.market_hours.clone(),
            market_override: None,
            cash: account.cash,
            instruments,
            prices,
            holdings,
            positions_cache: None,
            session: Session {
                sso: false,
                had_sso: false,
                sso_started: None,
                session_id: String::new(),
                authenticated: false,
                competing: false,
                auth_ready_at: None,
                generation: 0,
                iserver_primed: false,
                portfolio_primed: false,
                suppressed: BTreeSet::new(),
                last_activity: now,
                md_calls: HashMap::new(),
                live_orders_calls: 0,
                tickle_no_session: 0,
                stuck: None,
            },
            orders: Vec::new(),
            coids: BTreeMap::new(),
            pending: HashMap::new(),
            executions: Vec::new(),
            faults: faults.into_iter().map(ActiveFault::new).collect(),
            rate: RateLimiter::default(),
            requests: VecDeque::new(),
            next_order_id: 1_384_451_200 + u64::from(rand::random::<u16>()),
            last_tick: now,
            realized_total: Decimal::ZERO,
            books: super::money::Books {
                fx_rates: account.fx_rates.clone(),
                foreign_cash: account.foreign_cash.clone(),
                cash_account: account.account_type == "cash",
                ..Default::default()
            },
        };
        match start {
            StartState::LoggedOut => {}
            StartState::SsoOnly => s.login(now),
            StartState::Authenticated => {
                s.login(now);
                s.authenticate_now(now);
            }
        }
        s
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    // ---- session -------------------------------------------------------------------------

    /// Creates a fresh SSO session (browser login).
    pub fn login(&mut self, now: DateTime<Utc>) {
        self.session.sso = true;
        self.session.had_sso = true;
        self.session.sso_started = Some(now);
        self.session.session_id = hex::encode(rand::random::<[u8; 16]>());
        self.session.last_activity = now;
        self.session.portfolio_primed = false;
        self.drop_brokerage();
        if self.behaviour.login_establishes_brokerage && self.session.stuck.is_none() {
            self.authenticate_now(now);
        }
    }

    /// Loses the whole session (idle expiry, logout, injected loss).
    pub fn drop_sso(&mut self) {
        if self.session.stuck == Some(StuckUntil::Relogin) {
            self.session.stuck = None;
        }
        self.session.sso = false;
        self.session.sso_started = None;
        self.session.portfolio_primed = false;
        self.positions_cache = None;
        self.drop_brokerage();
    }

    /// Loses the brokerage session only (nightly reset, competing login).
    pub fn drop_brokerage(&mut self) {
        self.session.authenticated = false;
        self.session.auth_ready_at = None;
        self.session.iserver_primed = false;
        self.session.suppressed.clear();
        self.session.md_calls.clear();
        self.pending.clear();
    }

    /// Completes a brokerage authentication: a new session generation, unprimed, and the
    /// selected account back at the first of the user's accounts (which, for a multi-account
    /// user, is not the one pbal trades).
    pub fn authenticate_now(&mut self, _now: DateTime<Utc>) {
        self.selected_account = self
            .other_accounts
            .first()
            .cloned()
            .unwrap_or_else(|| self.account_id.clone());
        self.session.authenticated = true;
        self.session.competing = false;
        self.session.auth_ready_at = None;
        self.session.generation += 1;
        self.session.iserver_primed = false;
        self.session.suppressed.clear();
        self.session.md_calls.clear();
        self.session.live_orders_calls = 0;
        self.pending.clear();
    }

    /// `ssodh/init` or reauthenticate: authenticated now or after the configured delay.
    pub fn start_auth(&mut self, now: DateTime<Utc>) {
        self.drop_brokerage();
        if self.session.stuck.is_some() {
            return;
        }
        self.session.competing = false;
        if self.behaviour.auth_delay_ms == 0 {
            self.authenticate_now(now);
        } else {
            self.session.auth_ready_at =
                Some(now + ChronoDuration::milliseconds(self.behaviour.auth_delay_ms as i64));
        }
    }

    pub fn set_competing(&mut self) {
        self.drop_brokerage();
        self.session.competing = true;
    }

    /// The nightly maintenance: the brokerage session and its priming go; the SSO session and
    /// `/portfolio` priming stay (the reference only documents the `/iserver` side).
    pub fn nightly_reset(&mut self) {
        let ends_sso = self
            .behaviour
            .nightly_reset
            .as_ref()
            .is_some_and(|r| r.ends_sso);
        if ends_sso {
            self.drop_sso();
        } else {
            self.drop_brokerage();
        }
    }

    /// Makes the brokerage session stuck until `until` (see [`StuckUntil`]).
    pub fn set_stuck(&mut self, until: StuckUntil) {
        self.drop_brokerage();
        self.session.stuck = Some(until);
    }

    /// Advances time-driven state to `now`: pending authentication, idle expiry, nightly
    /// reset, fills. Called before every request and admin inspection.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if let Some(at) = self.session.auth_ready_at
            && now >= at
            && self.session.sso
        {
            self.authenticate_now(now);
        }
        if self.session.sso
            && now - self.session.last_activity
                > ChronoDuration::milliseconds(self.behaviour.idle_timeout_ms as i64)
        {
            tracing::info!("sim: session expired after idle timeout");
            self.drop_sso();
        }
        if let Some(reset) = &self.behaviour.nightly_reset
            && reset_between(reset, self.last_tick, now)
            && (self.session.authenticated || self.session.iserver_primed)
        {
            tracing::info!("sim: nightly reset");
            self.nightly_reset();
        }
        if now > self.last_tick {
            self.last_tick = now;
        }
        self.process_fills(now);
    }

    /// Records activity that keeps the session alive.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        if self.session.sso {
            self.session.last_activity = now;
        }
    }

    // ---- market --------------------------------------------------------------------------

    pub fn market_open(&self, now: DateTime<Utc>) -> bool {
        if let Some(o) = self.market_override {
            return o;
        }
        match &self.market_hours {
            Some(h) => h.is_open(now),
            None => true,
        }
    }

    /// The contract's price increment (account file `tick`, default one cent).
    pub fn price_increment(&self, conid: i64) -> Decimal {
        self.instruments
            .get(&conid)
            .and_then(|i| i.tick)
            .filter(|t| *t > Decimal::ZERO)
            .unwrap_or(dec!(0.01))
    }

    pub fn price(&self, conid: i64) -> Option<Decimal> {
        self.prices.get(&conid).copied()
    }

    pub fn set_price(&mut self, conid: i64, price: Decimal, now: DateTime<Utc>) {
        self.prices.insert(conid, price);
        self.process_fills(now);
    }

    pub fn conid_by_symbol(&self, symbol: &str) -> Option<i64> {
        self.instruments
            .values()
            .find(|i| i.symbol.eq_ignore_ascii_case(symbol))
            .map(|i| i.conid)
    }

    pub fn unrealized(&self) -> Decimal {
        self.holdings
            .iter()
            .map(|(c, h)| h.quantity * (self.price(*c).unwrap_or_default() - h.avg_cost))
            .sum()
    }

    /// In the base currency: every currency's cash and holdings converted.
    pub fn net_liquidation(&self) -> Decimal {
        self.total_cash_base() + self.holdings_value_base("STK") + self.holdings_value_base("FUND")
    }

    // ---- orders --------------------------------------------------------------------------

    /// IBKR Pro fixed pricing: 0.005 per share, min 1.00, max 1 % of trade value.
    pub fn commission(size: Decimal, price: Decimal) -> Decimal {
        let raw = (size * dec!(0.005)).max(dec!(1.00));
        let cap = (size * price * dec!(0.01)).max(dec!(0.01));
        raw.min(cap)
            .round_dp_with_strategy(2, RoundingStrategy::AwayFromZero)
    }

    pub fn coid_registered(&self, coid: &str, now: DateTime<Utc>) -> bool {
        self.coids
            .get(coid)
            .and_then(|r| r.placed_at)
            .is_some_and(|t| now - t < ChronoDuration::hours(24))
    }

    /// Places a confirmed order; returns its id and the status reported to the client.
    pub fn place(&mut self, o: NewOrder, now: DateTime<Utc>) -> (u64, OrderStatus) {
        self.next_order_id += 1 + u64::from(rand::random::<u8>() % 7);
        let id = self.next_order_id;
        let ins = &self.instruments[&o.conid];
        let status = if self.market_open(now) && o.order_type != OrderType::MarketOnClose {
            OrderStatus::Submitted
        } else {
            OrderStatus::PreSubmitted
        };
        let order = SimOrder {
            order_id: id,
            coid: o.coid.clone(),
            account: self.account_id.clone(),
            conid: o.conid,
            symbol: ins.symbol.clone(),
            side: o.side,
            order_type: o.order_type,
            limit_price: o.limit_price,
            quantity: o.quantity,
            cash_qty: o.cash_qty,
            tif: o.tif.clone(),
            filled: Decimal::ZERO,
            avg_price: None,
            status,
            placed_at: now,
            last_update: now,
            session_generation: self.session.generation,
            partial_done: false,
            cancel_reads_left: 0,
        };
        if let Some(c) = &o.coid {
            let rec = self.coids.entry(c.clone()).or_default();
            rec.order_id = Some(id);
            rec.placed_at = Some(now);
        }
        tracing::info!(order_id = id, coid = ?o.coid, "sim: order placed");
        self.orders.push(order);
        self.process_fills(now);
        (id, status)
    }

    /// Fills whatever the fill mode, market state and prices allow.
    pub fn process_fills(&mut self, now: DateTime<Utc>) {
        let open = self.market_open(now);
        let mode = self.behaviour.fill_mode.clone();
        for i in 0..self.orders.len() {
            let o = &self.orders[i];
            if !o.status.is_working() {
                continue;
            }
            let Some(price) = self.price(o.conid) else {
                continue;
            };
            let is_fund = self
                .instruments
                .get(&o.conid)
                .is_some_and(|i| i.asset_class == "FUND");
            let eligible = match o.order_type {
                // Mutual funds trade once a day at the NAV struck after the close: an order
                // fills at the first close after it was placed (immediately without hours).
                OrderType::Market if is_fund => match &self.market_hours {
                    Some(h) => h
                        .last_close_at_or_before(now)
                        .is_some_and(|c| c > o.placed_at),
                    None => open,
                },
                OrderType::Market => open,
                OrderType::Limit => {
                    open && match (o.side, o.limit_price) {
                        (Side::Buy, Some(l)) => l >= price,
                        (Side::Sell, Some(l)) => l <= price,
                        _ => false,
                    }
                }
                OrderType::MarketOnClose => match &self.market_hours {
                    Some(h) => h
                        .last_close_at_or_before(now)
                        .is_some_and(|c| c > o.placed_at),
                    None => open,
                },
            };
            if !eligible {
                continue;
            }
            if o.status == OrderStatus::PreSubmitted {
                self.orders[i].status = OrderStatus::Submitted;
            }
            let o = &self.orders[i];
            let fill_size = match &mode {
                FillMode::Never => continue,
                FillMode::Delayed { ms } => {
                    if now - o.placed_at < ChronoDuration::milliseconds(*ms as i64) {
                        continue;
                    }
                    self.full_size(o, price)
                }
                FillMode::Immediate => self.full_size(o, price),
                FillMode::Partial { fraction } => {
                    if o.partial_done {
                        continue;
                    }
                    let full = self.full_size(o, price);
                    (full * *fraction).floor().min(full)
                }
            };
            if matches!(mode, FillMode::Partial { .. }) {
                self.orders[i].partial_done = true;
            }
            if fill_size <= Decimal::ZERO {
                if self.orders[i].cash_qty.is_some() && self.orders[i].quantity.is_none() {
                    // Cash amount below one share (no fractions): nothing can fill.
                    self.orders[i].status = OrderStatus::Inactive;
                }
                continue;
            }
            self.execute(i, fill_size, price, now);
        }
    }

    /// Shares still to fill at `price` (cash orders are sized at the fill price).
    fn full_size(&self, o: &SimOrder, price: Decimal) -> Decimal {
        match (o.quantity, o.cash_qty) {
            (Some(q), _) => q - o.filled,
            (None, Some(cash)) => {
                // What is left of the cash amount after earlier (partial) fills.
                let spent = o.filled * o.avg_price.unwrap_or_default();
                let dp = if self.supports_fractions { 4 } else { 0 };
                ((cash - spent).max(Decimal::ZERO) / price)
                    .round_dp_with_strategy(dp, RoundingStrategy::ToZero)
            }
            (None, None) => Decimal::ZERO,
        }
    }

    fn execute(&mut self, i: usize, size: Decimal, price: Decimal, now: DateTime<Utc>) {
        let commission = Self::commission(size, price);
        let gross = size * price;
        let (side, conid) = (self.orders[i].side, self.orders[i].conid);
        let h = self.holdings.entry(conid).or_insert(Holding {
            quantity: Decimal::ZERO,
            avg_cost: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
        });
        let net = match side {
            Side::Buy => {
                let new_qty = h.quantity + size;
                h.avg_cost = ((h.quantity * h.avg_cost + gross + commission) / new_qty).round_dp(6);
                h.quantity = new_qty;
                gross + commission
            }
            Side::Sell => {
                let pnl = size * (price - h.avg_cost) - commission;
                h.realized_pnl += pnl;
                self.realized_total += pnl;
                h.quantity -= size;
                if h.quantity.is_zero() {
                    h.avg_cost = Decimal::ZERO;
                }
                gross - commission
            }
        };
        self.book_fill(conid, side == Side::Buy, size, net, now);
        let dp = if self.supports_fractions { 4 } else { 0 };
        let o = &mut self.orders[i];
        let prev = o.filled;
        o.filled += size;
        o.avg_price = Some(match o.avg_price {
            Some(a) => ((a * prev + price * size) / o.filled).round_dp(4),
            None => price,
        });
        o.last_update = now;
        let done = match (o.quantity, o.cash_qty) {
            (Some(q), _) => o.filled >= q,
            // A cash order is done when the rest of the amount no longer buys a share increment.
            (None, Some(cash)) => {
                let spent = o.filled * o.avg_price.unwrap_or_default();
                ((cash - spent).max(Decimal::ZERO) / price)
                    .round_dp_with_strategy(dp, RoundingStrategy::ToZero)
                    .is_zero()
            }
            (None, None) => true,
        };
        if done {
            o.status = OrderStatus::Filled;
        }
        let exec = Execution {
            execution_id: format!(
                "0000f711.{:08x}.01.{:02}",
                o.order_id as u32,
                self.executions.len() % 100 + 1
            ),
            order_id: o.order_id,
            coid: o.coid.clone(),
            conid,
            symbol: o.symbol.clone(),
            side,
            size,
            price,
            commission,
            net_amount: net,
            at: now,
        };
        tracing::info!(order_id = o.order_id, %size, %price, "sim: fill");
        self.executions.push(exec);
    }

    // ---- pacing --------------------------------------------------------------------------

    /// Applies the global and per-endpoint limits; `false` = answer 429.
    pub fn rate_check(&mut self, method: &str, path: &str, now: DateTime<Utc>) -> bool {
        let cfg = self.behaviour.rate_limits.clone();
        if !cfg.enabled {
            return true;
        }
        if let Some(until) = self.rate.penalty_until {
            if now < until {
                self.rate.rejected += 1;
                return false;
            }
            self.rate.penalty_until = None;
        }
        let mut ok = window_admit(
            &mut self.rate.hits,
            "*global*",
            cfg.global_per_sec,
            1000,
            now,
        );
        for l in cfg
            .endpoints
            .iter()
            .filter(|l| limit_matches(l, method, path))
        {
            let key = format!("{} {}", l.method.as_deref().unwrap_or("*"), l.path);
            ok &= window_admit(&mut self.rate.hits, &key, l.max, l.per_ms, now);
        }
        if !ok {
            self.rate.rejected += 1;
            if cfg.penalty_ms > 0 {
                self.rate.penalty_until =
                    Some(now + ChronoDuration::milliseconds(cfg.penalty_ms as i64));
            }
        }
        ok
    }

    pub fn log(&mut self, now: DateTime<Utc>, method: &str, path: &str, status: u16) {
        if self.requests.len() >= MAX_LOG {
            self.requests.pop_front();
        }
        self.requests.push_back(RequestRecord {
            at: now,
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
    }
}

fn limit_matches(l: &EndpointLimit, method: &str, path: &str) -> bool {
    if let Some(m) = &l.method
        && !m.eq_ignore_ascii_case(method)
    {
        return false;
    }
    match l.path.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => l.path == path,
    }
}

/// Sliding window: admits (and records) the hit when fewer than `max` hits lie in the window.
fn window_admit(
    hits: &mut HashMap<String, VecDeque<DateTime<Utc>>>,
    key: &str,
    max: u32,
    per_ms: u64,
    now: DateTime<Utc>,
) -> bool {
    let q = hits.entry(key.to_string()).or_default();
    let window = ChronoDuration::milliseconds(per_ms as i64);
    while q.front().is_some_and(|t| now - *t >= window) {
        q.pop_front();
    }
    if q.len() as u32 >= max {
        return false;
    }
    q.push_back(now);
    true
}

/// Whether a nightly reset instant lies in `(from, to]`.
fn reset_between(
    reset: &super::config::NightlyReset,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    let (Ok(tz), Ok(at)) = (
        reset.tz.parse::<Tz>(),
        NaiveTime::parse_from_str(&reset.at, "%H:%M"),
    ) else {
        return false;
    };
    if to <= from {
        return false;
    }
    let start = from.with_timezone(&tz).date_naive() - ChronoDuration::days(1);
    let end = to.with_timezone(&tz).date_naive() + ChronoDuration::days(1);
    let mut d = start;
    while d <= end {
        if let Some(instant) = d.and_time(at).and_local_timezone(tz).earliest() {
            let instant = instant.with_timezone(&Utc);
            if instant > from && instant <= to {
                return true;
            }
        }
        d += ChronoDuration::days(1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn state() -> SimState {
        SimState::new(
            &AccountSpec::default_ten_etf(),
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        )
    }

    #[test]
    fn commission_is_ibkr_fixed_with_min_and_cap() {
        assert_eq!(SimState::commission(dec!(10), dec!(100)), dec!(1.00));
        assert_eq!(SimState::commission(dec!(1000), dec!(100)), dec!(5.00));
        // 1 share at 50: min 1.00 but capped at 1 % of 50 = 0.50.
        assert_eq!(SimState::commission(dec!(1), dec!(50)), dec!(0.50));
    }

    #[test]
    fn market_buy_fills_and_moves_cash_and_position() {
        let mut s = state();
        let now = s.now();
        let conid = s.conid_by_symbol("VAW").unwrap();
        let before_cash = s.cash;
        let before_qty = s.holdings[&conid].quantity;
        let (id, _) = s.place(
            NewOrder {
                coid: Some("c1".into()),
                conid,
                side: Side::Buy,
                order_type: OrderType::Market,
                limit_price: None,
                quantity: Some(dec!(2)),
                cash_qty: None,
                tif: "DAY".into(),
            },
            now,
        );
        let o = s.orders.iter().find(|o| o.order_id == id).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(s.holdings[&conid].quantity, before_qty + dec!(2));
        assert_eq!(s.cash, before_cash - dec!(2) * dec!(180.51) - dec!(1.00));
        assert!(s.coid_registered("c1", now));
        assert!(
            !s.coid_registered("c1", now + ChronoDuration::hours(25)),
            "cOID unique for 24 h only"
        );
    }

    #[test]
    fn limit_order_waits_until_marketable() {
        let mut s = state();
        let now = s.now();
        let conid = s.conid_by_symbol("VNQ").unwrap();
        let (id, _) = s.place(
            NewOrder {
                coid: None,
                conid,
                side: Side::Buy,
                order_type: OrderType::Limit,
                limit_price: Some(dec!(80)),
                quantity: Some(dec!(1)),
                cash_qty: None,
                tif: "DAY".into(),
            },
            now,
        );
        let st = |s: &SimState| s.orders.iter().find(|o| o.order_id == id).unwrap().status;
        assert_eq!(st(&s), OrderStatus::Submitted);
        s.set_price(conid, dec!(79.5), now);
        assert_eq!(st(&s), OrderStatus::Filled);
        assert_eq!(s.orders[0].avg_price, Some(dec!(79.5)));
    }

    #[test]
    fn partial_cash_quantity_order_never_overspends() {
        let mut s = state();
        s.behaviour.fill_mode = FillMode::Partial {
            fraction: dec!(0.5),
        };
        let now = s.now();
        let conid = s.conid_by_symbol("VNQ").unwrap(); // 83.10
        let (id, _) = s.place(
            NewOrder {
                coid: None,
                conid,
                side: Side::Buy,
                order_type: OrderType::Market,
                limit_price: None,
                quantity: None,
                cash_qty: Some(dec!(831)),
                tif: "DAY".into(),
            },
            now,
        );
        let o = s.orders.iter().find(|o| o.order_id == id).unwrap().clone();
        assert_eq!((o.filled, o.status), (dec!(5), OrderStatus::Submitted));
        s.behaviour.fill_mode = FillMode::Immediate;
        s.process_fills(now);
        let o = s.orders.iter().find(|o| o.order_id == id).unwrap();
        assert_eq!(
            (o.filled, o.status),
            (dec!(10), OrderStatus::Filled),
            "831 / 83.10 = 10 shares in total"
        );
    }

    #[test]
    fn market_hours_hold_orders_and_moc_fills_at_the_close() {
        let mut spec = AccountSpec::default_ten_etf();
        spec.market_hours = Some(super::super::account::MarketHours {
            tz: "America/New_York".into(),
            open: "09:30".into(),
            close: "16:00".into(),
        });
        let mut s = SimState::new(
            &spec,
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        );
        let conid = s.conid_by_symbol("VAW").unwrap();
        let order = |t: OrderType| NewOrder {
            coid: None,
            conid,
            side: Side::Buy,
            order_type: t,
            limit_price: None,
            quantity: Some(dec!(1)),
            cash_qty: None,
            tif: "DAY".into(),
        };
        // Thursday 2026-11-19 08:00 EST (13:00 UTC): closed.
        let pre = Utc.with_ymd_and_hms(2026, 11, 19, 13, 0, 0).unwrap();
        let (mkt, st) = s.place(order(OrderType::Market), pre);
        assert_eq!(st, OrderStatus::PreSubmitted);
        let (moc, _) = s.place(order(OrderType::MarketOnClose), pre);
        let status = |s: &SimState, id| s.orders.iter().find(|o| o.order_id == id).unwrap().status;
        // 10:00 EST: open → the market order fills, the MOC waits for the close.
        let open = Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap();
        s.process_fills(open);
        assert_eq!(status(&s, mkt), OrderStatus::Filled);
        assert_ne!(status(&s, moc), OrderStatus::Filled);
        // 16:01 EST: after the close → MOC filled.
        s.process_fills(Utc.with_ymd_and_hms(2026, 11, 19, 21, 1, 0).unwrap());
        assert_eq!(status(&s, moc), OrderStatus::Filled);
    }

    #[test]
    fn idle_expiry_and_nightly_reset() {
        let mut s = state();
        let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        s.last_tick = t0;
        s.session.last_activity = t0;
        s.session.iserver_primed = true;
        s.tick(t0 + ChronoDuration::minutes(5));
        assert!(s.session.sso && s.session.iserver_primed);
        s.touch(t0 + ChronoDuration::minutes(5));
        // 01:00 New York (EDT) = 05:00 UTC next day; keep the session alive until just before.
        let before = Utc.with_ymd_and_hms(2026, 6, 2, 4, 59, 0).unwrap();
        s.session.last_activity = before;
        s.tick(before);
        assert!(s.session.authenticated);
        s.tick(before + ChronoDuration::minutes(2));
        assert!(!s.session.authenticated && !s.session.iserver_primed && s.session.sso);
        s.tick(before + ChronoDuration::minutes(10));
        assert!(
            !s.session.sso,
            "idle for more than 6 minutes drops the session"
        );
    }

    #[test]
    fn rate_limit_penalty_box() {
        let mut s = state();
        let t = s.now();
        assert!(s.rate_check("GET", "/portfolio/accounts", t));
        assert!(!s.rate_check("GET", "/portfolio/accounts", t + ChronoDuration::seconds(1)));
        // Penalty: everything refused for 10 minutes, even other endpoints.
        assert!(!s.rate_check(
            "POST",
            "/iserver/auth/status",
            t + ChronoDuration::minutes(9)
        ));
        assert!(s.rate_check(
            "POST",
            "/iserver/auth/status",
            t + ChronoDuration::minutes(11)
        ));
        let mut g = state();
        let t = g.now();
        for _ in 0..10 {
            assert!(g.rate_check("POST", "/iserver/auth/status", t));
        }
        assert!(
            !g.rate_check("POST", "/iserver/auth/status", t),
            "11th request in a second"
        );
    }
}
