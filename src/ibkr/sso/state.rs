//! The login's persisted state (`login-state.json` in the state directory, 0600): whether
//! automatic logins are stopped and why, the transient-failure backoff, when pbal last logged
//! in, and the last TOTP step sent (so a restart never sends the same code again).
//!
//! Why persisted: IBKR locks an account after a few wrong passwords. A wrong password or
//! `reached_max_login` must stop every automatic attempt *including after a restart* until the
//! user runs `pbal login --reset`. Holds no secret.
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name inside the state directory.
pub const LOGIN_STATE_FILE: &str = "login-state.json";

/// Waits after the 1st, 2nd and later consecutive transient failures.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(60),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
];

/// Why automatic logins stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// The persisted record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginState {
    /// Set by a failure that retrying could turn into a locked account.
    pub stopped: Option<Stopped>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// Consecutive transient failures (reset by a success).
    pub transient_failures: u32,
    /// No automatic attempt before this instant.
    pub retry_after: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The last TOTP step whose code was sent.
    pub last_totp_step: Option<u64>,
}

impl LoginState {
    /// The file's path in `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(LOGIN_STATE_FILE)
    }

    /// Reads the state; a missing file is the default (never logged in, not stopped).
    ///
    /// # Errors
    /// An unreadable or corrupt file (named), so a stop is never silently forgotten.
    pub fn load(path: &Path) -> Result<LoginState, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{}: {e}; fix or delete it (deleting also clears a login stop)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LoginState::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes the state atomically with mode 0600.
    ///
    /// # Errors
    /// I/O failure (named).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        crate::util::atomic_write_private(path, &bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Records a success: clears the backoff (a stop was already cleared to get here).
    pub fn succeeded(&mut self, now: DateTime<Utc>) {
        self.last_success = Some(now);
        self.last_attempt = Some(now);
        self.transient_failures = 0;
        self.retry_after = None;
        self.last_error = None;
    }

    /// Records a failure that must stop automatic logins.
    pub fn stop(&mut self, now: DateTime<Utc>, reason: &str) {
        self.last_attempt = Some(now);
        self.last_error = Some(reason.to_owned());
        self.stopped = Some(Stopped {
            at: now,
            reason: reason.to_owned(),
        });
    }

    /// Records a transient failure and schedules the next attempt (1 min → 1 h → 6 h).
    pub fn transient(
        &mut self,
        now: DateTime<Utc>,
        reason: &str,
        backoff: &[Duration],
    ) -> Duration {
        self.last_attempt = Some(now);
        self.last_error = Some(reason.to_owned());
        let i = (self.transient_failures as usize).min(backoff.len().saturating_sub(1));
        self.transient_failures = self.transient_failures.saturating_add(1);
        let wait = backoff.get(i).copied().unwrap_or(Duration::from_secs(60));
        self.retry_after = Some(now + chrono::Duration::from_std(wait).unwrap_or_default());
        wait
    }

    /// Clears a stop and the backoff (`pbal login --reset`).
    pub fn reset(&mut self) {
        self.stopped = None;
        self.transient_failures = 0;
        self.retry_after = None;
    }

    /// May an automatic attempt run at `now`? `Err` says why not.
    pub fn may_attempt(&self, now: DateTime<Utc>) -> Result<(), String> {
        if let Some(s) = &self.stopped {
            return Err(format!(
                "automatic login stopped since {}: {} — fix the credentials, then run `pbal login --reset`",
                s.at.format("%Y-%m-%d %H:%M UTC"),
                s.reason
            ));
        }
        match self.retry_after {
            Some(t) if t > now => Err(format!(
                "next login attempt after {} (backing off after {} failure(s): {})",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                self.transient_failures,
                self.last_error.as_deref().unwrap_or("?")
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stop_survives_a_reload_and_reset_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = LoginState::path(dir.path());
        assert_eq!(LoginState::load(&path).unwrap(), LoginState::default());
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut s = LoginState::default();
        s.stop(now, "wrong username or password");
        s.save(&path).unwrap();
        let mut again = LoginState::load(&path).unwrap();
        let why = again
            .may_attempt(now + chrono::Duration::days(30))
            .unwrap_err();
        assert!(
            why.contains("wrong username or password") && why.contains("--reset"),
            "{why}"
        );
        again.reset();
        assert!(again.may_attempt(now).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn transient_failures_back_off_1m_1h_6h() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut s = LoginState::default();
        let waits: Vec<u64> = (0..4)
            .map(|_| s.transient(now, "gateway down", &BACKOFF).as_secs())
            .collect();
        assert_eq!(waits, [60, 3600, 21600, 21600]);
        assert!(s.may_attempt(now).is_err());
        assert!(s.may_attempt(now + chrono::Duration::hours(7)).is_ok());
        s.succeeded(now);
        assert_eq!(s.transient_failures, 0);
        assert!(s.may_attempt(now).is_ok());
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = LoginState::path(dir.path());
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            LoginState::load(&path)
                .unwrap_err()
                .contains(LOGIN_STATE_FILE)
        );
    }
}
