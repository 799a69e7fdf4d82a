//! The Flex Web Service client against the simulator: SendRequest → GetStatement with
//! "statement generation in progress" polls, error codes, and the token file rules.
use std::path::Path;
use std::time::Duration;

use pbal::flex::service::{FlexService, FlexServiceError, FlexServiceOptions, Token};
use pbal::sim::flex::{EXAMPLE_QUERY, FlexPacing, FlexSimConfig};
use pbal::sim::{SimConfig, SimHandle, Simulator};

mod common;

/// A simulator whose Flex service does not pace (tests not about pacing stay fast).
async fn sim(flex: FlexSimConfig) -> SimHandle {
    Simulator::start(SimConfig {
        flex: FlexSimConfig {
            pacing: None,
            ..flex
        },
        ..SimConfig::relaxed()
    })
    .await
    .unwrap()
}

fn options(h: &SimHandle, max_polls: u32) -> FlexServiceOptions {
    FlexServiceOptions {
        base_url: format!("{}/AccountManagement/FlexWebService/", h.base_url())
            .parse()
            .unwrap(),
        delays: vec![Duration::from_millis(1)],
        max_polls,
        min_interval: Duration::ZERO,
        pacing_backoff: Duration::from_millis(1),
        ..FlexServiceOptions::default()
    }
}

fn service(h: &SimHandle, max_polls: u32) -> FlexService {
    FlexService::new(
        common::http::trusting_client(h.ca_pem()),
        options(h, max_polls),
    )
}

fn token() -> Token {
    Token::new(FlexSimConfig::default().token)
}

#[tokio::test]
async fn fetches_the_statement_after_in_progress_polls_and_it_parses_into_lots() {
    let h = sim(FlexSimConfig {
        in_progress_polls: 2,
        ..FlexSimConfig::default()
    })
    .await;
    // Two "in progress" answers, then the report on the third poll.
    let body = service(&h, 3).fetch(&token(), EXAMPLE_QUERY).await.unwrap();
    let lots = pbal::flex::parse_lots(Path::new("flex"), &body).unwrap();
    assert_eq!(lots.len(), 4);
    assert_eq!(lots.iter().filter(|l| l.symbol == "VTI").count(), 3);
    // Two polls are not enough: a clear, retryable "still in progress".
    let e = service(&h, 2)
        .fetch(&token(), EXAMPLE_QUERY)
        .await
        .unwrap_err();
    assert_eq!(e, FlexServiceError::StillInProgress { polls: 2 });
    assert!(e.is_retryable());
}

#[tokio::test]
async fn error_codes_fail_clearly_without_leaking_the_token() {
    let h = sim(FlexSimConfig::default()).await;
    let s = service(&h, 3);
    let expired = Token::new(FlexSimConfig::default().expired_token);
    let cases = [
        (expired, EXAMPLE_QUERY, 1012),
        (Token::new("wrong-token-secret"), EXAMPLE_QUERY, 1015),
        (token(), "999", 1014),
    ];
    for (t, q, code) in cases {
        let e = s.fetch(&t, q).await.unwrap_err();
        assert!(
            matches!(e, FlexServiceError::Code { code: c, .. } if c == code),
            "{e}"
        );
        assert!(e.needs_human() && !e.is_retryable(), "{e}");
        let msg = e.to_string();
        assert!(!msg.contains("secret") && !msg.contains("sim-"), "{msg}");
    }
    let e = s
        .fetch(&Token::new("sim-expired-token"), EXAMPLE_QUERY)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("make a new token"), "{e}");
}

#[tokio::test]
async fn pacing_and_load_errors_are_retried_then_reported() {
    let h = sim(FlexSimConfig {
        send_error: Some(1018),
        ..FlexSimConfig::default()
    })
    .await;
    let e = service(&h, 2)
        .fetch(&token(), EXAMPLE_QUERY)
        .await
        .unwrap_err();
    assert!(
        matches!(e, FlexServiceError::Code { code: 1018, .. }),
        "{e}"
    );
    assert!(e.is_retryable() && !e.needs_human());
    assert!(e.to_string().contains("at most 1 per second"), "{e}");
}

