//! `GatewayError`: every way a gateway call can fail, classified so callers can decide
//! between "wait for a login", "back off", "try again" and "stop and tell a human".
//!
//! Messages are written for the person running pbal: each says what to do next.
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the gateway client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration cannot work (bad URL, unreadable CA file, malformed pin …).
    #[error("gateway configuration: {0}")]
    Config(String),

    /// The gateway's certificate was not accepted by the configured trust (`ca_cert`, or none).
    #[error(
        "gateway certificate not trusted: {detail}. Run `pbal cert pin` to trust the \
         certificate the gateway presents, or set gateway.ca_cert to the CA that signed it"
    )]
    TlsUntrusted { detail: String },

    /// `pin_sha256` is set and the gateway presented a different certificate.
    #[error(
        "gateway certificate does not match gateway.pin_sha256: the gateway presented SHA-256 \
         {actual}, the pin is {expected}. If you replaced the gateway's certificate on purpose, \
         run `pbal cert pin` again; otherwise something else is answering on the gateway port"
    )]
    PinMismatch { expected: String, actual: String },

    /// TCP connect failed: the gateway is not running or not listening where configured.
    #[error("gateway unreachable at {url}: {detail}. Is the Client Portal Gateway running?")]
    Unreachable { url: String, detail: String },

    /// The request did not complete within `gateway.request_timeout_secs`.
    #[error("gateway request {endpoint} timed out")]
    Timeout { endpoint: String },

    /// No SSO session at all (HTTP 401, redirect to the login page, `{"error":"no session"}`).
    #[error("no gateway session: log in at {login_url} (the paper account first)")]
    NoSession { login_url: String },

    /// Logged in (SSO) but no brokerage session: `authenticated:false`, `competing:true`,
    /// "Init session first", "no bridge".
    #[error("brokerage session not established: {reason}")]
    NoBrokerage { reason: String },

    /// The gateway needs `/iserver/accounts` called first (after a reset or re-authentication).
    #[error("gateway session not primed (\"Please query /accounts first\")")]
    NotPrimed,

    /// HTTP 429, or we are inside the penalty period that followed one. Nothing is sent.
    #[error(
        "rate limited by the gateway (HTTP 429): pbal sends nothing for another {}s",
        remaining.as_secs()
    )]
    RateLimited { remaining: Duration },

    /// Orders need a Ready session confirmed within `gateway.ready_max_age_secs`.
    #[error("session not ready for orders: {0}")]
    NotReady(String),

    /// The gateway answered with an error status or an `{"error": …}` body.
    #[error("gateway {endpoint} failed (HTTP {status}): {message}")]
    Api {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// The response did not have the expected shape or a number could not be read.
    #[error("unexpected response from {endpoint}: {detail}")]
    Decode { endpoint: String, detail: String },

    /// The cookie jar file could not be read or written.
    #[error("cookie jar {}: {detail}", path.display())]
    CookieJar { path: PathBuf, detail: String },

    /// Account selection failed (none, several without `account.id`, or not found).
    #[error("account: {0}")]
    Account(String),

    /// A symbol did not resolve to exactly one contract.
    #[error("symbol {symbol}: {detail}")]
    Resolve { symbol: String, detail: String },

    /// Any other transport-level failure.
    #[error("gateway request {endpoint} failed: {detail}")]
    Transport { endpoint: String, detail: String },
}

impl GatewayError {
    /// The brokerage or SSO session is gone: stop trading, let the keeper recover
    /// (or wait for a human to log in).
    pub fn is_session_lost(&self) -> bool {
        matches!(
            self,
            GatewayError::NoSession { .. }
                | GatewayError::NoBrokerage { .. }
                | GatewayError::NotPrimed
        )
    }

    /// HTTP 429 or inside the penalty period: do not call again before it ends.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, GatewayError::RateLimited { .. })
    }

    /// A transient failure where the same idempotent read may succeed later (timeouts,
    /// unreachable gateway, 5xx). Never means "resend an order": an order whose POST failed
    /// this way has an unknown fate and goes through cOID reconciliation instead.
    /// Rate limiting is not retryable here: the caller must wait for the penalty to end.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Timeout { .. }
            | GatewayError::Unreachable { .. }
            | GatewayError::Transport { .. }
            | GatewayError::NotPrimed => true,
            GatewayError::Api { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Certificate problems: the user must fix trust (`pbal cert pin` / `gateway.ca_cert`).
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            GatewayError::TlsUntrusted { .. } | GatewayError::PinMismatch { .. }
        )
    }

    pub(crate) fn decode(endpoint: &str, detail: impl Into<String>) -> Self {
        GatewayError::Decode {
            endpoint: endpoint.to_owned(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        let lost = GatewayError::NoSession {
            login_url: "https://localhost:5000".into(),
        };
        assert!(lost.is_session_lost() && !lost.is_retryable() && !lost.is_rate_limited());
        let rl = GatewayError::RateLimited {
            remaining: Duration::from_secs(600),
        };
        assert!(rl.is_rate_limited() && !rl.is_retryable());
        assert!(rl.to_string().contains("600s"));
        let e503 = GatewayError::Api {
            endpoint: "x".into(),
            status: 503,
            message: String::new(),
        };
        assert!(e503.is_retryable());
        let e400 = GatewayError::Api {
            endpoint: "x".into(),
            status: 400,
            message: String::new(),
        };
        assert!(!e400.is_retryable());
        let tls = GatewayError::TlsUntrusted {
            detail: "unknown issuer".into(),
        };
        assert!(tls.is_tls());
        assert!(tls.to_string().contains("pbal cert pin"));
        assert!(tls.to_string().contains("gateway.ca_cert"));
    }
}
