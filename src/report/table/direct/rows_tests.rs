//! The direct writer's templates against the general (piecewise) writer, on lines built to
//! take every path: weight columns that print `0.00%` in every row (tiny weights at every
//! scale, either sign, zeros of any scale), rows without a trade whose value after has the
//! bits of the value before or only the same number (another scale), and rows with trades,
//! with narrow and very wide money columns; one target shared by every line, or not.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::super::{measure as general_measure, piecewise_rows};
use super::super::measure;
use super::*;
use crate::report::fixed::fig::PCT_ZERO;

const MAX96: u128 = (1 << 96) - 1;

fn dec(m: u128, s: u32, neg: bool) -> Decimal {
    let mut d = Decimal::from_i128_with_scale(m.min(MAX96) as i128, s);
    d.set_sign_negative(neg);
    d
}

/// Money: cents as plans carry them, many decimals (exact plans), up to 96 bits.
fn money() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0u128..1_000_000_000_000, any::<bool>()).prop_map(|(m, n)| dec(m, 2, n)),
        (0u128..1_000_000_000_000, 0u32..=10, any::<bool>()).prop_map(|(m, s, n)| dec(m, s, n)),
        (0u128..=MAX96, 0u32..=28, any::<bool>()).prop_map(|(m, s, n)| dec(m, s, n)),
    ]
}

/// A weight that prints `0.00` (below [`PCT_ZERO`] at its scale), zeros of any scale too.
fn tiny() -> impl Strategy<Value = Decimal> {
    (0u32..=28, any::<u128>(), any::<bool>())
        .prop_map(|(s, m, n)| dec(m % PCT_ZERO[s as usize].max(1), s, n))
}

/// Any weight: tiny, just at the rounding edge, or ordinary.
fn weight() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        tiny(),
        (5u32..=28, any::<bool>()).prop_map(|(s, n)| dec(PCT_ZERO[s as usize], s, n)),
        (0u128..10_000_000_000_000_000_000_000_000, any::<bool>()).prop_map(|(m, n)| dec(m, 28, n)),
        (0u128..20_000, 0u32..=4, any::<bool>()).prop_map(|(m, s, n)| dec(m, s, n)),
    ]
}

/// A zero of any scale or sign (no trade), or a trade.
fn trade() -> impl Strategy<Value = (Decimal, Decimal)> {
    prop_oneof![
        (0u32..=28, 0u32..=28, any::<bool>(), any::<bool>())
            .prop_map(|(a, b, n, m)| (dec(0, a, n), dec(0, b, m))),
        (money(), 0u128..1_000_000_000, 0u32..=8, any::<bool>())
            .prop_map(|(v, q, s, n)| (v, dec(q, s, n))),
        (money()).prop_map(|v| (v, dec(0, 0, false))),
    ]
}

/// How a line's value after relates to its value before.
#[derive(Debug, Clone, Copy)]
enum After {
    /// The very bits.
    Same,
    /// The same number at a larger scale (the same text, other bits).
    Rescaled,
    /// Any other value.
    Other,
}

fn line() -> impl Strategy<Value = (String, [Decimal; 6], (Decimal, Decimal), After)> {
    (
        "[A-Z]{1,3}|[A-Z]{4,17}|[A-Z]{30,45}",
        (money(), money(), money(), weight(), weight(), weight())
            .prop_map(|(a, b, c, d, e, f)| [a, b, c, d, e, f]),
        trade(),
        prop_oneof![Just(After::Same), Just(After::Rescaled), Just(After::Other)],
    )
}

fn plan_line(
    (symbol, [price, before, after, target, wb, wa], (value, shares), how): (
        String,
        [Decimal; 6],
        (Decimal, Decimal),
        After,
    ),
    tiny_cols: [Option<Decimal>; 3],
) -> PlanLine {
    let value_after = match how {
        After::Same => before,
        After::Rescaled => {
            let mut v = before;
            v.rescale((before.scale() + 1).min(28));
            v
        }
        After::Other => after,
    };
    PlanLine {
        symbol,
        conid: None,
        currency: None,
        price,
        unrealized_pnl: Decimal::ZERO,
        quantity_before: Decimal::ZERO,
        value_before: before,
        target_weight: tiny_cols[0].unwrap_or(target),
        target_value: Decimal::ZERO,
        trade_shares: shares,
        trade_value: value,
        value_after,
        weight_before: tiny_cols[1].unwrap_or(wb),
        weight_after: tiny_cols[2].unwrap_or(wa),
    }
}

/// The rows by the direct writer and by the piecewise reference.
fn both(lines: &[PlanLine]) -> (Vec<u8>, Vec<u8>) {
    let mut cells = Vec::new();
    let (width, lens) = general_measure(lines, &mut cells);
    let (mut reference, mut o) = (Vec::new(), Vec::new());
    piecewise_rows(&mut reference, &mut o, lines, &width, &mut cells, &lens).unwrap();
    reference.extend_from_slice(&o);
    let layout = measure(lines).expect("ASCII symbols");
    assert_eq!(layout.width, width);
    let mut fast = Vec::new();
    write_rows(&mut fast, lines, &layout).unwrap();
    (fast, reference)
}

/// Per row and column, a tiny weight when the column is to be all zeros.
fn tiny_rows(n: usize) -> impl Strategy<Value = Vec<[Decimal; 3]>> {
    prop::collection::vec([tiny(), tiny(), tiny()], n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn templates_match_the_piecewise_writer(
        (raw, tinies) in (1usize..30).prop_flat_map(|n| {
            (prop::collection::vec(line(), n), tiny_rows(n))
        }),
        zero_cols in [any::<bool>(), any::<bool>(), any::<bool>()],
        shared in prop::option::of(weight()),
    ) {
        let mut lines: Vec<PlanLine> = raw
            .into_iter()
            .zip(tinies)
            .map(|(r, t)| plan_line(r, std::array::from_fn(|k| zero_cols[k].then_some(t[k]))))
            .collect();
        // One target for every line (equal weights), unless its column is tiny.
        if let (Some(w), false) = (shared, zero_cols[0]) {
            for l in &mut lines {
                l.target_weight = w;
            }
        }
        let layout = measure(&lines).unwrap();
        // A column of tiny weights is found to be all zeros, a shared target as shared.
        for (zero, found) in zero_cols.iter().zip(layout.zero) {
            prop_assert!(!zero || found);
        }
        if shared.is_some() && !layout.zero[0] {
            prop_assert_eq!(layout.target.map(|t| t.serialize()), shared.map(|t| t.serialize()));
        }
        let (fast, reference) = both(&lines);
        prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(reference).unwrap());
    }
}

/// A weight just at the edge of printing `0.01%` in an otherwise all-zero column: the
/// column is not all zeros, and the row prints it.
#[test]
fn one_weight_off_zero_keeps_its_column() {
    let mut lines: Vec<PlanLine> = (0..5)
        .map(|i| {
            let v = dec(100 * i + 1, 2, false);
            plan_line(
                (
                    format!("S{i}"),
                    [v, v, v, v, v, v],
                    (dec(0, 2, false), dec(0, 0, false)),
                    After::Same,
                ),
                [Some(dec(1, 5, false)); 3],
            )
        })
        .collect();
    lines[3].weight_after = dec(PCT_ZERO[9], 9, false);
    let layout = measure(&lines).unwrap();
    assert_eq!(layout.zero, [true, true, false]);
    assert_eq!(layout.target, None);
    let (fast, reference) = both(&lines);
    assert_eq!(fast, reference);
    assert!(String::from_utf8(fast).unwrap().contains(" 0.01%\n"));
}
