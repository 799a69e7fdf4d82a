//! Flex Web Service v3 client: `SendRequest` (token + query id → reference code), then
//! `GetStatement` polled until the report is ready.
//!
//! Why it looks the way it does (see `reference/ibkr-flex-query.md` §1):
//! - errors come with HTTP 200 as `<Status>Fail|Warn</Status>` plus an `<ErrorCode>`; 1019
//!   ("statement generation in progress") and the load/pacing codes are retried with a
//!   backoff, the token and request codes fail at once with what to do;
//! - `v=3` and a User-Agent are sent on every request (v2 errors have another shape);
//! - pacing: IBKR allows 1 request per second and 10 per minute per token and answers 1018
//!   beyond; the client spaces its own requests by `min_interval`, and after a 1018 waits
//!   `pacing_backoff` (a whole minute by default, so the per-minute window has cleared) instead
//!   of the short poll delay, because retrying inside the window only extends the lockout;
//! - the returned `<Url>` is trimmed and followed only to the configured host or an
//!   `interactivebrokers.com` host, never elsewhere;
//! - the token is a secret: never logged, redacted from HTTP errors (`without_url`), read
//!   from a 0600 file or a systemd credential.
//!
//! TLS trust is the caller's: it passes a ready [`reqwest::Client`].
use std::path::Path;
use std::time::Duration;

use quick_xml::events::Event;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The Flex Web Service token (made in Client Portal; 6 hours by default).
pub struct Token(SecretString);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Token(SecretString::from(token.into()))
    }

    /// Reads the token from a file that only its owner can read (mode 0600 or stricter).
    pub fn from_file(path: &Path) -> Result<Token, FlexServiceError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|e| {
                FlexServiceError::Token(format!("{}: cannot read: {e}", path.display()))
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(FlexServiceError::Token(format!(
                    "{}: mode {mode:o} lets others read the Flex token; run chmod 600 {}",
                    path.display(),
                    path.display()
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            FlexServiceError::Token(format!("{}: cannot read: {e}", path.display()))
        })?;
        let t = text.trim();
        if t.is_empty() {
            return Err(FlexServiceError::Token(format!(
                "{}: the file is empty; paste the Flex Web Service token into it",
                path.display()
            )));
        }
        Ok(Token::new(t))
    }

    /// Reads the systemd credential `name` (`LoadCredential=`/`SetCredentialEncrypted=`) from
    /// `$CREDENTIALS_DIRECTORY`.
    pub fn from_credential(name: &str) -> Result<Token, FlexServiceError> {
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
            FlexServiceError::Token(format!(
                "systemd credential {name}: $CREDENTIALS_DIRECTORY is not set (not run by systemd \
                 with LoadCredential=)"
            ))
        })?;
        Token::from_file(&Path::new(&dir).join(name))
    }

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Why a Flex fetch failed. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlexServiceError {
    #[error("Flex token: {0}")]
    Token(String),
    #[error("Flex Web Service {stage}: HTTP: {message}")]
    Http {
        stage: &'static str,
        message: String,
    },
    #[error("Flex Web Service {stage}: error {code}: {message}{}", advice(*code))]
    Code {
        stage: &'static str,
        code: u32,
        message: String,
    },
    #[error(
        "Flex Web Service: the statement was still being generated after {polls} polls; \
         try again later"
    )]
    StillInProgress { polls: u32 },
    #[error("Flex Web Service {stage}: unexpected answer: {0}", stage = .1)]
    Malformed(String, &'static str),
}

fn advice(code: u32) -> &'static str {
    match code {
        1012 => " (make a new token in Client Portal > Settings > Flex Web Service)",
        1013 => " (the token is locked to other IP addresses)",
        1014..=1016 => " (check the query id and token in the config)",
        1018 => " (too many requests: at most 1 per second and 10 per minute per token)",
        _ => "",
    }
}

