//! `pbal history [--run ID]`: what pbal did, from the journal.
use std::process::ExitCode;

use super::Globals;
use super::common::{self, Format};
use crate::journal::Journal;

/// Output of `pbal history`: the common formats plus CSV (orders and fills, for a spreadsheet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum HistoryFormat {
    #[default]
    Table,
    Json,
    Csv,
}

/// Arguments of `pbal history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Show one run in full (snapshot, plan, orders, fills, events).
    #[arg(long)]
    pub run: Option<String>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: HistoryFormat,
}

pub fn run(g: &Globals, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    let journal = common::journal(&settings)?;
    let format = match args.format {
        HistoryFormat::Csv => {
            let ids: Vec<String> = match &args.run {
                Some(id) => vec![id.clone()],
                None => journal
                    .runs(args.limit)?
                    .into_iter()
                    .map(|r| r.id)
                    .collect(),
            };
            let views = ids
                .iter()
                .map(|id| crate::ui::runview::RunView::load(&journal, id))
                .collect::<Result<Vec<_>, _>>()?;
            crate::ui::report::write_csv(&views, std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        HistoryFormat::Json => Format::Json,
        HistoryFormat::Table => Format::Table,
    };
    match args.run {
        Some(id) => show_run(&journal, &id, format)?,
        None => list_runs(&journal, args.limit, format)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One run in full: the run, its orders, their fills and its events.
fn show_run(journal: &Journal, id: &str, format: Format) -> anyhow::Result<()> {
    let run = journal.run(id)?;
    let intents = journal.intents_for_run(id)?;
    let coids: Vec<String> = intents.iter().map(|i| i.coid.clone()).collect();
    let fills = journal.fills_for_coids(&coids)?;
    let events = journal.events(Some(id))?;
    if format == Format::Json {
        return common::print_json(&serde_json::json!({
            "run": run, "orders": intents, "fills": fills,
            "events": events.iter().map(|(at, kind, payload)| serde_json::json!({"at": at, "kind": kind, "payload": payload})).collect::<Vec<_>>(),
        }));
    }
    println!(
        "run {}  {} {}  {}  status {}{}",
        run.id,
        run.kind,
        run.mode,
        run.account_id.as_deref().unwrap_or("-"),
        run.status,
        run.period
            .as_deref()
            .map(|p| format!("  period {p}"))
            .unwrap_or_default()
    );
    println!(
        "started {}  finished {}",
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    if let Some(e) = &run.error {
        println!("error: {e}");
    }
    if run.prices_delayed {
        println!("note: planned on delayed market data");
    }
    if !intents.is_empty() {
        println!(
            "\n{:<34} {:<6} {:<6} {:>10} {:<10} {:>10} {:>12}",
            "cOID", "side", "symbol", "qty", "state", "filled", "avg price"
        );
        for i in &intents {
            println!(
                "{:<34} {:<6} {:<6} {:>10} {:<10} {:>10} {:>12}",
                i.coid,
                i.side,
                i.symbol,
                i.quantity,
                i.state.as_str(),
                i.filled_qty.as_deref().unwrap_or("-"),
                i.avg_price.as_deref().unwrap_or("-")
            );
            if let Some(e) = &i.last_error {
                println!("    {e}");
            }
        }
    }
    if !fills.is_empty() {
        println!("\nfills:");
        for f in &fills {
            println!(
                "  {} {} {} {} @ {} commission {}",
                f.execution_id,
                f.side,
                f.size,
                f.symbol,
                f.price,
                f.commission.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

/// The latest `limit` runs, one line each.
fn list_runs(journal: &Journal, limit: u32, format: Format) -> anyhow::Result<()> {
    let runs = journal.runs(limit)?;
    if format == Format::Json {
        return common::print_json(&runs);
    }
    if runs.is_empty() {
        println!("no runs yet (journal: {})", journal.path().display());
    }
    println!(
        "{:<22} {:<10} {:<8} {:<10} {:<14} {:<9} started",
        "run", "kind", "mode", "account", "status", "period"
    );
    for r in runs {
        println!(
            "{:<22} {:<10} {:<8} {:<10} {:<14} {:<9} {}",
            r.id,
            r.kind,
            r.mode,
            r.account_id.as_deref().unwrap_or("-"),
            r.status,
            r.period.as_deref().unwrap_or("-"),
            r.started_at
        );
    }
    Ok(())
}
