//! Orders and market data over real TLS: ordering rules, the snapshot pre-flight, prompts and
//! the reply loop, suppression, duplicate cOIDs, what-if, live-orders quirks, fills, cancel,
//! trades, faults around order placement, and pacing (429 + penalty box).
mod common;

use std::time::Duration;

use common::http::Api;
use pbal::sim::{FaultAction, FaultRule, FillMode, OrderStatus, RateLimits, SimConfig, Simulator};
use rust_decimal_macros::dec;
use serde_json::{Value, json};

const ACCT: &str = "DU1234567";
const VAW: i64 = 999_000_102;

fn mkt(coid: &str, conid: i64, side: &str, qty: i64) -> Value {
    json!({"acctId": ACCT, "conid": conid, "secType": format!("{conid}:STK"), "cOID": coid,
           "orderType": "MKT", "side": side, "quantity": qty, "tif": "DAY"})
}

async fn started(cfg: SimConfig) -> (pbal::sim::SimHandle, Api) {
    let h = Simulator::start(cfg).await.unwrap();
    let api = Api::new(&h);
    (h, api)
}

#[tokio::test]
async fn ordering_rules_accounts_first() {
    let (_h, api) = started(SimConfig::relaxed()).await;
    let (s, e) = api.place(ACCT, mkt("o1", VAW, "BUY", 1)).await;
    assert_eq!(
        (s, e),
        (500, json!({"error": "Please query /accounts first"}))
    );
    assert_eq!(
        api.get("/iserver/account/orders?accountId=DU1234567")
            .await
            .0,
        500
    );
    assert_eq!(
        api.get("/iserver/marketdata/snapshot?conids=999000102")
            .await
            .0,
        500
    );
    let (s, e) = api.get(&format!("/portfolio/{ACCT}/positions/0")).await;
    assert_eq!(s, 500, "{e}");
    api.prime().await;
    assert_eq!(
        api.get(&format!("/portfolio/{ACCT}/positions/0")).await.0,
        200
    );
    assert_eq!(api.place(ACCT, mkt("o1", VAW, "BUY", 1)).await.0, 200);
}

#[tokio::test]
async fn snapshot_preflight_then_string_values() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    let q = "/iserver/marketdata/snapshot?conids=999000101,999000102&fields=31,84,86,55,7296";
    let (_, first) = api.get(q).await;
    assert_eq!(
        first,
        json!([{"conid": 999000101, "conidEx": "999000101"}, {"conid": 999000102, "conidEx": "999000102"}])
    );
    let (_, second) = api.get(q).await;
    assert_eq!(second[1]["31"], "180.51");
    assert_eq!(second[1]["84"], "180.50");
    assert_eq!(second[1]["55"], "VAW");
    h.set_price("VAW", dec!(181.005)).unwrap();
    let (_, third) = api.get(q).await;
    assert_eq!(third[1]["31"], "181.00", "values are formatted strings");
    // Market closed: last price is shown as the previous close with the C prefix.
    h.set_market_open(Some(false));
    assert_eq!(api.get(q).await.1[1]["31"], "C181.00");
}

