//! The gateway client against `pbal sim` over real TLS: trust by CA and by pin (including a
//! stock-gateway-like expired, SAN-less self-signed certificate), refusal of the wrong
//! certificate with an actionable message, session loss mid-sequence, the snapshot pre-flight,
//! reply prompts, duplicate cOIDs, the real pacing limits and the 429 freeze.
mod common;

use std::time::Duration;

use common::client::fast_options;
use pbal::ibkr::tls;
use pbal::ibkr::{
    ClientOptions, ContractQuery, GatewayClient, GatewayError, OrderSize, OrderTicket, OrderType,
    PlaceOutcome, PromptPolicy, SessionState, Side, WaitForHuman,
};
use pbal::sim::{
    PromptCondition, SessionAction, SimConfig, SimHandle, Simulator, StartState, TlsSource,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The shared test options (`tests/common/client.rs`); the state dir is set per client.
fn base_settings(url: &str) -> ClientOptions {
    fast_options(url, std::path::Path::new(""))
}

struct Env {
    sim: SimHandle,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start(cfg: SimConfig) -> Env {
        let sim = Simulator::start(cfg).await.unwrap();
        sim.set_market_open(Some(true));
        let dir = tempfile::tempdir().unwrap();
        sim.write_ca(&dir.path().join("ca.pem")).unwrap();
        Env { sim, dir }
    }

    fn settings_ca(&self) -> ClientOptions {
        let mut g = base_settings(&self.sim.base_url());
        g.ca_cert = Some(self.dir.path().join("ca.pem"));
        g
    }

    fn client(&self, g: &ClientOptions, spacing: bool) -> GatewayClient {
        let state = self.dir.path().join("state");
        GatewayClient::new(ClientOptions {
            state_dir: state,
            endpoint_spacing: spacing,
            ..g.clone()
        })
        .unwrap()
    }

    fn ticket(&self, symbol: &str, qty: Decimal, coid: &str) -> OrderTicket {
        OrderTicket {
            account_id: self.sim.account_id(),
            conid: self.sim.conid(symbol).unwrap(),
            sec_type: Some("STK".into()),
            coid: coid.into(),
            side: Side::Buy,
            order_type: OrderType::Limit {
                price: self.sim.price(symbol).unwrap(),
            },
            size: OrderSize::Quantity(qty),
            tif: "DAY".into(),
            outside_rth: false,
            listing_exchange: None,
        }
    }
}

fn relaxed() -> SimConfig {
    SimConfig::relaxed()
}

#[tokio::test]
async fn trusted_ca_full_read_and_order_sequence() {
    let env = Env::start(relaxed()).await;
    let client = env.client(&env.settings_ca(), false);
    let status = client.ensure_ready().await.unwrap();
    assert_eq!(status.state, SessionState::Ready);
    let acct = client.select_account("").await.unwrap();
    assert_eq!(acct, env.sim.account_id());

    let positions = client.positions(&acct).await.unwrap();
    let ftec = positions.iter().find(|p| p.symbol == "FTEC").unwrap();
    let sim_ftec = env
        .sim
        .positions()
        .into_iter()
        .find(|p| p.symbol == "FTEC")
        .unwrap();
    assert_eq!(ftec.quantity, sim_ftec.quantity);
    assert_eq!(ftec.conid, sim_ftec.conid);
    assert_eq!(positions.len(), env.sim.positions().len());

    let ledger = client.ledger(&acct).await.unwrap();
    assert_eq!(ledger.cash("USD"), Some(env.sim.cash()));
    let summary = client.summary(&acct).await.unwrap();
    assert!(summary.net_liquidation > env.sim.cash());

    let q = ContractQuery {
        symbol: "FTEC".into(),
        sec_type: "STK".into(),
        currency: "USD".into(),
        exchange: None,
        conid: None,
    };
    let c = client.resolve(&q).await.unwrap();
    assert_eq!(c.conid, sim_ftec.conid);

    // The simulator answers the first snapshot per conid with no fields (pre-flight).
    let quotes = client.snapshot(&[c.conid]).await.unwrap();
    assert!(!quotes[0].is_missing(), "{:?}", quotes[0]);
    assert_eq!(quotes[0].last, env.sim.price("FTEC"));

    let out = client
        .place_order(
            &env.ticket("FTEC", dec!(1), "t-ca-1"),
            &PromptPolicy::default(),
        )
        .await
        .unwrap();
    let PlaceOutcome::Submitted { order_id, .. } = out else {
        panic!("{out:?}")
    };
    let placed = env.sim.order_by_coid("t-ca-1").unwrap();
    assert_eq!(placed.order_id.to_string(), order_id);
    assert_eq!(placed.quantity, Some(dec!(1)));

    // Live orders: the first call after authentication is empty in the simulator, as on the
    // real gateway; the client asks again.
    let live = client.live_orders(&acct).await.unwrap();
    assert!(
        live.iter()
            .any(|o| o.order_ref.as_deref() == Some("t-ca-1")),
        "{live:?}"
    );
    let trades = client.trades(1).await.unwrap();
    assert!(
        trades
            .iter()
            .any(|t| t.order_ref.as_deref() == Some("t-ca-1"))
    );
}

#[tokio::test]
async fn wrong_ca_is_refused_with_an_actionable_message() {
    let env = Env::start(relaxed()).await;
    let other = tls::generate_pki(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let wrong = env.dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other.ca_cert_pem).unwrap();
    let mut g = env.settings_ca();
    g.ca_cert = Some(wrong);
    let client = env.client(&g, false);
    let e = client.auth_status().await.unwrap_err();
    assert!(matches!(e, GatewayError::TlsUntrusted { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("not signed by the CA in gateway.ca_cert"),
        "{msg}"
    );
    assert!(msg.contains("pbal cert pin"), "{msg}");
    assert_eq!(client.status().state, SessionState::Down);
    // Nothing reached the API.
    assert!(env.sim.requests().is_empty());

    // No trust configured at all: refused too, saying what to set.
    let client = env.client(&base_settings(&env.sim.base_url()), false);
    let e = client.auth_status().await.unwrap_err().to_string();
    assert!(
        e.contains("neither gateway.ca_cert nor gateway.pin_sha256"),
        "{e}"
    );
}

#[tokio::test]
async fn pin_trusts_exactly_the_presented_certificate() {
    let env = Env::start(relaxed()).await;
    let url = url::Url::parse(&env.sim.base_url()).unwrap();
    let chain = tls::fetch_server_chain(&url, Duration::from_secs(5))
        .await
        .unwrap();
    let fp = tls::format_fingerprint(&tls::fingerprint(chain[0].as_ref()));
    let mut g = base_settings(&env.sim.base_url());
    g.pin_sha256 = Some(fp.clone());
    let client = env.client(&g, false);
    assert_eq!(
        client.ensure_ready().await.unwrap().state,
        SessionState::Ready
    );

    // Another certificate's fingerprint: refused, naming both fingerprints.
    let other = tls::generate_pki(&["localhost".into()]).unwrap();
    let other_der =
        rustls_pki_types::CertificateDer::from_pem_slice(other.leaf_cert_pem.as_bytes());
    let other_fp = tls::format_fingerprint(&tls::fingerprint(other_der.unwrap().as_ref()));
    g.pin_sha256 = Some(other_fp.clone());
    let client = env.client(&g, false);
    let e = client.auth_status().await.unwrap_err();
    let GatewayError::PinMismatch { expected, actual } = &e else {
        panic!("{e}")
    };
    assert_eq!(expected, &other_fp);
    assert_eq!(actual, &fp);
    assert!(e.to_string().contains("pbal cert pin"), "{e}");
}

use rustls_pki_types::pem::PemObject;

/// A certificate like the gateway's stock one: self-signed, expired in 2019, no SAN.
fn stock_like_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Client Portal Web API");
    dn.push(DnType::OrganizationName, "Interactive Brokers");
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2019, 2, 10);
    p.not_after = rcgen::date_time_ymd(2019, 5, 11);
    let cert = p.self_signed(&key).unwrap();
    let c = dir.join("stock.pem");
    let k = dir.join("stock-key.pem");
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k, cert.der().to_vec())
}

