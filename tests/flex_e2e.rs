//! The Flex Web Service client against the simulator: SendRequest → GetStatement with
//! "statement generation in progress" polls, error codes, and the token file rules.
use std::path::Path;
use std::time::Duration;

use pbal::flex::service::{FlexService, FlexServiceError, FlexServiceOptions, Token};
use pbal::sim::flex::{EXAMPLE_QUERY, FlexSimConfig};
use pbal::sim::{SimConfig, SimHandle, Simulator};

mod common;

async fn sim(flex: FlexSimConfig) -> SimHandle {
    Simulator::start(SimConfig {
        flex,
        ..SimConfig::relaxed()
    })
    .await
    .unwrap()
}

fn service(h: &SimHandle, max_polls: u32) -> FlexService {
    let opts = FlexServiceOptions {
        base_url: format!("{}/AccountManagement/FlexWebService/", h.base_url())
            .parse()
            .unwrap(),
        delays: vec![Duration::from_millis(1)],
        max_polls,
        ..FlexServiceOptions::default()
    };
    FlexService::new(common::http::trusting_client(h.ca_pem()), opts)
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
