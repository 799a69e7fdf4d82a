//! [`ClientOptions`]: everything the gateway client needs, in the client's own terms.
//!
//! Why its own type: `ibkr` is a leaf. It must not know the config file's layout, so the wiring
//! layer (`crate::adapters`) translates `[gateway]` and friends into these options, and tests
//! build them directly. Durations are `Duration`s, not "seconds as configured".
use std::path::PathBuf;
use std::time::Duration;

/// How to reach and trust the gateway, pacing, and the knobs tests shorten.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL of the gateway, with or without `/v1/api`.
    pub url: String,
    /// PEM file of the CA (or certificate) to trust. Verification stays on.
    pub ca_cert: Option<PathBuf>,
    /// SHA-256 fingerprint (hex, colons allowed) of the exact certificate to trust.
    pub pin_sha256: Option<String>,
    /// Where the cookie jar and the shared pacing state live.
    pub state_dir: PathBuf,
    /// Pass `compete: true` to `ssodh/init` (takes the brokerage session from other logins).
    pub compete: bool,
    /// Whole-request timeout for one HTTP call.
    pub request_timeout: Duration,
    /// Orders require Ready confirmed within this long.
    pub ready_max_age: Duration,
    /// Keep-alive period of the keeper; the gateway's idle timeout is ~5–6 minutes.
    pub tickle_interval: Duration,
    /// Global request rate (the gateway allows 10/s; stay below).
    pub max_requests_per_sec: u32,
    /// After an HTTP 429 every request is refused for this long (IBKR's "penalty box").
    pub rate_limit_penalty: Duration,
    /// Message ids suppressed after every (re)authentication.
    pub suppress: Vec<String>,
    /// The account pbal trades (`account.id`), when configured. For a user with several
    /// accounts it is selected again (`POST /iserver/account`) after every priming: a
    /// re-authentication puts the gateway's selection back on another account, and the
    /// endpoints without an account in the path (trades) then answer for that one.
    pub account: Option<String>,
    /// How long `snapshot` keeps re-asking for conids that have no price yet (pre-flight).
    pub snapshot_max_wait: Duration,
    pub snapshot_retry_every: Duration,
    /// After `ssodh/init`, how many times and how often to poll auth status.
    pub auth_poll_attempts: u32,
    pub auth_poll_every: Duration,
    /// Logout-and-login rounds pbal may spend on one stuck session (own login only).
    pub max_stuck_relogins: u32,
    /// Extra attempts for idempotent reads on transient errors, and the first backoff.
    pub read_retries: u32,
    pub retry_backoff: Duration,
    /// Honour the per-endpoint minimum spacing of reference §6.1 (5 s for live orders …).
    /// Only tests against local doubles turn it off; the global rate always applies.
    pub endpoint_spacing: bool,
}

impl ClientOptions {
    /// The production defaults for a gateway at `url`, keeping state in `state_dir`.
    pub fn new(url: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        ClientOptions {
            url: url.into(),
            ca_cert: None,
            pin_sha256: None,
            state_dir: state_dir.into(),
            compete: true,
            request_timeout: Duration::from_secs(30),
            ready_max_age: Duration::from_secs(10),
            tickle_interval: Duration::from_secs(60),
            max_requests_per_sec: 8,
            rate_limit_penalty: Duration::from_secs(600),
            suppress: Vec::new(),
            account: None,
            snapshot_max_wait: Duration::from_secs(10),
            snapshot_retry_every: Duration::from_millis(750),
            auth_poll_attempts: 20,
            auth_poll_every: Duration::from_secs(1),
            max_stuck_relogins: 2,
            read_retries: 2,
            retry_backoff: Duration::from_millis(500),
            endpoint_spacing: true,
        }
    }

    /// Trust exactly this CA (or certificate) file.
    #[must_use]
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// Trust exactly the certificate with this SHA-256 fingerprint.
    #[must_use]
    pub fn pin_sha256(mut self, pin: impl Into<String>) -> Self {
        self.pin_sha256 = Some(pin.into());
        self
    }
}
