//! `pbal plan [CSV]` — offline planning from a CSV, the original Python tool's mode.
//!
//! Accepts the original's flags and names (`-c`, `-s try_avoid_sell|hard_rebalance`, `-i N`)
//! so its users can switch without surprises; adds whole-share and exact granularities,
//! targets, a cash buffer and JSON output.
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use rust_decimal::Decimal;

use super::plan_tax::{StrategyArg, TaxArgs};
use crate::portfolio_csv;
use crate::report;
use crate::strategy::{self, Granularity, PlanRequest, Strategy, Targets};

/// Output format of `pbal plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Arguments of `pbal plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Positions CSV: an IBKR Flex Query export (Symbol, PositionValue, MarkPrice,
    /// FifoPnlUnrealized) or `symbol,quantity,price[,unrealized_pnl]`.
    /// Default: ~/Downloads/positions-custom.csv (the original tool's default).
    pub csv: Option<PathBuf>,

    /// Cash to invest (> 0) or withdraw (< 0).
    #[arg(short, long, default_value = "0", allow_hyphen_values = true, value_parser = parse_money)]
    pub cash: Decimal,

    /// never-sell (alias try_avoid_sell), hard (alias hard_rebalance), min-trades (the fewest
    /// trades keeping every weight within its band; needs a band flag) or tax-aware (needs
    /// --lots and --as-of; see the tax flags).
    #[arg(short, long, default_value = "never-sell")]
    pub strategy: StrategyArg,

    /// Trade in steps of 10^N dollars (N = 1..4), exactly like the original tool's `-i N`.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4),
          conflicts_with = "granularity")]
    pub increment: Option<u32>,

    /// shares (whole shares, default) or exact (fractional amounts).
    #[arg(long, value_name = "shares|exact")]
    pub granularity: Option<Granularity>,

    /// Target weights CSV (`symbol,weight`); default: equal weight over the CSV's symbols.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Cash to keep uninvested.
    #[arg(long, default_value = "0", value_name = "AMOUNT", value_parser = parse_money)]
    pub buffer: Decimal,

    /// Drop trades smaller than this many dollars.
    #[arg(long, default_value = "0", value_name = "AMOUNT", value_parser = parse_money)]
    pub min_trade: Decimal,

    /// Whole shares: allow closing a fractional position entirely (its remainder cannot be
    /// sold otherwise).
    #[arg(long)]
    pub sell_fractional_remainders: bool,

    /// Drift band: ± percentage points around each target weight (0 = off).
    #[arg(long, default_value = "0", value_name = "P", value_parser = parse_money)]
    pub band_abs_pct: Decimal,

    /// Drift band: ± percent of each target weight (0 = off). With both, the tighter applies.
    #[arg(long, default_value = "0", value_name = "R", value_parser = parse_money)]
    pub band_rel_pct: Decimal,

    /// What an asset outside its band trades to: to-target or to-band (the band's edge).
    #[arg(long, default_value = "to-target", value_name = "to-target|to-band")]
    pub band_mode: strategy::BandMode,

    /// min-trades: minimise whole shares traded or orders.
    #[arg(long, default_value = "shares", value_name = "shares|orders")]
    pub minimise: strategy::Minimise,

    /// Margin budget: borrow at most P % of --net-liq beyond --cash (0 = never borrow).
    #[arg(long, default_value = "0", value_name = "P", value_parser = parse_money,
          requires = "net_liq")]
    pub max_margin_pct: Decimal,

    /// Margin budget: the account's net liquidation value (IBKR `netliquidation`). Net
    /// liquidation below the CSV's holdings value means a loan is owed already.
    #[arg(long, value_name = "X", value_parser = parse_money)]
    pub net_liq: Option<Decimal>,

    /// Margin budget: the account's excess liquidity now (IBKR `excessliquidity`). Default:
    /// net liquidation − 25 % of the holdings value (Reg T maintenance, no other positions).
    #[arg(long, value_name = "E", value_parser = parse_money, allow_hyphen_values = true,
          requires = "net_liq")]
    pub excess_liq: Option<Decimal>,

    /// Margin budget: refuse when excess liquidity after the trades could fall below this %
    /// of net liquidation.
    #[arg(long, default_value = "10", value_name = "P", value_parser = parse_money)]
    pub min_cushion_pct: Decimal,

    /// Margin budget: the maintenance margin assumed on every dollar bought, in % (Reg T 25;
    /// leveraged ETFs and house margins are higher).
    #[arg(long, default_value = "25", value_name = "P", value_parser = parse_money)]
    pub maintenance_pct: Decimal,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    #[command(flatten)]
    pub tax: TaxArgs,
}

