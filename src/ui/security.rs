//! Who may use the approval page, and how a request proves it.
//!
//! The page can place orders, so every request is checked in this order, each refusal with its
//! own status and reason:
//! 1. `Host` names a loopback host (`127.0.0.1`, `localhost`, `[::1]`, any port — an SSH tunnel
//!    may forward another local port). A DNS-rebinding page at `evil.example` resolving to
//!    127.0.0.1 sends `Host: evil.example` and is refused.
//! 2. `Origin`, when sent, is `http://` + that same `Host`; a POST must send it (browsers always
//!    do for form posts). This stops a cross-site form from posting to the page.
//! 3. The per-install token (32 random bytes, hex, in `ui-token` in the state dir, mode 0600)
//!    is in the query (`?token=`) or, for a POST, in the form body. Compared in constant time.
//!    It travels in URLs, never in cookies: browsers share cookies across every port of
//!    127.0.0.1, so another local server could receive a cookie; `Referrer-Policy: same-origin`
//!    keeps the URL from leaking to other sites. (Not `no-referrer`: under that policy browsers
//!    send `Origin: null` on form posts, and the Origin check could no longer tell the page's own
//!    form from a foreign one — the browser test found this.)
//! 4. Approve/Reject additionally need a one-time CSRF value bound to the plan id and the
//!    action, issued when the page with the form was rendered ([`CsrfStore`]).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Name of the token file in the state dir.
pub const TOKEN_FILE: &str = "ui-token";

/// How long a rendered form stays usable.
pub const CSRF_TTL_MINUTES: i64 = 60;

/// At most this many outstanding CSRF values; the oldest are dropped first (a page reloaded
/// in a loop must not grow memory without bound).
const CSRF_MAX: usize = 1024;

/// Problems with the token file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("ui token {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "ui token {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}` \
         or delete it to get a new one"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("ui token {path} is malformed; delete it to get a new one")]
    Malformed { path: PathBuf },
}

/// Reads the per-install token from `state_dir`, creating it (0600) on first use.
///
/// # Errors
/// [`TokenError::Exposed`] when the file is readable by others: a leaked token would let any
/// local user approve orders, so pbal refuses to serve rather than widen the exposure.
pub fn load_or_create_token(state_dir: &Path) -> Result<String, TokenError> {
    let path = state_dir.join(TOKEN_FILE);
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::metadata(&path) {
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(TokenError::Exposed { path, mode });
            }
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let token = text.trim().to_owned();
            if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(TokenError::Malformed { path });
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(state_dir).map_err(io)?;
            let token = random_hex();
            crate::util::atomic_write_private(&path, token.as_bytes()).map_err(io)?;
            Ok(token)
        }
        Err(e) => Err(io(e)),
    }
}

/// 32 random bytes as hex (256 bits: not guessable, not brute-forceable over HTTP).
fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request was refused. The message is shown to the user as is; it never echoes the
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Host header missing or not a loopback name; open the page as http://127.0.0.1:PORT/")]
    ForeignHost,
    #[error("Origin does not match the page's own origin")]
    ForeignOrigin,
    #[error("Origin header missing on a POST")]
    MissingOrigin,
    #[error("no access token; use the link printed by `pbal ui` or sent in the alert")]
    NoToken,
    #[error("wrong access token; use the link printed by `pbal ui` or sent in the alert")]
    WrongToken,
    #[error("this form was already used or has expired; reload the page and try again")]
    BadCsrf,
    #[error("kill switch engaged: {0}")]
    KillSwitch(String),
    #[error("staged plan {id} is {state}, not pending")]
    NotPending { id: String, state: String },
}

impl Refusal {
    /// The HTTP status: 400 for a malformed request, 401 for a missing or wrong token, 403 for
    /// the rest, 409 when the plan is no longer pending.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Refusal::ForeignHost => StatusCode::BAD_REQUEST,
            Refusal::NoToken | Refusal::WrongToken => StatusCode::UNAUTHORIZED,
            Refusal::NotPending { .. } => StatusCode::CONFLICT,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// The host part of a `Host` header value (`[::1]:8421` → `[::1]`, `localhost` → `localhost`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Step 1: the `Host` header names loopback.
pub fn check_host(host: Option<&str>) -> Result<&str, Refusal> {
    let host = host.ok_or(Refusal::ForeignHost)?;
    match host_name(host).to_ascii_lowercase().as_str() {
        "127.0.0.1" | "localhost" | "[::1]" => Ok(host),
        _ => Err(Refusal::ForeignHost),
    }
}

/// Step 2: `Origin` (if any; required for POST) equals `http://{host}`.
pub fn check_origin(host: &str, origin: Option<&str>, is_post: bool) -> Result<(), Refusal> {
    match origin {
        None if is_post => Err(Refusal::MissingOrigin),
        None => Ok(()),
        Some(o) if o.eq_ignore_ascii_case(&format!("http://{host}")) => Ok(()),
        Some(_) => Err(Refusal::ForeignOrigin),
    }
}

/// Step 3: the presented token equals the install's token.
pub fn check_token(expected: &str, presented: Option<&str>) -> Result<(), Refusal> {
    match presented {
        None | Some("") => Err(Refusal::NoToken),
        Some(t) if constant_time_eq(t, expected) => Ok(()),
        Some(_) => Err(Refusal::WrongToken),
    }
}

/// What a CSRF value authorises: one action on one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    plan_id: String,
    action: String,
    issued: DateTime<Utc>,
}

