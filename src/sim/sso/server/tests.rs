//! The login server driven step by step with the real client math.
use super::*;
use crate::ibkr::sso::srp::{Group, ServerParams, SrpClient, parse_hex};
use crate::sim::sso::rsa;
use secrecy::SecretString;

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn server(factor: SecondFactor) -> SsoServer {
    let spec = LoginSpec {
        second_factor: factor,
        totp_secret: Some(SECRET.into()),
        long_passwords: true,
        push_approve_after: 3,
        max_failures: 2,
        check_cookie: true,
    };
    SsoServer::new("ApiUser", "correct horse battery", spec, true)
}

struct Done {
    m1: String,
    m2: String,
    cookie: String,
    reply: String,
}

/// INIT + COMPLETEAUTH with `password`; returns the proofs and the COMPLETEAUTH reply.
fn prove(s: &mut SsoServer, password: &str) -> Done {
    let client = SrpClient::new(Group::default());
    let init = s.authenticator(
        &form(&[
            ("ACTION", "INIT"),
            ("USER", "ApiUser"),
            ("A", &client.public_hex()),
        ]),
        0,
    );
    assert_eq!(tag(&init, "paper"), Some("true"));
    let params = ServerParams {
        group: Group {
            n: parse_hex(tag(&init, "N").unwrap()).unwrap(),
            g: tag(&init, "g").unwrap().parse::<u32>().unwrap().into(),
        },
        proto: tag(&init, "proto").unwrap().into(),
        salt_hex: tag(&init, "s").unwrap().into(),
        b_hex: tag(&init, "B").unwrap().into(),
        lp: tag(&init, "lp") == Some("true"),
    };
    let proof = client
        .complete("ApiUser", &SecretString::from(password), &params)
        .unwrap();
    let ekx = crate::ibkr::sso::ekx::encrypt(
        proof.session_key_hex().as_bytes(),
        &parse_hex(tag(&init, "rsapub").unwrap()).unwrap(),
    )
    .unwrap();
    let reply = s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH"),
            ("USER", "apiuser"),
            ("M1", &proof.m1),
            ("EKX", &ekx),
        ]),
        0,
    );
    Done {
        m1: proof.m1.clone(),
        m2: proof.m2_hex(),
        cookie: proof.cookie_value().to_owned(),
        reply,
    }
}

fn dispatch(s: &mut SsoServer, d: &Done, cookie: Option<&str>) -> bool {
    let jar = cookie
        .map(|c| form(&[("XYZAB_AM.LOGIN", c)]))
        .unwrap_or_default();
    s.dispatcher(&form(&[("M1", &d.m1), ("M2", &d.m2)]), &jar)
}

#[test]
fn no_second_factor_logs_in_and_needs_the_cookie() {
    let mut s = server(SecondFactor::None);
    let d = prove(&mut s, "correct horse battery");
    assert_eq!(tag(&d.reply, "M2"), Some(d.m2.as_str()));
    assert_eq!(tag(&d.reply, "sftypes"), None);
    assert!(!dispatch(&mut s, &d, None), "no XYZAB cookie");
    let d = prove(&mut s, "correct horse battery");
    assert!(dispatch(&mut s, &d, Some(&d.cookie)));
    assert_eq!(s.logins, 1);
    assert!(
        !dispatch(&mut s, &d, Some(&d.cookie)),
        "a round is used once"
    );
}

#[test]
fn wrong_passwords_lock_the_account() {
    let mut s = server(SecondFactor::None);
    let d = prove(&mut s, "correct horse batterY");
    assert_eq!(tag(&d.reply, "M2"), Some("null"));
    assert_eq!(tag(&d.reply, "reached_max_login"), Some("false"));
    let d = prove(&mut s, "wrong");
    assert_eq!(tag(&d.reply, "reached_max_login"), Some("true"));
    // Locked: even the right password fails now.
    let d = prove(&mut s, "correct horse battery");
    assert_eq!(tag(&d.reply, "M2"), Some("null"));
    assert_eq!(tag(&d.reply, "reached_max_login"), Some("true"));
    assert!(!dispatch(&mut s, &d, Some(&d.cookie)));
    s.unlock();
    let d = prove(&mut s, "correct horse battery");
    assert!(dispatch(&mut s, &d, Some(&d.cookie)));
}

