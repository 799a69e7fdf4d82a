//! Portfolio endpoints: `/portfolio/accounts` (their priming call), positions (paged, cached
//! until invalidated, like the gateway), `/portfolio2` positions, ledger and summary.
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::super::Shared;
use super::super::reply::{Reply, num};
use super::super::state::{Holding, SimState};
use super::accounts::is_paper;
use super::gates::{need_portfolio, need_sso};
use super::pipeline::{Call, Endpoint, not_found};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/portfolio/accounts", get(Endpoint(accounts)))
        .route("/portfolio/subaccounts", get(Endpoint(accounts)))
        // One route for both: a GET of `.../positions/invalidate` is a (bad) page number.
        .route(
            "/portfolio/{acct}/positions/{page}",
            get(Endpoint(positions)).post(Endpoint(invalidate)),
        )
        .route(
            "/portfolio/{acct}/position/{conid}",
            get(Endpoint(position)),
        )
        .route("/portfolio2/{acct}/positions", get(Endpoint(portfolio2)))
        .route("/portfolio/{acct}/ledger", get(Endpoint(ledger)))
        .route("/portfolio/{acct}/summary", get(Endpoint(summary)))
}

fn accounts(s: &mut SimState, _: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    s.session.portfolio_primed = true;
    Reply::ok(json!([portfolio_account(s)]))
}

fn positions(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    let Ok(page) = c.param("page").parse::<usize>() else {
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

fn invalidate(s: &mut SimState, c: &Call) -> Reply {
    if c.param("page") != "invalidate" {
        return not_found(s, c);
    }
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    s.positions_cache = None;
    Reply::ok(json!({"message": "success"}))
}

fn position(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    let conid: i64 = c.param("conid").parse().unwrap_or(-1);
    let v: Vec<Value> = current_positions(s)
        .iter()
        .filter(|(c, _, _)| *c == conid)
        .map(|(c, h, p)| position_json(s, *c, h, *p))
        .collect();
    Reply::ok(Value::Array(v))
}

fn portfolio2(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    let v: Vec<Value> = current_positions(s)
        .iter()
        .map(|(conid, h, p)| portfolio2_json(s, *conid, h, *p, c.now))
        .collect();
    Reply::ok(Value::Array(v))
}

fn ledger(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    Reply::ok(ledger_json(s, c.now))
}

fn summary(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_portfolio(s, c.param("acct")) {
        return r;
    }
    Reply::ok(summary_json(s, c.now))
}

fn portfolio_account(s: &SimState) -> Value {
    let id = &s.account_id;
    json!({
        "id": id, "accountId": id, "accountVan": id, "accountTitle": "pbal simulator",
        "displayName": id, "accountAlias": null, "accountStatus": 1_583_121_600_000_i64,
        "currency": s.currency, "type": if is_paper(s) { "DEMO" } else { "INDIVIDUAL" },
        "tradingType": if s.books.cash_account { "STKCASH" } else { "STKNOPT" }, "businessType": "IB_PROSERVE", "ibEntity": "IBLLC-US",
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
        "currency": s.instrument_currency(conid), "avgCost": num(h.avg_cost.round_dp(4)), "avgPrice": num(h.avg_cost.round_dp(4)),
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
        "currency": s.instrument_currency(conid), "secType": ins.asset_class, "assetClass": ins.asset_class,
        "unrealizedPnl": num((h.quantity * (price - h.avg_cost)).round_dp(2)),
        "realizedPnl": num(h.realized_pnl.round_dp(2)), "sector": null, "group": null, "model": "",
        "timestamp": now.timestamp(), "isLastToLoq": false
    })
}

/// Per currency plus `BASE`, settled cash lagging after sales (see `sim/money.rs`).
fn ledger_json(s: &SimState, now: DateTime<Utc>) -> Value {
    s.ledger_json(now)
}

fn summary_json(s: &SimState, now: DateTime<Utc>) -> Value {
    let ts = now.timestamp_millis();
    let amt = |a: Decimal| {
        json!({"amount": num(a.round_dp(2)), "currency": s.currency, "isNull": false,
               "timestamp": ts, "value": null, "severity": 0})
    };
    let txt = |v: &str| json!({"amount": 0.0, "currency": null, "isNull": false, "timestamp": ts, "value": v, "severity": 0});
    let nlv = s.net_liquidation();
    let gross = s.gross_position_value();
    // Cash accounts may spend settled cash only; margin accounts follow Reg T (`sim/margin.rs`).
    let (ewl, init, maint, avail, excess) = if s.books.cash_account {
        let settled = s.settled_cash_base(now);
        (nlv, Decimal::ZERO, Decimal::ZERO, settled, settled)
    } else {
        let f = s.margin_figures();
        (
            f.equity_with_loan,
            f.initial,
            f.maintenance,
            f.available_funds,
            f.excess_liquidity,
        )
    };
    let mut m = serde_json::Map::new();
    m.insert("accountcode".into(), txt(&s.account_id));
    m.insert(
        "accounttype".into(),
        txt(if is_paper(s) { "DEMO" } else { "INDIVIDUAL" }),
    );
    m.insert("accountready".into(), txt("true"));
    for (k, v) in [
        ("netliquidation", nlv),
        ("totalcashvalue", s.total_cash_base()),
        ("availablefunds", avail),
        ("buyingpower", avail),
        ("excessliquidity", excess),
        ("equitywithloanvalue", ewl),
        ("grosspositionvalue", gross),
        ("initmarginreq", init),
        ("maintmarginreq", maint),
        ("accruedcash", Decimal::ZERO),
    ] {
        m.insert(k.into(), amt(v));
        m.insert(format!("{k}-s"), amt(v));
        m.insert(format!("{k}-c"), amt(Decimal::ZERO));
    }
    Value::Object(m)
}
