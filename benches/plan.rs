//! Planner throughput for both strategies at 10 to 10^6 assets (whole shares and exact).
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
            (Strategy::NeverSell, Granularity::Shares),
            (Strategy::Hard, Granularity::Shares),
            (Strategy::NeverSell, Granularity::Exact),
            (Strategy::Hard, Granularity::Exact),
        ] {
            let mut req = PlanRequest::new(hs.clone(), (total / Decimal::ONE_HUNDRED).round_dp(2));
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

criterion_group!(benches, bench);
criterion_main!(benches);
