//! The adapters: where the layers meet, so that none of them has to know another.
//!
//! Why a module of its own: `ibkr` is a leaf that knows nothing of config files or strategies,
//! the cycle knows only its [`crate::cycle::Broker`] trait, and the scheduler's driver only its
//! [`crate::scheduler::driver::CycleRunner`]/`SessionProbe`/`PeriodStore` traits. Something has
//! to translate between them; it lives here, used by the daemon and the commands (the wiring
//! layer), never by the layers it connects.
//!
//! # Layout
//! - [`gateway`]: `[gateway]` settings → [`crate::ibkr::ClientOptions`], contract queries.
//! - [`ibkr_broker`]: the cycle's [`crate::cycle::Broker`] on the gateway client.
//! - [`cycle_runner`]: the real [`crate::cycle::Cycle`] behind the driver's seams.
//! - [`journal_store`]: the driver's period bookkeeping in the SQLite journal.
//! - [`login`]: where pbal's own login takes its credentials, and its status line.
//! - `alerts`: the alert a scheduled cycle ends with (plan staged, run finished).
//! - [`flex_source`]: the cycle's tax statement from the Flex Web Service (`[flex]`).
mod alerts;
pub mod cycle_runner;
pub mod flex_source;
pub mod gateway;
pub mod ibkr_broker;
pub mod journal_store;
pub mod login;

pub use gateway::{client_options, contract_query, gateway_client};
pub use ibkr_broker::IbkrBroker;
pub use journal_store::JournalPeriodStore;
