//! US netting of realised gains and the tax cost a budget is measured in.
//!
//! Short-term results net against short-term, long-term against long-term, then a net loss
//! on one side offsets a net gain on the other. The budget is spent in "weighted dollars":
//! a net short-term gain counts `st_weight` times (it is taxed at ordinary rates), a net
//! long-term gain once, and a net loss reduces the cost dollar for dollar.
use std::ops::{Add, AddAssign};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::lots::Term;

/// Realised gains (+) and losses (−) by holding period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realized {
    pub short_term: Decimal,
    pub long_term: Decimal,
}

impl Realized {
    pub fn new(short_term: Decimal, long_term: Decimal) -> Self {
        Realized {
            short_term,
            long_term,
        }
    }

    /// One lot's result, put in its bucket.
    pub fn of(term: Term, gain: Decimal) -> Self {
        match term {
            Term::Short => Realized::new(gain, Decimal::ZERO),
            Term::Long => Realized::new(Decimal::ZERO, gain),
        }
    }

    pub fn total(self) -> Decimal {
        self.short_term + self.long_term
    }

    /// After cross-netting: a net loss on one side reduces a net gain on the other, so at
    /// most one side stays non-zero unless both are gains or both are losses.
    pub fn netted(self) -> Realized {
        let (st, lt) = (self.short_term, self.long_term);
        let zero = Decimal::ZERO;
        if st < zero && lt > zero {
            let n = st + lt;
            if n >= zero {
                Realized::new(zero, n)
            } else {
                Realized::new(n, zero)
            }
        } else if lt < zero && st > zero {
            let n = st + lt;
            if n >= zero {
                Realized::new(n, zero)
            } else {
                Realized::new(zero, n)
            }
        } else {
            self
        }
    }

    /// Tax cost in weighted dollars: `st_weight · net ST gain + net LT gain + net losses`.
    pub fn cost(self, st_weight: Decimal) -> Decimal {
        let n = self.netted();
        let zero = Decimal::ZERO;
        st_weight * n.short_term.max(zero)
            + n.long_term.max(zero)
            + n.short_term.min(zero)
            + n.long_term.min(zero)
    }
}

impl Add for Realized {
    type Output = Realized;
    fn add(self, o: Realized) -> Realized {
        Realized::new(self.short_term + o.short_term, self.long_term + o.long_term)
    }
}

impl AddAssign for Realized {
    fn add_assign(&mut self, o: Realized) {
        *self = *self + o;
    }
}

/// The limits a run's realised results must respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Maximum cost of this run's sales alone; `None` = unlimited.
    pub per_run: Option<Decimal>,
    /// Maximum cost of the calendar year (year-to-date plus this run); `None` = unlimited.
    pub per_year: Option<Decimal>,
    pub ytd: Realized,
    pub st_weight: Decimal,
}

impl Budget {
    /// Whether this run's realised results `run` fit. The yearly limit never blocks a run
    /// that leaves the year's cost no higher than before it (so a loss sale is always allowed
    /// even when earlier gains already exceeded the year's budget).
    pub fn fits(&self, run: Realized) -> bool {
        let w = self.st_weight;
        let run_ok = self.per_run.is_none_or(|b| run.cost(w) <= b);
        let year_ok = self.per_year.is_none_or(|b| {
            let before = self.ytd.cost(w);
            (self.ytd + run).cost(w) <= b.max(before)
        });
        run_ok && year_ok
    }

    /// The tighter remaining budget after `run`, in weighted dollars; `None` when unlimited.
    pub fn left(&self, run: Realized) -> Option<Decimal> {
        let w = self.st_weight;
        let a = self.per_run.map(|b| b - run.cost(w));
        let c = self.per_year.map(|b| b - (self.ytd + run).cost(w));
        match (a, c) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        }
    }

    /// The tighter of the two limits as configured (for the report).
    pub fn limit(&self) -> Option<Decimal> {
        match (self.per_run, self.per_year) {
            (Some(a), Some(b)) => Some(a.min(b - self.ytd.cost(self.st_weight))),
            (a, b) => a.or(b.map(|b| b - self.ytd.cost(self.st_weight))),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn nets_like_the_us_rules() {
        let cases = [
            // (st, lt) → netted
            ((dec!(100), dec!(50)), (dec!(100), dec!(50))),
            ((dec!(-30), dec!(50)), (dec!(0), dec!(20))),
            ((dec!(-80), dec!(50)), (dec!(-30), dec!(0))),
            ((dec!(100), dec!(-30)), (dec!(70), dec!(0))),
            ((dec!(100), dec!(-130)), (dec!(0), dec!(-30))),
            ((dec!(-10), dec!(-20)), (dec!(-10), dec!(-20))),
        ];
        for ((st, lt), (nst, nlt)) in cases {
            assert_eq!(
                Realized::new(st, lt).netted(),
                Realized::new(nst, nlt),
                "{st} {lt}"
            );
        }
    }

    #[test]
    fn short_term_gains_cost_st_weight_times() {
        assert_eq!(Realized::new(dec!(100), dec!(50)).cost(dec!(2)), dec!(250));
        // 100 ST − 130 LT nets to a 30 LT loss: negative cost.
        assert_eq!(
            Realized::new(dec!(100), dec!(-130)).cost(dec!(2)),
            dec!(-30)
        );
        // −30 ST against 50 LT leaves 20 LT.
        assert_eq!(Realized::new(dec!(-30), dec!(50)).cost(dec!(2)), dec!(20));
    }

    #[test]
    fn the_yearly_budget_counts_year_to_date_and_never_blocks_a_loss() {
        let b = Budget {
            per_run: None,
            per_year: Some(dec!(1000)),
            ytd: Realized::new(dec!(0), dec!(900)),
            st_weight: dec!(2),
        };
        assert!(b.fits(Realized::new(dec!(0), dec!(100))));
        assert!(!b.fits(Realized::new(dec!(0), dec!(101))));
        assert!(!b.fits(Realized::new(dec!(51), dec!(0))));
        assert_eq!(b.left(Realized::new(dec!(50), dec!(0))), Some(dec!(0)));
        let over = Budget {
            ytd: Realized::new(dec!(0), dec!(2000)),
            ..b
        };
        assert!(over.fits(Realized::new(dec!(-10), dec!(0))));
        assert!(!over.fits(Realized::new(dec!(0), dec!(1))));
    }
}
