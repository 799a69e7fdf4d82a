//! `pbal staged list | show ID | approve ID | reject ID`: the human side of stage mode.
use std::process::ExitCode;

use super::Globals;
use super::common::{self, Format};

/// Arguments of `pbal staged`.
#[derive(Debug, clap::Args)]
pub struct StagedArgs {
    #[command(subcommand)]
    pub action: StagedAction,
    #[arg(long, value_enum, default_value_t, global = true)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum StagedAction {
    /// Staged plans, newest first.
    List,
    /// One staged plan with its what-if results.
    Show { id: String },
    /// Re-check the account and execute the plan (re-plans instead if prices moved).
    Approve { id: String },
    /// Reject a staged plan (it stays in the journal).
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn run(g: &Globals, args: StagedArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    match args.action {
        StagedAction::List => {
            let journal = common::journal(&settings)?;
            let plans = journal.staged_plans(chrono::Utc::now())?;
            match args.format {
                Format::Json => common::print_json(&plans)?,
                Format::Table => {
                    if plans.is_empty() {
                        println!("no staged plans");
                    }
                    for p in plans {
                        let n = p
                            .plan
                            .get("legs")
                            .and_then(|l| l.as_array())
                            .map_or(0, Vec::len);
                        println!(
                            "{:<24} {:<11} {:<10} {} orders  created {}  expires {}",
                            p.id, p.state, p.account_id, n, p.created_at, p.expires_at
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StagedAction::Show { id } => {
            let journal = common::journal(&settings)?;
            let p = journal.staged_plan(&id, chrono::Utc::now())?;
            match args.format {
                Format::Json => common::print_json(&p)?,
                Format::Table => {
                    println!(
                        "staged plan {}  {}  account {}  expires {}",
                        p.id, p.state, p.account_id, p.expires_at
                    );
                    if let Ok(rp) =
                        serde_json::from_value::<crate::cycle::planning::RunPlan>(p.plan.clone())
                    {
                        print!("{}", crate::report::render_table(&rp.plan));
                    }
                    println!("\nwhat-if:");
                    for w in p.whatif.as_array().into_iter().flatten() {
                        println!("  {w}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StagedAction::Approve { id } => {
            let rt = common::runtime()?;
            rt.block_on(async {
                let cycle = common::connect(settings).await?;
                super::rebalance::finish(
                    cycle.approve(&id).await,
                    args.format,
                    "pbal staged approve {id}",
                )
            })
        }
        StagedAction::Reject { id, note } => {
            let journal = common::journal(&settings)?;
            journal.decide_staged(&id, "rejected", note.as_deref(), None, chrono::Utc::now())?;
            println!("staged plan {id} rejected (kept in the journal)");
            Ok(ExitCode::SUCCESS)
        }
    }
}
