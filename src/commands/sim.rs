//! `pbal sim` — the gateway simulator (owned by the simulator work).
use std::process::ExitCode;

/// Arguments of `pbal sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: String,
}

pub fn run(_args: SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pbal sim: under construction")
}
