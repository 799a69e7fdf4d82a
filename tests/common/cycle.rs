//! The rebalance cycle as the end-to-end tests run it: the real gateway client (built from the
//! settings, so over the simulator's TLS) behind the production broker adapter, and a journal
//! in the settings' state directory, and the run-report writer the commands use.
use pbal::adapters::IbkrBroker;
use pbal::config::Settings;
use pbal::cycle::{Clock, Cycle};
use pbal::journal::Journal;

/// A cycle on the wall clock.
pub fn build(s: Settings) -> Cycle<IbkrBroker> {
    with_clock(s, pbal::cycle::system_clock())
}

/// A cycle on `clock` (tests that move time forward).
pub fn with_clock(s: Settings, clock: Clock) -> Cycle<IbkrBroker> {
    let state = s.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let client = pbal::adapters::gateway_client(&s).expect("client builds");
    let journal = Journal::open_in(&state).unwrap();
    Cycle::new(IbkrBroker::new(client, &s), journal, s)
        .with_clock(clock)
        .with_after_run(std::sync::Arc::new(pbal::ui::report::write_logged))
}

/// A cycle whose client skips the per-endpoint spacing (5 s between live-order and trade
/// reads) and polls fast: for tests against [`pbal::sim::SimConfig::relaxed`] that are not
/// about pacing, so they do not spend most of their time waiting. No run reports are written.
pub fn relaxed(s: Settings) -> Cycle<IbkrBroker> {
    let state = s.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let options = pbal::ibkr::ClientOptions {
        endpoint_spacing: false,
        snapshot_retry_every: std::time::Duration::from_millis(100),
        auth_poll_every: std::time::Duration::from_millis(100),
        retry_backoff: std::time::Duration::from_millis(100),
        ..pbal::adapters::client_options(&s)
    };
    let client = pbal::ibkr::GatewayClient::new(options).expect("client builds");
    let journal = Journal::open_in(&state).unwrap();
    Cycle::new(IbkrBroker::new(client, &s), journal, s)
}
