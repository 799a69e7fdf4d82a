//! Knobs of the simulator. Defaults reproduce the real gateway (real rate limits, 6-minute idle
//! expiry, nightly reset at 01:00 New York); tests of other modules relax what they don't test
//! (e.g. [`RateLimits::disabled`]) rather than the simulator silently being lenient.
use std::net::SocketAddr;
use std::path::PathBuf;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::account::AccountSpec;
use super::faults::FaultRule;

/// Where the server certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Fresh CA + `localhost`/`127.0.0.1` leaf per start (the default).
    Generate,
    /// Serve this PEM certificate chain and PEM private key.
    Files { cert: PathBuf, key: PathBuf },
}

/// Session state at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartState {
    /// No session: API calls get 401 until someone logs in (SRP, or the form when enabled).
    LoggedOut,
    /// Browser login done, brokerage session not initialised (`ssodh/init` needed).
    SsoOnly,
    /// Logged in and brokerage session authenticated (still needs `/iserver/accounts` priming).
    Authenticated,
}

/// When the gateway's nightly maintenance drops the brokerage session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightlyReset {
    /// IANA time zone of the reset (IBKR: 01:00 local region time).
    pub tz: String,
    /// Local `HH:MM`.
    pub at: String,
    /// The reset ends the whole session, not only the brokerage part: a new login (and, with
    /// IB Key, a new push approval) is needed afterwards (reference §2.4, IBeam #234).
    #[serde(default)]
    pub ends_sso: bool,
}

impl Default for NightlyReset {
    fn default() -> Self {
        NightlyReset {
            tz: "America/New_York".into(),
            at: "01:00".into(),
            ends_sso: false,
        }
    }
}

/// One per-endpoint pacing rule: at most `max` requests per `per_ms` window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointLimit {
    /// `GET`, `POST`... or `None` for any method.
    pub method: Option<String>,
    /// Path relative to `/v1/api`; a trailing `*` matches any suffix.
    pub path: String,
    pub max: u32,
    pub per_ms: u64,
}

/// Pacing (reference §6.1): a global requests/second cap plus per-endpoint limits; a
/// violation answers 429 and puts the caller in the penalty box for `penalty_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub enabled: bool,
    pub global_per_sec: u32,
    pub penalty_ms: u64,
    pub endpoints: Vec<EndpointLimit>,
}

impl RateLimits {
    /// The real gateway's published limits (10 req/s, 10-minute penalty box).
    pub fn real() -> Self {
        let l = |m: Option<&str>, p: &str, max, per_ms| EndpointLimit {
            method: m.map(str::to_string),
            path: p.into(),
            max,
            per_ms,
        };
        RateLimits {
            enabled: true,
            global_per_sec: 10,
            penalty_ms: 10 * 60 * 1000,
            endpoints: vec![
                l(Some("GET"), "/iserver/marketdata/snapshot", 10, 1000),
                l(Some("GET"), "/iserver/account/orders", 1, 5000),
                l(Some("GET"), "/iserver/account/trades", 1, 5000),
                l(Some("GET"), "/iserver/account/pnl/partitioned", 1, 5000),
                l(Some("GET"), "/portfolio/accounts", 1, 5000),
                l(Some("GET"), "/portfolio/subaccounts", 1, 5000),
                l(None, "/tickle", 1, 1000),
                l(Some("GET"), "/sso/validate", 1, 60_000),
                l(None, "/fyi/*", 1, 1000),
            ],
        }
    }

    /// No pacing at all: for tests that hammer the simulator on purpose.
    pub fn disabled() -> Self {
        RateLimits {
            enabled: false,
            ..Self::real()
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::real()
    }
}

/// When an order is filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum FillMode {
    /// Fillable orders fill completely as soon as they are placed.
    Immediate,
    /// Orders fill `ms` (simulated clock) after placement.
    Delayed { ms: u64 },
    /// The first fill covers `fraction` of the size (whole shares, rounded down); the rest stays
    /// working until the mode changes or `fill_all` is called.
    Partial { fraction: Decimal },
    /// Orders stay working forever (until cancelled or the mode changes).
    Never,
}

