//! Typed gateway responses, parsed leniently from the gateway's drifting JSON.
//!
//! The gateway sends the same quantity as a number in one endpoint and as a formatted string
//! (`"1,300"`, `"C168.42"`, `"6,409.20 USD (12 Shares)"`) in another; `conid` is an int here and a
//! string there; `side` is `BUY` or `B` (reference pitfall 22). Rather than one serde derive per
//! drift, responses are read as `serde_json::Value` and converted field by field with helpers
//! that accept every documented spelling and otherwise fail with the endpoint, field and value
//! — money paths fail closed, never with a silent zero. Money and quantities are `Decimal`;
//! JSON numbers are read from their exact text (serde_json `arbitrary_precision`), never via f64.
//!
//! Size: about 750 lines of code, over the ~600-line aim: one small type plus its lenient
//! parser per endpoint answer. They share the `Obj` field helpers and are read side by side
//! against the OpenAPI spec, so they stay in one file.
use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::GatewayError;

/// IBKR contract id.
pub type Conid = i64;

/// Parses a gateway number: `"1,300"`, `"+1.65"`, `"533.82"`, `"1e3"`. Prefix letters are not
/// accepted here (see [`parse_price`]).
///
/// # Errors
/// A message quoting the text.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let cleaned: String = t.chars().filter(|c| *c != ',').collect();
    if cleaned.is_empty() {
        return Err(format!("`{text}` is empty"));
    }
    Decimal::from_str(&cleaned)
        .or_else(|_| Decimal::from_scientific(&cleaned))
        .map_err(|_| format!("`{text}` is not a number"))
}

/// A price as the snapshot sends it: optional prefix `C` (previous close shown, no trade yet)
/// or `H` (halted), then a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PriceField {
    pub value: Decimal,
    /// `C` prefix: the value is the previous close, not a trade today.
    pub is_prior_close: bool,
    /// `H` prefix: trading is halted.
    pub halted: bool,
}

/// Parses `"C168.42"`, `"H12.00"`, `"168.42"`.
///
/// # Errors
/// A message quoting the text.
pub fn parse_price(text: &str) -> Result<PriceField, String> {
    let t = text.trim();
    let (is_prior_close, halted, rest) = match t.chars().next() {
        Some('C') => (true, false, &t[1..]),
        Some('H') => (false, true, &t[1..]),
        _ => (false, false, t),
    };
    Ok(PriceField {
        value: parse_decimal(rest).map_err(|_| format!("`{text}` is not a price"))?,
        is_prior_close,
        halted,
    })
}

/// Reads the leading amount of texts like `"6,409.20 USD (12 Shares)"` or `"1 USD"`.
fn leading_amount(text: &str) -> Option<Decimal> {
    text.split_whitespace()
        .next()
        .and_then(|t| parse_decimal(t).ok())
}

