//! Planner throughput for both strategies at 10 to 10^6 assets (whole shares, exact and the
//! original's `-i 3` steps), and reading the Flex CSV of `pbal plan` (the writers in `report` are
//! private to the crate; `scripts/measure-plan.sh` times the whole process).
//! `cargo bench --bench plan`
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pbal::strategy::{Granularity, Holding, PlanRequest, Strategy, plan};
use rust_decimal::Decimal;

/// Deterministic pseudo-random holdings (xorshift), prices $5–$500 in cents.
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
            h.unrealized_pnl = Decimal::new((next() % 200_000) as i64 - 100_000, 2);
            h
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for n in [10usize, 1_000, 100_000, 1_000_000] {
        let hs = holdings(n);
        let total: Decimal = hs.iter().map(Holding::value).sum();
        let mut group = c.benchmark_group(format!("plan/{n}"));
        if n >= 100_000 {
            group.sample_size(10);
        }
        for (strategy, g) in [
            (Strategy::NeverSell, Granularity::Increment(3)),
            (Strategy::NeverSell, Granularity::Shares),
            (Strategy::Hard, Granularity::Shares),
            (Strategy::NeverSell, Granularity::Exact),
            (Strategy::Hard, Granularity::Exact),
        ] {
            // `-i 3` as measured against the original: $1000 per asset, so 10^3·n… steps.
            let cash = if g == Granularity::Increment(3) {
                Decimal::from(1000 * n as u64)
            } else {
                (total / Decimal::ONE_HUNDRED).round_dp(2)
            };
            let mut req = PlanRequest::new(hs.clone(), cash);
            req.strategy = strategy;
            req.granularity = g;
            group.bench_with_input(
                BenchmarkId::new(format!("{strategy}/{g}"), n),
                &req,
                |b, r| b.iter(|| plan(black_box(r)).unwrap()),
            );
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
