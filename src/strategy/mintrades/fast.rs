//! The start of a fewest-trades plan on integers, for the common run whose start fits the
//! cash (no covering search).
//!
//! Why: at 10^5 rows the `Decimal` start cost ~1,000 instructions a row: three 28-digit
//! subtractions, two exact floor divisions whose operands carry the band edges' ~20 decimals
//! (128-bit divisions), a floor of the 28-digit quantity, comparisons, and the spend's product
//! twice. Here each band edge becomes, once per weight and price scale, an integer in units
//! of the price's last digit, so a row is two 64-bit floor divisions and a product.
//!
//! Why it is exact: for a price of scale `ps`, a value of scale `vs`, `u = max(ps, vs)` and
//! an edge `e`, `⌊(e − v)/p⌋ = ⌊(⌊e·10^u⌋ − v·10^u) / p·10^u⌋`, because `v·10^u` and `p·10^u`
//! are integers and `⌊y/m⌋ = ⌊⌊y⌋/m⌋` for a positive integer `m`; likewise with `⌈·⌉` for the
//! lower edge. That equals the `Decimal` reference ([`super::row_box`]) whenever its
//! subtractions are exact (both aligned mantissas below 2^95, so the sum fits 96 bits) and
//! its floor divisions take their exact integer path (denominator within `i128`, quotient
//! below 10^15); a row outside those bounds, or one whose result depends on a zero's sign or
//! on the holding's floor, is planned by the reference itself. The budget test compares
//! exact integer sums and gives up (`None`, the caller's search runs) when the start does
//! not fit. Property tests compare it with the reference.
use rust_decimal::Decimal;

use super::{Band, nearest_zero, row_box};
use crate::strategy::mantissa::POW10;
use crate::strategy::{Asset, Spend};

/// Aligned mantissas below this add to less than 2^96, so `Decimal` adds them exactly.
const HALF: u128 = 1 << 95;
/// The spend is summed at this scale (prices of more decimals go to the reference).
const SUM_SCALE: u32 = 9;
/// Sums below this at [`SUM_SCALE`] are exact `Decimal`s, and so is their difference.
const SUM_LIMIT: u128 = 10u128.pow(27);
/// `floor_div`'s exact integer path gives up at this quotient.
const Q_LIMIT: u128 = 999_999_999_999_999;

/// The plan's spend when every asset starts at the point of its box nearest zero and that
/// start fits `budget`; `None` when the reference must decide (a refusal, or a start that
/// needs the covering search).
pub(super) fn start(
    band: &Band,
    assets: &[Asset],
    targets: &[Decimal],
    budget: Decimal,
) -> Option<Vec<Spend>> {
    let mut edges: Option<Edges> = None;
    let mut spend = Vec::with_capacity(assets.len());
    let (mut sum, mut abs) = (0i128, 0u128);
    for (a, &t) in assets.iter().zip(targets) {
        if !edges.as_ref().is_some_and(|e| e.serves(a, t)) {
            edges = Some(Edges::new(band, a, t)?);
        }
        let e = edges.as_ref()?;
        let (n, value) = match e.int.as_ref().and_then(|i| i.row(a)) {
            Some(row) => row,
            None => {
                let (lo, hi) = row_box(a, e.t, e.h).ok()?;
                let n = nearest_zero(lo, hi);
                (n, n * a.price)
            }
        };
        let v = at_sum_scale(value)?;
        sum = sum.checked_add(v)?;
        abs = abs.checked_add(v.unsigned_abs())?;
        spend.push(Spend::Shares(n, value));
    }
    let b = at_sum_scale(budget)?;
    (abs < SUM_LIMIT && b.unsigned_abs() < SUM_LIMIT && sum <= b).then_some(spend)
}

/// `x`'s mantissa at [`SUM_SCALE`], if it has no more decimals.
#[inline]
fn at_sum_scale(x: Decimal) -> Option<i128> {
    let up = SUM_SCALE.checked_sub(x.scale())?;
    let m = x.mantissa();
    // Unsigned: a checked signed 128-bit product is a library call, an unsigned one inline.
    let v = i128::try_from(m.unsigned_abs().checked_mul(POW10[up as usize])?).ok()?;
    Some(if m < 0 { -v } else { v })
}

/// One band's target and half-width, and their integer form for one price and value scale.
struct Edges {
    key: ([u8; 16], [u8; 16], u32, u32),
    t: Decimal,
    h: Decimal,
    int: Option<IntEdges>,
}

impl Edges {
    fn new(band: &Band, a: &Asset, t: Decimal) -> Option<Edges> {
        let h = band.width(a.weight);
        let (ps, vs) = (a.price.scale(), a.value.scale());
        // `t ± h` as the reference computes them (it would panic where these give `None`).
        let int = IntEdges::new(t.checked_sub(h)?, t.checked_add(h)?, ps, vs);
        Some(Edges {
            key: (a.weight.serialize(), t.serialize(), ps, vs),
            t,
            h,
            int,
        })
    }

