//! From the settings tree to the gateway client's own options.
use std::time::Duration;

use crate::config::{PortfolioSettings, Settings};
use crate::ibkr::{ClientOptions, ContractQuery, GatewayClient, GatewayError};

/// The client options `settings` describe: `[gateway]`, the state dir (cookie jar, pacing),
/// the suppressed message ids of `[orders]` and the account to keep selected (`account.id`).
pub fn client_options(settings: &Settings) -> ClientOptions {
    let g = &settings.gateway;
    ClientOptions {
        ca_cert: g.ca_cert.clone(),
        pin_sha256: g.pin_sha256.clone(),
        compete: g.compete,
        request_timeout: Duration::from_secs(g.request_timeout_secs),
        ready_max_age: Duration::from_secs(g.ready_max_age_secs),
        tickle_interval: Duration::from_secs(g.tickle_interval_secs),
        max_requests_per_sec: g.max_requests_per_sec,
        rate_limit_penalty: Duration::from_secs(g.rate_limit_penalty_secs),
        suppress: settings.orders.suppress.clone(),
        account: Some(settings.account.id.trim().to_owned()).filter(|a| !a.is_empty()),
        ..ClientOptions::new(g.url.clone(), settings.state_dir())
    }
}

/// The gateway client for `settings`.
///
/// # Errors
/// Bad URL, unusable trust settings, unreadable cookie jar.
pub fn gateway_client(settings: &Settings) -> Result<GatewayClient, GatewayError> {
    GatewayClient::new(client_options(settings))
}

/// The contract query for `symbol` from `[portfolio]` defaults and its
/// `[portfolio.contracts.SYMBOL]` override.
pub fn contract_query(symbol: &str, portfolio: &PortfolioSettings) -> ContractQuery {
    let sym = symbol.trim().to_ascii_uppercase();
    let ov = portfolio.contracts.get(&sym).cloned().unwrap_or_default();
    ContractQuery {
        symbol: sym,
        sec_type: ov
            .sec_type
            .unwrap_or_else(|| portfolio.sec_type.clone())
            .to_ascii_uppercase(),
        currency: ov
            .currency
            .unwrap_or_else(|| portfolio.currency.clone())
            .to_ascii_uppercase(),
        exchange: ov.exchange.map(|e| e.to_ascii_uppercase()),
        conid: ov.conid,
    }
}
