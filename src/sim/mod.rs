//! A Client Portal Gateway simulator over TLS (`pbal sim`).
//!
//! Why: no real IBKR gateway is reachable from development machines or CI, yet the daemon's
//! value is that it works against one. The simulator reproduces what breaks real clients —
//! a certificate that must be trusted, sessions that expire or get taken over, the brokerage
//! session that must be initialised, endpoints that must be called in order, the market-data
//! pre-flight, order confirmation prompts, duplicate cOIDs, pacing with a penalty box — with
//! the shapes of the OpenAPI document and the reference examples.
//!
//! Three ways to use it:
//! 1. the binary: `pbal sim --listen 127.0.0.1:0 --ca-out ca.pem` prints
//!    `listening on https://127.0.0.1:PORT` as its first stdout line;
//! 2. in process: [`Simulator::start`] returns a [`SimHandle`] (base URL, CA PEM, shutdown) that
//!    derefs to [`SimControl`] (inspect orders by cOID, set prices, drop sessions, inject faults,
//!    advance the simulated clock...);
//! 3. over HTTP: the same powers under `/sim/...` (outside `/v1/api`, loopback callers only), for
//!    tests that drive the real `pbal` binary in another process.
//!
//! Independent of `crate::ibkr` on purpose (its own types), so client bugs are not mirrored.
//!
//! # Fidelity notes
//! Behaviour follows `reference/ibkr-client-portal.md` and shapes follow the OpenAPI document
//! (checked by `tests/sim_schema.rs`). Where the sources are silent the simulator makes a
//! documented choice, so tests know what is evidence and what is inference:
//! - 401 bodies are `{"error":"not authenticated","statusCode":401}` (status per spec, body
//!   inferred); `/portfolio/*` before `/portfolio/accounts` answers 500
//!   `{"error":"Please query /portfolio/accounts first"}` (text inferred).
//! - The market-closed question uses id `o10151` (IBKR's id for that case is undocumented).
//! - Cash-account rejections (insufficient funds, short sale) use IBKR-style texts (inferred).
//! - `ssodh/init` on a healthy session only reports status (priming kept); reauthenticate
//!   always starts a new brokerage session.
//! - Mutual funds accept market orders only; with market hours they fill at the first close
//!   after placement (the NAV), without hours immediately.
//! - Sale proceeds settle one trading day later (`settledcash` lags `cashbalance`); a cash
//!   account (`account_type = "cash"`, `tradingType` `STKCASH`) records good-faith violations.
//! - Instruments may trade in another currency (`currency` + `fx_rates`); the ledger lists
//!   each currency plus `BASE`.
//! - A multi-account user (`other_accounts`): after every brokerage authentication the first
//!   other account is selected again, and `/iserver/account/trades` (which has no account
//!   parameter in the spec) answers for the selected account only (inferred from the spec and
//!   the reference §3.1).
//! - Without a brokerage session `/tickle` answers `"iserver": {}` (no `authStatus`; inferred,
//!   switchable with `tickle_omits_auth_status_without_brokerage`).
//! - Limit prices off the instrument's `tick` are rejected (text as TWS error 110, inferred).
//! - HTTP/1.1 only (no h2 ALPN), like the gateway's vert.x server.
//! - Time: a simulated clock (real time + [`SimControl::advance`]) drives idle expiry, the
//!   nightly reset, delayed fills, market hours and pacing windows. The server uses no tokio
//!   timers except `Delay` faults, so it also works in tests under `tokio::time::pause()`.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod account;
mod admin;
mod api;
pub mod config;
mod conn;
pub mod faults;
pub mod flex;
pub mod flex_account;
mod login;
mod margin;
mod money;
mod reply;
mod server;
pub mod sso;
mod state;
pub mod tls;

pub use account::{AccountSpec, InstrumentSpec, MarketHours};
pub use config::{
    Behaviour, EndpointLimit, FillMode, NightlyReset, NoBrokerageReply, PromptCondition,
    PromptRule, RateLimits, SimConfig, StartState, TlsSource,
};
pub use faults::{FaultAction, FaultRule};
pub use money::{OpenLot, Unsettled, settlement_at};
pub use state::{
    CoidRecord, Execution, Holding, OrderStatus, OrderType, RequestRecord, Session, Side, SimOrder,
    StuckUntil,
};

