//! The `pbal` executable: a thin front. `pbal plan` (offline: CSV in, plan out) runs here;
//! every other command is handed to `pbal-full`, installed beside it, by `exec` (same PID).
//!
//! Why two executables: the goal is a `pbal plan` 100× faster than the original tool as
//! a whole process, and at 10^3 rows start-up is most of it. The full program (TLS, HTTP, SQLite,
//! the daemon) needs ~52,000 load-time relocations and costs ~1.8 ms CPU before `main`; this
//! front links only the planner. Everything else pays one `exec` more (well under a
//! millisecond), which nothing there notices. Only a first argument of exactly `plan` takes the
//! short path; `pbal --config x plan …` goes through `pbal-full`, whose `plan` is the same code.
//!
//! Why a C `main` (`no_main`): std's runtime start-up costs ~70 µs here, most of it finding the
//! main thread's stack guard by reading `/proc/self/maps` — a tenth of the whole 10^3-row
//! budget. This `main` keeps what matters of it: SIGPIPE ignored (so a closed pipe is an error
//! message and status 2, as in pbal-full) and fds 0–2 open. It drops the stack-overflow message
//! (an overflow is still a crash, reported by the shell as SIGSEGV; `plan` recurses at most 48
//! deep). Returning from `main` runs the C exit path, so stdout is flushed here first.
#![no_main]

use std::ffi::{c_char, c_int};

// The release front's own process start-up (glibc's, without the CPU probe): only when linked
// statically against the glibc whose start-up it follows, where it replaces glibc's
// `__libc_start_main` (see the module). `scripts/build-release.sh` sets `pbal_glibc_start`
// after checking the C library's version.
#[cfg(all(
    target_os = "linux",
    target_arch = "x86_64",
    target_env = "gnu",
    target_feature = "crt-static",
    pbal_glibc_start
))]
#[path = "front/start.rs"]
mod start;
use std::io::Write;

/// The one-shot bump allocator: `plan` exits right after printing (see `pbal::arena`).
#[global_allocator]
static ALLOC: pbal::arena::Arena = pbal::arena::Arena::new();

/// A conservative estimate of the memory `pbal plan` touches per byte of CSV (measured 20–30).
const MEMORY_PER_CSV_BYTE: usize = 16;

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // SAFETY: plain libc calls on this process's own signal disposition and descriptors, made
    // before any other thread or file exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                // A closed standard descriptor would otherwise be reused by the next open.
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
    let status = match std::env::args_os().nth(1) {
        Some(first) if first == "plan" => {
            let cli = pbal::cli::parse_plan();
            let pbal::cli::PlanOnly::Plan(args) = &cli.command;
            // A plan touches ~20–30 bytes of memory per byte of CSV (holdings, plan lines,
            // output): tell the allocator, so a large input starts on huge pages.
            if let Some(meta) = args.csv.as_deref().and_then(|p| std::fs::metadata(p).ok()) {
                let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
                ALLOC.expect(len.saturating_mul(MEMORY_PER_CSV_BYTE));
            }
            pbal::cli::plan_main(cli)
        }
        _ => pbal::cli::forward_to_full(),
    };
    let _ = std::io::stdout().flush();
    c_int::from(status)
}
