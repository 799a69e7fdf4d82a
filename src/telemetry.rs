//! Tracing set-up: human format on a terminal, JSON when asked, and no timestamps under
//! systemd (journald stamps every line itself; tracing #1469 means we detect it ourselves).
use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Initialises the global subscriber once. `format`: `auto` | `human` | `json`;
/// `filter`: a `RUST_LOG`-style directive (the `RUST_LOG` env var wins when set).
/// Logs go to stderr so stdout stays machine-readable (`pbal plan --format json`, `pbal sim`).
pub fn init(format: Option<&str>, filter: Option<&str>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| filter.map(str::to_owned))
        .unwrap_or_else(|| "info".to_owned());
    let env_filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let registry = tracing_subscriber::registry().with(env_filter);
    let result = match format.unwrap_or("auto") {
        "json" => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
        _ if under_journald => registry
            .with(
                fmt::layer()
                    .without_time()
                    .with_ansi(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        _ => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests, embedded demo) is harmless: keep the first subscriber.
    let _ = result;
}