/// IBKR allows 1 request per second and 10 per minute per token (reference §1, §7): the
/// simulator answers 1018 beyond either, counting every request (a retry storm only extends
/// the lockout). Windows are scaled down here so the test stays fast.
#[tokio::test]
async fn the_simulator_answers_1018_above_the_per_token_limits() {
    let h = Simulator::start(SimConfig {
        flex: FlexSimConfig {
            pacing: Some(FlexPacing {
                limits: vec![
                    (1, Duration::from_millis(150)),
                    (3, Duration::from_secs(30)),
                ],
            }),
            ..FlexSimConfig::default()
        },
        ..SimConfig::relaxed()
    })
    .await
    .unwrap();
    let http = common::http::trusting_client(h.ca_pem());
    let send = |t: &'static str| {
        let http = http.clone();
        let url = format!(
            "{}/AccountManagement/FlexWebService/SendRequest",
            h.base_url()
        );
        async move {
            http.get(url)
                .header("User-Agent", "pbal-test/1")
                .query(&[("t", t), ("q", EXAMPLE_QUERY), ("v", "3")])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let token = "sim-flex-token";
    assert!(send(token).await.contains("<Status>Success</Status>"));
    // Back to back: over 1 per window.
    let second = send(token).await;
    assert!(second.contains("<ErrorCode>1018</ErrorCode>"), "{second}");
    assert!(second.contains("Too many requests"), "{second}");
    // Another token has its own budget.
    assert!(
        send("sim-expired-token")
            .await
            .contains("<ErrorCode>1012</ErrorCode>")
    );
    // Spaced out, the third request in the long window passes, the fourth does not (the
    // rejected one counted too).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(send(token).await.contains("<Status>Success</Status>"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fourth = send(token).await;
    assert!(fourth.contains("<ErrorCode>1018</ErrorCode>"), "{fourth}");
    assert_eq!(h.flex_paced(), 2);
}

/// A client that respects the limits: requests spaced by `min_interval`, and after a 1018 a
/// pause of `pacing_backoff` before the next request, so one rejection is not followed by a
/// storm of them and the statement still arrives.
#[tokio::test]
async fn the_client_paces_itself_and_backs_off_after_1018() {
    let h = Simulator::start(SimConfig {
        flex: FlexSimConfig {
            in_progress_polls: 6,
            pacing: Some(FlexPacing {
                limits: vec![
                    (1, Duration::from_millis(40)),
                    (4, Duration::from_millis(800)),
                ],
            }),
            ..FlexSimConfig::default()
        },
        ..SimConfig::relaxed()
    })
    .await
    .unwrap();
    let opts = FlexServiceOptions {
        min_interval: Duration::from_millis(60),
        pacing_backoff: Duration::from_millis(900),
        max_polls: 10,
        ..options(&h, 10)
    };
    let s = FlexService::new(common::http::trusting_client(h.ca_pem()), opts);
    let body = s.fetch(&token(), EXAMPLE_QUERY).await.unwrap();
    assert!(pbal::flex::parse_lots(Path::new("flex"), &body).is_ok());
    // 1 SendRequest + 7 polls = 8 requests at 4 per 800 ms: one 1018 per window at most.
    let paced = h.flex_paced();
    assert!((1..=2).contains(&paced), "{paced} requests answered 1018");
}

#[test]
fn the_token_file_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("flex-token");
    std::fs::write(&p, "abc123\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Token::from_file(&p).unwrap_err().to_string();
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let t = Token::from_file(&p).unwrap();
    assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    std::fs::write(&p, "  \n").unwrap();
    assert!(Token::from_file(&p).is_err());
}
