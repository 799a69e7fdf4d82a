//! One function per subcommand. This is the only layer that uses `anyhow`: errors from the
//! typed boundaries are reported here, once, with the exit code the user sees.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod cert;
pub mod check;
pub mod common;
pub mod demo;
pub mod history;
pub mod login;
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

/// Entry point called by `main`: dispatches the parsed command and maps errors to exit codes.
pub fn main(cli: Cli) -> ExitCode {
    let Cli {
        config,
        log_format,
        command,
    } = cli;
    let g = Globals { config, log_format };
    let result = match command {
        Command::Plan(args) => plan::run(*args),
        Command::Sim(args) => {
            crate::telemetry::init(g.log_format.as_deref(), None);
            sim::run(args)
        }
        Command::Cert(args) => cert::run(args, g.config.as_deref()),
        Command::Check(args) => {
            crate::telemetry::init(g.log_format.as_deref(), Some("warn"));
            check::run(args, g.config.as_deref())
        }
        Command::Service(args) => service::run(args, g.config.as_deref()),
        Command::Demo(args) => demo::run(&g, args),
        Command::Rebalance(args) => rebalance::run(&g, args),
        Command::Staged(args) => staged::run(&g, args),
        Command::History(args) => history::run(&g, args),
        Command::Run(args) => run::run(&g, args),
        Command::Status(args) => status::run(&g, args),
        Command::Ui(args) => ui::run(&g, args),
        Command::Login(args) => login::run(&g, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
