//! The rebalance cycle as the end-to-end tests run it: the real gateway client (built from the
//! settings, so over the simulator's TLS) behind the production broker adapter, and a journal
//! in the settings' state directory.
use pbal::config::Settings;
use pbal::cycle::{Clock, Cycle, ibkr_broker::IbkrBroker};
use pbal::journal::Journal;

/// A cycle on the wall clock.
pub fn build(s: Settings) -> Cycle<IbkrBroker> {
    with_clock(s, pbal::cycle::system_clock())
}

/// A cycle on `clock` (tests that move time forward).
pub fn with_clock(s: Settings, clock: Clock) -> Cycle<IbkrBroker> {
    let state = s.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let client = pbal::ibkr::GatewayClient::from_settings(&s).expect("client builds");
    Cycle {
        broker: IbkrBroker::new(client, &s),
        journal: Journal::open_in(&state).unwrap(),
        state_dir: state,
        settings: s,
        clock,
        stop: Default::default(),
    }
}
