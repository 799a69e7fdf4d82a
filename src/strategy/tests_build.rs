//! The plan glue: validation's bounds on each holding's figures at and beyond 10^15 (checked
//! on the mantissa first), and the plan's cash figures against its own rows, in whole shares
//! with and without dropped small trades (the planner reuses the whole-share search's sum of
//! the spends as the cash used only where no trade is dropped afterwards).
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::tests::readme_holdings;
use super::*;

/// `cash_used` is the net of the rows' trade values and `cash_left` what remains of `cash`.
fn assert_cash_adds_up(p: &Plan) {
    let net: Decimal = p.lines.iter().map(|l| l.trade_value).sum();
    assert_eq!(p.cash_used, net);
    assert_eq!(p.cash_left, p.cash - p.cash_used);
    assert_eq!(p.total_after, p.total_before + p.cash_used);
}

#[test]
fn cash_used_is_the_rows_net_with_and_without_dropped_trades() {
    for strategy in [Strategy::NeverSell, Strategy::Hard] {
        for cash in [dec!(5000), dec!(-3000), dec!(0)] {
            let mut req = PlanRequest::new(readme_holdings(), cash);
            req.strategy = strategy;
            let whole = plan(&req).unwrap();
            assert_cash_adds_up(&whole);
            // A minimum just above the smallest trade drops it (and maybe more).
            let Some(smallest) = whole.trades.iter().map(|t| t.value).min() else {
                continue;
            };
            req.min_trade_value = smallest + dec!(0.01);
            let dropped = plan(&req).unwrap();
            assert!(
                dropped.trades.len() < whole.trades.len(),
                "{strategy} {cash}"
            );
            assert_cash_adds_up(&dropped);
        }
    }
}

#[test]
fn figures_beyond_ten_to_the_fifteen_are_refused_at_any_scale() {
    let e15 = dec!(1000000000000000);
    let cases = [
        // (price, quantity, P&L, market value, accepted)
        (e15, dec!(1), dec!(0), None, true),
        (dec!(1000000000000000.00), dec!(1), dec!(0), None, true),
        (e15 + dec!(1), dec!(0), dec!(0), None, false),
        (e15 + dec!(0.01), dec!(0), dec!(0), None, false),
        (dec!(1000000000000000.01), dec!(0), dec!(0), None, false),
        (dec!(1), e15 + dec!(1), dec!(0), None, false),
        (dec!(1), dec!(1), -e15, None, true),
        (dec!(1), dec!(1), -e15 - dec!(1), None, false),
        (dec!(1), dec!(1), dec!(0), Some(e15), true),
        (dec!(1), dec!(1), dec!(0), Some(e15 + dec!(0.1)), false),
        (dec!(10000000), dec!(100000000), dec!(0), None, true),
        (dec!(10000000), dec!(100000001), dec!(0), None, false),
    ];
    for (price, quantity, pnl, value, accepted) in cases {
        let h = Holding {
            unrealized_pnl: pnl,
            market_value: value,
            ..Holding::new("A", quantity, price)
        };
        let got = plan(&PlanRequest::new(vec![h], dec!(0)));
        match got {
            Ok(_) => assert!(accepted, "{price} {quantity} {pnl} {value:?} accepted"),
            Err(PlanError::Overflow(_)) => {
                assert!(!accepted, "{price} {quantity} {pnl} {value:?} refused")
            }
            Err(e) => panic!("{price} {quantity} {pnl} {value:?}: {e}"),
        }
    }
}
