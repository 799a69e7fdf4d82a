//! Integer shortcuts for the increment planner (`-i N`), each the exact equal of its Decimal
//! reference.
//!
//! Why: at 10^5 rows, `-s try_avoid_sell -i 3` spent ~110 M instructions in the step heap
//! (one sift-down per step plus the per-row Decimal conversions and rounding) and
//! `-s hard_rebalance -i 3` ~78 M in two 128-bit rounding divisions a row. The usual numbers
//! (values with 2–7 decimals, steps of 10^N) fit an `i64` at their common scale, where a
//! division is one machine instruction; anything else takes the Decimal path as before.
use rust_decimal::{Decimal, RoundingStrategy};

use crate::strategy::fast;

/// `10^k` as an `i64`, for `k ≤ 18`.
fn pow10(k: u32) -> Option<i64> {
    10i64.checked_pow(k)
}

/// `(num / den)` rounded half-to-even to an integer, bit for bit what
/// `fast::round_half_even_div(num, den)` returns, falling back to the Decimal division as the
/// planner always did.
///
/// The shortcut: with `num = a·10^−s` and `den = b·10^−t` (both mantissas and both scaled
/// products fitting an `i64`), `num / den = a·10^t / (b·10^s)` is a quotient of two `i64`s,
/// rounded exactly; the Decimal division is exact or errs below any midpoint at these sizes
/// (see [`fast::round_half_even_div`]), so both give the same integer, at scale 0 with a
/// positive zero. A zero numerator is `Decimal::ZERO`, which is what `0 / den` (for `den ≠ 0`)
/// and its rounding return.
pub(crate) fn round_div(num: Decimal, den: Decimal) -> Decimal {
    if let Some(q) = round_div_i64(num, den) {
        return q;
    }
    fast::round_half_even_div(num, den).unwrap_or_else(|| {
        (num / den).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
    })
}

fn round_div_i64(num: Decimal, den: Decimal) -> Option<Decimal> {
    if den.is_sign_negative() || den.is_zero() {
        return None;
    }
    if num.is_zero() {
        return Some(Decimal::ZERO);
    }
    let a = i64::try_from(num.mantissa()).ok()?;
    let b = i64::try_from(den.mantissa()).ok()?;
    let n = a.checked_mul(pow10(den.scale())?)?;
    let d = b.checked_mul(pow10(num.scale())?)?;
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d)); // 0 ≤ r < d: q is the floor
    // `r ≥ d − r` is `2r ≥ d` without overflow.
    let up = r > d - r || (r == d - r && q & 1 == 1);
    Some(Decimal::from_i128_with_scale(
        i128::from(q + i64::from(up)),
        0,
    ))
}

/// `v` as an integer at `scale` decimals (`scale ≥ v.scale()`), when it fits an `i64`: the
/// mantissa times `10^(scale − v.scale())`, exact (no rounding can happen when scaling up).
pub(crate) fn fixed_point(v: Decimal, scale: u32) -> Option<i64> {
    let up = pow10(scale.checked_sub(v.scale())?)?;
    i64::try_from(v.mantissa()).ok()?.checked_mul(up)
}

/// How many steps each asset gets from the buying step heap, without running it.
///
/// The heap pops the least key `(level, pnl, index)`, adds `step` to its level and P&L, and
/// pushes it back, `steps` times. A pushed key is greater than the popped one, so the popped
/// keys never decrease: they are exactly the `steps` least keys of the chains
/// `(v_i + j·step, p_i + j·step, i)`, `j ≥ 0`, and asset `i` gets as many steps as it has keys
/// among them. With `N(L)` = the number of keys whose level is below `L`
/// (`Σ ⌈(L − v_i)/step⌉⁺`), the last popped level is `Λ = max{L : N(L) < steps}`: every key
/// below `Λ` is popped, and of the keys exactly at `Λ` (one per asset at most) the
/// `steps − N(Λ)` least by `(pnl, index)`.
///
/// `Λ` is found by bisection between the least level and an upper bound `U` with
/// `N(U) ≥ steps`: for any set `C` of assets, `U = ⌈(steps·step + Σ_C v_i) / |C|⌉` has
/// `Σ_C (U − v_i) ≥ steps·step`, so `N(U) ≥ steps`. Starting from all assets and keeping
/// those below the last `U` (the water-fill iteration) narrows both `U` and the assets the
/// bisection has to count, usually to the few that the steps reach. `None` when a sum does
/// not fit (the caller runs the heap).
pub(crate) fn buy_counts(v: &[i64], p: &[i64], step: i64, steps: u64) -> Option<Vec<u64>> {
    let mut count = vec![0u64; v.len()];
    if steps == 0 || v.is_empty() || step <= 0 {
        return (step > 0).then_some(count);
    }
    let (cand, upper) = candidates(v, step, steps)?;
    let lowest = cand.iter().map(|&i| v[i as usize]).min()?;
    upper.checked_sub(lowest)?; // every difference below fits
    let below = |l: i64| keys_below(v, &cand, step, l, steps);
    let (mut lo, mut hi) = (lowest, upper); // N(lo) = 0 < steps ≤ N(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if below(mid) < steps {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut taken = 0u64;
    let mut at_level = Vec::new();
    for &i in &cand {
        let i = i as usize;
        if v[i] < lo {
            let gap = lo - v[i];
            count[i] = ((gap - 1) / step + 1) as u64;
            taken += count[i];
        }
        if v[i] <= lo && (lo - v[i]) % step == 0 {
            let j = (lo - v[i]) / step;
            at_level.push((p[i].checked_add(j.checked_mul(step)?)?, i));
        }
    }
    let rest = usize::try_from(steps - taken).ok()?;
    if rest > at_level.len() {
        return None; // cannot happen (N(Λ + 1) ≥ steps); the heap decides if it does
    }
    at_level.select_nth_unstable(rest - 1);
    for &(_, i) in &at_level[..rest] {
        count[i] += 1;
    }
    Some(count)
}

