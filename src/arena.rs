//! A bump allocator for the one-shot `pbal plan` process (the `pbal` front executable only;
//! `pbal-full`, which runs the daemon, keeps the system allocator).
//!
//! Why: `pbal plan` reads a CSV, plans, prints and exits. At 10^5 rows glibc's `malloc` took a
//! quarter of the run in page faults: every large `Vec` got a fresh `mmap` (then `munmap`, then a
//! fresh `mmap` for the next), and every 4 KiB page of it faulted separately. Here memory comes
//! from one reserved region in two areas, one for small blocks and one for large ones
//! (≥ `LARGE` bytes). Each area starts with `SMALL` bytes (2 MiB) of ordinary pages and goes on
//! in transparent huge pages, so a 10^5-row plan takes ~150 page faults instead of ~25,000. The
//! small-page prefixes are for small inputs: a header-only CSV touches a few pages, and zeroing
//! a whole 2 MiB huge page for it cost ~50 µs more (`perf stat -e task-clock,page-faults`). The
//! front calls [`Arena::expect`] with the CSV's size, so anything larger (10^3 rows touch
//! ~1.3 MiB) moves on to huge pages right after argument parsing.
//!
//! Small frees are free: a small block's memory is only reused when it is the last one
//! allocated (the common `Vec` growth), because the process exits soon and the kernel takes it
//! all back. Large blocks are reused (`arena::large`), because fresh pages are what a large
//! input pays for. Either way this allocator must never run a long-lived process: the front
//! `exec`s `pbal-full` for every other command, which replaces the whole address space.
//!
//! Fail-safe: when the region cannot be reserved (a `ulimit -v`, strict overcommit) or an area
//! is full, allocations fall back to the system allocator; pointers are told apart by address.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

mod large;

use large::Large;

/// Address space reserved (not committed: `MAP_NORESERVE`, pages appear on first touch); the
/// small-block area takes the first half, the large-block area the second.
const RESERVE: usize = 1 << 32;
/// Leading part of each area left in 4 KiB pages (one huge page's worth).
const SMALL: usize = 2 << 20;
/// Transparent huge page size on x86-64 and aarch64 (4 KiB base pages).
const HUGE: usize = 2 << 20;
/// Blocks of at least this many bytes go to the large-block area.
const LARGE: usize = 4096;
/// Expected allocation from which [`Arena::expect`] moves the large-block area to huge pages
/// (~60 small pages: see there).
const HUGE_WORTH: usize = 256 << 10;
/// Expected allocation from which the small-block area moves to huge pages too (its share is
/// ~5 %: the symbols and strings).
const SMALL_HUGE_WORTH: usize = 8 << 20;

