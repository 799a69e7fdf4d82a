//! The arena's area for large blocks (≥ [`super::LARGE`] bytes): a bump pointer plus a short
//! list of freed spans that later large blocks reuse.
//!
//! Why reuse here and nowhere else: at 10^5 rows the plan's large vectors (holdings, assets,
//! the whole-share search's items and steps, the CSV text) are allocated and freed in phases,
//! and a pure bump allocator handed out ~85–115 MB for a peak of ~67 MB live. Every fresh page
//! costs the kernel's zeroing (the largest single kernel cost of a run), so freed large blocks
//! are worth reusing; the many small blocks (symbols, strings) are not, and keeping them out of
//! this area is also what lets a growing vector stay at the top and grow in place.
//!
//! Blocks start and end on [`GRAIN`]-byte boundaries, so neighbours tile exactly and freed
//! neighbours merge into one span. The list is a fixed array (the allocator must not allocate):
//! when it is full a freed span is simply not remembered, which wastes memory but is never
//! unsafe.

/// Alignment and size granularity of large blocks.
pub(super) const GRAIN: usize = 64;
/// Freed spans remembered at most.
const SLOTS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Span {
    start: usize,
    end: usize,
}

/// The large-block area `[start, end)`.
pub(super) struct Large {
    pub(super) start: usize,
    pub(super) end: usize,
    /// Next never-used byte.
    pub(super) next: usize,
    /// Everything at or above this address has never been handed out (still zero).
    high: usize,
    free: [Span; SLOTS],
    nfree: usize,
}

/// A block handed out: its address and how many of its leading bytes may be dirty (were
/// handed out before), which `alloc_zeroed` must clear.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Block {
    pub(super) at: usize,
    pub(super) dirty: usize,
}

/// Bytes a block of `size` occupies.
fn span_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(GRAIN)
}

impl Large {
    pub(super) const fn empty() -> Self {
        Large {
            start: 0,
            end: 0,
            next: 0,
            high: 0,
            free: [Span { start: 0, end: 0 }; SLOTS],
            nfree: 0,
        }
    }

    pub(super) fn init(&mut self, start: usize, end: usize) {
        (self.start, self.end, self.next, self.high) = (start, end, start, start);
    }

    /// Moves the bump pointer forward to `to` (never back); the skipped bytes stay unused.
    pub(super) fn skip_to(&mut self, to: usize) {
        if self.next < to && to <= self.end {
            self.next = to;
            self.high = self.high.max(to);
        }
    }

