//! The gateway client against wiremock: every endpoint and the session state machine, asserting
//! the requests the client really sent (method, path, query, body).
//!
//! wiremock serves plain HTTP only, which the client accepts for loopback hosts (see
//! `GatewayClient::new`); TLS is covered by `tests/ibkr_sim.rs`.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::client::fast_options;
use futures::future::BoxFuture;
use pbal::ibkr::{
    ClientOptions, ContractQuery, GatewayClient, GatewayError, Login, LoginOutcome, OrderSize,
    OrderTicket, OrderType, PlaceOutcome, PromptPolicy, SNAPSHOT_FIELDS, SessionState, Side,
};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const API: &str = "/v1/api";

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/ibkr/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn gateway_settings(url: &str) -> ClientOptions {
    ClientOptions {
        max_requests_per_sec: 10,
        ..fast_options(url, std::path::Path::new(""))
    }
}

/// `g` with the state in `dir` and this suite's even shorter waits (the mock answers at once).
fn options(g: &ClientOptions, dir: &std::path::Path) -> ClientOptions {
    ClientOptions {
        state_dir: dir.to_path_buf(),
        suppress: vec!["o163".into(), "o10151".into()],
        snapshot_max_wait: Duration::from_millis(300),
        snapshot_retry_every: Duration::from_millis(20),
        auth_poll_attempts: 3,
        auth_poll_every: Duration::from_millis(5),
        read_retries: 2,
        retry_backoff: Duration::from_millis(5),
        ..g.clone()
    }
}

struct Harness {
    server: MockServer,
    client: GatewayClient,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = GatewayClient::new(options(&gateway_settings(&server.uri()), dir.path())).unwrap();
    Harness {
        server,
        client,
        _dir: dir,
    }
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

async fn mount(server: &MockServer, m: &str, p: &str, resp: ResponseTemplate) {
    Mock::given(method(m))
        .and(path(format!("{API}{p}")))
        .respond_with(resp)
        .mount(server)
        .await;
}

/// Mocks a healthy, primed session.
async fn healthy_session(server: &MockServer) {
    mount(
        server,
        "POST",
        "/iserver/auth/status",
        ok(fixture("auth_status.json")),
    )
    .await;
    mount(
        server,
        "GET",
        "/iserver/accounts",
        ok(fixture("iserver_accounts.json")),
    )
    .await;
    mount(
        server,
        "GET",
        "/portfolio/accounts",
        ok(fixture("portfolio_accounts.json")),
    )
    .await;
    mount(
        server,
        "POST",
        "/iserver/questions/suppress",
        ok(json!({"status": "submitted"})),
    )
    .await;
    mount(server, "POST", "/tickle", ok(fixture("tickle.json"))).await;
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// `METHOD /path` of every request after `/v1/api`, in order.
async fn calls(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.url.path().strip_prefix(API).unwrap_or(r.url.path())
            )
        })
        .collect()
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

async fn find(server: &MockServer, m: &str, p: &str) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == format!("{API}{p}"))
        .collect()
}

#[derive(Default)]
struct CountingLogin(AtomicU32);

impl Login for CountingLogin {
    fn login<'a>(
        &'a self,
        _client: &'a GatewayClient,
    ) -> BoxFuture<'a, Result<LoginOutcome, GatewayError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(LoginOutcome::WaitingForHuman) })
    }
}

fn ticket() -> OrderTicket {
    OrderTicket {
        account_id: "U7654321".into(),
        conid: 756733,
        sec_type: Some("STK".into()),
        coid: "rb240611-U7654321-756733-B-01".into(),
        side: Side::Buy,
        order_type: OrderType::Limit {
            price: dec!(534.10),
        },
        size: OrderSize::Quantity(dec!(12)),
        tif: "DAY".into(),
        outside_rth: false,
        listing_exchange: None,
    }
}

// ---------------------------------------------------------------- session state machine

