//! `pbal status`: what the daemon would tell you — session, next run, last runs, staged plans,
//! kill switch. Reads the gateway's auth status (no state change) and the journal.
use std::process::ExitCode;

use serde_json::json;

use super::Globals;
use super::common::{self, Format};
use crate::scheduler::Schedule;
use crate::scheduler::driver::PeriodStore;
use crate::scheduler::journal_store::JournalPeriodStore;

/// Arguments of `pbal status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(g: &Globals, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    let journal = common::journal(&settings)?;
    let rt = common::runtime()?;
    rt.block_on(async move {
        let now = chrono::Utc::now();
        let session = match crate::ibkr::GatewayClient::from_settings(&settings) {
            Ok(client) => match client.auth_status().await {
                Ok(a) if a.healthy() => "ready".to_owned(),
                Ok(a) => format!("not ready: {}", a.reason()),
                Err(e) => format!("unreachable: {e}"),
            },
            Err(e) => format!("not configured: {e}"),
        };
        let schedule = Schedule::from_settings(&settings.schedule)?;
        let store = JournalPeriodStore::new(journal.clone());
        let mut state = store.load().await?;
        if state.since.is_none() {
            // The daemon has never run: it would start tracking now (no catch-up of the past),
            // so show the run it would actually make.
            state.apply(&crate::scheduler::PeriodEvent::TrackingStarted { at: now });
        }
        let next = schedule.next_run_at(now, &state);
        let runs = journal.runs(5)?;
        let staged: Vec<_> = journal
            .staged_plans(now)?
            .into_iter()
            .filter(|p| p.state == "pending")
            .collect();
        let stop_file = settings.state_dir().join(crate::cycle::guards::STOP_FILE);
        let kill = if !settings.orders.enabled {
            Some("orders.enabled = false".to_owned())
        } else if stop_file.exists() {
            Some(format!("{} exists", stop_file.display()))
        } else {
            None
        };
        match args.format {
            Format::Json => common::print_json(&json!({
                "session": session,
                "mode": crate::cycle::mode_str(settings.orders.mode),
                "next_run": next.as_ref().map(|n| json!({
                    "period": n.period.as_str(), "at": n.at,
                    "local": schedule.local(n.at), "exchange": schedule.exchange_time(n.at)})),
                "last_runs": runs,
                "staged_pending": staged,
                "kill_switch": kill,
                "journal": journal.path(),
            }))?,
            Format::Table => {
                println!("gateway    {}  session {session}", settings.gateway.url);
                println!(
                    "mode       {}",
                    crate::cycle::mode_str(settings.orders.mode)
                );
                match &next {
                    Some(n) => println!(
                        "next run   {} at {} ({} exchange time)",
                        n.period.as_str(),
                        schedule.local(n.at),
                        schedule.exchange_time(n.at)
                    ),
                    None => println!("next run   none scheduled"),
                }
                println!(
                    "kill switch {}",
                    kill.as_deref()
                        .map_or("off".to_owned(), |k| format!("ON ({k})"))
                );
                println!("staged     {} pending", staged.len());
                for p in &staged {
                    println!(
                        "  {}  expires {}  (pbal staged show {})",
                        p.id, p.expires_at, p.id
                    );
                }
                println!("last runs");
                for r in &runs {
                    println!(
                        "  {}  {:<9} {:<7} {:<12} {}",
                        r.id,
                        r.kind,
                        r.mode,
                        r.status,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
