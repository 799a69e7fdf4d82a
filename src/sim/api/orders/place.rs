//! Placing orders: the POST, the confirmation questions (`/iserver/reply/{id}`), cOID
//! duplicate detection, the cash-account prechecks, and what-if previews.
use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::super::super::config::PromptCondition;
use super::super::super::reply::{Body, Reply, qty_str, thousands};
use super::super::super::state::{NewOrder, OrderType, PendingReply, Side, SimOrder, SimState};
use super::ticket::{order_text, order_value, parse_order};

/// A question: (message id, text).
type Question = (String, String);

pub(super) fn place_orders(
    s: &mut SimState,
    now: DateTime<Utc>,
    acct: &str,
    body: &Value,
) -> Reply {
    // Count every POST under its cOID before anything can reject it.
    let coid = body
        .get("orders")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|o| o.get("cOID"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(c) = &coid {
        s.coids.entry(c.clone()).or_default().posts += 1;
    }
    let order = match parse_order(s, acct, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Some(c) = &order.coid
        && s.coid_registered(c, now)
    {
        s.coids.entry(c.clone()).or_default().duplicate_rejections += 1;
        return duplicate_error(c);
    }
    if let Some(r) = precheck(s, &order) {
        return r;
    }
    let questions: VecDeque<Question> = questions_for(s, &order, now).into();
    if questions.is_empty() {
        submitted(s, order, now)
    } else {
        ask(s, order, questions)
    }
}

/// Stores the pending order and returns the first question as a reply-required array.
fn ask(s: &mut SimState, order: NewOrder, questions: VecDeque<Question>) -> Reply {
    let id = uuid::Uuid::new_v4().to_string();
    let (mid, text) = questions.front().cloned().unwrap_or_default();
    s.pending.insert(
        id.clone(),
        PendingReply {
            order,
            questions,
            generation: s.session.generation,
        },
    );
    Reply::ok(json!([{"id": id, "message": [text], "isSuppressed": false, "messageIds": [mid]}]))
}

fn submitted(s: &mut SimState, order: NewOrder, now: DateTime<Utc>) -> Reply {
    let (id, status) = s.place(order, now);
    Reply::ok(
        json!([{"order_id": id.to_string(), "order_status": status.as_str(), "encrypt_message": "1"}]),
    )
}

pub(super) fn reply(s: &mut SimState, now: DateTime<Utc>, id: &str, body: &Value) -> Reply {
    let Some(mut p) = s
        .pending
        .remove(id)
        .filter(|p| p.generation == s.session.generation)
    else {
        return Reply::error(400, &format!("reply id not found: '{id}'"));
    };
    let confirmed = body
        .get("confirmed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !confirmed {
        return Reply::error(200, "Order not confirmed ");
    }
    p.questions.pop_front();
    // Questions suppressed meanwhile no longer need an answer.
    p.questions
        .retain(|(mid, _)| !s.session.suppressed.contains(mid));
    if !p.questions.is_empty() {
        return ask(s, p.order, p.questions);
    }
    if let Some(c) = &p.order.coid
        && s.coid_registered(c, now)
    {
        return duplicate_error(c);
    }
    if let Some(r) = precheck(s, &p.order) {
        return r;
    }
    submitted(s, p.order, now)
}

fn duplicate_error(coid: &str) -> Reply {
    Reply::error(
        400,
        &format!("Order couldn't be submitted: Local order ID={coid} is already registered."),
    )
}

/// Funds and short-sale checks the real system applies before accepting an order (cash
/// accounts: cash only; margin accounts: Reg T buying power, `sim/margin.rs`).
fn precheck(s: &SimState, o: &NewOrder) -> Option<Reply> {
    let value = order_value(s, o);
    match o.side {
        Side::Buy => {
            let price = s.price(o.conid).unwrap_or_default();
            let shares = o.quantity.unwrap_or_else(|| {
                if price.is_zero() {
                    Decimal::ZERO
                } else {
                    value / price
                }
            });
            let fx = s
                .fx_rate(&s.instrument_currency(o.conid))
                .unwrap_or(Decimal::ONE);
            let fee = SimState::commission(shares, price) * fx;
            let need = value * fx + fee;
            if s.books.cash_account {
                (need > s.total_cash_base()).then(|| insufficient_funds(s, need))
            } else {
                // A margin account may borrow while its available funds stay positive.
                (!s.margin_allows_buy(value * fx, fee)).then(|| insufficient_funds(s, need))
            }
        }
        Side::Sell => {
            let held = s
                .holdings
                .get(&o.conid)
                .map(|h| h.quantity)
                .unwrap_or_default();
            let working: Decimal = s
                .orders
                .iter()
                .filter(|w| w.conid == o.conid && w.side == Side::Sell && w.status.is_working())
                .map(SimOrder::remaining)
                .sum();
            let want = o.quantity.unwrap_or_else(|| {
                let p = s.price(o.conid).unwrap_or(Decimal::ONE);
                value / p
            });
            (want + working > held).then(|| {
                Reply::error(
                    200,
                    "Order rejected - reason: SHORT SALES ARE NOT ALLOWED IN A CASH ACCOUNT",
                )
            })
        }
    }
}

fn insufficient_funds(s: &SimState, need: Decimal) -> Reply {
    Reply::error(
        200,
        &format!(
            "Order rejected - reason: YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR AVAILABLE FUNDS [{} {}] MUST EXCEED THE ORDER VALUE [{} {}]",
            thousands(s.cash, 2),
            s.currency,
            thousands(need, 2),
            s.currency
        ),
    )
}

/// The confirmation questions this order raises, in the configured order, minus suppressed ids.
fn questions_for(s: &SimState, o: &NewOrder, now: DateTime<Utc>) -> Vec<Question> {
    let value = order_value(s, o);
    let price = s.price(o.conid).unwrap_or_default();
    let text = order_text(s, o);
    let mut out = Vec::new();
    for rule in &s.behaviour.prompts {
        if s.session.suppressed.contains(&rule.id) {
            continue;
        }
        let (hit, limit) = match &rule.condition {
            PromptCondition::ValueAbove { limit } => (value > *limit, *limit),
            PromptCondition::PriceDeviation { percent } => (
                match o.limit_price {
                    Some(l) if !price.is_zero() => {
                        ((l - price).abs() / price * dec!(100)) > *percent
                    }
                    _ => false,
                },
                *percent,
            ),
            PromptCondition::MarketClosed => (!s.market_open(now), Decimal::ZERO),
            PromptCondition::CashQuantity => (o.cash_qty.is_some(), Decimal::ZERO),
            PromptCondition::MarketOrder => (o.order_type != OrderType::Limit, Decimal::ZERO),
            PromptCondition::NoMarketData => {
                (!s.session.md_calls.contains_key(&o.conid), Decimal::ZERO)
            }
            PromptCondition::Always => (true, Decimal::ZERO),
        };
        if hit {
            let msg = rule
                .text
                .replace("{order}", &text)
                .replace("{value}", &thousands(value, 2))
                .replace("{limit}", &thousands(limit, 0));
            out.push((rule.id.clone(), msg));
        }
    }
    out
}

/// `POST .../orders/whatif`: the order's cost and effect, without placing it. A precheck
/// refusal becomes the preview's `warn`.
pub(super) fn whatif(s: &mut SimState, acct: &str, body: &Value) -> Reply {
    let order = match parse_order(s, acct, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let price = s.price(order.conid).unwrap_or_default();
    let exec_price = match order.side {
        Side::Buy => order
            .limit_price
            .map(|l| l.min(price).max(Decimal::ZERO))
            .unwrap_or(price),
        Side::Sell => order.limit_price.map(|l| l.max(price)).unwrap_or(price),
    };
    let shares = order.quantity.unwrap_or_else(|| {
        let dp = if s.supports_fractions { 4 } else { 0 };
        if exec_price.is_zero() {
            Decimal::ZERO
        } else {
            (order.cash_qty.unwrap_or_default() / exec_price).round_dp(dp)
        }
    });
    let value = shares * exec_price;
    let commission = SimState::commission(shares, exec_price);
    let held = s
        .holdings
        .get(&order.conid)
        .map(|h| h.quantity)
        .unwrap_or_default();
    let change = if order.side == Side::Buy {
        shares
    } else {
        -shares
    };
    let nlv = s.net_liquidation();
    let warn = precheck(s, &order).and_then(|r| match r.body {
        Body::Json(v) => v.get("error").and_then(Value::as_str).map(str::to_string),
        _ => None,
    });
    // The commission adds to the cost shown for buys and sells alike.
    let total = value + commission;
    let cur = &s.currency;
    let (initial, maintenance) = margin_preview(s, order.side, value);
    Reply::ok(json!({
        "amount": {
            "amount": format!("{} {cur} ({} Shares)", thousands(value, 2), qty_str(shares)),
            "commission": format!("{} {cur}", commission.normalize()),
            "total": format!("{} {cur}", thousands(total, 2)),
        },
        "equity": {"current": thousands(nlv, 0), "change": thousands(-commission, 0), "after": thousands(nlv - commission, 0)},
        "initial": initial,
        "maintenance": maintenance,
        "position": {"current": qty_str(held), "change": qty_str(change), "after": qty_str(held + change)},
        "warn": warn,
        "error": null,
    }))
}

/// The what-if's margin blocks. A margin account is charged Reg T rates on its positions
/// (initial 50 %, maintenance 25 % of their value), so a buy raises both by that share of its
/// value and a sell lowers them; a cash account has no margin requirement.
fn margin_preview(s: &SimState, side: Side, value: Decimal) -> (Value, Value) {
    let block = |rate: Decimal| {
        if s.books.cash_account {
            return json!({"current": "0", "change": "0", "after": "0"});
        }
        let current = (s.holdings_value_base("STK") + s.holdings_value_base("FUND")) * rate;
        let change = match side {
            Side::Buy => value * rate,
            Side::Sell => -(value * rate).min(current),
        };
        json!({
            "current": thousands(current, 0),
            "change": thousands(change, 0),
            "after": thousands(current + change, 0),
        })
    };
    (block(dec!(0.5)), block(dec!(0.25)))
}