#[tokio::test]
async fn recovers_from_sso_only_through_ssodh_init_and_primes() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/iserver/auth/status")))
        .respond_with(ok(fixture("auth_status_unauthenticated.json")))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/iserver/auth/ssodh/init")))
        .and(body_json(json!({"publish": true, "compete": true})))
        .respond_with(ok(fixture("auth_status_unauthenticated.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    healthy_session(&h.server).await;

    let status = h.client.ensure_ready().await.unwrap();
    assert_eq!(status.state, SessionState::Ready);
    assert_eq!(status.accounts, vec!["U7654321"]);
    assert_eq!(
        calls(&h.server).await,
        vec![
            "POST /iserver/auth/status",
            "POST /iserver/auth/ssodh/init",
            "POST /iserver/auth/status",
            "GET /iserver/accounts",
            "GET /portfolio/accounts",
            "POST /iserver/questions/suppress",
        ]
    );
    let suppress = find(&h.server, "POST", "/iserver/questions/suppress").await;
    assert_eq!(
        body(&suppress[0]),
        json!({"messageIds": ["o163", "o10151"]})
    );
    // Every POST carries a JSON body (the gateway's front answers 411 otherwise).
    let status_req = &find(&h.server, "POST", "/iserver/auth/status").await[0];
    assert_eq!(body(status_req), json!({}));
    assert_eq!(
        status_req.headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn compete_flag_comes_from_config() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut g = gateway_settings(&server.uri());
    g.compete = false;
    let client = GatewayClient::new(options(&g, dir.path())).unwrap();
    mount(
        &server,
        "POST",
        "/iserver/auth/status",
        ok(fixture("auth_status_unauthenticated.json")),
    )
    .await;
    mount(
        &server,
        "POST",
        "/iserver/auth/ssodh/init",
        ok(fixture("auth_status_unauthenticated.json")),
    )
    .await;
    mount(
        &server,
        "POST",
        "/iserver/reauthenticate",
        ok(json!({"message": "triggered"})),
    )
    .await;
    let e = client.ensure_ready().await.unwrap_err();
    assert!(matches!(e, GatewayError::NoBrokerage { .. }), "{e}");
    assert_eq!(client.status().state, SessionState::SsoOnly);
    let init = find(&server, "POST", "/iserver/auth/ssodh/init").await;
    assert_eq!(body(&init[0]), json!({"publish": true, "compete": false}));
    // Polled auth status the configured number of times after init, then reauthenticated
    // and polled again, then gave up (a human's session: never logged out).
    assert_eq!(
        find(&server, "POST", "/iserver/reauthenticate").await.len(),
        1
    );
    assert_eq!(
        find(&server, "POST", "/iserver/auth/status").await.len(),
        1 + 3 + 1 + 3
    );
    assert!(find(&server, "POST", "/logout").await.is_empty());
}

#[tokio::test]
async fn no_session_asks_the_login_seam_and_reports_where_to_log_in() {
    let h = harness().await;
    mount(
        &h.server,
        "POST",
        "/iserver/auth/status",
        ResponseTemplate::new(401),
    )
    .await;
    let login = CountingLogin::default();
    let e = h.client.recover(&login).await.unwrap_err();
    assert!(e.is_session_lost(), "{e}");
    assert!(e.to_string().contains(&h.server.uri()), "{e}");
    assert_eq!(login.0.load(Ordering::SeqCst), 1);
    assert_eq!(h.client.status().state, SessionState::NoSession);
}

#[tokio::test]
async fn redirect_to_login_page_is_no_session() {
    let h = harness().await;
    mount(
        &h.server,
        "POST",
        "/iserver/auth/status",
        ResponseTemplate::new(302).insert_header("location", "/sso/Login?forwardTo=22"),
    )
    .await;
    let e = h.client.auth_status().await.unwrap_err();
    assert!(matches!(e, GatewayError::NoSession { .. }), "{e}");
}

#[tokio::test]
async fn tickle_no_session_drops_ready_and_keeper_step_recovers() {
    let h = harness().await;
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    h.server.reset().await;
    // The tickle says 200 {"error":"no session"}; auth status says 401.
    mount(
        &h.server,
        "POST",
        "/tickle",
        ok(json!({"error": "no session"})),
    )
    .await;
    mount(
        &h.server,
        "POST",
        "/iserver/auth/status",
        ResponseTemplate::new(401),
    )
    .await;
    let login = CountingLogin::default();
    let e = h.client.maintain(&login).await.unwrap_err();
    assert!(e.is_session_lost());
    assert_eq!(h.client.status().state, SessionState::NoSession);
    assert_eq!(login.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        calls(&h.server).await,
        vec!["POST /tickle", "POST /iserver/auth/status"]
    );
}

#[tokio::test]
async fn tickle_competing_drops_to_sso_only_and_reclaims() {
    let h = harness().await;
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    h.server.reset().await;
    let mut competing = fixture("tickle.json");
    competing["iserver"]["authStatus"]["competing"] = json!(true);
    mount(&h.server, "POST", "/tickle", ok(competing)).await;
    let rx = h.client.subscribe();
    Mock::given(method("POST"))
        .and(path(format!("{API}/iserver/auth/status")))
        .respond_with(ok(
            json!({"authenticated": true, "competing": true, "connected": true}),
        ))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    mount(
        &h.server,
        "POST",
        "/iserver/auth/ssodh/init",
        ok(fixture("auth_status.json")),
    )
    .await;
    healthy_session(&h.server).await;
    h.client.maintain(&CountingLogin::default()).await.unwrap();
    assert_eq!(h.client.status().state, SessionState::Ready);
    assert!(rx.has_changed().unwrap());
    let c = calls(&h.server).await;
    assert_eq!(c[0], "POST /tickle");
    assert!(
        c.contains(&"POST /iserver/auth/ssodh/init".to_owned()),
        "{c:?}"
    );
    // Re-primed after re-authentication.
    assert!(c.ends_with(&[
        "GET /iserver/accounts".to_owned(),
        "GET /portfolio/accounts".to_owned(),
        "POST /iserver/questions/suppress".to_owned()
    ]));
}

#[tokio::test]
async fn healthy_tickle_confirms_ready_without_other_calls() {
    let h = harness().await;
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    let before = h.client.status().confirmed_at.unwrap();
    h.server.reset().await;
    mount(&h.server, "POST", "/tickle", ok(fixture("tickle.json"))).await;
    h.client.maintain(&CountingLogin::default()).await.unwrap();
    assert!(h.client.status().confirmed_at.unwrap() >= before);
    assert_eq!(calls(&h.server).await, vec!["POST /tickle"]);
}

#[tokio::test]
async fn unreachable_gateway_is_down_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let client = GatewayClient::new(options(
        &gateway_settings(&format!("http://127.0.0.1:{port}")),
        dir.path(),
    ))
    .unwrap();
    let e = client.auth_status().await.unwrap_err();
    assert!(matches!(e, GatewayError::Unreachable { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("Is the Client Portal Gateway running")
    );
    assert_eq!(client.status().state, SessionState::Down);
}

#[tokio::test]
async fn not_primed_read_reprimes_once_and_retries() {
    let h = harness().await;
    healthy_session(&h.server).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/portfolio/U7654321/ledger")))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": "Please query /accounts first"})),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/ledger",
        ok(fixture("ledger.json")),
    )
    .await;
    let ledger = h.client.ledger("U7654321").await.unwrap();
    assert_eq!(ledger.cash("USD"), Some(dec!(8421.77)));
    assert_eq!(
        calls(&h.server).await,
        vec![
            "GET /portfolio/U7654321/ledger",
            "GET /iserver/accounts",
            "GET /portfolio/accounts",
            "POST /iserver/questions/suppress",
            "GET /portfolio/U7654321/ledger",
        ]
    );
}

