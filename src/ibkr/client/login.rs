//! The login seam: how the client gets an SSO session when the gateway has none.
//!
//! [`WaitForHuman`] only tells the operator where to log in; the SRP login
//! (`ibkr-sso-login.md`) plugs in here, sharing the client's cookie jar, without touching
//! the state machine. It lives beside the client because the client's recovery calls it.
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;

use super::GatewayClient;
use crate::ibkr::error::GatewayError;

/// What a login attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Nothing was attempted; a human (or IBeam) must log in.
    WaitingForHuman,
    /// A login was performed; the keeper re-checks the status at once.
    Attempted,
}

/// The login seam, called by the keeper when the gateway has no SSO session.
pub trait Login: Send + Sync {
    /// Tries to (re)establish the SSO session through `client` (which shares the cookie jar).
    fn login<'a>(
        &'a self,
        client: &'a GatewayClient,
    ) -> BoxFuture<'a, Result<LoginOutcome, GatewayError>>;

    /// Called when the session is healthy again (e.g. to re-arm a notification).
    fn session_restored(&self) {}

    /// Whether this login would get a new session now, without a human: it logs in by itself
    /// and is neither stopped nor backing off. Only then may a stuck session be logged out; a
    /// session that cannot be replaced at once (or that a human opened) is never thrown away.
    fn can_log_in_now(&self) -> bool {
        false
    }
}

/// Today's login: tell the operator once per outage where to log in, then wait.
#[derive(Debug, Default)]
pub struct WaitForHuman {
    told: AtomicBool,
}

impl Login for WaitForHuman {
    fn login<'a>(
        &'a self,
        client: &'a GatewayClient,
    ) -> BoxFuture<'a, Result<LoginOutcome, GatewayError>> {
        Box::pin(async move {
            if !self.told.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    login_url = %client.login_url(),
                    "no gateway session: log in through the gateway's web page (with the paper \
                     account first); pbal keeps checking"
                );
            }
            Ok(LoginOutcome::WaitingForHuman)
        })
    }

    fn session_restored(&self) {
        self.told.store(false, Ordering::Release);
    }
}
