//! Market-data endpoints: `/iserver/marketdata/snapshot` (with the gateway's pre-flight: the
//! first calls for a conid answer without prices) and `/iserver/marketdata/unsubscribeall`.
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Map, Value, json};

use super::super::Shared;
use super::super::account::InstrumentSpec;
use super::super::reply::{Reply, thousands};
use super::super::state::{Holding, SimState};
use super::gates::{need_brokerage, need_primed};
use super::pipeline::{Call, Endpoint};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/iserver/marketdata/snapshot", get(Endpoint(snapshot)))
        .route(
            "/iserver/marketdata/unsubscribeall",
            get(Endpoint(unsubscribe_all)).post(Endpoint(unsubscribe_all)),
        )
}

fn unsubscribe_all(s: &mut SimState, _: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    s.session.md_calls.clear();
    Reply::ok(json!({"unsubscribed": true}))
}

fn snapshot(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_primed(s) {
        return r;
    }
    let Some(conids) = c.query.get("conids") else {
        return Reply::error(400, "Bad Request: conids required");
    };
    let mut conid_list = Vec::new();
    for id in conids.split(',').filter(|id| !id.is_empty()) {
        match id.trim().parse::<i64>() {
            Ok(id) => conid_list.push(id),
            Err(_) => return Reply::error(400, &format!("Bad Request: invalid conid {id:?}")),
        }
    }
    let fields: Vec<String> = c
        .query
        .get("fields")
        .map(|f| {
            f.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["31".into(), "84".into(), "86".into()]);
    let out = conid_list
        .into_iter()
        .map(|conid| Value::Object(snapshot_row(s, c.now, conid, &fields)))
        .collect();
    Reply::ok(Value::Array(out))
}

/// One conid's row: just the ids while the pre-flight lasts (or for an unknown conid).
fn snapshot_row(
    s: &mut SimState,
    now: DateTime<Utc>,
    conid: i64,
    fields: &[String],
) -> Map<String, Value> {
    let calls = s.session.md_calls.entry(conid).or_insert(0);
    *calls += 1;
    let calls = *calls;
    let mut o = Map::new();
    o.insert("conid".into(), json!(conid));
    o.insert("conidEx".into(), json!(conid.to_string()));
    let (Some(ins), Some(price)) = (s.instruments.get(&conid), s.price(conid)) else {
        return o;
    };
    if calls <= s.behaviour.preflight_empty_calls {
        return o;
    }
    o.insert("_updated".into(), json!(now.timestamp_millis()));
    o.insert("server_id".into(), json!("q0"));
    o.insert("6119".into(), json!("q0"));
    o.insert("6509".into(), json!("RpB"));
    let quote = Quote {
        ins,
        price,
        open: s.market_open(now),
        holding: s.holdings.get(&conid),
    };
    for f in fields {
        if let Some(v) = quote.field(f) {
            o.insert(f.clone(), json!(v));
        }
    }
    o
}

/// What a snapshot field is computed from.
struct Quote<'a> {
    ins: &'a InstrumentSpec,
    price: Decimal,
    open: bool,
    holding: Option<&'a Holding>,
}

impl Quote<'_> {
    /// The field's value as the gateway formats it (`C` prefix: last price is the close).
    fn field(&self, f: &str) -> Option<String> {
        let (ins, price, holding) = (self.ins, self.price, self.holding);
        let p2 = |d: Decimal| format!("{:.2}", d.round_dp(2));
        Some(match f {
            "31" if self.open => p2(price),
            "31" => format!("C{}", p2(price)),
            "84" => p2(price - dec!(0.01)),
            "86" => p2(price + dec!(0.01)),
            "88" => "1,400".into(),
            "85" => "900".into(),
            "7059" => "100".into(),
            "7295" | "7296" | "7741" | "70" | "71" | "7635" => p2(price),
            "82" => "0.00".into(),
            "83" => "0.00%".into(),
            "87" => "1.2M".into(),
            "7762" => "1200000".into(),
            "55" => ins.symbol.clone(),
            "7051" => ins.name.clone(),
            "6004" | "7221" => ins.exchange.clone(),
            "6070" => ins.asset_class.clone(),
            "7184" | "7768" => "1".into(),
            "73" => thousands(holding?.quantity * price, 2),
            "74" => p2(holding?.avg_cost),
            "75" => thousands(holding?.quantity * (price - holding?.avg_cost), 2),
            _ => return None,
        })
    }
}
