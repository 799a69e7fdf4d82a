//! `pbal rebalance`: one cycle now, in the configured (or given) mode.
use std::process::ExitCode;

use super::Globals;
use super::common::{self, Format};
use crate::config::OrderMode;
use crate::cycle::{CycleError, CycleReport, RunKind};

/// Arguments of `pbal rebalance`.
#[derive(Debug, clap::Args)]
pub struct RebalanceArgs {
    /// `dry-run` (log the plan), `stage` (store it for approval) or `submit` (place the orders).
    /// Default: `orders.mode` from the config (itself `stage` by default).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<OrderMode>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn parse_mode(s: &str) -> Result<OrderMode, String> {
    s.parse()
}

pub fn run(g: &Globals, args: RebalanceArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    let mode = args.mode.unwrap_or(settings.orders.mode);
    let rt = common::runtime()?;
    rt.block_on(async {
        let cycle = common::connect(settings).await?;
        let result = cycle.run(mode, RunKind::Manual, None).await;
        finish(result, args.format, "pbal staged approve {id}")
    })
}

/// Prints a cycle's report (or error) and chooses the exit code: 0 done, 3 refused by a
/// guard, 4 session not ready, 2 any other error.
///
/// `approve_cmd` is how this user approves a staged plan (`{id}` is replaced).
pub fn finish(
    result: Result<CycleReport, CycleError>,
    format: Format,
    approve_cmd: &str,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(report) => {
            match format {
                Format::Json => common::print_json(&report)?,
                Format::Table => {
                    print_report(&report);
                    if let Some(id) = &report.staged_id
                        && (report.status == "staged" || report.status == "restaged")
                    {
                        println!(
                            "\nNothing was sent. Staged as {id}; approve with:\n  {}",
                            approve_cmd.replace("{id}", id)
                        );
                    }
                }
            }
            Ok(if report.status == "partial" {
                ExitCode::from(5)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e @ CycleError::Guard(_)) => {
            eprintln!("pbal: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) if e.is_session_lost() => {
            eprintln!("pbal: {e}");
            eprintln!(
                "log in to the gateway (open its URL in a browser), then run the command again"
            );
            Ok(ExitCode::from(4))
        }
        Err(e) => Err(e.into()),
    }
}

/// Human rendering of a cycle: the plan, then what happened to each order.
pub fn print_report(r: &CycleReport) {
    println!(
        "run {}  account {}  mode {}  status {}",
        r.run_id,
        r.account_id,
        crate::cycle::mode_str(r.mode),
        r.status
    );
    if let Some(plan) = &r.plan {
        println!();
        print!("{}", crate::report::render_table(&plan.plan));
        if let Some(t) = &plan.tax {
            print!("{}", t.text());
        }
        if !plan.legs.is_empty() {
            println!("\norders ({}):", plan.legs.len());
            for l in &plan.legs {
                let kind = match l.order_type {
                    crate::cycle::broker::OrderType::Market => "MKT".to_owned(),
                    crate::cycle::broker::OrderType::Limit { price } => format!("LMT {price}"),
                };
                println!(
                    "  {:>2}  {:<4} {:>10} {:<8} {:<12} {}  {}",
                    l.leg,
                    l.side.as_str(),
                    l.quantity,
                    l.symbol,
                    kind,
                    l.tif,
                    l.coid(&r.run_id)
                );
            }
        }
    }
    if !r.orders.is_empty() {
        println!("\nexecution:");
        for o in &r.orders {
            println!(
                "  {:<4} {:>10} {:<8} {:<10} {:>10}/{}{}{}",
                o.side.as_str(),
                o.quantity,
                o.symbol,
                o.state.as_str(),
                o.filled,
                o.quantity,
                o.avg_price.map(|p| format!(" @ {p}")).unwrap_or_default(),
                o.message
                    .as_deref()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default()
            );
        }
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}