#[tokio::test]
async fn pin_works_with_an_expired_sanless_self_signed_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, der) = stock_like_cert(tmp.path());
    let mut cfg = relaxed();
    cfg.tls = TlsSource::Files { cert, key };
    let env = Env::start(cfg).await;
    let fp = tls::format_fingerprint(&tls::fingerprint(&der));

    // As a CA it cannot work (expired, no SAN): the message says so and suggests the pin.
    let client = env.client(&env.settings_ca(), false);
    let e = client.auth_status().await.unwrap_err();
    assert!(e.is_tls(), "{e}");
    assert!(e.to_string().contains("pbal cert pin"), "{e}");

    let mut g = base_settings(&env.sim.base_url());
    g.pin_sha256 = Some(fp.to_lowercase().replace(':', ""));
    let client = env.client(&g, false);
    client.ensure_ready().await.unwrap();
    let info = tls::describe(&der);
    assert!(info.expired && info.self_signed && info.sans.is_empty());
}

#[tokio::test]
async fn session_loss_mid_sequence_is_detected_and_recovered() {
    let env = Env::start(relaxed()).await;
    let client = env.client(&env.settings_ca(), false);
    client.ensure_ready().await.unwrap();
    let acct = client.select_account("").await.unwrap();

    // Logged out: reads fail as session lost, the state drops, orders are refused.
    env.sim.set_session(SessionAction::LogOut);
    let e = client.positions(&acct).await.unwrap_err();
    assert!(e.is_session_lost(), "{e}");
    assert_eq!(client.status().state, SessionState::NoSession);
    let e = client
        .place_order(
            &env.ticket("VAW", dec!(1), "t-loss-1"),
            &PromptPolicy::default(),
        )
        .await
        .unwrap_err();
    assert!(!matches!(e, GatewayError::Api { .. }), "{e}");
    assert!(env.sim.order_by_coid("t-loss-1").is_none());

    // A human logs in (SSO only): the keeper step re-initialises the brokerage session.
    env.sim.set_session(SessionAction::LogIn);
    client.maintain(&WaitForHuman::default()).await.unwrap();
    assert_eq!(client.status().state, SessionState::Ready);
    assert!(client.positions(&acct).await.is_ok());

    // Another login competes: the tickle sees it, ssodh/init (compete) takes it back.
    env.sim.set_session(SessionAction::Competing);
    client.maintain(&WaitForHuman::default()).await.unwrap();
    assert_eq!(client.status().state, SessionState::Ready);
    let paths: Vec<String> = env.sim.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths.iter().filter(|p| p.contains("ssodh/init")).count() >= 2,
        "{paths:?}"
    );

    // The nightly reset loses the brokerage session and the priming.
    env.sim.set_session(SessionAction::NightlyReset);
    client.maintain(&WaitForHuman::default()).await.unwrap();
    assert_eq!(client.status().state, SessionState::Ready);
    let out = client
        .place_order(
            &env.ticket("VAW", dec!(1), "t-loss-2"),
            &PromptPolicy::default(),
        )
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::Submitted { .. }), "{out:?}");

    // Tickle answering 200 {"error":"no session"} is a loss too.
    env.sim.tickle_no_session(1);
    client.maintain(&WaitForHuman::default()).await.unwrap();
    assert_eq!(client.status().state, SessionState::Ready);
}

