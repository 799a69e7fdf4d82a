//! The simulator's side of IBKR's SSO login (`ibkr-sso-login.md` §8): the SRP-6 server, EKX
//! decryption and the second factor (TOTP or IB Key push), so `pbal login` and the daemon's
//! unattended login are tested against a gateway that behaves like the real one.
//!
//! Configured by the account file's `[login]` table ([`LoginSpec`]) with the account's
//! `username`/`password`. Choices where the sources are silent: the push reply type is `SWCR`
//! with a challenge (§8.2 item 4); once `max_failures` wrong proofs were made the account
//! stays locked (every COMPLETEAUTH answers `reached_max_login=true`, even with the right
//! password) until [`crate::sim::SimControl::unlock_login`]; a TOTP step is accepted once.
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;

mod rsa;
pub mod server;
pub mod srp;

pub use server::{LOGIN_SUCCEEDS, SsoServer};

/// Which second factor the simulated user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    #[default]
    None,
    /// Mobile Authenticator (TOTP, `sftypes` 4); needs `totp_secret`.
    Totp,
    /// IB Key push (`sftypes` 5.2i), approved after `push_approve_after` polls.
    Push,
}

/// The account file's `[login]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSpec {
    pub second_factor: SecondFactor,
    /// Base32 TOTP secret (for `second_factor = "totp"`).
    pub totp_secret: Option<String>,
    /// `lp`: when false, only the first 8 password characters count (as on IBKR's page).
    pub long_passwords: bool,
    /// The push is approved on this poll (1 = first); 0 = never approved.
    pub push_approve_after: u32,
    /// Wrong password proofs before the account is locked (`reached_max_login`).
    pub max_failures: u32,
    /// Whether the Dispatcher requires the `XYZAB_AM.LOGIN`/`XYZAB` cookie.
    pub check_cookie: bool,
}

impl Default for LoginSpec {
    fn default() -> Self {
        LoginSpec {
            second_factor: SecondFactor::None,
            totp_secret: None,
            long_passwords: false,
            push_approve_after: 2,
            max_failures: 3,
            check_cookie: true,
        }
    }
}

impl LoginSpec {
    /// Rejects a TOTP user without a usable secret.
    pub fn validate(&self) -> Result<(), String> {
        if self.second_factor == SecondFactor::Totp {
            let ok = self.totp_secret.as_deref().is_some_and(|s| {
                data_encoding::BASE32_NOPAD
                    .decode(
                        s.trim()
                            .trim_end_matches('=')
                            .to_ascii_uppercase()
                            .as_bytes(),
                    )
                    .is_ok()
            });
            if !ok {
                return Err(
                    "login.totp_secret must be base32 when second_factor = \"totp\"".into(),
                );
            }
        }
        Ok(())
    }
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `POST /sso/{Authenticator|Dispatcher}[;jsessionid=…]` (the query string is ignored).
pub(crate) async fn entry(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let name = rest.split(';').next().unwrap_or("");
    let path = format!("/sso/{name}");
    let mut s = shared.lock();
    let now = s.now();
    s.tick(now);
    let mut sso = shared.sso();
    match name {
        "Authenticator" => {
            // TOTP runs on the wall clock (the phone's), not the simulated one.
            let unix = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            let xml = sso.authenticator(&form, unix);
            s.log(now, "POST", &path, 200);
            ([(header::CONTENT_TYPE, "text/xml;charset=utf-8")], xml).into_response()
        }
        "Dispatcher" if sso.dispatcher(&form, &cookies(&headers)) => {
            s.login(now);
            s.log(now, "POST", &path, 200);
            let sid = s.session.session_id.clone();
            let mut resp = (
                [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
                LOGIN_SUCCEEDS,
            )
                .into_response();
            for c in [
                format!("x-sess-uuid={sid}; Path=/; Secure; HttpOnly"),
                "USERID=84412093; Path=/; Secure".to_owned(),
            ] {
                if let Ok(v) = c.parse() {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        "Dispatcher" => {
            s.log(now, "POST", &path, 200);
            (
                [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
                "<html><body><div id=\"ERRORMSG\">failed</div></body></html>",
            )
                .into_response()
        }
        _ => {
            s.log(now, "POST", &path, 404);
            StatusCode::NOT_FOUND.into_response()
        }
    }
}
