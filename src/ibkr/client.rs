//! `GatewayClient`: one HTTP client, one cookie jar, one rate limiter and one session state
//! shared by every clone (the daemon's keeper, the cycle and one-shot commands).
//!
//! Every request goes through one private `send` function, which paces it, sends a JSON body on
//! every POST (the gateway's Akamai front answers 411 to a body-less POST), maps transport
//! failures to actionable errors, freezes traffic on 429, and moves the session state down when
//! the gateway says the session is gone. Reads are retried with backoff on transient errors;
//! order POSTs never are.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cookies::CookieJar;
use super::error::GatewayError;
use super::orders::{
    OrderReply, OrderTicket, PlaceOutcome, PromptPolicy, classify_order_reply, is_duplicate_coid,
};
use super::rate::{EndpointClass, RateLimiter};
use super::session::{Login, SessionState, SessionStatus};
use super::tls::{self, TrustMode};
use super::types::{
    AccountSummary, AuthStatus, CancelAck, Conid, Contract, ContractQuery, IserverAccounts, Ledger,
    LedgerEntry, LiveOrder, Obj, OrderStatus, PortfolioAccount, Position, Quote, Tickle, Trade,
    WhatIf, excerpt,
};
use crate::config::GatewaySettings;

/// Snapshot fields requested on every call (the pre-flight call must already name them all).
pub const SNAPSHOT_FIELDS: &str = "31,55,84,85,86,88,6509,7296,7741";

/// Pacing shared with later processes (see [`RateLimiter::with_persistence`]).
pub const PACING_FILE: &str = "pacing.json";