    /// A block of `size` bytes aligned to `align`: the first freed span it fits in, else the
    /// bump pointer. `None` when the area is full.
    pub(super) fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let align = align.max(GRAIN);
        let len = span_len(size)?;
        for i in 0..self.nfree {
            let s = self.free[i];
            let Some(at) = s.start.checked_next_multiple_of(align) else {
                continue;
            };
            if at.checked_add(len).is_some_and(|stop| stop <= s.end) {
                self.remove(i);
                self.remember(Span {
                    start: s.start,
                    end: at,
                });
                self.remember(Span {
                    start: at + len,
                    end: s.end,
                });
                return Some(Block { at, dirty: size });
            }
        }
        let at = self.next.checked_next_multiple_of(align)?;
        let stop = at.checked_add(len)?;
        if stop > self.end {
            return None;
        }
        // An alignment gap (only for alignments above GRAIN) stays reusable.
        self.remember(Span {
            start: self.next,
            end: at,
        });
        self.next = stop;
        let dirty = self.high.saturating_sub(at).min(size);
        self.high = self.high.max(stop);
        Some(Block { at, dirty })
    }

    /// Frees the block at `at` of `size` bytes, merging it with freed neighbours; a span that
    /// reaches the bump pointer gives its bytes back to it.
    pub(super) fn free(&mut self, at: usize, size: usize) {
        let Some(stop) = span_len(size).and_then(|len| at.checked_add(len)) else {
            return;
        };
        let mut span = Span {
            start: at,
            end: stop,
        };
        while let Some(i) = (0..self.nfree)
            .find(|&i| self.free[i].end == span.start || self.free[i].start == span.end)
        {
            let n = self.free[i];
            span = Span {
                start: span.start.min(n.start),
                end: span.end.max(n.end),
            };
            self.remove(i);
        }
        if span.end == self.next {
            self.next = span.start;
        } else {
            self.remember(span);
        }
    }

    /// Grows or shrinks the block at `at` in place when it is the topmost one (the usual
    /// growing vector); false otherwise.
    pub(super) fn resize_top(&mut self, at: usize, size: usize, new_size: usize) -> bool {
        let (Some(len), Some(new_len)) = (span_len(size), span_len(new_size)) else {
            return false;
        };
        if at.checked_add(len) != Some(self.next) {
            return false;
        }
        match at.checked_add(new_len) {
            Some(stop) if stop <= self.end => {
                self.next = stop;
                self.high = self.high.max(stop);
                true
            }
            _ => false,
        }
    }

    /// Keeps `s` for reuse if it is not empty and a slot is free.
    fn remember(&mut self, s: Span) {
        if s.start < s.end && self.nfree < SLOTS {
            self.free[self.nfree] = s;
            self.nfree += 1;
        }
    }

    fn remove(&mut self, i: usize) {
        self.nfree -= 1;
        self.free[i] = self.free[self.nfree];
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const START: usize = 1 << 20;

    fn area(size: usize) -> Large {
        let mut l = Large::empty();
        l.init(START, START + size);
        l
    }

    #[test]
    fn a_freed_block_is_reused_and_reported_dirty() {
        let mut l = area(1 << 20);
        let a = l.alloc(10_000, 8).unwrap();
        assert_eq!(
            a,
            Block {
                at: START,
                dirty: 0
            },
            "fresh memory is clean"
        );
        let b = l.alloc(10_000, 8).unwrap();
        l.free(a.at, 10_000);
        let c = l.alloc(4_096, 8).unwrap();
        assert_eq!(c.at, a.at, "the freed span is reused");
        assert_eq!(c.dirty, 4_096);
        // The rest of the freed span is still there for another block.
        let d = l.alloc(4_096, 8).unwrap();
        assert_eq!(d.at, a.at + 4_096);
        assert!(d.at + 4_096 <= b.at);
    }

    #[test]
    fn freeing_down_to_the_top_gives_memory_back_to_the_bump_pointer() {
        let mut l = area(1 << 20);
        let a = l.alloc(5_000, 8).unwrap();
        let b = l.alloc(5_000, 8).unwrap();
        let c = l.alloc(5_000, 8).unwrap();
        l.free(b.at, 5_000);
        assert_eq!(l.nfree, 1);
        l.free(c.at, 5_000);
        assert_eq!((l.nfree, l.next), (0, b.at), "b and c merged into the top");
        l.free(a.at, 5_000);
        assert_eq!(l.next, START);
        let d = l.alloc(12_000, 8).unwrap();
        assert_eq!(d.at, START);
        assert_eq!(
            d.dirty, 12_000,
            "reused memory below the high mark is dirty"
        );
        let e = l.alloc(64_000, 8).unwrap();
        assert_eq!(
            e.dirty,
            c.at + 5_056 - e.at,
            "only the part below the high mark"
        );
    }

    #[test]
    fn the_top_block_grows_in_place_and_others_do_not() {
        let mut l = area(1 << 20);
        let a = l.alloc(4_096, 8).unwrap();
        assert!(l.resize_top(a.at, 4_096, 8_192));
        let b = l.alloc(4_096, 8).unwrap();
        assert!(!l.resize_top(a.at, 8_192, 16_384), "a is no longer the top");
        assert!(l.resize_top(b.at, 4_096, 100));
        assert!(
            !l.resize_top(b.at, 100, 2 << 20),
            "past the end of the area"
        );
    }

    #[test]
    fn alignment_and_full_area_are_respected() {
        let mut l = area(64 * 1024);
        let a = l.alloc(4_100, 4_096).unwrap();
        assert_eq!(a.at % 4_096, 0);
        assert!(l.alloc(1 << 20, 8).is_none());
        let b = l.alloc(8_000, 8).unwrap();
        assert!(b.at >= a.at + 4_100);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize, u32),
        Free(usize),
        Grow(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..40_000, 0u32..8).prop_map(|(s, a)| Op::Alloc(s, a)),
            any::<usize>().prop_map(Op::Free),
            (any::<usize>(), 1usize..60_000).prop_map(|(i, s)| Op::Grow(i, s)),
        ]
    }

    proptest! {
        /// Model check: live blocks never overlap, stay aligned and inside the area, and the
        /// memory a block reports clean was never handed out before.
        #[test]
        fn live_blocks_never_overlap(ops in proptest::collection::vec(op(), 1..200)) {
            let mut l = area(8 << 20);
            let mut live: Vec<(usize, usize)> = Vec::new();
            let mut ever: Vec<(usize, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc(size, a) => {
                        let align = 1usize << a.min(12);
                        let Some(b) = l.alloc(size, align) else { continue };
                        prop_assert_eq!(b.at % align, 0);
                        prop_assert!(b.at >= l.start && b.at + size <= l.end);
                        for &(p, n) in &live {
                            prop_assert!(b.at >= p + n || b.at + size <= p, "overlap");
                        }
                        for &(p, n) in &ever {
                            let overlap = b.at < p + n && p < b.at + size;
                            prop_assert!(!overlap || (p + n).min(b.at + size) <= b.at + b.dirty,
                                "dirty bytes reported clean");
                        }
                        live.push((b.at, size));
                        ever.push((b.at, size));
                    }
                    Op::Free(i) if !live.is_empty() => {
                        let (p, n) = live.swap_remove(i % live.len());
                        l.free(p, n);
                    }
                    Op::Grow(i, new) if !live.is_empty() => {
                        let k = i % live.len();
                        let (p, n) = live[k];
                        if l.resize_top(p, n, new) {
                            for (j, &(q, m)) in live.iter().enumerate() {
                                prop_assert!(j == k || p >= q + m || p + new <= q, "grew over");
                            }
                            live[k] = (p, new);
                            ever.push((p, new));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