use state::SimState;

/// Errors starting or controlling the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("account file: {0}")]
    Account(String),
    #[error("faults file: {0}")]
    Faults(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("refusing to listen on {0}: the simulator serves loopback only (use 127.0.0.1)")]
    NotLoopback(SocketAddr),
    #[error("unknown symbol {0:?} (not in the simulated account)")]
    UnknownSymbol(String),
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// State shared by the HTTP server and the controls.
pub(crate) struct Shared {
    pub state: Mutex<SimState>,
    pub ca_pem: String,
    /// The SRP login server. Lock order: `state` before `sso`.
    pub sso: Mutex<sso::SsoServer>,
    /// The Flex Web Service (lot and trade statements).
    pub flex: flex::FlexSim,
}

impl Shared {
    /// Locks the state. A panic while holding the lock is a simulator bug; the state is still
    /// the best information available, so poisoning is ignored rather than propagated.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the login server (after `state` when both are needed).
    pub fn sso(&self) -> MutexGuard<'_, sso::SsoServer> {
        self.sso.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `cfg.listen` (loopback only; port 0 = any free port) and starts serving.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        if !cfg.listen.ip().is_loopback() {
            return Err(SimError::NotLoopback(cfg.listen));
        }
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: cfg.listen,
                source,
            })?;
        Self::start_on(listener, cfg).await
    }

    /// Serves on an already bound listener (which must be on a loopback address).
    pub async fn start_on(listener: TcpListener, cfg: SimConfig) -> Result<SimHandle, SimError> {
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: cfg.listen,
            source,
        })?;
        if !addr.ip().is_loopback() {
            return Err(SimError::NotLoopback(addr));
        }
        cfg.account.validate()?;
        let material = match &cfg.tls {
            TlsSource::Generate => tls::generate()?,
            TlsSource::Files { cert, key } => tls::from_files(cert, key)?,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new(
                &cfg.account,
                cfg.behaviour.clone(),
                cfg.start_state,
                cfg.faults.clone(),
            )),
            ca_pem: material.ca_pem.clone(),
            sso: Mutex::new(sso::SsoServer::new(
                &cfg.account.username,
                &cfg.account.password,
                cfg.account.login.clone(),
                cfg.account.account_id.starts_with('D'),
            )),
            flex: flex::FlexSim::new(flex_account::with_account_query(
                cfg.flex.clone(),
                &cfg.account,
                chrono::Utc::now()
                    .with_timezone(&chrono_tz::America::New_York)
                    .date_naive(),
            )),
        });
        let token = CancellationToken::new();
        let task = tokio::spawn(server::serve(
            listener,
            material.server_config,
            shared.clone(),
            token.clone(),
        ));
        tracing::info!(%addr, "sim: listening");
        Ok(SimHandle {
            control: SimControl(shared),
            addr,
            token,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server; [`SimHandle::shutdown`] waits for that.
pub struct SimHandle {
    control: SimControl,
    addr: SocketAddr,
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://127.0.0.1:PORT` — the gateway root (the API lives under `/v1/api`).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }
    /// `https://127.0.0.1:PORT/v1/api`.
    pub fn api_url(&self) -> String {
        format!("{}/v1/api", self.base_url())
    }
    /// A clonable control for tasks.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }
    /// Stops accepting and closes connections, then waits for the server task.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

impl std::ops::Deref for SimHandle {
    type Target = SimControl;
    fn deref(&self) -> &SimControl {
        &self.control
    }
}

/// Session changes tests can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    /// Browser login (creates the SSO session; brokerage per `login_establishes_brokerage`).
    LogIn,
    /// The SSO session ends (like `/logout`).
    LogOut,
    /// The session expires as after the idle timeout.
    Expire,
    /// Another platform logs in with the same user: `competing:true`, brokerage lost.
    Competing,
    /// The nightly maintenance: brokerage session and priming lost, SSO kept.
    NightlyReset,
    /// Brokerage session authenticated now (as after a successful `ssodh/init`); also heals a
    /// stuck session.
    Authenticate,
    /// "Active but not authenticated": `ssodh/init` no longer helps; reauthenticate does.
    StuckUntilReauthenticate,
    /// Stuck until `/logout` and a fresh login.
    StuckUntilRelogin,
    /// Stuck for good (IBKR's side): only a human restarting the gateway helps.
    StuckForever,
}

/// One position as seen by tests.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PositionView {
    pub symbol: String,
    pub conid: i64,
    pub quantity: Decimal,
    pub avg_cost: Decimal,
    pub price: Decimal,
}

/// In-process control and inspection (the same powers as the `/sim/...` admin API).
#[derive(Clone)]
pub struct SimControl(pub(crate) Arc<Shared>);

impl SimControl {
    fn with<R>(&self, f: impl FnOnce(&mut SimState, DateTime<Utc>) -> R) -> R {
        let mut s = self.0.lock();
        let now = s.now();
        s.tick(now);
        f(&mut s, now)
    }

    /// PEM of the CA (or given certificate) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.0.ca_pem
    }
    /// Writes the CA PEM atomically (0600).
    pub fn write_ca(&self, path: &Path) -> std::io::Result<()> {
        crate::util::atomic_write_private(path, self.0.ca_pem.as_bytes())
    }
    /// Consecutive wrong password proofs seen by the SRP login.
    pub fn login_failures(&self) -> u32 {
        self.0.sso().failures()
    }
    /// Completed SRP logins (Dispatcher successes).
    pub fn srp_logins(&self) -> u32 {
        self.0.sso().logins
    }
    /// Session keys and XYZAB cookie values of completed SRP logins (hex).
    pub fn srp_issued_secrets(&self) -> Vec<String> {
        self.0.sso().issued_secrets.clone()
    }
    /// Unlocks the simulated account after `reached_max_login`.
    pub fn unlock_login(&self) {
        self.0.sso().unlock();
    }
    pub fn account_id(&self) -> String {
        self.with(|s, _| s.account_id.clone())
    }
    /// The account the session has selected (`POST /iserver/account`; reverts to the first
    /// of the user's accounts after every brokerage authentication).
    pub fn selected_account(&self) -> String {
        self.with(|s, _| s.selected_account.clone())
    }
    /// The simulated clock (real time + advances).
    pub fn now(&self) -> DateTime<Utc> {
        self.with(|_, now| now)
    }
    /// Moves the simulated clock forward (idle expiry, nightly reset, delayed fills, pacing).
    pub fn advance(&self, by: std::time::Duration) {
        let mut s = self.0.lock();
        s.clock_offset += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        let now = s.now();
        s.tick(now);
    }
    /// Every order placed, oldest first.
    pub fn orders(&self) -> Vec<SimOrder> {
        self.with(|s, _| s.orders.clone())
    }
    /// The order placed under `coid`, if any.
    pub fn order_by_coid(&self, coid: &str) -> Option<SimOrder> {
        self.with(|s, _| {
            s.orders
                .iter()
                .find(|o| o.coid.as_deref() == Some(coid))
                .cloned()
        })
    }
    /// What was received under `coid` (POST count, placement, duplicate rejections).
    pub fn coid_record(&self, coid: &str) -> Option<CoidRecord> {
        self.with(|s, _| s.coids.get(coid).cloned())
    }
    pub fn coid_records(&self) -> BTreeMap<String, CoidRecord> {
        self.with(|s, _| s.coids.clone())
    }
    pub fn executions(&self) -> Vec<Execution> {
        self.with(|s, _| s.executions.clone())
    }
    pub fn positions(&self) -> Vec<PositionView> {
        self.with(|s, _| {
            s.holdings
                .iter()
                .filter(|(_, h)| !h.quantity.is_zero())
                .map(|(c, h)| PositionView {
                    symbol: s.instruments[c].symbol.clone(),
                    conid: *c,
                    quantity: h.quantity,
                    avg_cost: h.avg_cost,
                    price: s.price(*c).unwrap_or_default(),
                })
                .collect()
        })
    }
    /// Base-currency cash balance (other currencies: [`SimControl::cash_in`]).
    pub fn cash(&self) -> Decimal {
        self.with(|s, _| s.cash)
    }
    /// Cash balance of one currency.
    pub fn cash_in(&self, currency: &str) -> Decimal {
        self.with(|s, _| s.cash_in(currency))
    }
    /// Settled cash of one currency now (sale proceeds settle one trading day later).
    pub fn settled_cash(&self, currency: &str) -> Decimal {
        self.with(|s, now| s.settled_in(currency, now))
    }
    /// Good-faith / free-riding violations a cash account committed (should stay empty).
    pub fn violations(&self) -> Vec<String> {
        self.with(|s, _| s.books.violations.clone())
    }
    pub fn conid(&self, symbol: &str) -> Option<i64> {
        self.with(|s, _| s.conid_by_symbol(symbol))
    }
    pub fn price(&self, symbol: &str) -> Option<Decimal> {
        self.with(|s, _| s.conid_by_symbol(symbol).and_then(|c| s.price(c)))
    }
    /// Sets the last price of `symbol`; working limit orders that become marketable fill.
    pub fn set_price(&self, symbol: &str, price: Decimal) -> Result<(), SimError> {
        if price <= Decimal::ZERO {
            return Err(SimError::Invalid(format!(
                "price must be positive, got {price}"
            )));
        }
        self.with(|s, now| {
            let c = s
                .conid_by_symbol(symbol)
                .ok_or_else(|| SimError::UnknownSymbol(symbol.into()))?;
            s.set_price(c, price, now);
            Ok(())
        })
    }
    pub fn session(&self) -> Session {
        self.with(|s, _| s.session.clone())
    }
    pub fn set_session(&self, action: SessionAction) {
        self.with(|s, now| match action {
            SessionAction::LogIn => s.login(now),
            SessionAction::LogOut | SessionAction::Expire => s.drop_sso(),
            SessionAction::Competing => s.set_competing(),
            SessionAction::NightlyReset => s.nightly_reset(),
            SessionAction::Authenticate => {
                s.session.stuck = None;
                if !s.session.sso {
                    s.login(now);
                }
                s.authenticate_now(now)
            }
            SessionAction::StuckUntilReauthenticate => s.set_stuck(StuckUntil::Reauthenticate),
            SessionAction::StuckUntilRelogin => s.set_stuck(StuckUntil::Relogin),
            SessionAction::StuckForever => s.set_stuck(StuckUntil::Never),
        })
    }
    /// The next `n` tickles answer 200 `{"error":"no session"}`.
    pub fn tickle_no_session(&self, n: u32) {
        self.with(|s, _| s.session.tickle_no_session += n)
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.with(|s, _| s.faults.push(faults::ActiveFault::new(rule)))
    }
    pub fn faults(&self) -> Vec<FaultRule> {
        self.with(|s, _| s.faults.iter().map(|f| f.rule.clone()).collect())
    }
    pub fn clear_faults(&self) {
        self.with(|s, _| s.faults.clear())
    }
    /// Forces the market open/closed; `None` follows the account's market hours again.
    pub fn set_market_open(&self, open: Option<bool>) {
        self.with(|s, now| {
            s.market_override = open;
            s.process_fills(now);
        })
    }
    pub fn market_open(&self) -> bool {
        self.with(|s, now| s.market_open(now))
    }
    pub fn set_fill_mode(&self, mode: FillMode) {
        self.with(|s, now| {
            s.behaviour.fill_mode = mode;
            s.process_fills(now);
        })
    }
    /// Fills every working order that is fillable now, whatever the fill mode.
    pub fn fill_all(&self) {
        self.with(|s, now| {
            let mode = std::mem::replace(&mut s.behaviour.fill_mode, FillMode::Immediate);
            s.process_fills(now);
            s.behaviour.fill_mode = mode;
        })
    }
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.with(|s, _| {
            s.behaviour.rate_limits = limits;
            s.rate = Default::default();
        })
    }
    /// Changes any behaviour knob (prompts, quirks, idle timeout...).
    pub fn update_behaviour(&self, f: impl FnOnce(&mut Behaviour)) {
        self.with(|s, _| f(&mut s.behaviour))
    }
    pub fn behaviour(&self) -> Behaviour {
        self.with(|s, _| s.behaviour.clone())
    }
    /// Every request received (method, path relative to `/v1/api`, status), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.with(|s, _| s.requests.iter().cloned().collect())
    }
    /// Number of requests answered 429.
    pub fn rate_limited(&self) -> u64 {
        self.with(|s, _| s.rate.rejected)
    }
}