#[tokio::test]
async fn prompts_reply_loop_and_suppression() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    // Limit 10 % above market → o163; value above 25,000 → o451: two chained questions.
    let order = json!({"acctId": ACCT, "conid": 999000101, "cOID": "big-1", "orderType": "LMT",
                       "price": 141.5, "side": "BUY", "quantity": 5, "tif": "DAY"});
    h.update_behaviour(|b| {
        b.prompts[1].condition = pbal::sim::PromptCondition::ValueAbove { limit: dec!(500) }
    });
    let (s, r1) = api.place(ACCT, order.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(r1[0]["messageIds"], json!(["o163"]));
    assert_eq!(r1[0]["isSuppressed"], false);
    assert!(
        h.order_by_coid("big-1").is_none(),
        "not placed before confirmation"
    );
    let id1 = r1[0]["id"].as_str().unwrap().to_string();
    let (_, r2) = api
        .post(&format!("/iserver/reply/{id1}"), json!({"confirmed": true}))
        .await;
    assert_eq!(r2[0]["messageIds"], json!(["o451"]));
    assert!(
        r2[0]["message"][0]
            .as_str()
            .unwrap()
            .contains("Total Value Limit")
    );
    // A used reply id is gone.
    let (_, stale) = api
        .post(&format!("/iserver/reply/{id1}"), json!({"confirmed": true}))
        .await;
    assert_eq!(stale["error"], format!("reply id not found: '{id1}'"));
    let id2 = r2[0]["id"].as_str().unwrap();
    let (_, ok) = api
        .post(&format!("/iserver/reply/{id2}"), json!({"confirmed": true}))
        .await;
    assert!(ok[0]["order_id"].as_str().is_some(), "{ok}");
    assert!(h.order_by_coid("big-1").is_some());

    // Declining discards the order.
    let mut o2 = order.clone();
    o2["cOID"] = json!("big-2");
    let (_, r) = api.place(ACCT, o2.clone()).await;
    let (_, no) = api
        .post(
            &format!("/iserver/reply/{}", r[0]["id"].as_str().unwrap()),
            json!({"confirmed": false}),
        )
        .await;
    assert!(
        no["error"]
            .as_str()
            .unwrap()
            .starts_with("Order not confirmed")
    );
    assert!(h.order_by_coid("big-2").is_none());

    // Suppressed ids are not asked; suppression ends with the brokerage session.
    let (_, sup) = api
        .post(
            "/iserver/questions/suppress",
            json!({"messageIds": ["o163", "o451"]}),
        )
        .await;
    assert_eq!(sup, json!({"status": "submitted"}));
    let (_, placed) = api.place(ACCT, o2.clone()).await;
    assert!(placed[0]["order_id"].is_string(), "{placed}");
    h.set_session(pbal::sim::SessionAction::NightlyReset);
    api.post(
        "/iserver/auth/ssodh/init",
        json!({"publish": true, "compete": true}),
    )
    .await;
    api.prime().await;
    let mut o3 = order.clone();
    o3["cOID"] = json!("big-3");
    assert_eq!(
        api.place(ACCT, o3).await.1[0]["messageIds"],
        json!(["o163"])
    );
}

#[tokio::test]
async fn duplicate_coid_is_refused_with_the_real_text() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    let (s, ok) = api.place(ACCT, mkt("rb-dup-1", VAW, "BUY", 2)).await;
    assert_eq!(s, 200);
    assert!(ok[0]["order_id"].is_string());
    let (s, dup) = api.place(ACCT, mkt("rb-dup-1", VAW, "BUY", 2)).await;
    assert_eq!(s, 400);
    assert_eq!(
        dup,
        json!({"error": "Order couldn't be submitted: Local order ID=rb-dup-1 is already registered."})
    );
    let rec = h.coid_record("rb-dup-1").unwrap();
    assert_eq!((rec.posts, rec.duplicate_rejections), (2, 1));
    assert_eq!(h.orders().len(), 1, "exactly one order exists");
    // The cOID is unique for 24 h only.
    h.advance(Duration::from_secs(25 * 3600));
    h.set_session(pbal::sim::SessionAction::Authenticate);
    api.prime().await;
    assert_eq!(api.place(ACCT, mkt("rb-dup-1", VAW, "BUY", 1)).await.0, 200);
}

