//! A fast path for the plain `pbal plan` command lines the front executable sees most, such as
//! `pbal plan FILE.csv -s hard -i 3 --cash=1000`.
//!
//! Why: building and running clap's parser for `plan` (about 30 arguments with their help)
//! costs ~40 µs of CPU and ~25 freshly touched heap pages (~40 µs more) in a process whose whole
//! budget at 10^3 rows is ~1 ms. This parser accepts only a plain subset: known long flags as
//! `--flag value` or `--flag=value`, `-c`/`-s`/`-i` with a separate value, one CSV path, each
//! flag at most once, and values the same parsers accept. For anything else (help, an error, a
//! repeated or unknown flag, tax-aware and margin flags, `PBAL_CONFIG` set, non-UTF-8) it
//! returns `None` and clap parses the line, so every message and every corner case stays
//! clap's. The test below checks on random command lines that whenever this parser answers, clap
//! parses exactly the same arguments.
use std::path::PathBuf;

use rust_decimal::Decimal;

use super::{GlobalArgs, PlanCli, PlanOnly};
use crate::commands::plan::{Format, PlanArgs, parse_money};
use crate::commands::plan_tax::{StrategyArg, TaxArgs};
use crate::strategy::{BandMode, Minimise};

/// `args`: the words after `plan`. `None`: let clap parse them.
pub fn parse_plan(args: &[std::ffi::OsString]) -> Option<PlanCli> {
    if std::env::var_os("PBAL_CONFIG").is_some() {
        return None;
    }
    let mut a = defaults();
    let mut seen = [false; FLAGS.len()];
    let mut words = args.iter().map(|w| w.to_str());
    while let Some(word) = words.next() {
        let word = word?;
        let Some(flag) = word.strip_prefix('-') else {
            if a.csv.is_some() || word.is_empty() {
                return None;
            }
            a.csv = Some(PathBuf::from(word));
            continue;
        };
        let (name, inline) = match flag.strip_prefix('-') {
            Some(long) => match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            },
            None => (short(flag)?, None),
        };
        let k = FLAGS.iter().position(|f| *f == name)?;
        if std::mem::replace(&mut seen[k], true) {
            return None;
        }
        if name == "sell-fractional-remainders" {
            if inline.is_some() {
                return None;
            }
            a.sell_fractional_remainders = true;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = words.next()??;
                // Only --cash takes a value that looks like a flag (a withdrawal).
                if v.starts_with('-') && name != "cash" {
                    return None;
                }
                v
            }
        };
        set(&mut a, name, value)?;
    }
    if a.increment.is_some() && a.granularity.is_some() {
        return None;
    }
    Some(PlanCli {
        globals: GlobalArgs {
            config: None,
            log_format: None,
        },
        command: PlanOnly::Plan(Box::new(a)),
    })
}

/// The long flags this parser knows (everything else goes to clap).
const FLAGS: [&str; 13] = [
    "cash",
    "strategy",
    "increment",
    "granularity",
    "targets",
    "buffer",
    "min-trade",
    "sell-fractional-remainders",
    "band-abs-pct",
    "band-rel-pct",
    "band-mode",
    "minimise",
    "format",
];

fn short(flag: &str) -> Option<&'static str> {
    match flag {
        "c" => Some("cash"),
        "s" => Some("strategy"),
        "i" => Some("increment"),
        _ => None,
    }
}

/// Sets one flag's value with the parser clap uses for it; `None` if it rejects the value.
fn set(a: &mut PlanArgs, name: &str, v: &str) -> Option<()> {
    if v.is_empty() {
        return None;
    }
    let money = || parse_money(v).ok();
    match name {
        "cash" => a.cash = money()?,
        "strategy" => a.strategy = v.parse::<StrategyArg>().ok()?,
        // clap's `value_parser!(u32).range(1..=4)`; anything but a plain digit goes to clap.
        "increment" => {
            a.increment = Some(match v {
                "1" => 1,
                "2" => 2,
                "3" => 3,
                "4" => 4,
                _ => return None,
            })
        }
        "granularity" => a.granularity = Some(v.parse().ok()?),
        "targets" => a.targets = Some(PathBuf::from(v)),
        "buffer" => a.buffer = money()?,
        "min-trade" => a.min_trade = money()?,
        "band-abs-pct" => a.band_abs_pct = money()?,
        "band-rel-pct" => a.band_rel_pct = money()?,
        "band-mode" => a.band_mode = v.parse::<BandMode>().ok()?,
        "minimise" => a.minimise = v.parse::<Minimise>().ok()?,
        "format" => {
            a.format = match v {
                "table" => Format::Table,
                "json" => Format::Json,
                _ => return None,
            }
        }
        _ => return None,
    }
    // Tax-aware plans read more flags than this parser knows: clap handles them.
    (a.strategy != StrategyArg::TaxAware).then_some(())
}

