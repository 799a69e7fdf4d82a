//! A margin account's requirements, Reg T style: the account summary's margin figures and the
//! buying-power check on a new buy.
//!
//! Why: pbal's margin budget reads `excessliquidity` and `netliquidation` from the summary and
//! may plan buys beyond the cash balance. A simulator whose margin account reports excess
//! liquidity equal to its cash, and rejects any buy beyond it, could not show either. Here:
//! equity with loan value = cash (negative when borrowing) + positions = net liquidation;
//! initial margin 50 % and maintenance margin 25 % of the long positions (Reg T; IBKR's house
//! rates may be higher); available funds = equity − initial; excess liquidity = equity −
//! maintenance. A buy is rejected when available funds after it would be negative. A cash
//! account keeps its cash-only figures (`api/portfolio.rs`).
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::state::SimState;

/// Reg T initial margin on long stock.
const INITIAL: Decimal = dec!(0.50);
/// Reg T maintenance margin on long stock.
const MAINTENANCE: Decimal = dec!(0.25);

/// A margin account's summary figures, in the base currency.
pub(crate) struct Figures {
    pub equity_with_loan: Decimal,
    pub initial: Decimal,
    pub maintenance: Decimal,
    pub available_funds: Decimal,
    pub excess_liquidity: Decimal,
}

impl SimState {
    /// Long positions (stocks and funds) in the base currency.
    pub(crate) fn gross_position_value(&self) -> Decimal {
        self.holdings_value_base("STK") + self.holdings_value_base("FUND")
    }

    /// The margin figures of a margin account now.
    pub(crate) fn margin_figures(&self) -> Figures {
        let gross = self.gross_position_value();
        let equity_with_loan = self.net_liquidation();
        let initial = gross * INITIAL;
        let maintenance = gross * MAINTENANCE;
        Figures {
            equity_with_loan,
            initial,
            maintenance,
            available_funds: equity_with_loan - initial,
            excess_liquidity: equity_with_loan - maintenance,
        }
    }

    /// Whether a margin account can buy `value` (base currency) paying `fee`: the purchase
    /// keeps the equity (cash becomes stock) and adds initial margin on its value.
    pub(crate) fn margin_allows_buy(&self, value: Decimal, fee: Decimal) -> bool {
        self.margin_figures().available_funds - value * INITIAL - fee >= Decimal::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::account::AccountSpec;
    use crate::sim::config::{Behaviour, StartState};

    #[test]
    fn figures_follow_reg_t_and_a_loan_keeps_the_equity() {
        let mut s = SimState::new(
            &AccountSpec::default_ten_etf(),
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        );
        let nlv = s.net_liquidation();
        let gross = s.gross_position_value();
        let f = s.margin_figures();
        assert_eq!(f.excess_liquidity, nlv - gross * dec!(0.25));
        assert_eq!(f.available_funds, nlv - gross * dec!(0.5));
        // Borrow 10,000 into stock: equity unchanged, excess liquidity down by 2,500.
        s.cash -= dec!(10000);
        let conid = *s.holdings.keys().next().unwrap();
        let price = s.price(conid).unwrap();
        s.holdings.get_mut(&conid).unwrap().quantity += dec!(10000) / price;
        let g = s.margin_figures();
        assert_eq!(g.equity_with_loan.round_dp(6), nlv.round_dp(6));
        assert_eq!(
            g.excess_liquidity.round_dp(6),
            (f.excess_liquidity - dec!(2500)).round_dp(6)
        );
        assert!(s.margin_allows_buy(g.available_funds * dec!(2), Decimal::ZERO));
        assert!(!s.margin_allows_buy(g.available_funds * dec!(2) + dec!(1), Decimal::ZERO));
    }
}
