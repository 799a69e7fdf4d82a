//! What one driver wake-up costs: the pure decisions it evaluates (`due_at`, `next_run_at`,
//! `preflight_at`) on the default quarterly NYSE schedule.
//!
//! Run: `cargo bench --bench scheduler` (release), or `--profile dev` for an upper bound
//! without a release build.
use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use pbal::config::Settings;
use pbal::scheduler::{PeriodEvent, Schedule, ScheduleState};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn bench(c: &mut Criterion) {
    let settings = Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
    let schedule = Schedule::from_settings(&settings.schedule).unwrap();
    let state = ScheduleState::from_events(&[
        PeriodEvent::TrackingStarted {
            at: utc("2026-12-01T00:00:00Z"),
        },
        PeriodEvent::Completed {
            period: "2027-Q1".into(),
            at: utc("2027-01-04T15:40:00Z"),
            summary: String::new(),
        },
    ]);
    // Idle mid-quarter: the common case (Q1 done, waiting for Q2).
    let idle = utc("2027-02-15T12:00:00Z");
    // Before the slot of an open quarter (plans the current period).
    let before = utc("2027-03-31T12:00:00Z");
    let fresh = ScheduleState::from_events(&[PeriodEvent::TrackingStarted {
        at: utc("2027-03-01T00:00:00Z"),
    }]);

    c.bench_function("due_at/idle_mid_quarter", |b| {
        b.iter(|| schedule.due_at(black_box(idle), black_box(&state)))
    });
    c.bench_function("due_at/before_slot", |b| {
        b.iter(|| schedule.due_at(black_box(before), black_box(&fresh)))
    });
    c.bench_function("wake/due+next_run+preflight", |b| {
        b.iter(|| {
            let d = schedule.due_at(black_box(idle), &state);
            let n = schedule.next_run_at(black_box(idle), &state);
            let p = schedule.preflight_at(black_box(idle), &state);
            (d, n, p)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
