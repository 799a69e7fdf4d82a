//! Input generators shared by the whole-share property tests that compare an integer fast path
//! with its `Decimal` reference on all 16 bytes (`start_tests`, `intmin_tests`): one place for
//! the edge values both need (zeros of either sign, whole numbers at other scales, extremes).
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The Decimal with mantissa `m` and scale `s`.
pub(super) fn dec(m: i128, s: u32) -> Decimal {
    Decimal::from_i128_with_scale(m, s)
}

/// A limit of sign `sign` (±1): zero of either sign, a whole number at scale 0 or at another
/// scale, a fraction, or `extreme` (e.g. `Decimal::MAX` for an upper limit).
pub(super) fn limit(sign: i128, extreme: Decimal) -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(-Decimal::ZERO),
        (0i128..2_000).prop_map(move |m| dec(sign * m, 0)),
        (0i128..2_000, 1u32..4).prop_map(move |(m, s)| dec(sign * m * 10i128.pow(s), s)),
        (0i128..2_000_000, 1u32..4).prop_map(move |(m, s)| dec(sign * m, s)),
        Just(extreme),
    ]
}

/// A signed amount: small (`0..small_scale` decimals), any `i64` mantissa, or one just under
/// 2^95, at any scale.
pub(super) fn signed(small_scale: u32) -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (-1_000_000_000i128..1_000_000_000, 0u32..small_scale).prop_map(|(m, s)| dec(m, s)),
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| dec(i128::from(m), s)),
        (-(1i128 << 95)..(1i128 << 95), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}

/// A positive price: an everyday one, or a huge mantissa at any scale.
pub(super) fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (1i128..1_000_000, 0u32..5).prop_map(|(m, s)| dec(m, s)),
        (1i128..(1i128 << 90), 0u32..=28).prop_map(|(m, s)| dec(m, s)),
    ]
}