/// Field access over one JSON object with errors naming endpoint and field.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    endpoint: &'a str,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(v: &'a Value, endpoint: &'a str) -> Result<Self, GatewayError> {
        v.as_object()
            .map(|map| Obj { map, endpoint })
            .ok_or_else(|| {
                GatewayError::decode(endpoint, format!("expected an object, got {}", excerpt(v)))
            })
    }

    fn err(&self, key: &str, v: &Value, why: &str) -> GatewayError {
        GatewayError::decode(
            self.endpoint,
            format!("field `{key}` = {}: {why}", excerpt(v)),
        )
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.present(key)
    }

    /// String field; numbers are rendered as text.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.present(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<String, GatewayError> {
        self.str(key)
            .ok_or_else(|| GatewayError::decode(self.endpoint, format!("missing field `{key}`")))
    }

    /// Decimal from a number or a formatted string; missing, null or `""` → `None`.
    pub(crate) fn dec(&self, key: &str) -> Result<Option<Decimal>, GatewayError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v @ Value::String(s)) => {
                parse_decimal(s).map(Some).map_err(|e| self.err(key, v, &e))
            }
            Some(v @ Value::Number(n)) => parse_decimal(&n.to_string())
                .map(Some)
                .map_err(|e| self.err(key, v, &e)),
            Some(v) => Err(self.err(key, v, "not a number")),
        }
    }

    pub(crate) fn req_dec(&self, key: &str) -> Result<Decimal, GatewayError> {
        self.dec(key)?
            .ok_or_else(|| GatewayError::decode(self.endpoint, format!("missing number `{key}`")))
    }

    /// Integer from a number or numeric string.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, GatewayError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v @ Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(key, v, "not an integer")),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(key, v, "not an integer")),
            Some(v) => Err(self.err(key, v, "not an integer")),
        }
    }

    pub(crate) fn req_int(&self, key: &str) -> Result<i64, GatewayError> {
        self.int(key)?
            .ok_or_else(|| GatewayError::decode(self.endpoint, format!("missing integer `{key}`")))
    }

    /// Boolean from `true`, `"true"`, `1`, `"1"`.
    pub(crate) fn bool(&self, key: &str) -> Option<bool> {
        match self.present(key)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_i64().map(|i| i != 0),
            Value::String(s) => match s.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn excerpt(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Order side. The gateway writes `BUY`/`SELL` in some endpoints and `B`/`S` in others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    pub(crate) fn parse(s: &str) -> Option<Side> {
        match s.trim().to_ascii_uppercase().as_str() {
            "BUY" | "B" | "BOT" => Some(Side::Buy),
            "SELL" | "S" | "SLD" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// `/iserver/auth/status` (and `ssodh/init`, and `iserver.authStatus` inside a tickle).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthStatus {
    pub authenticated: bool,
    pub competing: bool,
    pub connected: bool,
    /// Newer builds only.
    pub established: Option<bool>,
    pub fail: String,
    pub message: String,
}

impl AuthStatus {
    /// IBind/IBeam's rule: authenticated, connected, not competing (and established if sent).
    pub fn healthy(&self) -> bool {
        self.authenticated && self.connected && !self.competing && self.established != Some(false)
    }

    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        if o.raw("authenticated").is_none() {
            return Err(GatewayError::decode(
                endpoint,
                format!("no `authenticated` field in {}", excerpt(v)),
            ));
        }
        Ok(AuthStatus {
            authenticated: o.bool("authenticated").unwrap_or(false),
            competing: o.bool("competing").unwrap_or(false),
            connected: o.bool("connected").unwrap_or(false),
            established: o.bool("established"),
            fail: o.str("fail").unwrap_or_default(),
            message: o.str("message").unwrap_or_default(),
        })
    }

    /// Why this status is not healthy, for logs and errors.
    pub fn reason(&self) -> String {
        let mut parts = Vec::new();
        if !self.authenticated {
            parts.push("authenticated:false".to_owned());
        }
        if self.competing {
            parts.push(
                "competing:true (another session of this username is logged in; \
                 use a dedicated username for pbal)"
                    .to_owned(),
            );
        }
        if !self.connected {
            parts.push("connected:false".to_owned());
        }
        if self.established == Some(false) && self.authenticated {
            parts.push("established:false".to_owned());
        }
        if !self.fail.is_empty() {
            parts.push(format!("fail: {}", self.fail));
        }
        if !self.message.is_empty() {
            parts.push(format!("message: {}", self.message));
        }
        if parts.is_empty() {
            "healthy".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// `POST /tickle`. The `session` token is deliberately not kept (it is a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tickle {
    /// `iserver.authStatus`, when the gateway includes it.
    pub auth: Option<AuthStatus>,
    /// Milliseconds until the SSO session expires.
    pub sso_expires_ms: Option<i64>,
}

/// Per-account trading properties from `/iserver/accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountProps {
    pub supports_cash_qty: bool,
    pub supports_fractions: bool,
}

/// `GET /iserver/accounts`: the accounts this brokerage session may trade.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IserverAccounts {
    pub accounts: Vec<String>,
    pub props: BTreeMap<String, AccountProps>,
    pub selected_account: Option<String>,
    pub is_paper: Option<bool>,
}

/// One entry of `GET /portfolio/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioAccount {
    pub id: String,
    /// Base currency.
    pub currency: Option<String>,
    /// e.g. `INDIVIDUAL`, `DEMO` (paper).
    pub account_type: Option<String>,
    pub title: Option<String>,
    /// `tradingType`: `STKCASH` for a cash account; `STKNOPT` (the OpenAPI's value),
    /// `STKMRGN`, `PMRGN`… for margin.
    pub trading_type: Option<String>,
}

impl PortfolioAccount {
    /// Whether the account must be treated as a cash account (settled cash only, no selling
    /// of unsettled purchases). Unknown or missing `tradingType` counts as cash: the stricter
    /// rules cost a margin account nothing but delay, while the looser ones would cost a cash
    /// account a 90-day restriction.
    pub fn is_cash_account(&self) -> bool {
        let t = self
            .trading_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_uppercase();
        let margin = t.contains("MRGN")
            || t.contains("MARGIN")
            || matches!(t.as_str(), "STKNOPT" | "REGT" | "PMRGN");
        t.contains("CASH") || !margin
    }
}

/// One position from `/portfolio/{acct}/positions/{page}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub account_id: String,
    pub conid: Conid,
    /// `ticker`, else `contractDesc`.
    pub symbol: String,
    pub quantity: Decimal,
    pub market_price: Option<Decimal>,
    pub market_value: Option<Decimal>,
    pub avg_cost: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    pub currency: String,
    /// `STK`, `FUND`, `OPT`, `CASH` …
    pub asset_class: String,
    pub listing_exchange: Option<String>,
}

