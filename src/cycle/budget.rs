//! What the buys of a run may spend, and trimming them to it.
//!
//! Why: the account's cash is not this run's money. A user who runs with `portfolio.cash = 0`
//! (buy only with what the sells raise) or keeps a reserve must never see a rejected or
//! cheaper-than-planned sell replaced by their reserve. So the buys are budgeted as
//!
//! `min(ledger cash, planned cash + proceeds actually realised by this run's sells − fees) − buffer`
//!
//! where the ledger cash is read after the sells (the smaller figure wins while the ledger
//! lags), the planned cash is what the plan was allowed to invest, and the proceeds come from
//! the executions the gateway reports for this run's sell cOIDs (net of their commissions).
//! Pure functions, so every case is a unit test.
use std::collections::BTreeSet;

use rust_decimal::{Decimal, RoundingStrategy};

use super::broker::{Execution, OrderType, Side};
use super::planning::Leg;
use crate::journal::OrderIntent;

/// IBKR's commission cap is 1 % of the trade value: a fill whose commission the gateway did
/// not report is charged that much, so proceeds are never overstated.
const FEE_CAP: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// The inputs of the buy budget, kept for the note the user sees when buys are trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyBudget {
    /// Cash in the ledger after the sells (settled cash in a cash account).
    pub ledger_cash: Decimal,
    /// What the plan was allowed to invest (`portfolio.cash` or the settled cash); negative
    /// for a withdrawal, which the buys may not spend.
    pub planned_cash: Decimal,
    /// Net proceeds of this run's sells, from their executions.
    pub realised_proceeds: Decimal,
    pub buffer: Decimal,
    /// The margin loan the plan was allowed to take (`MarginSummary::loan_room`: its buffer
    /// and limit headroom come off the loan), 0 without one.
    pub loan: Decimal,
    /// The loan already owed before the run: a negative ledger is that loan, not a shortfall.
    pub owed: Decimal,
}

impl BuyBudget {
    /// `min(ledger cash + loan owed, planned cash + realised proceeds) + approved loan −
    /// buffer`, never negative.
    pub fn available(&self) -> Decimal {
        ((self.ledger_cash + self.owed).min(self.planned_cash + self.realised_proceeds) + self.loan
            - self.buffer)
            .max(Decimal::ZERO)
    }

    /// One line for the run's notes.
    pub fn describe(&self) -> String {
        format!(
            "buy budget {} = min(ledger cash {}, planned cash {} + sell proceeds {}) - buffer {}",
            self.available().round_dp(2),
            self.ledger_cash.round_dp(2),
            self.planned_cash.round_dp(2),
            self.realised_proceeds.round_dp(2),
            self.buffer.round_dp(2)
        ) + &if self.loan.is_zero() {
            String::new()
        } else {
            format!(" + margin loan {}", self.loan.round_dp(2))
        }
    }
}

