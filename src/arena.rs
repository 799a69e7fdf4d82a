//! A bump allocator for the one-shot `pbal plan` process (the `pbal` front executable only;
//! `pbal-full`, which runs the daemon, keeps the system allocator).
//!
//! Why: `pbal plan` reads a CSV, plans, prints and exits. At 10^5 rows glibc's `malloc` took a
//! quarter of the run in page faults: every large `Vec` got a fresh `mmap` (then `munmap`, then a
//! fresh `mmap` for the next), and every 4 KiB page of it faulted separately. Here memory comes
//! from one reserved region whose first `SMALL` bytes (2 MiB) are ordinary pages and the rest
//! transparent huge pages, so a 10^5-row plan takes ~600 page faults instead of ~25,000. The
//! small-page prefix is for small inputs: a header-only CSV touches a few pages, and zeroing a
//! whole 2 MiB huge page for it cost ~50 µs more (`perf stat -e task-clock,page-faults`). The
//! front calls [`Arena::expect`] with the CSV's size, so anything larger (10^3 rows touch
//! ~1.3 MiB) moves on to huge pages right after argument parsing.
//!
//! Frees are free: memory is only reused when the last allocation is freed or resized (the
//! common `Vec` growth), because the process exits soon and the kernel takes it all back. That
//! is why this allocator must never run a long-lived process: the front `exec`s `pbal-full`
//! for every other command, which replaces the whole address space.
//!
//! Fail-safe: when the region cannot be reserved (a `ulimit -v`, strict overcommit) or is full,
//! allocations fall back to the system allocator; pointers are told apart by address.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Address space reserved (not committed: `MAP_NORESERVE`, pages appear on first touch).
const RESERVE: usize = 1 << 32;
/// Leading part of the region left in 4 KiB pages (one huge page's worth).
const SMALL: usize = 2 << 20;
/// Transparent huge page size on x86-64 and aarch64 (4 KiB base pages).
const HUGE: usize = 2 << 20;
/// Expected allocation from which [`Arena::expect`] moves to huge pages (~60 small pages: see
/// there).
const HUGE_WORTH: usize = 256 << 10;

/// The allocator; `static A: Arena = Arena::new();` with `#[global_allocator]`.
pub struct Arena {
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

/// Bump state, guarded by `lock`. Addresses are `usize` so the empty state is `const`.
struct State {
    /// Start of the region; 0 before the first allocation.
    base: usize,
    end: usize,
    /// Next free byte.
    next: usize,
    /// Start of the most recent allocation (0: none to reuse).
    last: usize,
    /// Everything at or above this address has never been handed out (still zero).
    high: usize,
    /// Reserving failed once: use the system allocator from then on.
    failed: bool,
}

// SAFETY: `state` is only touched while `lock` is held (see `with`).
unsafe impl Sync for Arena {}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl Arena {
    pub const fn new() -> Self {
        Arena {
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                base: 0,
                end: 0,
                next: 0,
                last: 0,
                high: 0,
                failed: false,
            }),
        }
    }

    /// Runs `f` on the state under the spin lock (uncontended: the front is single-threaded).
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock gives exclusive access until it is released below.
        let r = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    /// Tells the arena that about `bytes` more will be allocated. When that is more than the
    /// small-page prefix is worth, allocation moves on to the huge-page part now, leaving the
    /// rest of the prefix untouched: each fresh 4 KiB page costs ~1.7 µs to fault in on the
    /// measuring VM, a whole 2 MiB huge page ~100 µs, so past ~60 pages huge pages win (at
    /// 10^3 rows: ~250 small-page faults, ~0.4 ms, became two huge-page faults).
    pub fn expect(&self, bytes: usize) {
        if bytes >= HUGE_WORTH {
            self.with(State::skip_small);
        }
    }

    /// True when `p` was handed out by the region (so it must not reach `System`).
    #[cfg(test)]
    fn owns(&self, p: *mut u8) -> bool {
        self.with(|s| s.contains(p as usize))
    }
}

