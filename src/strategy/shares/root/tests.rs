//! `root::proves` against the full bound it replaces, on random inputs shaped like the
//! planner's (buy-only, both directions, sell-only with the cash term; equal and unequal
//! weights; whole-cent and odd prices, many ties; long-decimal references; budgets from tight
//! to loose, small enough for the reachable-spend table).
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::super::{Bounds, Cost, Item, sell};
use super::{int, proves, proves_decimal, sort_by_price_desc};

/// The replaced code: the incumbent, the price order and the root of the full `Bounds`.
fn reference(items: &[Item], n: &[Decimal], budget: Decimal, cash_k: Option<Decimal>) -> bool {
    let (order, free_budget) = split(items, n, budget);
    let mut order = order;
    let mut incumbent = order
        .iter()
        .fold(Cost::default(), |c, &i| c + items[i].cost(n[i]));
    if let Some(kc) = cash_k {
        let spent: Decimal = n.iter().zip(items).map(|(n, it)| *n * it.price).sum();
        incumbent = incumbent + sell::cash_cost(kc, budget - spent);
    }
    order.sort_by(|&a, &b| items[b].price.cmp(&items[a].price).then(a.cmp(&b)));
    let bounds = Bounds::new(items, &order, free_budget);
    bounds.at(0, free_budget).is_some_and(|lb| lb >= incumbent)
}

/// The assets with a choice (index order) and the budget left after the others.
fn split(items: &[Item], n: &[Decimal], budget: Decimal) -> (Vec<usize>, Decimal) {
    let order: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].has_choice())
        .collect();
    let fixed: Decimal = (0..items.len())
        .filter(|&i| !items[i].has_choice())
        .map(|i| n[i] * items[i].price)
        .sum();
    (order, budget - fixed)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn signed(&mut self, n: u64) -> i64 {
        self.below(2 * n) as i64 - n as i64
    }
}

type Case = (Vec<Item>, Vec<Decimal>, Decimal, Option<Decimal>);

fn case(seed: u64) -> Case {
    let mut r = Rng(seed | 1);
    if r.below(3) == 0 {
        return level_case(&mut r);
    }
    let m = 1 + r.below(120) as usize;
    let kind = r.below(3); // 0 buy-only, 1 both, 2 sell-only
    let equal_weights = r.below(2) == 0;
    let at_minimum = r.below(2) == 0;
    let mut items: Vec<Item> = Vec::with_capacity(m);
    let mut n = Vec::with_capacity(m);
    for i in 0..m {
        let price = if i > 0 && r.below(4) == 0 {
            items[r.below(i as u64) as usize].price
        } else {
            Decimal::new(
                1 + r.below(50_000) as i64,
                [2, 2, 2, 0, 4][r.below(5) as usize],
            )
        };
        let k = if equal_weights || r.below(3) == 0 {
            Decimal::ONE
        } else {
            Decimal::from(1 + r.below(1000)) / Decimal::from(1 + r.below(1000))
        };
        let d = match r.below(4) {
            0 => Decimal::new(r.signed(10_000_000), 2),
            1 => Decimal::new(r.signed(10_000_000_000), 5),
            2 => Decimal::new(r.signed(10_000_000), 2) / Decimal::from(3 + r.below(997)),
            _ => price * Decimal::from(r.signed(300)),
        };
        let held = Decimal::new(r.below(10_000_000) as i64, [0, 4][r.below(2) as usize]);
        let sellable = if r.below(2) == 0 { held.floor() } else { held };
        let cap = (d.max(Decimal::ZERO) / price).ceil();
        let (lo, hi) = match kind {
            0 => (Decimal::ZERO, cap),
            1 => (-sellable, cap),
            _ => (-sellable, Decimal::ZERO),
        };
        let it = Item {
            price,
            lo,
            hi,
            d,
            k,
            up_rank: Decimal::ZERO,
        };
        let own = it.clamp((d / price).round());
        let q = if at_minimum || r.below(4) != 0 {
            own
        } else {
            it.clamp(own + Decimal::from(r.signed(3)))
        };
        n.push(q);
        items.push(it);
    }
    let spent: Decimal = n.iter().zip(&items).map(|(n, it)| *n * it.price).sum();
    let slack = match r.below(5) {
        0 => Decimal::ZERO,
        1 => Decimal::new(r.below(10_000) as i64, 2),
        2 => Decimal::new(r.below(100_000_000) as i64, 2),
        3 => Decimal::new(-(r.below(1000) as i64), 2),
        _ => Decimal::new(r.below(1_000_000_000_000) as i64, 2),
    };
    let cash_k = (kind == 2 && r.below(2) == 0).then_some(Decimal::ONE);
    (items, n, spent + slack, cash_k)
}

