//! Order tickets, the reply-prompt policy and the outcome of a placement.
//!
//! Placing an order at IBKR is a conversation: the POST may come back with a question
//! ("this order exceeds the Total Value Limit, are you sure?") that must be answered through
//! `/iserver/reply/{id}`, possibly several times. An unattended daemon may only say yes to
//! questions a human has allowed in advance (`orders.prompt_allowlist`); anything else is
//! answered `confirmed:false`, which discards the order, and reported by name.
//!
//! The outcome keeps the cases a caller must treat differently apart: a placed order, a
//! refusal by our policy, a rejection by IBKR, a duplicate cOID (IBKR already has this order —
//! reconcile, don't resend) and Unknown (timeout/5xx after the POST left: the order may exist;
//! never retried blindly).
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::error::GatewayError;
use super::types::{Conid, Side, excerpt};

/// How the order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderType {
    Market,
    Limit {
        price: Decimal,
    },
    /// Market-on-close.
    MarketOnClose,
}

/// How much: shares (fractional where allowed) or an amount of cash (mutual funds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderSize {
    Quantity(Decimal),
    Cash(Decimal),
}

/// One order as pbal wants it placed. `coid` must be deterministic per intent (see
/// reference §5.6): it is what makes resubmission after a crash safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderTicket {
    pub account_id: String,
    pub conid: Conid,
    /// `STK`, `FUND` …; sent as `"<conid>:<secType>"`.
    pub sec_type: Option<String>,
    /// Client order id, unique within 24 h, short ASCII.
    pub coid: String,
    pub side: Side,
    pub order_type: OrderType,
    pub size: OrderSize,
    /// `DAY`, `GTC`, `IOC`, `OPG` …
    pub tif: String,
    pub outside_rth: bool,
    /// Default `SMART`.
    pub listing_exchange: Option<String>,
}

impl OrderTicket {
    /// The JSON order object (one element of `{"orders":[…]}`). Decimals are written as exact
    /// JSON numbers.
    ///
    /// # Errors
    /// A non-positive size or price, an empty cOID or account.
    pub fn to_json(&self) -> Result<Value, GatewayError> {
        let bad = |m: String| GatewayError::Config(format!("order {}: {m}", self.coid));
        if self.coid.trim().is_empty() || !self.coid.is_ascii() || self.coid.len() > 64 {
            return Err(bad("cOID must be 1-64 ASCII characters".into()));
        }
        if self.account_id.trim().is_empty() {
            return Err(bad("no account id".into()));
        }
        let mut o = serde_json::Map::new();
        o.insert("acctId".into(), json!(self.account_id));
        o.insert("conid".into(), json!(self.conid));
        if let Some(st) = &self.sec_type {
            o.insert("secType".into(), json!(format!("{}:{}", self.conid, st)));
        }
        o.insert("cOID".into(), json!(self.coid));
        match self.order_type {
            OrderType::Market => {
                o.insert("orderType".into(), json!("MKT"));
            }
            OrderType::MarketOnClose => {
                o.insert("orderType".into(), json!("MOC"));
            }
            OrderType::Limit { price } => {
                if price <= Decimal::ZERO {
                    return Err(bad(format!("limit price {price} must be positive")));
                }
                o.insert("orderType".into(), json!("LMT"));
                o.insert("price".into(), decimal_number(price)?);
            }
        }
        o.insert("side".into(), json!(self.side.as_str()));
        match self.size {
            OrderSize::Quantity(q) => {
                if q <= Decimal::ZERO {
                    return Err(bad(format!("quantity {q} must be positive")));
                }
                o.insert("quantity".into(), decimal_number(q)?);
            }
            OrderSize::Cash(c) => {
                if c <= Decimal::ZERO {
                    return Err(bad(format!("cash quantity {c} must be positive")));
                }
                o.insert("cashQty".into(), decimal_number(c)?);
            }
        }
        o.insert("tif".into(), json!(self.tif));
        o.insert("outsideRTH".into(), json!(self.outside_rth));
        o.insert(
            "listingExchange".into(),
            json!(self.listing_exchange.as_deref().unwrap_or("SMART")),
        );
        Ok(Value::Object(o))
    }

    /// The request body `{"orders":[ticket]}`.
    ///
    /// # Errors
    /// As [`OrderTicket::to_json`].
    pub fn body(&self) -> Result<Value, GatewayError> {
        Ok(json!({ "orders": [self.to_json()?] }))
    }
}

/// A Decimal as an exact JSON number (serde_json `arbitrary_precision` keeps the text).
fn decimal_number(d: Decimal) -> Result<Value, GatewayError> {
    let text = d.normalize().to_string();
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .map_err(|e| GatewayError::Config(format!("{d} cannot be written as JSON: {e}")))
}