#[tokio::test]
async fn transient_read_errors_are_retried_with_backoff_then_reported() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/summary",
        ResponseTemplate::new(503),
    )
    .await;
    let e = h.client.summary("U7654321").await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    // One try plus two retries.
    assert_eq!(
        find(&h.server, "GET", "/portfolio/U7654321/summary")
            .await
            .len(),
        3
    );
}

// ---------------------------------------------------------------- rate limiting

#[tokio::test]
async fn http_429_freezes_all_traffic() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/iserver/accounts",
        ResponseTemplate::new(429),
    )
    .await;
    healthy_session(&h.server).await;
    let e = h.client.iserver_accounts().await.unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert!(e.to_string().contains("600s"), "{e}");
    // Nothing else goes out, not even a tickle or an order.
    let e = h.client.tickle().await.unwrap_err();
    assert!(e.is_rate_limited());
    let e = h
        .client
        .place_order(&ticket(), &PromptPolicy::default())
        .await
        .unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert_eq!(calls(&h.server).await, vec!["GET /iserver/accounts"]);
    assert!(h.client.rate_limited_for().is_some());
}

// ---------------------------------------------------------------- accounts & portfolio

#[tokio::test]
async fn select_account_single_and_configured() {
    let h = harness().await;
    healthy_session(&h.server).await;
    assert_eq!(h.client.select_account("").await.unwrap(), "U7654321");
    assert_eq!(
        h.client.select_account("U7654321").await.unwrap(),
        "U7654321"
    );
    let e = h.client.select_account("DU999").await.unwrap_err();
    assert!(matches!(e, GatewayError::Account(_)), "{e}");
    assert!(e.to_string().contains("U7654321"), "{e}");
}

#[tokio::test]
async fn several_accounts_need_account_id() {
    let h = harness().await;
    let mut accts = fixture("iserver_accounts.json");
    accts["accounts"] = json!(["DU1", "DU2"]);
    mount(&h.server, "GET", "/iserver/accounts", ok(accts)).await;
    mount(
        &h.server,
        "GET",
        "/portfolio/accounts",
        ok(json!([{"id": "DU1"}, {"id": "DU2"}])),
    )
    .await;
    mount(
        &h.server,
        "POST",
        "/iserver/account",
        ok(json!({"set": true})),
    )
    .await;
    let e = h.client.select_account("").await.unwrap_err();
    assert!(e.to_string().contains("account.id"), "{e}");
    assert_eq!(h.client.select_account("DU2").await.unwrap(), "DU2");
    let switch = find(&h.server, "POST", "/iserver/account").await;
    assert_eq!(body(&switch[0]), json!({"acctId": "DU2"}));
}

