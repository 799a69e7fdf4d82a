//! One function per subcommand. This is the only layer that uses `anyhow`: errors from the
//! typed boundaries are reported here, once, with the exit code the user sees.
use std::path::PathBuf;

pub mod cert;
pub mod check;
pub mod common;
pub mod demo;
pub mod history;
pub mod login;
pub mod orders;
pub mod plan;
pub mod plan_tax;
pub mod rebalance;
pub mod run;
pub mod service;
pub mod sim;
pub mod staged;
pub mod status;
pub mod ui;

/// Options every subcommand may use.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub config: Option<PathBuf>,
    pub log_format: Option<String>,
}

/// The executable that runs every command, installed next to the `pbal` front (which runs only
/// `plan` itself; see `src/main.rs`).
pub const FULL_EXE: &str = "pbal-full";
