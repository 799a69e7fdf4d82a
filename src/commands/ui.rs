//! `pbal ui`: serves the approval page (see [`crate::ui`]) until SIGTERM/SIGINT.
//!
//! The first stdout line is `listening on http://ADDR/`, the second the link with the token —
//! scripts and the browser test read them, so their form is fixed.
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::Globals;
use super::common;
use crate::config::Settings;

/// Arguments of `pbal ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Loopback address to listen on (default `ui.listen`); port 0 picks a free one.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Print the link for `ui.listen` (with its token) and exit, e.g. for a page served by
    /// `pbal run` with `ui.enabled = true`.
    #[arg(long)]
    pub print_link: bool,
}

pub fn run(g: &Globals, args: UiArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    if args.print_link {
        crate::util::private_umask();
        println!("{}", crate::ui::configured_link(&settings)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rt = common::runtime()?;
    rt.block_on(async move {
        let addr = args.listen.unwrap_or(settings.ui.listen);
        let bound = crate::ui::bind(addr, &settings.state_dir()).await?;
        let ui = page(settings).await?;
        println!("listening on {}", bound.base_url());
        println!("{}", bound.link());
        let shutdown = async {
            if let Ok(sig) = crate::daemon::shutdown_signal().await {
                tracing::info!(signal = sig, "ui: stopping");
            }
        };
        crate::ui::serve(bound, ui, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The page on the real gateway: decisions go through the same [`crate::cycle::Cycle`] as
/// `pbal staged approve`; the status page asks the gateway's auth status.
pub async fn page(settings: Settings) -> anyhow::Result<crate::ui::Ui> {
    let probe_client =
        crate::adapters::gateway_client(&settings).context("building the gateway client")?;
    let cycle = common::connect(settings).await?;
    Ok(crate::ui::Ui::for_cycle(Arc::new(cycle), probe_client))
}