#[test]
fn totp_codes_are_checked_and_never_accepted_twice() {
    let now = 1_700_000_000;
    let mut s = server(SecondFactor::Totp);
    let d = prove(&mut s, "correct horse battery");
    assert_eq!(tag(&d.reply, "sftypes"), Some("4"));
    assert!(!dispatch(&mut s, &d, Some(&d.cookie)), "2FA not done yet");
    let d = prove(&mut s, "correct horse battery");
    let chosen = s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH_1"),
            ("USER", "apiuser"),
            ("SF", "4"),
        ]),
        now,
    );
    assert_eq!(tag(&chosen, "type"), Some("SWTK"));
    let submit = |s: &mut SsoServer, code: &str| {
        s.authenticator(
            &form(&[
                ("ACTION", "COMPLETETWOFACT"),
                ("USER", "apiuser"),
                ("SF", "4"),
                ("RESPONSE", code),
            ]),
            now,
        )
    };
    let wrong = submit(&mut s, "000000");
    assert_eq!(tag(&wrong, "auth_res"), Some("false"));
    assert!(tag(&wrong, "error").is_some());
    assert_eq!(tag(&submit(&mut s, "324550"), "auth_res"), Some("true"));
    assert!(dispatch(&mut s, &d, Some(&d.cookie)));
    // The same code again, in a new login: refused as a replay.
    let d = prove(&mut s, "correct horse battery");
    s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH_1"),
            ("USER", "apiuser"),
            ("SF", "4"),
        ]),
        now,
    );
    assert_eq!(tag(&submit(&mut s, "324550"), "auth_res"), Some("false"));
    assert!(!dispatch(&mut s, &d, Some(&d.cookie)));
}

#[test]
fn push_is_approved_after_the_configured_polls() {
    let mut s = server(SecondFactor::Push);
    let d = prove(&mut s, "correct horse battery");
    assert_eq!(tag(&d.reply, "sftypes"), Some("5.2i"));
    let wrong_sf = s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH_1"),
            ("USER", "apiuser"),
            ("SF", "4"),
        ]),
        0,
    );
    assert!(tag(&wrong_sf, "error").is_some());
    let chosen = s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH_1"),
            ("USER", "apiuser"),
            ("SF", "5.2i"),
        ]),
        0,
    );
    assert_eq!(tag(&chosen, "type"), Some("SWCR"));
    let poll = |s: &mut SsoServer, n: &str| {
        let r = s.authenticator(
            &form(&[
                ("ACTION", "COMPLETETWOFACT"),
                ("USER", "apiuser"),
                ("SF", "5.2i"),
                ("PUSH", "true"),
                ("counter", n),
            ]),
            0,
        );
        tag(&r, "auth_res").map(str::to_owned)
    };
    assert_eq!(poll(&mut s, "1").as_deref(), Some("false"));
    assert_eq!(poll(&mut s, "2").as_deref(), Some("false"));
    assert_eq!(poll(&mut s, "3").as_deref(), Some("true"));
    assert!(dispatch(&mut s, &d, Some(&d.cookie)));
}

#[test]
fn unknown_users_and_bad_ekx_are_refused() {
    let mut s = server(SecondFactor::None);
    let r = s.authenticator(
        &form(&[("ACTION", "INIT"), ("USER", "someone"), ("A", "abc")]),
        0,
    );
    assert!(tag(&r, "error").is_some());
    let client = SrpClient::new(Group::default());
    let init = s.authenticator(
        &form(&[
            ("ACTION", "INIT"),
            ("USER", "apiuser"),
            ("A", &client.public_hex()),
        ]),
        0,
    );
    assert!(tag(&init, "B").is_some());
    assert_eq!(tag(&init, "rsapub"), Some(rsa::modulus_hex()));
    let r = s.authenticator(
        &form(&[
            ("ACTION", "COMPLETEAUTH"),
            ("USER", "apiuser"),
            ("M1", "00"),
            ("EKX", "1234"),
        ]),
        0,
    );
    assert_eq!(tag(&r, "M2"), Some("null"));
    assert_eq!(s.failures(), 1);
}

#[test]
fn sim_totp_matches_the_reference_vector() {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    assert_eq!(totp(&key, 1_700_000_000 / 30), "324550");
}
