//! One order-placing pbal at a time: an exclusive `flock` on `<state dir>/orders.lock`, held
//! for the whole of a submit, an approval or a resumption.
//!
//! Without it, a `pbal rebalance --mode submit` started while the daemon is mid-run would see
//! the daemon's run as "interrupted", resume it concurrently and race it on the same cOIDs — or
//! plan a second run on holdings that do not yet show the first run's orders. The kernel drops
//! the lock when the process dies (SIGKILL included), so a crash never leaves it stuck.
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::CycleError;

/// File name of the lock in the state directory.
pub const LOCK_FILE: &str = "orders.lock";

/// Held while orders may be placed; released on drop.
#[derive(Debug)]
pub struct OrderLock {
    _file: File,
}

impl OrderLock {
    /// Takes the lock or fails at once (never waits: a second order-placer must not queue up
    /// behind the first and then act on a stale plan).
    ///
    /// # Errors
    /// [`CycleError::Busy`] when another pbal process holds it; I/O errors otherwise.
    pub fn acquire(state_dir: &Path) -> Result<Self, CycleError> {
        std::fs::create_dir_all(state_dir).map_err(|e| CycleError::Busy(e.to_string()))?;
        let path = state_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CycleError::Busy(format!("{}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(CycleError::Busy(
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    format!(
                        "another pbal process is placing orders ({} is locked); try again when it is done",
                        path.display()
                    )
                } else {
                    format!("{}: {e}", path.display())
                },
            ));
        }
        Ok(OrderLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = OrderLock::acquire(dir.path()).unwrap();
        let e = OrderLock::acquire(dir.path()).unwrap_err();
        assert!(e.to_string().contains("another pbal process"), "{e}");
        drop(first);
        assert!(OrderLock::acquire(dir.path()).is_ok());
    }
}
