//! The keeper task: tickles while Ready and climbs the state machine back up otherwise.
//!
//! The state is published through a `watch` channel so the daemon and the scheduler can wait
//! for `Ready` without polling. The state types and the login seam live in [`super::client`]
//! (the client's recovery needs them) and are re-exported here.
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::GatewayClient;
pub use super::client::{Login, LoginOutcome, SessionState, SessionStatus, WaitForHuman};
use super::options::ClientOptions;

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
    /// The keeper's timing for a client built with `options`.
    pub fn from_options(options: &ClientOptions) -> Self {
        let tickle = options.tickle_interval.max(Duration::from_secs(1));
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
