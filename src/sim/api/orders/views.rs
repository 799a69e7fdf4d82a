//! How orders and executions look to clients: `/iserver/account/orders` (live orders, with
//! the gateway's empty-first-call and `force=true` quirks), `/iserver/account/order/status`,
//! and `/iserver/account/trades`.
use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Value, json};

use super::super::super::reply::{Reply, num, qty_str, thousands};
use super::super::super::state::{Execution, OrderStatus, OrderType, Side, SimOrder, SimState};
use super::lifecycle;

/// (`orderType`, `origOrderType`) as the gateway spells them.
fn type_names(t: OrderType) -> (&'static str, &'static str) {
    match t {
        OrderType::Limit => ("Limit", "LIMIT"),
        OrderType::Market => ("Market", "MARKET"),
        OrderType::MarketOnClose => ("MarketOnClose", "MARKET ON CLOSE"),
    }
}

fn order_desc(s: &SimState, o: &SimOrder) -> String {
    let verb = match (o.side, o.status) {
        (Side::Buy, OrderStatus::Filled) => "Bought",
        (Side::Sell, OrderStatus::Filled) => "Sold",
        (Side::Buy, _) => "Buy",
        (Side::Sell, _) => "Sell",
    };
    let size = match (o.quantity, o.cash_qty) {
        (Some(q), _) => qty_str(q),
        (None, Some(c)) => format!("{} {}", thousands(c, 2), s.currency),
        _ => String::new(),
    };
    let tif = match o.tif.as_str() {
        "DAY" => "Day",
        "GTC" => "GTC",
        other => other,
    };
    match o.order_type {
        OrderType::Limit => format!(
            "{verb} {size} Limit {:.2}, {tif}",
            o.limit_price.unwrap_or_default()
        ),
        OrderType::Market => format!("{verb} {size} Market, {tif}"),
        OrderType::MarketOnClose => format!("{verb} {size} Market on Close, {tif}"),
    }
}

fn size_and_fills(s: &SimState, o: &SimOrder) -> String {
    if o.status == OrderStatus::Filled {
        return qty_str(o.filled);
    }
    match (o.quantity, o.cash_qty) {
        (Some(q), _) => format!("{}/{}", qty_str(o.filled), qty_str(q)),
        (None, Some(c)) => format!("{}/{} {}", qty_str(o.filled), thousands(c, 0), s.currency),
        _ => String::new(),
    }
}

fn live_order_json(s: &SimState, o: &SimOrder) -> Value {
    let ins = &s.instruments[&o.conid];
    let (ty, orig) = type_names(o.order_type);
    let mut v = json!({
        "acct": o.account, "account": o.account, "orderId": o.order_id, "conid": o.conid,
        "conidex": o.conid.to_string(), "ticker": o.symbol, "secType": ins.asset_class,
        "listingExchange": ins.exchange, "companyName": ins.name, "description1": o.symbol,
        "side": if o.side == Side::Buy { "BUY" } else { "SELL" }, "orderType": ty,
        "origOrderType": orig, "timeInForce": o.tif,
        "totalSize": num(o.total_size()), "filledQuantity": num(o.filled),
        "remainingQuantity": num(o.remaining()),
        "status": o.status.as_str(), "order_ccp_status": o.status.as_str(),
        "orderDesc": order_desc(s, o),
        "sizeAndFills": size_and_fills(s, o),
        "lastExecutionTime": o.last_update.format("%y%m%d%H%M%S").to_string(),
        "lastExecutionTime_r": o.last_update.timestamp_millis(),
        "cashCcy": s.currency, "bgColor": "#FFFFFF",
        "fgColor": if o.status == OrderStatus::Filled { "#000000" } else { "#0000CC" },
        "supportsTaxOpt": "1",
    });
    if let Some(p) = o.limit_price {
        v["price"] = json!(format!("{:.2}", p));
    }
    if let Some(a) = o.avg_price {
        v["avgPrice"] = json!(format!("{}", a.normalize()));
    }
    if let Some(c) = &o.coid {
        v["order_ref"] = json!(c);
    }
    if let Some(c) = o.cash_qty {
        v["totalCashSize"] = num(c);
    }
    v
}

/// The `filters=` name of a status.
fn status_key(st: OrderStatus) -> &'static str {
    match st {
        OrderStatus::PreSubmitted => "pre_submitted",
        OrderStatus::Submitted => "submitted",
        OrderStatus::PendingCancel => "pending_cancel",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Inactive => "inactive",
    }
}

pub(super) fn live_orders(
    s: &mut SimState,
    now: DateTime<Utc>,
    query: &HashMap<String, String>,
) -> Reply {
    s.session.live_orders_calls += 1;
    let force = query.get("force").is_some_and(|f| f == "true");
    if force {
        // force=true clears the cache and returns an empty list by design (ibind #12).
        return Reply::ok(json!({"orders": [], "snapshot": true}));
    }
    if s.behaviour.live_orders_first_call_empty && s.session.live_orders_calls == 1 {
        return Reply::ok(json!({"orders": [], "snapshot": false}));
    }
    let acct = query.get("accountId");
    if s.behaviour.live_orders_require_account_id && acct.is_none() {
        return Reply::ok(json!({"orders": [], "snapshot": true}));
    }
    if let Some(a) = acct
        && a != &s.account_id
    {
        return Reply::ok(json!({"orders": [], "snapshot": true}));
    }
    let wanted: Vec<&str> = query
        .get("filters")
        .map(|f| {
            f.split(',')
                .filter(|x| !x.is_empty() && *x != "sort_by_time")
                .collect()
        })
        .unwrap_or_default();
    let shown: Vec<usize> = (0..s.orders.len())
        .filter(|&i| lifecycle::listed(s, i, now))
        .collect();
    for &i in &shown {
        lifecycle::note_read(s, i, now);
    }
    let mut list: Vec<&SimOrder> = shown
        .iter()
        .map(|&i| &s.orders[i])
        .filter(|o| wanted.is_empty() || wanted.contains(&status_key(o.status)))
        .collect();
    list.sort_by_key(|o| std::cmp::Reverse(o.last_update));
    let orders: Vec<Value> = list.iter().map(|o| live_order_json(s, o)).collect();
    Reply::ok(json!({"orders": orders, "snapshot": true}))
}

