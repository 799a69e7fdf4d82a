//! Command-line interface (clap). Each subcommand's arguments live beside its implementation
//! in [`crate::commands`], so adding a command touches this enum and one module.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;

/// pbal keeps an Interactive Brokers portfolio on target.
#[derive(Debug, Parser)]
#[command(name = "pbal", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file layered over `config/default.toml` (then `PBAL__SECTION__KEY` env vars).
    #[arg(long, global = true, env = "PBAL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log output: `auto` (human on a terminal, no timestamps under systemd), `human` or `json`.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,

    #[command(subcommand)]
    pub command: Command,
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
