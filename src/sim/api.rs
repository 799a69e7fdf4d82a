//! The `/v1/api` surface: routing, session/ordering gates, and the JSON shapes of the real
//! gateway (reference examples + OpenAPI). Pure functions of [`SimState`] and the request, so
//! the HTTP layer only handles transport, faults and pacing.
use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::config::{NoBrokerageReply, PromptCondition};
use super::state::{
    Holding, NewOrder, OrderStatus, OrderType, PendingReply, Side, SimOrder, SimState,
};

const MAC: &str = "5C:2A:91:07:E4:3B";
const SERVER_NAME: &str = "JifZ04117";
const SERVER_VERSION: &str = "Build 10.30.1c, Jun 3, 2024 4:12:58 PM (pbal sim)";
const USER_ID: i64 = 84_412_093;

/// A response before it becomes HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Body,
    pub cookies: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Value),
    Text(String),
    Html(String),
    Empty,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(v),
            cookies: vec![],
        }
    }
    pub fn ok(v: Value) -> Reply {
        Reply::json(200, v)
    }
    pub fn error(status: u16, msg: &str) -> Reply {
        Reply::json(status, json!({ "error": msg }))
    }
    pub fn text(status: u16, t: &str) -> Reply {
        Reply {
            status,
            body: Body::Text(t.to_string()),
            cookies: vec![],
        }
    }
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Body::Empty,
            cookies: vec![],
        }
    }
}

/// Exact decimal as a JSON number (serde_json keeps the digits with arbitrary precision).
pub(crate) fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// `1234.5` → `"1,234.50"` (IBKR's formatted strings).
pub(crate) fn thousands(d: Decimal, dp: u32) -> String {
    let d = d.round_dp(dp);
    let neg = d.is_sign_negative() && !d.is_zero();
    let s = format!("{:.*}", dp as usize, d.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (s.clone(), None),
    };
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    if neg { format!("-{out}") } else { out }
}

fn qty_str(d: Decimal) -> String {
    thousands(d.normalize(), d.normalize().scale())
}