impl Position {
    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        let symbol = o
            .str("ticker")
            .filter(|s| !s.is_empty())
            .or_else(|| o.str("contractDesc"))
            .unwrap_or_default();
        Ok(Position {
            account_id: o.str("acctId").unwrap_or_default(),
            conid: o.req_int("conid")?,
            symbol,
            quantity: o.req_dec("position")?,
            market_price: o.dec("mktPrice")?,
            market_value: o.dec("mktValue")?,
            avg_cost: o.dec("avgCost")?,
            unrealized_pnl: o.dec("unrealizedPnl")?,
            currency: o.str("currency").unwrap_or_default(),
            asset_class: o.str("assetClass").unwrap_or_default(),
            listing_exchange: o.str("listingExchange"),
        })
    }
}

/// Cash of one currency from `/portfolio/{acct}/ledger` (values in that currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    pub currency: String,
    pub cash_balance: Decimal,
    pub settled_cash: Option<Decimal>,
    pub net_liquidation_value: Option<Decimal>,
    /// To the base currency.
    pub exchange_rate: Option<Decimal>,
}

/// `/portfolio/{acct}/ledger`, keyed by currency code plus `BASE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    pub by_currency: BTreeMap<String, LedgerEntry>,
}

impl Ledger {
    /// Cash in `currency` (`"BASE"` for the base-currency aggregate).
    pub fn cash(&self, currency: &str) -> Option<Decimal> {
        self.by_currency.get(currency).map(|e| e.cash_balance)
    }

    /// Settled cash in `currency`, falling back to the cash balance.
    pub fn settled_cash(&self, currency: &str) -> Option<Decimal> {
        self.by_currency
            .get(currency)
            .map(|e| e.settled_cash.unwrap_or(e.cash_balance))
    }
}

/// The parts of `/portfolio/{acct}/summary` a rebalancer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub net_liquidation: Decimal,
    pub currency: Option<String>,
    pub total_cash: Option<Decimal>,
    pub available_funds: Option<Decimal>,
    /// `excessliquidity`: equity with loan value − maintenance margin (a margin call at 0).
    pub excess_liquidity: Option<Decimal>,
}

/// A resolved contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contract {
    pub conid: Conid,
    pub symbol: String,
    pub sec_type: String,
    /// Listing / primary exchange when known.
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub name: Option<String>,
}

/// What to resolve: a symbol plus the explicit choices that disambiguate it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContractQuery {
    pub symbol: String,
    /// `STK` (default), `FUND`, `ETF` is `STK` at IBKR, `BOND` …
    pub sec_type: String,
    /// Contract currency, e.g. `USD`; `USD` without an exchange selects the US listing.
    pub currency: String,
    /// Listing exchange to pick among several (e.g. `ARCA`, `NASDAQ`, `LSE`).
    pub exchange: Option<String>,
    /// A fixed conid: no lookup at all.
    pub conid: Option<Conid>,
}

