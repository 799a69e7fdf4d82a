//! `pbal status`: what the daemon would tell you — session, next run, last runs, staged plans,
//! kill switch. Reads the gateway's auth status (no state change) and the journal; the same
//! view feeds the status page of `pbal ui` ([`crate::ui::status::StatusView`]).
use std::process::ExitCode;

use super::Globals;
use super::common::{self, Format};
use crate::ui::status::StatusView;

/// Arguments of `pbal status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The gateway's session state in one line (never changes it).
async fn session_line(settings: &crate::config::Settings) -> String {
    match crate::adapters::gateway_client(settings) {
        Ok(client) => crate::ui::status::session_line(&client).await,
        Err(e) => format!("not configured: {e}"),
    }
}

pub fn run(g: &Globals, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    let journal = common::journal(&settings)?;
    let rt = common::runtime()?;
    rt.block_on(async move {
        let session = session_line(&settings).await;
        let v = StatusView::gather(&settings, &journal, session, chrono::Utc::now())
            .await
            .map_err(anyhow::Error::msg)?;
        match args.format {
            Format::Json => common::print_json(&v)?,
            Format::Table => print_table(&settings, &v),
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_table(settings: &crate::config::Settings, v: &StatusView) {
    println!("gateway    {}  session {}", settings.gateway.url, v.session);
    println!("login      {}", v.login);
    println!("mode       {}", v.mode);
    match &v.next_run {
        Some(n) => println!(
            "next run   {} at {} ({} exchange time)",
            n.period, n.local, n.exchange
        ),
        None => println!("next run   none scheduled"),
    }
    println!(
        "kill switch {}",
        v.kill_switch
            .as_deref()
            .map_or("off".to_owned(), |k| format!("ON ({k})"))
    );
    println!("staged     {} pending", v.staged_pending.len());
    for p in &v.staged_pending {
        println!(
            "  {}  expires {}  (pbal staged show {})",
            p.id, p.expires_at, p.id
        );
    }
    println!("last runs");
    for r in &v.last_runs {
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