/// An order of this brokerage session by id (see [`lifecycle::status_known`]); 503 (empty) for
/// anything else, like the gateway.
pub(super) fn order_status(s: &mut SimState, now: DateTime<Utc>, id: &str) -> Reply {
    let id: u64 = id.parse().unwrap_or(0);
    match lifecycle::status_known(s, id, now) {
        Some(i) => {
            lifecycle::note_read(s, i, now);
            Reply::ok(order_status_json(s, &s.orders[i]))
        }
        None => Reply::empty(503),
    }
}

fn order_status_json(s: &SimState, o: &SimOrder) -> Value {
    let ins = &s.instruments[&o.conid];
    let (_, orig) = type_names(o.order_type);
    let mut v = json!({
        "sub_type": null, "request_id": "209", "server_id": "0", "order_id": o.order_id,
        "conidex": o.conid.to_string(), "conid": o.conid, "symbol": o.symbol, "side": if o.side == Side::Buy { "B" } else { "S" },
        "contract_description_1": o.symbol, "listing_exchange": ins.exchange,
        "option_acct": "c", "company_name": ins.name,
        "size": qty_str(o.remaining()), "total_size": qty_str(o.total_size()),
        "currency": s.currency, "account": o.account, "order_type": orig,
        "cum_fill": qty_str(o.filled), "order_status": o.status.as_str(),
        "order_ccp_status": o.status.as_str(), "order_status_description": match o.status {
            OrderStatus::Filled => "Order Filled",
            OrderStatus::Cancelled => "Order Cancelled",
            OrderStatus::Inactive => "Order Inactive",
            _ => "Order Submitted",
        },
        "tif": o.tif, "fgColor": "#FFFFFF", "bgColor": "#000000",
        "order_not_editable": !o.status.is_working(), "editable_fields": "",
        "cannot_cancel_order": !o.status.is_working(), "deactivate_order": false,
        "sec_type": ins.asset_class, "available_chart_periods": "#R|1",
        "order_description": order_desc(s, o),
        "order_description_with_contract": format!("{} {}", order_desc(s, o), o.symbol),
        "alert_active": 1, "child_order_type": "0",
        "order_clearing_account": o.account,
        "size_and_fills": format!("{}/{}", qty_str(o.filled), qty_str(o.total_size())),
        "exit_strategy_display_price": "0.00", "exit_strategy_chart_description": "",
        "exit_strategy_tool_availability": "1", "allowed_duplicate_opposite": true,
        "order_time": o.placed_at.format("%y%m%d%H%M%S").to_string(),
    });
    if let Some(p) = o.limit_price {
        v["limit_price"] = json!(format!("{:.2}", p));
    }
    if let Some(a) = o.avg_price {
        v["average_price"] = json!(format!("{}", a.normalize()));
    }
    if let Some(c) = &o.coid {
        v["order_ref"] = json!(c);
    }
    v
}

/// Executions of the last `days` days, in the gateway's shape.
/// Executions of the *selected* account (the endpoint has no account parameter): for a
/// multi-account user whose selection went back to another account, that is an empty list.
pub(super) fn trades(s: &SimState, now: DateTime<Utc>, days: i64) -> Reply {
    if s.selected_account != s.account_id {
        return Reply::ok(Value::Array(Vec::new()));
    }
    let since = now - ChronoDuration::days(days);
    let v: Vec<Value> = s
        .executions
        .iter()
        .filter(|e| e.at > since)
        .map(|e| trade_json(s, e))
        .collect();
    Reply::ok(Value::Array(v))
}

fn trade_json(s: &SimState, e: &Execution) -> Value {
    let ins = &s.instruments[&e.conid];
    let (code, verb) = if e.side == Side::Buy {
        ("B", "Bought")
    } else {
        ("S", "Sold")
    };
    let mut t = json!({
        "execution_id": e.execution_id, "symbol": e.symbol, "supports_tax_opt": "1",
        "side": code,
        "order_description": format!("{verb} {} @ {} on {}", qty_str(e.size), e.price.normalize(), ins.exchange),
        "trade_time": e.at.format("%Y%m%d-%H:%M:%S").to_string(),
        "trade_time_r": e.at.timestamp_millis(), "size": num(e.size),
        "price": format!("{}", e.price.normalize()),
        "submitter": s.username, "exchange": ins.exchange,
        "commission": format!("{:.2}", e.commission), "net_amount": num(e.net_amount.round_dp(2)),
        "account": s.account_id, "accountCode": s.account_id,
        "account_allocation_name": s.account_id, "company_name": ins.name,
        "contract_description_1": e.symbol, "sec_type": ins.asset_class,
        "listing_exchange": ins.exchange, "conid": e.conid, "conidEx": e.conid.to_string(),
        "clearing_id": "IB", "clearing_name": "IB", "liquidation_trade": "0",
        "is_event_trading": "0", "order_id": e.order_id,
    });
    if let Some(c) = &e.coid {
        t["order_ref"] = json!(c);
    }
    t
}
