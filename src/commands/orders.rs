//! `pbal orders list | resolve COID --as filled|cancelled`: the human side of orders whose
//! fate the gateway can no longer tell.
//!
//! Why a command: an order the gateway once had but no longer lists (after a reset, or beyond
//! what its lists keep) is `unknown`, and pbal places no new order while one is — it cannot
//! know whether the money moved. The broker's own statements can; a human reads them and
//! settles the order here. Because the answer changes what pbal believes about money:
//! - only the user who owns the state directory (the one the daemon runs as) may resolve,
//!   and the journal must be private to them (the rule pbal applies to its secret files);
//! - the gateway is asked first, and a definite answer from it is never contradicted;
//! - the decision is journalled with who (OS user and uid) and when, in one transaction with
//!   an audit event.
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::Globals;
use super::common::{self, Format};
use crate::cycle::reconcile::GatewayFate;
use crate::journal::{IntentState, Journal, Resolution};

/// Arguments of `pbal orders`.
#[derive(Debug, clap::Args)]
pub struct OrdersArgs {
    #[command(subcommand)]
    pub action: OrdersAction,
    #[arg(long, value_enum, default_value_t, global = true)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum OrdersAction {
    /// Orders whose fate is open (unknown, working, or written but not confirmed sent).
    List,
    /// Settle an order the gateway can no longer tell about, after checking it in the broker's
    /// UI or statements. The gateway is asked first; its definite answer wins.
    Resolve {
        /// The order's cOID (`pbal orders list` shows it).
        coid: String,
        /// What the broker's records show happened to it.
        #[arg(long = "as", value_enum)]
        outcome: Settled,
    },
}

/// What a human may assert about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Settled {
    Filled,
    Cancelled,
}

impl Settled {
    fn state(self) -> IntentState {
        match self {
            Settled::Filled => IntentState::Filled,
            Settled::Cancelled => IntentState::Cancelled,
        }
    }
}

pub fn run(g: &Globals, args: OrdersArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    match args.action {
        OrdersAction::List => {
            let journal = common::journal(&settings)?;
            let open = journal.open_orders()?;
            match args.format {
                Format::Json => common::print_json(&open)?,
                Format::Table if open.is_empty() => println!("no open orders"),
                Format::Table => {
                    println!(
                        "{:<34} {:<8} {:<4} {:>10} {:<8} {:<10} {:<25} note",
                        "cOID", "symbol", "side", "qty", "state", "order id", "last change"
                    );
                    for o in open {
                        let i = &o.intent;
                        println!(
                            "{:<34} {:<8} {:<4} {:>10} {:<8} {:<10} {:<25} {}",
                            i.coid,
                            i.symbol,
                            i.side,
                            i.quantity,
                            i.state.as_str(),
                            i.gateway_order_id.as_deref().unwrap_or("-"),
                            o.updated_at,
                            i.last_error.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersAction::Resolve { coid, outcome } => {
            let who = caller(&settings.state_dir())?;
            let journal = common::journal(&settings)?;
            let Some(intent) = journal.intent(&coid)? else {
                bail!(
                    "no order with cOID {coid} in the journal; `pbal orders list` shows the open ones"
                );
            };
            if intent.state.is_terminal() {
                bail!(
                    "order {coid} ({} {} {}) is already {}; there is nothing to resolve",
                    intent.side,
                    intent.quantity,
                    intent.symbol,
                    intent.state.as_str()
                );
            }
            let gateway = ask(settings, &intent)?;
            resolve(&journal, &coid, outcome, &who, &gateway)
        }
    }
}

/// Asks the gateway about the order; `Ok(text)` when it cannot tell or is unreachable (then
/// the human's word is recorded with that text), an error when it contradicts `as`.
fn ask(
    settings: crate::config::Settings,
    intent: &crate::journal::OrderIntent,
) -> anyhow::Result<Result<String, (IntentState, String)>> {
    let rt = common::runtime()?;
    rt.block_on(async {
        let cycle = common::connect(settings).await?;
        Ok(match cycle.ask_gateway(intent).await {
            Ok(GatewayFate::CannotTell) => Ok("asked; it cannot tell".to_owned()),
            Ok(GatewayFate::Definite { state, source }) => Err((state, source)),
            Err(e) => Ok(format!("not reachable: {e}")),
        })
    })
}

fn resolve(
    journal: &Journal,
    coid: &str,
    outcome: Settled,
    who: &str,
    gateway: &Result<String, (IntentState, String)>,
) -> anyhow::Result<ExitCode> {
    let state = outcome.state();
    let said = match gateway {
        Ok(text) => text.clone(),
        Err((st, source)) if *st == state => format!("agrees: {source}"),
        Err((st, source)) => bail!(
            "the gateway says order {coid} is {} ({source}); pbal does not record it as {} \
             against that. {}",
            st.as_str(),
            state.as_str(),
            if *st == IntentState::Working {
                "Cancel it in the broker's UI first, or let the next run pick up its fill."
            } else {
                "The next run records the gateway's answer by itself."
            }
        ),
    };
    let r = Resolution {
        coid,
        state,
        by: who,
        gateway: &said,
    };
    if !journal.resolve_intent(&r, chrono::Utc::now())? {
        bail!("order {coid} was settled meanwhile (a run learnt its fate); see `pbal orders list`");
    }
    println!(
        "order {coid} resolved as {} by {who} (gateway: {said})",
        state.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// Who is asking, refused unless it is the user who owns the state directory and its journal
/// (the daemon's user): another local user must not settle this account's orders.
fn caller(state_dir: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let meta = std::fs::metadata(state_dir)
        .with_context(|| format!("state dir {}", state_dir.display()))?;
    if meta.uid() != me {
        bail!(
            "state dir {} is owned by uid {}, not by you (uid {me}): run `pbal orders resolve` \
             as the user that runs pbal",
            state_dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "state dir {} is writable by others (mode {:04o}); run `chmod 700 {}` first",
            state_dir.display(),
            meta.mode() & 0o777,
            state_dir.display()
        );
    }
    let journal = state_dir.join(Journal::FILE_NAME);
    crate::util::check_private_file(&journal)
        .map_err(|e| anyhow::anyhow!("journal {}: {e}", journal.display()))?;
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    Ok(format!("{name} (uid {me})"))
}