#[tokio::test]
async fn starts_from_sso_only_through_ssodh_init() {
    let mut cfg = relaxed();
    cfg.start_state = StartState::SsoOnly;
    let env = Env::start(cfg).await;
    let client = env.client(&env.settings_ca(), false);
    assert_eq!(
        client.ensure_ready().await.unwrap().state,
        SessionState::Ready
    );
    let mut cfg = relaxed();
    cfg.start_state = StartState::LoggedOut;
    let env = Env::start(cfg).await;
    let client = env.client(&env.settings_ca(), false);
    let e = client.ensure_ready().await.unwrap_err();
    assert!(matches!(e, GatewayError::NoSession { .. }), "{e}");
    assert!(e.to_string().contains(&env.sim.base_url()), "{e}");
}

#[tokio::test]
async fn prompts_are_confirmed_only_when_allow_listed() {
    let mut cfg = relaxed();
    for p in &mut cfg.behaviour.prompts {
        if let PromptCondition::ValueAbove { limit } = &mut p.condition {
            *limit = dec!(100);
        }
    }
    let env = Env::start(cfg).await;
    let client = env.client(&env.settings_ca(), false);
    client.ensure_ready().await.unwrap();
    // Not allowed: refused, nothing placed.
    let out = client
        .place_order(
            &env.ticket("FTEC", dec!(1), "t-p-1"),
            &PromptPolicy::new(["o163".to_owned()]),
        )
        .await
        .unwrap();
    let PlaceOutcome::Refused { prompt } = out else {
        panic!("{out:?}")
    };
    assert_eq!(prompt.message_ids, vec!["o451"]);
    assert!(env.sim.order_by_coid("t-p-1").is_none());
    // Allowed: confirmed and placed.
    let out = client
        .place_order(
            &env.ticket("FTEC", dec!(1), "t-p-2"),
            &PromptPolicy::new(["o451".to_owned()]),
        )
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::Submitted { .. }), "{out:?}");
    assert!(env.sim.order_by_coid("t-p-2").is_some());
    // Same cOID again: the gateway already has it.
    let out = client
        .place_order(
            &env.ticket("FTEC", dec!(1), "t-p-2"),
            &PromptPolicy::new(["o451".to_owned()]),
        )
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::DuplicateCoid { .. }), "{out:?}");
    assert_eq!(
        env.sim
            .orders()
            .iter()
            .filter(|o| o.coid.as_deref() == Some("t-p-2"))
            .count(),
        1
    );
}