/// The assets a buying run can reach and an upper bound on its last level (see
/// [`buy_counts`]): the water-fill iteration, at most a few rounds (any round's bound holds).
fn candidates(v: &[i64], step: i64, steps: u64) -> Option<(Vec<u32>, i64)> {
    let budget = i128::from(step).checked_mul(i128::from(steps))?;
    let bound = |sum: i128, n: usize| -> Option<i64> {
        let n = i128::try_from(n).ok()?;
        i64::try_from((budget + sum + n - 1).div_euclid(n)).ok()
    };
    let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
    let mut upper = bound(sum, v.len())?;
    let mut cand: Vec<u32> = Vec::new();
    for (i, &x) in v.iter().enumerate() {
        if x < upper {
            cand.push(u32::try_from(i).ok()?);
        }
    }
    for _ in 0..8 {
        let sum: i128 = cand.iter().map(|&i| i128::from(v[i as usize])).sum();
        let next = bound(sum, cand.len())?;
        let before = cand.len();
        cand.retain(|&i| v[i as usize] < next);
        upper = next;
        if cand.len() == before {
            break;
        }
    }
    Some((cand, upper))
}

/// `N(l)`: how many keys lie below level `l`, counting only until `cap` (the bisection only
/// asks whether it is below `steps`).
fn keys_below(v: &[i64], cand: &[u32], step: i64, l: i64, cap: u64) -> u64 {
    let mut n = 0u64;
    for &i in cand {
        let x = v[i as usize];
        if x < l {
            n += ((l - x - 1) / step + 1) as u64;
            if n >= cap {
                return n;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::{Decimal, RoundingStrategy};

    use super::round_div;
    use crate::strategy::fast;

    /// What the planner computed before [`round_div`].
    fn reference(num: Decimal, den: Decimal) -> Decimal {
        fast::round_half_even_div(num, den).unwrap_or_else(|| {
            (num / den).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        })
    }

    fn dec() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            // Small mantissas at any scale, zeros (and negative zeros) included.
            (-10_000i64..10_000, 0u32..12, any::<bool>()).prop_map(|(m, s, neg)| {
                let mut d = Decimal::new(m, s);
                d.set_sign_negative(neg && m == 0 || m < 0);
                d
            }),
            // Midpoints: k + ½ at several scales.
            (-5000i64..5000, 1u32..6)
                .prop_map(|(k, s)| Decimal::new(k * 10 + 5, 1) * Decimal::new(10i64.pow(s), s)),
            // Large and huge mantissas (past `i64`, past 10^26).
            (any::<i64>(), 0u32..20).prop_map(|(m, s)| Decimal::new(m, s)),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                0u32..29
            )
                .prop_map(|(l, m, h, n, s)| Decimal::from_parts(l, m, h, n, s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// The 16-byte representation (scale and sign of zero included) equals the reference.
        #[test]
        fn round_div_equals_reference(num in dec(), den in dec()) {
            // The planner never divides where Decimal division overflows (it would panic).
            prop_assume!(!den.is_zero() && num.checked_div(den).is_some());
            prop_assert_eq!(round_div(num, den).serialize(), reference(num, den).serialize(),
                "{} / {}", num, den);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// Quotients exactly on a midpoint `k + ½`, where only the half-to-even rule decides.
        #[test]
        fn round_div_midpoints_equal_reference(
            k in -100_000i64..100_000, dm in 1i64..1_000_000, ds in 0u32..8, extra in 0u32..4,
        ) {
            let den = Decimal::new(dm, ds);
            // (2k + 1)·dm·5 / 10^(ds+1) = (k + ½)·den, written with `extra` more zeros.
            let num = Decimal::new((2 * k + 1) * dm * 5 * 10i64.pow(extra), ds + 1 + extra);
            prop_assert_eq!(round_div(num, den).serialize(), reference(num, den).serialize(),
                "{} / {}", num, den);
        }
    }

    #[test]
    fn round_div_midpoints_go_to_even() {
        for (n, d, q) in [
            ("2.5", "1", "2"),
            ("3.5", "1", "4"),
            ("-2.5", "1", "-2"),
            ("-3.5", "1", "-4"),
            ("7500", "1000", "8"),
            ("6500", "1000", "6"),
            ("0.00", "3", "0"),
        ] {
            let (n, d): (Decimal, Decimal) = (n.parse().unwrap(), d.parse().unwrap());
            assert_eq!(round_div(n, d).serialize(), reference(n, d).serialize());
            assert_eq!(round_div(n, d).to_string(), q);
        }
    }
}
