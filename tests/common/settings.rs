//! `Settings` for tests: the shipped defaults pointed at a simulator, plus the order caps the
//! end-to-end tests share.
use std::path::Path;

use pbal::config::{CashSetting, OrderKind, Settings};
use pbal::sim::SimHandle;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The defaults (`config/default.toml`), no config file, no environment overrides.
pub fn defaults() -> Settings {
    Settings::load_from(None, Vec::<(String, String)>::new()).expect("default settings load")
}

/// Defaults pointed at `sim`: its URL, the CA at `<dir>/ca.pem`, state in `<dir>/state`.
pub fn for_sim(sim: &SimHandle, dir: &Path) -> Settings {
    let mut s = defaults();
    s.gateway.url = sim.base_url();
    s.gateway.ca_cert = Some(dir.join("ca.pem"));
    s.state.dir = Some(dir.join("state"));
    s
}

/// [`for_sim`] with caps wide enough for the sample account, limit orders, no cash kept, and
/// fast polling, so a rebalance with `strategy` plans sells and buys and they fill promptly.
pub fn rebalancing(sim: &SimHandle, dir: &Path, strategy: &str) -> Settings {
    let mut s = for_sim(sim, dir);
    s.portfolio.strategy = strategy.into();
    s.portfolio.cash = CashSetting::Amount(Decimal::ZERO);
    s.orders.kind = OrderKind::Limit;
    s.orders.max_order_value = dec!(100000);
    s.orders.max_turnover_pct = dec!(100);
    s.orders.max_orders = 50;
    s.orders.poll_interval_secs = 1;
    s.orders.fill_timeout_secs = 20;
    s
}
