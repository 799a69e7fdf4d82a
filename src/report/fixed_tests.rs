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

/// What a [`fig::Fig`] prints, written at the end of a buffer of `#`: the text, and whether
/// everything before it is untouched or a space (the room a figure may clear).
fn fig_text(f: fig::Fig) -> (String, bool) {
    let mut buf = [b'#'; 64];
    let start = f.write_before(&mut buf, 64);
    assert_eq!(64 - start, f.len(), "{f:?}");
    let clean = buf[..start].iter().all(|&b| b == b'#' || b == b' ');
    (String::from_utf8(buf[start..].to_vec()).unwrap(), clean)
}

/// The digits of a figure's text as one integer, and its decimals.
fn digits_of(text: &str) -> (u128, usize) {
    let frac = text.split_once('.').map_or(0, |(_, f)| f.len());
    let all: String = text.chars().filter(char::is_ascii_digit).collect();
    (all.parse().unwrap(), frac)
}

/// A [`fig::Fig`] prints what the `Decimal` reference prints, and declines only figures that
/// need more than a `u64` or more than 19 decimals (`limit`: other reasons to decline).
fn check_fig(f: Option<fig::Fig>, want: &str, limit: bool) -> Result<(), TestCaseError> {
    match f {
        Some(f) => {
            let (text, clean) = fig_text(f);
            prop_assert_eq!(text, want);
            prop_assert!(clean);
        }
        None => {
            let (q, frac) = digits_of(want);
            prop_assert!(limit || q > u128::from(u64::MAX) || frac > 19, "{}", want);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn figs_match_decimal(v in decimal()) {
        check_fig(fig::cents(v), &text(|o| slow::fixed_dp(o, v, 2)), false)?;
        let wide = v.mantissa().unsigned_abs() > u128::from(u64::MAX);
        check_fig(fig::normalized(v), &text(|o| slow::fixed(o, v.normalize())), wide)?;
        let abs = v.abs();
        check_fig(fig::abs_shares(v), &text(|o| slow::fixed(o, slow::shares(abs))), wide)?;
        if v.checked_mul(Decimal::ONE_HUNDRED).is_some() {
            let want = text(|o| slow::fixed_dp(o, slow::round(v * Decimal::ONE_HUNDRED, 2), 2));
            let limit = v.mantissa().unsigned_abs() >= (1 << 96) / 100;
            prop_assert_eq!(fig::pct_is_zero(v), want == "0.00", "{:?}", v);
            check_fig(fig::pct(v), &want, limit)?;
        }
    }

    /// The widest figure of a column, from thresholds, equals the longest reference text.
    #[test]
    fn widest_is_the_longest_text(vs in prop::collection::vec(decimal(), 0..40), pct in any::<bool>()) {
        let (dp, limit) = if pct { (4, (1u128 << 96) / 100) } else { (2, 1 << 96) };
        let mut w = width::Widest::new(dp, limit, if pct { pct_text } else { cents_text });
        let mut longest = 4; // "0.00"
        for v in vs {
            if pct && v.checked_mul(Decimal::ONE_HUNDRED).is_none() {
                continue; // a panic on every path: not a weight
            }
            w.add(&v);
            let t = if pct {
                text(|o| slow::fixed_dp(o, slow::round(v * Decimal::ONE_HUNDRED, 2), 2))
            } else {
                text(|o| slow::fixed_dp(o, v, 2))
            };
            longest = longest.max(t.len());
        }
        prop_assert_eq!(w.len(), longest);
    }

    /// The same for a column of absolute values (the trade value), counted by `add_abs`.
    #[test]
    fn widest_abs_is_the_longest_text(vs in prop::collection::vec(decimal(), 0..40)) {
        let mut w = width::Widest::new(2, 1 << 96, cents_text);
        let mut longest = 4;
        for v in vs {
            w.add_abs(&v);
            longest = longest.max(text(|o| slow::fixed_dp(o, v.abs(), 2)).len());
        }
        prop_assert_eq!(w.len(), longest);
    }
}

fn pct_text(o: &mut Vec<u8>, v: Decimal) {
    pct(o, v)
}

fn cents_text(o: &mut Vec<u8>, v: Decimal) {
    fixed_dp(o, v, 2)
}

#[test]
fn widest_values_of_one_scale_crossing_digits() {
    // At every scale, the two mantissas either side of each digit count's threshold (where
    // rounding half away from zero first reaches 10^d), in increasing order, either sign.
    for pct in [false, true] {
        let (dp, limit) = if pct {
            (4, (1u128 << 96) / 100)
        } else {
            (2, 1 << 96)
        };
        for s in [0u32, 1, 2, 3, 5, 11, 24, 28] {
            for neg in [false, true] {
                let mut w = width::Widest::new(dp, limit, if pct { pct_text } else { cents_text });
                let mut longest = 4;
                for d in 1..=12u32 {
                    let big = 10u128.pow(d);
                    let cross = if s <= dp {
                        big.div_ceil(10u128.pow(dp - s))
                    } else {
                        let p = 10u128.pow(s - dp);
                        big * p - p / 2
                    };
                    for m in [cross - 1, cross] {
                        let v = dec_of(m, s, neg);
                        if m > MAX96 || v.checked_mul(Decimal::ONE_HUNDRED).is_none() {
                            continue;
                        }
                        w.add(&v);
                        let t = if pct {
                            text(|o| slow::fixed_dp(o, slow::round(v * Decimal::ONE_HUNDRED, 2), 2))
                        } else {
                            text(|o| slow::fixed_dp(o, v, 2))
                        };
                        longest = longest.max(t.len());
                        assert_eq!(w.len(), longest, "{v} pct {pct}");
                    }
                }
            }
        }
    }
}

#[test]
fn figures_with_every_digit_count() {
    let mut v: u64 = 0;
    for n in 0..=19 {
        for q in [v, v.saturating_add(1), v.saturating_mul(3) / 2] {
            for s in [0u32, 2, 1, 6, 19] {
                for neg in [false, true] {
                    let d = dec_of(u128::from(q), s, neg);
                    let f = fig::normalized(d);
                    check_fig(f, &text(|o| slow::fixed(o, d.normalize())), false).unwrap();
                    let f = fig::cents(d);
                    check_fig(f, &text(|o| slow::fixed_dp(o, d, 2)), false).unwrap();
                }
            }
        }
        v = if n == 0 {
            9
        } else {
            v.saturating_mul(10).saturating_add(9)
        };
    }
}

/// A normal-form column's reference text: prices (`dp` 28) and share counts (`dp` 6).
fn normal_text(v: Decimal, dp: u32) -> String {
    if dp == 6 {
        text(|o| slow::fixed(o, slow::shares(v)))
    } else {
        text(|o| slow::fixed(o, v.normalize()))
    }
}

/// Mantissas with trailing zeros (which the normal form drops) as well as the others.
fn normal_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        decimal(),
        (magnitude(), 0u32..=12, 0u32..=28, any::<bool>())
            .prop_map(|(m, z, s, neg)| { dec_of((m % 10u128.pow(16)) * 10u128.pow(z), s, neg) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The widest normal-form figure, from thresholds, equals the longest reference text (or
    /// the starting width).
    #[test]
    fn normal_widest_is_the_longest_text(
        vs in prop::collection::vec(normal_decimal(), 0..40),
        shares in any::<bool>(),
        start in 1usize..8,
    ) {
        let dp = if shares { 6 } else { 28 };
        let mut w = normal_width::NormalWidest::new(dp, start);
        let mut abs = normal_width::NormalWidest::new(dp, start);
        let (mut longest, mut longest_abs) = (start, start);
        for v in vs {
            let t = normal_text(v, dp);
            w.add(&v, || t.len());
            longest = longest.max(t.len());
            prop_assert_eq!(w.len(), longest, "{:?}", v);
            let t = normal_text(v.abs(), dp);
            abs.add_abs(&v, || t.len());
            longest_abs = longest_abs.max(t.len());
            prop_assert_eq!(abs.len(), longest_abs, "|{:?}|", v);
        }
    }
}

#[test]
fn normal_widest_values_crossing_digits() {
    // At every scale, each digit count's first mantissa and the one before it, in increasing
    // order, either sign; with and without trailing zeros.
    for dp in [6u32, 28] {
        for s in [0u32, 1, 2, 5, 6, 7, 9, 18, 28] {
            for neg in [false, true] {
                let mut w = normal_width::NormalWidest::new(dp, 1);
                let mut longest = 1;
                for d in 0..=30u32 {
                    let big = 10u128.pow(d);
                    let cross = if s <= dp {
                        big
                    } else {
                        let p = 10u128.pow(s - dp);
                        big.saturating_mul(p).saturating_sub(p / 2)
                    };
                    for m in [cross.saturating_sub(1), cross, cross + 1, big] {
                        if m > MAX96 {
                            continue;
                        }
                        let v = dec_of(m, s, neg);
                        let t = normal_text(v, dp);
                        w.add(&v, || t.len());
                        longest = longest.max(t.len());
                        assert_eq!(w.len(), longest, "{v} dp {dp}");
                    }
                }
            }
        }
    }
}

#[test]
fn pct_zero_at_the_rounding_midpoint() {
    // Either side of half a unit of 10^-4 at every scale (and zero, one, either sign).
    for s in 0u32..=28 {
        let half = if s > 4 { 10u128.pow(s - 4) / 2 } else { 1 };
        for m in [0, 1, half - 1, half, half + 1] {
            for neg in [false, true] {
                let v = dec_of(m, s, neg);
                let want = text(|o| slow::fixed_dp(o, slow::round(v * Decimal::ONE_HUNDRED, 2), 2));
                assert_eq!(fig::pct_is_zero(v), want == "0.00", "{v}");
            }
        }
    }
}
