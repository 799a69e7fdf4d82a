//! Every channel against a local fake receiver: a file written by the command, an HTTP server
//! capturing the ntfy POST, a fake SMTP server capturing the e-mail — all on loopback.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rust_decimal_macros::dec;

use super::email::{EmailSettings, EmailTls};
use super::fake_smtp::FakeSmtp;
use super::messages::{self, OrderLine};
use super::ntfy::parse_webhook;
use super::*;

const LINK: &str = "http://127.0.0.1:8421/?token=tok3n";

fn settings(command: Option<String>, webhook: Option<String>) -> NotifySettings {
    NotifySettings {
        command,
        webhook,
        email: None,
    }
}

/// One captured POST: path, headers, JSON body.
type Post = (String, axum::http::HeaderMap, serde_json::Value);

/// An ntfy stand-in on loopback answering `status`.
async fn fake_ntfy(status: u16) -> (std::net::SocketAddr, Arc<Mutex<Vec<Post>>>) {
    let seen: Arc<Mutex<Vec<Post>>> = Arc::default();
    let seen2 = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen2.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), headers, body));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn private_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn email_settings(addr: std::net::SocketAddr) -> EmailSettings {
    EmailSettings {
        host: addr.ip().to_string(),
        port: Some(addr.port()),
        tls: EmailTls::None,
        from: "pbal <pbal@example.org>".into(),
        to: vec!["me@example.org".into(), "Other <other@example.org>".into()],
        username: None,
        password_file: None,
        ca_file: None,
    }
}

#[test]
fn webhook_topic_is_the_last_path_segment() {
    let w = parse_webhook("https://ntfy.example/pbal-alerts").unwrap();
    assert_eq!(w.post_url.as_str(), "https://ntfy.example/");
    assert_eq!(w.topic, "pbal-alerts");
    let w = parse_webhook("http://127.0.0.1:8080/ntfy/alerts/").unwrap();
    assert_eq!(w.post_url.as_str(), "http://127.0.0.1:8080/ntfy/");
    assert_eq!(w.topic, "alerts");
    // The page's link (with its token) only over https or to loopback.
    for (url, carries) in [
        ("https://ntfy.example/t", true),
        ("http://ntfy.example/t", false),
        ("http://127.0.0.1:8080/t", true),
        ("http://[::1]:8080/t", true),
        ("http://localhost/t", true),
    ] {
        let w = parse_webhook(url).unwrap();
        assert_eq!(w.link(Some(LINK)).is_some(), carries, "{url}");
    }
    for bad in ["https://ntfy.example/", "ftp://x/y", "not a url"] {
        let e = parse_webhook(bad).unwrap_err().to_string();
        assert!(e.contains("notify.webhook"), "{e}");
    }
}

#[tokio::test]
async fn command_receives_the_message_as_one_argument_without_shell_expansion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let cmd = format!("printf '%s|' >> '{}'", out.display());
    let n = Notifier::from_settings(&settings(Some(cmd), None)).unwrap();
    let pwned = dir.path().join("pwned");
    let message = format!("due; $(touch '{}') \"quoted\" `id`", pwned.display());
    n.notify(&Alert::new(Severity::Warning, "Login needed", &message))
        .await;
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("Login needed: {message}|")
    );
    assert!(!pwned.exists());
}

#[tokio::test]
async fn command_gets_the_link_in_its_environment_and_only_the_page_in_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let cmd = format!(
        "printf '%s\\n--\\n%s\\n%s\\n' \"$PBAL_ALERT_LINK\" \"$PBAL_ALERT_SEVERITY\" >> '{}'",
        out.display()
    );
    let n = Notifier::from_settings(&settings(Some(cmd), None))
        .unwrap()
        .with_page_link(Some(LINK.into()));
    n.notify(&Alert::new(Severity::Critical, "t", "m").with_page())
        .await;
    let text = std::fs::read_to_string(&out).unwrap();
    let (env, args) = text.split_once("\n--\n").unwrap();
    assert_eq!(env, LINK);
    assert!(
        args.starts_with("critical\nt: m\nOpen http://127.0.0.1:8421/ "),
        "{args}"
    );
    assert!(
        !args.contains("tok3n"),
        "the token leaked into argv: {args}"
    );
}

