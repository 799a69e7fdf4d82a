//! The integer walk against the Decimal greedy: on the greedy's own generator (many ties,
//! fractional holdings, both directions) and on edge values (negative and zero deviations,
//! many decimals, huge mantissas, midpoints `r = P/2`, weight factors with 28 digits), the
//! results are the same bit for bit wherever the integers answer.
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::super::Item;
use super::super::complete_decimal;
use super::{Ctx, commit, every_first_step, walk};

/// Runs both; `Some(agree)` when the integer walk answered.
fn compare(items: &[Item], n0: &[Decimal], left0: Decimal) -> Result<bool, TestCaseError> {
    compare_with(items, n0, left0, None)
}

/// [`compare`] with the integer walk's first chunk of size `first` (`None`: its own choice).
fn compare_with(
    items: &[Item],
    n0: &[Decimal],
    left0: Decimal,
    first: Option<usize>,
) -> Result<bool, TestCaseError> {
    let (mut n, mut left) = (n0.to_vec(), left0);
    let answered = match walk(items, &n, left, first) {
        Some((taken, end)) => {
            commit(items, &mut n, &mut left, &taken, end);
            true
        }
        None => false,
    };
    if !answered {
        prop_assert_eq!(&n, n0, "a refused walk leaves `n` untouched");
        prop_assert_eq!(left.serialize(), left0.serialize());
        return Ok(false);
    }
    let (mut want_n, mut want_left) = (n0.to_vec(), left0);
    complete_decimal(items, &mut want_n, &mut want_left);
    prop_assert_eq!(left.serialize(), want_left.serialize());
    let diff = (0..n.len()).find(|&i| n[i].serialize() != want_n[i].serialize());
    prop_assert!(
        diff.is_none(),
        "asset {:?}",
        diff.map(|i| (i, n[i], want_n[i]))
    );
    Ok(true)
}

fn value(pick: u8, m: i128, s: u32) -> Decimal {
    match pick {
        0 => Decimal::ZERO,
        1 => Decimal::from_i128_with_scale(m % 100_000_000, s.min(4)),
        2 => Decimal::from_i128_with_scale(m, s),
        _ => Decimal::from_i128_with_scale(m % 1_000_000_000_000, s.min(12)),
    }
}

