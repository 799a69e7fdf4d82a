//! Choosing the login: [`SsoLogin`] when `account.username` and a password source are
//! configured (and `login.enabled`), else [`WaitForHuman`] — the documented fallback. Translates
//! `[login]` into the client's own option types (the gateway client never reads config).
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::ibkr::session::{Login, WaitForHuman};
use crate::ibkr::sso::credentials::{PASSWORD_CREDENTIAL, PASSWORD_ENV, TOTP_CREDENTIAL, TOTP_ENV};
use crate::ibkr::sso::{
    AlertSink, CredentialSources, FactorChoice, SecretSource, SsoLogin, SsoOptions,
};

/// Where the credentials would come from, or why pbal will not log in by itself.
///
/// # Errors
/// A human-readable reason (login disabled, no username, no password source).
pub fn credential_sources(settings: &Settings) -> Result<CredentialSources, String> {
    let l = &settings.login;
    if !l.enabled {
        return Err("login.enabled = false".into());
    }
    let username = settings
        .account
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or("account.username is not set")?;
    let password = SecretSource::locate(
        l.password_file.as_deref(),
        PASSWORD_CREDENTIAL,
        PASSWORD_ENV,
    )
    .ok_or_else(|| {
        format!(
            "no password: set login.password_file, a systemd credential \
                     `{PASSWORD_CREDENTIAL}`, or ${PASSWORD_ENV}"
        )
    })?;
    let totp_secret =
        SecretSource::locate(l.totp_secret_file.as_deref(), TOTP_CREDENTIAL, TOTP_ENV);
    Ok(CredentialSources {
        username: username.to_owned(),
        password,
        totp_secret,
    })
}

/// The [`SsoOptions`] for these settings.
///
/// # Errors
/// As [`credential_sources`].
pub fn sso_options(settings: &Settings) -> Result<SsoOptions, String> {
    let sources = credential_sources(settings)?;
    let l = &settings.login;
    let mut opts = SsoOptions::new(sources, settings.state_dir());
    opts.flow.allow_live = settings.account.allow_live;
    opts.flow.factor = match l.second_factor.as_str() {
        "totp" => FactorChoice::Totp,
        "push" => FactorChoice::Push,
        _ => FactorChoice::Auto,
    };
    let poll = l.push_poll_secs.max(1);
    opts.flow.push_poll_every = Duration::from_secs(poll);
    opts.flow.push_max_polls = u32::try_from(l.push_timeout_secs / poll)
        .unwrap_or(u32::MAX)
        .max(1);
    opts.flow.request_timeout = Duration::from_secs(settings.gateway.request_timeout_secs.max(1));
    Ok(opts)
}

/// The login the daemon uses, and a line saying which and why (for the log).
pub fn choose(settings: &Settings, alert: AlertSink) -> (Arc<dyn Login>, String) {
    match sso_options(settings) {
        Ok(opts) => {
            let line = format!("pbal logs in by itself as {}", opts.sources.username);
            (Arc::new(SsoLogin::new(opts, alert)), line)
        }
        Err(why) => (
            Arc::new(WaitForHuman::default()),
            format!("waiting for a human to log in ({why})"),
        ),
    }
}

/// Forwards login alerts to the notifier (on a task: the sink must not block).
pub fn alert_sink(notifier: crate::notify::Notifier) -> AlertSink {
    use crate::notify::{Alert, Notify, Severity};
    Arc::new(move |a: crate::ibkr::sso::LoginAlert| {
        let severity = if a.stopped {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let n = notifier.clone();
        let alert = Alert::new(severity, a.title, a.message);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move { n.notify(&alert).await });
            }
            Err(_) => tracing::warn!(title = %alert.title, "login alert without a runtime"),
        }
    })
}

/// One line about pbal's own login for `pbal status` and `pbal check`: who logs in, when pbal
/// last logged in, and whether (and why) automatic logins are stopped. `verify` also reads the
/// credentials (checking permissions and the TOTP secret; the secrets are dropped at once).
///
/// # Errors
/// The line, when something needs the user: stopped, unreadable credentials, corrupt state.
pub fn summary(settings: &Settings, verify: bool) -> Result<String, String> {
    use crate::ibkr::sso::LoginState;
    let sources = match credential_sources(settings) {
        Ok(s) => s,
        Err(why) => return Ok(format!("by hand in the gateway's web page ({why})")),
    };
    let state = LoginState::load(&LoginState::path(&settings.state_dir()))?;
    let last = state.last_success.map_or_else(
        || "never".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    if let Some(s) = &state.stopped {
        return Err(format!(
            "STOPPED since {}: {} — fix the credentials, then run `pbal login --reset` (last login {last})",
            s.at.format("%Y-%m-%d %H:%M UTC"),
            s.reason
        ));
    }
    if verify {
        sources.load().map_err(|e| e.to_string())?;
    }
    let mut line = format!("pbal logs in as {} (last login {last})", sources.username);
    if let Some(e) = state
        .last_error
        .as_ref()
        .filter(|_| state.transient_failures > 0)
    {
        line.push_str(&format!(
            "; {} failed attempt(s), last: {e}",
            state.transient_failures
        ));
    }
    Ok(line)
}
