//! Order tickets: parsing and validating one order of an `{"orders":[...]}` body the way the
//! gateway does, with its error texts (and statuses: some refusals are 200s with `error`).
use rust_decimal::Decimal;
use serde_json::Value;

use super::super::super::reply::{Reply, qty_str, thousands};
use super::super::super::state::{NewOrder, OrderType, Side, SimState};
use super::super::gates::account_not_found;

/// Parses and validates one order ticket; `Err` is the gateway's error reply.
pub(super) fn parse_order(s: &SimState, acct: &str, body: &Value) -> Result<NewOrder, Reply> {
    if acct != s.account_id {
        return Err(account_not_found(acct));
    }
    let o = single_ticket(body)?;
    if let Some(a) = o.get("acctId").and_then(Value::as_str)
        && a != s.account_id
    {
        return Err(bad(&format!(
            "acctId {a} does not match the account in the path"
        )));
    }
    let conid = conid_of(o)
        .filter(|c| s.instruments.contains_key(c))
        .ok_or_else(|| bad("unknown or missing conid"))?;
    let side = match o.get("side").and_then(Value::as_str) {
        Some("BUY") => Side::Buy,
        Some("SELL") => Side::Sell,
        _ => return Err(bad("side must be BUY or SELL")),
    };
    let order_type = order_type_of(o)?;
    if s.instruments[&conid].asset_class == "FUND" && order_type != OrderType::Market {
        // Funds trade at NAV: market orders only (see contract rules).
        return Err(Reply::error(
            200,
            "Order rejected - reason: only market orders are accepted for mutual funds",
        ));
    }
    let tif = o
        .get("tif")
        .and_then(Value::as_str)
        .unwrap_or("DAY")
        .to_string();
    if !matches!(tif.as_str(), "DAY" | "GTC" | "IOC" | "OPG" | "PAX") {
        return Err(bad("invalid tif"));
    }
    let Sizes {
        quantity,
        cash_qty,
        limit_price,
    } = sizes(s, o, order_type)?;
    if let Some(l) = limit_price {
        let tick = s.price_increment(conid);
        if !(l % tick).is_zero() {
            // IBKR refuses a price off the contract's minimum variation (text as TWS error 110).
            return Err(Reply::error(
                200,
                &format!(
                    "Order rejected - reason: The price {} does not conform to the minimum price variation {} for this contract.",
                    l.normalize(),
                    tick.normalize()
                ),
            ));
        }
    }
    Ok(NewOrder {
        coid: o.get("cOID").and_then(Value::as_str).map(str::to_string),
        conid,
        side,
        order_type,
        limit_price,
        quantity,
        cash_qty,
        tif,
    })
}

fn bad(msg: &str) -> Reply {
    Reply::error(400, &format!("Bad Request: {msg}"))
}

/// The one order of the body (`{"orders":[o]}` or a bare `[o]`).
fn single_ticket(body: &Value) -> Result<&Value, Reply> {
    let orders = match body {
        Value::Object(m) => m.get("orders").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    };
    let Some(orders) = orders else {
        return Err(bad("body must be {\"orders\":[...]}"));
    };
    match orders.as_slice() {
        [o] => Ok(o),
        _ => Err(bad("exactly one order per request is supported")),
    }
}

/// `conid` as a number or string, else the conid part of `conidex` (`"756733@SMART"`).
fn conid_of(o: &Value) -> Option<i64> {
    match o.get("conid") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => t.parse().ok(),
        _ => o
            .get("conidex")
            .and_then(Value::as_str)
            .and_then(|c| c.split('@').next()?.parse().ok()),
    }
}

fn order_type_of(o: &Value) -> Result<OrderType, Reply> {
    match o.get("orderType").and_then(Value::as_str) {
        Some("MKT") => Ok(OrderType::Market),
        Some("LMT") => Ok(OrderType::Limit),
        Some("MOC") => Ok(OrderType::MarketOnClose),
        Some(other) => Err(bad(&format!(
            "order type {other} not supported by the simulator"
        ))),
        None => Err(bad("orderType required")),
    }
}

/// A decimal field given as a JSON number or string (`None` if absent or null).
fn dec_field(o: &Value, k: &str) -> Result<Option<Decimal>, Reply> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let t = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            t.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(&t))
                .map(Some)
                .map_err(|_| bad(&format!("invalid {k}")))
        }
    }
}

/// An order's size and limit price as given.
struct Sizes {
    quantity: Option<Decimal>,
    cash_qty: Option<Decimal>,
    limit_price: Option<Decimal>,
}

/// The sizes, checked against each other, the order type and the account's fractional-share
/// support. The limit price is kept for limit orders only.
fn sizes(s: &SimState, o: &Value, order_type: OrderType) -> Result<Sizes, Reply> {
    let quantity = dec_field(o, "quantity")?;
    let cash_qty = dec_field(o, "cashQty")?;
    let limit_price = dec_field(o, "price")?;
    match (quantity, cash_qty) {
        (Some(_), Some(_)) => return Err(bad("quantity and cashQty are mutually exclusive")),
        (None, None) => return Err(bad("quantity or cashQty required")),
        (Some(q), None) if q <= Decimal::ZERO => return Err(bad("quantity must be positive")),
        (None, Some(c)) if c <= Decimal::ZERO => return Err(bad("cashQty must be positive")),
        _ => {}
    }
    if let Some(q) = quantity
        && !q.fract().is_zero()
        && !s.supports_fractions
    {
        return Err(Reply::error(
            200,
            "Fractional share size is not supported for this account",
        ));
    }
    if order_type == OrderType::Limit && limit_price.is_none_or(|p| p <= Decimal::ZERO) {
        return Err(Reply::error(200, "invalid order price fields"));
    }
    if cash_qty.is_some() && order_type == OrderType::Limit {
        return Err(Reply::error(
            200,
            "Cash quantity orders are only supported for market orders in the simulator",
        ));
    }
    let limit_price = limit_price.filter(|_| order_type == OrderType::Limit);
    Ok(Sizes {
        quantity,
        cash_qty,
        limit_price,
    })
}

/// The order's value at its limit (or the current price), or its cash quantity.
pub(super) fn order_value(s: &SimState, o: &NewOrder) -> Decimal {
    let price = o.limit_price.or(s.price(o.conid)).unwrap_or_default();
    match (o.quantity, o.cash_qty) {
        (Some(q), _) => q * price,
        (None, Some(c)) => c,
        _ => Decimal::ZERO,
    }
}

/// The order as prompts describe it (`BUY 10 VTI ARCA @ 250.00`).
pub(super) fn order_text(s: &SimState, o: &NewOrder) -> String {
    let ins = &s.instruments[&o.conid];
    let side = if o.side == Side::Buy { "BUY" } else { "SELL" };
    let size = match (o.quantity, o.cash_qty) {
        (Some(q), _) => qty_str(q),
        (None, Some(c)) => format!("{} {}", thousands(c, 2), s.currency),
        _ => String::new(),
    };
    match o.order_type {
        OrderType::Limit => format!(
            "{side} {size} {} {} @ {:.2}",
            ins.symbol,
            ins.exchange,
            o.limit_price.unwrap_or_default()
        ),
        OrderType::Market => format!("{side} {size} {} {} MKT", ins.symbol, ins.exchange),
        OrderType::MarketOnClose => format!("{side} {size} {} {} MOC", ins.symbol, ins.exchange),
    }
}