impl State {
    /// Reserves the region on first use.
    fn reserve(&mut self) {
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RESERVE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            self.failed = true;
            return;
        }
        // Huge pages only cover 2 MiB-aligned ranges: start the region at the first boundary.
        let base = (p as usize).next_multiple_of(HUGE);
        let end = p as usize + RESERVE;
        // SAFETY: advice on a range inside the mapping just made; failure only means no huge
        // pages (e.g. THP disabled), which is harmless. Never allocate here: this runs under
        // the allocator's own lock.
        unsafe {
            let huge = base + SMALL;
            libc::madvise(huge as *mut libc::c_void, end - huge, libc::MADV_HUGEPAGE)
        };
        (self.base, self.end, self.next, self.high) = (base, end, base, base);
    }

    /// Bumps out `layout`, or `None` (region full or unavailable).
    fn bump(&mut self, layout: Layout) -> Option<usize> {
        if self.base == 0 && !self.failed {
            self.reserve();
        }
        if self.base == 0 {
            return None;
        }
        self.high = self.high.max(self.next);
        let start = self.next.checked_next_multiple_of(layout.align())?;
        let stop = start.checked_add(layout.size())?;
        if stop > self.end {
            return None;
        }
        (self.next, self.last) = (stop, start);
        Some(start)
    }

    /// Moves the bump pointer to the huge-page part if it is still in the small-page prefix.
    /// The skipped bytes were never handed out, so `high` still marks what is dirty.
    fn skip_small(&mut self) {
        if self.base == 0 && !self.failed {
            self.reserve();
        }
        if self.base != 0 && self.next < self.base + SMALL {
            self.high = self.high.max(self.next);
            // The last allocation can no longer grow in place: it is not at the bump pointer.
            (self.next, self.last) = (self.base + SMALL, 0);
        }
    }

    /// True when `p` lies in the region (pointers the system allocator handed out never do).
    fn contains(&self, p: usize) -> bool {
        self.base != 0 && p >= self.base && p < self.end
    }

    /// Frees `p`: only the most recent allocation's space can be reused; other frees are no-ops.
    fn free(&mut self, p: usize) {
        if p == self.last {
            self.high = self.high.max(self.next);
            (self.next, self.last) = (self.last, 0);
        }
    }

    /// Grows or shrinks the most recent allocation in place; false if `p` is not it or it
    /// does not fit.
    fn resize_last(&mut self, p: usize, new_size: usize) -> bool {
        match p.checked_add(new_size) {
            Some(stop) if p == self.last && p != 0 && stop <= self.end => {
                self.high = self.high.max(self.next);
                self.next = stop;
                true
            }
            _ => false,
        }
    }
}

