//! `GatewayClient`: one HTTP client, one cookie jar, one rate limiter and one session state
//! shared by every clone (the daemon's keeper, the cycle and one-shot commands).
//!
//! Every request goes through one private `send` function, which paces it, sends a JSON body on
//! every POST (the gateway's Akamai front answers 411 to a body-less POST), maps transport
//! failures to actionable errors, freezes traffic on 429, and moves the session state down when
//! the gateway says the session is gone. Reads are retried with backoff on transient errors;
//! order POSTs never are.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cookies::CookieJar;
use super::error::GatewayError;
use super::options::ClientOptions;
use super::orders::{OrderReply, OrderTicket, PlaceOutcome, PromptPolicy, is_duplicate_coid};
use super::rate::{EndpointClass, RateLimiter};
use super::tls::{self, TrustMode};
use crate::ibkr::types::{
    AccountSummary, AuthStatus, CancelAck, Conid, Contract, ContractQuery, IserverAccounts, Ledger,
    LedgerEntry, LiveOrder, Obj, OrderStatus, PortfolioAccount, Position, Quote, Tickle, Trade,
    WhatIf, excerpt,
};

/// Snapshot fields requested on every call (the pre-flight call must already name them all).
pub const SNAPSHOT_FIELDS: &str = "31,55,84,85,86,88,6509,7296,7741";

/// Pacing shared with later processes (see [`RateLimiter::with_persistence`]).
pub const PACING_FILE: &str = "pacing.json";

/// The gateway client. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct GatewayClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `<gateway url>/v1/api`, no trailing slash.
    api_base: String,
    gateway_url: url::Url,
    trust: TrustMode,
    options: ClientOptions,
    jar: Arc<CookieJar>,
    limiter: RateLimiter,
    state: watch::Sender<SessionStatus>,
    /// One order conversation at a time (reference §5.1).
    order_lock: tokio::sync::Mutex<()>,
    /// One recovery pass at a time (keeper and a command may both try).
    recover_lock: tokio::sync::Mutex<()>,
    conids: std::sync::Mutex<HashMap<ContractQuery, Contract>>,
    /// The last `/portfolio/accounts` answer: reused inside the endpoint's 5 s spacing, so a
    /// caller right after priming does not wait 5 s for the same list.
    portfolio_cache: std::sync::Mutex<Option<(Instant, Vec<PortfolioAccount>)>>,
    /// Logout-and-login rounds spent on the current stuck session (see `stuck.rs`).
    stuck_relogins: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("gateway", &self.inner.gateway_url.as_str())
            .field("trust", &self.inner.trust)
            .field("state", &self.status().state)
            .finish_non_exhaustive()
    }
}

/// One request.
struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Idempotent: may be retried on transient errors and after re-priming.
    retry: bool,
}

impl Req {
    fn get(path: impl Into<String>) -> Self {
        Req {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            retry: true,
        }
    }
    fn post(path: impl Into<String>, body: Value) -> Self {
        Req {
            method: Method::POST,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            retry: false,
        }
    }
    fn query(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }
    fn idempotent(mut self) -> Self {
        self.retry = true;
        self
    }
}