#[tokio::test]
async fn suppressed_questions_do_not_prompt() {
    let mut cfg = relaxed();
    for p in &mut cfg.behaviour.prompts {
        if let PromptCondition::ValueAbove { limit } = &mut p.condition {
            *limit = dec!(100);
        }
    }
    let env = Env::start(cfg).await;
    let state = env.dir.path().join("state");
    let client = GatewayClient::new(ClientOptions {
        suppress: vec!["o451".into()],
        state_dir: state,
        endpoint_spacing: false,
        ..env.settings_ca()
    })
    .unwrap();
    client.ensure_ready().await.unwrap();
    let out = client
        .place_order(
            &env.ticket("FTEC", dec!(1), "t-s-1"),
            &PromptPolicy::default(),
        )
        .await
        .unwrap();
    assert!(matches!(out, PlaceOutcome::Submitted { .. }), "{out:?}");
}

#[tokio::test]
async fn client_pacing_stays_within_the_real_limits() {
    // The simulator enforces the real limits (portfolio/accounts once per 5 s …); the
    // client's own spacing must keep it out of the penalty box.
    let env = Env::start(SimConfig::default()).await;
    let client = env.client(&env.settings_ca(), true);
    client.ensure_ready().await.unwrap();
    let acct = client.select_account("").await.unwrap(); // second /portfolio/accounts
    client.positions(&acct).await.unwrap();
    client.tickle().await.unwrap();
    client.tickle().await.unwrap();
    assert_eq!(env.sim.rate_limited(), 0);
}

#[tokio::test]
async fn http_429_pauses_the_client() {
    let env = Env::start(SimConfig::default()).await;
    // Spacing off so a second tickle within 1 s provokes a 429.
    let client = env.client(&env.settings_ca(), false);
    client.ensure_ready().await.unwrap();
    client.tickle().await.unwrap();
    let e = client.tickle().await.unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert!(env.sim.rate_limited() >= 1);
    let sent = env.sim.requests().len();
    // Frozen: nothing is sent, not even the keeper's tickle or an order.
    assert!(client.tickle().await.unwrap_err().is_rate_limited());
    assert!(client.auth_status().await.unwrap_err().is_rate_limited());
    let e = client
        .place_order(
            &env.ticket("VAW", dec!(1), "t-429"),
            &PromptPolicy::default(),
        )
        .await
        .unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert_eq!(env.sim.requests().len(), sent);
    assert!(client.rate_limited_for().unwrap() > Duration::from_secs(500));
}