/// Buy-only with equal weights where the continuous bound is tight: references `a_i·P_i`,
/// prices from {P, 2P, 4P}, the incumbent cut to a common level `t·4P` (an optimum; sometimes
/// perturbed), the budget at its spend or a little above (small budgets: the reachable-spend
/// table applies).
fn level_case(r: &mut Rng) -> Case {
    let m = 1 + r.below(70) as usize;
    let top = if r.below(2) == 0 { 300 } else { 30_000 };
    let base = Decimal::new(1 + r.below(top) as i64, 2);
    let level = base * Decimal::from(4 * r.below(4));
    let (mut items, mut n) = (Vec::with_capacity(m), Vec::with_capacity(m));
    for _ in 0..m {
        let price = base * Decimal::from([1, 2, 4][r.below(3) as usize]);
        let d = price * Decimal::from(r.below(12));
        let it = Item {
            price,
            lo: Decimal::ZERO,
            hi: (d / price).ceil(),
            d,
            k: Decimal::ONE,
            up_rank: Decimal::ZERO,
        };
        let mut q = ((d - level).max(Decimal::ZERO) / price).floor();
        if r.below(30) == 0 {
            q = it.clamp(q + Decimal::from(r.signed(2)));
        }
        n.push(q);
        items.push(it);
    }
    let spent: Decimal = n.iter().zip(&items).map(|(n, it)| *n * it.price).sum();
    let slack = Decimal::new([0, 0, 1, 37][r.below(4) as usize], 2);
    (items, n, spent + slack, None)
}

fn fast(c: &Case) -> bool {
    let (items, n, budget, cash_k) = c;
    let (order, free_budget) = split(items, n, *budget);
    let buy_only = order.iter().all(|&i| items[i].lo.is_zero());
    proves(items, order, n, *budget, free_budget, *cash_k, buy_only)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn proves_equals_the_full_root_bound(seed in any::<u64>()) {
        let c = case(seed);
        prop_assert_eq!(fast(&c), reference(&c.0, &c.1, c.2, c.3), "seed {}", seed);
    }
}

/// The case with its values in the integer path's range (the planner's usual inputs):
/// deviations to five decimals, weight factors with at most three, whole quantities at scale 0.
fn tame(c: Case) -> Case {
    let (mut items, n, budget, cash_k) = c;
    let whole = |v: Decimal| Decimal::from_i128_with_scale(v.floor().mantissa(), 0);
    for it in &mut items {
        it.d = it.d.round_dp(5);
        if it.k.scale() > 3 {
            it.k = it.k.round_dp(3).max(Decimal::new(1, 3));
        }
        (it.lo, it.hi) = (whole(it.lo).max(Decimal::from(-1000)), whole(it.hi));
    }
    let n = n
        .iter()
        .zip(&items)
        .map(|(q, it)| it.clamp(whole(*q)))
        .collect();
    (items, n, budget.round_dp(2), cash_k)
}

fn decimal(c: &Case) -> bool {
    let (items, n, budget, cash_k) = c;
    let (order, free_budget) = split(items, n, *budget);
    proves_decimal(items, order, n, *budget, free_budget, *cash_k)
}