/// `PlanArgs` as clap fills it when no flag is given (its `default_value`s).
fn defaults() -> PlanArgs {
    let pct = |n: i64| Decimal::from(n);
    PlanArgs {
        csv: None,
        cash: Decimal::ZERO,
        strategy: StrategyArg::Core(crate::strategy::Strategy::NeverSell),
        increment: None,
        granularity: None,
        targets: None,
        buffer: Decimal::ZERO,
        min_trade: Decimal::ZERO,
        sell_fractional_remainders: false,
        band_abs_pct: Decimal::ZERO,
        band_rel_pct: Decimal::ZERO,
        band_mode: BandMode::ToTarget,
        minimise: Minimise::Shares,
        max_margin_pct: Decimal::ZERO,
        net_liq: None,
        excess_liq: None,
        min_cushion_pct: pct(10),
        maintenance_pct: pct(25),
        format: Format::Table,
        tax: TaxArgs {
            lots: None,
            trades: None,
            as_of: None,
            tax_budget: None,
            tax_budget_year: None,
            lot_method: "FIFO".to_string(),
            st_weight: Decimal::ONE,
            identical: Vec::new(),
            group: Vec::new(),
            exposure_cap: Vec::new(),
            harvest: false,
            harvest_min_loss: Decimal::ZERO,
            alternate: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser;
    use proptest::prelude::*;

    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    fn clap_parse(args: &[OsString]) -> Result<PlanCli, clap::Error> {
        let all = ["pbal", "plan"].map(OsString::from);
        PlanCli::try_parse_from(all.iter().chain(args))
    }

    /// The measured command lines (README speed table) take the fast path and mean what clap
    /// says they mean.
    #[test]
    fn the_measured_command_lines_take_the_fast_path() {
        for line in [
            "p.csv -s try_avoid_sell -i 3 --cash=1000000",
            "p.csv -s hard_rebalance -i 3 --cash=1000000",
            "p.csv --cash=1000000",
            "p.csv -s hard --cash=1000000",
            "p.csv --granularity exact --cash=1000000",
            "p.csv -s hard --granularity exact --cash=1000000",
            "p.csv --cash=-10000",
            "p.csv -s min-trades --band-rel-pct 25 --cash=1000000",
            "p.csv --cash -5 --format json --sell-fractional-remainders --band-mode to-band",
        ] {
            let fast = parse_plan(&words(line)).unwrap_or_else(|| panic!("slow path: {line}"));
            let slow = clap_parse(&words(line)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{line}");
        }
    }

    #[test]
    fn anything_unusual_goes_to_clap() {
        for line in [
            "--help",
            "p.csv p2.csv",
            "p.csv --cash 1 --cash 2",
            "p.csv -i 3 --granularity exact",
            "p.csv -s tax-aware --lots l.csv",
            "p.csv --buffer -5",
            "p.csv -c5",
            "p.csv --cash=abc",
            "p.csv --max-margin-pct 5 --net-liq 10",
            "p.csv --format=Table",
            "p.csv -- x",
        ] {
            assert!(parse_plan(&words(line)).is_none(), "{line}");
        }
    }

    /// Each flag with values its parser accepts and rejects; `None` marks a flag with no value.
    const FLAG_VALUES: &[(&str, Option<char>, &[&str])] = &[
        ("cash", Some('c'), &["7.5", "-5", "1e3", "0", "abc", ""]),
        (
            "strategy",
            Some('s'),
            &["hard", "never_sell", "min-trades", "tax-aware", "x"],
        ),
        (
            "increment",
            Some('i'),
            &["1", "2", "3", "4", "04", "+2", "9", "0"],
        ),
        (
            "granularity",
            None,
            &["exact", "shares", "increment:2", "whole"],
        ),
        ("targets", None, &["t.csv", "-t"]),
        ("buffer", None, &["12.345", "-1", ""]),
        ("min-trade", None, &["10", "1e-2"]),
        ("band-abs-pct", None, &["5", "0.5"]),
        ("band-rel-pct", None, &["25", "-25"]),
        ("band-mode", None, &["to-band", "to_target", "edge"]),
        ("minimise", None, &["orders", "shares", "trades"]),
        ("format", None, &["json", "table", "Table", "csv"]),
        ("sell-fractional-remainders", None, &[]),
        ("max-margin-pct", None, &["5"]),
        ("lots", None, &["l.csv"]),
    ];
    const JUNK: &[&str] = &["q.csv", "-", "--", "-x", "--config", "-h", "--cash"];

    /// One flag as 1–2 words: `--flag=v`, `--flag v` or `-f v`.
    fn flag_words(f: usize, v: usize, form: usize) -> Vec<String> {
        let (name, short, values) = FLAG_VALUES[f];
        let Some(value) = (!values.is_empty()).then(|| values[v % values.len()]) else {
            return vec![format!("--{name}")];
        };
        match (form % 3, short) {
            (0, _) => vec![format!("--{name}={value}")],
            (2, Some(c)) => vec![format!("-{c}"), value.to_string()],
            _ => vec![format!("--{name}"), value.to_string()],
        }
    }

    fn line() -> impl Strategy<Value = Vec<OsString>> {
        let flag = (0..FLAG_VALUES.len(), 0usize..8, 0usize..3, 0usize..40);
        (proptest::collection::vec(flag, 0..6), 0usize..7).prop_map(|(flags, csv_at)| {
            let mut out: Vec<String> = Vec::new();
            for (k, (f, v, form, junk)) in flags.into_iter().enumerate() {
                if k == csv_at {
                    out.push("p.csv".into());
                }
                if junk < JUNK.len() {
                    out.push(JUNK[junk].into());
                }
                out.extend(flag_words(f, v, form));
            }
            out.into_iter().map(OsString::from).collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whenever the fast path answers, clap accepts the same line and parses the same
        /// arguments (compared through their full `Debug` form).
        #[test]
        fn the_fast_path_agrees_with_clap(args in line()) {
            if let Some(fast) = parse_plan(&args) {
                let slow = clap_parse(&args);
                prop_assert!(slow.is_ok(), "clap rejects {:?}", args);
                prop_assert_eq!(format!("{fast:?}"), format!("{:?}", slow.unwrap()));
            }
        }
    }
}
