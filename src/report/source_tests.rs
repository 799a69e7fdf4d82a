//! An [`Outline`] printed is its [`Plan`] printed: the table and the JSON of
//! `strategy::outline(req)` (lines computed a chunk at a time, orders read off the lines)
//! are byte for byte those of `strategy::plan(req)` (every line and order collected), on
//! random requests of every strategy and granularity, and on plans longer than a chunk.
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use rust_decimal::Decimal;

use super::{Source, write_json, write_table};
use crate::strategy::{
    self, BandMode, Bands, Granularity, Holding, Minimise, PlanRequest, Strategy, Targets,
};

/// The table and the JSON of `source`.
fn printed(source: &impl Source) -> (String, String) {
    let (mut table, mut json) = (Vec::new(), Vec::new());
    write_table(source, &mut table).unwrap();
    write_json(source, &mut json).unwrap();
    (
        String::from_utf8(table).unwrap(),
        String::from_utf8(json).unwrap(),
    )
}

/// Plans `req` both ways; asserts the same answer and the same bytes. Returns the table.
fn same_both_ways(req: &PlanRequest) -> Option<String> {
    let plan = strategy::plan(req);
    let outline = strategy::outline(req);
    match (plan, outline) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            None
        }
        (Ok(plan), Ok(outline)) => {
            assert_eq!(outline.line_count(), plan.lines.len());
            assert_eq!(outline.head().trades, plan.trades.len());
            let (table, json) = printed(&outline);
            assert_eq!(table, printed(&plan).0);
            assert_eq!(json, printed(&plan).1);
            assert_eq!(outline.into_plan(), plan);
            Some(table)
        }
        (p, o) => panic!("plan {:?} but outline {:?}", p.err(), o.err()),
    }
}

fn request(n: usize, symbol: impl Fn(usize) -> String) -> PlanRequest {
    let holdings = (0..n)
        .map(|i| {
            let price = Decimal::new(500 + (i as i64 * 7919) % 49_500, 2);
            let quantity = Decimal::from((i as i64 * 104_729) % 1000);
            Holding::new(symbol(i), quantity, price)
        })
        .collect();
    PlanRequest::new(holdings, Decimal::from(1000 * n as i64))
}

/// Longer than a chunk of lines (4096), so the chunks' seams and the reused lines are
/// printed, in every strategy the front plans with.
#[test]
fn a_long_outline_prints_as_its_plan() {
    let mut req = request(9000, |i| format!("S{i:07}"));
    for (strategy, granularity) in [
        (Strategy::NeverSell, Granularity::Shares),
        (Strategy::Hard, Granularity::Exact),
        (Strategy::NeverSell, Granularity::Increment(3)),
    ] {
        req.strategy = strategy;
        req.granularity = granularity;
        let table = same_both_ways(&req).unwrap();
        assert_eq!(table.lines().count(), 9000 + 6, "{}", &table[..200]);
    }
}

/// A symbol that is not ASCII sends the table to the general writer, which needs every line
/// at once: the outline collects them, in order, across chunks.
#[test]
fn a_long_outline_with_a_wide_symbol_prints_as_its_plan() {
    let req = request(5000, |i| {
        if i == 4500 {
            "ÄÖÜ".to_string()
        } else {
            format!("S{i:05}")
        }
    });
    let table = same_both_ways(&req).unwrap();
    assert!(table.contains("ÄÖÜ"));
}

fn holding() -> impl proptest::strategy::Strategy<Value = Holding> {
    (
        "[A-Z]{1,5}|[A-Z]{9,20}|é[A-Z]{0,3}",
        prop_oneof![0i64..5, 0i64..100_000, 0i64..1_000_000_000],
        0u32..3,
        1i64..10_000_000,
        0u32..4,
        -100_000i64..100_000,
    )
        .prop_map(|(symbol, q, qs, p, ps, pnl)| Holding {
            unrealized_pnl: Decimal::new(pnl, 2),
            ..Holding::new(symbol, Decimal::new(q, qs), Decimal::new(p, ps))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every strategy, granularity and band setting, weighted targets, withdrawals and
    /// errors: the same plan, table and JSON both ways.
    #[test]
    fn an_outline_prints_as_its_plan(
        holdings in prop::collection::vec(holding(), 0..30),
        cash in prop_oneof![-1_000_000i64..0, 0i64..100_000_000],
        kind in 0usize..7,
        weighted in any::<bool>(),
        band in 0u32..3,
        min_trade in prop_oneof![Just(0i64), 0i64..5_000],
    ) {
        let (strategy, granularity) = [
            (Strategy::NeverSell, Granularity::Shares),
            (Strategy::NeverSell, Granularity::Exact),
            (Strategy::NeverSell, Granularity::Increment(2)),
            (Strategy::Hard, Granularity::Shares),
            (Strategy::Hard, Granularity::Exact),
            (Strategy::Hard, Granularity::Increment(1)),
            (Strategy::MinTrades, Granularity::Shares),
        ][kind];
        let targets = if weighted {
            Targets::Weights(
                holdings
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (h.symbol.clone(), Decimal::from(i as i64 % 4)))
                    .collect(),
            )
        } else {
            Targets::Equal
        };
        let req = PlanRequest {
            targets,
            min_trade_value: Decimal::new(min_trade, 2),
            strategy,
            granularity,
            bands: Bands {
                abs_pct: Decimal::from(band * 2),
                rel_pct: Decimal::from(band * 10),
                mode: if band == 2 { BandMode::ToBand } else { BandMode::ToTarget },
            },
            minimise: Minimise::Shares,
            ..PlanRequest::new(holdings, Decimal::new(cash, 2))
        };
        same_both_ways(&req);
    }
}