#[tokio::test]
async fn fills_move_positions_and_cash_positions_cached_until_invalidate() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    let path = format!("/portfolio/{ACCT}/positions/0");
    let (_, before) = api.get(&path).await;
    let vaw = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|p| p["ticker"] == "VAW")
            .cloned()
            .unwrap()
    };
    assert_eq!(vaw(&before)["position"], json!(55));
    assert_eq!(before.as_array().unwrap().len(), 10);
    let (_, ledger0) = api.get(&format!("/portfolio/{ACCT}/ledger")).await;
    assert_eq!(ledger0["USD"]["cashbalance"], json!(5000));
    api.place(ACCT, mkt("fill-1", VAW, "BUY", 5)).await;
    let o = h.order_by_coid("fill-1").unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    // Cached: still 55 until invalidated.
    assert_eq!(vaw(&api.get(&path).await.1)["position"], json!(55));
    assert_eq!(
        api.post(
            &format!("/portfolio/{ACCT}/positions/invalidate"),
            json!({})
        )
        .await
        .1,
        json!({"message": "success"})
    );
    assert_eq!(vaw(&api.get(&path).await.1)["position"], json!(60));
    // 5 × 180.51 + 1.00 commission.
    let (_, ledger) = api.get(&format!("/portfolio/{ACCT}/ledger")).await;
    assert_eq!(ledger["USD"]["cashbalance"], json!(4096.45));
    assert_eq!(h.cash(), dec!(4096.45));
    let (_, trades) = api.get("/iserver/account/trades?days=1").await;
    assert_eq!(trades[0]["order_ref"], "fill-1");
    assert_eq!(trades[0]["side"], "B");
    assert_eq!(trades[0]["price"], "180.51");
    assert_eq!(trades[0]["commission"], "1.00");
    // Page 1 is empty (10 positions < 100 per page).
    assert_eq!(
        api.get(&format!("/portfolio/{ACCT}/positions/1")).await.1,
        json!([])
    );
}

#[tokio::test]
async fn live_orders_quirks_and_filters() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    h.set_fill_mode(FillMode::Never);
    api.place(ACCT, mkt("lo-1", VAW, "BUY", 1)).await;
    let q = "/iserver/account/orders?accountId=DU1234567";
    assert_eq!(
        api.get(q).await.1["orders"],
        json!([]),
        "first call after auth is empty"
    );
    let (_, l) = api.get(q).await;
    assert_eq!(l["orders"][0]["order_ref"], "lo-1");
    assert_eq!(l["orders"][0]["status"], "Submitted");
    assert_eq!(l["orders"][0]["side"], "BUY");
    assert_eq!(
        api.get("/iserver/account/orders").await.1["orders"],
        json!([]),
        "no accountId → false-empty"
    );
    assert_eq!(
        api.get(&format!("{q}&force=true")).await.1["orders"],
        json!([]),
        "force=true is empty by design"
    );
    assert_eq!(
        api.get(&format!("{q}&filters=filled")).await.1["orders"],
        json!([])
    );
    assert_eq!(
        api.get(&format!("{q}&filters=submitted")).await.1["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Status endpoint uses B/S and string sizes.
    let id = h.order_by_coid("lo-1").unwrap().order_id;
    let (_, st) = api
        .get(&format!("/iserver/account/order/status/{id}"))
        .await;
    assert_eq!(
        (st["side"].clone(), st["order_status"].clone()),
        (json!("B"), json!("Submitted"))
    );
    // Cancel, then it is Cancelled.
    let (_, c) = api
        .delete(&format!("/iserver/account/{ACCT}/order/{id}"))
        .await;
    assert_eq!(c["msg"], "Request was submitted");
    assert_eq!(api.get(q).await.1["orders"][0]["status"], "Cancelled");
    let (_, unknown) = api
        .delete(&format!("/iserver/account/{ACCT}/order/42"))
        .await;
    assert_eq!(unknown["error"], "OrderID 42 doesn't exist");
    // After re-authentication, the old session's orders are gone from live orders and status.
    h.set_session(pbal::sim::SessionAction::Authenticate);
    api.prime().await;
    api.get(q).await;
    assert_eq!(api.get(q).await.1["orders"], json!([]));
    assert_eq!(
        api.get(&format!("/iserver/account/order/status/{id}"))
            .await
            .0,
        503
    );
}

#[tokio::test]
async fn fill_modes_partial_delayed_and_limit() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    h.set_fill_mode(FillMode::Partial {
        fraction: dec!(0.5),
    });
    api.place(ACCT, mkt("p-1", VAW, "BUY", 5)).await;
    let o = h.order_by_coid("p-1").unwrap();
    assert_eq!((o.filled, o.status), (dec!(2), OrderStatus::Submitted));
    h.fill_all();
    assert_eq!(h.order_by_coid("p-1").unwrap().status, OrderStatus::Filled);

    h.set_fill_mode(FillMode::Delayed { ms: 10_000 });
    api.place(ACCT, mkt("d-1", VAW, "BUY", 1)).await;
    assert_eq!(
        h.order_by_coid("d-1").unwrap().status,
        OrderStatus::Submitted
    );
    h.advance(Duration::from_secs(11));
    assert_eq!(h.order_by_coid("d-1").unwrap().status, OrderStatus::Filled);

    h.set_fill_mode(FillMode::Immediate);
    let lmt = json!({"acctId": ACCT, "conid": VAW, "cOID": "l-1", "orderType": "LMT", "price": 180.0,
                     "side": "BUY", "quantity": 1, "tif": "DAY"});
    api.place(ACCT, lmt).await;
    assert_eq!(
        h.order_by_coid("l-1").unwrap().status,
        OrderStatus::Submitted
    );
    h.set_price("VAW", dec!(179.90)).unwrap();
    let o = h.order_by_coid("l-1").unwrap();
    assert_eq!(
        (o.status, o.avg_price),
        (OrderStatus::Filled, Some(dec!(179.90)))
    );
}