#[tokio::test]
async fn failing_command_does_not_panic_or_block() {
    let n = Notifier::from_settings(&settings(Some("exit 3; true".into()), None)).unwrap();
    n.notify(&Alert::new(Severity::Info, "t", "m")).await;
}

#[tokio::test]
async fn webhook_posts_ntfy_json_with_click_and_view_action_to_the_server_root() {
    let (addr, seen) = fake_ntfy(200).await;
    let n = Notifier::from_settings(&settings(None, Some(format!("http://{addr}/pbal-test"))))
        .unwrap()
        .with_page_link(Some(LINK.into()));
    n.notify(
        &Alert::new(
            Severity::Critical,
            "Period 2027-Q1 missed",
            "no login within 6 h",
        )
        .with_page(),
    )
    .await;
    // Without a link: no click, no actions.
    n.notify(&Alert::new(Severity::Info, "plain", "m")).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/");
    assert_eq!(body["topic"], "pbal-test");
    assert_eq!(body["title"], "Period 2027-Q1 missed");
    assert_eq!(body["message"], "no login within 6 h");
    assert_eq!(body["priority"], 5);
    assert_eq!(body["tags"][1], "pbal");
    assert_eq!(body["click"], LINK);
    assert_eq!(body["actions"][0]["action"], "view");
    assert_eq!(body["actions"][0]["url"], LINK);
    assert_eq!(headers["click"], LINK);
    assert_eq!(headers["actions"], format!("view, Open pbal, {LINK}"));
    let (_, headers, body) = &seen[1];
    assert!(body.get("click").is_none() && body.get("actions").is_none());
    assert!(headers.get("click").is_none() && headers.get("actions").is_none());
}

#[tokio::test]
async fn unreachable_webhook_is_logged_not_fatal() {
    // Port 1 on loopback: connection refused at once.
    let n = Notifier::from_settings(&settings(None, Some("http://127.0.0.1:1/t".into()))).unwrap();
    assert!(!n.is_silent());
    n.notify(&Alert::new(Severity::Info, "t", "m")).await;
}

#[tokio::test]
async fn each_cause_is_sent_once_across_a_restart_and_a_new_cause_again() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, seen) = fake_ntfy(200).await;
    let s = settings(None, Some(format!("http://{addr}/t")));
    let n = Notifier::from_settings(&s)
        .unwrap()
        .with_ledger_in(dir.path());
    let missed =
        |p: &str| messages::period_missed(p, "no login within 6 h", "run `pbal rebalance`");
    n.notify(&missed("2027-Q1")).await;
    n.notify(&missed("2027-Q1")).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the same period is not repeated"
    );
    // A restart reads what was sent.
    let n = Notifier::from_settings(&s)
        .unwrap()
        .with_ledger_in(dir.path());
    n.notify(&missed("2027-Q1")).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "a restart does not re-send");
    n.notify(&missed("2027-Q2")).await;
    // Alerts without a cause always go out.
    n.notify(&Alert::new(Severity::Info, "t", "m")).await;
    n.notify(&Alert::new(Severity::Info, "t", "m")).await;
    let titles: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| b["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "pbal: no 2027-Q1 rebalance",
            "pbal: no 2027-Q2 rebalance",
            "t",
            "t"
        ]
    );
    let mode = std::fs::metadata(dir.path().join(ledger::FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_cause_no_channel_delivered_is_tried_again() {
    let (addr, seen) = fake_ntfy(500).await;
    let n = Notifier::from_settings(&settings(None, Some(format!("http://{addr}/t")))).unwrap();
    let a = Alert::new(Severity::Warning, "t", "m").with_cause(kind::LOGIN_NEEDED, "x");
    n.notify(&a).await;
    n.notify(&a).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "a failed send is not remembered"
    );
}

#[tokio::test]
async fn email_reaches_a_local_smtp_server_with_the_link_and_the_login() {
    let smtp = FakeSmtp::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = private_file(dir.path(), "smtp-pw", "s3cret\n", 0o600);
    let mut es = email_settings(smtp.addr);
    es.username = Some("alerts@example.org".into());
    es.password_file = Some(pw);
    let s = NotifySettings {
        email: Some(es),
        ..NotifySettings::default()
    };
    let n = Notifier::from_settings(&s)
        .unwrap()
        .with_page_link(Some(LINK.into()));
    n.notify(
        &Alert::new(
            Severity::Warning,
            "pbal: plan waits for approval",
            "2 order(s)",
        )
        .with_page(),
    )
    .await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.auth.as_deref(), Some("\0alerts@example.org\0s3cret"));
    assert!(m.from.contains("<pbal@example.org>"), "{}", m.from);
    assert_eq!(m.to.len(), 2, "{:?}", m.to);
    assert!(
        m.data.contains("Subject: pbal: plan waits for approval"),
        "{}",
        m.data
    );
    assert!(m.data.contains("2 order(s)"), "{}", m.data);
    assert!(m.data.contains(&format!("Open pbal: {LINK}")), "{}", m.data);
}

