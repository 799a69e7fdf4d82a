//! The session state machine's types, the login seam and the keeper task.
//!
//! States (reference §2.4): `Down` (gateway unreachable) → `NoSession` (nobody logged in) →
//! `SsoOnly` (logged in, no brokerage session) → `Brokerage` (brokerage session, not primed) →
//! `Ready` (primed: `/iserver/accounts`, `/portfolio/accounts`, questions suppressed). Any
//! request that sees 401, `no session`, `authenticated:false`, `competing:true`, "Init session
//! first" or "Please query /accounts first" drops the state to the matching level; the keeper
//! climbs back up. The state is published through a `watch` channel so the daemon and the
//! scheduler can wait for `Ready` without polling.
//!
//! Logging in is a seam ([`Login`]): today [`WaitForHuman`] only tells the operator where to
//! log in; a later SRP implementation (`ibkr-sso-login.md`) plugs in here, sharing the client's
//! cookie jar, without touching the state machine.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::GatewayClient;
use super::error::GatewayError;

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

/// How often the keeper acts.
#[derive(Debug, Clone, Copy)]
pub struct KeeperTiming {
    /// Tickle period while Ready (config `gateway.tickle_interval_secs`, ~60 s).
    pub tickle: Duration,
    /// Re-check period while not Ready (waiting for a login or the gateway).
    pub recover: Duration,
    /// Up to this fraction of the period is added at random to each wait, so several
    /// processes never tickle in lock-step.
    pub jitter_fraction: f64,
}

impl KeeperTiming {
    pub fn from_settings(g: &crate::config::GatewaySettings) -> Self {
        let tickle = Duration::from_secs(g.tickle_interval_secs.max(1));
        KeeperTiming {
            tickle,
            recover: tickle.min(Duration::from_secs(10)),
            jitter_fraction: 0.1,
        }
    }
}

fn jitter(period: Duration, fraction: f64) -> Duration {
    use rand::Rng;
    if fraction <= 0.0 {
        return Duration::ZERO;
    }
    let max = period.mul_f64(fraction);
    Duration::from_nanos(rand::rng().random_range(0..=max.as_nanos() as u64))
}

/// Spawns the keeper: tickles every `timing.tickle` (+ jitter) while Ready, otherwise runs the
/// recovery steps every `timing.recover`, until `cancel` fires. Errors are logged, never fatal:
/// the keeper's job is to keep trying.
pub fn spawn_keeper(
    client: GatewayClient,
    login: Arc<dyn Login>,
    timing: KeeperTiming,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ready_tick = tokio::time::interval(timing.tickle);
        ready_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut recover_tick = tokio::time::interval(timing.recover);
        recover_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let ready = client.status().state == SessionState::Ready;
            let period = if ready { timing.tickle } else { timing.recover };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ready_tick.tick(), if ready => {}
                _ = recover_tick.tick(), if !ready => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(jitter(period, timing.jitter_fraction)) => {}
            }
            let before = client.status().state;
            let result = tokio::select! {
                _ = cancel.cancelled() => break,
                r = client.maintain(login.as_ref()) => r,
            };
            let after = client.status();
            if after.state != before {
                tracing::info!(from = %before, to = %after.state, detail = %after.detail, "gateway session");
            }
            if after.state == SessionState::Ready && before != SessionState::Ready {
                login.session_restored();
            }
            if let Err(e) = result {
                tracing::debug!(error = %e, "session keeper step");
            }
        }
        tracing::debug!("session keeper stopped");
    })
}