#[tokio::test]
async fn positions_invalidate_then_read_every_page() {
    let h = harness().await;
    let page0 = fixture("positions_page0.json");
    let mut page = page0.as_array().unwrap().clone();
    for p in &mut page {
        p["pageSize"] = json!(2);
    }
    mount(
        &h.server,
        "POST",
        "/portfolio/U7654321/positions/invalidate",
        ok(json!({"message": "success"})),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/positions/0",
        ok(Value::Array(page[0..2].to_vec())),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/positions/1",
        ok(Value::Array(page[2..3].to_vec())),
    )
    .await;
    let pos = h.client.positions("U7654321").await.unwrap();
    assert_eq!(pos.len(), 3);
    assert_eq!(pos[0].symbol, "SPY");
    assert_eq!(pos[1].quantity, dec!(10.5));
    assert_eq!(pos[2].quantity, dec!(231.6842));
    assert_eq!(pos[2].asset_class, "FUND");
    assert_eq!(pos[0].market_price, Some(dec!(533.8200073)));
    assert_eq!(
        calls(&h.server).await,
        vec![
            "POST /portfolio/U7654321/positions/invalidate",
            "GET /portfolio/U7654321/positions/0",
            "GET /portfolio/U7654321/positions/1",
        ]
    );
}

#[tokio::test]
async fn ledger_and_summary() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/ledger",
        ok(fixture("ledger.json")),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/summary",
        ok(fixture("portfolio_summary_excerpt.json")),
    )
    .await;
    let l = h.client.ledger("U7654321").await.unwrap();
    assert_eq!(l.cash("EUR"), Some(dec!(1250.0)));
    assert_eq!(l.settled_cash("BASE"), Some(dec!(9764.65)));
    assert_eq!(l.by_currency["EUR"].exchange_rate, Some(dec!(1.0743)));
    let s = h.client.summary("U7654321").await.unwrap();
    assert_eq!(s.net_liquidation, dec!(105762.6));
    assert_eq!(s.currency.as_deref(), Some("USD"));
    assert_eq!(s.total_cash, Some(dec!(9764.65)));
}

#[tokio::test]
async fn summary_without_net_liquidation_fails_closed() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/summary",
        ok(json!({"netliquidation": {"amount": null, "isNull": true}})),
    )
    .await;
    let e = h.client.summary("U7654321").await.unwrap_err();
    assert!(e.to_string().contains("netliquidation"), "{e}");
}

// ---------------------------------------------------------------- contracts & market data

fn stocks_reply() -> Value {
    json!({"IBM": [
        {"name": "INTL BUSINESS MACHINES CORP", "assetClass": "STK", "contracts": [
            {"conid": 8314, "exchange": "NYSE", "isUS": true},
            {"conid": 1411277, "exchange": "IBIS", "isUS": false},
            {"conid": 41645598, "exchange": "LSE", "isUS": false}]},
        {"name": "INTL BUSINESS MACHINES C-CDR", "assetClass": "STK", "contracts": [
            {"conid": 530091934, "exchange": "AEQLIT", "isUS": false}]}
    ]})
}

fn query(symbol: &str) -> ContractQuery {
    ContractQuery {
        symbol: symbol.into(),
        sec_type: "STK".into(),
        currency: "USD".into(),
        exchange: None,
        conid: None,
    }
}

#[tokio::test]
async fn resolves_us_listing_and_caches() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/trsrv/stocks")))
        .and(query_param("symbols", "IBM"))
        .respond_with(ok(stocks_reply()))
        .expect(2)
        .mount(&h.server)
        .await;
    let c = h.client.resolve(&query("IBM")).await.unwrap();
    assert_eq!(c.conid, 8314);
    assert_eq!(c.exchange.as_deref(), Some("NYSE"));
    // Cached: no second request for the same query.
    assert_eq!(h.client.resolve(&query("IBM")).await.unwrap().conid, 8314);
    // An explicit exchange picks another listing (a different query: one more request).
    let mut lse = query("IBM");
    lse.exchange = Some("LSE".into());
    lse.currency = "GBP".into();
    assert_eq!(h.client.resolve(&lse).await.unwrap().conid, 41645598);
}