    /// Whether these edges are the asset's: same weight and target (bit for bit), same
    /// scales.
    fn serves(&self, a: &Asset, t: Decimal) -> bool {
        self.key
            == (
                a.weight.serialize(),
                t.serialize(),
                a.price.scale(),
                a.value.scale(),
            )
    }
}

/// The band edges in units of `10^-u`, and the operand bounds within which the reference's
/// arithmetic is exact.
struct IntEdges {
    /// `⌈(t − h)·10^u⌉`
    lo: i128,
    /// `⌊(t + h)·10^u⌋`
    hi: i128,
    /// `10^(u − vs)` and `10^(u − ps)`: a value's and a price's mantissa in units of
    /// `10^-u`, `u = max(ps, vs)`.
    up_v: i128,
    up_p: i128,
    /// Largest `|value mantissa|` whose subtractions from both edges are exact.
    vmax: u128,
    /// Largest price mantissa for which `floor_div`'s denominators fit `i128`.
    pmax: u128,
}

impl IntEdges {
    fn new(tl: Decimal, th: Decimal, ps: u32, vs: u32) -> Option<IntEdges> {
        if ps > SUM_SCALE || vs > SUM_SCALE {
            return None;
        }
        let u = ps.max(vs);
        let mut vmax = u128::MAX;
        let mut pmax = u128::MAX;
        for e in [tl, th] {
            let s = e.scale().max(vs);
            let e_up = e
                .mantissa()
                .unsigned_abs()
                .checked_mul(pow10(s - e.scale())?)?;
            if e_up >= HALF {
                return None;
            }
            vmax = vmax.min((HALF - 1) / pow10(s - vs)?);
            pmax = pmax.min(i128::MAX as u128 / pow10(s)?);
        }
        Some(IntEdges {
            lo: -floor_scaled(-tl.mantissa(), tl.scale(), u)?,
            hi: floor_scaled(th.mantissa(), th.scale(), u)?,
            up_v: i128::try_from(pow10(u - vs)?).ok()?,
            up_p: i128::try_from(pow10(u - ps)?).ok()?,
            vmax,
            pmax,
        })
    }

    /// The asset's start and its value, or `None` for the reference to decide.
    #[inline]
    fn row(&self, a: &Asset) -> Option<(Decimal, Decimal)> {
        let (vm, pm) = (a.value.mantissa(), a.price.mantissa());
        if vm.unsigned_abs() > self.vmax || pm <= 0 || pm.unsigned_abs() > self.pmax {
            return None;
        }
        let (v, p) = (vm * self.up_v, pm * self.up_p);
        let hi = floor_div(self.hi - v, p);
        let q_lo = floor_div(v - self.lo, p);
        if hi.unsigned_abs() >= Q_LIMIT || q_lo.unsigned_abs() >= Q_LIMIT || hi == 0 || q_lo == 0 {
            return None; // outside `floor_div`'s integer path, or a zero whose sign matters
        }
        if a.quantity.mantissa() < 0 || (q_lo > 0 && !holds_more(a.quantity, q_lo)) {
            return None; // the holding may bound the sale: the reference floors it
        }
        let lo = -q_lo;
        if lo > hi {
            return None; // a refusal: the reference words it
        }
        let n = if lo > 0 {
            lo
        } else if hi < 0 {
            hi
        } else {
            return Some((Decimal::ZERO, Decimal::ZERO));
        };
        // `|n| < 10^15` and `pm < 2^96`: the unsigned product cannot overflow.
        let value = n.unsigned_abs() * pm.unsigned_abs();
        if value >= 1 << 96 {
            return None;
        }
        let value = if n < 0 {
            -(value as i128)
        } else {
            value as i128
        };
        Some((
            Decimal::from_i128_with_scale(n, 0),
            Decimal::from_i128_with_scale(value, a.price.scale()),
        ))
    }
}

/// Whether whole shares held exceed `k`: `⌊q⌋ > k ⟺ q ≥ k + 1`.
#[inline]
fn holds_more(q: Decimal, k: i128) -> bool {
    let (m, p) = (q.mantissa(), POW10[q.scale() as usize]);
    // Unsigned (`q ≥ 0`, `k ≥ 0` here): inline, where a checked signed product is a call.
    m >= 0
        && (k as u128 + 1)
            .checked_mul(p)
            .is_some_and(|bound| m as u128 >= bound)
}

/// `⌊m·10^(u − s)⌋` for a mantissa `m` of scale `s`.
fn floor_scaled(m: i128, s: u32, u: u32) -> Option<i128> {
    if s >= u {
        Some(m.div_euclid(i128::try_from(pow10(s - u)?).ok()?))
    } else {
        m.checked_mul(i128::try_from(pow10(u - s)?).ok()?)
    }
}

/// `⌊a / b⌋` for `b > 0`, on 64 bits where both fit (a 128-bit division is a library call).
#[inline]
fn floor_div(a: i128, b: i128) -> i128 {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(a), Ok(b)) => i128::from(a.div_euclid(b)),
        _ => a.div_euclid(b),
    }
}

fn pow10(k: u32) -> Option<u128> {
    POW10.get(k as usize).copied()
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