impl ContractQuery {
    /// A stock or ETF (`STK`) in `currency`, looked up by symbol.
    pub fn stock(symbol: &str, currency: &str) -> Self {
        ContractQuery {
            symbol: symbol.trim().to_ascii_uppercase(),
            sec_type: "STK".into(),
            currency: currency.trim().to_ascii_uppercase(),
            exchange: None,
            conid: None,
        }
    }
}

/// Market-data availability (field 6509, first character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Availability {
    RealTime,
    Delayed,
    Frozen,
    FrozenDelayed,
    NotSubscribed,
    Incomplete,
    /// Field absent or an unknown code.
    Unknown,
}

impl Availability {
    pub(crate) fn parse(code: Option<&str>) -> Self {
        match code.and_then(|c| c.chars().next()) {
            Some('R') => Availability::RealTime,
            Some('D') => Availability::Delayed,
            Some('Z') => Availability::Frozen,
            Some('Y') => Availability::FrozenDelayed,
            Some('N') => Availability::NotSubscribed,
            Some('i') => Availability::Incomplete,
            _ => Availability::Unknown,
        }
    }

    /// Delayed or frozen data: usable with care (warn), never silently.
    pub fn is_delayed(self) -> bool {
        matches!(
            self,
            Availability::Delayed | Availability::Frozen | Availability::FrozenDelayed
        )
    }
}

/// One conid's market-data snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub conid: Conid,
    pub symbol: Option<String>,
    /// Field 31. See `last_is_prior_close` / `halted`.
    pub last: Option<Decimal>,
    pub last_is_prior_close: bool,
    pub halted: bool,
    pub bid: Option<Decimal>,
    pub ask: Option<Decimal>,
    pub bid_size: Option<Decimal>,
    pub ask_size: Option<Decimal>,
    /// Field 7296 (today's close) else 7741 (prior close).
    pub close: Option<Decimal>,
    pub availability: Availability,
    /// The gateway's `_updated` (epoch ms).
    pub updated_ms: Option<i64>,
}

impl Quote {
    /// Has a usable price (a last or both sides of the book).
    pub fn has_price(&self) -> bool {
        self.last.is_some() || (self.bid.is_some() && self.ask.is_some())
    }

    /// True when no price arrived or the line is not subscribed: never size orders from it.
    pub fn is_missing(&self) -> bool {
        !self.has_price() || self.availability == Availability::NotSubscribed
    }

    /// Midpoint of bid and ask when both are positive.
    pub fn mid(&self) -> Option<Decimal> {
        match (self.bid, self.ask) {
            (Some(b), Some(a)) if b > Decimal::ZERO && a > Decimal::ZERO => {
                Some((b + a) / Decimal::TWO)
            }
            _ => None,
        }
    }

    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        let price = |k: &str| -> Result<Option<PriceField>, GatewayError> {
            match o.str(k).filter(|s| !s.trim().is_empty()) {
                None => Ok(None),
                Some(s) => parse_price(&s)
                    .map(Some)
                    .map_err(|e| GatewayError::decode(endpoint, format!("field `{k}`: {e}"))),
            }
        };
        let last = price("31")?;
        let close = match price("7296")? {
            Some(p) => Some(p.value),
            None => price("7741")?.map(|p| p.value),
        };
        Ok(Quote {
            conid: o.req_int("conid")?,
            symbol: o.str("55"),
            last: last.map(|p| p.value),
            last_is_prior_close: last.is_some_and(|p| p.is_prior_close),
            halted: last.is_some_and(|p| p.halted),
            bid: price("84")?.map(|p| p.value),
            ask: price("86")?.map(|p| p.value),
            bid_size: o.dec("88")?,
            ask_size: o.dec("85")?,
            close,
            availability: Availability::parse(o.str("6509").as_deref()),
            updated_ms: o.int("_updated")?,
        })
    }
}

/// `POST …/orders/whatif`: the preview of an order (nothing placed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    /// Order value (`amount.amount`, leading number).
    pub amount: Option<Decimal>,
    pub commission: Option<Decimal>,
    pub total: Option<Decimal>,
    pub equity_after: Option<Decimal>,
    pub position_after: Option<Decimal>,
    pub warn: Option<String>,
    pub error: Option<String>,
    /// Equity with loan value before the order, and its change (the submit gate compares
    /// changes with it).
    pub equity_current: Option<Decimal>,
    pub equity_change: Option<Decimal>,
    /// Change of the initial and maintenance margin requirements.
    pub initial_change: Option<Decimal>,
    pub maintenance_change: Option<Decimal>,
}