#[tokio::test]
async fn ambiguous_or_unknown_symbols_are_errors_naming_the_fix() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/trsrv/stocks",
        ok(json!({"DUAL": [
            {"name": "A", "contracts": [{"conid": 1, "exchange": "NYSE", "isUS": true}]},
            {"name": "B", "contracts": [{"conid": 2, "exchange": "NASDAQ", "isUS": true}]}
        ]})),
    )
    .await;
    let e = h
        .client
        .resolve(&query("DUAL"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ambiguous") && e.contains("conid 1") && e.contains("conid 2"),
        "{e}"
    );
    assert!(e.contains("portfolio.contracts.DUAL"), "{e}");
    let e = h
        .client
        .resolve(&query("NOPE"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no matching contract"), "{e}");
    let mut eur = query("DUAL");
    eur.currency = "EUR".into();
    let e = h.client.resolve(&eur).await.unwrap_err().to_string();
    assert!(e.contains("explicit exchange"), "{e}");
}

#[tokio::test]
async fn resolves_mutual_funds_through_secdef_search() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/iserver/secdef/search")))
        .and(query_param("symbol", "VSMAX"))
        .and(query_param("fund", "true"))
        .respond_with(ok(json!([
            {"conid": "999000001", "symbol": "VSMAX", "companyName": "VANGUARD TOTAL STOCK MKT IDX ADM", "description": "FUNDSERV"},
            {"conid": "123", "symbol": "VSMAXX", "description": "FUNDSERV"}
        ])))
        .expect(1)
        .mount(&h.server)
        .await;
    let mut q = query("VSMAX");
    q.sec_type = "FUND".into();
    let c = h.client.resolve(&q).await.unwrap();
    assert_eq!(c.conid, 999000001);
    assert_eq!(c.sec_type, "FUND");
}

#[tokio::test]
async fn fixed_conid_needs_no_lookup() {
    let h = harness().await;
    let mut q = query("VSMAX");
    q.conid = Some(42);
    assert_eq!(h.client.resolve(&q).await.unwrap().conid, 42);
    assert!(calls(&h.server).await.is_empty());
}

#[tokio::test]
async fn snapshot_repeats_after_preflight_and_flags_missing() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/iserver/marketdata/snapshot")))
        .and(query_param("conids", "265598,756733"))
        .and(query_param("fields", SNAPSHOT_FIELDS))
        .respond_with(ok(fixture("snapshot_preflight.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    mount(
        &h.server,
        "GET",
        "/iserver/marketdata/snapshot",
        ok(fixture("snapshot.json")),
    )
    .await;
    let quotes = h.client.snapshot(&[756733, 265598]).await.unwrap();
    assert_eq!(quotes.len(), 2);
    assert_eq!(quotes[0].conid, 756733);
    assert_eq!(quotes[0].bid, Some(dec!(533.81)));
    assert_eq!(quotes[1].ask, Some(dec!(207.16)));
    assert!(quotes.iter().all(|q| !q.is_missing()));
    assert_eq!(
        find(&h.server, "GET", "/iserver/marketdata/snapshot")
            .await
            .len(),
        2
    );

    // A conid that never gets data: bounded wait, then flagged missing.
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/iserver/marketdata/snapshot",
        ok(json!([{"conid": 5, "conidEx": "5", "6509": "D"}])),
    )
    .await;
    let q = h.client.snapshot(&[5]).await.unwrap();
    assert!(q[0].is_missing());
    assert!(q[0].availability.is_delayed());
    let n = find(&h.server, "GET", "/iserver/marketdata/snapshot")
        .await
        .len();
    assert!(n >= 2, "asked again after the pre-flight ({n})");
}

// ---------------------------------------------------------------- orders

async fn ready(h: &Harness) {
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    h.server.reset().await;
    healthy_session(&h.server).await;
}

const ORDERS: &str = "/iserver/account/U7654321/orders";

#[tokio::test]
async fn places_an_order_with_the_documented_body() {
    let h = harness().await;
    ready(&h).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}{ORDERS}")))
        .and(body_json(fixture("order_request.json")))
        .respond_with(ok(fixture("order_submitted.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h
        .client
        .place_order(&ticket(), &PromptPolicy::default())
        .await
        .unwrap();
    assert_eq!(
        out,
        PlaceOutcome::Submitted {
            order_id: "1384451207".into(),
            status: "Submitted".into()
        }
    );
    // Ready was fresh: no extra status call before the order.
    assert_eq!(calls(&h.server).await, vec![format!("POST {ORDERS}")]);
}

#[tokio::test]
async fn allow_listed_prompt_is_confirmed() {
    let h = harness().await;
    ready(&h).await;
    mount(
        &h.server,
        "POST",
        ORDERS,
        ok(fixture("order_reply_question.json")),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "{API}/iserver/reply/3f6b1c2e-8d0a-4b57-9e31-5a7c2d9e4f10"
        )))
        .and(body_json(json!({"confirmed": true})))
        .respond_with(ok(fixture("order_submitted.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h
        .client
        .place_order(&ticket(), &PromptPolicy::new(["o451".to_owned()]))
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::Submitted { .. }), "{out:?}");
}

#[tokio::test]
async fn other_prompts_refuse_the_order_and_decline_it() {
    let h = harness().await;
    ready(&h).await;
    mount(
        &h.server,
        "POST",
        ORDERS,
        ok(fixture("order_reply_question.json")),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "{API}/iserver/reply/3f6b1c2e-8d0a-4b57-9e31-5a7c2d9e4f10"
        )))
        .and(body_json(json!({"confirmed": false})))
        .respond_with(ok(json!({"error": "Order not confirmed"})))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h
        .client
        .place_order(&ticket(), &PromptPolicy::new(["o163".to_owned()]))
        .await
        .unwrap();
    let PlaceOutcome::Refused { prompt } = out else {
        panic!("expected Refused, got {out:?}")
    };
    assert_eq!(prompt.message_ids, vec!["o451"]);
    assert!(prompt.to_string().contains("Total Value Limit"));
}