#[test]
fn email_settings_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:2525".parse().unwrap();
    let check = |es: EmailSettings, field: &str, needle: &str| {
        let e = email::Mailer::from_settings(&es).unwrap_err().to_string();
        assert!(e.contains(&format!("notify.email.{field}")), "{e}");
        assert!(e.contains(needle), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    };
    let mut es = email_settings(addr);
    es.host = "smtp.example.org".into();
    check(es, "tls", "loopback");
    let mut es = email_settings(addr);
    es.from = "not an address".into();
    check(es, "from", "not an address");
    let mut es = email_settings(addr);
    es.to = vec![];
    check(es, "to", "no recipient");
    let mut es = email_settings(addr);
    es.username = Some("u".into());
    check(es, "password_file", "no password");
    let mut es = email_settings(addr);
    es.username = Some("u".into());
    es.password_file = Some(private_file(dir.path(), "open", "s3cret", 0o644));
    check(es, "password_file", "chmod 600");
    let mut es = email_settings(addr);
    es.username = Some("u".into());
    es.password_file = Some(private_file(dir.path(), "ok", "s3cret", 0o400));
    let m = email::Mailer::from_settings(&es).unwrap();
    let shown = m.describe();
    assert!(
        shown.starts_with("e-mail to me@example.org, other@example.org via 127.0.0.1:2525 (plain, loopback, login u, password from "),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"));
    // Plain SMTP to loopback names is fine.
    for host in ["localhost", "127.0.0.1", "::1"] {
        let mut es = email_settings(addr);
        es.host = host.into();
        assert!(email::Mailer::from_settings(&es).is_ok(), "{host}");
    }
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1, and its PEM.
fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem = ck.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem)
}

#[tokio::test]
async fn starttls_verifies_the_certificate_and_accepts_a_configured_ca() {
    let (acceptor, pem) = tls_acceptor();
    let smtp = FakeSmtp::start(Some(acceptor)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut es = email_settings(smtp.addr);
    es.tls = EmailTls::Starttls;
    // An unknown certificate: refused, nothing delivered.
    let s = NotifySettings {
        email: Some(es.clone()),
        ..NotifySettings::default()
    };
    let mailer = email::Mailer::from_settings(s.email.as_ref().unwrap()).unwrap();
    let e = mailer
        .send(&Alert::new(Severity::Info, "t", "m"), None)
        .await
        .unwrap_err();
    assert!(smtp.mails().is_empty(), "sent over an unverified TLS: {e}");
    // The same server trusted through ca_file: delivered, encrypted.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    es.ca_file = Some(ca);
    let mailer = email::Mailer::from_settings(&es).unwrap();
    mailer
        .send(&Alert::new(Severity::Info, "over tls", "m"), None)
        .await
        .unwrap();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].encrypted);
}

