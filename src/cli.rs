//! Command-line interface (clap) and the dispatch to `crate::commands`. Each subcommand's
//! arguments live beside its implementation, so adding a command touches this file (enum and
//! dispatch) and one module. The dependency runs one way: `cli` → `commands`.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{self, FULL_EXE};

mod fast;

/// pbal keeps an Interactive Brokers portfolio on target.
#[derive(Debug, Parser)]
#[command(name = "pbal", bin_name = "pbal", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts (before or after its name).
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Configuration file layered over `config/default.toml` (then `PBAL__SECTION__KEY` env vars).
    #[arg(long, global = true, env = "PBAL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log output: `auto` (human on a terminal, no timestamps under systemd), `human` or `json`.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// The `pbal plan` command line alone, parsed by the front executable (`src/main.rs`) so that
/// offline planning links none of the daemon (see `main.rs`). Same name, attributes and global
/// options as [`Cli`], so `pbal plan --help` and its errors read exactly as through `pbal-full`
/// (`tests/front.rs` compares them).
#[derive(Debug, Parser)]
#[command(name = "pbal", bin_name = "pbal", version, about, long_about = None)]
pub struct PlanCli {
    #[command(flatten)]
    pub globals: GlobalArgs,

    #[command(subcommand)]
    pub command: PlanOnly,
}

/// The one subcommand of [`PlanCli`].
#[derive(Debug, Subcommand)]
pub enum PlanOnly {
    /// Offline planning from a CSV (the original tool's mode).
    Plan(Box<commands::plan::PlanArgs>),
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline planning from a CSV (the original tool's mode).
    Plan(Box<commands::plan::PlanArgs>),
    /// Run a Client Portal Gateway simulator over TLS.
    Sim(commands::sim::SimArgs),
    /// Trust the gateway's certificate: `pin` it, or `generate` a CA and certificate for it.
    Cert(commands::cert::CertArgs),
    /// Check config, certificate trust, session, account and target symbols (PASS/FAIL).
    Check(commands::check::CheckArgs),
    /// Install pbal as a systemd or launchd service.
    Service(commands::service::ServiceArgs),
    /// The whole product on the bundled simulator: stage a plan, then approve it.
    Demo(commands::demo::DemoArgs),
    /// One rebalance cycle now against the gateway (dry-run, stage or submit).
    Rebalance(commands::rebalance::RebalanceArgs),
    /// List, show, approve or reject staged plans.
    Staged(commands::staged::StagedArgs),
    /// Orders of open or unknown fate; settle one the gateway can no longer tell about.
    Orders(commands::orders::OrdersArgs),
    /// Past runs from the journal.
    History(commands::history::HistoryArgs),
    /// The long-running service: session keeper + quarterly scheduler (SIGTERM/SIGINT stop it).
    Run(commands::run::RunArgs),
    /// Session, next scheduled run, last runs, staged plans, kill switch.
    Status(commands::status::StatusArgs),
    /// The local approval page: staged plans with a chart, history, status (loopback only).
    Ui(commands::ui::UiArgs),
    /// Log in to the gateway now without a browser (SRP + TOTP / IB Key); --check, --reset.
    Login(commands::login::LoginArgs),
}

/// Entry point called by `main`: dispatches the parsed command and maps errors to exit codes.
pub fn main(cli: Cli) -> ExitCode {
    let Cli {
        globals: GlobalArgs { config, log_format },
        command,
    } = cli;
    let g = commands::Globals { config, log_format };
    let result = match command {
        Command::Plan(args) => commands::plan::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Sim(args) => {
            crate::telemetry::init(g.log_format.as_deref(), None);
            commands::sim::run(args)
        }
        Command::Cert(args) => commands::cert::run(args, g.config.as_deref()),
        Command::Check(args) => {
            crate::telemetry::init(g.log_format.as_deref(), Some("warn"));
            commands::check::run(args, g.config.as_deref())
        }
        Command::Service(args) => commands::service::run(args, g.config.as_deref()),
        Command::Demo(args) => commands::demo::run(&g, args),
        Command::Rebalance(args) => commands::rebalance::run(&g, args),
        Command::Staged(args) => commands::staged::run(&g, args),
        Command::Orders(args) => commands::orders::run(&g, args),
        Command::History(args) => commands::history::run(&g, args),
        Command::Run(args) => commands::run::run(&g, args),
        Command::Status(args) => commands::status::run(&g, args),
        Command::Ui(args) => commands::ui::run(&g, args),
        Command::Login(args) => commands::login::run(&g, args),
    };
    finish(result)
}

/// Parses `pbal plan …` for the front: the plain lines without clap (see `cli::fast`), the
/// rest (help, errors, rare flags) with it.
pub fn parse_plan() -> PlanCli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
    fast::parse_plan(&args).unwrap_or_else(PlanCli::parse)
}

/// Entry point of the front executable for `pbal plan`: the same command, output and exit
/// status (0, or 2 after the error chain on stderr) as through [`main`], as a C `main` returns
/// it. `plan` reads neither the configuration nor the log format.
pub fn plan_main(cli: PlanCli) -> u8 {
    let PlanOnly::Plan(args) = cli.command;
    commands::plan::run(*args).map_or_else(fail, |()| 0)
}

/// Maps a command's result to the process exit code.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| ExitCode::from(fail(e)))
}

/// A failed command: the error chain on stderr, exit status 2 (for both executables).
fn fail(e: anyhow::Error) -> u8 {
    eprintln!("error: {}", chain_text(&e));
    2
}

/// The error and its causes joined by `": "`, as anyhow's `{:#}` joins them, except that a
/// cause whose text already ends the message is not repeated. Why: several error types show
/// their source in their own message (so a log line of the error alone is complete) and also
/// expose it as `source()`; the full chain would print that reason twice.
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Replaces this process with `pbal-full` (same PID, arguments, environment and open files), so
/// supervisors, signals and `sd_notify` see one process. Returns only on failure (status 2).
pub fn forward_to_full() -> u8 {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "pbal".into());
    let full = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(FULL_EXE),
        Err(e) => {
            eprintln!("error: cannot locate this executable to start {FULL_EXE}: {e}");
            return 2;
        }
    };
    let err = std::process::Command::new(&full)
        .arg0(argv0)
        .args(args)
        .exec();
    eprintln!(
        "error: cannot start {}: {err} (pbal is two executables, `pbal` and `{FULL_EXE}`, \
         installed side by side)",
        full.display()
    );
    2
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    #[derive(Debug, thiserror::Error)]
    #[error("data.csv: cannot read: {source}")]
    struct Shows {
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("data.csv: cannot read")]
    struct Hides {
        #[source]
        source: std::io::Error,
    }

    fn missing() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_source_already_in_the_message_is_printed_once() {
        let e = anyhow::Error::new(Shows { source: missing() });
        assert_eq!(chain_text(&e), "data.csv: cannot read: no such file");
        // Context above it changes nothing below.
        let e = e.context("plan");
        assert_eq!(chain_text(&e), "plan: data.csv: cannot read: no such file");
    }

    #[test]
    fn a_source_not_in_the_message_is_joined_as_anyhow_joins_it() {
        let e = anyhow::Error::new(Hides { source: missing() }).context("plan");
        assert_eq!(chain_text(&e), format!("{e:#}"));
        assert_eq!(chain_text(&e), "plan: data.csv: cannot read: no such file");
    }
}