#[tokio::test]
async fn chained_prompts_each_need_the_allowlist() {
    let h = harness().await;
    ready(&h).await;
    mount(
        &h.server,
        "POST",
        ORDERS,
        ok(json!([{"id": "r1", "message": ["a"], "messageIds": ["o163"]}])),
    )
    .await;
    mount(
        &h.server,
        "POST",
        "/iserver/reply/r1",
        ok(json!([{"id": "r2", "message": ["no market data"], "messageIds": ["o354"]}])),
    )
    .await;
    mount(
        &h.server,
        "POST",
        "/iserver/reply/r2",
        ok(json!({"error": "Order not confirmed"})),
    )
    .await;
    let out = h
        .client
        .place_order(&ticket(), &PromptPolicy::new(["o163".to_owned()]))
        .await
        .unwrap();
    assert!(
        matches!(&out, PlaceOutcome::Refused { prompt } if prompt.message_ids == ["o354"]),
        "{out:?}"
    );
    let r2 = find(&h.server, "POST", "/iserver/reply/r2").await;
    assert_eq!(body(&r2[0]), json!({"confirmed": false}));
    let r1 = find(&h.server, "POST", "/iserver/reply/r1").await;
    assert_eq!(body(&r1[0]), json!({"confirmed": true}));
}

#[tokio::test]
async fn duplicate_coid_rejection_and_unknown_are_distinguished() {
    let h = harness().await;
    ready(&h).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}{ORDERS}")))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("order_error_duplicate_coid.json")),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{API}{ORDERS}")))
        .respond_with(ok(json!({"error": "No trading permissions."})))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    mount(&h.server, "POST", ORDERS, ResponseTemplate::new(503)).await;
    let p = PromptPolicy::default();
    let out = h.client.place_order(&ticket(), &p).await.unwrap();
    assert!(matches!(out, PlaceOutcome::DuplicateCoid { .. }), "{out:?}");
    let out = h.client.place_order(&ticket(), &p).await.unwrap();
    assert_eq!(
        out,
        PlaceOutcome::Rejected {
            message: "No trading permissions.".into()
        }
    );
    let out = h.client.place_order(&ticket(), &p).await.unwrap();
    assert!(matches!(out, PlaceOutcome::Unknown { .. }), "{out:?}");
    // The 503 was not retried.
    assert_eq!(find(&h.server, "POST", ORDERS).await.len(), 3);
}

#[tokio::test]
async fn order_timeout_is_unknown_and_not_retried() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut g = gateway_settings(&server.uri());
    g.request_timeout = Duration::from_secs(1);
    let client = GatewayClient::new(options(&g, dir.path())).unwrap();
    healthy_session(&server).await;
    client.ensure_ready().await.unwrap();
    Mock::given(method("POST"))
        .and(path(format!("{API}{ORDERS}")))
        .respond_with(ok(fixture("order_submitted.json")).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    let out = client
        .place_order(&ticket(), &PromptPolicy::default())
        .await
        .unwrap();
    let PlaceOutcome::Unknown { detail } = out else {
        panic!("{out:?}")
    };
    assert!(detail.contains("reconcile"), "{detail}");
}

#[tokio::test]
async fn orders_need_a_ready_session() {
    let h = harness().await;
    mount(
        &h.server,
        "POST",
        "/iserver/auth/status",
        ok(fixture("auth_status_unauthenticated.json")),
    )
    .await;
    let e = h
        .client
        .place_order(&ticket(), &PromptPolicy::default())
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::NotReady(_)), "{e}");
    assert!(find(&h.server, "POST", ORDERS).await.is_empty());
}

