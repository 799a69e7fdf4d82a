//! The gateway client as the e2e tests build it: production options with the short timings
//! (fast auth polls, short snapshot waits, tiny retry backoff) that tests not about pacing want.
use std::path::Path;
use std::time::Duration;

use pbal::ibkr::{ClientOptions, GatewayClient};

use super::SimEnv;

/// [`ClientOptions::new`] for `url` with state in `state_dir` and short test timings. The
/// per-endpoint spacing is off (the relaxed simulator does not pace); pacing tests turn it on.
pub fn fast_options(url: &str, state_dir: &Path) -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(10),
        suppress: Vec::new(),
        snapshot_max_wait: Duration::from_secs(5),
        snapshot_retry_every: Duration::from_millis(100),
        auth_poll_attempts: 20,
        auth_poll_every: Duration::from_millis(50),
        read_retries: 1,
        retry_backoff: Duration::from_millis(10),
        endpoint_spacing: false,
        ..ClientOptions::new(url, state_dir)
    }
}

impl SimEnv {
    /// Options trusting this simulator's CA, with the fast test timings.
    pub fn client_options(&self) -> ClientOptions {
        fast_options(&self.sim.base_url(), &self.state_dir()).ca_cert(self.ca_path())
    }

    /// A client for this simulator with [`SimEnv::client_options`].
    pub fn client(&self) -> GatewayClient {
        GatewayClient::new(self.client_options()).expect("client builds")
    }
}
