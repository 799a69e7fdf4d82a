//! Helpers shared by the commands that touch the account or the journal.
use std::path::Path;

use anyhow::Context;

use crate::config::Settings;
use crate::journal::Journal;

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Loads the layered settings and starts tracing with the configured filter and format.
pub fn load(config: Option<&Path>, log_format: Option<&str>) -> anyhow::Result<Settings> {
    let settings = Settings::load(config)?;
    crate::telemetry::init(
        Some(log_format.unwrap_or(&settings.log.format)),
        Some(&settings.log.filter),
    );
    Ok(settings)
}

/// Opens the journal in the state dir (created 0700, files 0600).
pub fn journal(settings: &Settings) -> anyhow::Result<Journal> {
    crate::util::private_umask();
    let dir = settings.state_dir();
    Journal::open_in(&dir).with_context(|| format!("state dir {}", dir.display()))
}

/// A multi-threaded runtime for the async commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Pretty JSON to stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Builds a cycle on the real gateway client from the settings: client (TLS trust, cookie jar
/// in the state dir), journal, kill-switch dir, wall clock.
pub async fn connect(
    settings: Settings,
) -> anyhow::Result<crate::cycle::Cycle<crate::adapters::IbkrBroker>> {
    let journal = journal(&settings)?;
    let client = crate::adapters::gateway_client(&settings)?;
    let broker = crate::adapters::IbkrBroker::new(client, &settings);
    Ok(crate::cycle::Cycle::new(broker, journal, settings).with_after_run(report_hook()))
}

/// The run-report writer every command's cycle calls after a run (`reports/<run>.html`/`.json`).
pub fn report_hook() -> crate::cycle::RunHook {
    std::sync::Arc::new(crate::ui::report::write_logged)
}
