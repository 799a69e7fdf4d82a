//! `min-trades`: literal portfolios and brute-force equality on small cases.
use proptest::prelude::{ProptestConfig, prop, prop_assert, prop_assert_eq, proptest};
use rust_decimal_macros::dec;

use super::*;

fn req(values: [i64; 4], cash: Decimal, band: Decimal, m: Minimise) -> PlanRequest {
    let holdings = ["AAA", "BBB", "CCC", "DDD"]
        .iter()
        .zip(values)
        .map(|(s, v)| Holding::new(*s, Decimal::from(v) / dec!(10), dec!(10)))
        .collect();
    let mut r = PlanRequest::new(holdings, cash);
    r.strategy = Strategy::MinTrades;
    r.bands = Bands {
        abs_pct: band,
        ..Bands::default()
    };
    r.minimise = m;
    r
}

fn shares(p: &Plan) -> Vec<Decimal> {
    p.lines.iter().map(|l| l.trade_shares).collect()
}

#[test]
fn each_asset_moves_only_to_its_band_edge() {
    // Targets 2500 ± 200.
    let p = plan(&req(
        [3500, 2000, 2250, 2250],
        dec!(0),
        dec!(2),
        Minimise::Shares,
    ))
    .unwrap();
    assert_eq!(shares(&p), vec![dec!(-80), dec!(30), dec!(5), dec!(5)]);
    assert!(p.proven_optimal);
}

#[test]
fn a_withdrawal_sells_more_of_what_is_already_selling() {
    // V + c = 9000: targets 2250 ± 450. AAA must sell 80; 20 more raise the 1000.
    for m in [Minimise::Shares, Minimise::Orders] {
        let p = plan(&req([3500, 2000, 2250, 2250], dec!(-1000), dec!(5), m)).unwrap();
        assert_eq!(
            shares(&p),
            vec![dec!(-100), dec!(0), dec!(0), dec!(0)],
            "{m:?}"
        );
        assert!(p.cash_used <= dec!(-1000));
    }
}

