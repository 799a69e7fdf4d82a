//! `[login]` and `[account]` settings → where pbal's own login takes its credentials, and the
//! one-line login summary that `pbal status`, `pbal check` and the status page show.
//!
//! Why here and not in the daemon: the status page (`ui`) shows the same line, and `ui` sits
//! below the daemon; both read it from this adapter.
use crate::config::Settings;
use crate::ibkr::sso::credentials::{PASSWORD_CREDENTIAL, PASSWORD_ENV, TOTP_CREDENTIAL, TOTP_ENV};
use crate::ibkr::sso::{CredentialSources, SecretSource};

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
