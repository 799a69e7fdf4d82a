//! Which cause each alert kind was last sent for, so an alert goes out once per cause.
//!
//! Why the last cause per kind (not every cause ever): a kind's cause changes when the
//! situation does — another period, another staged plan, another reason — and that must alert
//! again; the same situation seen on the next tick or after a restart must not. Keeping one
//! entry per kind also bounds the file. A cause that comes back after another one (reason A,
//! then B, then A) alerts again: it is news again.
//!
//! Why a file and not the journal: the journal is the record of money paths; alert
//! bookkeeping is best effort, and a notifier that cannot write its file still alerts (at
//! worst once more after a restart). The file is 0600 (reasons can name accounts) and written
//! atomically.
//!
//! Sending is claim → deliver → commit (or release when no channel took it), so two tasks
//! raising the same cause at once send it once, and an alert no channel delivered is tried
//! again on the cause's next occurrence.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The ledger's file name in the state dir.
pub const FILE: &str = "alerts-sent.json";

/// One remembered cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// The last cause sent per kind, optionally persisted.
#[derive(Debug)]
pub struct Ledger {
    path: Option<PathBuf>,
    sent: Mutex<BTreeMap<String, Sent>>,
}

/// A claimed (not yet committed) cause: what to put back if delivery fails.
#[derive(Debug)]
#[must_use]
pub struct Claim {
    kind: String,
    cause: String,
    previous: Option<Sent>,
}

impl Ledger {
    /// A ledger that forgets on restart (tests, commands without a state dir).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            sent: Mutex::default(),
        }
    }

    /// The ledger stored at `path`. An unreadable or corrupt file is logged and treated as
    /// empty: an alert sent twice beats an alert never sent.
    pub fn open(path: PathBuf) -> Self {
        let sent = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "alert ledger unreadable; starting empty");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "alert ledger unreadable; starting empty");
                BTreeMap::new()
            }
        };
        Self {
            path: Some(path),
            sent: Mutex::new(sent),
        }
    }

    /// Claims `cause` for `kind`: `None` when it is the cause last sent (drop the alert).
    pub fn claim(&self, kind: &str, cause: &str) -> Option<Claim> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.get(kind).is_some_and(|s| s.cause == cause) {
            return None;
        }
        let previous = sent.insert(
            kind.to_owned(),
            Sent {
                cause: cause.to_owned(),
                at: Utc::now(),
            },
        );
        Some(Claim {
            kind: kind.to_owned(),
            cause: cause.to_owned(),
            previous,
        })
    }

    /// The alert went out: keep the cause, on disk too.
    pub fn commit(&self, claim: Claim) {
        let Some(path) = &self.path else {
            return;
        };
        let bytes = {
            let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::to_vec_pretty(&*sent)
        };
        let written = bytes
            .map_err(std::io::Error::other)
            .and_then(|b| crate::util::atomic_write_private(path, &b));
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), kind = %claim.kind, error = %e, "cannot record the alert as sent; a restart may send it again");
        }
    }

    /// Nothing went out: forget the claim (unless another cause replaced it meanwhile).
    pub fn release(&self, claim: Claim) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent
            .get(&claim.kind)
            .is_some_and(|s| s.cause == claim.cause)
        {
            match claim.previous {
                Some(p) => sent.insert(claim.kind, p),
                None => sent.remove(&claim.kind),
            };
        }
    }

    /// The cause last sent for `kind`.
    pub fn last(&self, kind: &str) -> Option<Sent> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_cause_is_claimed_once_and_a_new_cause_again() {
        let l = Ledger::in_memory();
        let c = l.claim("period-missed", "2027-Q1").expect("first time");
        l.commit(c);
        assert!(l.claim("period-missed", "2027-Q1").is_none());
        // Another kind with the same key is its own cause.
        l.commit(l.claim("login-needed", "2027-Q1").expect("other kind"));
        let c = l.claim("period-missed", "2027-Q2").expect("new period");
        l.commit(c);
        // A cause that comes back after another one is news again.
        assert!(l.claim("period-missed", "2027-Q1").is_some());
    }

    #[test]
    fn a_released_claim_is_tried_again_and_the_previous_cause_restored() {
        let l = Ledger::in_memory();
        l.commit(l.claim("k", "a").unwrap());
        let c = l.claim("k", "b").unwrap();
        l.release(c);
        assert_eq!(l.last("k").unwrap().cause, "a");
        assert!(l.claim("k", "b").is_some());
    }

    #[test]
    fn survives_a_restart_in_a_private_file_and_a_corrupt_file_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let l = Ledger::open(path.clone());
        l.commit(l.claim("plan-staged", "s20270104").unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Ledger::open(path.clone());
        assert!(again.claim("plan-staged", "s20270104").is_none());
        std::fs::write(&path, b"{not json").unwrap();
        let fresh = Ledger::open(path);
        assert!(fresh.claim("plan-staged", "s20270104").is_some());
    }
}