/// Is this host a loopback name or address?
fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl GatewayClient {
    /// Builds the client from its options. No request is sent; the state starts as `Down`
    /// until the first call.
    ///
    /// Plain `http://` is accepted only for loopback hosts: the real gateway always serves
    /// HTTPS, and the only plain-HTTP servers pbal meets are local test doubles (wiremock has
    /// no HTTPS). Anything else must be `https://` with verification on.
    ///
    /// # Errors
    /// Bad URL, unusable trust settings, unreadable cookie jar.
    pub fn new(options: ClientOptions) -> Result<Self, GatewayError> {
        let state_dir = options.state_dir.as_path();
        let raw = options.url.trim().trim_end_matches('/');
        let raw = raw.strip_suffix("/v1/api").unwrap_or(raw);
        let gateway_url = url::Url::parse(raw)
            .map_err(|e| GatewayError::Config(format!("gateway.url `{}`: {e}", options.url)))?;
        match gateway_url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&gateway_url) => {}
            "http" => {
                return Err(GatewayError::Config(format!(
                    "gateway.url `{}`: plain http:// is only accepted for loopback test servers; \
                     the gateway serves https://",
                    options.url
                )));
            }
            other => {
                return Err(GatewayError::Config(format!(
                    "gateway.url `{}`: unsupported scheme `{other}`, use https://",
                    options.url
                )));
            }
        }
        let trust = tls::trust_mode(options.ca_cert.as_deref(), options.pin_sha256.as_deref())?;
        let tls_config = tls::client_config(&trust)?;
        let jar = CookieJar::load(state_dir)?;
        let timeout = options.request_timeout.max(Duration::from_secs(1));
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .http1_only()
            .user_agent(concat!("pbal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Config(format!("HTTP client: {e}")))?;
        let (state, _) = watch::channel(SessionStatus::initial());
        let limiter = RateLimiter::new(options.max_requests_per_sec, options.rate_limit_penalty)
            .with_endpoint_spacing(options.endpoint_spacing)
            .with_persistence(state_dir.join(PACING_FILE));
        Ok(GatewayClient {
            inner: Arc::new(Inner {
                http,
                api_base: format!("{}/v1/api", gateway_url.as_str().trim_end_matches('/')),
                gateway_url,
                trust,
                options,
                jar,
                limiter,
                state,
                order_lock: tokio::sync::Mutex::new(()),
                recover_lock: tokio::sync::Mutex::new(()),
                conids: std::sync::Mutex::new(HashMap::new()),
                portfolio_cache: std::sync::Mutex::new(None),
                stuck_relogins: std::sync::atomic::AtomicU32::new(0),
            }),
        })
    }

    // ------------------------------------------------------------------ accessors

    /// Where a human logs in (the gateway's root page).
    pub fn login_url(&self) -> String {
        self.inner
            .gateway_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
            + "/"
    }

    /// The gateway URL (without `/v1/api`).
    pub fn gateway_url(&self) -> &url::Url {
        &self.inner.gateway_url
    }

    /// How the certificate is trusted.
    pub fn trust(&self) -> &TrustMode {
        &self.inner.trust
    }

    /// The shared cookie jar (for a future login implementation).
    pub fn cookie_jar(&self) -> &Arc<CookieJar> {
        &self.inner.jar
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The current session status.
    pub fn status(&self) -> SessionStatus {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every session state change. Clone what you need out of a
    /// borrow and drop it: a held borrow blocks the client's next state update.
    pub fn subscribe(&self) -> watch::Receiver<SessionStatus> {
        self.inner.state.subscribe()
    }

    /// Time left in a 429 penalty, if any.
    pub fn rate_limited_for(&self) -> Option<Duration> {
        self.inner.limiter.frozen_for()
    }

    // ------------------------------------------------------------------ state changes

    fn set_state(&self, state: SessionState, detail: impl Into<String>) {
        let detail = detail.into();
        self.inner.state.send_modify(|s| {
            if s.state != state {
                s.since = Instant::now();
            }
            s.state = state;
            s.detail = detail;
            if state == SessionState::Ready {
                s.confirmed_at = Some(Instant::now());
            } else {
                s.confirmed_at = None;
            }
            if state < SessionState::Brokerage {
                s.accounts.clear();
            }
        });
    }

    /// Lowers the state to `state` if it is currently higher (an error never raises it).
    fn degrade(&self, state: SessionState, detail: &str) {
        if self.inner.state.borrow().state > state || state == SessionState::Down {
            self.set_state(state, detail);
        }
    }

    fn note_error(&self, e: &GatewayError) {
        match e {
            GatewayError::Unreachable { detail, .. } => self.degrade(SessionState::Down, detail),
            GatewayError::TlsUntrusted { .. } | GatewayError::PinMismatch { .. } => {
                self.degrade(SessionState::Down, &e.to_string());
            }
            GatewayError::NoSession { .. } => self.degrade(SessionState::NoSession, "no session"),
            GatewayError::NoBrokerage { reason } => self.degrade(SessionState::SsoOnly, reason),
            GatewayError::NotPrimed => {
                self.degrade(SessionState::Brokerage, "Please query /accounts first");
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ transport

    fn endpoint_name(req: &Req) -> String {
        format!("{} {}", req.method, req.path)
    }

    fn map_send_error(&self, e: &reqwest::Error, endpoint: &str) -> GatewayError {
        if let Some(r) = find_rustls_error(e) {
            let host = self.inner.gateway_url.host_str().unwrap_or("");
            return tls::classify_rustls(r, &self.inner.trust, host);
        }
        if e.is_timeout() {
            return GatewayError::Timeout {
                endpoint: endpoint.to_owned(),
            };
        }
        if e.is_connect() {
            return GatewayError::Unreachable {
                url: self.inner.gateway_url.to_string(),
                detail: error_chain(e),
            };
        }
        GatewayError::Transport {
            endpoint: endpoint.to_owned(),
            detail: error_chain(e),
        }
    }

    /// Sends one request: pacing, body, transport errors, 429, 401/redirects. Returns the
    /// status and the parsed body (`Null` when empty, a JSON string when not JSON).
    async fn send(&self, req: &Req) -> Result<(StatusCode, Value), GatewayError> {
        let endpoint = Self::endpoint_name(req);
        self.inner
            .limiter
            .acquire(EndpointClass::of(&req.method, &req.path))
            .await?;
        let url = format!("{}{}", self.inner.api_base, req.path);
        let mut rb = self.inner.http.request(req.method.clone(), &url);
        if !req.query.is_empty() {
            rb = rb.query(&req.query);
        }
        if req.method == Method::POST || req.method == Method::PUT {
            rb = rb.json(req.body.as_ref().unwrap_or(&json!({})));
        }
        let result = rb.send().await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                let err = self.map_send_error(&e, &endpoint);
                self.note_error(&err);
                return Err(err);
            }
        };
        if let Err(e) = self.inner.jar.save_if_dirty() {
            tracing::warn!(error = %e, "could not save the gateway cookie jar");
        }
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(endpoint = %endpoint, "gateway answered 429: pausing all requests");
            return Err(self.inner.limiter.penalize());
        }
        let to_login = status.is_redirection()
            && resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.contains("/sso/") || l.contains("Login"));
        if status == StatusCode::UNAUTHORIZED || to_login {
            // On `/iserver/*` (except auth/status itself) a 401 also means "SSO session but no
            // brokerage session"; the keeper's auth/status check tells the two apart.
            let err = if status == StatusCode::UNAUTHORIZED
                && req.path.starts_with("/iserver/")
                && req.path != "/iserver/auth/status"
            {
                GatewayError::NoBrokerage {
                    reason: format!("HTTP 401 from {}", req.path),
                }
            } else {
                GatewayError::NoSession {
                    login_url: self.login_url(),
                }
            };
            self.note_error(&err);
            return Err(err);
        }
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                let err = self.map_send_error(&e, &endpoint);
                return Err(err);
            }
        };
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, body))
    }

    /// Maps an `{"error": …}` body or an error status to a typed error.
    fn check_body(
        &self,
        endpoint: &str,
        status: StatusCode,
        body: Value,
    ) -> Result<Value, GatewayError> {
        let error_text = body
            .as_object()
            .and_then(|o| o.get("error"))
            .filter(|e| !e.is_null())
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned));
        if let Some(text) = error_text.clone() {
            let err = classify_error_text(&text, status, endpoint, &self.login_url());
            self.note_error(&err);
            return Err(err);
        }
        if !status.is_success() {
            let message = match &body {
                Value::String(s) => s.chars().take(200).collect(),
                Value::Null => String::new(),
                other => excerpt(other),
            };
            let err = classify_error_text(&message, status, endpoint, &self.login_url());
            self.note_error(&err);
            return Err(err);
        }
        Ok(body)
    }

    /// One request without retries.
    async fn request_once(&self, req: &Req) -> Result<Value, GatewayError> {
        let (status, body) = self.send(req).await?;
        self.check_body(&Self::endpoint_name(req), status, body)
    }

    /// One request with retries for idempotent reads: transient errors back off and retry;
    /// "Please query /accounts first" re-primes once and retries.
    async fn request(&self, req: Req) -> Result<Value, GatewayError> {
        let mut attempt = 0u32;
        let mut reprimed = false;
        loop {
            match self.request_once(&req).await {
                Ok(v) => return Ok(v),
                Err(GatewayError::NotPrimed) if req.retry && !reprimed => {
                    reprimed = true;
                    self.prime().await?;
                }
                Err(e)
                    if req.retry
                        && e.is_retryable()
                        && attempt < self.inner.options.read_retries =>
                {
                    let backoff = self.inner.options.retry_backoff * 2u32.pow(attempt);
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "retrying gateway read");
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Rejects ids that would change the URL path (they come from config and gateway answers).
fn path_segment(s: &str) -> Result<&str, GatewayError> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(s)
    } else {
        Err(GatewayError::Config(format!(
            "`{s}` is not a valid account or order id"
        )))
    }
}

/// Maps gateway error texts (reference §6.2) to typed errors.
fn classify_error_text(
    text: &str,
    status: StatusCode,
    endpoint: &str,
    login_url: &str,
) -> GatewayError {
    let lower = text.to_ascii_lowercase();
    if lower.contains("no session") || lower.contains("not authenticated") {
        GatewayError::NoSession {
            login_url: login_url.to_owned(),
        }
    } else if lower.contains("query /accounts first") || lower.contains("query/accounts first") {
        GatewayError::NotPrimed
    } else if lower.contains("init session first") || lower.contains("no bridge") {
        GatewayError::NoBrokerage {
            reason: text.to_owned(),
        }
    } else {
        GatewayError::Api {
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
            message: text.to_owned(),
        }
    }
}

/// Finds a rustls error inside a reqwest error chain (io::Error hides its inner error from
/// `source()`, so look through `get_ref` too).
fn find_rustls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    find_rustls_in(e)
}