fn integer(c: &Case) -> Option<bool> {
    let (items, n, budget, cash_k) = c;
    let (order, free_budget) = split(items, n, *budget);
    int::proves(items, &order, n, *budget, free_budget, *cash_k)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Wherever the integers answer, they give the Decimal path's answer.
    #[test]
    fn integer_proof_equals_the_decimal_proof(seed in any::<u64>()) {
        for c in [case(seed), tame(case(seed))] {
            if let Some(got) = integer(&c) {
                prop_assert_eq!(got, decimal(&c), "seed {}", seed);
            }
        }
    }
}

/// A hard rebalance as the planner meets it: cent prices, deviations at scale 5 summing to the
/// budget (which then does not bind the relaxation), whole holdings; each quantity at the
/// nearest whole share to its deviation or, in some cases, one share off.
fn hard_case(seed: u64) -> Case {
    let mut r = Rng(seed | 1);
    let m = 50 + r.below(400) as usize;
    let off = r.below(3);
    let (mut items, mut n) = (Vec::with_capacity(m), Vec::with_capacity(m));
    for i in 0..m {
        let price = Decimal::new(500 + r.below(49_500) as i64, 2);
        let d = Decimal::new(r.signed(100_000_000_000), 5);
        let held = Decimal::from(r.below(1000));
        let it = Item {
            price,
            lo: -held,
            hi: (d.max(Decimal::ZERO) / price).ceil(),
            d,
            k: Decimal::ONE,
            up_rank: Decimal::ZERO,
        };
        let own = it.clamp((d / price).round());
        let q = if off == 0 && i % 7 == 0 {
            own - Decimal::ONE
        } else {
            own
        };
        n.push(it.clamp(q));
        items.push(it);
    }
    let budget: Decimal = items
        .iter()
        .map(|it| it.d.max(it.lo * it.price).min(it.hi * it.price))
        .sum();
    (items, n, budget, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn integer_proof_equals_the_decimal_proof_on_hard_rebalances(seed in any::<u64>()) {
        let c = hard_case(seed);
        let got = integer(&c);
        prop_assert!(got.is_some(), "the usual case takes the integers");
        prop_assert_eq!(got, Some(decimal(&c)), "seed {}", seed);
    }
}

/// The integers answer, both ways, on many cases (so the comparisons above are not vacuous).
#[test]
fn integer_proof_answers_often() {
    let (mut yes, mut no) = (0, 0);
    for seed in 1..300u64 {
        let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for c in [tame(case(seed)), hard_case(seed)] {
            match integer(&c) {
                Some(true) => yes += 1,
                Some(false) => no += 1,
                None => {}
            }
        }
    }
    assert!(yes > 50 && no > 50, "proven {yes}, not proven {no}");
}

/// The generator reaches both answers often, so the equality above is not vacuous.
#[test]
fn both_answers_occur() {
    let (mut yes, mut no) = (0, 0);
    for seed in 1..600u64 {
        let c = case(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let want = reference(&c.0, &c.1, c.2, c.3);
        assert_eq!(fast(&c), want, "seed {seed}");
        if want { yes += 1 } else { no += 1 }
    }
    assert!(yes > 60 && no > 60, "proven {yes}, not proven {no}");
}

#[test]
fn price_sort_equals_the_decimal_sort() {
    for seed in 1..200u64 {
        let (items, ..) = case(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut want: Vec<usize> = (0..items.len()).collect();
        let mut got = want.clone();
        want.sort_by(|&a, &b| items[b].price.cmp(&items[a].price).then(a.cmp(&b)));
        sort_by_price_desc(&items, &mut got);
        assert_eq!(got, want);
    }
}

#[test]
fn reciprocal_of_one_is_one_bit_for_bit() {
    let one = Decimal::ONE.checked_div(Decimal::ONE).unwrap();
    assert_eq!(
        one.serialize(),
        super::super::recip(Decimal::ONE).serialize()
    );
    let third = Decimal::ONE / Decimal::from(3);
    assert_eq!(super::super::recip(Decimal::from(3)), third);
}