#[test]
fn refusals_name_the_tightest_asset() {
    // BBB's one share (3000) cannot land within 2000 ± 40.
    let mut r = PlanRequest::new(
        vec![
            Holding::new("AAA", dec!(10), dec!(100)),
            Holding::new("BBB", dec!(1), dec!(3000)),
        ],
        dec!(0),
    );
    r.strategy = Strategy::MinTrades;
    r.bands.abs_pct = dec!(1);
    match plan(&r) {
        Err(PlanError::BandsUnreachable { symbol, .. }) => assert_eq!(symbol, "BBB"),
        other => panic!("{other:?}"),
    }
    // Withdrawing 9990 leaves targets of 2.50 ± 0.10: no whole $10 share lands there.
    let err = plan(&req(
        [1000, 3000, 3000, 3000],
        dec!(-9990),
        dec!(1),
        Minimise::Shares,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("band"), "{err}");
    let mut r = req([2500, 2500, 2500, 2500], dec!(0), dec!(0), Minimise::Shares);
    r.bands = Bands::default();
    assert_eq!(plan(&r).unwrap_err(), PlanError::MinTradesNeedsBands);
}

/// Brute force over every whole-share plan within ±`span` shares: the fewest shares (or
/// orders) such that every weight is within its band against `V + B` and the budget holds.
fn brute(r: &PlanRequest) -> Option<Decimal> {
    let m = r.holdings.len();
    let total: Decimal = r.holdings.iter().map(Holding::value).sum::<Decimal>() + r.cash;
    let t = total / Decimal::from(m as u64);
    let h = bands::half_width(&r.bands, Decimal::ONE / Decimal::from(m as u64)) * total;
    let choices: Vec<Vec<Decimal>> = r
        .holdings
        .iter()
        .map(|x| {
            let hi = (total.max(Decimal::ZERO) / x.price).ceil();
            let mut v = Vec::new();
            let mut n = -x.quantity.floor();
            while n <= hi {
                if (x.value() + n * x.price - t).abs() <= h {
                    v.push(n);
                }
                n += Decimal::ONE;
            }
            v
        })
        .collect();
    let mut best: Option<Decimal> = None;
    let mut idx = vec![0usize; m];
    if choices.iter().any(Vec::is_empty) {
        return None;
    }
    loop {
        let n: Vec<Decimal> = idx.iter().zip(&choices).map(|(i, c)| c[*i]).collect();
        let spend: Decimal = n.iter().zip(&r.holdings).map(|(n, x)| *n * x.price).sum();
        if spend <= r.cash {
            let cost = match r.minimise {
                Minimise::Shares => n.iter().map(|q| q.abs()).sum(),
                Minimise::Orders => Decimal::from(n.iter().filter(|q| !q.is_zero()).count() as u64),
            };
            if best.is_none_or(|b| cost < b) {
                best = Some(cost);
            }
        }
        let mut k = 0;
        loop {
            if k == m {
                return best;
            }
            idx[k] += 1;
            if idx[k] < choices[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn min_trades_matches_brute_force(
        qs in prop::collection::vec(0i64..12, 2..4),
        prices in prop::collection::vec(500i64..3000, 4),
        cash in -150i64..200,
        band in 1u32..25,
        orders in prop::bool::ANY,
    ) {
        let holdings: Vec<Holding> = qs.iter().enumerate().map(|(i, q)| {
            Holding::new(format!("S{i}"), Decimal::from(*q), Decimal::new(prices[i], 2))
        }).collect();
        let mut r = PlanRequest::new(holdings, Decimal::from(cash));
        r.strategy = Strategy::MinTrades;
        r.bands = Bands { abs_pct: Decimal::from(band), ..Bands::default() };
        r.minimise = if orders { Minimise::Orders } else { Minimise::Shares };
        let want = brute(&r);
        match plan(&r) {
            Ok(p) => {
                let Some(want) = want else {
                    return Err(proptest::test_runner::TestCaseError::fail("brute force found no plan"));
                };
                let got = match r.minimise {
                    Minimise::Shares => p.lines.iter().map(|l| l.trade_shares.abs()).sum(),
                    Minimise::Orders => Decimal::from(p.trades.len() as u64),
                };
                prop_assert!(p.proven_optimal);
                prop_assert_eq!(got, want);
                // Bands and the budget hold; no sale exceeds a holding.
                prop_assert!(p.cash_used <= r.cash);
                let total = p.total_before + r.cash;
                let m = Decimal::from(p.lines.len() as u64);
                let h = bands::half_width(&r.bands, Decimal::ONE / m) * total;
                for l in &p.lines {
                    prop_assert!((l.value_after - l.target_value).abs() <= h, "{}", l.symbol);
                    prop_assert!(-l.trade_shares <= l.quantity_before);
                    prop_assert!(l.trade_shares.fract().is_zero());
                }
            }
            Err(PlanError::BandsUnreachable { .. }) | Err(PlanError::WithdrawalExceedsPortfolio { .. }) => {
                prop_assert!(want.is_none(), "refused but brute force found {:?}", want);
            }
            Err(e) => return Err(proptest::test_runner::TestCaseError::fail(e.to_string())),
        }
    }
}

/// Found by review: a band so wide that its edges leave `Decimal` (`--band-abs-pct
/// 7922816251426433759354395033`) panicked ("Subtraction overflowed") and aborted the
/// process. It is refused with the numbers instead.
#[test]
fn a_band_beyond_decimal_is_refused_not_a_panic() {
    let r = req(
        [3500, 2000, 2250, 2250],
        dec!(0),
        dec!(7922816251426433759354395033),
        Minimise::Shares,
    );
    let e = std::panic::catch_unwind(|| plan(&r))
        .expect("no panic")
        .unwrap_err();
    assert!(matches!(e, PlanError::Overflow(_)), "{e}");
    assert!(e.to_string().contains("AAA"), "{e}");
}
