//! The session state machine's states and the status the `watch` channel carries.
//!
//! States (reference §2.4): `Down` (gateway unreachable) → `NoSession` (nobody logged in) →
//! `SsoOnly` (logged in, no brokerage session) → `Brokerage` (brokerage session, not primed) →
//! `Ready` (primed: `/iserver/accounts`, `/portfolio/accounts`, questions suppressed). Any
//! request that sees 401, `no session`, `authenticated:false`, `competing:true`, "Init session
//! first" or "Please query /accounts first" drops the state to the matching level; the keeper
//! climbs back up.
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Where the session stands, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SessionState {
    /// The gateway does not answer (not running, wrong port, TLS refused).
    Down,
    /// The gateway answers but nobody is logged in.
    NoSession,
    /// Logged in (SSO / read-only) but no brokerage session yet, or another login competes.
    SsoOnly,
    /// Brokerage session established, not yet primed.
    Brokerage,
    /// Primed and usable for trading.
    Ready,
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            SessionState::Down => "down",
            SessionState::NoSession => "no session",
            SessionState::SsoOnly => "logged in, no brokerage session",
            SessionState::Brokerage => "brokerage session (not primed)",
            SessionState::Ready => "ready",
        };
        f.write_str(s)
    }
}

/// What the watch channel carries.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    pub state: SessionState,
    /// Why we are in this state (for logs and `pbal check`).
    pub detail: String,
    /// When the state last changed.
    pub since: Instant,
    /// When `Ready` was last confirmed by the gateway (tickle or auth status).
    pub confirmed_at: Option<Instant>,
    /// Accounts the brokerage session can trade (filled by priming).
    pub accounts: Vec<String>,
}

impl SessionStatus {
    pub(crate) fn initial() -> Self {
        SessionStatus {
            state: SessionState::Down,
            detail: "not contacted yet".into(),
            since: Instant::now(),
            confirmed_at: None,
            accounts: Vec::new(),
        }
    }

    /// `Ready` and confirmed within `max_age`: the precondition for placing an order.
    pub fn ready_within(&self, max_age: Duration) -> bool {
        self.state == SessionState::Ready
            && self
                .confirmed_at
                .is_some_and(|t| Instant::now().saturating_duration_since(t) <= max_age)
    }
}
