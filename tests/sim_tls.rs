//! TLS and the `pbal sim` binary: trusting the generated CA works, not trusting it fails,
//! a given cert/key is served, and the first stdout line announces the address.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::http::{Api, trusting_client};
use pbal::sim::{SimConfig, Simulator, TlsSource};

#[tokio::test]
async fn trusting_the_generated_ca_works_and_hostname_is_verified() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let api = Api::new(&h);
    let (status, body) = api
        .post("/iserver/auth/status", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["authenticated"], true);
    // `localhost` is also a SAN of the leaf.
    let url = format!("https://localhost:{}/v1/api/tickle", h.addr().port());
    let r = api
        .client
        .post(url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.shutdown().await;
}

#[tokio::test]
async fn not_trusting_the_ca_fails() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    // Trusting another simulator's CA must not be enough.
    let other = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let wrong = trusting_client(other.ca_pem());
    let err = wrong
        .post(format!("{}/v1/api/tickle", h.base_url()))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect_err("untrusted certificate must be rejected");
    assert!(err.is_connect(), "{err:?}");
    assert!(
        h.requests().is_empty(),
        "no request may reach the API over an untrusted connection"
    );
}

#[tokio::test]
async fn write_ca_writes_the_pem_clients_trust() {
    let h = Simulator::start(SimConfig::relaxed()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ca.pem");
    h.write_ca(&p).unwrap();
    let pem = std::fs::read_to_string(&p).unwrap();
    let client = trusting_client(&pem);
    let r = client
        .get(format!("{}/v1/api/sso/validate", h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn serves_a_given_certificate_and_key() {
    // Mint a CA + leaf the way an operator would, then serve the leaf from files.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("leaf.pem"), dir.path().join("leaf.key"));
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    let cfg = SimConfig {
        tls: TlsSource::Files { cert, key },
        ..SimConfig::relaxed()
    };
    let h = Simulator::start(cfg).await.unwrap();
    let client = trusting_client(&ca_cert.pem());
    let r = client
        .get(format!("{}/v1/api/sso/validate", h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn refuses_non_loopback_listen_addresses() {
    let cfg = SimConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..SimConfig::relaxed()
    };
    let err = Simulator::start(cfg).await.err().expect("must refuse");
    assert!(err.to_string().contains("loopback"), "{err}");
}

/// Kills the child on drop so a failing assertion does not leak a server.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_the_address_first_and_writes_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_pbal"))
            .args(["sim", "--listen", "127.0.0.1:0", "--ca-out"])
            .arg(&ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let client = trusting_client(&std::fs::read_to_string(&ca).unwrap());
    let r = client
        .post(format!("{url}/v1/api/iserver/auth/status"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Admin API of the separate process: orders by cOID (none yet) and price changes.
    let r = client
        .get(format!("{url}/sim/orders/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .post(format!("{url}/sim/price"))
        .json(&serde_json::json!({"symbol": "VTI_UNKNOWN", "price": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(format!("{url}/sim/price"))
        .json(&serde_json::json!({"symbol": "VAW", "price": "190.25"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state: serde_json::Value = client
        .get(format!("{url}/sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vaw = state["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "VAW")
        .unwrap();
    assert_eq!(vaw["price"], "190.25");
    drop(child);
}