#[tokio::test]
async fn stale_ready_is_reconfirmed_before_an_order() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut g = gateway_settings(&server.uri());
    g.ready_max_age = Duration::ZERO;
    let client = GatewayClient::new(options(&g, dir.path())).unwrap();
    healthy_session(&server).await;
    client.ensure_ready().await.unwrap();
    server.reset().await;
    healthy_session(&server).await;
    mount(&server, "POST", ORDERS, ok(fixture("order_submitted.json"))).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    client
        .place_order(&ticket(), &PromptPolicy::default())
        .await
        .unwrap();
    assert_eq!(
        calls(&server).await,
        vec![
            "POST /iserver/auth/status".to_owned(),
            format!("POST {ORDERS}")
        ]
    );
}

#[tokio::test]
async fn whatif_sends_the_same_body() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}{ORDERS}/whatif")))
        .and(body_json(fixture("order_request.json")))
        .respond_with(ok(fixture("order_whatif.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let w = h.client.whatif(&ticket()).await.unwrap();
    assert_eq!(w.amount, Some(dec!(6409.20)));
    assert_eq!(w.commission, Some(dec!(1)));
}

#[tokio::test]
async fn live_orders_status_trades_cancel() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/iserver/account/orders")))
        .and(query_param("accountId", "U7654321"))
        .respond_with(ok(fixture("live_orders.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let orders = h.client.live_orders("U7654321").await.unwrap();
    assert_eq!(orders.len(), 3);
    assert_eq!(
        orders[0].order_ref.as_deref(),
        Some("rb240611-U7654321-756733-B-01")
    );
    assert_eq!(orders[0].price, Some(dec!(534.10)));
    assert!(orders[1].is_terminal());
    assert_eq!(orders[1].side, Some(Side::Sell));
    assert_eq!(orders[2].total_cash_size, Some(dec!(1500.0)));
    // No `force=true`, ever.
    assert!(
        requests(&h.server)
            .await
            .iter()
            .all(|r| !r.url.query().unwrap_or("").contains("force"))
    );

    mount(
        &h.server,
        "GET",
        "/iserver/account/order/status/1384451207",
        ok(
            json!({"order_id": 1384451207, "order_status": "Filled", "side": "B",
                  "total_size": "12.0", "cum_fill": "12.0", "average_price": "534.02",
                  "order_ref": "rb240611-U7654321-756733-B-01"}),
        ),
    )
    .await;
    let s = h.client.order_status("1384451207").await.unwrap();
    assert!(s.is_terminal());
    assert_eq!(s.side, Some(Side::Buy));
    assert_eq!(s.avg_price, Some(dec!(534.02)));

    Mock::given(method("GET"))
        .and(path(format!("{API}/iserver/account/trades")))
        .and(query_param("days", "3"))
        .respond_with(ok(fixture("trades.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let t = h.client.trades(3).await.unwrap();
    assert_eq!(t[0].size, dec!(2.5));
    assert_eq!(t[0].price, dec!(207.12));
    assert_eq!(t[0].commission, Some(dec!(1.00)));
    assert!(h.client.trades(8).await.is_err());

    Mock::given(method("DELETE"))
        .and(path(format!(
            "{API}/iserver/account/U7654321/order/1384451207"
        )))
        .respond_with(ok(fixture("cancel_order.json")))
        .expect(1)
        .mount(&h.server)
        .await;
    let c = h
        .client
        .cancel_order("U7654321", "1384451207")
        .await
        .unwrap();
    assert_eq!(c.order_id, Some(1384451207));
    let del = find(
        &h.server,
        "DELETE",
        "/iserver/account/U7654321/order/1384451207",
    )
    .await;
    assert!(del[0].body.is_empty(), "DELETE carries no body");
}

#[tokio::test]
async fn empty_live_orders_are_asked_twice() {
    let h = harness().await;
    mount(
        &h.server,
        "GET",
        "/iserver/account/orders",
        ok(json!({"orders": [], "snapshot": false})),
    )
    .await;
    assert!(h.client.live_orders("U7654321").await.unwrap().is_empty());
    assert_eq!(
        find(&h.server, "GET", "/iserver/account/orders")
            .await
            .len(),
        2
    );
}

// ---------------------------------------------------------------- cookies

#[tokio::test]
async fn cookies_are_kept_sent_back_once_and_persisted_privately() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = GatewayClient::new(options(&gateway_settings(&server.uri()), dir.path())).unwrap();
    Mock::given(method("POST"))
        .and(path(format!("{API}/tickle")))
        .respond_with(
            ok(fixture("tickle.json"))
                .append_header("set-cookie", "JSESSIONID=first; Path=/v1")
                .append_header("set-cookie", "x-sess-uuid=abc; Path=/"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/tickle")))
        .respond_with(
            ok(fixture("tickle.json")).append_header("set-cookie", "JSESSIONID=second; Path=/"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount(&server, "POST", "/tickle", ok(fixture("tickle.json"))).await;
    client.tickle().await.unwrap();
    client.tickle().await.unwrap();
    client.tickle().await.unwrap();
    let reqs = requests(&server).await;
    let cookie = reqs[2]
        .headers
        .get("cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cookie.matches("JSESSIONID=").count(), 1, "{cookie}");
    assert!(cookie.contains("JSESSIONID=second"), "{cookie}");
    assert!(cookie.contains("x-sess-uuid=abc"), "{cookie}");
    let file = dir.path().join("cookies.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A new client (a restart) sends the persisted session cookies.
    let again = GatewayClient::new(options(&gateway_settings(&server.uri()), dir.path())).unwrap();
    again.tickle().await.unwrap();
    let reqs = requests(&server).await;
    let cookie = reqs[3].headers.get("cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("JSESSIONID=second"), "{cookie}");
    // Never logged: Debug shows names only.
    assert!(!format!("{:?}", again.cookie_jar()).contains("second"));
}

#[tokio::test]
async fn keeper_task_climbs_to_ready_and_stops_on_cancel() {
    let h = harness().await;
    healthy_session(&h.server).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut rx = h.client.subscribe();
    let handle = pbal::ibkr::spawn_keeper(
        h.client.clone(),
        Arc::new(CountingLogin::default()),
        pbal::ibkr::KeeperTiming {
            tickle: Duration::from_millis(50),
            recover: Duration::from_millis(10),
            jitter_fraction: 0.1,
        },
        cancel.clone(),
    );
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        // Drop the borrow at once: holding it would block the keeper's next update.
        rx.wait_for(|s| s.state == SessionState::Ready)
            .await
            .map(|_| ())
    })
    .await;
    assert!(reached.is_ok(), "keeper never reached Ready");
    // It keeps tickling while Ready.
    let mut tickled = false;
    for _ in 0..200 {
        if !find(&h.server, "POST", "/tickle").await.is_empty() {
            tickled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(tickled, "no tickle while Ready");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("keeper did not stop")
        .unwrap();
}

#[tokio::test]
async fn iserver_401_means_no_brokerage_session() {
    let h = harness().await;
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    h.server.reset().await;
    mount(
        &h.server,
        "GET",
        "/iserver/accounts",
        ResponseTemplate::new(401),
    )
    .await;
    let e = h.client.iserver_accounts().await.unwrap_err();
    assert!(matches!(e, GatewayError::NoBrokerage { .. }), "{e}");
    assert!(e.is_session_lost());
    assert_eq!(h.client.status().state, SessionState::SsoOnly);
}

#[tokio::test]
async fn whatif_refusal_keeps_amounts_and_error_text() {
    let h = harness().await;
    let mut w = fixture("order_whatif.json");
    w["error"] = json!("Insufficient buying power");
    mount(&h.server, "POST", &format!("{ORDERS}/whatif"), ok(w)).await;
    let w = h.client.whatif(&ticket()).await.unwrap();
    assert_eq!(w.error.as_deref(), Some("Insufficient buying power"));
    assert_eq!(w.total, Some(dec!(6410.20)));
}

#[tokio::test]
async fn positions_without_page_size_read_until_an_empty_page() {
    let h = harness().await;
    let mut page = fixture("positions_page0.json").as_array().unwrap().clone();
    for p in &mut page {
        p.as_object_mut().unwrap().remove("pageSize");
    }
    mount(
        &h.server,
        "POST",
        "/portfolio/U7654321/positions/invalidate",
        ok(json!({"message": "success"})),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/positions/0",
        ok(Value::Array(page[0..1].to_vec())),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/positions/1",
        ok(Value::Array(page[1..3].to_vec())),
    )
    .await;
    mount(
        &h.server,
        "GET",
        "/portfolio/U7654321/positions/2",
        ok(json!([])),
    )
    .await;
    assert_eq!(h.client.positions("U7654321").await.unwrap().len(), 3);
    assert_eq!(
        find(&h.server, "GET", "/portfolio/U7654321/positions/2")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn account_selection_right_after_priming_reuses_the_portfolio_accounts() {
    let h = harness().await;
    healthy_session(&h.server).await;
    h.client.ensure_ready().await.unwrap();
    h.client.select_account("").await.unwrap();
    // One call (priming); a second within the 5 s spacing would only make the caller wait.
    assert_eq!(find(&h.server, "GET", "/portfolio/accounts").await.len(), 1);
}
