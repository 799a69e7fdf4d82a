//! sd_notify messages to systemd: READY=1 once the daemon is up, WATCHDOG=1 while it is
//! alive, STOPPING=1 when it begins a clean shutdown, STATUS= for `systemctl status`.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset (a terminal, launchd, tests), so the
//! daemon calls them unconditionally. Failures are logged, never fatal: losing a status line
//! must not stop a rebalance.
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Tells systemd the service is up (`Type=notify` units stay "activating" until then).
pub fn notify_ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd a clean shutdown has begun.
pub fn notify_stopping() {
    send(&[NotifyState::Stopping]);
}

/// One watchdog keep-alive.
pub fn notify_watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// A one-line status shown by `systemctl status` (e.g. "next run 2027-Q2 at …").
pub fn notify_status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Half the watchdog period systemd asked for (`WATCHDOG_USEC` for this pid), or `None` when
/// no watchdog is configured.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
        .then(|| Duration::from_micros(usec / 2))
}

/// Pings the watchdog every `interval` until `cancel`. Runs on the daemon's runtime, so a
/// wedged runtime (all workers blocked) stops the pings and systemd restarts the service.
pub async fn watchdog_task(interval: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => notify_watchdog(),
        }
    }
}