#[tokio::test]
async fn cash_quantity_market_closed_and_cash_account_checks() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    api.post(
        "/iserver/questions/suppress",
        json!({"messageIds": ["o10164"]}),
    )
    .await;
    let cash_order = json!({"acctId": ACCT, "conid": 999000110, "cOID": "cq-1", "orderType": "MKT",
                            "side": "BUY", "cashQty": 947.30, "tif": "DAY"});
    let (_, r) = api.place(ACCT, cash_order).await;
    assert!(r[0]["order_id"].is_string(), "{r}");
    let o = h.order_by_coid("cq-1").unwrap();
    assert_eq!(
        (o.status, o.filled),
        (OrderStatus::Filled, dec!(10)),
        "947.30 / 94.73 = 10 shares"
    );

    // Market closed: question first, then the order waits (PreSubmitted) until the open.
    h.set_market_open(Some(false));
    let (_, q) = api.place(ACCT, mkt("mc-1", VAW, "BUY", 1)).await;
    assert_eq!(q[0]["messageIds"], json!(["o10151"]));
    let (_, ok) = api
        .post(
            &format!("/iserver/reply/{}", q[0]["id"].as_str().unwrap()),
            json!({"confirmed": true}),
        )
        .await;
    assert_eq!(ok[0]["order_status"], "PreSubmitted");
    h.set_market_open(Some(true));
    assert_eq!(h.order_by_coid("mc-1").unwrap().status, OrderStatus::Filled);

    // A cash account cannot overspend or sell short.
    let (_, e) = api.place(ACCT, mkt("too-big", VAW, "BUY", 1000)).await;
    assert!(e["error"].as_str().unwrap().contains("NOT ACCEPTED"), "{e}");
    let (_, e) = api.place(ACCT, mkt("short", VAW, "SELL", 1000)).await;
    assert!(e["error"].as_str().unwrap().contains("SHORT"), "{e}");
    assert!(h.order_by_coid("too-big").is_none() && h.order_by_coid("short").is_none());
}

