//! The integer start against its `Decimal` reference ([`super::super::row_box`], then the
//! point nearest zero, its value and the budget test), bit for bit.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::{Band, nearest_zero, row_box};
use super::{Edges, start};
use crate::strategy::types::{BandMode, Bands};
use crate::strategy::{Asset, Spend};

fn dec(m: i128, s: u32) -> Decimal {
    Decimal::from_i128_with_scale(m, s)
}

fn asset(value: Decimal, price: Decimal, quantity: Decimal, weight: Decimal) -> Asset<'static> {
    Asset {
        symbol: "X",
        price,
        quantity,
        value,
        pnl: Decimal::ZERO,
        weight,
        conid: None,
        currency: None,
    }
}

/// The reference start for one asset, or `None` where it refuses.
fn reference(band: &Band, a: &Asset, t: Decimal) -> Option<(Decimal, Decimal)> {
    let (lo, hi) = row_box(a, t, band.width(a.weight)).ok()?;
    let n = nearest_zero(lo, hi);
    Some((n, n * a.price))
}

/// The reference `start`: every asset's reference row, and the budget test on `Decimal`s.
fn reference_start(
    band: &Band,
    assets: &[Asset],
    targets: &[Decimal],
    budget: Decimal,
) -> Option<Vec<(Decimal, Decimal)>> {
    let rows: Option<Vec<_>> = assets
        .iter()
        .zip(targets)
        .map(|(a, &t)| reference(band, a, t))
        .collect();
    let rows = rows?;
    let spend: Decimal = rows.iter().map(|r| r.1).sum();
    (spend - budget <= Decimal::ZERO).then_some(rows)
}

/// A row's (shares, value) as their 16 bytes each.
fn row_bits(r: (Decimal, Decimal)) -> ([u8; 16], [u8; 16]) {
    (r.0.serialize(), r.1.serialize())
}

fn bits(s: &[Spend]) -> Vec<([u8; 16], [u8; 16])> {
    s.iter()
        .map(|s| match *s {
            Spend::Shares(n, v) | Spend::Value(v, n) => row_bits((n, v)),
        })
        .collect()
}