impl WhatIf {
    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        let sub = |k: &str, f: &str| -> Option<Decimal> {
            o.raw(k).and_then(|s| s.get(f)).and_then(|x| match x {
                Value::String(s) => leading_amount(s),
                Value::Number(n) => parse_decimal(&n.to_string()).ok(),
                _ => None,
            })
        };
        Ok(WhatIf {
            amount: sub("amount", "amount"),
            commission: sub("amount", "commission"),
            total: sub("amount", "total"),
            equity_after: sub("equity", "after"),
            position_after: sub("position", "after"),
            warn: o.str("warn").filter(|s| !s.is_empty()),
            error: o.str("error").filter(|s| !s.is_empty()),
            equity_current: sub("equity", "current"),
            equity_change: sub("equity", "change"),
            initial_change: sub("initial", "change"),
            maintenance_change: sub("maintenance", "change"),
        })
    }
}

/// An order as `/iserver/account/orders` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveOrder {
    pub account: String,
    pub order_id: i64,
    pub conid: Conid,
    pub symbol: String,
    pub side: Option<Side>,
    /// As sent by the gateway (`Limit`, `Market` …).
    pub order_type: String,
    /// `Submitted`, `PreSubmitted`, `Filled`, `Cancelled`, `Inactive` …
    pub status: String,
    pub price: Option<Decimal>,
    pub total_size: Option<Decimal>,
    pub filled_quantity: Option<Decimal>,
    pub remaining_quantity: Option<Decimal>,
    pub avg_price: Option<Decimal>,
    pub total_cash_size: Option<Decimal>,
    /// Our `cOID`, echoed back.
    pub order_ref: Option<String>,
}

impl LiveOrder {
    /// `Filled`, `Cancelled` or `Inactive`: the order will not change any more.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }

    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        Ok(LiveOrder {
            account: o
                .str("acct")
                .or_else(|| o.str("account"))
                .unwrap_or_default(),
            order_id: o.req_int("orderId")?,
            conid: o.int("conid")?.unwrap_or_default(),
            symbol: o.str("ticker").unwrap_or_default(),
            side: o.str("side").as_deref().and_then(Side::parse),
            order_type: o.str("orderType").unwrap_or_default(),
            status: o.str("status").unwrap_or_default(),
            price: o.dec("price")?,
            total_size: o.dec("totalSize")?,
            filled_quantity: o.dec("filledQuantity")?,
            remaining_quantity: o.dec("remainingQuantity")?,
            avg_price: o.dec("avgPrice")?,
            total_cash_size: o.dec("totalCashSize")?,
            order_ref: o.str("order_ref").filter(|s| !s.is_empty()),
        })
    }
}

/// Terminal order statuses (case-insensitive).
pub fn is_terminal_status(status: &str) -> bool {
    matches!(
        status.to_ascii_lowercase().as_str(),
        "filled" | "cancelled" | "inactive"
    )
}

/// `GET /iserver/account/order/status/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderStatus {
    pub order_id: i64,
    pub status: String,
    pub conid: Option<Conid>,
    pub side: Option<Side>,
    pub total_size: Option<Decimal>,
    pub cum_fill: Option<Decimal>,
    pub avg_price: Option<Decimal>,
    pub order_ref: Option<String>,
}

impl OrderStatus {
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }

    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        Ok(OrderStatus {
            order_id: o.req_int("order_id")?,
            status: o.req_str("order_status")?,
            conid: o.int("conid")?,
            side: o.str("side").as_deref().and_then(Side::parse),
            total_size: o.dec("total_size")?,
            cum_fill: o.dec("cum_fill")?,
            avg_price: o.dec("average_price")?,
            order_ref: o.str("order_ref").filter(|s| !s.is_empty()),
        })
    }
}

/// One execution from `/iserver/account/trades`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trade {
    pub execution_id: String,
    pub order_id: Option<i64>,
    pub order_ref: Option<String>,
    pub account: Option<String>,
    pub conid: Option<Conid>,
    pub symbol: String,
    pub side: Option<Side>,
    pub size: Decimal,
    pub price: Decimal,
    pub commission: Option<Decimal>,
    pub net_amount: Option<Decimal>,
    /// `YYYYMMDD-hh:mm:ss`, UTC.
    pub trade_time: Option<String>,
}