/// What triggers a confirmation question on order placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum PromptCondition {
    /// Estimated order value (qty × price, or cashQty) above `limit` (account currency).
    ValueAbove { limit: Decimal },
    /// Limit price more than `percent` % away from the last price.
    PriceDeviation { percent: Decimal },
    /// The market is closed at placement.
    MarketClosed,
    /// The order uses `cashQty`.
    CashQuantity,
    /// Market (or market-on-close) orders.
    MarketOrder,
    /// No market-data snapshot was requested for the conid in this brokerage session.
    NoMarketData,
    /// Every order.
    Always,
}

/// A question the gateway asks before accepting an order (answered via `/iserver/reply/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptRule {
    /// Message id, e.g. `o451`; suppressible via `/iserver/questions/suppress`.
    pub id: String,
    #[serde(flatten)]
    pub condition: PromptCondition,
    /// Message text; `{order}`, `{value}` and `{limit}` are substituted.
    pub text: String,
}

impl PromptRule {
    /// The default question set: o163 (price deviates > 3 %), o451 (value above 25,000),
    /// o10164 (cash quantity disclaimer), o10151 (market closed; IBKR's exact id for this case
    /// is not documented in our sources, so the market-order-risk id is used).
    pub fn defaults() -> Vec<PromptRule> {
        vec![
            PromptRule {
                id: "o163".into(),
                condition: PromptCondition::PriceDeviation { percent: dec!(3) },
                text: "The following order \"{order}\" price exceeds \nthe Percentage constraint of 3%.\nAre you sure you want to submit this order?".into(),
            },
            PromptRule {
                id: "o451".into(),
                condition: PromptCondition::ValueAbove { limit: dec!(25000) },
                text: "The following order \"{order}\" value estimate of {value} USD exceeds \nthe Total Value Limit of {limit} USD.\nAre you sure you want to submit this order?".into(),
            },
            PromptRule {
                id: "o10164".into(),
                condition: PromptCondition::CashQuantity,
                text: "Traders are responsible for understanding cash quantity details, which are provided on a best efforts basis only.\nAre you sure you want to submit this order?".into(),
            },
            PromptRule {
                id: "o10151".into(),
                condition: PromptCondition::MarketClosed,
                text: "The market is currently closed. The order \"{order}\" will be held until the market opens.\nAre you sure you want to submit this order?".into(),
            },
        ]
    }
}

impl PromptRule {
    /// `o354`: order without market data for the conid in this brokerage session (opt-in).
    pub fn no_market_data() -> PromptRule {
        PromptRule {
            id: "o354".into(),
            condition: PromptCondition::NoMarketData,
            text: "You are submitting an order without market data. We strongly recommend against this as it may result in erroneous and unexpected trades.\nAre you sure you want to submit this order?".into(),
        }
    }

    /// `o10151`: confirmation for every market order (opt-in).
    pub fn market_order() -> PromptRule {
        PromptRule {
            id: "o10151".into(),
            condition: PromptCondition::MarketOrder,
            text: "A Market Order is an instruction to trade your order at any available price, which may differ from the last price.\nAre you sure you want to submit this order?".into(),
        }
    }
}

/// How `/iserver/*` answers when the SSO session exists but no brokerage session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoBrokerageReply {
    /// HTTP 401 (the spec).
    Unauthorized,
    /// HTTP 400 `{"error":"Init session first","statusCode":400}` (ibeam #140).
    InitSessionFirst,
    /// HTTP 400 `Bad Request: no bridge`.
    NoBridge,
}

