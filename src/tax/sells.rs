//! Which sales fit the limits: lot books, wash-sale caps, and the greedy admission of sale
//! slices cheapest tax cost per dollar first.
//!
//! The admission is deterministic and explainable rather than globally optimal: each
//! symbol's sale is a sequence of slices (one per lot, plus a one-share slice where a lot
//! boundary falls inside a share); the cheapest next slice over all symbols is admitted while
//! the budget holds, and the first slice that does not fit is cut to the most whole shares
//! (or 0.0001 shares in `exact` granularity) that do. That symbol then stops, because IBKR
//! would consume its lots in the same order: a later, cheaper lot is unreachable.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::lots::{self, Lot, LotMethod, LotUse};
use super::netting::{Budget, Realized};

/// A symbol's lots in matching order, and how many shares this run already consumed.
#[derive(Debug, Clone)]
pub(crate) struct Book {
    pub price: Decimal,
    pub lots: Vec<Lot>,
    pub used: Decimal,
}

impl Book {
    pub fn new(
        price: Decimal,
        lots: Vec<Lot>,
        method: LotMethod,
        as_of: NaiveDate,
        st_weight: Decimal,
    ) -> Self {
        let order = lots::match_order(&lots, method, as_of, price, st_weight);
        let lots = order.into_iter().map(|i| lots[i].clone()).collect();
        Book {
            price,
            lots,
            used: Decimal::ZERO,
        }
    }

    pub fn position(&self) -> Decimal {
        self.lots.iter().map(|l| l.quantity).sum()
    }

    /// A lot bought in this run goes last (a conservative guess: the run's own buy is never
    /// what a sale in the same run consumes first, and its gain is ~0 anyway).
    pub fn push(&mut self, lot: Lot) {
        self.lots.push(lot);
    }

    /// The lot slices between positions `from` and `to` of the matching order.
    pub fn uses(&self, from: Decimal, to: Decimal, as_of: NaiveDate) -> Vec<LotUse> {
        let mut out = Vec::new();
        let mut c0 = Decimal::ZERO;
        for l in &self.lots {
            let c1 = c0 + l.quantity;
            let a = c0.max(from);
            let b = c1.min(to);
            if b > a {
                let q = b - a;
                out.push(LotUse {
                    open: l.open,
                    holding_start: l.holding_start,
                    term: l.term(as_of),
                    quantity: q,
                    cost_basis_price: l.cost_basis_price,
                    proceeds: q * self.price,
                    gain: q * l.gain_per_share(self.price),
                });
            }
            c0 = c1;
            if c0 >= to {
                break;
            }
        }
        out
    }

    pub fn realized(&self, from: Decimal, to: Decimal, as_of: NaiveDate) -> Realized {
        let mut r = Realized::default();
        for u in self.uses(from, to, as_of) {
            r += Realized::of(u.term, u.gain);
        }
        r
    }

    /// The position of the first loss lot at or after `from` (where a sale must stop when
    /// losses are forbidden), or the whole position.
    pub fn before_first_loss(&self, from: Decimal) -> Decimal {
        let mut c0 = Decimal::ZERO;
        for l in &self.lots {
            let c1 = c0 + l.quantity;
            if c1 > from && l.gain_per_share(self.price) < Decimal::ZERO {
                return c0.max(from);
            }
            c0 = c1;
        }
        c0
    }

    /// Slices of a sale from `start` to `end` (see module docs).
    fn slices(&self, start: Decimal, end: Decimal, whole: bool) -> Vec<(Decimal, Decimal)> {
        let mut pts = vec![start, end];
        let mut c = Decimal::ZERO;
        for l in &self.lots {
            c += l.quantity;
            if c > start && c < end {
                if whole && !c.fract().is_zero() {
                    pts.push(c.floor());
                    pts.push(c.ceil());
                } else {
                    pts.push(c);
                }
            }
        }
        pts.retain(|p| *p >= start && *p <= end);
        pts.sort();
        pts.dedup();
        pts.windows(2).map(|w| (w[0], w[1])).collect()
    }
}

/// One wanted sale: book index, first position (after harvests) and last allowed position.
pub(crate) struct Want {
    pub book: usize,
    pub start: Decimal,
    pub end: Decimal,
}

/// Admits sale slices within `budget`, starting from the run's realised `base` (harvests).
/// Returns, per want, the position reached, and the run's realised total.
pub(crate) fn admit(
    books: &[&Book],
    wants: &[Want],
    budget: &Budget,
    base: Realized,
    whole: bool,
    as_of: NaiveDate,
) -> (Vec<Decimal>, Realized) {
    let w = budget.st_weight;
    let slices: Vec<Vec<(Decimal, Decimal)>> = wants
        .iter()
        .map(|x| books[x.book].slices(x.start, x.end, whole))
        .collect();
    let key = |i: usize, k: usize| -> Decimal {
        let (a, b) = slices[i][k];
        let book = books[wants[i].book];
        let r = book.realized(a, b, as_of);
        (r.short_term * w + r.long_term) / ((b - a) * book.price)
    };
    let mut reached: Vec<Decimal> = wants.iter().map(|x| x.start).collect();
    let mut heap = BinaryHeap::new();
    for (i, sl) in slices.iter().enumerate() {
        if !sl.is_empty() {
            heap.push(Reverse((key(i, 0), i, 0usize)));
        }
    }
    let mut total = base;
    let unit = if whole {
        Decimal::ONE
    } else {
        Decimal::new(1, 4)
    };
    while let Some(Reverse((_, i, k))) = heap.pop() {
        let book = books[wants[i].book];
        let (a, b) = slices[i][k];
        let r = book.realized(a, b, as_of);
        if budget.fits(total + r) {
            total += r;
            reached[i] = b;
            if k + 1 < slices[i].len() {
                heap.push(Reverse((key(i, k + 1), i, k + 1)));
            }
            continue;
        }
        // The largest number of units from `a` that still fits (monotone within a slice:
        // one lot's gain or loss per share is constant; a boundary share is one unit).
        let n = ((b - a) / unit).floor();
        let (mut lo, mut hi) = (Decimal::ZERO, n);
        while lo < hi {
            let mid = ((lo + hi + Decimal::ONE) / Decimal::TWO).floor();
            let r = book.realized(a, a + mid * unit, as_of);
            if budget.fits(total + r) {
                lo = mid;
            } else {
                hi = mid - Decimal::ONE;
            }
        }
        let to = a + lo * unit;
        total += book.realized(a, to, as_of);
        reached[i] = to;
    }
    (reached, total)
}