/// Depth-first over `source()` and, for `io::Error`s (which hide their payload from
/// `source()` and are nested twice by hyper-util), over `get_ref()`.
fn find_rustls_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
        && let Some(r) = find_rustls_in(inner)
    {
        return Some(r);
    }
    e.source().and_then(find_rustls_in)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.contains(&t) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

mod answers;
mod auth;
mod login;
mod rules;
mod select;
mod state;
mod stuck;

use auth::parse_iserver_accounts;
pub use login::{Login, LoginOutcome, WaitForHuman};
pub use rules::PriceIncrement;
pub use state::{SessionState, SessionStatus};
mod market;
mod portfolio;
mod trading;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The cycle's broker trait needs `Send` futures: this fails to compile otherwise.
    #[allow(dead_code)]
    fn futures_are_send(c: &GatewayClient, t: &OrderTicket, p: &PromptPolicy, q: &ContractQuery) {
        assert_send(&c.place_order(t, p));
        assert_send(&c.positions("U1"));
        assert_send(&c.snapshot(&[1]));
        assert_send(&c.resolve(q));
        assert_send(&c.ensure_ready());
        assert_send(&c.maintain(&crate::ibkr::WaitForHuman::default()));
        assert_send(&c.live_orders("U1"));
        assert_send(&c.whatif(t));
    }

    #[test]
    fn error_texts() {
        let u = "https://localhost:5000/";
        assert!(classify_error_text("no session", StatusCode::OK, "e", u).is_session_lost());
        assert!(matches!(
            classify_error_text(
                "Please query /accounts first",
                StatusCode::INTERNAL_SERVER_ERROR,
                "e",
                u
            ),
            GatewayError::NotPrimed
        ));
        assert!(matches!(
            classify_error_text("Init session first", StatusCode::BAD_REQUEST, "e", u),
            GatewayError::NoBrokerage { .. }
        ));
        assert!(matches!(
            classify_error_text("invalid conid", StatusCode::BAD_REQUEST, "e", u),
            GatewayError::Api { status: 400, .. }
        ));
    }

    #[test]
    fn path_segments_are_checked() {
        assert!(path_segment("U7654321").is_ok());
        assert!(path_segment("3f6b1c2e-8d0a").is_ok());
        assert!(path_segment("../x").is_err());
        assert!(path_segment("").is_err());
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let at = |url: &str| GatewayClient::new(ClientOptions::new(url, dir.path()));
        assert!(at("http://127.0.0.1:1").is_ok());
        let c = at("http://localhost:5000/v1/api").unwrap();
        assert_eq!(c.login_url(), "http://localhost:5000/");
        let e = at("http://192.168.1.5:5000").unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }
}
