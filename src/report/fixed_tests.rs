//! The integer figures against the `Decimal` path they replaced, on random decimals that
//! stress them: every scale, mantissas up to 96 bits, exact rounding midpoints (and one unit
//! either side), negative values and negative zero.
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;

const MAX96: u128 = (1 << 96) - 1;

fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut o = Vec::new();
    f(&mut o);
    String::from_utf8(o).unwrap()
}

/// A decimal from a magnitude, a scale and a sign (a zero magnitude with the sign flag set is
/// the negative zero that `Decimal` arithmetic can produce).
fn dec_of(m: u128, s: u32, neg: bool) -> Decimal {
    let m = m.min(MAX96);
    let mut d = Decimal::from_i128_with_scale(m as i128, s);
    d.set_sign_negative(neg);
    d
}

/// Magnitudes: small, 64-bit, full 96-bit, and midpoints `q·10^k + 5·10^(k-1) + {-1, 0, 1}`.
fn magnitude() -> impl Strategy<Value = u128> {
    prop_oneof![
        0u128..1000,
        0u128..=u128::from(u64::MAX),
        0u128..=MAX96,
        (0u128..=u128::from(u64::MAX), 1u32..=28, -1i8..=1).prop_map(|(q, k, d)| {
            let p = 10u128.pow(k);
            let q = q % (MAX96 / p).max(1);
            (q * p + p / 2).saturating_add_signed(i128::from(d))
        }),
    ]
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (magnitude(), 0u32..=28, any::<bool>()).prop_map(|(m, s, neg)| dec_of(m, s, neg))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn fixed_dp_matches_decimal(v in decimal(), dp in 0u32..=6) {
        let want = text(|o| slow::fixed_dp(o, v, dp));
        prop_assert_eq!(text(|o| fixed_dp(o, v, dp)), want, "{:?} dp {}", v, dp);
    }

    #[test]
    fn money_matches_decimal(v in decimal()) {
        let want = text(|o| slow::fixed(o, slow::money(v)));
        prop_assert_eq!(text(|o| money(o, v)), want, "{:?}", v);
    }

    #[test]
    fn normalized_matches_decimal(v in decimal()) {
        let want = text(|o| slow::fixed(o, v.normalize()));
        prop_assert_eq!(text(|o| normalized(o, v)), want, "{:?}", v);
    }

    #[test]
    fn shares_match_decimal(v in decimal()) {
        let want = text(|o| slow::fixed(o, slow::shares(v)));
        prop_assert_eq!(text(|o| shares(o, v)), want, "{:?}", v);
    }

    #[test]
    fn pct_matches_decimal(v in decimal()) {
        // Beyond 7.9e26 the product overflows `Decimal` (a panic on both paths): not a weight.
        prop_assume!(v.checked_mul(Decimal::ONE_HUNDRED).is_some());
        let want = text(|o| slow::fixed_dp(o, slow::round(v * Decimal::ONE_HUNDRED, 2), 2));
        prop_assert_eq!(text(|o| pct(o, v)), want, "{:?}", v);
    }
}

#[test]
fn edge_cases_print_as_decimal_does() {
    let neg_zero = dec_of(0, 3, true);
    for (v, dp, want) in [
        (dec!(8000), 2, "8000.00"),
        (dec!(0), 2, "0.00"),
        (neg_zero, 2, "0.00"),
        (dec!(-0.004), 2, "0.00"),
        (dec!(-0.005), 2, "-0.01"),
        (dec!(0.005), 2, "0.01"),
        (dec!(0.00499999999999999999999999), 2, "0.00"),
        (dec!(83.1), 2, "83.10"),
        (dec!(0.06021), 4, "0.0602"),
        (dec!(-12.345), 2, "-12.35"),
        (
            dec!(79228162514264337593543950335),
            2,
            "79228162514264337593543950335.00",
        ),
        (dec!(7.9228162514264337593543950335), 2, "7.92"),
        (
            dec!(0.0000000000000000000000000005),
            27,
            "0.000000000000000000000000001",
        ),
    ] {
        assert_eq!(text(|o| fixed_dp(o, v, dp)), want, "{v} {dp}");
    }
    for (v, want) in [
        (dec!(0.125), "12.50"),
        (dec!(0.00005), "0.01"),
        (dec!(-0.00005), "-0.01"),
        (dec!(0.000049999), "0.00"),
        (dec!(1), "100.00"),
        (dec!(0.3333333333333333333333333333), "33.33"),
    ] {
        assert_eq!(text(|o| pct(o, v)), want, "{v}");
    }
    for (v, want) in [
        (dec!(10.500), "10.5"),
        (dec!(100), "100"),
        (neg_zero, "0"),
        (dec!(-0.0000005), "-0.000001"),
        (dec!(0.0000004999), "0"),
        (dec!(-3.1200000), "-3.12"),
    ] {
        assert_eq!(text(|o| shares(o, v)), want, "{v}");
    }
    assert_eq!(text(|o| normalized(o, dec!(33.3330))), "33.333");
    assert_eq!(
        text(|o| normalized(o, dec!(1E-28))),
        "0.0000000000000000000000000001"
    );
}