impl FlexServiceError {
    /// Codes worth retrying after a delay (load, pacing, not ready yet).
    pub fn is_retryable(&self) -> bool {
        matches!(self, FlexServiceError::Code { code, .. } if retryable(*code))
            || matches!(self, FlexServiceError::StillInProgress { .. })
    }

    /// Codes only a person can fix (token expired or invalid, IP lock, bad query).
    pub fn needs_human(&self) -> bool {
        matches!(
            self,
            FlexServiceError::Code {
                code: 1012..=1016 | 1020,
                ..
            } | FlexServiceError::Token(_)
        )
    }
}

fn retryable(code: u32) -> bool {
    matches!(code, 1001 | 1004..=1009 | 1018 | 1019 | 1021)
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct FlexServiceOptions {
    /// `.../AccountManagement/FlexWebService/` (trailing slash); the simulator's for tests.
    pub base_url: Url,
    pub user_agent: String,
    /// Delays between retries and polls; the last repeats.
    pub delays: Vec<Duration>,
    /// Give up after this many `GetStatement` polls (and this many `SendRequest` retries).
    pub max_polls: u32,
    /// Least time between two requests of this client (IBKR: at most 1 per second).
    pub min_interval: Duration,
    /// Pause after a 1018 "too many requests" before the next request.
    pub pacing_backoff: Duration,
}

impl Default for FlexServiceOptions {
    fn default() -> Self {
        FlexServiceOptions {
            base_url: Url::parse(
                "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/",
            )
            .expect("static URL"),
            user_agent: format!("pbal/{}", env!("CARGO_PKG_VERSION")),
            delays: [2, 3, 5, 10, 15, 30].map(Duration::from_secs).to_vec(),
            max_polls: 20,
            min_interval: Duration::from_millis(1100),
            pacing_backoff: Duration::from_secs(60),
        }
    }
}

/// The parsed `<FlexStatementResponse>`.
#[derive(Debug, Default)]
struct Answer {
    status: String,
    reference: String,
    url: String,
    code: Option<u32>,
    message: String,
}

/// A Flex Web Service client.
pub struct FlexService {
    http: reqwest::Client,
    opts: FlexServiceOptions,
    /// When the last request was sent (for `min_interval`).
    last: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl FlexService {
    pub fn new(http: reqwest::Client, opts: FlexServiceOptions) -> Self {
        FlexService {
            http,
            opts,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The wait before retry `attempt` after `e`: the pacing back-off after a 1018, else the
    /// configured delay.
    fn delay(&self, attempt: u32, e: &FlexServiceError) -> Duration {
        let i = (attempt as usize).min(self.opts.delays.len().saturating_sub(1));
        let d = self.opts.delays.get(i).copied().unwrap_or_default();
        if matches!(e, FlexServiceError::Code { code: 1018, .. }) {
            d.max(self.opts.pacing_backoff)
        } else {
            d
        }
    }

    /// Runs query `query_id` and returns the report (XML or CSV bytes).
    pub async fn fetch(&self, token: &Token, query_id: &str) -> Result<Vec<u8>, FlexServiceError> {
        let send =
            self.opts.base_url.join("SendRequest").map_err(|e| {
                FlexServiceError::Malformed(format!("base URL: {e}"), "SendRequest")
            })?;
        let mut attempt = 0;
        let answer = loop {
            let body = self.get(&send, token, query_id, "SendRequest").await?;
            let a = parse_answer(&body, "SendRequest")?;
            match self.check(a, "SendRequest") {
                Err(e) if e.is_retryable() && attempt + 1 < self.opts.max_polls => {
                    tokio::time::sleep(self.delay(attempt, &e)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        let url = self.statement_url(&answer.url)?;
        for poll in 0..self.opts.max_polls {
            let body = self
                .get(&url, token, &answer.reference, "GetStatement")
                .await?;
            if !is_status_response(&body) {
                return Ok(body);
            }
            let a = parse_answer(&body, "GetStatement")?;
            match self.check(a, "GetStatement") {
                Err(e) if e.is_retryable() => {
                    tracing::debug!(poll, error = %e, "flex: statement not ready");
                    tokio::time::sleep(self.delay(poll, &e)).await;
                }
                Err(e) => return Err(e),
                Ok(_) => {
                    return Err(FlexServiceError::Malformed(
                        "Success without a statement".into(),
                        "GetStatement",
                    ));
                }
            }
        }
        Err(FlexServiceError::StillInProgress {
            polls: self.opts.max_polls,
        })
    }

    fn check(&self, a: Answer, stage: &'static str) -> Result<Answer, FlexServiceError> {
        if a.status.eq_ignore_ascii_case("Success") && a.code.is_none() {
            return Ok(a);
        }
        Err(FlexServiceError::Code {
            stage,
            code: a.code.unwrap_or(0),
            message: a.message,
        })
    }

    /// The returned `<Url>`, trimmed, if it points to the configured host or to IBKR;
    /// otherwise the configured `GetStatement`.
    fn statement_url(&self, returned: &str) -> Result<Url, FlexServiceError> {
        let base_host = self.opts.base_url.host_str().unwrap_or("");
        if let Ok(u) = Url::parse(returned.trim()) {
            let host = u.host_str().unwrap_or("");
            let ibkr =
                host == "interactivebrokers.com" || host.ends_with(".interactivebrokers.com");
            if u.scheme() == "https" && (host == base_host || ibkr) {
                return Ok(u);
            }
        }
        self.opts
            .base_url
            .join("GetStatement")
            .map_err(|e| FlexServiceError::Malformed(format!("base URL: {e}"), "GetStatement"))
    }

    async fn get(
        &self,
        url: &Url,
        token: &Token,
        q: &str,
        stage: &'static str,
    ) -> Result<Vec<u8>, FlexServiceError> {
        let http = |e: reqwest::Error| FlexServiceError::Http {
            stage,
            message: e.without_url().to_string(),
        };
        {
            // Held across the sleep on purpose: concurrent fetches queue, never burst.
            let mut last = self.last.lock().await;
            if let Some(t) = *last {
                tokio::time::sleep_until(t + self.opts.min_interval).await;
            }
            *last = Some(tokio::time::Instant::now());
        }
        let r = self
            .http
            .get(url.clone())
            .header(reqwest::header::USER_AGENT, &self.opts.user_agent)
            .query(&[("t", token.expose()), ("q", q), ("v", "3")])
            .send()
            .await
            .map_err(http)?;
        let status = r.status();
        let body = r.bytes().await.map_err(http)?;
        if !status.is_success() {
            return Err(FlexServiceError::Http {
                stage,
                message: format!("status {status}"),
            });
        }
        Ok(body.to_vec())
    }
}

fn is_status_response(body: &[u8]) -> bool {
    let head = &body[..body.len().min(512)];
    head.windows(b"<FlexStatementResponse".len())
        .any(|w| w == b"<FlexStatementResponse")
}

fn parse_answer(body: &[u8], stage: &'static str) -> Result<Answer, FlexServiceError> {
    if !is_status_response(body) {
        let snippet: String = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        return Err(FlexServiceError::Malformed(
            format!("not a FlexStatementResponse: {snippet:?}"),
            stage,
        ));
    }
    let mut rd = quick_xml::Reader::from_reader(body);
    rd.config_mut().trim_text(true);
    let mut a = Answer::default();
    let mut current = String::new();
    loop {
        match rd.read_event() {
            Ok(Event::Start(e)) => current = e.local_name().into_inner().to_string(),
            Ok(Event::Text(t)) => {
                let text: &str = t.as_ref();
                let text = text.trim().to_string();
                match current.as_str() {
                    "Status" => a.status = text,
                    "ReferenceCode" => a.reference = text,
                    "Url" => a.url = text,
                    "ErrorCode" => a.code = text.parse().ok().or(Some(0)),
                    "ErrorMessage" => a.message = text,
                    _ => {}
                }
            }
            Ok(Event::End(_)) => current.clear(),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(FlexServiceError::Malformed(format!("XML: {e}"), stage));
            }
        }
    }
    Ok(a)
}
