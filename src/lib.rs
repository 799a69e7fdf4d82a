//! pbal — keeps an Interactive Brokers portfolio on target without anyone watching.
//!
//! # Layout
//! - [`strategy`]: pure, synchronous planning (positions + prices + targets + cash → plan).
//!   Exact decimals, no I/O, no clock.
//! - [`portfolio_csv`]: the offline input of `pbal plan` (IBKR Flex Query CSV, plain CSV).
//! - [`report`]: rendering plans as a table or JSON (public for its bench).
//! - [`ibkr`]: the Client Portal Gateway client (TLS trust, cookies, session state machine,
//!   rate limits, typed endpoints, order reply flow). Knows nothing about strategies.
//! - [`sim`]: a Client Portal Gateway simulator over TLS (`pbal sim`), the embedded default
//!   for the demo and the target of end-to-end tests.
//! - [`journal`]: the durable SQLite journal (runs, plans, staged plans, order intents, fills).
//! - [`cycle`]: one rebalance cycle: account snapshot → plan → guards → dry-run/stage/submit.
//! - [`scheduler`]: when runs are due (pure `*_at(now)` functions) and the driver that fires them.
//! - [`adapters`]: where the layers meet (settings → client options, the cycle's broker on the
//!   client, the driver's seams on the cycle), so no layer imports a higher one.
//! - [`notify`]: alerts to a human. `clock`: the one "now" seam.
//! - [`daemon`]: `pbal run`, the long-running service wiring keeper, scheduler and shutdown.
//! - [`service`]: systemd / launchd unit generation.
//! - [`ui`]: the loopback approval page (`pbal ui`, or inside `pbal run`).
//! - [`config`]: the layered, validated settings tree.
//! - [`cli`] and `commands`: clap types and one function per subcommand; the executables stay
//!   thin: `pbal` (`main.rs`) runs `plan` and `exec`s `pbal-full` (`bin/pbal-full.rs`) for the rest.
//! - [`arena`]: the front's one-shot bump allocator.
//!
//! Public surface: a module is `pub` only when the binary, an integration test or a bench
//! reaches it; `clock`, `commands` and `util` are private to the crate.
//!
//! Errors: each boundary has its own `thiserror` enum; `anyhow` is used only in `commands`.
//! The layers and the rule that imports only point down are in `AGENTS.md`, enforced by
//! `tests/layers.rs`.

pub mod adapters;
pub mod arena;
pub mod cli;
mod clock;
mod commands;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod flex;
pub mod ibkr;
pub mod journal;
pub mod notify;
pub mod portfolio_csv;
pub mod report;
pub mod scheduler;
pub mod service;
pub mod sim;
pub mod strategy;
pub mod tax;
pub mod telemetry;
pub mod ui;
mod util;
