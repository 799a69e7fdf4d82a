//! The `/sim/...` admin API over HTTP (what tests driving the real binary in another process
//! use): faults, session actions, the clock, fill modes, market state, behaviour, pacing and
//! inspection of orders by cOID.
mod common;

use common::http::Api;
use pbal::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const ACCT: &str = "DU1234567";

struct Admin<'a>(&'a Api);

impl Admin<'_> {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .0
            .client
            .post(format!("{}/sim{path}", self.0.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .0
            .client
            .get(format!("{}/sim{path}", self.0.base))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn admin_api_controls_and_inspects_the_simulator() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let admin = Admin(&api);

    // CA download matches the handle's PEM.
    let pem = api
        .client
        .get(format!("{}/sim/ca.pem", h.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, h.ca_pem());

    // Faults.
    let (s, _) = admin
        .post(
            "/faults",
            json!({"path": "/tickle", "kind": "status", "status": 500, "times": 1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(admin.get("/faults").await.1.as_array().unwrap().len(), 1);
    assert_eq!(api.post("/tickle", json!({})).await.0, 500);
    assert_eq!(api.post("/tickle", json!({})).await.0, 200);
    let bad = admin
        .post("/faults", json!({"path": "/tickle", "kind": "explode"}))
        .await
        .0;
    assert!(bad >= 400, "unknown fault kind must be refused, got {bad}");

    // Session actions and the clock.
    admin.post("/session", json!({"action": "competing"})).await;
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.1["competing"],
        true
    );
    admin
        .post("/session", json!({"action": "authenticate"}))
        .await;
    admin.post("/advance", json!({"seconds": 400})).await;
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.0,
        401,
        "idle expiry after 400 s"
    );
    let (_, st) = admin
        .post(
            "/session",
            json!({"action": "log_in", "tickle_no_session": 1}),
        )
        .await;
    assert_eq!(st["session"]["sso"], true);
    assert_eq!(
        api.post("/tickle", json!({})).await.1,
        json!({"error": "no session"})
    );
    admin
        .post("/session", json!({"action": "authenticate"}))
        .await;
    api.prime().await;

    // Fill modes and orders by cOID.
    admin.post("/fill-mode", json!({"mode": "never"})).await;
    let order = json!({"acctId": ACCT, "conid": 999000102, "cOID": "adm-1", "orderType": "MKT", "side": "BUY", "quantity": 1, "tif": "DAY"});
    api.place(ACCT, order.clone()).await;
    api.place(ACCT, order).await;
    let (s, rec) = admin.get("/orders/adm-1").await;
    assert_eq!(s, 200);
    assert_eq!(rec["record"]["posts"], 2);
    assert_eq!(rec["record"]["duplicate_rejections"], 1);
    assert_eq!(rec["order"]["status"], "Submitted");
    admin.post("/fill-all", json!({})).await;
    assert_eq!(
        admin.get("/orders/adm-1").await.1["order"]["status"],
        "Filled"
    );
    assert_eq!(
        admin.get("/executions").await.1.as_array().unwrap().len(),
        1
    );
    assert_eq!(
        admin.get("/orders").await.1["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Market state.
    assert_eq!(
        admin.post("/market", json!({"open": false})).await.1["market_open"],
        false
    );
    assert_eq!(admin.get("/state").await.1["market_open"], false);
    admin.post("/market", json!({"open": null})).await;
    assert_eq!(
        admin.get("/state").await.1["market_open"],
        true,
        "no market hours configured → always open"
    );

    // Behaviour patch: known keys only.
    let (s, b) = admin
        .post("/behaviour", json!({"preflight_empty_calls": 2}))
        .await;
    assert_eq!((s, b["preflight_empty_calls"].clone()), (200, json!(2)));
    assert_eq!(
        admin.post("/behaviour", json!({"no_such_knob": 1})).await.0,
        400
    );
    assert_eq!(h.behaviour().preflight_empty_calls, 2);

    // Pacing back on (real limits): the second live-orders call within 5 s is refused.
    admin.post("/rate-limits", json!({"enabled": true})).await;
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
    // Admin calls are never paced.
    assert_eq!(admin.get("/state").await.0, 200);
    let (_, reqs) = admin.get("/requests").await;
    assert!(
        reqs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == 429 && r["path"] == "/iserver/account/orders")
    );
}
