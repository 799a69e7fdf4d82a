//! The walk's shortcut when the order of its steps cannot matter ([`every_first_step`]).
use super::{Ctx, Pool, Source, idx_of, primary};

/// The walk's steps when it takes every first step and nothing else, in the pool's order:
/// - the pool's cash is below the cash left, so every first step stays affordable in any
///   order (and cash is left at the end);
/// - no pooled asset's second step lowers the cost (`Ctx::prim` of `cur + 1` fails on `hi`
///   or on the primary term, whatever the cash), so the heap stays empty and the walk ends
///   with the pool;
/// - every start is at scale 0 (`Ctx::whole_starts`), so with cash left [`super::commit`] takes
///   its integer path, where each asset steps once and the order changes nothing.
///
/// Then the order of the steps decides nothing, and sorting the pool and its ties is saved
/// (hard rebalances at 10^5 rows: ~50,000 entries, ~20 M instructions).
pub(super) fn every_first_step<S: Source + ?Sized>(
    c: &Ctx<'_, S>,
    pool: &Pool,
    left: i128,
) -> Option<Vec<u32>> {
    if !c.whole_starts || pool.cash >= left {
        return None;
    }
    let mut taken = Vec::with_capacity(pool.entries.len());
    for &e in &pool.entries {
        let i = idx_of(e);
        let col = &c.cols[i];
        // Below 2^62 (`Ctx::bounded`), and so is the primary term there.
        let next = col.cur + 1;
        if col.hi > next && primary(col, next, c.up) <= 0 {
            return None;
        }
        taken.push(i as u32);
    }
    Some(taken)
}