/// Every alert pbal sends, through all three channels at once.
#[tokio::test]
async fn every_message_reaches_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, posts) = fake_ntfy(200).await;
    let smtp = FakeSmtp::start(None).await;
    let out = dir.path().join("command.txt");
    let s = NotifySettings {
        command: Some(format!("printf '%s\\n==\\n' >> '{}'", out.display())),
        webhook: Some(format!("http://{addr}/pbal")),
        email: Some(email_settings(smtp.addr)),
    };
    let n = Notifier::from_settings(&s)
        .unwrap()
        .with_ledger_in(dir.path())
        .with_page_link(Some(LINK.into()));
    let orders = [
        OrderLine {
            side: "BUY".into(),
            quantity: dec!(12),
            symbol: "VTI".into(),
            limit: Some(dec!(250.1)),
        },
        OrderLine {
            side: "SELL".into(),
            quantity: dec!(3),
            symbol: "BND".into(),
            limit: None,
        },
    ];
    let notes = vec![];
    let alerts = [
        messages::plan_staged(&messages::StagedPlan {
            staged_id: "s20270104",
            period: Some("2027-Q1"),
            orders: &orders,
            turnover: dec!(3226.5),
            turnover_pct: Some(dec!(3.2)),
            currency: "USD",
            expires: "2027-01-05 09:30 EST",
        }),
        messages::run_finished(&messages::RunFinished {
            run_id: "20270104T143000-ab12",
            period: Some("2027-Q1"),
            status: "partial",
            planned: 2,
            filled: 1,
            drift: Some("largest BND -1.50 percentage points from its target weight"),
            notes: &notes,
        }),
        messages::login_needed(
            "2027-Q1",
            "2027-01-04 09:30 EST",
            "not authenticated",
            "2027-01-04 15:30 EST",
            "run `pbal login`",
        ),
        messages::daemon_blocked(
            "automatic logins stopped",
            "wrong password.",
            "fix the credentials, then run `pbal login --reset`",
        ),
        messages::period_missed(
            "2027-Q1",
            "refused: the kill switch is on",
            "run `pbal rebalance` by hand",
        ),
    ];
    let expect: [&[&str]; 5] = [
        &[
            "2 order(s), turnover 3226.50 USD (3.20% of the portfolio), expires 2027-01-05 09:30 EST",
            "- BUY 12 VTI limit 250.10",
            "- SELL 3 BND market",
            "pbal staged approve s20270104",
        ],
        &[
            "Outcome: partial",
            "Residual drift: largest BND -1.50",
            "Next step:",
        ],
        &[
            "not authenticated",
            "Next step: run `pbal login`",
            "2027-01-04 15:30 EST",
        ],
        &[
            "wrong password.",
            "Next step: fix the credentials, then run `pbal login --reset`",
        ],
        &["kill switch", "Next step: run `pbal rebalance` by hand"],
    ];
    for a in &alerts {
        n.notify(a).await;
        n.notify(a).await; // once per cause
    }
    let posts = posts.lock().unwrap().clone();
    let mails = smtp.mails();
    let commands = std::fs::read_to_string(&out).unwrap();
    let commands: Vec<&str> = commands.split("\n==\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(posts.len(), alerts.len());
    assert_eq!(mails.len(), alerts.len());
    assert_eq!(commands.len(), alerts.len());
    for (i, (a, needles)) in alerts.iter().zip(expect).enumerate() {
        let (_, headers, body) = &posts[i];
        assert_eq!(body["title"], a.title.as_str());
        for needle in needles {
            assert!(
                body["message"].as_str().unwrap().contains(needle),
                "ntfy {i}: {needle} in {body}"
            );
            // Quoted-printable may wrap long lines: compare without soft breaks.
            let data = mails[i].data.replace("=\r\n", "");
            assert!(data.contains(needle), "mail {i}: {needle} in {data}");
            assert!(
                commands[i].contains(needle),
                "command {i}: {needle} in {}",
                commands[i]
            );
        }
        let linked = a.page;
        assert_eq!(body.get("click").is_some(), linked, "{i}");
        assert_eq!(headers.get("click").is_some(), linked, "{i}");
    }
}