/// The allocator; `static A: Arena = Arena::new();` with `#[global_allocator]`.
pub struct Arena {
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

/// Allocation state, guarded by `lock`. Addresses are `usize` so the empty state is `const`.
struct State {
    /// Start of the region; 0 before the first allocation.
    base: usize,
    end: usize,
    /// Small-block area `[base, small_end)`: next free byte.
    next: usize,
    small_end: usize,
    /// Start of the most recent small allocation (0: none to reuse).
    last: usize,
    /// Small blocks at or above this address have never been handed out (still zero).
    high: usize,
    large: Large,
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
                small_end: 0,
                last: 0,
                high: 0,
                large: Large::empty(),
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
    /// small-page prefixes are worth, allocation moves on to the huge-page parts now, leaving
    /// the rest of the prefixes untouched: each fresh 4 KiB page costs ~1.7 µs to fault in on
    /// the measuring VM, a whole 2 MiB huge page ~100 µs, so past ~60 pages huge pages win (at
    /// 10^3 rows: ~250 small-page faults, ~0.4 ms, became two huge-page faults).
    pub fn expect(&self, bytes: usize) {
        if bytes >= HUGE_WORTH {
            self.with(|s| s.skip_small(bytes >= SMALL_HUGE_WORTH));
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
        let mid = base + (end - base) / 2 / HUGE * HUGE;
        // SAFETY: advice on ranges inside the mapping just made; failure only means no huge
        // pages (e.g. THP disabled), which is harmless. Never allocate here: this runs under
        // the allocator's own lock.
        unsafe {
            for (from, to) in [(base + SMALL, mid), (mid + SMALL, end)] {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
        (self.base, self.end, self.next, self.high) = (base, end, base, base);
        self.small_end = mid;
        self.large.init(mid, end);
    }

    /// Reserves the region if that has not been tried; false if it is unavailable.
    /// (The test is inline; only the first call, which reserves, pays for a call.)
    #[inline(always)]
    fn ready(&mut self) -> bool {
        self.base != 0 || self.reserve_once()
    }

    /// The first [`ready`](Self::ready): reserves the region unless that failed before.
    #[cold]
    #[inline(never)]
    fn reserve_once(&mut self) -> bool {
        if !self.failed {
            self.reserve();
        }
        self.base != 0
    }

    /// Bumps out a small block, or `None` (area full or unavailable).
    ///
    /// Why inline and a mask: every symbol string of a 10^5-row plan comes through here (two
    /// or three a row); the call to `ready` and the rounding up by a division
    /// (`checked_next_multiple_of` does not know that alignments are powers of two) were
    /// ~25 of the ~65 instructions an allocation took. `Layout` guarantees a power-of-two
    /// alignment, so `(next + align − 1) & !(align − 1)` is the same multiple.
    #[inline(always)]
    fn bump(&mut self, layout: Layout) -> Option<usize> {
        if !self.ready() {
            return None;
        }
        self.high = self.high.max(self.next);
        let mask = layout.align() - 1;
        let start = self.next.checked_add(mask)? & !mask;
        let stop = start.checked_add(layout.size())?;
        if stop > self.small_end {
            return None;
        }
        (self.next, self.last) = (stop, start);
        Some(start)
    }

    /// A block for `layout` from the area its size belongs to, with how many of its leading
    /// bytes may be dirty (handed out before).
    #[inline(always)]
    fn alloc(&mut self, layout: Layout) -> Option<(usize, usize)> {
        if layout.size() < LARGE {
            let p = self.bump(layout)?;
            return Some((p, layout.size().min(self.high.saturating_sub(p))));
        }
        self.alloc_large(layout)
    }

    /// [`alloc`](Self::alloc) of a large block (out of line: rare, and the small path stays
    /// short).
    #[inline(never)]
    fn alloc_large(&mut self, layout: Layout) -> Option<(usize, usize)> {
        if !self.ready() {
            return None;
        }
        let b = self.large.alloc(layout.size(), layout.align())?;
        Some((b.at, b.dirty))
    }

    /// Moves the large-block area (and with `small`, the small-block one) to its huge-page part
    /// if it is still in its small-page prefix. Skipped bytes were never handed out.
    fn skip_small(&mut self, small: bool) {
        if !self.ready() {
            return;
        }
        self.large.skip_to(self.large.start + SMALL);
        if small && self.next < self.base + SMALL {
            self.high = self.high.max(self.next);
            // The last allocation can no longer grow in place: it is not at the bump pointer.
            (self.next, self.last) = (self.base + SMALL, 0);
        }
    }

    /// True when `p` lies in the region (pointers the system allocator handed out never do).
    fn contains(&self, p: usize) -> bool {
        self.base != 0 && p >= self.base && p < self.end
    }

    /// Frees `p` of `size` bytes: a large block's span is kept for reuse; a small block's space
    /// only if it is the most recent allocation.
    fn free(&mut self, p: usize, size: usize) {
        if p >= self.small_end {
            self.large.free(p, size);
        } else if p == self.last {
            self.high = self.high.max(self.next);
            (self.next, self.last) = (self.last, 0);
        }
    }

    /// Grows or shrinks a block in place: the most recent small block within the small size
    /// class, or the topmost large block. False if it cannot.
    fn resize(&mut self, p: usize, size: usize, new_size: usize) -> bool {
        if p >= self.small_end {
            return self.large.resize_top(p, size, new_size);
        }
        match p.checked_add(new_size) {
            Some(stop) if p == self.last && p != 0 && stop <= self.small_end => {
                if new_size >= LARGE {
                    // Grown blocks of this size belong in the large area (where they can be
                    // reused); moving them once costs one copy.
                    return false;
                }
                self.high = self.high.max(self.next);
                self.next = stop;
                true
            }
            _ => false,
        }
    }
}

/// `System.alloc`, out of line: the fallback is rare, and inlined it made every allocation
/// save and restore registers for it.
///
/// # Safety
/// As `GlobalAlloc::alloc`.
#[cold]
#[inline(never)]
unsafe fn system_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: forwarded with the caller's layout.
    unsafe { System.alloc(layout) }
}

// SAFETY: every pointer returned is either from `System` or an aligned, in-bounds range of the
// region that no live allocation overlaps: the small area's bump pointer only moves back over
// its last allocation when that is freed or resized, and the large area hands out only spans
// nothing live occupies (`arena::large`, checked by its model test).
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.with(|s| s.alloc(layout).map(|(p, _)| p)) {
            Some(p) => p as *mut u8,
            // SAFETY: forwarded with the caller's layout.
            None => unsafe { system_alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.with(|s| s.alloc(layout)) {
            // Memory never handed out is still the kernel's zero pages: clearing only the
            // reused part saves touching fresh pages.
            Some((p, dirty)) => {
                // SAFETY: `p..p + size` is the block just handed out, and `dirty ≤ size`.
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
                s.free(p as usize, layout.size());
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
                .then(|| s.resize(p as usize, layout.size(), new_size))
        });
        match resized {
            // SAFETY: not ours, so `System` handed it out with this layout.
            None => return unsafe { System.realloc(p, layout, new_size) },
            Some(true) => return p,
            // Shrinking in place: the tail is simply not reused.
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
        let p2 = unsafe { a.realloc(p, l, 1000) };
        assert_eq!(p2, p, "the last small allocation grows in place");
        let other = unsafe { a.alloc(layout(8, 8)) };
        let p3 = unsafe { a.realloc(p2, layout(1000, 8), 2000) };
        assert_ne!(p3, p2, "not the last any more: it moves");
        assert_eq!(
            unsafe { std::slice::from_raw_parts(p3, 16) },
            b"0123456789abcdef"
        );
        assert!(p3 as usize > other as usize);
        // Large blocks: the topmost grows in place, small blocks in between do not matter.
        let big = unsafe { a.realloc(p3, layout(2000, 8), 8192) };
        let _small = unsafe { a.alloc(layout(8, 8)) };
        let big2 = unsafe { a.realloc(big, layout(8192, 8), 1 << 20) };
        assert_eq!(big2, big, "the topmost large block grows in place");
        assert_eq!(
            unsafe { std::slice::from_raw_parts(big2, 16) },
            b"0123456789abcdef"
        );
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
    fn expecting_much_moves_to_the_huge_page_parts_and_keeps_the_last_block_intact() {
        let a = Arena::new();
        let (small, big) = (layout(64, 8), layout(4096, 8));
        let p = unsafe { a.alloc(small) };
        unsafe { std::ptr::write_bytes(p, 0x5A, 64) };
        let (base, mid) = a.with(|s| (s.base, s.small_end));
        a.expect(HUGE_WORTH - 1);
        let b1 = unsafe { a.alloc(big) };
        assert_eq!(b1 as usize, mid, "a small hint changes nothing");
        a.expect(HUGE_WORTH);
        let b2 = unsafe { a.alloc_zeroed(big) };
        assert_eq!(
            b2 as usize,
            mid + SMALL,
            "large blocks move to a 2 MiB boundary"
        );
        assert!(
            unsafe { std::slice::from_raw_parts(b2, 4096) }
                .iter()
                .all(|&b| b == 0)
        );
        let q = unsafe { a.alloc(small) };
        assert!(
            (q as usize) < base + SMALL,
            "small blocks stay in small pages"
        );
        a.expect(SMALL_HUGE_WORTH);
        let r = unsafe { a.alloc(small) };
        assert_eq!(r as usize, base + SMALL, "until the hint is large enough");
        // `q` was the last small block before the move: growing it must copy, not overrun `r`.
        let q2 = unsafe { a.realloc(q, small, 128) };
        assert!(q2 as usize >= r as usize + 64);
        assert_eq!(unsafe { *p.add(63) }, 0x5A);
        a.expect(SMALL_HUGE_WORTH);
        let s = unsafe { a.alloc(small) };
        assert!(
            s as usize > q2 as usize,
            "a second hint does not move backwards"
        );
    }

    #[test]
    fn large_blocks_are_reused_after_a_free_and_zeroed_when_asked() {
        let a = Arena::new();
        let big = layout(100_000, 8);
        let p = unsafe { a.alloc(big) };
        unsafe { std::ptr::write_bytes(p, 0xEE, 100_000) };
        let _keep = unsafe { a.alloc(layout(8, 8)) };
        let other = unsafe { a.alloc(layout(5000, 8)) };
        unsafe { a.dealloc(p, big) };
        let q = unsafe { a.alloc_zeroed(layout(50_000, 16)) };
        assert_eq!(q, p, "the freed large block is reused");
        assert!(
            unsafe { std::slice::from_raw_parts(q, 50_000) }
                .iter()
                .all(|&b| b == 0)
        );
        // A small block growing past the small class moves to the large area with its bytes.
        let s = unsafe { a.alloc(layout(100, 8)) };
        unsafe { std::ptr::write_bytes(s, 0x11, 100) };
        let s2 = unsafe { a.realloc(s, layout(100, 8), 8000) };
        assert!(s2 as usize >= a.with(|st| st.small_end));
        assert!(
            unsafe { std::slice::from_raw_parts(s2, 100) }
                .iter()
                .all(|&b| b == 0x11)
        );
        assert!(s2 as usize >= q as usize + 50_000 || (s2 as usize) + 8000 <= q as usize);
        assert_ne!(s2, other);
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

    proptest::proptest! {
        /// Small blocks are packed: each starts at the first multiple of its alignment at or
        /// after the end of the one before (the rounding up by a mask is the rounding up by a
        /// division it replaced), and is writable.
        #[test]
        fn small_blocks_start_at_the_next_multiple_of_their_alignment(
            blocks in proptest::collection::vec((1usize..LARGE, 0u32..10), 1..60),
        ) {
            // One arena for every case: each reserves 4 GiB of address space, never returned.
            static A: Arena = Arena::new();
            let mut end = unsafe { A.alloc(layout(1, 1)) } as usize + 1;
            for (size, k) in blocks {
                let align = 1usize << k;
                let p = unsafe { A.alloc(layout(size, align)) };
                proptest::prop_assert_eq!(p as usize, end.next_multiple_of(align));
                unsafe { std::ptr::write_bytes(p, 0xC3, size) };
                end = p as usize + size;
            }
        }
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