/// Which reply prompts pbal may confirm on its own.
///
/// Matching is by message id only (`o163`), exactly (ASCII case-insensitive). Prompt texts
/// are never matched: they change between gateway versions and languages, and a piece of
/// text on the allowlist could confirm a different, more dangerous question that happens to
/// contain it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptPolicy {
    /// Message ids (`o163`) that may be answered `confirmed:true`.
    pub allow: Vec<String>,
    /// Safety cap on reply rounds for one order (IBind uses 20).
    pub max_rounds: u32,
}

impl PromptPolicy {
    /// From `orders.prompt_allowlist`.
    pub fn new(allow: impl IntoIterator<Item = String>) -> Self {
        Self {
            allow: allow.into_iter().map(|s| s.trim().to_owned()).collect(),
            max_rounds: 10,
        }
    }

    /// A prompt is allowed when it carries at least one message id, carries an id for every
    /// message, and *every* id is on the allowlist.
    pub fn allows(&self, prompt: &Prompt) -> bool {
        if prompt.message_ids.is_empty() || prompt.message_ids.len() < prompt.messages.len() {
            return false;
        }
        prompt.message_ids.iter().all(|id| {
            let id = id.trim();
            !id.is_empty()
                && self
                    .allow
                    .iter()
                    .any(|a| !a.is_empty() && id.eq_ignore_ascii_case(a))
        })
    }
}

/// Whether `s` looks like a reply-prompt message id (`o163`, `p12`: a letter then digits).
/// Config validation uses it so a pasted prompt text is refused rather than silently ignored.
pub fn is_message_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() >= 2
        && chars.all(|c| c.is_ascii_digit())
}

/// A reply-required question from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    /// The reply id (`/iserver/reply/{id}`).
    pub reply_id: String,
    pub message_ids: Vec<String>,
    pub messages: Vec<String>,
}

impl std::fmt::Display for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = if self.message_ids.is_empty() {
            "(no id)".to_owned()
        } else {
            self.message_ids.join(",")
        };
        write!(f, "{ids}: {}", self.messages.join(" / ").replace('\n', " "))
    }
}

/// What became of a placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PlaceOutcome {
    /// IBKR accepted the order.
    Submitted { order_id: String, status: String },
    /// A prompt not on the allowlist: answered `confirmed:false`; the order was discarded.
    Refused { prompt: Prompt },
    /// IBKR rejected the order (the text says why).
    Rejected { message: String },
    /// IBKR already has an order with this cOID: reconcile through live orders / trades.
    DuplicateCoid { message: String },
    /// Timeout, 5xx or an unreadable answer after the POST was sent: the order may or may not
    /// exist. Reconcile by cOID; never resend blindly.
    Unknown { detail: String },
}

/// One step of the order conversation, parsed from a POST or reply response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrderReply {
    Submitted { order_id: String, status: String },
    Prompt(Prompt),
    Error(String),
}

/// Classifies a response body of an order POST or a reply POST. Accepts an array (spec) or a
/// bare object (docs draft); the "advanced reject" shape (`messageId`, `text`, `prompt`) is a
/// prompt too.
pub(crate) fn classify_order_reply(v: &Value) -> Result<OrderReply, String> {
    let first = match v {
        Value::Array(a) => a.first().ok_or_else(|| "empty response array".to_owned())?,
        other => other,
    };
    let Some(o) = first.as_object() else {
        return Err(format!("unexpected order response {}", excerpt(v)));
    };
    if let Some(e) = o.get("error").filter(|e| !e.is_null()) {
        return Ok(OrderReply::Error(
            e.as_str().map_or_else(|| e.to_string(), str::to_owned),
        ));
    }
    if let Some(id) = o.get("order_id").filter(|x| !x.is_null()) {
        let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
        let status = o
            .get("order_status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Ok(OrderReply::Submitted {
            order_id: id,
            status,
        });
    }
    let strings = |k: &str| -> Vec<String> {
        match o.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    if let Some(id) = o.get("id").and_then(Value::as_str) {
        return Ok(OrderReply::Prompt(Prompt {
            reply_id: id.to_owned(),
            message_ids: strings("messageIds"),
            messages: strings("message"),
        }));
    }
    if o.get("prompt").and_then(Value::as_bool) == Some(true) || o.contains_key("messageId") {
        // Advanced reject: no reply id to confirm through the normal flow; treat it as a
        // prompt without a reply id, which the policy will refuse.
        return Ok(OrderReply::Prompt(Prompt {
            reply_id: o
                .get("reqId")
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .unwrap_or_default(),
            message_ids: strings("messageId"),
            messages: strings("text"),
        }));
    }
    Err(format!("unrecognised order response {}", excerpt(v)))
}

