//! `Item::int_min` (integers where they answer) against its Decimal reference
//! `Item::int_min_ref`: the same 16 bytes on random and edge inputs (zero and negative-zero
//! limits, limits at other scales, `Decimal::MAX`, zero and tiny targets, targets on and next
//! to whole multiples of the price, many decimals, huge values, weight factors with many
//! digits), for both the squared and the absolute term.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::Item;
use super::gen_tests::{dec, limit, price, signed};

fn target() -> impl Strategy<Value = Decimal> {
    prop_oneof![1 => Just(Decimal::ZERO), 3 => signed(12)]
}

fn k() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ONE),
        (1i128..1_000, 0u32..3).prop_map(|(m, s)| dec(m, s)),
        // max_w / w with 28 significant digits, as the planner computes it.
        (1i64..1_000, 1i64..1_000)
            .prop_map(|(a, b)| Decimal::from(a.max(b)) / Decimal::from(a.min(b))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn int_min_equals_the_decimal_reference(t in target(), p in price(), lo in limit(-1, Decimal::ZERO), hi in limit(1, Decimal::MAX), k in k(), mult in -3i64..4, square in any::<bool>()) {
        let it = Item { price: p, lo, hi, d: Decimal::ZERO, k, up_rank: Decimal::ZERO };
        let on = p.checked_mul(Decimal::from(mult)).unwrap_or(t);
        let tiny = Decimal::new(1, 6);
        let half = p.checked_mul(Decimal::new(5, 1)).and_then(|h| on.checked_add(h)).unwrap_or(t);
        for t in [t, on, half, on.checked_sub(tiny).unwrap_or(t), on.checked_add(tiny).unwrap_or(t)] {
            // Where the reference itself overflows (a quotient beyond 96 bits) there is
            // nothing to match.
            // Nor where its differences `t − n·P` overflow (|n| up to |lo| or |t / P| + 1, so
            // |t − n·P| up to (|t / P| + |lo| + 1)·P: the sum, not the larger of the two).
            let Some(q) = t.checked_div(p) else { continue };
            let reach = q.abs() + lo.abs() + Decimal::from(2);
            if reach.checked_mul(p).is_none() {
                continue;
            }
            let want = it.int_min_ref(t, square);
            let got = it.int_min(t, square);
            prop_assert_eq!(got.serialize(), want.serialize(), "{} / {} in [{}, {}] k {} sq {}: {} vs {}", t, p, lo, hi, k, square, got, want);
        }
    }
}

/// The integers answer on the usual inputs (else the test above would only test the
/// reference against itself).
#[test]
fn int_min_fast_answers_usual_inputs() {
    let it = Item {
        price: Decimal::new(2156, 2),
        lo: Decimal::ZERO,
        hi: Decimal::from(400),
        d: Decimal::ZERO,
        k: Decimal::ONE,
        up_rank: Decimal::ZERO,
    };
    for t in [Decimal::new(70932500000, 7), Decimal::new(-1, 2)] {
        for square in [true, false] {
            assert!(it.int_min_fast(t, square).is_some(), "{t} {square}");
            assert_eq!(
                it.int_min(t, square).serialize(),
                it.int_min_ref(t, square).serialize()
            );
        }
    }
}