// Multi-threaded: the test thread blocks on the child process while the simulator serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pbal_check_and_cert_pin_against_the_simulator() {
    let env = Env::start(relaxed()).await;
    let cfg = env.dir.path().join("pbal.toml");
    std::fs::write(
        &cfg,
        format!(
            "# test config\n[gateway]\nurl = \"{}\"\n\n[state]\ndir = \"{}\"\n\n[portfolio.targets]\nFTEC = 0.5\nVAW = 0.5\n",
            env.sim.base_url(),
            env.dir.path().join("state").display()
        ),
    )
    .unwrap();
    // Without trust: check fails on the certificate line.
    let out = assert_cmd::Command::cargo_bin("pbal")
        .unwrap()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "check",
            "--no-market-data",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL certificate"), "{stdout}");

    // Pin it.
    let out = assert_cmd::Command::cargo_bin("pbal")
        .unwrap()
        .args(["--config", cfg.to_str().unwrap(), "cert", "pin", "--yes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("SHA-256"), "{stdout}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("pin_sha256") && text.contains("# test config"),
        "{text}"
    );

    // Now every line passes.
    let out = assert_cmd::Command::cargo_bin("pbal")
        .unwrap()
        .args(["--config", cfg.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "PASS certificate",
        "PASS session",
        "PASS account",
        "PASS symbol",
    ] {
        assert!(stdout.contains(line), "missing {line}: {stdout}");
    }
    assert!(stdout.contains("FTEC → conid"), "{stdout}");
    assert!(stdout.contains("PASS market data"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[tokio::test]
async fn generated_ca_and_leaf_work_end_to_end() {
    // What `pbal cert generate` writes: the gateway serves the leaf, pbal trusts the CA with
    // full verification (chain, dates, host name 127.0.0.1).
    let tmp = tempfile::tempdir().unwrap();
    let pki = tls::generate_pki(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (tmp.path().join("leaf.pem"), tmp.path().join("leaf-key.pem"));
    std::fs::write(&cert, &pki.leaf_cert_pem).unwrap();
    std::fs::write(&key, &pki.leaf_key_pem).unwrap();
    let mut cfg = relaxed();
    cfg.tls = TlsSource::Files { cert, key };
    let env = Env::start(cfg).await;
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_cert_pem).unwrap();
    let mut g = base_settings(&env.sim.base_url());
    g.ca_cert = Some(ca);
    let client = env.client(&g, false);
    assert_eq!(
        client.ensure_ready().await.unwrap().state,
        SessionState::Ready
    );
}

#[tokio::test]
async fn host_name_verification_stays_on_with_a_ca() {
    // A leaf for `localhost` only, reached as 127.0.0.1: refused, saying which name is missing.
    let tmp = tempfile::tempdir().unwrap();
    let pki = tls::generate_pki(&["localhost".into()]).unwrap();
    let (cert, key) = (tmp.path().join("leaf.pem"), tmp.path().join("leaf-key.pem"));
    std::fs::write(&cert, &pki.leaf_cert_pem).unwrap();
    std::fs::write(&key, &pki.leaf_key_pem).unwrap();
    let mut cfg = relaxed();
    cfg.tls = TlsSource::Files { cert, key };
    let env = Env::start(cfg).await;
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_cert_pem).unwrap();
    let mut g = base_settings(&env.sim.base_url());
    g.ca_cert = Some(ca);
    let e = env.client(&g, false).auth_status().await.unwrap_err();
    assert!(e.is_tls(), "{e}");
    assert!(
        e.to_string()
            .contains("not valid for the host name `127.0.0.1`"),
        "{e}"
    );
}
