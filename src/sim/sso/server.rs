//! The simulator's `/sso/Authenticator` and `/sso/Dispatcher` logic (`ibkr-sso-login.md`
//! §8.2–§8.3), free of HTTP so it is unit-tested directly: INIT → COMPLETEAUTH (M1, EKX) →
//! optional COMPLETEAUTH_1 / COMPLETETWOFACT (TOTP or push) → Dispatcher.
use std::collections::HashMap;

use hmac::{Hmac, Mac};
use num_bigint_dig::BigUint;
use rand::RngCore;
use sha1::Sha1;

use super::srp::{Enrolment, G, N_HEX, Verified, server_public, server_session};
use super::{LoginSpec, SecondFactor};

/// The Dispatcher's success body (IGS requires it exactly, IBeam waits for the text).
pub const LOGIN_SUCCEEDS: &str = "Client login succeeds";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Started,
    Proved,
    Done,
}

/// One login in progress. b is consumed at INIT (only what the later steps check is kept).
struct Round {
    verified: Option<Verified>,
    stage: Stage,
    polls: u32,
}

/// One user's login server.
pub struct SsoServer {
    username_lc: String,
    enrolment: Enrolment,
    spec: LoginSpec,
    paper: bool,
    totp_key: Option<Vec<u8>>,
    failures: u32,
    round: Option<Round>,
    last_code_step: Option<u64>,
    /// Completed logins (for tests).
    pub logins: u32,
    /// Session keys (K, 40 hex) and XYZAB cookie values of completed logins, so tests can
    /// prove the client never wrote them anywhere.
    pub issued_secrets: Vec<String>,
}

impl SsoServer {
    /// Enrols the account's user with a random salt. `paper`: sent as `ini_params/paper`.
    pub fn new(username: &str, password: &str, spec: LoginSpec, paper: bool) -> Self {
        let mut salt = vec![0u8; 8];
        rand::rng().fill_bytes(&mut salt);
        let totp_key = spec.totp_secret.as_deref().and_then(|s| {
            data_encoding::BASE32_NOPAD
                .decode(
                    s.trim()
                        .trim_end_matches('=')
                        .to_ascii_uppercase()
                        .as_bytes(),
                )
                .ok()
        });
        SsoServer {
            username_lc: username.to_lowercase(),
            enrolment: Enrolment::new(username, password, spec.long_passwords, salt),
            spec,
            paper,
            totp_key,
            failures: 0,
            round: None,
            last_code_step: None,
            logins: 0,
            issued_secrets: Vec::new(),
        }
    }

    /// Consecutive failed password proofs.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Clears the failure count (the account unlocked by "support").
    pub fn unlock(&mut self) {
        self.failures = 0;
    }

    fn locked(&self) -> bool {
        self.failures >= self.spec.max_failures
    }

    /// Handles one `/sso/Authenticator` POST; returns the XML reply.
    pub fn authenticator(&mut self, form: &HashMap<String, String>, now_unix: u64) -> String {
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if field("USER").to_lowercase() != self.username_lc {
            return error_xml("Invalid username password combination");
        }
        match field("ACTION") {
            "INIT" => self.init(field("A")),
            "COMPLETEAUTH" => self.complete_auth(field("M1"), form.get("EKX")),
            "COMPLETEAUTH_1" => self.choose_factor(field("SF")),
            "COMPLETETWOFACT" => {
                self.two_factor(form.get("RESPONSE"), field("PUSH") == "true", now_unix)
            }
            other => error_xml(&format!("unknown ACTION {other}")),
        }
    }

    fn init(&mut self, a_hex: &str) -> String {
        let Some(a_pub) = BigUint::parse_bytes(a_hex.trim().as_bytes(), 16) else {
            return error_xml("bad A");
        };
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let b = BigUint::from_bytes_be(&bytes);
        let b_pub = server_public(&self.enrolment, &b);
        let verified = server_session(&self.enrolment, &self.username_lc, &a_pub, &b);
        if verified.is_none() {
            return error_xml("bad A");
        }
        self.round = Some(Round {
            verified,
            stage: Stage::Started,
            polls: 0,
        });
        format!(
            "<ib_auth_res><ini_params><g>{G}</g><N>{N_HEX}</N><proto>6</proto><hash>SHA1</hash>\
             <s>{}</s><B>{b_pub:x}</B><lp>{}</lp><rsapub>{}</rsapub><paper>{}</paper>\
             </ini_params></ib_auth_res>",
            hex::encode(&self.enrolment.salt),
            self.spec.long_passwords,
            super::rsa::modulus_hex(),
            self.paper,
        )
    }

