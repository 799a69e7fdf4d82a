//! Unit tests of the planner: the seeds' worked examples and hand-checked cases.
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;

fn h(sym: &str, value: Decimal, price: Decimal, pnl: Decimal) -> Holding {
    Holding {
        unrealized_pnl: pnl,
        market_value: Some(value),
        ..Holding::new(sym, value / price, price)
    }
}

/// The original README's ten ETFs (value, mark price, FIFO unrealized P&L).
pub(crate) fn readme_holdings() -> Vec<Holding> {
    vec![
        h("FTEC", dec!(15000.00), dec!(128.62), dec!(3343.9673)),
        h("VAW", dec!(10000.00), dec!(180.51), dec!(893.3955)),
        h("VCR", dec!(6798.48), dec!(279.68), dec!(1700.9984)),
        h("VDC", dec!(8000), dec!(192.75), dec!(-1192.065125)),
        h("VHT", dec!(12000.43), dec!(242.65), dec!(18.5908)),
        h("VIS", dec!(9000), dec!(203.87), dec!(-2382.175)),
        h("VNQ", dec!(9500), dec!(83.1), dec!(-1745.915301)),
        h("VOX", dec!(9500.14), dec!(105.39), dec!(-2075.3452)),
        h("VPU", dec!(13000.99), dec!(140.63), dec!(4933.423)),
        h("VSMAX", dec!(20100.44), dec!(94.73), dec!(802.809999)),
    ]
}

fn line<'a>(p: &'a Plan, sym: &str) -> &'a PlanLine {
    p.lines.iter().find(|l| l.symbol == sym).unwrap()
}

#[test]
fn readme_example_increment_matches_original() {
    let mut req = PlanRequest::new(readme_holdings(), dec!(5000));
    req.granularity = Granularity::Increment(2);
    let p = plan(&req).unwrap();
    // The original README: `pbal positions.csv -i 2 -c 5000`.
    let expect = [
        ("FTEC", 0, 0),
        ("VAW", 0, 0),
        ("VCR", 2800, 10),
        ("VDC", 1500, 8),
        ("VHT", 0, 0),
        ("VIS", 600, 3),
        ("VNQ", 100, 1),
        ("VOX", 0, 0),
        ("VPU", 0, 0),
        ("VSMAX", 0, 0),
    ];
    for (sym, val, shares) in expect {
        let l = line(&p, sym);
        assert_eq!(l.trade_value, Decimal::from(val), "{sym} value");
        assert_eq!(l.trade_shares, Decimal::from(shares), "{sym} shares");
    }
    assert_eq!(p.cash_used, dec!(5000));
    assert_eq!(p.trades.len(), 4);
}
