//! Keeping the idle daemon small: dropping the code pages start-up and a run touched.
//!
//! Why: the daemon spends almost all its life asleep between tickles, but `ps` counted 17.6 MiB
//! resident, of which only 2.4 MiB were its own allocations. The rest were pages of its 20 MB
//! executable: the kernel maps code in 64 KiB "fault-around" windows and reads ahead, so
//! start-up, the first priming and any cycle left most of the text segment mapped although an
//! idle tickle runs a small part of it (measured with `scripts/measure-idle.sh`).
//!
//! When: a keep-alive tickle alone pulls ~6 MiB of code back in, because each of its page
//! faults maps a whole 64 KiB window around the page it needs. So the task trims shortly after
//! each change of the session state (each tickle confirms it: once a minute), and at least
//! every few minutes; between tickles the daemon then holds about 4 MiB.
//!
//! What: for each mapping that is file-backed, private, not writable and has
//! no anonymous (copy-on-write) pages — so every page in it equals the file's — ask the kernel
//! to unmap its pages (`MADV_DONTNEED`) and not to read ahead on the next fault
//! (`MADV_RANDOM`). The pages stay in the page cache; code that runs again faults back in from
//! memory, not from disk. Writable data, the heap, relocated read-only data (RELRO, which is
//! copy-on-write and would revert to the file) and the stacks are never touched.
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// After start-up and the first priming, then at least this often.
const FIRST_TRIM: Duration = Duration::from_secs(30);
const TRIM_EVERY: Duration = Duration::from_secs(300);
/// After the gateway session changes (every tickle confirms it), wait for the request to
/// finish, then trim; never more often than [`MIN_GAP`].
const SETTLE: Duration = Duration::from_secs(2);
const MIN_GAP: Duration = Duration::from_secs(20);

/// One mapping from `/proc/self/smaps` that may be trimmed.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
}

/// The mappings of `smaps` text that are safe to drop: file-backed (inode ≠ 0), private, not
/// writable, and without a single anonymous page.
fn clean_file_mappings(smaps: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let eligible =
                perms.len() == 4 && !perms.contains('w') && perms.ends_with('p') && inode != "0";
            current = eligible.then_some(Mapping { start, end });
            continue;
        }
        if first == "Anonymous:" {
            let anon_kb: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            if let Some(m) = current.take()
                && anon_kb == 0
            {
                out.push(m);
            }
        }
    }
    out
}

/// Drops the resident pages of every clean file mapping; returns how many bytes of mappings
/// were trimmed (not how much RSS fell: unmapped pages were not all resident).
pub fn trim_clean_pages() -> std::io::Result<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut bytes = 0;
    for m in clean_file_mappings(&smaps) {
        let len = m.end - m.start;
        // SAFETY: the range is exactly one whole mapping of this process that is private,
        // read-only and has no anonymous pages, so every page equals the file's contents and
        // refaults identically; no Rust object lives in it (code and constant data only).
        // madvise only changes residency and readahead, never the contents seen.
        unsafe {
            let addr = m.start as *mut libc::c_void;
            libc::madvise(addr, len, libc::MADV_RANDOM);
            if libc::madvise(addr, len, libc::MADV_DONTNEED) == 0 {
                bytes += len;
            }
        }
    }
    Ok(bytes)
}

/// The daemon's trimming task: 30 s after start-up, then shortly after each session change
/// (each tickle), at most every 20 s, and at least every 5 minutes, until cancelled.
pub async fn trim_task<T: Clone + Send + Sync>(
    mut session: tokio::sync::watch::Receiver<T>,
    cancel: CancellationToken,
) {
    let sleep_or_stop = |d: Duration| {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                () = cancel.cancelled() => false,
                () = tokio::time::sleep(d) => true,
            }
        }
    };
    if !sleep_or_stop(FIRST_TRIM).await {
        return;
    }
    loop {
        match trim_clean_pages() {
            Ok(bytes) => tracing::trace!(bytes, "dropped clean code pages"),
            Err(e) => tracing::debug!(error = %e, "cannot read /proc/self/smaps; not trimming"),
        }
        if !sleep_or_stop(MIN_GAP).await {
            return;
        }
        session.borrow_and_update();
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = session.changed() => {
                if changed.is_err() {
                    // The client is gone (shutting down): fall back to the timer.
                    if !sleep_or_stop(TRIM_EVERY).await {
                        return;
                    }
                }
            }
            () = tokio::time::sleep(TRIM_EVERY) => {}
        }
        if !sleep_or_stop(SETTLE).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 1234   /usr/bin/pbal
Size:               1024 kB
Anonymous:             0 kB
55d0c0100000-55d0c0900000 r-xp 00100000 fd:01 1234   /usr/bin/pbal
Size:               8192 kB
Anonymous:             0 kB
55d0c0900000-55d0c0a00000 r--p 00900000 fd:01 1234   /usr/bin/pbal
Size:               1024 kB
Anonymous:           512 kB
55d0c0a00000-55d0c0a10000 rw-p 00a00000 fd:01 1234   /usr/bin/pbal
Anonymous:            64 kB
55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0      [heap]
Anonymous:          4096 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0      [vdso]
Anonymous:             0 kB
7f0000000000-7f0000010000 r-xs 00000000 fd:01 99     /dev/shm/x
Anonymous:             0 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings_are_trimmed() {
        let m = clean_file_mappings(SMAPS);
        assert_eq!(
            m,
            vec![
                Mapping {
                    start: 0x55d0_c000_0000,
                    end: 0x55d0_c010_0000
                },
                Mapping {
                    start: 0x55d0_c010_0000,
                    end: 0x55d0_c090_0000
                },
            ],
            "RELRO with copy-on-write pages, writable data, the heap, the vDSO and shared \
             mappings are left alone"
        );
    }

    #[test]
    fn a_mapping_without_an_anonymous_line_is_not_trimmed() {
        let smaps =
            "55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 1234 /usr/bin/pbal\nSize: 4 kB\n";
        assert!(clean_file_mappings(smaps).is_empty());
    }

    #[test]
    fn trimming_this_process_keeps_it_running() {
        // The test binary trims its own code and constant data, then keeps computing with it.
        let before: u64 = (1..=1000u64).sum();
        let bytes = trim_clean_pages().unwrap();
        assert!(bytes > 0, "the test binary's own text is a clean mapping");
        assert_eq!((1..=1000u64).sum::<u64>(), before);
        assert_eq!(format!("{:?}", Some("still here")), "Some(\"still here\")");
    }
}
