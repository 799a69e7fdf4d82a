//! Never-sell withdrawals in whole shares: the sale comes from the holding most over its
//! target, excess cash counts against the plan, and no sale is larger than needed.
use rust_decimal_macros::dec;

use super::*;

/// Six assets with equal (16.67 %) targets; OSGD is 56 % of the portfolio, YLY 7 %.
fn six() -> Vec<Holding> {
    vec![
        Holding::new("AAA", dec!(10), dec!(100)),
        Holding::new("BBB", dec!(9), dec!(100)),
        Holding::new("CCC", dec!(10), dec!(100)),
        Holding::new("DDD", dec!(8), dec!(100)),
        Holding::new("OSGD", dec!(56), dec!(100)),
        Holding::new("YLY", dec!(20), dec!(35)),
    ]
}

#[test]
fn small_withdrawal_sells_the_overweight_holding_not_the_underweight_one() {
    // One YLY share (35) frees the least cash, but YLY is far below its target; one OSGD
    // share (100) brings the portfolio closer to target even counting the 66.20 of excess
    // cash as deviation.
    let mut req = PlanRequest::new(six(), dec!(-33.80));
    req.granularity = Granularity::Shares;
    let p = plan(&req).unwrap();
    let sells: Vec<_> = p
        .trades
        .iter()
        .map(|t| (t.symbol.as_str(), t.side, t.shares))
        .collect();
    assert_eq!(sells, vec![("OSGD", Side::Sell, dec!(1))]);
    assert_eq!(p.cash_used, dec!(-100));
    assert!(p.proven_optimal);
}

#[test]
fn a_withdrawal_never_sells_more_than_it_needs() {
    // Selling many OSGD shares would bring OSGD closer to its target, but never-sell raises
    // only what is asked: 2 shares for 150.
    let mut req = PlanRequest::new(six(), dec!(-150));
    req.granularity = Granularity::Shares;
    let p = plan(&req).unwrap();
    assert_eq!(p.cash_used, dec!(-200));
    assert_eq!(p.trades.len(), 1);
    assert_eq!(
        (p.trades[0].symbol.as_str(), p.trades[0].shares),
        ("OSGD", dec!(2))
    );
}
