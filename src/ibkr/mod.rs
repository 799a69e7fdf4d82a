//! The Client Portal Gateway client: TLS trust, cookie jar, session state machine and keeper,
//! rate limiting, typed endpoints and the order reply flow. Knows nothing about strategies.
//!
//! # Layout
//! - [`client`]: [`GatewayClient`] — transport (`mod.rs`) and one file per endpoint group
//!   (`auth`, `portfolio`, `market`, `trading`), the session states and the [`Login`] seam.
//! - [`options`]: [`ClientOptions`], the client's own settings (ibkr is a leaf: it never
//!   reads the config file; the wiring layer translates).
//! - [`session`]: the keeper task ([`spawn_keeper`]).
//! - [`orders`]: [`OrderTicket`], [`PromptPolicy`], [`PlaceOutcome`].
//! - [`types`]: typed responses parsed leniently into `Decimal`s.
//! - [`tls`]: CA-file and pinned-certificate trust, certificate inspection and generation.
//! - [`cookies`]: the persisted, de-duplicated cookie jar.
//! - [`rate`]: global pacing, per-endpoint spacing, the 429 freeze.
//! - [`error`]: [`GatewayError`] and its classifiers.
//!
//! # Use
//! ```no_run
//! # async fn demo(state_dir: &std::path::Path) -> Result<(), pbal::ibkr::GatewayError> {
//! use pbal::ibkr::{ClientOptions, ContractQuery, GatewayClient};
//! let options = ClientOptions::new("https://localhost:5000", state_dir).ca_cert("ca.pem");
//! let client = GatewayClient::new(options)?;
//! client.ensure_ready().await?;                       // one-shot commands
//! let account = client.select_account("").await?;     // the only account
//! let positions = client.positions(&account).await?;
//! let vti = client.resolve(&ContractQuery::stock("VTI", "USD")).await?;
//! let quotes = client.snapshot(&[vti.conid]).await?;
//! # Ok(()) }
//! ```
pub mod client;
pub mod cookies;
pub mod error;
pub mod options;
pub mod orders;
pub mod rate;
pub mod session;
pub mod sso;
pub mod tls;
pub mod types;

pub use client::{GatewayClient, SNAPSHOT_FIELDS};
pub use error::GatewayError;
pub use options::ClientOptions;
pub use orders::{OrderSize, OrderTicket, OrderType, PlaceOutcome, Prompt, PromptPolicy};
pub use session::{
    KeeperTiming, Login, LoginOutcome, SessionState, SessionStatus, WaitForHuman, spawn_keeper,
};
pub use tls::TrustMode;
pub use types::{
    AccountProps, AccountSummary, AuthStatus, Availability, CancelAck, Conid, Contract,
    ContractQuery, IserverAccounts, Ledger, LedgerEntry, LiveOrder, OrderStatus, PortfolioAccount,
    Position, Quote, Side, Tickle, Trade, WhatIf, parse_decimal, parse_price,
};