/// The margin budget of `--max-margin-pct` (none at 0). The loan owed is what the holdings
/// exceed net liquidation by (net liquidation = cash + holdings); excess liquidity, when not
/// given, is IBKR's Reg T figure for such an account: net liquidation − 25 % of the holdings.
fn margin_request(
    args: &PlanArgs,
    holdings: &[strategy::Holding],
) -> anyhow::Result<Option<strategy::MarginRequest>> {
    if args.max_margin_pct.is_zero() {
        return Ok(None);
    }
    let Some(nlv) = args.net_liq else {
        anyhow::bail!("--max-margin-pct needs --net-liq (the account's net liquidation value)");
    };
    let held: Decimal = holdings.iter().map(strategy::Holding::value).sum();
    let maintenance = args.maintenance_pct;
    Ok(Some(strategy::MarginRequest {
        max_margin_pct: args.max_margin_pct,
        min_cushion_pct: args.min_cushion_pct,
        net_liquidation: nlv,
        excess_liquidity: Some(
            args.excess_liq
                .unwrap_or(nlv - maintenance * held / Decimal::ONE_HUNDRED),
        ),
        existing_loan: (held - nlv).max(Decimal::ZERO),
        max_new_loan: None,
        maintenance_pct: maintenance,
    }))
}

/// Parses a money amount exactly (no binary floating point); rejects NaN and infinities.
pub(crate) fn parse_money(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    t.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| format!("{s:?} is not a number"))
}

fn default_csv() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_default()
        .join("Downloads")
        .join("positions-custom.csv")
}

/// Prints `plan` in `format`.
fn write(plan: &impl report::Source, format: Format, out: &mut impl Write) -> std::io::Result<()> {
    match format {
        Format::Json => report::write_json(plan, out),
        Format::Table => report::write_table(plan, out),
    }
}

/// Plans and prints. Unlike the other commands it has no exit codes of its own (success, or an
/// error: 2), so the front executable can return its status from a plain C `main`.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let csv = args.csv.clone().unwrap_or_else(default_csv);
    let bytes = portfolio_csv::read_file(&csv)?;
    let granularity = match (args.increment, args.granularity) {
        (Some(n), _) => Granularity::Increment(n),
        (None, Some(g)) => g,
        (None, None) => Granularity::Shares,
    };
    let mut req = PlanRequest {
        holdings: Vec::new(),
        targets: Targets::Equal,
        cash: args.cash,
        buffer: args.buffer,
        min_trade_value: args.min_trade,
        strategy: match args.strategy {
            StrategyArg::Core(s) => s,
            StrategyArg::TaxAware => Strategy::Hard,
        },
        granularity,
        sell_fractional_remainders: args.sell_fractional_remainders,
        bands: strategy::Bands {
            abs_pct: args.band_abs_pct,
            rel_pct: args.band_rel_pct,
            mode: args.band_mode,
        },
        minimise: args.minimise,
    };
    // The rows straight into the planner's assets when nothing reads the holdings themselves
    // (the margin budget sums them, tax-aware plans them by lots, bands re-plan some).
    let plain = args.strategy != StrategyArg::TaxAware
        && args.max_margin_pct.is_zero()
        && !req.needs_holdings();
    let assets = if plain {
        portfolio_csv::parse_assets(&csv, &bytes)
    } else {
        None
    };
    if assets.is_none() {
        req.holdings = portfolio_csv::parse_holdings(&csv, &bytes)?;
    }
    if let Some(path) = &args.targets {
        req.targets = Targets::Weights(portfolio_csv::read_targets(path)?);
    }
    let margin = margin_request(&args, &req.holdings)?;
    if args.strategy == StrategyArg::TaxAware {
        anyhow::ensure!(
            margin.is_none(),
            "--max-margin-pct is not available with -s tax-aware"
        );
        return super::plan_tax::run(&args.tax, req, args.format, &csv);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let context = || format!("{}", csv.display());
    match &margin {
        Some(m) => {
            let plan = strategy::margin::plan(&req, m).with_context(context)?;
            write(&plan, args.format, &mut out)?;
        }
        None => {
            // The rows are computed as they are printed (`strategy::Outline`).
            let outline = match assets {
                Some(assets) => strategy::outline_assets(&req, assets).ok_or_else(|| {
                    anyhow::anyhow!("internal error: this plan needs the holdings read")
                })?,
                None => strategy::outline(&req),
            }
            .with_context(context)?;
            write(&outline, args.format, &mut out)?;
            // The process exits next; freeing 10^5 rows one by one would cost more than
            // planning.
            std::mem::forget(outline);
        }
    }
    out.flush()?;
    std::mem::forget(req);
    std::mem::forget(bytes);
    Ok(())
}