#[tokio::test]
async fn opt_in_prompts_no_market_data_and_market_order() {
    let mut cfg = SimConfig::relaxed();
    cfg.behaviour.prompts = vec![
        pbal::sim::PromptRule::no_market_data(),
        pbal::sim::PromptRule::market_order(),
    ];
    let (_h, api) = started(cfg).await;
    api.prime().await;
    let (_, q) = api.place(ACCT, mkt("nmd-1", VAW, "BUY", 1)).await;
    assert_eq!(
        q[0]["messageIds"],
        json!(["o354"]),
        "no snapshot requested yet"
    );
    let (_, q2) = api
        .post(
            &format!("/iserver/reply/{}", q[0]["id"].as_str().unwrap()),
            json!({"confirmed": true}),
        )
        .await;
    assert_eq!(q2[0]["messageIds"], json!(["o10151"]));
    api.get("/iserver/marketdata/snapshot?conids=999000102")
        .await;
    let (_, q3) = api.place(ACCT, mkt("nmd-2", VAW, "BUY", 1)).await;
    assert_eq!(
        q3[0]["messageIds"],
        json!(["o10151"]),
        "after a snapshot only the market-order question remains"
    );
}

#[tokio::test]
async fn contract_rules_match_what_the_simulator_accepts() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    let (_, r) = api
        .post(
            "/iserver/contract/rules",
            json!({"conid": 999000110, "isBuy": true}),
        )
        .await;
    assert_eq!(r["orderTypes"], json!(["market"]), "VSMAX is a fund");
    assert_eq!(r["cqtTypes"], json!(["market"]));
    assert_eq!(r["fraqInt"], 4);
    let (_, ir) = api
        .get("/iserver/contract/999000102/info-and-rules?isBuy=true")
        .await;
    assert_eq!(ir["symbol"], "VAW");
    assert!(
        ir["rules"]["orderTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("limit"))
    );
    // A limit order on the fund is refused, as its rules say.
    let lmt = json!({"acctId": ACCT, "conid": 999000110, "cOID": "f-1", "orderType": "LMT", "price": 90.0,
                     "side": "BUY", "quantity": 1, "tif": "DAY"});
    let (_, e) = api.place(ACCT, lmt).await;
    assert!(e["error"].as_str().unwrap().contains("mutual funds"), "{e}");
    assert!(h.order_by_coid("f-1").is_none());
}