/// Behaviour knobs. `Default` = the real gateway as documented in the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Session expires after this long without any API request (real: ~6 minutes).
    pub idle_timeout_ms: u64,
    /// `ssodh/init` / reauthenticate take this long before `authenticated` turns true.
    pub auth_delay_ms: u64,
    /// Whether a successful login also authenticates the brokerage session.
    pub login_establishes_brokerage: bool,
    /// Accept the plain `/sso/Login` form (a stand-in for browsers). Off by default: the
    /// login is IBKR's SRP exchange at `/sso/Authenticator` + `/sso/Dispatcher`.
    #[serde(default)]
    pub form_login: bool,
    pub nightly_reset: Option<NightlyReset>,
    pub rate_limits: RateLimits,
    pub prompts: Vec<PromptRule>,
    pub fill_mode: FillMode,
    /// How many snapshot calls per conid return no fields (the pre-flight quirk; real: 1).
    pub preflight_empty_calls: u32,
    /// First `GET /iserver/account/orders` after each authentication returns an empty list.
    pub live_orders_first_call_empty: bool,
    /// `GET /iserver/account/orders` without `accountId` returns a false-empty list.
    pub live_orders_require_account_id: bool,
    pub no_brokerage_reply: NoBrokerageReply,
    /// HTTP/1 POST without `Content-Length` (or chunked body) → 411, like Akamai in front of IBKR.
    pub require_post_length: bool,
    /// Without a brokerage session, `/tickle` answers `"iserver": {}` — no `authStatus` at
    /// all, rather than one saying `authenticated:false` (the reference calls the field
    /// optional; clients that read its absence as "healthy" keep trading on a dead session).
    #[serde(default = "yes")]
    pub tickle_omits_auth_status_without_brokerage: bool,
    /// A cancelled order shows `PendingCancel` for this many reads of it (a live-orders listing
    /// or an order status) before it is `Cancelled`: IBKR's DELETE answer is a request, not a
    /// confirmation (reference §5.5). 0 = cancelled at once.
    #[serde(default)]
    pub cancel_pending_reads: u32,
    /// Orders drop off `/iserver/account/orders` this long (simulated clock) after their last
    /// update, whatever their status — the live list is incomplete on real gateways (after-hours
    /// and older orders missing; IBind #43, #90) while the order status by id still answers.
    /// `None`: listed for the whole brokerage session.
    #[serde(default)]
    pub live_orders_forget_after_ms: Option<u64>,
    /// `/iserver/account/order/status/{id}` also answers orders of earlier brokerage sessions
    /// (placed before a nightly reset or a re-authentication). The reference documents 503 for
    /// those (the default); this knob lets tests cover a gateway that still knows them.
    #[serde(default)]
    pub order_status_across_resets: bool,
}

fn yes() -> bool {
    true
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            idle_timeout_ms: 6 * 60 * 1000,
            auth_delay_ms: 0,
            login_establishes_brokerage: false,
            form_login: false,
            nightly_reset: Some(NightlyReset::default()),
            rate_limits: RateLimits::real(),
            prompts: PromptRule::defaults(),
            fill_mode: FillMode::Immediate,
            preflight_empty_calls: 1,
            live_orders_first_call_empty: true,
            live_orders_require_account_id: true,
            no_brokerage_reply: NoBrokerageReply::Unauthorized,
            require_post_length: true,
            tickle_omits_auth_status_without_brokerage: true,
            cancel_pending_reads: 0,
            live_orders_forget_after_ms: None,
            order_status_across_resets: false,
        }
    }
}

/// Everything needed to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Must be a loopback address; port 0 picks a free port.
    pub listen: SocketAddr,
    pub account: AccountSpec,
    pub tls: TlsSource,
    pub start_state: StartState,
    pub behaviour: Behaviour,
    pub faults: Vec<FaultRule>,
    /// The Flex Web Service's tokens, queries and failure switches.
    pub flex: super::flex::FlexSimConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            account: AccountSpec::default_ten_etf(),
            tls: TlsSource::Generate,
            start_state: StartState::Authenticated,
            behaviour: Behaviour::default(),
            faults: Vec::new(),
            flex: super::flex::FlexSimConfig::default(),
        }
    }
}

impl SimConfig {
    /// Real behaviour except pacing, for tests of other modules that make many requests.
    pub fn relaxed() -> Self {
        let mut c = SimConfig::default();
        c.behaviour.rate_limits = RateLimits::disabled();
        c.flex.pacing = None;
        c
    }
}
