//! pbal's own login to the Client Portal Gateway: IBKR's SSO exchange over plain HTTPS
//! (SRP-6 password proof, EKX, optional TOTP or IB Key push), so the daemon needs no browser
//! and no human after a gateway restart or the nightly reset (`ibkr-sso-login.md`).
//!
//! # Layout
//! - [`srp`]: the SRP-6 client math with IBKR's hex conventions.
//! - [`ekx`]: the session key encrypted to the server's RSA key (e = 3, PKCS#1 v1.5).
//! - [`totp`]: RFC 6238 codes and the fresh-step, never-reuse rule.
//! - [`xml`]: lenient reading of the login server's replies.
//! - [`credentials`]: where the password and TOTP secret come from, and their checks.
//! - [`state`]: the persisted stop / backoff / last-login record.
//! - [`flow`]: the HTTP conversation.
//! - [`login`]: [`SsoLogin`], the [`crate::ibkr::Login`] implementation.
pub mod credentials;
pub mod ekx;
pub mod flow;
pub mod login;
pub mod srp;
pub mod state;
pub mod totp;
pub mod xml;

pub use credentials::{CredentialSources, SecretSource};
pub use flow::{FactorChoice, FlowOptions, FlowReport, LoginError};
pub use login::{AlertSink, Attempt, LoginAlert, SsoLogin, SsoOptions};
pub use state::LoginState;