// SAFETY: every pointer returned is either from `System` or a fresh, aligned, in-bounds range
// of the region that no live allocation overlaps (the bump pointer only moves back over the
// last allocation when it is freed or resized).
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.with(|s| s.bump(layout)) {
            Some(p) => p as *mut u8,
            // SAFETY: forwarded with the caller's layout.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let got = self.with(|s| s.bump(layout).map(|p| (p, s.high)));
        match got {
            // Memory at or above `high` was never handed out, so the kernel's zero pages are
            // still zero: clearing only the reused part saves touching fresh pages.
            Some((p, high)) => {
                let dirty = layout.size().min(high.saturating_sub(p));
                // SAFETY: `p..p + size` is the range just bumped out.
                unsafe { std::ptr::write_bytes(p as *mut u8, 0, dirty) };
                p as *mut u8
            }
            // SAFETY: forwarded with the caller's layout.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let ours = self.with(|s| {
            let ours = s.contains(p as usize);
            if ours {
                s.free(p as usize);
            }
            ours
        });
        if !ours {
            // SAFETY: not ours, so `System` handed it out with this layout.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // `Some(resized in place)` for the region's pointers, `None` for the system's.
        let resized = self.with(|s| {
            s.contains(p as usize)
                .then(|| s.resize_last(p as usize, new_size))
        });
        match resized {
            // SAFETY: not ours, so `System` handed it out with this layout.
            None => return unsafe { System.realloc(p, layout, new_size) },
            Some(true) => return p,
            Some(false) if new_size <= layout.size() => return p,
            Some(false) => {}
        }
        // SAFETY: same alignment as the caller's, which `GlobalAlloc::realloc` guarantees valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a fresh allocation of the new layout; the old one stays valid until freed.
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both ranges are valid for the smaller size and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size)) };
            // SAFETY: `p` was allocated here with `layout`.
            unsafe { self.dealloc(p, layout) };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_writable() {
        let a = Arena::new();
        let mut seen: Vec<(usize, usize)> = Vec::new();
        for (i, &(size, align)) in [(1, 1), (24, 8), (3, 1), (64, 64), (4096, 4096), (7, 2)]
            .iter()
            .enumerate()
        {
            let p = unsafe { a.alloc(layout(size, align)) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "allocation {i} misaligned");
            unsafe { std::ptr::write_bytes(p, 0xAB, size) };
            for &(q, n) in &seen {
                assert!(p as usize >= q + n || p as usize + size <= q, "overlap");
            }
            seen.push((p as usize, size));
        }
        assert!(seen.iter().all(|&(p, _)| a.owns(p as *mut u8)));
    }

    #[test]
    fn the_last_allocation_grows_in_place_and_others_move_with_their_bytes() {
        let a = Arena::new();
        let l = layout(16, 8);
        let p = unsafe { a.alloc(l) };
        unsafe { std::ptr::copy_nonoverlapping(b"0123456789abcdef".as_ptr(), p, 16) };
        let p2 = unsafe { a.realloc(p, l, 1 << 20) };
        assert_eq!(p2, p, "the last allocation grows in place");
        let other = unsafe { a.alloc(layout(8, 8)) };
        let p3 = unsafe { a.realloc(p2, layout(1 << 20, 8), 2 << 20) };
        assert_ne!(p3, p2, "not the last any more: it moves");
        assert_eq!(
            unsafe { std::slice::from_raw_parts(p3, 16) },
            b"0123456789abcdef"
        );
        assert!(p3 as usize > other as usize);
    }

    #[test]
    fn freeing_the_last_allocation_reuses_its_space_and_zeroed_memory_is_zero() {
        let a = Arena::new();
        let l = layout(256, 8);
        let p = unsafe { a.alloc(l) };
        unsafe { std::ptr::write_bytes(p, 0xFF, 256) };
        unsafe { a.dealloc(p, l) };
        let q = unsafe { a.alloc_zeroed(layout(512, 8)) };
        assert_eq!(q, p, "the freed last allocation is reused");
        assert!(
            unsafe { std::slice::from_raw_parts(q, 512) }
                .iter()
                .all(|&b| b == 0)
        );
        // Freeing something that is not the last one is a no-op (no reuse, no corruption).
        let r = unsafe { a.alloc(layout(8, 8)) };
        unsafe { a.dealloc(q, layout(512, 8)) };
        let s = unsafe { a.alloc(layout(8, 8)) };
        assert!(s as usize >= r as usize + 8);
    }

    #[test]
    fn expecting_much_moves_to_the_huge_page_part_and_keeps_the_last_block_intact() {
        let a = Arena::new();
        let l = layout(64, 8);
        let p = unsafe { a.alloc(l) };
        unsafe { std::ptr::write_bytes(p, 0x5A, 64) };
        a.expect(HUGE_WORTH - 1);
        let q = unsafe { a.alloc(l) };
        assert!(
            (q as usize) < a.with(|s| s.base) + SMALL,
            "a small hint changes nothing"
        );
        a.expect(HUGE_WORTH);
        let base = a.with(|s| s.base);
        let r = unsafe { a.alloc_zeroed(layout(4096, 8)) };
        assert_eq!(
            r as usize,
            base + SMALL,
            "the huge-page part starts on a 2 MiB boundary"
        );
        assert!(
            unsafe { std::slice::from_raw_parts(r, 4096) }
                .iter()
                .all(|&b| b == 0)
        );
        // `q` was the last block before the move: growing it must copy, not overrun `r`.
        let q2 = unsafe { a.realloc(q, l, 128) };
        assert!(q2 as usize >= r as usize + 4096);
        assert_eq!(unsafe { *p.add(63) }, 0x5A);
        a.expect(HUGE_WORTH);
        let s = unsafe { a.alloc(l) };
        assert!(
            s as usize > q2 as usize,
            "a second hint does not move backwards"
        );
    }

    #[test]
    fn foreign_pointers_go_to_the_system_allocator() {
        let a = Arena::new();
        let _ = unsafe { a.alloc(layout(8, 8)) };
        let l = layout(100, 8);
        let p = unsafe { System.alloc(l) };
        assert!(!a.owns(p));
        let p = unsafe { a.realloc(p, l, 200) };
        assert!(!a.owns(p), "a system block stays a system block");
        unsafe { a.dealloc(p, layout(200, 8)) };
    }

    #[test]
    fn a_request_larger_than_the_region_falls_back_to_the_system() {
        let a = Arena::new();
        let l = layout(RESERVE + 1, 8);
        assert_eq!(a.with(|s| s.bump(l)), None);
        // A normal allocation still comes from the region afterwards.
        let p = unsafe { a.alloc(layout(8, 8)) };
        assert!(a.owns(p));
    }
}
