//! Session model over real TLS: logged-out start and form login, ssodh/init, idle expiry with
//! the simulated clock, `no session` tickles, competing sessions, nightly reset, reauthenticate.
mod common;

use std::time::Duration;

use common::http::Api;
use pbal::sim::{FaultAction, FaultRule, SessionAction, SimConfig, Simulator, StartState};
use serde_json::json;

fn cfg(start: StartState) -> SimConfig {
    SimConfig {
        start_state: start,
        ..SimConfig::relaxed()
    }
}

#[tokio::test]
async fn logged_out_then_form_login_then_ssodh_init() {
    let mut c = cfg(StartState::LoggedOut);
    c.behaviour.form_login = true;
    let h = Simulator::start(c).await.unwrap();
    let api = Api::new(&h);
    // No session at all: 401 everywhere, tickle included.
    assert_eq!(api.post("/iserver/auth/status", json!({})).await.0, 401);
    assert_eq!(api.post("/tickle", json!({})).await.0, 401);
    assert_eq!(api.get("/portfolio/accounts").await.0, 401);

    // Wrong password is refused.
    let login = format!("{}/sso/Login", h.base_url());
    let r = api
        .client
        .post(&login)
        .form(&[("username", "simuser"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = api
        .client
        .post(&login)
        .form(&[("username", "simuser"), ("password", "simpass")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get_all("set-cookie").iter().count() >= 1);
    assert_eq!(r.text().await.unwrap(), "Client login succeeds");

    // SSO only: status says not authenticated; /iserver is refused; /portfolio works.
    let (s, st) = api.post("/iserver/auth/status", json!({})).await;
    assert_eq!(
        (s, st["authenticated"].clone(), st["connected"].clone()),
        (200, json!(false), json!(true))
    );
    assert_eq!(api.get("/iserver/accounts").await.0, 401);
    assert_eq!(api.get("/portfolio/accounts").await.0, 200);

    let (s, st) = api
        .post(
            "/iserver/auth/ssodh/init",
            json!({"publish": true, "compete": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["authenticated"], true);
    assert_eq!(api.get("/iserver/accounts").await.0, 200);
    // GET on auth/status is accepted too.
    assert_eq!(
        api.get("/iserver/auth/status").await.1["authenticated"],
        true
    );
}

#[tokio::test]
async fn auth_delay_requires_polling() {
    let mut c = cfg(StartState::SsoOnly);
    c.behaviour.auth_delay_ms = 3_000;
    let h = Simulator::start(c).await.unwrap();
    let api = Api::new(&h);
    let (_, st) = api
        .post(
            "/iserver/auth/ssodh/init",
            json!({"publish": true, "compete": true}),
        )
        .await;
    assert_eq!(
        st["authenticated"], false,
        "init only starts the authentication"
    );
    h.advance(Duration::from_secs(2));
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.1["authenticated"],
        false
    );
    h.advance(Duration::from_secs(2));
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.1["authenticated"],
        true
    );
}

#[tokio::test]
async fn idle_expiry_unless_tickled() {
    let h = Simulator::start(cfg(StartState::Authenticated))
        .await
        .unwrap();
    let api = Api::new(&h);
    api.prime().await;
    // Tickling every minute keeps it alive for longer than the 6-minute idle timeout.
    for _ in 0..8 {
        h.advance(Duration::from_secs(60));
        let (s, t) = api.post("/tickle", json!({})).await;
        assert_eq!(s, 200);
        assert_eq!(t["iserver"]["authStatus"]["authenticated"], true);
        assert!(t["session"].as_str().is_some_and(|x| !x.is_empty()));
    }
    // Silence for 7 minutes: the session is gone.
    h.advance(Duration::from_secs(7 * 60));
    let (s, t) = api.post("/tickle", json!({})).await;
    assert_eq!(
        (s, t),
        (200, json!({"error": "no session"})),
        "lost session → 200 no session tickle"
    );
    assert_eq!(api.post("/iserver/auth/status", json!({})).await.0, 401);
    assert_eq!(api.get("/sso/validate").await.0, 401);
    assert!(!h.session().sso);
}

#[tokio::test]
async fn competing_session_and_taking_it_back() {
    let h = Simulator::start(cfg(StartState::Authenticated))
        .await
        .unwrap();
    let api = Api::new(&h);
    api.prime().await;
    h.set_session(SessionAction::Competing);
    let (_, st) = api.post("/iserver/auth/status", json!({})).await;
    assert_eq!(
        (st["competing"].clone(), st["authenticated"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        api.get("/iserver/accounts").await.1,
        json!({}),
        "competing → empty accounts"
    );
    let (_, t) = api.post("/tickle", json!({})).await;
    assert_eq!(t["collission"], true);
    // Without compete:true the session is not taken back.
    let (_, st) = api
        .post(
            "/iserver/auth/ssodh/init",
            json!({"publish": true, "compete": false}),
        )
        .await;
    assert_eq!(st["authenticated"], false);
    assert!(st["fail"].as_str().unwrap().contains("compete flag"));
    let (_, st) = api
        .post(
            "/iserver/auth/ssodh/init",
            json!({"publish": true, "compete": true}),
        )
        .await;
    assert_eq!(
        (st["competing"].clone(), st["authenticated"].clone()),
        (json!(false), json!(true))
    );
    // Re-authentication loses the priming.
    let (s, e) = api
        .get("/iserver/marketdata/snapshot?conids=999000101")
        .await;
    assert_eq!(
        (s, e["error"].clone()),
        (500, json!("Please query /accounts first"))
    );
    // ssodh/init on a healthy session is a status call: priming survives it.
    api.prime().await;
    let gen_before = h.session().generation;
    api.post(
        "/iserver/auth/ssodh/init",
        json!({"publish": true, "compete": true}),
    )
    .await;
    assert_eq!(h.session().generation, gen_before);
    assert_eq!(
        api.get("/iserver/marketdata/snapshot?conids=999000101")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn nightly_reset_drops_brokerage_and_priming() {
    let h = Simulator::start(cfg(StartState::Authenticated))
        .await
        .unwrap();
    let api = Api::new(&h);
    api.prime().await;
    assert_eq!(
        api.get("/iserver/marketdata/snapshot?conids=999000101")
            .await
            .0,
        200
    );
    // Advance across the next 01:00 New York in one-minute tickles so the idle timeout does not fire.
    let start = h.now();
    let mut reset_seen = false;
    for _ in 0..(25 * 60) {
        h.advance(Duration::from_secs(60));
        let s = h.session();
        if !s.authenticated {
            reset_seen = true;
            break;
        }
        // Keep the session alive like a tickling client would.
        api.post("/tickle", json!({})).await;
    }
    assert!(reset_seen, "no reset within 25 h of {start}");
    assert!(h.session().sso, "the SSO session survives the reset");
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.1["authenticated"],
        false
    );
    api.post("/iserver/reauthenticate", json!({})).await;
    assert_eq!(
        api.post("/iserver/auth/status", json!({})).await.1["authenticated"],
        true
    );
    assert_eq!(
        api.get("/iserver/marketdata/snapshot?conids=999000101")
            .await
            .0,
        500
    );
}

#[tokio::test]
async fn logout_and_injected_session_faults() {
    let h = Simulator::start(cfg(StartState::Authenticated))
        .await
        .unwrap();
    let api = Api::new(&h);
    h.tickle_no_session(1);
    assert_eq!(
        api.post("/tickle", json!({})).await.1,
        json!({"error": "no session"})
    );
    assert_eq!(
        api.post("/tickle", json!({})).await.1["iserver"]["authStatus"]["authenticated"],
        true
    );
    h.add_fault(FaultRule {
        method: None,
        path: "/portfolio/accounts".into(),
        action: FaultAction::SessionLoss,
        skip: 0,
        times: Some(1),
    });
    assert_eq!(api.get("/portfolio/accounts").await.0, 401);
    h.set_session(SessionAction::LogIn);
    assert_eq!(api.get("/portfolio/accounts").await.0, 200);
    assert_eq!(
        api.post("/logout", json!({})).await.1,
        json!({"status": true})
    );
    assert_eq!(api.get("/portfolio/accounts").await.0, 401);
}

#[tokio::test]
async fn post_without_length_gets_411() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = Simulator::start(cfg(StartState::Authenticated))
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(h.ca_pem().as_bytes()) {
        let c: rustls_pki_types::CertificateDer = c.unwrap();
        roots.add(c).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let send = |req: &'static str| {
        let tls = tls.clone();
        let addr = h.addr();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut s = tokio_rustls::TlsConnector::from(Arc::new(tls))
                .connect(name, tcp)
                .await
                .unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        }
    };
    // Bare POST: neither Content-Length nor Transfer-Encoding (what Akamai answers 411 to).
    let bare =
        send("POST /v1/api/tickle HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await;
    assert!(bare.starts_with("HTTP/1.1 411"), "{bare}");
    let ok = send("POST /v1/api/tickle HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}