    fn complete_auth(&mut self, m1: &str, ekx: Option<&String>) -> String {
        let locked_before = self.locked();
        let proved = match self.round.as_ref().and_then(|r| r.verified.as_ref()) {
            Some(v) if !locked_before => {
                let m1_ok = BigUint::parse_bytes(m1.trim().as_bytes(), 16).as_ref() == Some(&v.m1);
                let ekx_ok = ekx.is_none_or(|e| {
                    super::rsa::decrypt_key(e) == Some(BigUint::from_bytes_be(&v.key))
                });
                m1_ok && ekx_ok
            }
            _ => false,
        };
        let Some(round) = self.round.as_mut().filter(|_| proved) else {
            if !locked_before {
                self.failures += 1;
            }
            self.round = None;
            return format!(
                "<ib_auth_res><ini_params><M2>null</M2></ini_params><auth_info>\
                 <reached_max_login>{}</reached_max_login></auth_info></ib_auth_res>",
                self.locked()
            );
        };
        self.failures = 0;
        let m2 = round
            .verified
            .as_ref()
            .map(|v| v.m2_hex.clone())
            .unwrap_or_default();
        let sftypes = match self.spec.second_factor {
            SecondFactor::None => {
                round.stage = Stage::Done;
                String::new()
            }
            SecondFactor::Totp => {
                round.stage = Stage::Proved;
                "<sftypes>4</sftypes>".to_owned()
            }
            SecondFactor::Push => {
                round.stage = Stage::Proved;
                "<sftypes>5.2i</sftypes>".to_owned()
            }
        };
        format!(
            "<ib_auth_res><ini_params><M2>{m2}</M2></ini_params><auth_info>\
             <reached_max_login>false</reached_max_login></auth_info>{sftypes}</ib_auth_res>"
        )
    }

    fn choose_factor(&mut self, sf: &str) -> String {
        let Some(round) = self.round.as_mut().filter(|r| r.stage == Stage::Proved) else {
            return error_xml("no login in progress");
        };
        match (self.spec.second_factor, sf) {
            (SecondFactor::Totp, "4") => {
                "<ib_auth_res><two_factor><type>SWTK</type></two_factor></ib_auth_res>".into()
            }
            (SecondFactor::Push, "5.2i" | "5.2a") => {
                round.polls = 0;
                "<ib_auth_res><two_factor><type>SWCR</type><challenge>123 456</challenge>\
                 </two_factor></ib_auth_res>"
                    .into()
            }
            _ => error_xml("second factor not enabled for this user"),
        }
    }

    fn two_factor(&mut self, response: Option<&String>, push: bool, now_unix: u64) -> String {
        let Some(round) = self.round.as_mut().filter(|r| r.stage == Stage::Proved) else {
            return auth_res(false, Some("no login in progress"));
        };
        if push && self.spec.second_factor == SecondFactor::Push {
            round.polls += 1;
            let after = self.spec.push_approve_after;
            if after > 0 && round.polls >= after {
                round.stage = Stage::Done;
                return auth_res(true, None);
            }
            return auth_res(false, None);
        }
        let (Some(code), Some(key)) = (response, self.totp_key.as_ref()) else {
            return auth_res(false, Some("no code"));
        };
        let now_step = now_unix / 30;
        let hit = [now_step.saturating_sub(1), now_step, now_step + 1]
            .into_iter()
            .find(|s| totp(key, *s) == code.trim());
        match hit {
            Some(step) if self.last_code_step.is_some_and(|l| l >= step) => {
                auth_res(false, Some("This code was already used"))
            }
            Some(step) => {
                self.last_code_step = Some(step);
                round.stage = Stage::Done;
                auth_res(true, None)
            }
            None => auth_res(false, Some("Invalid security code")),
        }
    }

    /// Handles the `/sso/Dispatcher` POST: `true` when the login is complete (the caller then
    /// creates the gateway session).
    pub fn dispatcher(
        &mut self,
        form: &HashMap<String, String>,
        cookies: &HashMap<String, String>,
    ) -> bool {
        let Some(round) = self.round.take() else {
            return false;
        };
        let Some(v) = round
            .verified
            .as_ref()
            .filter(|_| round.stage == Stage::Done)
        else {
            return false;
        };
        let num = |k: &str| {
            form.get(k)
                .and_then(|t| BigUint::parse_bytes(t.trim().as_bytes(), 16))
        };
        let proofs = num("M1").as_ref() == Some(&v.m1)
            && num("M2") == BigUint::parse_bytes(v.m2_hex.as_bytes(), 16);
        let cookie = cookies
            .get("XYZAB_AM.LOGIN")
            .or_else(|| cookies.get("XYZAB"))
            .is_some_and(|c| c.eq_ignore_ascii_case(&v.cookie_hex));
        let ok = proofs && (cookie || !self.spec.check_cookie);
        if ok {
            self.logins += 1;
            self.issued_secrets.push(hex::encode(v.key));
            self.issued_secrets.push(v.cookie_hex.clone());
        }
        ok
    }
}

fn totp(key: &[u8], step: u64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0xf) as usize;
    let v = (u32::from(d[o] & 0x7f) << 24)
        | (u32::from(d[o + 1]) << 16)
        | (u32::from(d[o + 2]) << 8)
        | u32::from(d[o + 3]);
    format!("{:06}", v % 1_000_000)
}

fn error_xml(msg: &str) -> String {
    format!("<ib_auth_res><error>{msg}</error></ib_auth_res>")
}

fn auth_res(ok: bool, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<error>{e}</error>"))
        .unwrap_or_default();
    format!("<ib_auth_res><auth_res>{ok}</auth_res>{err}</ib_auth_res>")
}

#[cfg(test)]
mod tests;
