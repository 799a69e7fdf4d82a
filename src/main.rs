//! The `pbal` executable: a thin front. `pbal plan` (offline: CSV in, plan out) runs here;
//! every other command is handed to `pbal-full`, installed beside it, by `exec` (same PID).
//!
//! Why two executables: the goal is a `pbal plan` 100× faster than the original tool as
//! a whole process, and at 10^3 rows start-up is most of it. The full program (TLS, HTTP, SQLite,
//! the daemon) needs ~52,000 load-time relocations and costs ~1.8 ms CPU before `main`; this
//! front links only the planner and starts in ~0.8 ms. Everything else pays one `exec` more
//! (well under a millisecond), which nothing there notices. Only a first argument of exactly
//! `plan` takes the short path; `pbal --config x plan …` goes through `pbal-full`, whose `plan`
//! is the same code.
use std::process::ExitCode;

use clap::Parser;

/// The one-shot bump allocator: `plan` exits right after printing (see `pbal::arena`).
#[global_allocator]
static ALLOC: pbal::arena::Arena = pbal::arena::Arena::new();

fn main() -> ExitCode {
    match std::env::args_os().nth(1) {
        Some(first) if first == "plan" => pbal::cli::plan_main(pbal::cli::PlanCli::parse()),
        _ => pbal::cli::forward_to_full(),
    }
}
