//! Choosing the login: [`SsoLogin`] when `account.username` and a password source are
//! configured (and `login.enabled`), else [`WaitForHuman`] — the documented fallback. Translates
//! `[login]` into the client's own option types (the gateway client never reads config).
use std::sync::Arc;
use std::time::Duration;

use crate::adapters::login::credential_sources;
use crate::config::Settings;
use crate::ibkr::session::{Login, WaitForHuman};
use crate::ibkr::sso::{AlertSink, FactorChoice, SsoLogin, SsoOptions};

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

/// The exact next step when the scheduler needs a brokerage session: whether pbal logs in by
/// itself decides what the human does.
pub fn next_step(settings: &Settings) -> String {
    match credential_sources(settings) {
        Ok(s) => format!(
            "pbal logs in by itself as {}; run `pbal login` to see why it cannot now \
             (`pbal login --check` checks the credentials), or log in on the gateway's page {}",
            s.username, settings.gateway.url
        ),
        Err(why) => format!(
            "open {} in a browser on this machine and log in (pbal does not log in by itself: \
             {why})",
            settings.gateway.url
        ),
    }
}

/// Forwards login alerts to the notifier (on a task: the sink must not block). A stop of
/// automatic logins is "pbal is blocked" (once per reason); the others (approve the push,
/// push not approved) are sent each time, as each is a new login attempt.
pub fn alert_sink(notifier: crate::notify::Notifier) -> AlertSink {
    use crate::notify::{Alert, Notify, Severity, messages};
    Arc::new(move |a: crate::ibkr::sso::LoginAlert| {
        let n = notifier.clone();
        let alert = if a.stopped {
            messages::daemon_blocked(
                "automatic logins stopped",
                &a.message,
                "fix the credentials (`pbal login --check` checks them), then run \
                 `pbal login --reset`",
            )
        } else {
            Alert::new(Severity::Warning, a.title, a.message)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move { n.notify(&alert).await });
            }
            Err(_) => tracing::warn!(title = %alert.title, "login alert without a runtime"),
        }
    })
}
