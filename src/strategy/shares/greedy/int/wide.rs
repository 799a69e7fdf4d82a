//! The whole-share plan of a large input (more than `MAX_PROOF_INPUT` assets: no exact
//! search, so no proof) in one integer pass from the assets to the walk's columns.
//!
//! Why: at 10^5 rows the Decimal steps around the integer walk cost as much as the walk:
//! building one `Item` (six Decimals) per asset, its start `⌊x/P⌋` as a Decimal, the spend
//! `Σ n·P` through Decimal products, and the walk's [`Ctx::new`] decoding the items and starts
//! back into integers (hard whole shares: ~50 M instructions of the solver's ~117 M). Here
//! each asset is read once: its start, its share of the spend and its column come from the
//! same integers, and the Decimal quantities are only written.
//!
//! Why it is exact: every value is the one `shares::solve` computes for a large input, and
//! where this cannot show it, [`solve`] returns `None` before anything is written and the
//! Decimal path runs instead:
//! - the limits are those of `shares::items` with `large`: `lo` is `0` (buy only) or minus
//!   the sellable holding, required whole (then it is at scale 0, as `Item::clamp_int`
//!   requires); `hi` is `Decimal::MAX`, or `0` for a zero weight;
//! - the weight factor must be one for every asset (equal or zero weights: the usual
//!   inputs; another factor is a Decimal quotient, mostly at 28 digits, that the walk
//!   refuses anyway);
//! - the start is `Item::start`: zero for a zero `x`, else `fast::floor_div_int` (required
//!   to answer) clamped on integers, and the Decimal kept is the one it returns (the limit
//!   itself, a negative zero included, or the quotient at scale 0);
//! - the spend is `mantissa::sum` of `mantissa::mul(n, P)`: where every non-zero product
//!   fits its 64-bit path, they share one scale, their magnitudes add up below 2^96 and
//!   the total is not zero, that sum is the exact integer total at that scale; otherwise
//!   `mantissa::sum` itself runs on the Decimals;
//! - a start that overspends (the repair) is left to the Decimal path;
//! - the walk is [`run`] on the same columns [`Ctx::new`] builds, at common scales at
//!   least the natural ones, and under the same [`Ctx::bounded`] check, so it takes the
//!   same steps (the order of integers at any common scale is the order of the values);
//! - the write-back is [`commit`], with `Item::up` of a start at scale 0 (all are): `n + 1`.
use rust_decimal::Decimal;

use super::{Col, Ctx, End, IDX_BITS, Max, Pool, Source, at, commit, entry, primary, run};
use crate::strategy::Asset;
use crate::strategy::fast::{floor_div_int, floor_i128};
use crate::strategy::mantissa::{self, LIMIT};
use crate::strategy::shares::{Direction, same_repr, sellable};

/// The assets as the walk's [`Source`]: every start is at scale 0 and the walk steps only
/// below `hi`, so `Item::up` is `n + 1`.
struct Assets<'x, 'a>(&'x [Asset<'a>]);

impl Source for Assets<'_, '_> {
    fn rank(&self, i: usize) -> Decimal {
        self.0[i].pnl
    }
    fn price(&self, i: usize) -> Decimal {
        self.0[i].price
    }
    fn up(&self, _: usize, cur: Decimal) -> Option<Decimal> {
        Some(cur + Decimal::ONE)
    }
}

/// The common scales of the columns: money (prices, cash), deviations, P&L ranks (largest
/// and smallest), and the largest weight, as `shares::items` picks it.
struct Scales {
    sm: u32,
    sd: u32,
    sr: u32,
    sr_min: u32,
    max_w: Decimal,
}

fn scales(assets: &[Asset], d: &[Decimal], budget: Decimal) -> Scales {
    let (mut sm, mut sd, mut sr, mut sr_min) = (budget.scale(), 0, 0, u32::MAX);
    let mut max_w: Option<Decimal> = None;
    for (a, d) in assets.iter().zip(d) {
        sm = sm.max(a.price.scale());
        sd = sd.max(d.scale());
        sr = sr.max(a.pnl.scale());
        sr_min = sr_min.min(a.pnl.scale());
        let w = a.weight;
        // As `shares::items`: the last of equal maxima.
        max_w = Some(match max_w {
            Some(m) if same_repr(m, w) || w < m => m,
            _ => w,
        });
    }
    Scales {
        sm,
        sd: sd.max(sm),
        sr,
        sr_min,
        max_w: max_w.unwrap_or(Decimal::ONE),
    }
}

/// One asset's start: the integer and the Decimal `Item::start` returns.
#[inline]
fn start(
    a: &Asset,
    x: Decimal,
    dir: Direction,
    whole: bool,
    max_w: Decimal,
) -> Option<(i64, Decimal)> {
    let zero_w = a.weight.is_zero();
    // The weight factor of `shares::items` must be one.
    if !zero_w && !same_repr(a.weight, max_w) && a.weight != max_w {
        return None;
    }
    let lo = match dir {
        Direction::BuyOnly => 0,
        // `-sellable(q, whole)`, at scale 0 only if whole.
        _ if whole || a.quantity.scale() == 0 => -floor_i128(a.quantity),
        _ => return None,
    };
    let hi = if zero_w { 0 } else { i128::MAX };
    let lo_dec = || match dir {
        Direction::BuyOnly => Decimal::ZERO,
        _ => -sellable(a.quantity, whole),
    };
    let q = if x.is_zero() {
        0
    } else {
        floor_div_int(x, a.price)?
    };
    // `clamp` (of zero) and `clamp_int` (of the quotient) pick the same way here.
    let (cur, dec) = if q < lo {
        (lo, lo_dec())
    } else if q > hi {
        (hi, Decimal::ZERO)
    } else if x.is_zero() {
        (0, Decimal::ZERO)
    } else {
        (q, Decimal::from_i128_with_scale(q, 0))
    };
    // Quantities below 2^63, as the walk's `integral` requires.
    Some((i64::try_from(cur).ok()?, dec))
}

