//! `pbal plan -s tax-aware`: the offline tax-aware plan from a positions CSV plus Flex lots
//! (and optionally Flex trades for the wash-sale window and year-to-date gains).
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::plan::Format;
use crate::strategy::{PlanError, PlanRequest, Strategy};
use crate::tax::{self, LotMethod, TaxRequest, TaxSettings};
use crate::{flex, report};

/// `-s`: the planner's strategies plus `tax-aware`, which needs lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    Core(Strategy),
    TaxAware,
}

impl FromStr for StrategyArg {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "tax-aware" | "tax_aware" => Ok(StrategyArg::TaxAware),
            other => Strategy::from_str(other).map(StrategyArg::Core),
        }
    }
}

/// The tax-aware flags of `pbal plan` (used with `-s tax-aware`).
#[derive(Debug, Clone, clap::Args)]
pub struct TaxArgs {
    /// Flex Open Positions at lot level (CSV or XML).
    #[arg(long, value_name = "LOTS")]
    pub lots: Option<PathBuf>,
    /// Flex Trades (CSV or XML): the wash-sale window and year-to-date realised results.
    #[arg(long, value_name = "TRADES")]
    pub trades: Option<PathBuf>,
    /// The plan's date (holding periods, wash-sale windows, the tax year).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Maximum tax cost of this run (weighted net realised gain); default unlimited.
    #[arg(long, value_name = "AMOUNT")]
    pub tax_budget: Option<Decimal>,
    /// Maximum tax cost of the calendar year, after the year-to-date results from --trades.
    #[arg(long, value_name = "AMOUNT")]
    pub tax_budget_year: Option<Decimal>,
    /// The account's lot-matching method: FIFO, LIFO, HIFO, MaxLTGain, MaxLTLoss, MaxSTGain,
    /// MaxSTLoss or MinTaxes.
    #[arg(long, value_name = "M", default_value = "FIFO")]
    pub lot_method: String,
    /// How many times a net short-term gain counts against the budget.
    #[arg(long, value_name = "W", default_value = "1")]
    pub st_weight: Decimal,
    /// Substantially identical symbols, e.g. `VOO,IVV,SPY` (repeatable).
    #[arg(long, value_name = "A,B,...")]
    pub identical: Vec<String>,
    /// Exposure group with one combined target, e.g. `GOOGLE=GOOG,GOOGL` (repeatable).
    #[arg(long, value_name = "NAME=A,B")]
    pub group: Vec<String>,
    /// Largest combined weight of an exposure group, e.g. `GOOGLE=0.10` (repeatable).
    #[arg(long, value_name = "NAME=W")]
    pub exposure_cap: Vec<String>,
    /// Harvest losses into the alternates.
    #[arg(long)]
    pub harvest: bool,
    /// Harvest a lot only when its loss exceeds this many dollars.
    #[arg(long, value_name = "AMOUNT", default_value = "0")]
    pub harvest_min_loss: Decimal,
    /// Harvest alternate, e.g. `VTI=ITOT` (repeatable).
    #[arg(long, value_name = "SYM=ALT")]
    pub alternate: Vec<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn key_value(flag: &str, s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.trim().to_string(), v.trim().to_string()))
        }
        _ => bail!("--{flag} {s:?}: expected NAME=VALUE"),
    }
}

impl TaxArgs {
    /// The engine's settings from the flags (year-to-date results come from the trades).
    pub fn settings(
        &self,
        trades: &[tax::PastTrade],
        as_of: NaiveDate,
    ) -> anyhow::Result<TaxSettings> {
        let mut groups = BTreeMap::new();
        for g in &self.group {
            let (name, members) = key_value("group", g)?;
            groups.insert(name, split_list(&members));
        }
        let mut caps = BTreeMap::new();
        for c in &self.exposure_cap {
            let (name, w) = key_value("exposure-cap", c)?;
            let w = Decimal::from_str(&w)
                .with_context(|| format!("--exposure-cap {c:?}: {w:?} is not a number"))?;
            caps.insert(name, w);
        }
        let mut alternates = BTreeMap::new();
        for a in &self.alternate {
            let (x, y) = key_value("alternate", a)?;
            alternates.insert(x, y);
        }
        Ok(TaxSettings {
            lot_method: LotMethod::from_str(&self.lot_method)?,
            budget_per_run: self.tax_budget,
            budget_per_year: self.tax_budget_year,
            ytd: tax::wash::year_to_date(trades, as_of),
            st_weight: self.st_weight,
            identical: self.identical.iter().map(|s| split_list(s)).collect(),
            exposure_groups: groups,
            exposure_caps: caps,
            harvest: self.harvest,
            harvest_min_loss: self.harvest_min_loss,
            alternates,
        })
    }
}

/// Plans with the tax engine and prints the plan plus its tax audit.
pub fn run(args: &TaxArgs, mut req: PlanRequest, format: Format, csv: &Path) -> anyhow::Result<()> {
    let Some(lots_path) = &args.lots else {
        bail!("-s tax-aware needs --lots LOTS (a Flex Open Positions query at lot level)");
    };
    let Some(as_of) = args.as_of else {
        bail!("-s tax-aware needs --as-of YYYY-MM-DD (the date the trades would happen)");
    };
    let lots = flex::read_lots(lots_path)?;
    let trades = match &args.trades {
        Some(p) => flex::read_trades(p)?,
        None => Vec::new(),
    };
    let settings = args.settings(&trades, as_of)?;
    req.strategy = Strategy::Hard;
    let treq = TaxRequest {
        plan: req,
        lots,
        trades,
        as_of,
        settings,
    };
    let p = tax::plan(&treq)
        .with_context(|| format!("{} with lots {}", csv.display(), lots_path.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            let mut buf = Vec::new();
            report::write_json(&p.plan, &mut buf)?;
            let mut doc: serde_json::Value = serde_json::from_slice(&buf)?;
            tax::render::extend_plan_json(&mut doc, &p.tax);
            serde_json::to_writer(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
        Format::Table => {
            let table = report::render_table(&p.plan);
            out.write_all(
                table
                    .replacen("Strategy hard,", "Strategy tax-aware,", 1)
                    .as_bytes(),
            )?;
            out.write_all(tax::render::text(&p.tax).as_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}
