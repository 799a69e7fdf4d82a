//! `shares` granularity trades whole shares only; a fractional remainder is sold only in
//! `exact` mode or, with `sell_fractional_remainders`, by closing the position (noted).
use rust_decimal_macros::dec;

use super::*;

fn two() -> Vec<Holding> {
    vec![
        Holding::new("BAR", dec!(10), dec!(10)),
        Holding::new("FOO", dec!(10.5), dec!(10)),
    ]
}

fn withdraw(cash: Decimal, fractional: bool) -> Result<Plan, PlanError> {
    let mut req = PlanRequest::new(two(), cash);
    req.sell_fractional_remainders = fractional;
    plan(&req)
}

#[test]
fn a_withdrawal_in_whole_shares_sells_whole_shares() {
    let p = withdraw(dec!(-200), false).unwrap();
    assert!(
        p.trades.iter().all(|t| t.shares.fract().is_zero()),
        "{:?}",
        p.trades
    );
    assert_eq!(p.cash_used, dec!(-200));
}

#[test]
fn a_withdrawal_whole_shares_cannot_meet_is_refused_with_the_numbers() {
    let err = withdraw(dec!(-204), false).unwrap_err();
    assert_eq!(
        err,
        PlanError::WholeSharesCannotRaise {
            needed: dec!(204),
            max: dec!(200)
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("204") && msg.contains("200"), "{msg}");
    assert!(msg.contains("--granularity exact"), "{msg}");
    assert!(msg.contains("sell_fractional_remainders"), "{msg}");
}

#[test]
fn fractional_remainders_are_closed_entirely_when_allowed_and_noted() {
    let p = withdraw(dec!(-204), true).unwrap();
    let foo = p.trades.iter().find(|t| t.symbol == "FOO").unwrap();
    assert_eq!(foo.shares, dec!(10.5));
    assert!(p.cash_used <= dec!(-204));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("FOO") && n.contains("fractional"))
    );
}

#[test]
fn hard_keeps_an_untargeted_fractional_remainder_in_whole_shares() {
    let mut req = PlanRequest::new(two(), dec!(0));
    req.holdings.push(Holding::new("OLD", dec!(2.5), dec!(10)));
    req.strategy = Strategy::Hard;
    req.targets = Targets::Weights([("FOO".into(), dec!(1)), ("BAR".into(), dec!(1))].into());
    let p = plan(&req).unwrap();
    let old = p.lines.iter().find(|l| l.symbol == "OLD").unwrap();
    assert_eq!(old.trade_shares, dec!(-2));
    assert!(p.lines.iter().all(|l| l.trade_shares.fract().is_zero()));
    assert!(p.cash_used <= Decimal::ZERO);

    req.sell_fractional_remainders = true;
    let p = plan(&req).unwrap();
    let old = p.lines.iter().find(|l| l.symbol == "OLD").unwrap();
    assert_eq!(old.trade_shares, dec!(-2.5));
}

#[test]
fn a_hard_withdrawal_whole_shares_cannot_meet_is_refused() {
    let mut req = PlanRequest::new(two(), dec!(-204));
    req.strategy = Strategy::Hard;
    assert!(matches!(
        plan(&req),
        Err(PlanError::WholeSharesCannotRaise { .. })
    ));
    // Exact mode may sell the fraction.
    req.granularity = Granularity::Exact;
    assert_eq!(plan(&req).unwrap().cash_used, dec!(-204));
}