/// One-time CSRF values, in memory: a restart invalidates every rendered form, which is the
/// safe direction.
#[derive(Debug, Default)]
pub struct CsrfStore {
    grants: Mutex<HashMap<String, Grant>>,
}

impl CsrfStore {
    /// Issues a value for `action` (`approve` or `reject`) on `plan_id`.
    pub fn issue(&self, plan_id: &str, action: &str, now: DateTime<Utc>) -> String {
        let value = random_hex();
        let mut g = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|_, v| now - v.issued < Duration::minutes(CSRF_TTL_MINUTES));
        while g.len() >= CSRF_MAX {
            let Some(oldest) = g
                .iter()
                .min_by_key(|(_, v)| v.issued)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            g.remove(&oldest);
        }
        g.insert(
            value.clone(),
            Grant {
                plan_id: plan_id.to_owned(),
                action: action.to_owned(),
                issued: now,
            },
        );
        value
    }

    /// Consumes `value`: valid once, for the plan and action it was issued for, within the TTL.
    /// A value presented for another plan is consumed too (it was exposed to misuse).
    pub fn consume(
        &self,
        value: &str,
        plan_id: &str,
        action: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let mut g = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        match g.remove(value) {
            Some(grant)
                if grant.plan_id == plan_id
                    && grant.action == action
                    && now - grant.issued < Duration::minutes(CSRF_TTL_MINUTES) =>
            {
                Ok(())
            }
            _ => Err(Refusal::BadCsrf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass_and_others_fail() {
        for h in [
            "127.0.0.1:8421",
            "localhost:9000",
            "[::1]:8421",
            "LOCALHOST",
        ] {
            assert!(check_host(Some(h)).is_ok(), "{h}");
        }
        for h in [
            "evil.example:8421",
            "127.0.0.1.evil.example",
            "localhost.evil.example:80",
            "[::2]:8421",
            "10.0.0.1:8421",
        ] {
            assert_eq!(check_host(Some(h)), Err(Refusal::ForeignHost), "{h}");
        }
        assert_eq!(check_host(None), Err(Refusal::ForeignHost));
    }

    #[test]
    fn origin_must_match_and_is_required_for_post() {
        let h = "127.0.0.1:8421";
        assert!(check_origin(h, Some("http://127.0.0.1:8421"), true).is_ok());
        assert!(check_origin(h, None, false).is_ok());
        assert_eq!(check_origin(h, None, true), Err(Refusal::MissingOrigin));
        for o in [
            "http://evil.example",
            "http://127.0.0.1:8422",
            "https://127.0.0.1:8421",
            "null",
        ] {
            assert_eq!(check_origin(h, Some(o), true), Err(Refusal::ForeignOrigin));
        }
    }

    #[test]
    fn token_checks() {
        let t = "ab".repeat(32);
        assert!(check_token(&t, Some(&t)).is_ok());
        assert_eq!(check_token(&t, None), Err(Refusal::NoToken));
        assert_eq!(check_token(&t, Some("")), Err(Refusal::NoToken));
        assert_eq!(
            check_token(&t, Some(&"ac".repeat(32))),
            Err(Refusal::WrongToken)
        );
        assert_eq!(check_token(&t, Some("ab")), Err(Refusal::WrongToken));
    }

    #[test]
    fn token_file_is_private_stable_and_refused_when_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), a);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create_token(dir.path()),
            Err(TokenError::Exposed { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(
            load_or_create_token(dir.path()),
            Err(TokenError::Malformed { .. })
        ));
    }

    #[test]
    fn csrf_is_one_time_and_bound_to_plan_and_action() {
        let store = CsrfStore::default();
        let now = Utc::now();
        let v = store.issue("s1", "approve", now);
        assert!(store.consume(&v, "s1", "approve", now).is_ok());
        assert_eq!(
            store.consume(&v, "s1", "approve", now),
            Err(Refusal::BadCsrf)
        );
        let v = store.issue("s1", "approve", now);
        assert_eq!(
            store.consume(&v, "s2", "approve", now),
            Err(Refusal::BadCsrf)
        );
        // Presented for the wrong plan, it is burnt for the right one too.
        assert_eq!(
            store.consume(&v, "s1", "approve", now),
            Err(Refusal::BadCsrf)
        );
        let v = store.issue("s1", "reject", now);
        assert_eq!(
            store.consume(&v, "s1", "approve", now),
            Err(Refusal::BadCsrf)
        );
        let v = store.issue("s1", "approve", now);
        let later = now + Duration::minutes(CSRF_TTL_MINUTES + 1);
        assert_eq!(
            store.consume(&v, "s1", "approve", later),
            Err(Refusal::BadCsrf)
        );
    }

    #[test]
    fn csrf_store_is_bounded() {
        let store = CsrfStore::default();
        let now = Utc::now();
        let first = store.issue("s1", "approve", now);
        for i in 0..CSRF_MAX {
            store.issue("s1", "approve", now + Duration::milliseconds(i as i64 + 1));
        }
        assert!(store.grants.lock().unwrap().len() <= CSRF_MAX);
        assert_eq!(
            store.consume(&first, "s1", "approve", now),
            Err(Refusal::BadCsrf)
        );
    }
}