/// A value, price or quantity: everyday (cents, a few decimals), zero, or huge.
fn amount(max_scale: u32) -> impl Strategy<Value = Decimal> {
    prop_oneof![
        4 => (0i128..100_000_000, 0u32..=max_scale).prop_map(|(m, s)| dec(m, s)),
        1 => Just(Decimal::ZERO),
        1 => (0i128..(1i128 << 95), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        4 => (1i128..10_000_000, 0u32..5).prop_map(|(m, s)| dec(m, s)),
        1 => (1i128..(1i128 << 90), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

/// One asset: (value, price, quantity, target). Mostly a target within a few hundred shares
/// of the value and the quantity the value implies (the rows the integer path is for), with
/// unrelated ones mixed in.
fn row() -> impl Strategy<Value = (Decimal, Decimal, Decimal, Decimal)> {
    let near = (amount(4), price(), -600i128..600, 0u32..=22, any::<bool>()).prop_map(
        |(value, price, off, extra, whole)| {
            let q = value.checked_div(price).unwrap_or_default();
            let quantity = if whole { q.floor() } else { q };
            // Off by up to ±60 % of the value, plus a long tail of decimals.
            let target = value
                .checked_mul(dec(off, 3))
                .and_then(|d| value.checked_add(d))
                .and_then(|t| t.checked_add(dec(7, extra)))
                .unwrap_or(value);
            (value, price, quantity, target)
        },
    );
    prop_oneof![
        4 => near,
        1 => (amount(4), price(), amount(28), amount(28)),
    ]
}

fn bands() -> impl Strategy<Value = Bands> {
    (0u32..3, 0i128..4_000, 0i128..8_000).prop_map(|(k, a, r)| Bands {
        abs_pct: if k == 1 { Decimal::ZERO } else { dec(a, 2) },
        rel_pct: if k == 0 { Decimal::ZERO } else { dec(r, 2) },
        mode: BandMode::default(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Every row the integer path plans is the reference's row, sign and scale included.
    #[test]
    fn an_integer_row_is_the_reference_row(
        (value, price, quantity, target) in row(),
        weight in (1i128..1_000, 0u32..3).prop_map(|(m, s)| dec(m, s)),
        weight_sum in (1_000i128..100_000).prop_map(|m| dec(m, 0)),
        total in amount(4),
        b in bands(),
        implied in any::<bool>(),
    ) {
        prop_assume!(!b.abs_pct.is_zero() || !b.rel_pct.is_zero());
        // Mostly the total the target implies (`t = w/W · total`), so the band is as wide as
        // in a real plan.
        let total = match target.checked_mul(weight_sum).and_then(|x| x.checked_div(weight)) {
            Some(x) if implied => x,
            _ => total,
        };
        let band = Band { bands: &b, weight_sum, total };
        let a = asset(value, price, quantity, weight);
        prop_assume!(std::panic::catch_unwind(|| reference(&band, &a, target)).is_ok());
        if let Some(e) = Edges::new(&band, &a, target)
            && let Some(got) = e.int.as_ref().and_then(|i| i.row(&a))
        {
            let want = reference(&band, &a, target);
            prop_assert_eq!(
                Some(row_bits(got)),
                want.map(row_bits),
                "value {} price {} quantity {} target {}", value, price, quantity, target
            );
        }
    }

    /// Band edges exactly on a share boundary or a hair to either side (the floor and the
    /// ceiling of the edges decide there): `h = total` (an absolute band of 100 points), so
    /// the edges are `v − k·p + ε` and that plus `2·j·p`.
    #[test]
    fn edges_on_a_share_boundary_are_the_reference(
        (vm, vs) in (1i128..100_000_000, 0u32..4),
        (pm, ps) in (1i128..1_000_000, 0u32..5),
        k in -2_000i128..2_000,
        j in 1i128..2_000,
        eps in prop_oneof![Just(0i128), Just(1), Just(-1)],
        eps_scale in 0u32..=20,
        whole in any::<bool>(),
    ) {
        let (value, price) = (dec(vm, vs), dec(pm, ps));
        let q = value / price;
        let quantity = if whole { q.floor() } else { q };
        let total = price * Decimal::from(j);
        let target = value - price * Decimal::from(k) + dec(eps, eps_scale) + total;
        let b = Bands { abs_pct: Decimal::ONE_HUNDRED, rel_pct: Decimal::ZERO, mode: BandMode::default() };
        let band = Band { bands: &b, weight_sum: Decimal::ONE, total };
        let a = asset(value, price, quantity, Decimal::ONE);
        let e = Edges::new(&band, &a, target).expect("edges");
        if let Some(got) = e.int.as_ref().and_then(|i| i.row(&a)) {
            let want = reference(&band, &a, target);
            prop_assert_eq!(
                Some(row_bits(got)),
                want.map(row_bits),
                "value {} price {} quantity {} target {}", value, price, quantity, target
            );
        }
    }

    /// A whole start: when the integer path answers, it is the reference's answer.
    #[test]
    fn an_integer_start_is_the_reference_start(
        rows in prop::collection::vec((amount(2), price(), amount(6)), 1..12),
        total_scale in 0u32..3,
        budget in (-100_000_000i128..100_000_000, 0u32..3).prop_map(|(m, s)| dec(m, s)),
        b in bands(),
    ) {
        prop_assume!(!b.abs_pct.is_zero() || !b.rel_pct.is_zero());
        let assets: Vec<Asset> = rows
            .iter()
            .map(|&(v, p, q)| asset(v, p, q, Decimal::ONE))
            .collect();
        let weight_sum = Decimal::from(assets.len());
        let total: Decimal = assets.iter().map(|a| a.value).sum::<Decimal>() + budget;
        let total = total.round_dp(total_scale).max(Decimal::ZERO);
        let targets = vec![total / weight_sum; assets.len()];
        let band = Band { bands: &b, weight_sum, total };
        // The reference's floor division overflows (panics) on quotients beyond `Decimal`
        // (a price of 1e-28 against millions); such inputs say nothing about the fast path.
        let ok = std::panic::catch_unwind(|| reference_start(&band, &assets, &targets, budget));
        prop_assume!(ok.is_ok());
        if let Some(got) = start(&band, &assets, &targets, budget) {
            let want = reference_start(&band, &assets, &targets, budget);
            let want: Option<Vec<_>> = want.map(|w| w.iter().map(|&r| row_bits(r)).collect());
            prop_assert_eq!(Some(bits(&got)), want);
        }
    }
}

/// An everyday portfolio takes the integer path on every row (else the fast path would be a
/// silent no-op), and its answer is the reference's.
#[test]
fn an_everyday_portfolio_is_planned_on_integers() {
    let b = Bands {
        abs_pct: Decimal::ZERO,
        rel_pct: Decimal::from(25),
        mode: BandMode::default(),
    };
    let rows = [
        ("7093.24", "21.56"),
        ("44110.78", "214.13"),
        ("276237.67", "320.09"),
        ("6308.12", "17.33"),
    ];
    let assets: Vec<Asset> = rows
        .iter()
        .map(|(v, p)| {
            let (v, p): (Decimal, Decimal) = (v.parse().unwrap(), p.parse().unwrap());
            asset(v, p, v / p, Decimal::ONE)
        })
        .collect();
    let budget = Decimal::from(100_000);
    let total = assets.iter().map(|a| a.value).sum::<Decimal>() + budget;
    let weight_sum = Decimal::from(4);
    let targets = vec![total / weight_sum; 4];
    let band = Band {
        bands: &b,
        weight_sum,
        total,
    };
    for (a, &t) in assets.iter().zip(&targets) {
        let e = Edges::new(&band, a, t).expect("edges");
        assert!(
            e.int.as_ref().and_then(|i| i.row(a)).is_some(),
            "{} took the reference",
            a.value
        );
    }
    let got = start(&band, &assets, &targets, budget).expect("the start fits the cash");
    let want = reference_start(&band, &assets, &targets, budget).expect("reference");
    let want: Vec<_> = want
        .iter()
        .map(|r| (r.0.serialize(), r.1.serialize()))
        .collect();
    assert_eq!(bits(&got), want);
    // It buys the underweight and sells the overweight asset.
    assert!(
        got.iter()
            .any(|s| matches!(s, Spend::Shares(n, _) if *n > Decimal::ZERO))
    );
    assert!(
        got.iter()
            .any(|s| matches!(s, Spend::Shares(n, _) if *n < Decimal::ZERO))
    );
}
