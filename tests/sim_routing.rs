//! The simulator's routing contract, pinned before `sim/api.rs` was split into per-group axum
//! routers: what an unknown path, a wrong method or a malformed body gets, and what the request
//! log records for each. Clients (and the fault rules, which match on the logged path) rely on
//! these answers, so a routing refactor must not change them.
mod common;

use common::http::Api;
use pbal::sim::{SimConfig, Simulator};
use serde_json::json;

/// The last logged request as (method, path, status).
fn last_logged(h: &pbal::sim::SimHandle) -> (String, String, u16) {
    let r = h.requests();
    let last = r.last().expect("a logged request");
    (last.method.clone(), last.path.clone(), last.status)
}

#[tokio::test]
async fn unknown_api_path_is_a_logged_json_404() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let (status, body) = api.get("/iserver/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "Not Found"}));
    assert_eq!(last_logged(&h), ("GET".into(), "/iserver/nope".into(), 404));
    // The bare prefix is an API path too.
    let (status, body) = api.get("").await;
    assert_eq!((status, body), (404, json!({"error": "Not Found"})));
    h.shutdown().await;
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_a_json_404_not_405() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let (status, body) = api.delete("/tickle").await;
    assert_eq!((status, body), (404, json!({"error": "Not Found"})));
    assert_eq!(last_logged(&h), ("DELETE".into(), "/tickle".into(), 404));
    let (status, body) = api.post("/iserver/accounts", json!({})).await;
    assert_eq!((status, body), (404, json!({"error": "Not Found"})));
    h.shutdown().await;
}

#[tokio::test]
async fn head_is_not_routed_to_get_handlers() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let r = api
        .client
        .head(format!("{}/v1/api/sso/validate", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        last_logged(&h),
        ("HEAD".into(), "/sso/validate".into(), 404)
    );
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_json_on_an_iserver_post_is_400_before_anything_else() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let send = |path: &str| {
        api.client
            .post(format!("{}/v1/api{path}", api.base))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
    };
    // Before priming (the orders route would otherwise answer "Please query /accounts first").
    let r = send("/iserver/account/DU1234567/orders").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"error": "Bad Request: invalid JSON body"}));
    // Even on an unknown iserver path.
    let r = send("/iserver/nope").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        last_logged(&h),
        ("POST".into(), "/iserver/nope".into(), 400)
    );
    // Outside /iserver a malformed body is ignored.
    let r = send("/tickle").await.unwrap();
    assert_eq!(r.status(), 200);
    h.shutdown().await;
}

#[tokio::test]
async fn trailing_slash_reaches_the_same_endpoint() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let (status, body) = api.get("/sso/validate/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["RESULT"], true);
    h.shutdown().await;
}

#[tokio::test]
async fn non_numeric_positions_page_is_a_400_even_when_it_reads_invalidate() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    api.prime().await;
    let acct = h.account_id();
    let (status, body) = api
        .get(&format!("/portfolio/{acct}/positions/invalidate"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Bad Request: pageId must be a number");
    let (status, _) = api
        .post(&format!("/portfolio/{acct}/positions/0"), json!({}))
        .await;
    assert_eq!(status, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn paths_outside_the_api_are_plain_404s_and_not_logged() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let before = h.requests().len();
    let r = api
        .client
        .get(format!("{}/nope", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "Not Found");
    assert_eq!(h.requests().len(), before);
    h.shutdown().await;
}

#[tokio::test]
async fn every_api_request_counts_as_activity_even_a_404() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let before = h.session().last_activity;
    h.advance(std::time::Duration::from_secs(30));
    let _ = api.get("/nope").await;
    assert!(h.session().last_activity > before);
    h.shutdown().await;
}