#[tokio::test]
async fn portal_prefix_is_an_alias() {
    let (h, api) = started(SimConfig::relaxed()).await;
    let r = api
        .client
        .get(format!("{}/v1/portal/sso/validate", h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api
        .client
        .post(format!(
            "{}/v1/portal/iserver/reauthenticate?force=true",
            h.base_url()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "triggered"})
    );
}

#[tokio::test]
async fn whatif_places_nothing() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    let (s, w) = api
        .post(
            &format!("/iserver/account/{ACCT}/orders/whatif"),
            json!({"orders": [mkt("wi-1", VAW, "BUY", 10)]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(w["amount"]["amount"], "1,805.10 USD (10 Shares)");
    assert_eq!(
        w["position"],
        json!({"current": "55", "change": "10", "after": "65"})
    );
    assert!(h.orders().is_empty());
    // What-if does not register the cOID: the real order with it goes through.
    assert_eq!(api.place(ACCT, mkt("wi-1", VAW, "BUY", 10)).await.0, 200);
}

#[tokio::test]
async fn order_placed_but_answer_lost_is_visible_by_coid() {
    let (h, api) = started(SimConfig::relaxed()).await;
    api.prime().await;
    h.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::DropAfterApply,
        skip: 0,
        times: Some(1),
    });
    let r = api
        .client
        .post(format!(
            "{}/v1/api/iserver/account/{ACCT}/orders",
            h.base_url()
        ))
        .json(&json!({"orders": [mkt("lost-1", VAW, "BUY", 1)]}))
        .send()
        .await;
    assert!(r.is_err(), "the connection must drop without an answer");
    // The order exists; resubmitting the same cOID proves it.
    assert_eq!(h.coid_record("lost-1").unwrap().posts, 1);
    assert!(h.order_by_coid("lost-1").is_some());
    let (s, dup) = api.place(ACCT, mkt("lost-1", VAW, "BUY", 1)).await;
    assert_eq!(s, 400);
    assert!(
        dup["error"]
            .as_str()
            .unwrap()
            .contains("already registered")
    );

    // Dropped before processing: nothing was placed, the same cOID then goes through.
    h.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::Drop,
        skip: 0,
        times: Some(1),
    });
    let r = api
        .client
        .post(format!(
            "{}/v1/api/iserver/account/{ACCT}/orders",
            h.base_url()
        ))
        .json(&json!({"orders": [mkt("dropped-1", VAW, "BUY", 1)]}))
        .send()
        .await;
    assert!(r.is_err());
    assert!(h.order_by_coid("dropped-1").is_none());
    assert_eq!(
        api.place(ACCT, mkt("dropped-1", VAW, "BUY", 1)).await.0,
        200
    );

    h.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::StatusAfterApply { status: 503 },
        skip: 0,
        times: Some(1),
    });
    let (s, _) = api.place(ACCT, mkt("slow-1", VAW, "BUY", 1)).await;
    assert_eq!(s, 503);
    assert!(
        h.order_by_coid("slow-1").is_some(),
        "503 after apply: the order exists anyway"
    );

    h.add_fault(FaultRule {
        method: Some("POST".into()),
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::Status {
            status: 500,
            body: Some(json!({"error": "Internal Server Error"})),
        },
        skip: 0,
        times: Some(1),
    });
    assert_eq!(api.place(ACCT, mkt("err-1", VAW, "BUY", 1)).await.0, 500);
    assert!(h.order_by_coid("err-1").is_none());
    h.add_fault(FaultRule {
        method: None,
        path: "/iserver/account/*/orders".into(),
        action: FaultAction::RejectOrder {
            message: "No trading permissions.".into(),
        },
        skip: 0,
        times: Some(1),
    });
    assert_eq!(
        api.place(ACCT, mkt("rej-1", VAW, "BUY", 1)).await.1,
        json!({"error": "No trading permissions."})
    );
    assert_eq!(
        api.place(ACCT, mkt("rej-1", VAW, "BUY", 1)).await.0,
        200,
        "fault retired after one use"
    );
}

#[tokio::test]
async fn pacing_429_and_penalty_box() {
    let (h, api) = started(SimConfig::default()).await; // real limits
    api.prime().await;
    // /iserver/account/orders: 1 per 5 s.
    assert_eq!(
        api.get("/iserver/account/orders?accountId=DU1234567")
            .await
            .0,
        200
    );
    assert_eq!(
        api.get("/iserver/account/orders?accountId=DU1234567")
            .await
            .0,
        429
    );
    // Penalty box: everything refused, even unrelated endpoints, for 10 minutes.
    assert_eq!(api.post("/iserver/auth/status", json!({})).await.0, 429);
    h.advance(Duration::from_secs(9 * 60));
    assert_eq!(api.post("/iserver/auth/status", json!({})).await.0, 429);
    h.advance(Duration::from_secs(61));
    // (The session idled out meanwhile: the point is that the gateway answers again.)
    assert_ne!(api.post("/iserver/auth/status", json!({})).await.0, 429);
    assert!(h.rate_limited() >= 3);
    // Global 10 req/s.
    h.set_rate_limits(RateLimits {
        penalty_ms: 0,
        ..RateLimits::real()
    });
    h.set_session(pbal::sim::SessionAction::Authenticate);
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(api.post("/iserver/auth/status", json!({})).await.0);
    }
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 2, "{codes:?}");
    // Relaxed: no limit at all.
    h.set_rate_limits(RateLimits::disabled());
    for _ in 0..30 {
        assert_eq!(api.post("/iserver/auth/status", json!({})).await.0, 200);
    }
}