/// Knobs that are not user configuration (tests shorten them).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Message ids suppressed after every (re)authentication (`orders.suppress`).
    pub suppress: Vec<String>,
    /// How long `snapshot` keeps re-asking for conids that have no price yet (pre-flight).
    pub snapshot_max_wait: Duration,
    pub snapshot_retry_every: Duration,
    /// After `ssodh/init`, how many times and how often to poll auth status.
    pub auth_poll_attempts: u32,
    pub auth_poll_every: Duration,
    /// Extra attempts for idempotent reads on transient errors, and the first backoff.
    pub read_retries: u32,
    pub retry_backoff: Duration,
    /// Honour the per-endpoint minimum spacing of reference §6.1 (5 s for live orders …).
    /// Only tests against local doubles turn it off; the global rate always applies.
    pub endpoint_spacing: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            suppress: Vec::new(),
            snapshot_max_wait: Duration::from_secs(10),
            snapshot_retry_every: Duration::from_millis(750),
            auth_poll_attempts: 20,
            auth_poll_every: Duration::from_secs(1),
            read_retries: 2,
            retry_backoff: Duration::from_millis(500),
            endpoint_spacing: true,
        }
    }
}

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
    settings: GatewaySettings,
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
    /// Builds the client from `[gateway]` and the state directory (cookie jar). No request is
    /// sent; the state starts as `Down` until the first call.
    ///
    /// # Errors
    /// Bad URL, unusable trust settings, unreadable cookie jar.
    pub fn new(settings: &GatewaySettings, state_dir: &Path) -> Result<Self, GatewayError> {
        Self::with_options(settings, state_dir, ClientOptions::default())
    }

    /// As [`GatewayClient::new`], from the whole settings tree (state dir, suppressed ids).
    ///
    /// # Errors
    /// As [`GatewayClient::new`].
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Self, GatewayError> {
        Self::with_options(
            &settings.gateway,
            &settings.state_dir(),
            ClientOptions {
                suppress: settings.orders.suppress.clone(),
                ..ClientOptions::default()
            },
        )
    }

    /// As [`GatewayClient::new`] with explicit [`ClientOptions`].
    ///
    /// Plain `http://` is accepted only for loopback hosts: the real gateway always serves
    /// HTTPS, and the only plain-HTTP servers pbal meets are local test doubles (wiremock has
    /// no HTTPS). Anything else must be `https://` with verification on.
    ///
    /// # Errors
    /// As [`GatewayClient::new`].
    pub fn with_options(
        settings: &GatewaySettings,
        state_dir: &Path,
        options: ClientOptions,
    ) -> Result<Self, GatewayError> {
        let raw = settings.url.trim().trim_end_matches('/');
        let raw = raw.strip_suffix("/v1/api").unwrap_or(raw);
        let gateway_url = url::Url::parse(raw)
            .map_err(|e| GatewayError::Config(format!("gateway.url `{}`: {e}", settings.url)))?;
        match gateway_url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&gateway_url) => {}
            "http" => {
                return Err(GatewayError::Config(format!(
                    "gateway.url `{}`: plain http:// is only accepted for loopback test servers; \
                     the gateway serves https://",
                    settings.url
                )));
            }
            other => {
                return Err(GatewayError::Config(format!(
                    "gateway.url `{}`: unsupported scheme `{other}`, use https://",
                    settings.url
                )));
            }
        }
        let trust = tls::trust_mode(settings.ca_cert.as_deref(), settings.pin_sha256.as_deref())?;
        let tls_config = tls::client_config(&trust)?;
        let jar = CookieJar::load(state_dir)?;
        let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
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
        let limiter = RateLimiter::new(
            settings.max_requests_per_sec,
            Duration::from_secs(settings.rate_limit_penalty_secs),
        )
        .with_endpoint_spacing(options.endpoint_spacing)
        .with_persistence(state_dir.join(PACING_FILE));
        Ok(GatewayClient {
            inner: Arc::new(Inner {
                http,
                api_base: format!("{}/v1/api", gateway_url.as_str().trim_end_matches('/')),
                gateway_url,
                trust,
                settings: settings.clone(),
                options,
                jar,
                limiter,
                state,
                order_lock: tokio::sync::Mutex::new(()),
                recover_lock: tokio::sync::Mutex::new(()),
                conids: std::sync::Mutex::new(HashMap::new()),
                portfolio_cache: std::sync::Mutex::new(None),
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

    // ------------------------------------------------------------------ session endpoints

    /// `POST /iserver/auth/status`.
    ///
    /// # Errors
    /// Transport errors, `NoSession` (401).
    pub async fn auth_status(&self) -> Result<AuthStatus, GatewayError> {
        let ep = "/iserver/auth/status";
        let v = self.request(Req::post(ep, json!({})).idempotent()).await?;
        AuthStatus::from_json(&v, ep)
    }

    /// `POST /tickle`: keep-alive. `{"error":"no session"}` comes back as `NoSession`.
    ///
    /// # Errors
    /// Transport errors, `NoSession`.
    pub async fn tickle(&self) -> Result<Tickle, GatewayError> {
        let ep = "/tickle";
        let v = self.request_once(&Req::post(ep, json!({}))).await?;
        let o = Obj::new(&v, ep)?;
        let auth = match o.raw("iserver").and_then(|i| i.get("authStatus")) {
            Some(a) if !a.is_null() => Some(AuthStatus::from_json(a, ep)?),
            _ => None,
        };
        Ok(Tickle {
            auth,
            sso_expires_ms: o.int("ssoExpires")?,
        })
    }

    /// `POST /iserver/auth/ssodh/init {"publish":true,"compete":…}`: claims the brokerage
    /// session (with `compete`, from other logins of the same user).
    ///
    /// # Errors
    /// Transport errors, `NoSession`.
    pub async fn ssodh_init(&self, compete: bool) -> Result<AuthStatus, GatewayError> {
        let ep = "/iserver/auth/ssodh/init";
        let v = self
            .request_once(&Req::post(ep, json!({"publish": true, "compete": compete})))
            .await?;
        AuthStatus::from_json(&v, ep)
    }

    /// `POST /iserver/questions/suppress`: pre-answers reply prompts for this brokerage session.
    ///
    /// # Errors
    /// More than 51 ids, transport errors.
    pub async fn suppress_questions(&self, ids: &[String]) -> Result<(), GatewayError> {
        if ids.len() > 51 {
            return Err(GatewayError::Config(format!(
                "orders.suppress has {} ids; the gateway accepts at most 51",
                ids.len()
            )));
        }
        self.request(
            Req::post("/iserver/questions/suppress", json!({ "messageIds": ids })).idempotent(),
        )
        .await
        .map(|_| ())
    }

    /// `GET /iserver/accounts` — also primes the brokerage session.
    ///
    /// # Errors
    /// Transport and session errors.
    pub async fn iserver_accounts(&self) -> Result<IserverAccounts, GatewayError> {
        let ep = "/iserver/accounts";
        let v = self.request_once(&Req::get(ep)).await?;
        parse_iserver_accounts(&v, ep)
    }

    /// `GET /portfolio/accounts` — required before other `/portfolio` calls (1 per 5 s).
    ///
    /// # Errors
    /// Transport and session errors.
    /// An answer younger than the endpoint's spacing is reused instead of waiting for a new one.
    pub async fn portfolio_accounts(&self) -> Result<Vec<PortfolioAccount>, GatewayError> {
        let fresh = self.inner.portfolio_cache.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < EndpointClass::PortfolioAccounts.min_spacing())
                .map(|(_, list)| list.clone())
        });
        if let Some(list) = fresh {
            return Ok(list);
        }
        let v = self.request(Req::get("/portfolio/accounts")).await?;
        self.remember_portfolio(parse_portfolio_accounts(&v)?)
    }

    /// `/portfolio/accounts` without retries or cache (priming must really call it).
    async fn portfolio_accounts_once(&self) -> Result<Vec<PortfolioAccount>, GatewayError> {
        let v = self.request_once(&Req::get("/portfolio/accounts")).await?;
        self.remember_portfolio(parse_portfolio_accounts(&v)?)
    }

    fn remember_portfolio(
        &self,
        list: Vec<PortfolioAccount>,
    ) -> Result<Vec<PortfolioAccount>, GatewayError> {
        if let Ok(mut c) = self.inner.portfolio_cache.lock() {
            *c = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }
}

fn parse_portfolio_accounts(v: &Value) -> Result<Vec<PortfolioAccount>, GatewayError> {
    {
        let ep = "/portfolio/accounts";
        let arr = v.as_array().ok_or_else(|| {
            GatewayError::decode(ep, format!("expected an array, got {}", excerpt(v)))
        })?;
        arr.iter()
            .map(|a| {
                let o = Obj::new(a, ep)?;
                Ok(PortfolioAccount {
                    id: o
                        .str("id")
                        .or_else(|| o.str("accountId"))
                        .ok_or_else(|| GatewayError::decode(ep, "account without `id`"))?,
                    currency: o.str("currency"),
                    account_type: o.str("type"),
                    title: o.str("accountTitle"),
                    trading_type: o.str("tradingType"),
                })
            })
            .collect()
    }
}

impl GatewayClient {
    /// `POST /iserver/account {"acctId":…}`: selects the account for endpoints without an
    /// account in the path (live orders, trades) — needed by multi-account users.
    ///
    /// # Errors
    /// Transport and session errors.
    pub async fn switch_account(&self, account_id: &str) -> Result<(), GatewayError> {
        self.request_once(&Req::post(
            "/iserver/account",
            json!({ "acctId": account_id }),
        ))
        .await
        .map(|_| ())
    }

    /// Chooses the account to trade: `configured` if non-empty (it must be tradable in this
    /// session), otherwise the only account the gateway reports.
    ///
    /// # Errors
    /// [`GatewayError::Account`] when absent, or when several exist and none is configured.
    pub async fn select_account(&self, configured: &str) -> Result<String, GatewayError> {
        let tradable = self.iserver_accounts().await?;
        let portfolio = self.portfolio_accounts().await?;
        let in_portfolio = |id: &str| portfolio.iter().any(|p| p.id == id);
        let configured = configured.trim();
        if !configured.is_empty() {
            if !tradable.accounts.iter().any(|a| a == configured) || !in_portfolio(configured) {
                return Err(GatewayError::Account(format!(
                    "account.id `{configured}` is not available in this gateway session \
                     (the session can trade: {})",
                    list_or_none(&tradable.accounts)
                )));
            }
            if tradable.selected_account.as_deref() != Some(configured)
                && tradable.accounts.len() > 1
            {
                self.switch_account(configured).await?;
            }
            return Ok(configured.to_owned());
        }
        match tradable.accounts.as_slice() {
            [only] if in_portfolio(only) => Ok(only.clone()),
            [] => Err(GatewayError::Account(
                "the gateway session reports no tradable account (competing session? \
                 log out other sessions of this username)"
                    .into(),
            )),
            several => Err(GatewayError::Account(format!(
                "several accounts ({}); set account.id to choose one",
                list_or_none(several)
            ))),
        }
    }

    // ------------------------------------------------------------------ portfolio

    /// All positions of `account_id`: invalidates the gateway's position cache first (it lags
    /// fills), then reads every page until a short page (when `pageSize` is given) or an empty
    /// one. Zero-quantity rows (closed today) are returned as the gateway sends them.
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn positions(&self, account_id: &str) -> Result<Vec<Position>, GatewayError> {
        let acct = path_segment(account_id)?;
        self.request(
            Req::post(format!("/portfolio/{acct}/positions/invalidate"), json!({})).idempotent(),
        )
        .await?;
        let mut out = Vec::new();
        for page in 0..100u32 {
            let ep = format!("/portfolio/{acct}/positions/{page}");
            // Without waitForSecDef the gateway may send rows before their contract part
            // (assetClass, ticker) arrived (OpenAPI; IBind #6).
            let v = self
                .request(Req::get(ep.clone()).query("waitForSecDef", "true"))
                .await?;
            let items = match &v {
                Value::Array(a) => a,
                Value::Null => break,
                other => {
                    return Err(GatewayError::decode(
                        &ep,
                        format!("expected an array, got {}", excerpt(other)),
                    ));
                }
            };
            if items.is_empty() {
                break;
            }
            // Page sizes differ between gateway versions (30, 100): stop on a short page only
            // when the gateway says how long a page is, otherwise on the first empty page.
            let page_size = items
                .first()
                .and_then(|f| f.get("pageSize"))
                .and_then(Value::as_u64);
            for it in items {
                out.push(Position::from_json(it, &ep)?);
            }
            if page_size.is_some_and(|n| (items.len() as u64) < n) {
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// Cash per currency (`/portfolio/{acct}/ledger`).
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn ledger(&self, account_id: &str) -> Result<Ledger, GatewayError> {
        let acct = path_segment(account_id)?;
        let ep = format!("/portfolio/{acct}/ledger");
        let v = self.request(Req::get(ep.clone())).await?;
        let map = v.as_object().ok_or_else(|| {
            GatewayError::decode(&ep, format!("expected an object, got {}", excerpt(&v)))
        })?;
        let mut by_currency = BTreeMap::new();
        for (ccy, entry) in map {
            let o = Obj::new(entry, &ep)?;
            by_currency.insert(
                ccy.clone(),
                LedgerEntry {
                    currency: o.str("currency").unwrap_or_else(|| ccy.clone()),
                    cash_balance: o
                        .req_dec("cashbalance")
                        .map_err(|e| GatewayError::decode(&ep, format!("currency {ccy}: {e}")))?,
                    settled_cash: o.dec("settledcash")?,
                    net_liquidation_value: o.dec("netliquidationvalue")?,
                    exchange_rate: o.dec("exchangerate")?,
                },
            );
        }
        Ok(Ledger { by_currency })
    }

    /// Net liquidation and cash totals (`/portfolio/{acct}/summary`).
    ///
    /// # Errors
    /// Transport, session and decode errors (a missing net liquidation is an error).
    pub async fn summary(&self, account_id: &str) -> Result<AccountSummary, GatewayError> {
        let acct = path_segment(account_id)?;
        let ep = format!("/portfolio/{acct}/summary");
        let v = self.request(Req::get(ep.clone())).await?;
        let o = Obj::new(&v, &ep)?;
        let amount = |k: &str| -> Result<Option<rust_decimal::Decimal>, GatewayError> {
            match o.raw(k) {
                Some(x) if x.get("isNull").and_then(Value::as_bool) == Some(true) => Ok(None),
                Some(x) => Obj::new(x, &ep)?.dec("amount"),
                None => Ok(None),
            }
        };
        let net = amount("netliquidation")?.ok_or_else(|| {
            GatewayError::decode(&ep, "no `netliquidation.amount` in the account summary")
        })?;
        Ok(AccountSummary {
            net_liquidation: net,
            currency: o
                .raw("netliquidation")
                .and_then(|x| x.get("currency"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            total_cash: amount("totalcashvalue")?,
            available_funds: amount("availablefunds")?,
        })
    }

    // ------------------------------------------------------------------ contracts & prices

    /// Resolves a symbol to exactly one contract (cached for the client's life).
    ///
    /// Stocks/ETFs use `/trsrv/stocks` (works without a brokerage session): the listing on
    /// `exchange` if given, else the US listing when the currency is USD. Other security types
    /// (`FUND`, `BOND`, …) use `/iserver/secdef/search`. Ambiguity is an error that says which
    /// override to set — guessing a contract would trade the wrong instrument.
    ///
    /// # Errors
    /// [`GatewayError::Resolve`] when nothing or several contracts match.
    pub async fn resolve(&self, q: &ContractQuery) -> Result<Contract, GatewayError> {
        if let Some(c) = self
            .inner
            .conids
            .lock()
            .ok()
            .and_then(|m| m.get(q).cloned())
        {
            return Ok(c);
        }
        let c = self.resolve_uncached(q).await?;
        if let Ok(mut m) = self.inner.conids.lock() {
            m.insert(q.clone(), c.clone());
        }
        Ok(c)
    }

    /// The contract behind a conid (`/iserver/contract/{conid}/info`): what a position row
    /// that arrived without its contract part is.
    ///
    /// # Errors
    /// Transport, session and decode errors; [`GatewayError::Resolve`] when the answer names
    /// no symbol or type.
    pub async fn contract_by_conid(&self, conid: Conid) -> Result<Contract, GatewayError> {
        let ep = format!("/iserver/contract/{conid}/info");
        let v = self.request(Req::get(ep.clone()).idempotent()).await?;
        let o = Obj::new(&v, &ep)?;
        let symbol = o.str("symbol").filter(|s| !s.is_empty());
        let sec_type = o.str("instrument_type").filter(|s| !s.is_empty());
        let (Some(symbol), Some(sec_type)) = (symbol, sec_type) else {
            return Err(GatewayError::Resolve {
                symbol: format!("conid {conid}"),
                detail: "the gateway's contract info has no symbol or instrument type".into(),
            });
        };
        Ok(Contract {
            conid,
            symbol,
            sec_type,
            exchange: o.str("exchange"),
            currency: o.str("currency"),
            name: o.str("company_name"),
        })
    }

    async fn resolve_uncached(&self, q: &ContractQuery) -> Result<Contract, GatewayError> {
        let fail = |detail: String| GatewayError::Resolve {
            symbol: q.symbol.clone(),
            detail,
        };
        if let Some(conid) = q.conid {
            return Ok(Contract {
                conid,
                symbol: q.symbol.clone(),
                sec_type: q.sec_type.clone(),
                exchange: q.exchange.clone(),
                currency: Some(q.currency.clone()),
                name: None,
            });
        }
        if q.symbol.is_empty() {
            return Err(fail("empty symbol".into()));
        }
        let hint = format!(
            "set [portfolio.contracts.{}] exchange = \"…\" or conid = … to choose",
            q.symbol
        );
        if q.sec_type == "STK" {
            let ep = "/trsrv/stocks";
            let v = self
                .request(Req::get(ep).query("symbols", q.symbol.clone()))
                .await?;
            let entries = v
                .get(&q.symbol)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut cands: Vec<Contract> = Vec::new();
            for e in &entries {
                let name = e.get("name").and_then(Value::as_str).map(str::to_owned);
                for c in e
                    .get("contracts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let o = Obj::new(c, ep)?;
                    let exchange = o.str("exchange");
                    let is_us = o.bool("isUS").unwrap_or(false);
                    let keep = match &q.exchange {
                        Some(x) => exchange
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(x)),
                        None if q.currency == "USD" => is_us,
                        None => {
                            return Err(fail(format!(
                                "currency {} needs an explicit exchange; {hint}",
                                q.currency
                            )));
                        }
                    };
                    if keep {
                        let conid = o.req_int("conid")?;
                        if !cands.iter().any(|k| k.conid == conid) {
                            cands.push(Contract {
                                conid,
                                symbol: q.symbol.clone(),
                                sec_type: "STK".into(),
                                exchange,
                                currency: Some(q.currency.clone()),
                                name: name.clone(),
                            });
                        }
                    }
                }
            }
            return pick_one(cands, &fail, &hint);
        }
        let ep = "/iserver/secdef/search";
        let mut req = Req::get(ep).query("symbol", q.symbol.clone());
        if q.sec_type == "FUND" {
            req = req.query("fund", "true");
        } else {
            req = req.query("secType", q.sec_type.clone());
        }
        let v = self.request(req).await?;
        let arr = v.as_array().cloned().unwrap_or_default();
        let mut cands: Vec<Contract> = Vec::new();
        for item in &arr {
            let o = Obj::new(item, ep)?;
            if !o
                .str("symbol")
                .is_some_and(|s| s.eq_ignore_ascii_case(&q.symbol))
            {
                continue;
            }
            let exchange = o.str("description");
            if let Some(x) = &q.exchange
                && !exchange
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(x))
            {
                continue;
            }
            let Some(conid) = o.int("conid")? else {
                continue;
            };
            if !cands.iter().any(|k| k.conid == conid) {
                cands.push(Contract {
                    conid,
                    symbol: q.symbol.clone(),
                    sec_type: q.sec_type.clone(),
                    exchange,
                    currency: Some(q.currency.clone()),
                    name: o.str("companyName"),
                });
            }
        }
        pick_one(cands, &fail, &hint)
    }

    /// Market-data snapshot for many conids. The gateway answers the first request for a conid
    /// with no data (pre-flight); conids without a price are asked again every
    /// `snapshot_retry_every` until `snapshot_max_wait`. Quotes still without a price come back
    /// with [`Quote::is_missing`] true; delayed data is flagged by [`Quote::availability`].
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn snapshot(&self, conids: &[Conid]) -> Result<Vec<Quote>, GatewayError> {
        let ep = "/iserver/marketdata/snapshot";
        let mut got: HashMap<Conid, Quote> = HashMap::new();
        let deadline = Instant::now() + self.inner.options.snapshot_max_wait;
        let mut pending: Vec<Conid> = conids.to_vec();
        pending.sort_unstable();
        pending.dedup();
        loop {
            for chunk in pending.chunks(100) {
                let list = chunk
                    .iter()
                    .map(Conid::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let v = self
                    .request(
                        Req::get(ep)
                            .query("conids", list)
                            .query("fields", SNAPSHOT_FIELDS),
                    )
                    .await?;
                for item in v.as_array().into_iter().flatten() {
                    let q = Quote::from_json(item, ep)?;
                    got.insert(q.conid, q);
                }
            }
            pending.retain(|c| !got.get(c).is_some_and(Quote::has_price));
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(self.inner.options.snapshot_retry_every).await;
        }
        Ok(conids
            .iter()
            .map(|c| {
                got.get(c).cloned().unwrap_or(Quote {
                    conid: *c,
                    symbol: None,
                    last: None,
                    last_is_prior_close: false,
                    halted: false,
                    bid: None,
                    ask: None,
                    bid_size: None,
                    ask_size: None,
                    close: None,
                    availability: super::types::Availability::Unknown,
                    updated_ms: None,
                })
            })
            .collect())
    }

    // ------------------------------------------------------------------ orders

    /// Previews an order (`…/orders/whatif`); nothing is placed.
    ///
    /// # Errors
    /// Invalid ticket, transport, session and gateway errors.
    pub async fn whatif(&self, ticket: &OrderTicket) -> Result<WhatIf, GatewayError> {
        let acct = path_segment(&ticket.account_id)?;
        let ep = format!("/iserver/account/{acct}/orders/whatif");
        let req = Req::post(ep.clone(), ticket.body()?).idempotent();
        let (status, body) = self.send(&req).await?;
        // A preview that IBKR refuses still has its amounts and an `error` text worth showing.
        if status.is_success() && body.get("amount").is_some() {
            return WhatIf::from_json(&body, &ep);
        }
        let v = self.check_body(&ep, status, body)?;
        WhatIf::from_json(&v, &ep)
    }

    /// Places one order and runs the reply conversation under `policy`. One order at a time;
    /// refused unless the session was confirmed Ready within `ready_max_age_secs` (re-confirmed
    /// here if older). Never retried: anything that leaves the order's fate open is
    /// [`PlaceOutcome::Unknown`].
    ///
    /// # Errors
    /// Only when the order certainly was not placed: invalid ticket, session not Ready,
    /// gateway unreachable, rate-limit penalty, no session.
    pub async fn place_order(
        &self,
        ticket: &OrderTicket,
        policy: &PromptPolicy,
    ) -> Result<PlaceOutcome, GatewayError> {
        let body = ticket.body()?;
        let acct = path_segment(&ticket.account_id)?;
        let _one_at_a_time = self.inner.order_lock.lock().await;
        self.confirm_ready_for_orders().await?;
        let ep = format!("/iserver/account/{acct}/orders");
        let mut reply = match self.order_step(&Req::post(ep, body)).await? {
            Step::Reply(r) => r,
            Step::Unknown(detail) => return Ok(PlaceOutcome::Unknown { detail }),
        };
        let mut rounds = 0u32;
        loop {
            match reply {
                OrderReply::Submitted { order_id, status } => {
                    tracing::info!(coid = %ticket.coid, order_id = %order_id, status = %status, "order submitted");
                    return Ok(PlaceOutcome::Submitted { order_id, status });
                }
                OrderReply::Error(message) => {
                    if is_duplicate_coid(&message) {
                        return Ok(PlaceOutcome::DuplicateCoid { message });
                    }
                    let lower = message.to_ascii_lowercase();
                    if lower.contains("query /accounts first")
                        || lower.contains("no session")
                        || lower.contains("init session first")
                    {
                        let err = classify_error_text(
                            &message,
                            StatusCode::OK,
                            "order",
                            &self.login_url(),
                        );
                        self.note_error(&err);
                        return Err(err);
                    }
                    return Ok(PlaceOutcome::Rejected { message });
                }
                OrderReply::Prompt(prompt) => {
                    rounds += 1;
                    let allowed = policy.allows(&prompt)
                        && !prompt.reply_id.is_empty()
                        && rounds <= policy.max_rounds.max(1);
                    if !allowed {
                        if !prompt.reply_id.is_empty() {
                            let decline = Req::post(
                                format!("/iserver/reply/{}", path_segment(&prompt.reply_id)?),
                                json!({"confirmed": false}),
                            );
                            if let Err(e) = self.send(&decline).await {
                                tracing::warn!(error = %e, "declining a reply prompt failed; the order was not confirmed either way");
                            }
                        }
                        tracing::warn!(coid = %ticket.coid, prompt = %prompt, "order refused: prompt not on orders.prompt_allowlist");
                        return Ok(PlaceOutcome::Refused { prompt });
                    }
                    tracing::info!(coid = %ticket.coid, prompt = %prompt, "confirming allow-listed prompt");
                    let confirm = Req::post(
                        format!("/iserver/reply/{}", path_segment(&prompt.reply_id)?),
                        json!({"confirmed": true}),
                    );
                    reply = match self.order_step(&confirm).await {
                        Ok(Step::Reply(r)) => r,
                        Ok(Step::Unknown(detail)) => return Ok(PlaceOutcome::Unknown { detail }),
                        // The order POST was accepted; a failure now leaves its fate open.
                        Err(e) => {
                            return Ok(PlaceOutcome::Unknown {
                                detail: e.to_string(),
                            });
                        }
                    };
                }
            }
        }
    }

    /// One POST of the order conversation. `Err` only when the request certainly did not
    /// reach IBKR (not sent, or refused by the gateway's own auth).
    async fn order_step(&self, req: &Req) -> Result<Step, GatewayError> {
        if let Some(remaining) = self.inner.limiter.frozen_for() {
            // Inside a 429 penalty: nothing is sent, so the order certainly does not exist.
            return Err(GatewayError::RateLimited { remaining });
        }
        match self.send(req).await {
            Ok((status, body)) => {
                if status.is_server_error() {
                    return Ok(Step::Unknown(format!(
                        "HTTP {} from {}: the order may or may not exist; reconcile by cOID",
                        status.as_u16(),
                        req.path
                    )));
                }
                match classify_order_reply(&body) {
                    Ok(r) => Ok(Step::Reply(r)),
                    Err(e) if status.is_success() => Ok(Step::Unknown(e)),
                    Err(_) => Ok(Step::Reply(OrderReply::Error(match &body {
                        Value::String(s) => s.clone(),
                        other => format!("HTTP {}: {}", status.as_u16(), excerpt(other)),
                    }))),
                }
            }
            // A 429 answer (or a penalty that began while we waited for a slot): most likely
            // not placed, but the caller reconciles by cOID rather than trusting that.
            Err(e @ GatewayError::RateLimited { .. }) => Ok(Step::Unknown(format!(
                "{e}; the order may or may not exist; reconcile by cOID"
            ))),
            Err(
                e @ (GatewayError::Timeout { .. }
                | GatewayError::Transport { .. }
                | GatewayError::Decode { .. }),
            ) => Ok(Step::Unknown(format!(
                "{e}; the order may or may not exist; reconcile by cOID"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Live orders of `account_id` (working ones plus those finished in this brokerage
    /// session). Quirks handled: always passes `accountId` (omitting it gives false-empty
    /// lists), never `force=true` (returns `[]` by design), asks a second time when the first
    /// answer is empty (the first call after authentication is often empty), and filters by
    /// account client-side. The gateway allows one call per 5 s; the limiter spaces them.
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn live_orders(&self, account_id: &str) -> Result<Vec<LiveOrder>, GatewayError> {
        let ep = "/iserver/account/orders";
        let mut list = Vec::new();
        for attempt in 0..2 {
            let v = self
                .request(Req::get(ep).query("accountId", account_id.to_owned()))
                .await?;
            let orders = match &v {
                Value::Object(o) => o.get("orders").cloned().unwrap_or(Value::Array(vec![])),
                Value::Array(_) => v.clone(),
                Value::Null => Value::Array(vec![]),
                other => {
                    return Err(GatewayError::decode(
                        ep,
                        format!("unexpected {}", excerpt(other)),
                    ));
                }
            };
            list = orders
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| LiveOrder::from_json(o, ep))
                .collect::<Result<Vec<_>, _>>()?;
            if !list.is_empty() || attempt == 1 {
                break;
            }
        }
        list.retain(|o| o.account.is_empty() || o.account == account_id);
        Ok(list)
    }

    /// Status of one order of this brokerage session.
    ///
    /// # Errors
    /// Transport, session and decode errors (older orders: the gateway answers 503).
    pub async fn order_status(&self, order_id: &str) -> Result<OrderStatus, GatewayError> {
        let ep = format!("/iserver/account/order/status/{}", path_segment(order_id)?);
        let v = self.request(Req::get(ep.clone())).await?;
        OrderStatus::from_json(&v, &ep)
    }

    /// Executions of the last `days` days (1–7), for reconciliation by `order_ref` (= cOID).
    ///
    /// # Errors
    /// `days` outside 1–7, transport, session and decode errors.
    pub async fn trades(&self, days: u32) -> Result<Vec<Trade>, GatewayError> {
        if !(1..=7).contains(&days) {
            return Err(GatewayError::Config(format!(
                "trades: days must be 1..=7, got {days}"
            )));
        }
        let ep = "/iserver/account/trades";
        let v = self
            .request(Req::get(ep).query("days", days.to_string()))
            .await?;
        v.as_array()
            .into_iter()
            .flatten()
            .map(|t| Trade::from_json(t, ep))
            .collect()
    }

    /// Requests cancellation (`DELETE …/order/{id}`); poll live orders until `Cancelled`.
    ///
    /// # Errors
    /// Unknown order, transport and session errors. Not retried.
    pub async fn cancel_order(
        &self,
        account_id: &str,
        order_id: &str,
    ) -> Result<CancelAck, GatewayError> {
        let ep = format!(
            "/iserver/account/{}/order/{}",
            path_segment(account_id)?,
            path_segment(order_id)?
        );
        let req = Req {
            method: Method::DELETE,
            path: ep.clone(),
            query: Vec::new(),
            body: None,
            retry: false,
        };
        let v = self.request_once(&req).await?;
        let o = Obj::new(&v, &ep)?;
        Ok(CancelAck {
            order_id: o.int("order_id")?,
            message: o.str("msg").unwrap_or_default(),
        })
    }

    // ------------------------------------------------------------------ state machine

    /// Primes the brokerage session: `/iserver/accounts`, `/portfolio/accounts`, question
    /// suppression. Sets `Ready`.
    ///
    /// # Errors
    /// Any failing step (the state stays below Ready).
    pub async fn prime(&self) -> Result<IserverAccounts, GatewayError> {
        let accounts = self.iserver_accounts().await?;
        if accounts.accounts.is_empty() {
            let err = GatewayError::NoBrokerage {
                reason: "/iserver/accounts lists no account (competing session?)".into(),
            };
            self.note_error(&err);
            return Err(err);
        }
        self.portfolio_accounts_once().await?;
        let ids = &self.inner.options.suppress;
        if !ids.is_empty() {
            if ids.len() > 51 {
                return Err(GatewayError::Config(format!(
                    "orders.suppress has {} ids; the gateway accepts at most 51",
                    ids.len()
                )));
            }
            self.request_once(&Req::post(
                "/iserver/questions/suppress",
                json!({ "messageIds": ids }),
            ))
            .await?;
        }
        self.set_state(SessionState::Ready, "primed");
        let list = accounts.accounts.clone();
        self.inner.state.send_modify(|s| s.accounts = list);
        Ok(accounts)
    }

    /// One pass up the state machine from whatever the gateway reports: auth status →
    /// (no session: ask `login`) → ssodh/init + poll when only SSO → prime → Ready.
    ///
    /// # Errors
    /// The error that stopped the climb (the state says where).
    pub async fn recover(&self, login: &dyn Login) -> Result<SessionStatus, GatewayError> {
        let _one = self.inner.recover_lock.lock().await;
        let status = match self.auth_status().await {
            Ok(s) => s,
            Err(e @ GatewayError::NoSession { .. }) => {
                self.set_state(
                    SessionState::NoSession,
                    "nobody is logged in to the gateway",
                );
                match login.login(self).await {
                    Ok(super::session::LoginOutcome::Attempted) => self.auth_status().await?,
                    Ok(super::session::LoginOutcome::WaitingForHuman) => return Err(e),
                    Err(le) => return Err(le),
                }
            }
            Err(e) => return Err(e),
        };
        if !status.healthy() {
            self.set_state(SessionState::SsoOnly, status.reason());
            let mut current = self.ssodh_init(self.inner.settings.compete).await?;
            let mut polls = 0;
            while !current.healthy() && polls < self.inner.options.auth_poll_attempts {
                tokio::time::sleep(self.inner.options.auth_poll_every).await;
                current = self.auth_status().await?;
                polls += 1;
            }
            if !current.healthy() {
                let err = GatewayError::NoBrokerage {
                    reason: current.reason(),
                };
                self.set_state(SessionState::SsoOnly, current.reason());
                return Err(err);
            }
        }
        if self.status().state < SessionState::Brokerage {
            self.set_state(SessionState::Brokerage, "brokerage session established");
        }
        self.prime().await?;
        Ok(self.status())
    }

    /// For one-shot commands: brings the session to Ready (once, without waiting for a login).
    ///
    /// # Errors
    /// Why the session is not Ready.
    pub async fn ensure_ready(&self) -> Result<SessionStatus, GatewayError> {
        let s = self.status();
        if s.ready_within(Duration::from_secs(self.inner.settings.ready_max_age_secs)) {
            return Ok(s);
        }
        self.recover(&super::session::WaitForHuman::default()).await
    }

    /// The keeper's step: tickle while Ready (confirming it), otherwise recover.
    ///
    /// # Errors
    /// The error of the failed step (the keeper logs it and tries again later).
    pub async fn maintain(&self, login: &dyn Login) -> Result<(), GatewayError> {
        if self.status().state == SessionState::Ready {
            match self.tickle().await {
                Ok(t) => match t.auth {
                    Some(a) if !a.healthy() => {
                        self.set_state(SessionState::SsoOnly, a.reason());
                    }
                    _ => {
                        self.inner
                            .state
                            .send_modify(|s| s.confirmed_at = Some(Instant::now()));
                        return Ok(());
                    }
                },
                Err(e) if e.is_rate_limited() => return Err(e),
                Err(e) if e.is_session_lost() => {}
                Err(e) => return Err(e),
            }
        }
        self.recover(login).await.map(|_| ())
    }

    /// Makes sure an order may be sent now: Ready confirmed within `ready_max_age_secs`,
    /// re-confirming with `auth/status` (and re-priming if needed) when older.
    ///
    /// # Errors
    /// [`GatewayError::NotReady`] (or the transport error) when the session is not usable.
    pub async fn confirm_ready_for_orders(&self) -> Result<(), GatewayError> {
        let max_age = Duration::from_secs(self.inner.settings.ready_max_age_secs);
        if self.status().ready_within(max_age) {
            return Ok(());
        }
        let status = self.auth_status().await?;
        if !status.healthy() {
            self.set_state(SessionState::SsoOnly, status.reason());
            return Err(GatewayError::NotReady(status.reason()));
        }
        if self.status().state == SessionState::Ready {
            self.inner
                .state
                .send_modify(|s| s.confirmed_at = Some(Instant::now()));
        } else {
            self.prime()
                .await
                .map_err(|e| GatewayError::NotReady(format!("priming failed: {e}")))?;
        }
        Ok(())
    }
}

enum Step {
    Reply(OrderReply),
    Unknown(String),
}

fn parse_iserver_accounts(v: &Value, ep: &str) -> Result<IserverAccounts, GatewayError> {
    let o = Obj::new(v, ep)?;
    let accounts: Vec<String> = o
        .raw("accounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut props = BTreeMap::new();
    if let Some(Value::Object(m)) = o.raw("acctProps") {
        for (k, p) in m {
            let po = Obj::new(p, ep)?;
            props.insert(
                k.clone(),
                super::types::AccountProps {
                    supports_cash_qty: po.bool("supportsCashQty").unwrap_or(false),
                    supports_fractions: po.bool("supportsFractions").unwrap_or(false),
                },
            );
        }
    }
    Ok(IserverAccounts {
        accounts,
        props,
        selected_account: o.str("selectedAccount"),
        is_paper: o.bool("isPaper"),
    })
}

fn pick_one(
    mut cands: Vec<Contract>,
    fail: &dyn Fn(String) -> GatewayError,
    hint: &str,
) -> Result<Contract, GatewayError> {
    match cands.len() {
        1 => Ok(cands.remove(0)),
        0 => Err(fail(format!("no matching contract; {hint}"))),
        _ => Err(fail(format!(
            "ambiguous: {}; {hint}",
            cands
                .iter()
                .map(|c| format!(
                    "conid {} on {} ({})",
                    c.conid,
                    c.exchange.as_deref().unwrap_or("?"),
                    c.name.as_deref().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
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
        assert_send(&c.maintain(&super::super::session::WaitForHuman::default()));
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
        let mut g = crate::config::Settings::load_from(None, Vec::<(String, String)>::new())
            .unwrap()
            .gateway;
        g.url = "http://127.0.0.1:1".into();
        assert!(GatewayClient::new(&g, dir.path()).is_ok());
        g.url = "http://localhost:5000/v1/api".into();
        let c = GatewayClient::new(&g, dir.path()).unwrap();
        assert_eq!(c.login_url(), "http://localhost:5000/");
        g.url = "http://192.168.1.5:5000".into();
        let e = GatewayClient::new(&g, dir.path()).unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }
}
