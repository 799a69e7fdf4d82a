//! Setup shared by the end-to-end tests (each `tests/*.rs` is its own crate and compiles this
//! module with `mod common;`), so every test starts the simulator, builds settings and writes
//! config files the same way, and a change to that setup is made once:
//! - [`sim`]: the simulator fixture (simulator + temp dir + trusted CA file);
//! - [`client`]: the gateway client with short test timings;
//! - [`settings`]: `Settings` pointed at a simulator, and the e2e order caps;
//! - [`cycle`]: the rebalance cycle on the real client, as production wires it;
//! - [`config`]: a `pbal.toml` for tests that drive the real binary, and running it;
//! - [`http`]: raw HTTP calls to the simulator.
// Each test crate uses a different subset.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod config;
pub mod cycle;
pub mod http;
pub mod settings;
pub mod sim;

pub use sim::SimEnv;