impl Trade {
    pub(crate) fn from_json(v: &Value, endpoint: &str) -> Result<Self, GatewayError> {
        let o = Obj::new(v, endpoint)?;
        Ok(Trade {
            execution_id: o.req_str("execution_id")?,
            order_id: o.int("order_id")?,
            order_ref: o.str("order_ref").filter(|s| !s.is_empty()),
            account: o.str("account"),
            conid: o.int("conid")?,
            symbol: o.str("symbol").unwrap_or_default(),
            side: o.str("side").as_deref().and_then(Side::parse),
            size: o.req_dec("size")?,
            price: o.req_dec("price")?,
            commission: o.dec("commission")?,
            net_amount: o.dec("net_amount")?,
            trade_time: o.str("trade_time"),
        })
    }
}

/// `DELETE …/order/{id}`: the cancel *request* was accepted (not yet cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelAck {
    pub order_id: Option<i64>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn lenient_numbers() {
        assert_eq!(parse_decimal("1,300").unwrap(), dec!(1300));
        assert_eq!(parse_decimal("+1.65").unwrap(), dec!(1.65));
        assert_eq!(parse_decimal(" -0.5 ").unwrap(), dec!(-0.5));
        assert!(parse_decimal("38.2M").is_err());
        assert!(parse_decimal("").is_err());
        let p = parse_price("C168.42").unwrap();
        assert_eq!(p.value, dec!(168.42));
        assert!(p.is_prior_close && !p.halted);
        assert!(parse_price("H12").unwrap().halted);
        assert!(parse_price("X12").is_err());
    }

    #[test]
    fn json_numbers_keep_their_exact_text() {
        let v: Value =
            serde_json::from_str(r#"{"conid": 1, "position": 231.6842, "mktPrice": 533.8200073}"#)
                .unwrap();
        let p = Position::from_json(&v, "positions").unwrap();
        assert_eq!(p.quantity, dec!(231.6842));
        assert_eq!(p.market_price, Some(dec!(533.8200073)));
    }

    #[test]
    fn bad_number_names_endpoint_and_field() {
        let v: Value = serde_json::from_str(r#"{"conid": 1, "position": "lots"}"#).unwrap();
        let e = Position::from_json(&v, "/portfolio/U1/positions/0")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("position") && e.contains("lots") && e.contains("/portfolio/U1"),
            "{e}"
        );
    }

    #[test]
    fn auth_status_health() {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ibkr/auth_status.json"))
                .unwrap();
        assert!(AuthStatus::from_json(&v, "s").unwrap().healthy());
        let v: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ibkr/auth_status_unauthenticated.json"
        ))
        .unwrap();
        let s = AuthStatus::from_json(&v, "s").unwrap();
        assert!(!s.healthy());
        assert!(s.reason().contains("authenticated:false"));
    }

    #[test]
    fn whatif_reads_formatted_strings() {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ibkr/order_whatif.json"))
                .unwrap();
        let w = WhatIf::from_json(&v, "whatif").unwrap();
        assert_eq!(w.amount, Some(dec!(6409.20)));
        assert_eq!(w.commission, Some(dec!(1)));
        assert_eq!(w.total, Some(dec!(6410.20)));
        assert_eq!(w.position_after, Some(dec!(132)));
        assert_eq!(w.equity_after, Some(dec!(105762)));
        assert_eq!(w.equity_current, Some(dec!(105763)));
        assert_eq!(w.equity_change, Some(dec!(-1)));
        assert_eq!(w.initial_change, Some(dec!(0)));
    }

    #[test]
    fn quote_fields() {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ibkr/snapshot.json")).unwrap();
        let q = Quote::from_json(&v[0], "snapshot").unwrap();
        assert_eq!(q.conid, 756733);
        assert_eq!(q.last, Some(dec!(533.82)));
        assert_eq!(q.bid_size, Some(dec!(1400)));
        assert_eq!(q.availability, Availability::RealTime);
        assert_eq!(q.mid(), Some(dec!(533.82)));
        assert!(!q.is_missing());
    }
}
