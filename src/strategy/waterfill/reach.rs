//! A first guess of how far a water-fill reaches, so that only those levels are sorted.
//!
//! Why: [`super::common_level`] used to find the levels a fill moves by selecting windows of
//! 256, 1024, 4096, … levels, each selection a pass over every level with Decimal-keyed
//! comparisons: a 10^5-row deposit that reaches 12,650 assets ran four of them (~50 M
//! instructions of a ~77 M water-fill). The water-fill iteration on the integer parts of the
//! levels gives the reach in a few cheap passes instead.
//!
//! The guess never changes the result: it only decides which keys are sorted first, and
//! `common_level` widens past them exactly as before when the level passes them. For equal
//! weights it is a true bound, so that no widening happens: for any set `C` of levels,
//! `U = (A + Σ_C l_i) / |C|` (with `A` the amount per unit of weight) has
//! `Σ_{l_i < U} (U − l_i) ≥ Σ_C (U − l_i) = A`, so a fill never rises above `U` (and a drain,
//! symmetrically, never falls below `(Σ_C l_i − A) / |C|`). Rounding `A` and each `l_i` to
//! integers in the safe direction keeps the bound, and keeping only the levels on the near
//! side of it each round tightens it (the terms dropped were not positive).
use std::cmp::Ordering;

use super::Keyed;

/// Rounds of the iteration; any round's bound holds, later ones are only tighter.
const ROUNDS: usize = 8;

/// Moves the keys a fill (`rising`) or drain of `amount` (per unit of weight, rounded up)
/// reaches to the front of `keyed`, sorted in `order`, with the next key in `order` right
/// after them; returns how many there are (0: no guess, the caller selects as before).
/// `amount` is at the scale of the keys' prefixes ([`Keyed::prefix`]: `⌊level⌋`, or the
/// level itself at a common scale); the bound holds for either, since a prefix at a scale
/// is the floor of the level at that scale.
pub(super) fn presort<K: Keyed>(
    keyed: &mut [K],
    amount: i128,
    rising: bool,
    order: impl Fn(&K, &K) -> Ordering + Copy,
) -> usize {
    let n = keyed.len();
    if n == 0 {
        return 0;
    }
    let mut m = n;
    for _ in 0..ROUNDS {
        let (Some(sum), Ok(c)) = (sum_floors(&keyed[..m]), i128::try_from(m)) else {
            return 0;
        };
        // Rising: levels below ⌈(A + Σ(⌊l⌋ + 1)) / c⌉; falling: at or above ⌊(Σ⌊l⌋ − A) / c⌋.
        let bound = if rising {
            (amount + sum + c + c - 1).div_euclid(c)
        } else {
            (sum - amount).div_euclid(c)
        };
        let mut kept = 0;
        for i in 0..m {
            let f = keyed[i].prefix();
            if (rising && f < bound) || (!rising && f >= bound) {
                keyed.swap(i, kept);
                kept += 1;
            }
        }
        let done = kept == m;
        m = kept;
        if done || m == 0 {
            break;
        }
    }
    if m == 0 {
        return 0;
    }
    // The keys kept are those on the near side of an integer bound on `⌊level⌋`: the first
    // `m` in `order`, which compares `⌊level⌋` first. The next one is the least of the rest.
    if m < n
        && let Some(next) = (m..n).min_by(|&x, &y| order(&keyed[x], &keyed[y]))
    {
        keyed.swap(m, next);
    }
    keyed[..m].sort_unstable_by(order);
    m
}

/// `Σ ⌊l_i⌋` (each below 2^96 in magnitude, so 10^5 of them fit easily; checked anyway).
fn sum_floors<K: Keyed>(keys: &[K]) -> Option<i128> {
    keys.iter()
        .try_fold(0i128, |s, k| s.checked_add(k.prefix()))
}
