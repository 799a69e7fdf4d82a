//! One function per subcommand. This is the only layer that uses `anyhow`: errors from the
//! typed boundaries are reported here, once, with the exit code the user sees.
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod cert;
pub mod check;
pub mod plan;
pub mod service;
pub mod sim;

/// Entry point called by `main`: dispatches the parsed command and maps errors to exit codes.
pub fn main(cli: Cli) -> ExitCode {
    let log_format = cli.log_format.clone();
    let config = cli.config.clone();
    let result = match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Sim(args) => {
            crate::telemetry::init(log_format.as_deref(), None);
            sim::run(args)
        }
        Command::Cert(args) => cert::run(args, config.as_deref()),
        Command::Check(args) => {
            crate::telemetry::init(log_format.as_deref(), Some("warn"));
            check::run(args, config.as_deref())
        }
        Command::Service(args) => service::run(args, config.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