/// The gateway's duplicate-cOID error text.
pub(crate) fn is_duplicate_coid(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already registered")
        || m.contains("duplicate order id")
        || m.contains("duplicate coid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn ticket() -> OrderTicket {
        OrderTicket {
            account_id: "U7654321".into(),
            conid: 756733,
            sec_type: Some("STK".into()),
            coid: "rb240611-U7654321-756733-B-01".into(),
            side: Side::Buy,
            order_type: OrderType::Limit {
                price: dec!(534.10),
            },
            size: OrderSize::Quantity(dec!(12)),
            tif: "DAY".into(),
            outside_rth: false,
            listing_exchange: None,
        }
    }

    #[test]
    fn body_matches_the_documented_request() {
        let expected: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ibkr/order_request.json"))
                .unwrap();
        assert_eq!(ticket().body().unwrap(), expected);
    }

    #[test]
    fn cash_quantity_and_moc() {
        let mut t = ticket();
        t.size = OrderSize::Cash(dec!(1500.00));
        t.order_type = OrderType::MarketOnClose;
        let j = t.to_json().unwrap();
        assert_eq!(j["cashQty"].to_string(), "1500");
        assert!(j.get("quantity").is_none() && j.get("price").is_none());
        assert_eq!(j["orderType"], "MOC");
        t.size = OrderSize::Quantity(dec!(0));
        assert!(t.to_json().is_err());
    }

    #[test]
    fn fractional_quantity_is_exact() {
        let mut t = ticket();
        t.size = OrderSize::Quantity(dec!(10.2547));
        assert_eq!(t.to_json().unwrap()["quantity"].to_string(), "10.2547");
    }

    #[test]
    fn classify_shapes() {
        let q: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ibkr/order_reply_question.json"
        ))
        .unwrap();
        let OrderReply::Prompt(p) = classify_order_reply(&q).unwrap() else {
            panic!("expected a prompt")
        };
        assert_eq!(p.message_ids, vec!["o451"]);
        assert_eq!(p.reply_id, "3f6b1c2e-8d0a-4b57-9e31-5a7c2d9e4f10");
        let s: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ibkr/order_submitted.json"
        ))
        .unwrap();
        assert_eq!(
            classify_order_reply(&s).unwrap(),
            OrderReply::Submitted {
                order_id: "1384451207".into(),
                status: "Submitted".into()
            }
        );
        let d: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ibkr/order_error_duplicate_coid.json"
        ))
        .unwrap();
        let OrderReply::Error(m) = classify_order_reply(&d).unwrap() else {
            panic!()
        };
        assert!(is_duplicate_coid(&m));
        // Bare-object success (docs draft shape).
        let bare = json!({"order_id": "1", "order_status": "PreSubmitted"});
        assert!(matches!(
            classify_order_reply(&bare).unwrap(),
            OrderReply::Submitted { .. }
        ));
        assert!(classify_order_reply(&json!([])).is_err());
    }

    #[test]
    fn policy_needs_every_message_allowed() {
        let p = Prompt {
            reply_id: "x".into(),
            message_ids: vec!["o451".into(), "o354".into()],
            messages: vec!["value".into(), "no market data".into()],
        };
        assert!(!PromptPolicy::new(["o451".to_owned()]).allows(&p));
        assert!(PromptPolicy::new(["o451".to_owned(), "O354".to_owned()]).allows(&p));
        assert!(!PromptPolicy::new(Vec::<String>::new()).allows(&p));
        assert!(!PromptPolicy::new(["".to_owned()]).allows(&p));
        assert!(is_message_id("o163") && is_message_id("O10151"));
        assert!(!is_message_id("o") && !is_message_id("exceeds") && !is_message_id("163"));
    }

    #[test]
    fn allowlist_matches_message_ids_exactly_never_text() {
        let p = Prompt {
            reply_id: "x".into(),
            message_ids: vec!["o163".into()],
            messages: vec![
                "The following order exceeds the Total Value Limit. Are you sure?".into(),
            ],
        };
        // A text (or a piece of it) on the allowlist never confirms a prompt: texts change
        // between gateway versions and a substring can match a different, dangerous question.
        let by_text = PromptPolicy::new(["exceeds the Total Value Limit".to_owned()]);
        assert!(!by_text.allows(&p), "substring of the text must not allow");
        let whole = PromptPolicy::new([p.messages[0].clone()]);
        assert!(!whole.allows(&p), "the whole text must not allow either");
        // Ids match exactly (case-insensitive), never as prefixes or substrings.
        assert!(!PromptPolicy::new(["o16".to_owned()]).allows(&p));
        assert!(!PromptPolicy::new(["o1634".to_owned()]).allows(&p));
        assert!(PromptPolicy::new(["O163".to_owned()]).allows(&p));
        // A prompt without ids (advanced reject with text only) is never allowed.
        let no_id = Prompt {
            reply_id: "x".into(),
            message_ids: vec![],
            messages: vec!["o163".into()],
        };
        assert!(!PromptPolicy::new(["o163".to_owned()]).allows(&no_id));
    }
}
