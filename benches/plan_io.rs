//! The I/O around the planner in `pbal plan`: reading the Flex Query CSV and writing the plan as
//! a table or JSON, at the speed goal's sizes (10^3 and 10^5 rows). The input is the CSV
//! `scripts/measure-plan.sh` generates (quoted fields, cents, four-decimal P&L), so these
//! figures add up with the planner's (`benches/plan.rs`) to the whole process.
//! `cargo bench --bench plan_io`
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use pbal::portfolio_csv::parse_holdings;
use pbal::report::{write_json, write_table};
use pbal::strategy::{Granularity, PlanRequest, Strategy, plan};

/// A Flex Query CSV like `scripts/measure-plan.sh`'s (xorshift instead of awk's `rand`).
fn flex_csv(n: usize) -> Vec<u8> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out =
        String::from("\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\n");
    for i in 0..n {
        let cents = 500 + next() % 49_500;
        let qty = next() % 1000;
        let pnl = (next() % 20_000_000) as i64 - 10_000_000;
        let v = qty * cents;
        out.push_str(&format!(
            "\"S{i:07}\",\"{}.{:02}\",\"{}.{:02}\",\"{}{}.{:04}\"\n",
            v / 100,
            v % 100,
            cents / 100,
            cents % 100,
            if pnl < 0 { "-" } else { "" },
            pnl.unsigned_abs() / 10_000,
            pnl.unsigned_abs() % 10_000
        ));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let path = Path::new("bench.csv");
    for n in [1_000usize, 100_000] {
        let csv = flex_csv(n);
        let mut group = c.benchmark_group(format!("plan_io/{n}"));
        if n >= 100_000 {
            group.sample_size(20);
        }
        group.bench_function("parse_csv", |b| {
            b.iter(|| parse_holdings(path, black_box(&csv)).unwrap())
        });
        let holdings = parse_holdings(path, &csv).unwrap();
        // Whole shares (signed share counts, money cells) and exact (fractional shares).
        for (strategy, g) in [
            (Strategy::NeverSell, Granularity::Shares),
            (Strategy::Hard, Granularity::Exact),
        ] {
            let mut req = PlanRequest::new(holdings.clone(), (1000 * n as u64).into());
            req.strategy = strategy;
            req.granularity = g;
            let p = plan(&req).unwrap();
            let mut out = Vec::with_capacity(n * 256);
            group.bench_function(format!("table/{strategy}/{g}"), |b| {
                b.iter(|| {
                    out.clear();
                    write_table(black_box(&p), &mut out).unwrap();
                })
            });
            group.bench_function(format!("json/{strategy}/{g}"), |b| {
                b.iter(|| {
                    out.clear();
                    write_json(black_box(&p), &mut out).unwrap();
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
