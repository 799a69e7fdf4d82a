//! `pbal plan FILE.csv` — offline planning (owned by the planning-core work).
use std::process::ExitCode;

/// Arguments of `pbal plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The portfolio CSV.
    pub csv: Option<std::path::PathBuf>,
}

pub fn run(_args: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pbal plan: under construction")
}
