//! `pbal demo`: the whole product on the bundled simulator, with one command.
//!
//! Starts the simulator in-process (a paper account holding the seeds' ten ETFs plus cash),
//! trusts its freshly generated CA (verification stays on), runs one cycle in stage mode and
//! prints the plan and how to approve it. `pbal demo --approve ID` starts the simulator again
//! (same deterministic account) and approves the staged plan against it, showing the orders,
//! fills and journal entries. State lives in `--state-dir` (default: `pbal-demo` in the system
//! temp dir) so the two steps share one journal.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Globals;
use super::common::{self, Format};
use crate::config::{CashSetting, OrderMode, Settings};
use crate::cycle::RunKind;
use crate::sim::{SimConfig, Simulator};

/// Arguments of `pbal demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its journal and the simulator's CA.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Approve a plan staged by an earlier `pbal demo` (submits it to the simulator).
    #[arg(long, value_name = "ID")]
    pub approve: Option<String>,
    /// Run the cycle in this mode instead of `stage`.
    #[arg(long, value_parser = |s: &str| s.parse::<OrderMode>())]
    pub mode: Option<OrderMode>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Where the approval page listens after staging (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8421")]
    pub ui_listen: std::net::SocketAddr,
    /// Exit after staging instead of serving the approval page.
    #[arg(long)]
    pub no_ui: bool,
}

pub fn run(g: &Globals, args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::telemetry::init(
        Some(g.log_format.as_deref().unwrap_or("auto")),
        Some("warn"),
    );
    crate::util::private_umask();
    let dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("pbal-demo"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let rt = common::runtime()?;
    rt.block_on(async move {
        let sim = Simulator::start(SimConfig::default())
            .await
            .context("starting the simulator")?;
        let ca = dir.join("sim-ca.pem");
        sim.write_ca(&ca)
            .with_context(|| format!("writing {}", ca.display()))?;
        let settings = demo_settings(&sim.base_url(), &ca, &dir)?;
        if args.format == Format::Table {
            println!(
                "pbal demo: simulated gateway at {} (paper account {}), state in {}\n",
                sim.base_url(),
                sim.account_id(),
                dir.display()
            );
        }
        let probe = crate::adapters::gateway_client(&settings)?;
        let cycle = common::connect(settings).await?;
        let approve_cmd = format!(
            "pbal demo --approve {{id}}{}",
            args.state_dir
                .as_ref()
                .map(|d| format!(" --state-dir {}", d.display()))
                .unwrap_or_default()
        );
        let code = match &args.approve {
            Some(id) => {
                super::rebalance::finish(cycle.approve(id).await, args.format, &approve_cmd)?
            }
            None => {
                let mode = args.mode.unwrap_or(OrderMode::Stage);
                let result = cycle.run(mode, RunKind::Demo, None).await;
                let staged = matches!(&result, Ok(r) if r.status == "staged");
                let code = super::rebalance::finish(result, args.format, &approve_cmd)?;
                if staged && args.format == Format::Table && !args.no_ui {
                    serve_page(cycle, probe, args.ui_listen, &dir).await?;
                }
                code
            }
        };
        sim.shutdown().await;
        Ok(code)
    })
}

/// Serves the approval page for the staged demo plan (simulator still running) until Ctrl-C.
/// The link is the last thing printed.
async fn serve_page(
    cycle: crate::cycle::Cycle<crate::adapters::IbkrBroker>,
    probe: crate::ibkr::GatewayClient,
    listen: std::net::SocketAddr,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let bound = match crate::ui::bind(listen, dir).await {
        Ok(b) => b,
        // The default port is taken (a daemon's page, another demo): any free port will do.
        Err(crate::ui::UiError::Bind { .. }) if listen.port() != 0 => {
            crate::ui::bind(std::net::SocketAddr::new(listen.ip(), 0), dir).await?
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "\nReview the plan (chart, orders, what-if) and approve or reject it in a browser — \
         Ctrl-C stops the simulator and the page:\n{}",
        bound.link()
    );
    let ui = crate::ui::Ui::for_cycle(std::sync::Arc::new(cycle), probe);
    let shutdown = async {
        let _ = crate::daemon::shutdown_signal().await;
    };
    crate::ui::serve(bound, ui, shutdown).await?;
    Ok(())
}

/// The defaults, pointed at the simulator: trust its CA, keep state in the demo dir, invest the
/// available cash with the default never-sell strategy in whole shares.
fn demo_settings(
    url: &str,
    ca: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<Settings> {
    let mut s = Settings::load_from(None, Vec::<(String, String)>::new())?;
    s.gateway.url = url.to_owned();
    s.gateway.ca_cert = Some(ca.to_path_buf());
    s.state.dir = Some(dir.to_path_buf());
    s.portfolio.cash = CashSetting::Available;
    s.orders.poll_interval_secs = 5;
    s.orders.fill_timeout_secs = 60;
    s.validate()?;
    Ok(s)
}
