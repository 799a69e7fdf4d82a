//! Order endpoints: placing (with confirmation questions and what-if), suppressing questions,
//! live orders, order status, cancelling, and trades.
use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::super::Shared;
use super::super::reply::Reply;
use super::super::state::SimState;
use super::gates::{account_not_found, need_brokerage, need_primed};
use super::pipeline::{Call, Endpoint};

mod lifecycle;
mod place;
mod ticket;
mod views;

/// The most message ids one suppress request may carry.
const MAX_SUPPRESS_IDS: usize = 51;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/iserver/account/{acct}/orders", post(Endpoint(place)))
        .route(
            "/iserver/account/{acct}/orders/whatif",
            post(Endpoint(whatif)),
        )
        .route("/iserver/reply/{id}", post(Endpoint(reply)))
        .route("/iserver/questions/suppress", post(Endpoint(suppress)))
        .route(
            "/iserver/questions/suppress/reset",
            post(Endpoint(suppress_reset)),
        )
        .route("/iserver/account/orders", get(Endpoint(live_orders)))
        .route(
            "/iserver/account/order/status/{id}",
            get(Endpoint(order_status)),
        )
        .route(
            "/iserver/account/{acct}/order/{id}",
            delete(Endpoint(cancel)),
        )
        .route("/iserver/account/trades", get(Endpoint(trades)))
}

fn place(s: &mut SimState, c: &Call) -> Reply {
    need_primed(s).unwrap_or_else(|| place::place_orders(s, c.now, c.param("acct"), c.body))
}

fn whatif(s: &mut SimState, c: &Call) -> Reply {
    need_primed(s).unwrap_or_else(|| place::whatif(s, c.param("acct"), c.body))
}

fn reply(s: &mut SimState, c: &Call) -> Reply {
    need_primed(s).unwrap_or_else(|| place::reply(s, c.now, c.param("id"), c.body))
}

fn live_orders(s: &mut SimState, c: &Call) -> Reply {
    need_primed(s).unwrap_or_else(|| views::live_orders(s, c.now, c.query))
}

fn order_status(s: &mut SimState, c: &Call) -> Reply {
    need_primed(s).unwrap_or_else(|| views::order_status(s, c.now, c.param("id")))
}

/// `days` is clamped to 1..=7 (default 1), like the gateway.
fn trades(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_primed(s) {
        return r;
    }
    let days: i64 = c
        .query
        .get("days")
        .and_then(|d| d.parse().ok())
        .unwrap_or(1)
        .clamp(1, 7);
    views::trades(s, c.now, days)
}

fn suppress(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    let Some(ids) = c.body.get("messageIds").and_then(Value::as_array) else {
        return Reply::error(400, "messageIds required");
    };
    if ids.len() > MAX_SUPPRESS_IDS {
        return Reply::error(400, "at most 51 messageIds per request");
    }
    for id in ids.iter().filter_map(Value::as_str) {
        s.session.suppressed.insert(id.to_string());
    }
    Reply::ok(json!({"status": "submitted"}))
}

fn suppress_reset(s: &mut SimState, _: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    s.session.suppressed.clear();
    Reply::ok(json!({"status": "submitted"}))
}

fn cancel(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_primed(s) {
        return r;
    }
    let (acct, id) = (c.param("acct"), c.param("id"));
    if acct != s.account_id {
        return account_not_found(acct);
    }
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, &format!("OrderID {id} doesn't exist"));
    };
    let Some(i) = s.orders.iter().position(|o| o.order_id == id) else {
        return Reply::error(200, &format!("OrderID {id} doesn't exist"));
    };
    let o = &s.orders[i];
    if !o.status.is_working() {
        return Reply::error(
            200,
            &format!(
                "OrderID {id} cannot be cancelled: it is {}",
                o.status.as_str()
            ),
        );
    }
    let (conid, account) = (o.conid, o.account.clone());
    lifecycle::request_cancel(s, i, c.now);
    Reply::ok(
        json!({"msg": "Request was submitted", "order_id": id, "conid": conid, "account": account}),
    )
}
