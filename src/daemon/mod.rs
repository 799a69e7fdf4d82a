//! `pbal run`: the long-running service.
//!
//! Starts, in order: the journal, the gateway client, the session keeper (tickles, recovery),
//! the scheduler driver (which runs the rebalance cycle when due), and the systemd watchdog.
//! Then tells systemd it is ready and waits for SIGTERM or SIGINT. Shutdown runs in reverse:
//! the cycle is asked to park between steps (never mid-POST), the driver and keeper stop, the
//! journal is checkpointed, and the process exits 0 — within a deadline shorter than systemd's
//! `TimeoutStopSec` and launchd's `ExitTimeOut`.
//!
//! [`run`] takes its shutdown signal as a future (the mini-redis seam), so tests drive the
//! production path against the simulator and stop it without sending signals.
pub mod login;
mod memory;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::{IbkrBroker, JournalPeriodStore};
use crate::config::Settings;
use crate::cycle::Cycle;
use crate::ibkr::GatewayClient;
use crate::ibkr::session::{KeeperTiming, spawn_keeper};
use crate::journal::Journal;
use crate::notify::Notifier;
use crate::scheduler::Schedule;
use crate::scheduler::driver::{Driver, DriverConfig, SystemClock};
use crate::service::sd;

/// How long shutdown waits for components before exiting anyway (systemd's default
/// `TimeoutStopSec` is 90 s, launchd's `ExitTimeOut` 20 s; a parked cycle stops in well under
/// a second, so this only bites if the gateway hangs mid-request).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Gateway(#[from] crate::ibkr::GatewayError),
    #[error(transparent)]
    Schedule(#[from] crate::scheduler::ScheduleError),
    #[error("notify: {0}")]
    Notify(String),
    #[error(transparent)]
    Ui(#[from] crate::ui::UiError),
}

/// Runs the daemon until `shutdown` resolves.
///
/// # Errors
/// Start-up failures (journal, client, schedule, notifier). Once running, failures are logged
/// and retried by the components themselves; nothing after start-up ends the process.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    crate::util::private_umask();
    let state_dir = settings.state_dir();
    std::fs::create_dir_all(&state_dir).map_err(crate::journal::JournalError::Io)?;
    let journal = Journal::open_in(&state_dir)?;
    let client_options = crate::adapters::client_options(&settings);
    let timing = KeeperTiming::from_options(&client_options);
    let client = GatewayClient::new(client_options)?;
    let schedule = Schedule::from_settings(&settings.schedule)?;
    // Alerts link to the approval page only when this daemon serves it; bound first, so the
    // link names the port actually listened on.
    let page = if settings.ui.enabled {
        Some(crate::ui::bind(settings.ui.listen, &state_dir).await?)
    } else {
        None
    };
    let page_link = page.as_ref().map(crate::ui::Bound::link);
    let notifier = Notifier::from_settings(&settings.notify)
        .map_err(|e| DaemonError::Notify(e.to_string()))?
        .with_ledger_in(&state_dir)
        .with_page_link(page_link);
    let login_hint = login::next_step(&settings);

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    let (login, how) = login::choose(&settings, login::alert_sink(notifier.clone()));
    tracing::info!("gateway login: {how}");
    let keeper = spawn_keeper(client.clone(), login, timing, cancel.child_token());

    let cycle = Arc::new(
        Cycle::new(
            IbkrBroker::new(client.clone(), &settings),
            journal.clone(),
            settings,
        )
        .with_stop(cancel.child_token())
        .with_after_run(std::sync::Arc::new(crate::ui::report::write_logged)),
    );
    let driver = Driver {
        schedule,
        runner: cycle.clone(),
        probe: cycle.clone(),
        store: JournalPeriodStore::new(journal.clone()),
        notifier,
        clock: SystemClock,
        config: DriverConfig {
            status_sink: sd::notify_status,
            login_hint,
            ..DriverConfig::default()
        },
    };
    let driver_cancel = cancel.child_token();
    tracker.spawn(async move { driver.run(driver_cancel).await });
    if let Some(bound) = page {
        let ui = crate::ui::Ui::for_cycle(cycle.clone(), client.clone());
        spawn_page(&tracker, bound, ui, cancel.child_token());
    }
    tracker.spawn(memory::trim_task(client.subscribe(), cancel.child_token()));
    if let Some(every) = sd::watchdog_interval() {
        tracker.spawn(sd::watchdog_task(every, cancel.child_token()));
    }
    tracker.close();

    sd::notify_ready();
    tracing::info!(
        gateway = %cycle.settings.gateway.url,
        mode = crate::cycle::mode_str(cycle.settings.orders.mode),
        "pbal daemon running"
    );

    shutdown.await;
    tracing::info!("shutdown requested: parking the cycle and stopping");
    sd::notify_stopping();
    cancel.cancel();
    wind_down(tracker, keeper, &client, &journal).await
}

/// Serves the approval page until `stop`.
fn spawn_page(
    tracker: &TaskTracker,
    bound: crate::ui::Bound,
    ui: crate::ui::Ui,
    stop: CancellationToken,
) {
    let url = bound.base_url();
    tracker.spawn(async move {
        if let Err(e) = crate::ui::serve(bound, ui, async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "approval page stopped");
        }
    });
    tracing::info!(%url, "approval page listening (`pbal ui --print-link` prints the link with its token)");
}

/// After cancellation: waits (bounded) for the components, saves the cookie jar and
/// checkpoints the journal.
async fn wind_down(
    tracker: TaskTracker,
    keeper: tokio::task::JoinHandle<()>,
    client: &GatewayClient,
    journal: &Journal,
) -> Result<(), DaemonError> {
    let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        tracker.wait().await;
        let _ = keeper.await;
    })
    .await;
    if stopped.is_err() {
        tracing::warn!(
            "components did not stop within {:?}; exiting (the journal's write-ahead log keeps every intent)",
            SHUTDOWN_DEADLINE
        );
    }
    if let Err(e) = client.cookie_jar().save_if_dirty() {
        tracing::warn!(error = %e, "could not save the cookie jar");
    }
    journal.call(|j| j.checkpoint()).await?;
    tracing::info!("pbal daemon stopped");
    Ok(())
}

/// Resolves on SIGTERM (systemd stop, launchd bootout) or SIGINT (Ctrl-C).
///
/// # Errors
/// When the signal handlers cannot be installed.
pub async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
