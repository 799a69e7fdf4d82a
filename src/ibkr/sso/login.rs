//! [`SsoLogin`]: the [`Login`] seam's unattended implementation. Reads the credentials at
//! each attempt, runs the SSO conversation ([`super::flow`]), and guards the account:
//! a wrong password, a refused code or `reached_max_login` stops every automatic attempt
//! (persisted, survives restarts) and alerts; transient failures back off 1 min → 1 h → 6 h.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;

use super::credentials::CredentialSources;
use super::flow::{self, FlowOptions, FlowReport, Hooks, LoginError};
use super::state::{BACKOFF, LoginState};
use crate::ibkr::GatewayClient;
use crate::ibkr::error::GatewayError;
use crate::ibkr::session::{Login, LoginOutcome};

/// What the login tells the operator (the daemon forwards it to the notifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAlert {
    pub title: String,
    pub message: String,
    /// Automatic logins are stopped until `pbal login --reset`.
    pub stopped: bool,
}

/// Receives alerts; must not block.
pub type AlertSink = Arc<dyn Fn(LoginAlert) + Send + Sync>;

/// Everything [`SsoLogin`] needs (built by the daemon from config; `ibkr` never reads config).
#[derive(Debug, Clone)]
pub struct SsoOptions {
    pub sources: CredentialSources,
    pub flow: FlowOptions,
    /// Where `login-state.json` lives.
    pub state_dir: PathBuf,
    /// Waits after consecutive transient failures (default 1 min, 1 h, 6 h).
    pub backoff: Vec<Duration>,
}

impl SsoOptions {
    pub fn new(sources: CredentialSources, state_dir: PathBuf) -> Self {
        SsoOptions {
            sources,
            flow: FlowOptions::default(),
            state_dir,
            backoff: BACKOFF.to_vec(),
        }
    }
}

/// Logs in by itself (SRP + second factor), never hammering a wrong password.
pub struct SsoLogin {
    opts: SsoOptions,
    alert: AlertSink,
    /// One attempt at a time; also serialises the state file.
    busy: tokio::sync::Mutex<()>,
    /// "Not attempting because …" is logged once per reason change.
    told: AtomicBool,
}

impl std::fmt::Debug for SsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLogin")
            .field("user", &self.opts.sources.username)
            .finish_non_exhaustive()
    }
}

/// How a manual attempt treats the stop and the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The keeper: respects both.
    Automatic,
    /// `pbal login`: a human asked, so the backoff is skipped; a stop is still respected.
    Manual,
}

impl SsoLogin {
    pub fn new(opts: SsoOptions, alert: AlertSink) -> Self {
        SsoLogin {
            opts,
            alert,
            busy: tokio::sync::Mutex::new(()),
            told: AtomicBool::new(false),
        }
    }

    fn state_path(&self) -> PathBuf {
        LoginState::path(&self.opts.state_dir)
    }

    /// The persisted state (for `pbal status` / `pbal check`).
    ///
    /// # Errors
    /// A corrupt state file.
    pub fn state(&self) -> Result<LoginState, String> {
        LoginState::load(&self.state_path())
    }

    /// Clears a stop and the backoff (`pbal login --reset`).
    ///
    /// # Errors
    /// The state file cannot be read or written.
    pub fn reset(&self) -> Result<(), String> {
        let mut s = self.state()?;
        s.reset();
        s.save(&self.state_path())
    }

    /// One login now, reporting each step through `progress` (never a secret).
    ///
    /// # Errors
    /// `Err(text)` when not attempted (stopped / backing off) or when the login failed; the
    /// failure is recorded (and alerted) exactly as for the daemon.
    pub async fn attempt(
        &self,
        client: &GatewayClient,
        mode: Attempt,
        progress: &(dyn Fn(&str, &str) + Send + Sync),
    ) -> Result<FlowReport, String> {
        let _one = self.busy.lock().await;
        let path = self.state_path();
        let mut state = LoginState::load(&path)?;
        let now = Utc::now();
        match (state.may_attempt(now), mode) {
            (Ok(()), _) => {}
            (Err(why), Attempt::Manual) if state.stopped.is_none() => {
                tracing::debug!(%why, "manual login skips the backoff");
            }
            (Err(why), _) => return Err(why),
        }
        let result = self.run_once(client, &mut state, progress).await;
        let now = Utc::now();
        match &result {
            Ok(report) => {
                state.succeeded(now);
                tracing::info!(user = %self.opts.sources.username, factor = report.factor, paper = report.paper, "logged in to the gateway");
            }
            Err(e) if e.stops() => {
                let reason = e.to_string();
                state.stop(now, &reason);
                tracing::error!(error = %reason, "gateway login failed; automatic logins are stopped until `pbal login --reset`");
                (self.alert)(LoginAlert {
                    title: "pbal stopped logging in".into(),
                    message: format!(
                        "{reason}. Automatic logins are stopped (to avoid locking the IBKR account) until you fix the credentials and run `pbal login --reset`."
                    ),
                    stopped: true,
                });
            }
            Err(e) => {
                let reason = e.to_string();
                let wait = state.transient(now, &reason, &self.opts.backoff);
                tracing::warn!(error = %reason, retry_in_secs = wait.as_secs(), "gateway login failed; will retry");
                if matches!(e, LoginError::PushNotApproved(_)) {
                    (self.alert)(LoginAlert {
                        title: "pbal login not approved".into(),
                        message: format!("{reason}; pbal tries again in {} s.", wait.as_secs()),
                        stopped: false,
                    });
                }
            }
        }
        state.save(&path)?;
        result.map_err(|e| e.to_string())
    }

    async fn run_once(
        &self,
        client: &GatewayClient,
        state: &mut LoginState,
        progress: &(dyn Fn(&str, &str) + Send + Sync),
    ) -> Result<FlowReport, LoginError> {
        let creds = self.opts.sources.load()?;
        let tls = crate::ibkr::tls::client_config(client.trust())
            .map_err(|e| LoginError::Transport(e.to_string()))?;
        let alert = self.alert.clone();
        let push_sent = move || {
            alert(LoginAlert {
                title: "approve pbal's login".into(),
                message: "Approve pbal's login on your phone (IB Key notification).".into(),
                stopped: false,
            });
        };
        let hooks = Hooks {
            progress,
            push_sent: &push_sent,
            totp_step: &mut state.last_totp_step,
        };
        flow::login(tls, client.gateway_url(), &creds, &self.opts.flow, hooks).await
    }
}

impl Login for SsoLogin {
    fn login<'a>(
        &'a self,
        client: &'a GatewayClient,
    ) -> BoxFuture<'a, Result<LoginOutcome, GatewayError>> {
        Box::pin(async move {
            let quiet = |_: &str, _: &str| {};
            match self.attempt(client, Attempt::Automatic, &quiet).await {
                Ok(_) => {
                    self.told.store(false, Ordering::Release);
                    Ok(LoginOutcome::Attempted)
                }
                Err(why) => {
                    if !self.told.swap(true, Ordering::AcqRel) {
                        tracing::warn!(reason = %why, login_url = %client.login_url(), "no gateway session and pbal is not logging in now");
                    } else {
                        tracing::debug!(reason = %why, "no gateway session");
                    }
                    Ok(LoginOutcome::WaitingForHuman)
                }
            }
        })
    }

    fn session_restored(&self) {
        self.told.store(false, Ordering::Release);
    }

    fn can_log_in_now(&self) -> bool {
        LoginState::load(&self.state_path())
            .is_ok_and(|state| state.may_attempt(Utc::now()).is_ok())
    }
}