/// Net proceeds of the run's sells: executions of the sell intents' cOIDs (size × price −
/// commission). A sell intent the journal records as (partly) filled whose executions the
/// gateway no longer lists counts at its recorded fill less the 1 % fee cap.
pub fn realised_proceeds(sells: &[OrderIntent], executions: &[Execution]) -> Decimal {
    let coids: BTreeSet<&str> = sells
        .iter()
        .filter(|i| i.side == Side::Sell.as_str())
        .map(|i| i.coid.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    // The gateway may list an execution twice (two pages, a retried read): count each id once.
    let mut counted: BTreeSet<&str> = BTreeSet::new();
    let mut total = Decimal::ZERO;
    for e in executions {
        let Some(c) = e.coid.as_deref().filter(|c| coids.contains(c)) else {
            continue;
        };
        if e.side != Side::Sell || !counted.insert(e.execution_id.as_str()) {
            continue;
        }
        seen.insert(c.to_owned());
        let gross = e.size * e.price;
        total += gross - e.commission.unwrap_or(gross * FEE_CAP);
    }
    for i in sells.iter().filter(|i| !seen.contains(&i.coid)) {
        let filled: Option<Decimal> = i.filled_qty.as_deref().and_then(|q| q.parse().ok());
        let avg: Option<Decimal> = i.avg_price.as_deref().and_then(|p| p.parse().ok());
        if let (Some(q), Some(p)) = (filled, avg) {
            let gross = q * p;
            total += gross - gross * FEE_CAP;
        }
    }
    total.max(Decimal::ZERO)
}

/// What a buy leg may cost: quantity × limit price (market: × reference price). The buys'
/// own commissions are not estimated here (IBKR's tiers differ per account); they are paid
/// from `portfolio.buffer`, which the budget always keeps back.
pub fn cost(l: &Leg) -> Decimal {
    let price = match l.order_type {
        OrderType::Limit { price } => price,
        OrderType::Market => l.price,
    };
    l.quantity * price
}

/// Trims buys, one share at a time from the costliest, until they fit `available`.
/// Fractional legs shed their fraction first. Returns whether anything was trimmed.
pub fn trim(buys: &mut [Leg], available: Decimal) -> bool {
    let mut total: Decimal = buys.iter().map(cost).sum();
    let mut trimmed = false;
    while total > available {
        let Some(big) = buys
            .iter_mut()
            .filter(|l| l.quantity > Decimal::ZERO)
            .max_by_key(|l| cost(l))
        else {
            break;
        };
        let before = cost(big);
        let fraction = big.quantity.fract();
        let step = if fraction > Decimal::ZERO {
            fraction
        } else {
            big.quantity.min(Decimal::ONE)
        };
        big.quantity = (big.quantity - step).round_dp_with_strategy(6, RoundingStrategy::ToZero);
        total -= before - cost(big);
        trimmed = true;
    }
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::IntentState;
    use rust_decimal_macros::dec;

    fn leg(symbol: &str, qty: Decimal, price: Decimal) -> Leg {
        Leg {
            leg: 0,
            symbol: symbol.into(),
            conid: 1,
            sec_type: "STK".into(),
            side: Side::Buy,
            quantity: qty,
            price,
            order_type: OrderType::Limit { price },
            tif: "DAY".into(),
        }
    }

    fn sell_intent(coid: &str, filled: Option<&str>, avg: Option<&str>) -> OrderIntent {
        OrderIntent {
            coid: coid.into(),
            run_id: "r".into(),
            leg: 0,
            account_id: "DU1".into(),
            conid: 1,
            symbol: "A".into(),
            sec_type: "STK".into(),
            side: "SELL".into(),
            quantity: "10".into(),
            order_type: "MKT".into(),
            limit_price: None,
            tif: "DAY".into(),
            state: IntentState::Filled,
            gateway_order_id: Some("1".into()),
            filled_qty: filled.map(Into::into),
            avg_price: avg.map(Into::into),
            last_error: None,
        }
    }

    fn exec(
        coid: &str,
        side: Side,
        size: Decimal,
        price: Decimal,
        fee: Option<Decimal>,
    ) -> Execution {
        Execution {
            execution_id: format!("e-{coid}-{size}"),
            order_id: "1".into(),
            coid: Some(coid.into()),
            symbol: "A".into(),
            side,
            size,
            price,
            commission: fee,
            time: None,
        }
    }

    #[test]
    fn budget_is_the_smaller_of_ledger_and_plan_plus_proceeds_less_buffer() {
        let b = BuyBudget {
            ledger_cash: dec!(50000),
            planned_cash: dec!(0),
            realised_proceeds: dec!(0),
            buffer: dec!(100),
            loan: dec!(0),
            owed: dec!(0),
        };
        assert_eq!(
            b.available(),
            dec!(0),
            "cash = 0 and no sale: no buy may use the reserve"
        );
        let b = BuyBudget {
            realised_proceeds: dec!(1000),
            ..b
        };
        assert_eq!(b.available(), dec!(900));
        let b = BuyBudget {
            ledger_cash: dec!(700),
            ..b
        };
        assert_eq!(b.available(), dec!(600), "a lagging ledger caps the budget");
        assert!(b.describe().contains("buy budget 600"));
        // A margin loan adds to the budget; a loan owed already is not a lagging ledger.
        let b = BuyBudget {
            ledger_cash: dec!(-5000),
            planned_cash: dec!(0),
            realised_proceeds: dec!(0),
            loan: dec!(15000),
            owed: dec!(5000),
            ..b
        };
        assert_eq!(b.available(), dec!(14900));
        assert!(
            b.describe().contains("margin loan 15000"),
            "{}",
            b.describe()
        );
    }

    #[test]
    fn proceeds_come_from_the_run_sells_executions_net_of_fees() {
        let sells = vec![
            sell_intent("s1", Some("10"), Some("100")),
            sell_intent("s2", None, None),
        ];
        let execs = vec![
            exec("s1", Side::Sell, dec!(6), dec!(100), Some(dec!(1))),
            exec("s1", Side::Sell, dec!(4), dec!(100), Some(dec!(1))),
            exec("other", Side::Sell, dec!(100), dec!(100), Some(dec!(1))),
            exec("s2", Side::Buy, dec!(1), dec!(100), Some(dec!(1))),
        ];
        assert_eq!(realised_proceeds(&sells, &execs), dec!(998));
        // Executions forgotten by the gateway: the journal's fill less the 1 % cap.
        assert_eq!(realised_proceeds(&sells, &[]), dec!(990));
        // A rejected sell raises nothing.
        let rejected = vec![sell_intent("s3", None, None)];
        assert_eq!(realised_proceeds(&rejected, &execs), dec!(0));
    }

    #[test]
    fn an_execution_the_gateway_repeats_counts_once() {
        let sells = vec![sell_intent("s1", Some("6"), Some("100"))];
        let e = exec("s1", Side::Sell, dec!(6), dec!(100), Some(dec!(1)));
        assert_eq!(realised_proceeds(&sells, &[e.clone(), e]), dec!(599));
    }

    #[test]
    fn trimming_fits_the_budget_including_fees() {
        let mut buys = vec![leg("A", dec!(10), dec!(100)), leg("B", dec!(5), dec!(50))];
        assert!(!trim(&mut buys, dec!(1250)));
        assert!(trim(&mut buys, dec!(1100)));
        let total: Decimal = buys.iter().map(cost).sum();
        assert!(total <= dec!(1100), "{total}");
        assert_eq!(buys[0].quantity, dec!(8));
        let mut buys = vec![leg("A", dec!(2.5), dec!(100))];
        trim(&mut buys, dec!(220));
        assert_eq!(buys[0].quantity, dec!(2), "the fraction goes first");
        let mut buys = vec![leg("A", dec!(2.5), dec!(100))];
        trim(&mut buys, dec!(150));
        assert_eq!(buys[0].quantity, dec!(1));
        let mut buys = vec![leg("A", dec!(3), dec!(100))];
        trim(&mut buys, dec!(0));
        assert_eq!(buys[0].quantity, dec!(0));
    }
}
