//! Contract endpoints: `/iserver/secdef/search`, `/trsrv/stocks`, `/iserver/contract/{conid}/info`
//! (and `info-and-rules`) and `POST /iserver/contract/rules`.
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::super::Shared;
use super::super::reply::{Reply, num};
use super::super::state::SimState;
use super::gates::{need_brokerage, need_sso};
use super::pipeline::{Call, Endpoint};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/iserver/secdef/search",
            get(Endpoint(secdef_search)).post(Endpoint(secdef_search)),
        )
        .route("/trsrv/stocks", get(Endpoint(trsrv_stocks)))
        .route("/iserver/contract/{conid}/info", get(Endpoint(info)))
        .route(
            "/iserver/contract/{conid}/info-and-rules",
            get(Endpoint(info_and_rules)),
        )
        .route("/iserver/contract/rules", post(Endpoint(rules)))
}

/// The path's conid, if it names a simulated instrument.
fn known_conid(s: &SimState, c: &Call) -> Option<i64> {
    c.param("conid")
        .parse::<i64>()
        .ok()
        .filter(|c| s.instruments.contains_key(c))
}

fn info(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    match known_conid(s, c) {
        Some(conid) => Reply::ok(contract_info(s, conid)),
        None => Reply::error(400, "Bad Request: unknown conid"),
    }
}

fn info_and_rules(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    match known_conid(s, c) {
        Some(conid) => {
            let mut v = contract_info(s, conid);
            v["rules"] = contract_rules(s, conid);
            Reply::ok(v)
        }
        None => Reply::error(400, "Bad Request: unknown conid"),
    }
}

fn rules(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    match c
        .body
        .get("conid")
        .and_then(Value::as_i64)
        .filter(|c| s.instruments.contains_key(c))
    {
        Some(conid) => Reply::ok(contract_rules(s, conid)),
        None => Reply::error(400, "Bad Request: unknown or missing conid"),
    }
}

fn trsrv_stocks(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    let syms = c.query.get("symbols").cloned().unwrap_or_default();
    let mut out = serde_json::Map::new();
    for sym in syms.split(',').filter(|x| !x.is_empty()) {
        // Symbols must be upper-case (reference §4.1): lower-case finds nothing.
        if let Some(ins) = s.instruments.values().find(|i| i.symbol == sym) {
            out.insert(
                sym.to_string(),
                json!([{
                    "name": ins.name, "chineseName": "", "assetClass": ins.asset_class,
                    "contracts": [{"conid": ins.conid, "exchange": ins.exchange, "isUS": true}]
                }]),
            );
        }
    }
    Reply::ok(Value::Object(out))
}

/// Parameters come from the query (GET) or the JSON body (POST).
fn secdef_search(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_brokerage(s) {
        return r;
    }
    let get = |k: &str| {
        c.query.get(k).cloned().or_else(|| {
            c.body
                .get(k)
                .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
        })
    };
    let symbol = get("symbol").unwrap_or_default();
    let by_name = get("name").is_some_and(|v| v == "true");
    let fund = get("fund").is_some_and(|v| v == "true");
    search(s, &symbol, by_name, fund)
}

fn search(s: &SimState, symbol: &str, by_name: bool, fund: bool) -> Reply {
    if symbol.is_empty() {
        return Reply::error(400, "Bad Request: symbol required");
    }
    let needle = symbol.to_uppercase();
    let hits: Vec<Value> = s
        .instruments
        .values()
        .filter(|i| !fund || i.asset_class == "FUND")
        .filter(|i| {
            if by_name {
                i.name.to_uppercase().contains(&needle)
            } else {
                i.symbol.to_uppercase() == needle
            }
        })
        .map(|i| {
            json!({
                "conid": i.conid.to_string(),
                "companyHeader": format!("{} - {}", i.name, i.exchange),
                "companyName": i.name, "symbol": i.symbol, "description": i.exchange,
                "restricted": null, "fop": null, "opt": null, "war": null,
                "sections": [{"secType": i.asset_class, "exchange": format!("{};SMART", i.exchange)}],
                "issuers": [], "bondid": 0
            })
        })
        .collect();
    if hits.is_empty() {
        return Reply::error(400, "No symbol found");
    }
    Reply::ok(Value::Array(hits))
}

fn contract_info(s: &SimState, conid: i64) -> Value {
    let i = &s.instruments[&conid];
    json!({
        "con_id": conid, "symbol": i.symbol, "local_symbol": i.symbol, "company_name": i.name,
        "exchange": "SMART", "valid_exchanges": format!("SMART,{}", i.exchange),
        "instrument_type": i.asset_class, "currency": s.instrument_currency(conid), "multiplier": "",
        "r_t_h": true, "smart_available": true, "allow_sell_long": false,
        "is_zero_commission_security": false, "category": "", "industry": "", "classifier": "",
        "cusip": null, "trading_class": i.symbol, "text": i.name, "underlying_con_id": 0,
        "underlying_issuer": "", "contract_clarification_type": "", "cfi_code": "",
        "contract_month": "", "expiry_full": "", "maturity_date": ""
    })
}

/// Trading rules as the simulator enforces them: funds take market orders only (by quantity
/// or cash); stocks take limit, market and market-on-close; cash quantity only with market
/// orders; fractions (4 decimals) when the account supports them.
fn contract_rules(s: &SimState, conid: i64) -> Value {
    let i = &s.instruments[&conid];
    let fund = i.asset_class == "FUND";
    let order_types: Vec<&str> = if fund {
        vec!["market"]
    } else {
        vec!["limit", "market", "marketonclose"]
    };
    let fraq: Vec<&str> = if !s.supports_fractions {
        vec![]
    } else if fund {
        vec!["market"]
    } else {
        vec!["limit", "market"]
    };
    let price = num(s.price(conid).unwrap_or_default());
    let tick = num(s.price_increment(conid));
    json!({
        "algoEligible": false, "allOrNoneEligible": false, "costReport": false,
        "canTradeAcctIds": [s.account_id], "error": null,
        "orderTypes": order_types, "ibAlgoTypes": [], "fraqTypes": fraq,
        "forceOrderPreview": false, "cqtTypes": ["market"], "orderDefaults": {},
        "orderTypesOutside": if fund { json!([]) } else { json!(["limit"]) },
        "defaultSize": 100, "cashSize": 0.0, "sizeIncrement": 1,
        "tifTypes": ["DAY/o,a", "GTC/o,a", "IOC/o,a"],
        "tifDefaults": {"TIF": "DAY", "SIZE": "100.00"}, "limitPrice": price.clone(),
        "stopPrice": price, "orderOrigination": null, "preview": true,
        "displaySize": null, "fraqInt": if s.supports_fractions { 4 } else { 0 }, "cashCcy": s.currency,
        "cashQtyIncr": 500, "priceMagnifier": null, "negativeCapable": false, "incrementType": 1,
        "incrementRules": [{"lowerEdge": 0.0, "increment": tick.clone()}], "hasSecondary": true,
        "modTypes": [], "increment": tick, "incrementDigits": s.price_increment(conid).normalize().scale()
    })
}