/// Edge-value items: the deviation is often a whole number of prices plus half a price
/// (the midpoint where a step neither helps nor hurts the primary term); prices, deviations
/// and starts often repeat (`shared`), so that costs tie and the P&L and the symbol decide.
fn edge_items() -> impl Strategy<Value = (Vec<Item>, Vec<Decimal>, Decimal)> {
    let item = (
        (1i64..5_000_000, 0u32..7),
        (0u8..4, any::<i64>(), 0u32..=28),
        (0i64..40, any::<bool>()),
        (0u8..4, -50i64..50),
        (
            -30i64..30,
            prop_oneof![4 => Just(0u32), 1 => 1u32..3],
            any::<bool>(),
        ),
    );
    (
        prop::collection::vec(item, 1..60),
        (0u8..5, 0i64..1_000_000_000, 0u32..8),
        (0u8..3, 1i64..4, 0u8..4),
    )
        .prop_map(|(rows, (lp, lm, ls), (shared, cycle, wild))| {
            // One case in four may hold values beyond the integer walk's range (it must then
            // refuse); the others stay within it, except by overflow.
            let wild = wild == 0;
            let mut items: Vec<Item> = Vec::new();
            let mut n = Vec::new();
            for (j, row) in rows.into_iter().enumerate() {
                let ((pm, ps), (dp, dm, ds), (steps, half), (kp, rank), (q, qs, sell)) = row;
                let mut price = match wild {
                    true => Decimal::new(pm, ps),
                    false => Decimal::new(1 + pm % 100_000, ps % 4),
                };
                let mut start = Decimal::new(q, if wild { qs } else { 0 });
                let mut d = if dp == 0 {
                    let half = if half {
                        price / Decimal::TWO
                    } else {
                        Decimal::ZERO
                    };
                    price * Decimal::from(steps) + half
                } else {
                    value(
                        dp,
                        i128::from(dm) >> if wild { 0 } else { 32 },
                        if wild { ds } else { ds % 9 },
                    )
                };
                if shared > 0 && j as i64 >= cycle {
                    // Repeat an earlier asset's price, deviation and start.
                    let c = j % cycle as usize;
                    (price, d, start) = (items[c].price, items[c].d, n[c]);
                }
                let k = match kp {
                    0 | 1 => Decimal::ONE,
                    2 if wild => Decimal::from(3) / Decimal::from(7),
                    2 => Decimal::TWO,
                    _ => Decimal::new(15, 1),
                };
                let lo = if sell {
                    start.min(Decimal::ZERO)
                } else {
                    Decimal::ZERO
                };
                let hi = if steps % 3 == 0 {
                    Decimal::MAX
                } else {
                    Decimal::from(steps)
                };
                let it = Item {
                    price,
                    lo,
                    hi,
                    d,
                    k,
                    up_rank: Decimal::from(rank % 3),
                };
                n.push(it.clamp(start));
                items.push(it);
            }
            let left = match lp {
                0 => Decimal::ZERO,
                1 => Decimal::new(lm, if wild { ls } else { ls % 3 }),
                2 => Decimal::new(lm % 100_000, 2),
                _ => Decimal::new(lm, 2),
            };
            (items, n, left)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn integer_walk_equals_the_decimal_greedy(seed in any::<u64>()) {
        let (items, n, left) = super::super::tests::items(seed);
        compare(&items, &n, left)?;
    }

    #[test]
    fn integer_walk_equals_the_decimal_greedy_on_edge_values(case in edge_items()) {
        let (items, n, left) = case;
        compare(&items, &n, left)?;
    }

    /// The first chunk's size changes only the work: from one entry (a selection per
    /// doubling) to the whole pool (one sort), the steps and so the result are the same.
    #[test]
    fn any_first_chunk_gives_the_same_walk(seed in any::<u64>(), first in 1usize..400) {
        let (items, n, left) = super::super::tests::items(seed);
        compare_with(&items, &n, left, Some(first))?;
        compare_with(&items, &n, left, Some(1))?;
    }
}

/// The planner's usual inputs (cent prices, deviations at scale 7, weight factor 1, P&L at
/// scale 4, whole starts) take the integer walk, so the comparisons above are not vacuous.
#[test]
fn usual_inputs_take_the_integer_walk() {
    let mut below = super::super::tests::below_from(0x9E37_79B9_7F4A_7C15);
    for _ in 0..50 {
        let m = 1 + below(400) as usize;
        let (mut items, mut n) = (Vec::new(), Vec::new());
        for _ in 0..m {
            let price = Decimal::new(500 + below(49_500) as i64, 2);
            let d = Decimal::new(below(2_000_000_000_000) as i64 - 500_000_000_000, 7);
            let held = Decimal::from(below(1000));
            let it = Item {
                price,
                lo: -held,
                hi: Decimal::MAX,
                d,
                k: Decimal::ONE,
                up_rank: Decimal::new(below(20_000_000) as i64 - 10_000_000, 4),
            };
            n.push(it.start(d));
            items.push(it);
        }
        let left = Decimal::new(below(10_000_000) as i64, 2);
        assert_eq!(compare(&items, &n, left).ok(), Some(true));
    }
}

/// Starts at the floor of the deviation (as a hard rebalance's): each asset has at most one
/// improving step, and a budget from a sliver to more than all of them: the walk's shortcut
/// ([`every_first_step`]) where it applies, the full walk elsewhere. Ties abound (few prices,
/// equal P&L), sales and unequal weight factors too. Returns the items, starts and cash.
fn floor_starts(seed: u64) -> (Vec<Item>, Vec<Decimal>, Decimal) {
    let mut below = super::super::tests::below_from(seed);
    let m = 1 + below(200) as usize;
    let prices: Vec<Decimal> = (0..1 + below(20))
        .map(|_| Decimal::new(1 + below(40_000) as i64, [2, 2, 0, 3][below(4) as usize]))
        .collect();
    let (mut items, mut n) = (Vec::new(), Vec::new());
    let mut cash = Decimal::ZERO;
    let twice = below(3) == 0;
    for _ in 0..m {
        let price = prices[below(prices.len() as u64) as usize];
        let d = Decimal::new(below(2_000_000_000) as i64 - 500_000_000, 5);
        let held = Decimal::from(below(40));
        let it = Item {
            price,
            lo: -held,
            hi: if below(8) == 0 {
                Decimal::ZERO
            } else {
                Decimal::MAX
            },
            d,
            k: if below(4) == 0 {
                Decimal::TWO
            } else {
                Decimal::ONE
            },
            up_rank: Decimal::from(below(3) as i64 - 1),
        };
        // In a third of the cases, now and then two steps below the floor: a second
        // improving step.
        let back = if twice && below(10) == 0 {
            Decimal::ONE
        } else {
            Decimal::ZERO
        };
        let start = it.clamp(it.start(d) - back);
        cash += price;
        n.push(start);
        items.push(it);
    }
    let left = cash * Decimal::new(below(1400) as i64, 3);
    (items, n, left)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Where the walk takes every first step without ordering them, the result is still the
    /// Decimal greedy's, bit for bit.
    #[test]
    fn taking_every_first_step_unordered_equals_the_decimal_greedy(seed in any::<u64>()) {
        let (items, n, left) = floor_starts(seed);
        compare(&items, &n, left)?;
    }
}

/// The shortcut answers on most of those inputs with cash for every step (so the property
/// test above is not vacuous) and refuses where a second step improves or cash runs short.
#[test]
fn every_first_step_answers_when_cash_suffices() {
    let (mut answered, mut refused) = (0, 0);
    for seed in 0..300u64 {
        let (items, n, left) = floor_starts(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let Some((c, pool)) = Ctx::new(&items, &n, left) else {
            continue;
        };
        let left_m = super::at(left, c.sm).expect("the context converted it");
        match every_first_step(&c, &pool, left_m) {
            Some(taken) => {
                assert!(pool.cash < left_m);
                assert_eq!(taken.len(), pool.entries.len());
                answered += 1;
            }
            None => refused += 1,
        }
    }
    assert!(answered >= 50 && refused >= 50, "{answered} {refused}");
}
