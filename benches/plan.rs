//! Planner throughput at 10 to 10^6 assets: the eight cases of the speed goal (issue 12:
//! `-i 3` both strategies, whole shares both strategies, exact both strategies, a never-sell
//! withdrawal, min-trades with a 25 % band) on holdings shaped like the Flex CSV that
//! `scripts/measure-plan.sh` generates (reported market values, four-decimal P&L), and reading
//! that CSV (the writers in `report` are private to the crate; `scripts/measure-plan.sh` times
//! the whole process).
//! `cargo bench --bench plan` (or e.g. `cargo bench --bench plan -- plan/100000`)
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pbal::strategy::{Bands, Granularity, Holding, PlanRequest, Strategy, plan};
use rust_decimal::Decimal;

/// Deterministic pseudo-random holdings (xorshift), prices $5–$500 in cents, quantities
/// 0–999, the market value reported (as the Flex CSV does) and a four-decimal P&L.
fn holdings(n: usize) -> Vec<Holding> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|i| {
            let price = Decimal::new(500 + (next() % 49_500) as i64, 2);
            let qty = Decimal::from(next() % 1000);
            let mut h = Holding::new(format!("S{i:07}"), qty, price);
            h.market_value = Some(qty * price);
            h.unrealized_pnl = Decimal::new((next() % 20_000_000) as i64 - 10_000_000, 4);
            h
        })
        .collect()
}

/// The measured cases: (name, strategy, granularity, cash per asset, band_rel_pct).
const CASES: [(&str, Strategy, Granularity, i64, i64); 8] = [
    (
        "never-sell/i3",
        Strategy::NeverSell,
        Granularity::Increment(3),
        1000,
        0,
    ),
    (
        "hard/i3",
        Strategy::Hard,
        Granularity::Increment(3),
        1000,
        0,
    ),
    (
        "never-sell/shares",
        Strategy::NeverSell,
        Granularity::Shares,
        1000,
        0,
    ),
    ("hard/shares", Strategy::Hard, Granularity::Shares, 1000, 0),
    (
        "never-sell/exact",
        Strategy::NeverSell,
        Granularity::Exact,
        1000,
        0,
    ),
    ("hard/exact", Strategy::Hard, Granularity::Exact, 1000, 0),
    (
        "never-sell/withdraw",
        Strategy::NeverSell,
        Granularity::Shares,
        -10,
        0,
    ),
    (
        "min-trades/rel25",
        Strategy::MinTrades,
        Granularity::Shares,
        1000,
        25,
    ),
];

fn bench(c: &mut Criterion) {
    for n in [10usize, 1_000, 100_000, 1_000_000] {
        let hs = holdings(n);
        let mut group = c.benchmark_group(format!("plan/{n}"));
        if n >= 100_000 {
            group.sample_size(10);
        }
        for (name, strategy, g, per_asset, rel) in CASES {
            if n >= 1_000_000 && name != "never-sell/shares" && name != "hard/shares" {
                continue; // keep `cargo bench` short; the goal is measured at 10^3 and 10^5
            }
            let mut req = PlanRequest::new(hs.clone(), Decimal::from(per_asset * n as i64));
            req.strategy = strategy;
            req.granularity = g;
            req.bands = Bands {
                rel_pct: Decimal::from(rel),
                ..Bands::default()
            };
            // `pbal plan` never frees the plan (the process exits), so neither does the timing.
            group.bench_with_input(BenchmarkId::new(name, n), &req, |b, r| {
                b.iter_with_large_drop(|| plan(black_box(r)).unwrap())
            });
        }
        group.finish();
    }
}

/// The Flex Query CSV `scripts/measure-plan.sh` generates, from the same holdings.
fn flex_csv(hs: &[Holding]) -> Vec<u8> {
    let mut s = String::from("\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\n");
    for h in hs {
        s.push_str(&format!(
            "\"{}\",\"{}\",\"{}\",\"{}\"\n",
            h.symbol,
            h.value(),
            h.price,
            h.unrealized_pnl
        ));
    }
    s.into_bytes()
}

/// Reading the CSV, at the sizes of the speed goal.
fn io(c: &mut Criterion) {
    for n in [1_000usize, 100_000] {
        let hs = holdings(n);
        let csv = flex_csv(&hs);
        let mut group = c.benchmark_group(format!("io/{n}"));
        if n >= 100_000 {
            group.sample_size(10);
        }
        let path = std::path::Path::new("bench.csv");
        group.bench_function("parse_csv", |b| {
            b.iter(|| pbal::portfolio_csv::parse_holdings(path, black_box(&csv)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench, io);
criterion_main!(benches);