/// Routes one API request. `path` is relative to `/v1/api` (or `/v1/portal`).
pub(crate) fn handle(
    s: &mut SimState,
    now: DateTime<Utc>,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) if method == "POST" && seg.first() == Some(&"iserver") => {
                return Reply::error(400, "Bad Request: invalid JSON body");
            }
            Err(_) => Value::Null,
        }
    };
    match (method, seg.as_slice()) {
        // ---- session ----
        ("GET" | "POST", ["tickle"]) => tickle(s),
        ("GET" | "POST", ["iserver", "auth", "status"]) => {
            need_sso(s).unwrap_or_else(|| Reply::ok(auth_status(s)))
        }
        ("POST", ["iserver", "auth", "ssodh", "init"]) => {
            if let Some(r) = need_sso(s) {
                return r;
            }
            let compete = json_body
                .get("compete")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if s.session.competing && !compete {
                let mut st = auth_status(s);
                st["fail"] =
                    json!("Force compete capability must be used together with compete flag");
                return Reply::ok(st);
            }
            // Already healthy: init reports the status and keeps the session (and its priming).
            if !s.session.authenticated || s.session.competing {
                s.start_auth(now);
            }
            Reply::ok(auth_status(s))
        }
        ("GET" | "POST", ["iserver", "reauthenticate"]) => {
            if let Some(r) = need_sso(s) {
                return r;
            }
            s.start_auth(now);
            Reply::ok(json!({"message": "triggered"}))
        }
        ("GET", ["sso", "validate"]) => match need_sso(s) {
            Some(r) => r,
            None => Reply::ok(sso_validate(s, now)),
        },
        ("POST" | "GET", ["logout"]) => {
            let had = s.session.sso;
            s.drop_sso();
            if had {
                Reply::ok(json!({"status": true}))
            } else {
                unauthorized()
            }
        }
        // ---- accounts & portfolio ----
        ("GET", ["iserver", "accounts"]) => {
            if let Some(r) = need_sso(s) {
                return r;
            }
            if s.session.competing {
                return Reply::ok(json!({}));
            }
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            s.session.iserver_primed = true;
            Reply::ok(iserver_accounts(s))
        }
        ("POST", ["iserver", "account"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            let acct = json_body
                .get("acctId")
                .and_then(Value::as_str)
                .unwrap_or("");
            if acct != s.account_id {
                return Reply::error(500, &format!("Account {acct} not found"));
            }
            Reply::ok(json!({"set": true, "acctId": acct}))
        }
        ("GET", ["portfolio", "accounts"]) | ("GET", ["portfolio", "subaccounts"]) => {
            if let Some(r) = need_sso(s) {
                return r;
            }
            s.session.portfolio_primed = true;
            Reply::ok(json!([portfolio_account(s)]))
        }
        ("GET", ["portfolio", acct, "positions", page]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            let Ok(page) = page.parse::<usize>() else {
                return Reply::error(400, "Bad Request: pageId must be a number");
            };
            if s.positions_cache.is_none() {
                s.positions_cache = Some(current_positions(s));
            }
            let rows = s.positions_cache.clone().unwrap_or_default();
            let items: Vec<Value> = rows
                .iter()
                .skip(page * 100)
                .take(100)
                .map(|(c, h, p)| position_json(s, *c, h, *p))
                .collect();
            Reply::ok(Value::Array(items))
        }
        ("POST", ["portfolio", acct, "positions", "invalidate"]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            s.positions_cache = None;
            Reply::ok(json!({"message": "success"}))
        }
        ("GET", ["portfolio", acct, "position", conid]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            let conid: i64 = conid.parse().unwrap_or(-1);
            let v: Vec<Value> = current_positions(s)
                .iter()
                .filter(|(c, _, _)| *c == conid)
                .map(|(c, h, p)| position_json(s, *c, h, *p))
                .collect();
            Reply::ok(Value::Array(v))
        }
        ("GET", ["portfolio2", acct, "positions"]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            let v: Vec<Value> = current_positions(s)
                .iter()
                .map(|(c, h, p)| portfolio2_json(s, *c, h, *p, now))
                .collect();
            Reply::ok(Value::Array(v))
        }
        ("GET", ["portfolio", acct, "ledger"]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            Reply::ok(ledger(s, now))
        }
        ("GET", ["portfolio", acct, "summary"]) => {
            if let Some(r) = need_portfolio(s, acct) {
                return r;
            }
            Reply::ok(summary(s, now))
        }
        // ---- contracts & prices ----
        ("GET" | "POST", ["iserver", "secdef", "search"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            let get = |k: &str| {
                query.get(k).cloned().or_else(|| {
                    json_body
                        .get(k)
                        .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                })
            };
            let symbol = get("symbol").unwrap_or_default();
            let by_name = get("name").is_some_and(|v| v == "true");
            let fund = get("fund").is_some_and(|v| v == "true");
            secdef_search(s, &symbol, by_name, fund)
        }
        ("GET", ["trsrv", "stocks"]) => {
            if let Some(r) = need_sso(s) {
                return r;
            }
            let syms = query.get("symbols").cloned().unwrap_or_default();
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
        ("GET", ["iserver", "marketdata", "snapshot"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            snapshot(s, now, query)
        }
        ("GET", ["iserver", "contract", conid, "info"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            match conid
                .parse::<i64>()
                .ok()
                .filter(|c| s.instruments.contains_key(c))
            {
                Some(c) => Reply::ok(contract_info(s, c)),
                None => Reply::error(400, "Bad Request: unknown conid"),
            }
        }
        ("GET", ["iserver", "contract", conid, "info-and-rules"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            match conid
                .parse::<i64>()
                .ok()
                .filter(|c| s.instruments.contains_key(c))
            {
                Some(c) => {
                    let mut v = contract_info(s, c);
                    v["rules"] = contract_rules(s, c);
                    Reply::ok(v)
                }
                None => Reply::error(400, "Bad Request: unknown conid"),
            }
        }
        ("POST", ["iserver", "contract", "rules"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            match json_body
                .get("conid")
                .and_then(Value::as_i64)
                .filter(|c| s.instruments.contains_key(c))
            {
                Some(c) => Reply::ok(contract_rules(s, c)),
                None => Reply::error(400, "Bad Request: unknown or missing conid"),
            }
        }
        ("GET" | "POST", ["iserver", "marketdata", "unsubscribeall"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            s.session.md_calls.clear();
            Reply::ok(json!({"unsubscribed": true}))
        }
        // ---- orders ----
        ("POST", ["iserver", "account", acct, "orders"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            place_orders(s, now, acct, &json_body)
        }
        ("POST", ["iserver", "account", acct, "orders", "whatif"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            whatif(s, now, acct, &json_body)
        }
        ("POST", ["iserver", "reply", id]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            reply(s, now, id, &json_body)
        }
        ("POST", ["iserver", "questions", "suppress"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            let Some(ids) = json_body.get("messageIds").and_then(Value::as_array) else {
                return Reply::error(400, "messageIds required");
            };
            if ids.len() > 51 {
                return Reply::error(400, "at most 51 messageIds per request");
            }
            for id in ids.iter().filter_map(Value::as_str) {
                s.session.suppressed.insert(id.to_string());
            }
            Reply::ok(json!({"status": "submitted"}))
        }
        ("POST", ["iserver", "questions", "suppress", "reset"]) => {
            if let Some(r) = need_brokerage(s) {
                return r;
            }
            s.session.suppressed.clear();
            Reply::ok(json!({"status": "submitted"}))
        }
        ("GET", ["iserver", "account", "orders"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            live_orders(s, query)
        }
        ("GET", ["iserver", "account", "order", "status", id]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            let id: u64 = id.parse().unwrap_or(0);
            let gen_ = s.session.generation;
            match s
                .orders
                .iter()
                .find(|o| o.order_id == id && o.session_generation == gen_)
            {
                Some(o) => Reply::ok(order_status_json(s, o)),
                None => Reply::empty(503),
            }
        }
        ("DELETE", ["iserver", "account", acct, "order", id]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            cancel(s, now, acct, id)
        }
        ("GET", ["iserver", "account", "trades"]) => {
            if let Some(r) = need_primed(s) {
                return r;
            }
            let days: i64 = query
                .get("days")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1)
                .clamp(1, 7);
            trades(s, now, days)
        }
        _ => Reply::error(404, "Not Found"),
    }
}

fn unauthorized() -> Reply {
    Reply::json(
        401,
        json!({"error": "not authenticated", "statusCode": 401}),
    )
}

fn need_sso(s: &SimState) -> Option<Reply> {
    (!s.session.sso).then(unauthorized)
}

fn need_brokerage(s: &SimState) -> Option<Reply> {
    if let Some(r) = need_sso(s) {
        return Some(r);
    }
    if s.session.authenticated {
        return None;
    }
    Some(match s.behaviour.no_brokerage_reply {
        NoBrokerageReply::Unauthorized => unauthorized(),
        NoBrokerageReply::InitSessionFirst => Reply::json(
            400,
            json!({"error": "Init session first", "statusCode": 400}),
        ),
        NoBrokerageReply::NoBridge => Reply::text(400, "Bad Request: no bridge"),
    })
}

fn need_primed(s: &SimState) -> Option<Reply> {
    if let Some(r) = need_brokerage(s) {
        return Some(r);
    }
    (!s.session.iserver_primed).then(|| Reply::error(500, "Please query /accounts first"))
}

fn need_portfolio(s: &SimState, acct: &str) -> Option<Reply> {
    if let Some(r) = need_sso(s) {
        return Some(r);
    }
    if !s.session.portfolio_primed {
        return Some(Reply::error(500, "Please query /portfolio/accounts first"));
    }
    if acct != s.account_id {
        return Some(Reply::error(500, &format!("Account {acct} not found")));
    }
    None
}

// ---- session bodies -------------------------------------------------------------------------

fn auth_status(s: &SimState) -> Value {
    let a = s.session.authenticated;
    json!({
        "authenticated": a,
        "competing": s.session.competing,
        "connected": true,
        "established": a,
        "fail": "",
        "message": "",
        "MAC": MAC,
        "hardware_info": format!("7a41c09e|{MAC}"),
        "serverInfo": if a {
            json!({"serverName": SERVER_NAME, "serverVersion": SERVER_VERSION})
        } else {
            json!({"serverName": null, "serverVersion": null})
        },
    })
}

fn tickle(s: &mut SimState) -> Reply {
    if !s.session.sso {
        return if s.session.had_sso {
            Reply::ok(json!({"error": "no session"}))
        } else {
            unauthorized()
        };
    }
    if s.session.tickle_no_session > 0 {
        s.session.tickle_no_session -= 1;
        return Reply::ok(json!({"error": "no session"}));
    }
    let remaining = s.behaviour.idle_timeout_ms;
    let mut st = auth_status(s);
    if let Some(o) = st.as_object_mut() {
        o.remove("fail");
        o.remove("hardware_info");
    }
    Reply::ok(json!({
        "session": s.session.session_id,
        "ssoExpires": remaining,
        "collission": s.session.competing,
        "userId": USER_ID,
        "hmds": {"error": "no bridge"},
        "iserver": {"authStatus": st},
    }))
}

fn sso_validate(s: &SimState, now: DateTime<Utc>) -> Value {
    let auth = s.session.sso_started.unwrap_or(now).timestamp_millis();
    let left =
        s.behaviour.idle_timeout_ms as i64 - (now - s.session.last_activity).num_milliseconds();
    json!({
        "USER_ID": USER_ID, "USER_NAME": s.username, "CREDENTIAL": s.username, "RESULT": true,
        "AUTH_TIME": auth, "EXPIRES": left.max(0), "LOGIN_TYPE": 2, "IS_MASTER": false,
        "IS_FREE_TRIAL": false, "SF_ENABLED": false, "PAPER_USER_NAME": s.username,
        "LANDING_APP": "UNIVERSAL", "QUALIFIED_FOR_MOBILE_AUTH": null, "IP": "127.0.0.1",
        "features": {"env": "PROD", "realtime": true, "bond": true, "newMf": true,
                     "optionChains": true, "calendar": true, "wlms": true},
        "lastAccessed": s.session.last_activity.timestamp_millis(), "region": "NJ"
    })
}

fn is_paper(s: &SimState) -> bool {
    s.account_id.starts_with("DU")
}

fn iserver_accounts(s: &SimState) -> Value {
    let id = &s.account_id;
    json!({
        "accounts": [id],
        "acctProps": { id: {
            "hasChildAccounts": false, "supportsCashQty": true,
            "supportsFractions": s.supports_fractions, "allowCustomerTime": false, "autoFx": false,
            "liteUnderPro": false, "noFXConv": false, "isProp": false
        }},
        "aliases": { id: id },
        "allowFeatures": {
            "allowCrypto": false, "allowDynAccount": false, "allowEventContract": false,
            "allowEventTrading": false, "allowFXConv": true, "allowFinancialLens": true,
            "allowMTA": true, "allowTypeAhead": true,
            "allowedAssetTypes": "STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND,SLB,News,CMDTY,IOPT,ICU,ICS,PHYSS,CRYPTO",
            "debugPnl": false, "liteUser": false, "research": true, "restrictTradeSubscription": false,
            "showEUCostReport": false, "showGFIS": true, "showImpactDashboard": true, "showTaxOpt": true,
            "showUkUserLabels": false, "showWebNews": true, "sideBySide": true, "snapshotRefreshTimeout": 30
        },
        "chartPeriods": {"STK": ["*"], "FUND": ["*"], "CASH": ["*"], "OPT": ["2h", "1d", "2d", "1w", "1m"]},
        "groups": [], "profiles": [], "selectedAccount": id,
        "isFT": false, "isPaper": is_paper(s),
        "serverInfo": {"serverName": SERVER_NAME, "serverVersion": SERVER_VERSION},
        "sessionId": format!("{:08x}.{:08x}", s.session.generation as u32 ^ 0x6668_a2f1, s.session.generation),
    })
}

fn portfolio_account(s: &SimState) -> Value {
    let id = &s.account_id;
    json!({
        "id": id, "accountId": id, "accountVan": id, "accountTitle": "pbal simulator",
        "displayName": id, "accountAlias": null, "accountStatus": 1_583_121_600_000_i64,
        "currency": s.currency, "type": if is_paper(s) { "DEMO" } else { "INDIVIDUAL" },
        "tradingType": "STKNOPT", "businessType": "IB_PROSERVE", "ibEntity": "IBLLC-US",
        "faclient": false, "clearingStatus": "O", "covestor": false, "noClientTrading": false,
        "trackVirtualFXPortfolio": true, "brokerageAccess": true,
        "PrepaidCrypto-Z": false, "PrepaidCrypto-P": false,
        "parent": {"mmc": [], "accountId": "", "isMParent": false, "isMChild": false, "isMultiplex": false},
        "desc": id
    })
}

/// Live positions: (conid, holding, price) for non-zero holdings, by conid.
fn current_positions(s: &SimState) -> Vec<(i64, Holding, Decimal)> {
    s.holdings
        .iter()
        .filter(|(_, h)| !h.quantity.is_zero())
        .map(|(c, h)| (*c, h.clone(), s.price(*c).unwrap_or_default()))
        .collect()
}

fn position_json(s: &SimState, conid: i64, h: &Holding, price: Decimal) -> Value {
    let ins = &s.instruments[&conid];
    let value = (h.quantity * price).round_dp(2);
    json!({
        "acctId": s.account_id, "conid": conid, "contractDesc": ins.symbol,
        "position": num(h.quantity), "mktPrice": num(price), "mktValue": num(value),
        "currency": s.currency, "avgCost": num(h.avg_cost.round_dp(4)), "avgPrice": num(h.avg_cost.round_dp(4)),
        "realizedPnl": num(h.realized_pnl.round_dp(2)),
        "unrealizedPnl": num((h.quantity * (price - h.avg_cost)).round_dp(2)),
        "exchs": null, "expiry": null, "putOrCall": null, "multiplier": 0.0, "strike": "0",
        "exerciseStyle": null, "conExchMap": [], "assetClass": ins.asset_class, "undConid": 0,
        "model": "", "incrementRules": [{"lowerEdge": 0.0, "increment": 0.01}],
        "displayRule": {"magnification": 0, "displayRuleStep": [{"decimalDigits": 2, "lowerEdge": 0.0, "wholeDigits": 4}]},
        "time": 11, "chineseName": null,
        "allExchanges": if ins.asset_class == "FUND" { "FUNDSERV" } else { "AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,EDGX,FOXRIVER,PEARL,NYSENAT,LTSE,MEMX,IBEOS,OVERNIGHT,TPLUS0,PSX" },
        "listingExchange": ins.exchange, "countryCode": "US", "name": ins.name,
        "lastTradingDay": null, "group": null, "sector": null, "sectorGroup": null,
        "ticker": ins.symbol, "type": ins.kind, "hasOptions": ins.asset_class == "STK",
        "fullName": ins.symbol, "isUS": true, "isEventContract": false, "pageSize": 100
    })
}

fn portfolio2_json(
    s: &SimState,
    conid: i64,
    h: &Holding,
    price: Decimal,
    now: DateTime<Utc>,
) -> Value {
    let ins = &s.instruments[&conid];
    json!({
        "conid": conid.to_string(), "description": ins.symbol, "position": num(h.quantity),
        "marketPrice": num(price), "marketValue": num((h.quantity * price).round_dp(2)),
        "avgCost": num(h.avg_cost.round_dp(4)), "avgPrice": num(h.avg_cost.round_dp(4)),
        "currency": s.currency, "secType": ins.asset_class, "assetClass": ins.asset_class,
        "unrealizedPnl": num((h.quantity * (price - h.avg_cost)).round_dp(2)),
        "realizedPnl": num(h.realized_pnl.round_dp(2)), "sector": null, "group": null, "model": "",
        "timestamp": now.timestamp(), "isLastToLoq": false
    })
}

fn ledger(s: &SimState, now: DateTime<Utc>) -> Value {
    let entry = |key: &str, end: bool| {
        let mut v = json!({
            "acctcode": s.account_id, "currency": key, "secondkey": key, "key": "LedgerList",
            "cashbalance": num(s.cash.round_dp(2)), "settledcash": num(s.cash.round_dp(2)),
            "cashbalancefxsegment": 0.0,
            "netliquidationvalue": num(s.net_liquidation().round_dp(2)),
            "stockmarketvalue": num(s.stock_value("STK").round_dp(2)),
            "funds": num(s.stock_value("FUND").round_dp(2)), "moneyfunds": 0.0,
            "stockoptionmarketvalue": 0.0, "futuremarketvalue": 0.0, "futureoptionmarketvalue": 0.0,
            "futuresonlypnl": 0.0, "corporatebondsmarketvalue": 0.0, "tbondsmarketvalue": 0.0,
            "tbillsmarketvalue": 0.0, "warrantsmarketvalue": 0.0, "issueroptionsmarketvalue": 0.0,
            "commoditymarketvalue": 0.0, "cryptocurrencyvalue": 0.0, "interest": 0.0, "dividends": 0.0,
            "realizedpnl": num(s.realized_total.round_dp(2)),
            "unrealizedpnl": num(s.unrealized().round_dp(2)),
            "exchangerate": 1, "timestamp": now.timestamp(), "sessionid": 1, "severity": 0
        });
        if end {
            v["endofbundle"] = json!(1);
        }
        v
    };
    let mut m = serde_json::Map::new();
    m.insert(s.currency.clone(), entry(&s.currency, true));
    m.insert("BASE".into(), entry("BASE", false));
    Value::Object(m)
}

fn summary(s: &SimState, now: DateTime<Utc>) -> Value {
    let ts = now.timestamp_millis();
    let amt = |a: Decimal| {
        json!({"amount": num(a.round_dp(2)), "currency": s.currency, "isNull": false,
               "timestamp": ts, "value": null, "severity": 0})
    };
    let txt = |v: &str| json!({"amount": 0.0, "currency": null, "isNull": false, "timestamp": ts, "value": v, "severity": 0});
    let nlv = s.net_liquidation();
    let gross = s.stock_value("STK") + s.stock_value("FUND");
    let mut m = serde_json::Map::new();
    m.insert("accountcode".into(), txt(&s.account_id));
    m.insert(
        "accounttype".into(),
        txt(if is_paper(s) { "DEMO" } else { "INDIVIDUAL" }),
    );
    m.insert("accountready".into(), txt("true"));
    for (k, v) in [
        ("netliquidation", nlv),
        ("totalcashvalue", s.cash),
        ("availablefunds", s.cash),
        ("buyingpower", s.cash),
        ("excessliquidity", s.cash),
        ("equitywithloanvalue", nlv),
        ("grosspositionvalue", gross),
        ("initmarginreq", Decimal::ZERO),
        ("maintmarginreq", Decimal::ZERO),
        ("accruedcash", Decimal::ZERO),
    ] {
        m.insert(k.into(), amt(v));
        m.insert(format!("{k}-s"), amt(v));
        m.insert(format!("{k}-c"), amt(Decimal::ZERO));
    }
    Value::Object(m)
}

// ---- contracts & market data ----------------------------------------------------------------

fn contract_info(s: &SimState, conid: i64) -> Value {
    let i = &s.instruments[&conid];
    json!({
        "con_id": conid, "symbol": i.symbol, "local_symbol": i.symbol, "company_name": i.name,
        "exchange": "SMART", "valid_exchanges": format!("SMART,{}", i.exchange),
        "instrument_type": i.asset_class, "currency": s.currency, "multiplier": "",
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
        "incrementRules": [{"lowerEdge": 0.0, "increment": 0.01}], "hasSecondary": true,
        "modTypes": [], "increment": 0.01, "incrementDigits": 2
    })
}

fn secdef_search(s: &SimState, symbol: &str, by_name: bool, fund: bool) -> Reply {
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

fn snapshot(s: &mut SimState, now: DateTime<Utc>, query: &HashMap<String, String>) -> Reply {
    let Some(conids) = query.get("conids") else {
        return Reply::error(400, "Bad Request: conids required");
    };
    let mut conid_list = Vec::new();
    for c in conids.split(',').filter(|c| !c.is_empty()) {
        match c.trim().parse::<i64>() {
            Ok(c) => conid_list.push(c),
            Err(_) => return Reply::error(400, &format!("Bad Request: invalid conid {c:?}")),
        }
    }
    let fields: Vec<String> = query
        .get("fields")
        .map(|f| {
            f.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["31".into(), "84".into(), "86".into()]);
    let open = s.market_open(now);
    let preflight = s.behaviour.preflight_empty_calls;
    let mut out = Vec::new();
    for conid in conid_list {
        let calls = s.session.md_calls.entry(conid).or_insert(0);
        *calls += 1;
        let calls = *calls;
        let mut o = serde_json::Map::new();
        o.insert("conid".into(), json!(conid));
        o.insert("conidEx".into(), json!(conid.to_string()));
        let (Some(ins), Some(price)) = (s.instruments.get(&conid), s.price(conid)) else {
            out.push(Value::Object(o));
            continue;
        };
        if calls <= preflight {
            out.push(Value::Object(o));
            continue;
        }
        o.insert("_updated".into(), json!(now.timestamp_millis()));
        o.insert("server_id".into(), json!("q0"));
        o.insert("6119".into(), json!("q0"));
        o.insert("6509".into(), json!("RpB"));
        let p2 = |d: Decimal| format!("{:.2}", d.round_dp(2));
        let holding = s.holdings.get(&conid);
        for f in &fields {
            let v = match f.as_str() {
                "31" => Some(if open {
                    p2(price)
                } else {
                    format!("C{}", p2(price))
                }),
                "84" => Some(p2(price - dec!(0.01))),
                "86" => Some(p2(price + dec!(0.01))),
                "88" => Some("1,400".into()),
                "85" => Some("900".into()),
                "7059" => Some("100".into()),
                "7295" | "7296" | "7741" | "70" | "71" | "7635" => Some(p2(price)),
                "82" => Some("0.00".into()),
                "83" => Some("0.00%".into()),
                "87" => Some("1.2M".into()),
                "7762" => Some("1200000".into()),
                "55" => Some(ins.symbol.clone()),
                "7051" => Some(ins.name.clone()),
                "6004" | "7221" => Some(ins.exchange.clone()),
                "6070" => Some(ins.asset_class.clone()),
                "7184" | "7768" => Some("1".into()),
                "73" => holding.map(|h| thousands(h.quantity * price, 2)),
                "74" => holding.map(|h| p2(h.avg_cost)),
                "75" => holding.map(|h| thousands(h.quantity * (price - h.avg_cost), 2)),
                _ => None,
            };
            if let Some(v) = v {
                o.insert(f.clone(), json!(v));
            }
        }
        out.push(Value::Object(o));
    }
    Reply::ok(Value::Array(out))
}

// ---- orders ---------------------------------------------------------------------------------

/// Parses and validates one order ticket; `Err` is the gateway's error reply.
fn parse_order(s: &SimState, acct: &str, body: &Value) -> Result<NewOrder, Reply> {
    if acct != s.account_id {
        return Err(Reply::error(500, &format!("Account {acct} not found")));
    }
    let orders = match body {
        Value::Object(m) => m.get("orders").and_then(Value::as_array).cloned(),
        Value::Array(a) => Some(a.clone()),
        _ => None,
    };
    let Some(orders) = orders else {
        return Err(Reply::error(
            400,
            "Bad Request: body must be {\"orders\":[...]}",
        ));
    };
    if orders.len() != 1 {
        return Err(Reply::error(
            400,
            "Bad Request: exactly one order per request is supported",
        ));
    }
    let o = &orders[0];
    let dec_field = |k: &str| -> Result<Option<Decimal>, Reply> {
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
                    .map_err(|_| Reply::error(400, &format!("Bad Request: invalid {k}")))
            }
        }
    };
    if let Some(a) = o.get("acctId").and_then(Value::as_str)
        && a != s.account_id
    {
        return Err(Reply::error(
            400,
            &format!("Bad Request: acctId {a} does not match the account in the path"),
        ));
    }
    let conid = match o.get("conid") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => t.parse().ok(),
        _ => o
            .get("conidex")
            .and_then(Value::as_str)
            .and_then(|c| c.split('@').next()?.parse().ok()),
    };
    let Some(conid) = conid.filter(|c| s.instruments.contains_key(c)) else {
        return Err(Reply::error(400, "Bad Request: unknown or missing conid"));
    };
    let side = match o.get("side").and_then(Value::as_str) {
        Some("BUY") => Side::Buy,
        Some("SELL") => Side::Sell,
        _ => return Err(Reply::error(400, "Bad Request: side must be BUY or SELL")),
    };
    let order_type = match o.get("orderType").and_then(Value::as_str) {
        Some("MKT") => OrderType::Market,
        Some("LMT") => OrderType::Limit,
        Some("MOC") => OrderType::MarketOnClose,
        Some(other) => {
            return Err(Reply::error(
                400,
                &format!("Bad Request: order type {other} not supported by the simulator"),
            ));
        }
        None => return Err(Reply::error(400, "Bad Request: orderType required")),
    };
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
        return Err(Reply::error(400, "Bad Request: invalid tif"));
    }
    let quantity = dec_field("quantity")?;
    let cash_qty = dec_field("cashQty")?;
    let limit_price = dec_field("price")?;
    match (quantity, cash_qty) {
        (Some(_), Some(_)) => {
            return Err(Reply::error(
                400,
                "Bad Request: quantity and cashQty are mutually exclusive",
            ));
        }
        (None, None) => {
            return Err(Reply::error(
                400,
                "Bad Request: quantity or cashQty required",
            ));
        }
        (Some(q), None) if q <= Decimal::ZERO => {
            return Err(Reply::error(400, "Bad Request: quantity must be positive"));
        }
        (None, Some(c)) if c <= Decimal::ZERO => {
            return Err(Reply::error(400, "Bad Request: cashQty must be positive"));
        }
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
    if order_type == OrderType::Limit {
        match limit_price {
            Some(p) if p > Decimal::ZERO => {}
            _ => return Err(Reply::error(200, "invalid order price fields")),
        }
    }
    if cash_qty.is_some() && order_type == OrderType::Limit {
        return Err(Reply::error(
            200,
            "Cash quantity orders are only supported for market orders in the simulator",
        ));
    }
    let coid = o.get("cOID").and_then(Value::as_str).map(str::to_string);
    Ok(NewOrder {
        coid,
        conid,
        side,
        order_type,
        limit_price: if order_type == OrderType::Limit {
            limit_price
        } else {
            None
        },
        quantity,
        cash_qty,
        tif,
    })
}

fn order_value(s: &SimState, o: &NewOrder) -> Decimal {
    let price = o.limit_price.or(s.price(o.conid)).unwrap_or_default();
    match (o.quantity, o.cash_qty) {
        (Some(q), _) => q * price,
        (None, Some(c)) => c,
        _ => Decimal::ZERO,
    }
}

fn order_text(s: &SimState, o: &NewOrder) -> String {
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

/// Cash-account checks the real system applies before accepting an order.
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
            let need = value + SimState::commission(shares, price);
            if need > s.cash {
                return Some(Reply::error(
                    200,
                    &format!(
                        "Order rejected - reason: YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR AVAILABLE FUNDS [{} {}] MUST EXCEED THE ORDER VALUE [{} {}]",
                        thousands(s.cash, 2),
                        s.currency,
                        thousands(need, 2),
                        s.currency
                    ),
                ));
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
            if want + working > held {
                return Some(Reply::error(
                    200,
                    "Order rejected - reason: SHORT SALES ARE NOT ALLOWED IN A CASH ACCOUNT",
                ));
            }
        }
    }
    None
}

fn questions_for(s: &SimState, o: &NewOrder, now: DateTime<Utc>) -> Vec<(String, String)> {
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

fn duplicate_error(coid: &str) -> Reply {
    Reply::error(
        400,
        &format!("Order couldn't be submitted: Local order ID={coid} is already registered."),
    )
}

fn place_orders(s: &mut SimState, now: DateTime<Utc>, acct: &str, body: &Value) -> Reply {
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
    let mut qs: std::collections::VecDeque<_> = questions_for(s, &order, now).into();
    match qs.pop_front() {
        None => submitted(s, order, now),
        Some(first) => {
            let mut remaining = std::collections::VecDeque::new();
            remaining.push_back(first);
            remaining.extend(qs);
            ask(s, order, remaining)
        }
    }
}

/// Stores the pending order and returns the first question as a reply-required array.
fn ask(
    s: &mut SimState,
    order: NewOrder,
    questions: std::collections::VecDeque<(String, String)>,
) -> Reply {
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

fn reply(s: &mut SimState, now: DateTime<Utc>, id: &str, body: &Value) -> Reply {
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
    if p.questions.is_empty() {
        if let Some(c) = &p.order.coid
            && s.coid_registered(c, now)
        {
            return duplicate_error(c);
        }
        if let Some(r) = precheck(s, &p.order) {
            return r;
        }
        submitted(s, p.order, now)
    } else {
        ask(s, p.order, p.questions)
    }
}

fn whatif(s: &mut SimState, _now: DateTime<Utc>, acct: &str, body: &Value) -> Reply {
    let order = match parse_order(s, acct, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let price = s.price(order.conid).unwrap_or_default();
    let exec_price = order
        .limit_price
        .map(|l| l.min(price).max(Decimal::ZERO))
        .unwrap_or(price);
    let exec_price = if order.side == Side::Sell {
        order.limit_price.map(|l| l.max(price)).unwrap_or(price)
    } else {
        exec_price
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
    let sign = if order.side == Side::Buy {
        Decimal::ONE
    } else {
        -Decimal::ONE
    };
    let nlv = s.net_liquidation();
    let warn = precheck(s, &order).and_then(|r| match r.body {
        Body::Json(v) => v.get("error").and_then(Value::as_str).map(str::to_string),
        _ => None,
    });
    // The commission adds to the cost shown for buys and sells alike.
    let total = value + commission;
    Reply::ok(json!({
        "amount": {
            "amount": format!("{} {} ({} Shares)", thousands(value, 2), s.currency, qty_str(shares)),
            "commission": format!("{} {}", commission.normalize(), s.currency),
            "total": format!("{} {}", thousands(total, 2), s.currency),
        },
        "equity": {"current": thousands(nlv, 0), "change": thousands(-commission, 0), "after": thousands(nlv - commission, 0)},
        "initial": {"current": "0", "change": "0", "after": "0"},
        "maintenance": {"current": "0", "change": "0", "after": "0"},
        "position": {"current": qty_str(held), "change": qty_str(sign * shares), "after": qty_str(held + sign * shares)},
        "warn": warn,
        "error": null,
    }))
}

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
        "sizeAndFills": if o.status == OrderStatus::Filled { qty_str(o.filled) } else {
            match (o.quantity, o.cash_qty) {
                (Some(q), _) => format!("{}/{}", qty_str(o.filled), qty_str(q)),
                (None, Some(c)) => format!("{}/{} {}", qty_str(o.filled), thousands(c, 0), s.currency),
                _ => String::new(),
            }
        },
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

fn live_orders(s: &mut SimState, query: &HashMap<String, String>) -> Reply {
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
    let status_key = |st: OrderStatus| match st {
        OrderStatus::PreSubmitted => "pre_submitted",
        OrderStatus::Submitted => "submitted",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Inactive => "inactive",
    };
    let gen_ = s.session.generation;
    let mut list: Vec<&SimOrder> = s
        .orders
        .iter()
        .filter(|o| o.session_generation == gen_)
        .filter(|o| wanted.is_empty() || wanted.contains(&status_key(o.status)))
        .collect();
    list.sort_by_key(|o| std::cmp::Reverse(o.last_update));
    let orders: Vec<Value> = list.iter().map(|o| live_order_json(s, o)).collect();
    Reply::ok(json!({"orders": orders, "snapshot": true}))
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

fn cancel(s: &mut SimState, now: DateTime<Utc>, acct: &str, id: &str) -> Reply {
    if acct != s.account_id {
        return Reply::error(500, &format!("Account {acct} not found"));
    }
    let id: u64 = match id.parse() {
        Ok(i) => i,
        Err(_) => return Reply::error(400, &format!("OrderID {id} doesn't exist")),
    };
    let Some(o) = s.orders.iter_mut().find(|o| o.order_id == id) else {
        return Reply::error(200, &format!("OrderID {id} doesn't exist"));
    };
    if !o.status.is_working() {
        return Reply::error(
            200,
            &format!(
                "OrderID {id} cannot be cancelled: it is {}",
                o.status.as_str()
            ),
        );
    }
    o.status = OrderStatus::Cancelled;
    o.last_update = now;
    Reply::ok(
        json!({"msg": "Request was submitted", "order_id": id, "conid": o.conid, "account": o.account}),
    )
}

fn trades(s: &SimState, now: DateTime<Utc>, days: i64) -> Reply {
    let since = now - ChronoDuration::days(days);
    let v: Vec<Value> = s
        .executions
        .iter()
        .filter(|e| e.at > since)
        .map(|e| {
            let ins = &s.instruments[&e.conid];
            let (code, verb) = if e.side == Side::Buy { ("B", "Bought") } else { ("S", "Sold") };
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
        })
        .collect();
    Reply::ok(Value::Array(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_formats_like_ibkr() {
        assert_eq!(thousands(dec!(6409.2), 2), "6,409.20");
        assert_eq!(thousands(dec!(1234567), 0), "1,234,567");
        assert_eq!(thousands(dec!(-1), 0), "-1");
        assert_eq!(thousands(dec!(12), 2), "12.00");
        assert_eq!(qty_str(dec!(2.5)), "2.5");
        assert_eq!(qty_str(dec!(12.000)), "12");
    }

    #[test]
    fn num_keeps_exact_decimals() {
        assert_eq!(num(dec!(128.62)).to_string(), "128.62");
        assert_eq!(num(dec!(117)).to_string(), "117");
    }
}