/// The sum of the spends `n·P` as integers at one scale (see the module docs).
#[derive(Default)]
struct Spent {
    total: i128,
    abs: u128,
    scale: Option<u32>,
    /// A product off the 64-bit path, or a second scale: take `mantissa::sum`.
    mixed: bool,
}

impl Spent {
    #[inline]
    fn add(&mut self, cur: i64, price: Decimal) {
        if cur == 0 {
            return;
        }
        let pm = price.mantissa().unsigned_abs();
        // `mantissa::mul`'s path: both factors below 2^64 (`|cur| < 2^63`), the product
        // below 2^96.
        if pm >> 64 != 0 || *self.scale.get_or_insert(price.scale()) != price.scale() {
            self.mixed = true;
            return;
        }
        let m = u128::from(cur.unsigned_abs()) * pm;
        if m >= LIMIT {
            self.mixed = true;
            return;
        }
        self.abs += m;
        self.total += if cur < 0 { -(m as i128) } else { m as i128 };
    }
    fn value(&self, n: &[Decimal], assets: &[Asset]) -> Decimal {
        match self.scale {
            Some(s) if !self.mixed && self.total != 0 && self.abs < LIMIT => {
                Decimal::from_i128_with_scale(self.total, s)
            }
            _ => mantissa::sum(
                n.iter()
                    .zip(assets)
                    .map(|(n, a)| mantissa::mul(*n, a.price)),
            ),
        }
    }
}

/// The quantities `shares::solve` returns for a large input with `dir` buying (`BuyOnly` or
/// `Both`), or `None` where the integers cannot show them (the caller then runs the Decimal
/// path). See the module docs.
pub(crate) fn solve(
    assets: &[Asset],
    d: &[Decimal],
    x: &[Decimal],
    budget: Decimal,
    dir: Direction,
    whole: bool,
) -> Option<Vec<Decimal>> {
    let sc = scales(assets, d, budget);
    if sc.sm + sc.sd > 28 || sc.sr > 28 || assets.len() >= 1 << IDX_BITS {
        return None;
    }
    let up = super::POW10_I[(sc.sd - sc.sm) as usize];
    let mut m = Max {
        min_p: u128::MAX,
        k: 1,
        ..Max::default()
    };
    let mut n = Vec::with_capacity(assets.len());
    let mut cols = Vec::with_capacity(assets.len());
    let mut entries = Vec::with_capacity(assets.len());
    let mut spent = Spent::default();
    for (i, ((a, &x), &d)) in assets.iter().zip(x).zip(d).enumerate() {
        let (cur, dec) = start(a, x, dir, whole, sc.max_w)?;
        spent.add(cur, a.price);
        let p = at(a.price, sc.sm)?;
        if p <= 0 {
            return None;
        }
        let d = at(d, sc.sd)?;
        if sc.sr_min != sc.sr {
            at(a.pnl, sc.sr)?;
        }
        m.p = m.p.max(p.unsigned_abs());
        m.min_p = m.min_p.min(p.unsigned_abs());
        m.d = m.d.max(d.unsigned_abs());
        m.q = m.q.max(u128::from(cur.unsigned_abs()));
        let hi = if a.weight.is_zero() { 0 } else { i64::MAX };
        let col = Col {
            p,
            d,
            k: 1,
            cur,
            hi,
        };
        // The first step's primary term, wrapping until `bounded` shows it exact.
        if hi > cur {
            let prim = primary(&col, cur, up);
            if prim <= 0 {
                entries.push(entry(prim, i));
            }
        }
        cols.push(col);
        n.push(dec);
    }
    let mut left = budget - spent.value(&n, assets);
    if left < Decimal::ZERO || left.scale() > sc.sm {
        return None;
    }
    let left_m = at(left, sc.sm)?;
    // The pool holds the affordable steps only (as `Ctx::new`'s).
    let mut pool = Pool {
        entries,
        max_cash: 0,
        cash: 0,
    };
    if m.p > left_m.unsigned_abs() {
        pool.entries.retain(|&e| cols[super::idx_of(e)].p <= left_m);
    }
    for &e in &pool.entries {
        let p = cols[super::idx_of(e)].p;
        pool.max_cash = pool.max_cash.max(p);
        pool.cash = pool.cash.saturating_add(p);
    }
    let src = Assets(assets);
    let c = Ctx {
        src: &src,
        cols,
        up,
        sr: sc.sr,
        sm: sc.sm,
        whole_starts: true,
    };
    c.bounded(&m, left_m)?;
    let (taken, end): (Vec<u32>, End) = run(&c, pool, left_m, None);
    commit(&src, &mut n, &mut left, &taken, end);
    Some(n)
}

#[cfg(test)]
mod tests;
