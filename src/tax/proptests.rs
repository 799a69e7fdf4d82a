//! Property tests: with no limits tax-aware is `hard`; with budget 0 nothing nets a gain;
//! every sale consumes exactly the lots the method predicts; no wash-sale violation.
use chrono::{Days, NaiveDate};
use proptest::prelude::{ProptestConfig, prop, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy as _;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::lots::{consume, match_order};
use super::tests::assert_no_wash_violation;
use super::*;
use crate::strategy::{self, Granularity, Holding, PlanRequest, Strategy};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
}

/// Lots of one symbol: (shares, basis in cents, days held ≥ 31 so no wash window applies).
fn lots() -> impl proptest::strategy::Strategy<Value = Vec<(i64, i64, u64)>> {
    prop::collection::vec((1i64..20, 1000i64..20000, 31u64..900), 0..4)
}

fn request() -> impl proptest::strategy::Strategy<Value = TaxRequest> {
    (
        prop::collection::vec((lots(), 1000i64..20000, prop::bool::weighted(0.2)), 1..5),
        -5000i64..20000,
        prop::bool::ANY,
        0usize..LotMethod::ALL.len(),
    )
        .prop_map(|(syms, cash, exact, m)| {
            let mut holdings = Vec::new();
            let mut all = Vec::new();
            for (i, (ls, price, half)) in syms.into_iter().enumerate() {
                let sym = format!("S{i}");
                let mut q = Decimal::ZERO;
                for (k, (n, basis, days)) in ls.iter().enumerate() {
                    let mut n = Decimal::from(*n);
                    if half && k == 0 {
                        n += dec!(0.5);
                    }
                    q += n;
                    let open = as_of() - Days::new(*days);
                    all.push(Lot {
                        symbol: sym.clone(),
                        conid: None,
                        quantity: n,
                        cost_basis_price: Decimal::new(*basis, 2),
                        open: open.and_hms_opt(9, 30, k as u32).unwrap(),
                        holding_start: open,
                    });
                }
                holdings.push(Holding::new(sym, q, Decimal::new(price, 2)));
            }
            let mut plan = PlanRequest::new(holdings, Decimal::new(cash, 2));
            plan.strategy = Strategy::Hard;
            if exact {
                plan.granularity = Granularity::Exact;
            }
            TaxRequest {
                plan,
                lots: all,
                trades: vec![],
                as_of: as_of(),
                settings: TaxSettings {
                    lot_method: LotMethod::ALL[m],
                    st_weight: dec!(2),
                    ..TaxSettings::default()
                },
            }
        })
}

fn check_sales(req: &TaxRequest, p: &TaxPlan) -> Result<(), proptest::test_runner::TestCaseError> {
    for s in &p.tax.sales {
        let lots: Vec<Lot> = req
            .lots
            .iter()
            .filter(|l| l.symbol == s.symbol)
            .cloned()
            .collect();
        let o = match_order(
            &lots,
            req.settings.lot_method,
            req.as_of,
            s.price,
            req.settings.st_weight,
        );
        let want = consume(&lots, &o, s.shares, req.as_of, s.price).unwrap();
        prop_assert_eq!(&s.lots, &want);
        let planned = p
            .plan
            .trades
            .iter()
            .find(|t| t.symbol == s.symbol)
            .map(|t| t.shares);
        prop_assert_eq!(planned, Some(s.shares));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn unlimited_budget_without_harvest_equals_hard(req in request()) {
        match strategy::plan(&req.plan) {
            Ok(hard) => {
                let p = plan(&req).unwrap();
                prop_assert_eq!(&p.plan, &hard);
                prop_assert!(p.tax.limits.is_empty());
                check_sales(&req, &p)?;
            }
            Err(e) => prop_assert_eq!(plan(&req).unwrap_err(), TaxError::Plan(e)),
        }
    }

    #[test]
    fn budget_zero_never_nets_a_gain(mut req in request()) {
        req.settings.budget_per_run = Some(Decimal::ZERO);
        match plan(&req) {
            Ok(p) => {
                let mut r = Realized::default();
                for s in &p.tax.sales {
                    for u in &s.lots {
                        r += Realized::of(u.term, u.gain);
                    }
                }
                let n = r.netted();
                prop_assert!(n.short_term <= Decimal::ZERO && n.long_term <= Decimal::ZERO,
                    "net gain {:?}", n);
                prop_assert!(p.tax.cost <= Decimal::ZERO);
                // Never spends cash it does not have (beyond the exact-mode division dust that
                // `hard` itself carries, ~1e-26).
                prop_assert!(p.plan.cash_left >= dec!(-0.000001) || req.plan.cash < Decimal::ZERO);
                check_sales(&req, &p)?;
                assert_no_wash_violation(&req, &p);
            }
            Err(TaxError::WithdrawalBlocked { .. }) => prop_assert!(req.plan.cash < Decimal::ZERO),
            Err(TaxError::Plan(_)) => {}
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn any_budget_is_never_exceeded(mut req in request(), budget in 0i64..50000) {
        let b = Decimal::new(budget, 2);
        req.settings.budget_per_run = Some(b);
        if let Ok(p) = plan(&req) {
            prop_assert!(p.tax.cost <= b, "cost {} > budget {}", p.tax.cost, b);
            prop_assert!(p.tax.budget_left.unwrap() >= Decimal::ZERO);
            check_sales(&req, &p)?;
        }
    }
}
