//! HTTP against the simulator: a reqwest client that trusts only the simulator's CA (ring
//! provider, hostname verification on), and a tiny JSON request wrapper for `/v1/api`.
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, pem::PemObject};
use serde_json::Value;

/// A client trusting exactly the given PEM certificate(s), like the daemon does.
pub fn trusting_client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("PEM")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .build()
        .expect("client")
}

/// JSON calls against `base` (`https://127.0.0.1:PORT`), paths relative to `/v1/api`.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(h: &pbal::sim::SimHandle) -> Api {
        Api {
            client: trusting_client(h.ca_pem()),
            base: h.base_url(),
        }
    }

    async fn finish(r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}/v1/api{path}", self.base))
            .send()
            .await
            .expect("GET");
        Self::finish(r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/v1/api{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("POST");
        Self::finish(r).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(format!("{}/v1/api{path}", self.base))
            .send()
            .await
            .expect("DELETE");
        Self::finish(r).await
    }

    /// Brokerage session ready and both priming calls done.
    pub async fn prime(&self) {
        assert_eq!(self.get("/iserver/accounts").await.0, 200);
        assert_eq!(self.get("/portfolio/accounts").await.0, 200);
    }

    pub async fn place(&self, acct: &str, order: Value) -> (u16, Value) {
        self.post(
            &format!("/iserver/account/{acct}/orders"),
            serde_json::json!({ "orders": [order] }),
        )
        .await
    }
}
