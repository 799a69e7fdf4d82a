//! The margin budget on literal accounts: what it borrows, the loan and cushion it reports, and
//! the refusal with its numbers.
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::margin::{self, MarginRequest, REG_T_MAINTENANCE_PCT};
use super::*;

/// A 50,000 / B 30,000 (both $100), equal targets: net liquidation 80,000 with no cash, and
/// IBKR's excess liquidity 80,000 − 25 % maintenance = 60,000.
fn account(cash: Decimal) -> PlanRequest {
    PlanRequest::new(
        vec![
            Holding::new("A", dec!(500), dec!(100)),
            Holding::new("B", dec!(300), dec!(100)),
        ],
        cash,
    )
}

fn margin(pct: Decimal, cushion: Decimal) -> MarginRequest {
    MarginRequest {
        max_margin_pct: pct,
        min_cushion_pct: cushion,
        net_liquidation: dec!(80000),
        excess_liquidity: Some(dec!(60000)),
        existing_loan: Decimal::ZERO,
        max_new_loan: None,
        maintenance_pct: REG_T_MAINTENANCE_PCT,
    }
}

fn trades(p: &Plan) -> Vec<(String, Side, Decimal)> {
    p.trades
        .iter()
        .map(|t| (t.symbol.clone(), t.side, t.shares))
        .collect()
}

#[test]
fn borrows_up_to_the_limit_and_reports_loan_and_cushion() {
    // 25 % of 80,000 = 20,000 of room: B is raised to the common target of 50,000.
    let p = margin::plan(&account(Decimal::ZERO), &margin(dec!(25), dec!(10))).unwrap();
    assert_eq!(trades(&p), vec![("B".into(), Side::Buy, dec!(200))]);
    assert_eq!(
        (p.cash, p.cash_used, p.cash_left),
        (dec!(0), dec!(20000), dec!(-20000))
    );
    let m = p.margin.as_ref().unwrap();
    assert_eq!(m.loan_limit, dec!(20000));
    assert_eq!(
        (m.loan_before, m.loan_new, m.loan_after),
        (dec!(0), dec!(20000), dec!(20000))
    );
    // 60,000 − 20,000 loan − 25 % of 20,000 bought = 35,000; 35,000 / 80,000 = 43.75 %.
    assert_eq!(m.excess_liquidity_after, dec!(35000));
    assert_eq!(m.cushion_pct_after, dec!(43.75));
}

#[test]
fn a_cushion_below_the_minimum_is_refused_with_the_numbers() {
    // The same loan, but the cushion must stay at 50 % (40,000): 35,000 is below it. A new
    // loan L keeps it when 60,000 − 1.25·L ≥ 40,000, i.e. L ≤ 16,000.
    let e = margin::plan(&account(Decimal::ZERO), &margin(dec!(25), dec!(50))).unwrap_err();
    assert!(matches!(e, PlanError::CushionTooLow(_)), "{e:?}");
    let msg = e.to_string();
    for needle in [
        "35000",
        "60000",
        "20000",
        "40000",
        "43.75",
        "16000",
        "max_margin_pct",
    ] {
        assert!(msg.contains(needle), "{needle} missing: {msg}");
    }
    // At 20 % (a 16,000 loan) the same cushion holds exactly.
    let p = margin::plan(&account(Decimal::ZERO), &margin(dec!(20), dec!(50))).unwrap();
    let m = p.margin.unwrap();
    assert_eq!(
        (m.loan_new, m.excess_liquidity_after),
        (dec!(16000), dec!(40000))
    );
}

#[test]
fn own_cash_is_spent_first_and_only_the_rest_is_a_loan() {
    // 5,000 own cash + 10,000 room (12.5 %): 150 B; the loan is what exceeds the own cash.
    let p = margin::plan(&account(dec!(5000)), &margin(dec!(12.5), dec!(10))).unwrap();
    assert_eq!(trades(&p), vec![("B".into(), Side::Buy, dec!(150))]);
    let m = p.margin.unwrap();
    assert_eq!(m.loan_new, dec!(10000));
    // 60,000 − 10,000 − 25 % · 15,000 = 46,250.
    assert_eq!(m.excess_liquidity_after, dec!(46250));
    assert_eq!(p.cash_left, dec!(-10000));
}

