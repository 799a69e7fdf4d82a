//! `pbal run`: the long-running service (see [`crate::daemon`]).
use std::process::ExitCode;

use super::Globals;
use super::common;

/// Arguments of `pbal run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(g: &Globals, _args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let shutdown = async {
            match crate::daemon::shutdown_signal().await {
                Ok(sig) => tracing::info!(signal = sig, "signal received"),
                Err(e) => {
                    // Without handlers the service could not stop cleanly: refuse to run.
                    tracing::error!(error = %e, "cannot install signal handlers");
                }
            }
        };
        crate::daemon::run(settings, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