#[test]
fn an_existing_loan_counts_against_the_limit_and_a_cap_limits_the_new_loan() {
    let mut m = margin(dec!(25), dec!(10));
    m.existing_loan = dec!(15000);
    let p = margin::plan(&account(Decimal::ZERO), &m).unwrap();
    assert_eq!(trades(&p), vec![("B".into(), Side::Buy, dec!(50))]);
    let s = p.margin.unwrap();
    assert_eq!((s.loan_new, s.loan_after), (dec!(5000), dec!(20000)));

    m.existing_loan = dec!(25000);
    let p = margin::plan(&account(Decimal::ZERO), &m).unwrap();
    assert!(p.trades.is_empty(), "over the limit already: no new loan");

    let mut m = margin(dec!(25), dec!(10));
    m.max_new_loan = Some(dec!(3000));
    let p = margin::plan(&account(dec!(1000)), &m).unwrap();
    assert_eq!(trades(&p), vec![("B".into(), Side::Buy, dec!(40))]);
    assert_eq!(p.margin.unwrap().loan_new, dec!(3000));
}

#[test]
fn withdrawals_never_borrow() {
    let p = margin::plan(&account(dec!(-1000)), &margin(dec!(25), dec!(10))).unwrap();
    assert_eq!(trades(&p), vec![("A".into(), Side::Sell, dec!(10))]);
    let m = p.margin.unwrap();
    assert_eq!(
        (m.loan_new, m.excess_liquidity_after),
        (dec!(0), dec!(60000))
    );
}

#[test]
fn without_excess_liquidity_or_with_bad_numbers_it_fails_closed() {
    let mut m = margin(dec!(25), dec!(10));
    m.excess_liquidity = None;
    let e = margin::plan(&account(Decimal::ZERO), &m).unwrap_err();
    assert_eq!(e, PlanError::MarginUnknown);
    assert!(e.to_string().contains("excessliquidity"), "{e}");
    for bad in [
        MarginRequest {
            max_margin_pct: dec!(101),
            ..margin(dec!(25), dec!(10))
        },
        MarginRequest {
            net_liquidation: Decimal::ZERO,
            ..margin(dec!(25), dec!(10))
        },
        MarginRequest {
            existing_loan: dec!(-1),
            ..margin(dec!(25), dec!(10))
        },
    ] {
        let e = margin::plan(&account(Decimal::ZERO), &bad).unwrap_err();
        assert!(matches!(e, PlanError::InvalidMargin(_)), "{e:?}");
    }
}

#[test]
fn hard_rebalances_the_borrowed_total_and_the_cushion_counts_every_buy() {
    let mut req = account(Decimal::ZERO);
    req.strategy = Strategy::Hard;
    let p = margin::plan(&req, &margin(dec!(25), dec!(10))).unwrap();
    // Targets 50,000 each: nothing to sell from A, B buys 200.
    assert_eq!(trades(&p), vec![("B".into(), Side::Buy, dec!(200))]);
    let mut req = account(Decimal::ZERO);
    req.strategy = Strategy::Hard;
    req.holdings[0].quantity = dec!(700); // A 70,000, B 30,000: N = 100,000
    let mut m = margin(dec!(10), dec!(10));
    m.net_liquidation = dec!(100000);
    m.excess_liquidity = Some(dec!(75000));
    let p = margin::plan(&req, &m).unwrap();
    // Targets 55,000: sell 150 A, buy 250 B; the loan is 10,000, buys 25,000.
    assert_eq!(
        trades(&p),
        vec![
            ("A".into(), Side::Sell, dec!(150)),
            ("B".into(), Side::Buy, dec!(250))
        ]
    );
    let s = p.margin.unwrap();
    assert_eq!(s.loan_new, dec!(10000));
    assert_eq!(
        s.excess_liquidity_after,
        dec!(75000) - dec!(10000) - dec!(6250)
    );
}

#[test]
fn a_higher_maintenance_rate_is_honoured() {
    // The same 20,000 loan buying B: at a 75 % rate (a leveraged ETF) excess liquidity after
    // is 60,000 − 20,000 − 15,000 = 25,000 (31.25 %), so a 40 % cushion refuses what the Reg T
    // rate (35,000, 43.75 %) accepts.
    let m = MarginRequest {
        maintenance_pct: dec!(75),
        ..margin(dec!(25), dec!(40))
    };
    let e = margin::plan(&account(Decimal::ZERO), &m).unwrap_err();
    assert!(e.to_string().contains("25000"), "{e}");
    assert!(margin::plan(&account(Decimal::ZERO), &margin(dec!(25), dec!(40))).is_ok());
}
