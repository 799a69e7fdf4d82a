//! `hard_rebalance -i N` rows on 64-bit integers.
//!
//! Why: the `Decimal` row ([`super::hard_row`]) is a subtraction aligning the target's
//! decimals, two rounded divisions, a product and two comparisons across scales; at 10^5 rows
//! that was ~400 instructions a row. Here the target and the step become integers once per
//! target, so a row is a subtraction, two 64-bit divisions and a few comparisons.
//!
//! Why it is exact: every quantity is the reference's own value in units of `10^-w`
//! (`w` = the larger of the target's and the value's scale), and the two roundings are the
//! ones `int::round_div` makes on its `i64` path, which is exact (half to even): a row is
//! taken here only when that path would be taken for both divisions (all operands within
//! `i64`), so both give the same integer. Where the result is a choice between two equal
//! values of different representation (a sale of exactly the holding's value or quantity, a
//! zero holding) the row goes to the reference, which decides it as it always did. Property
//! tests compare both on random rows.
use rust_decimal::Decimal;

use super::int::fixed_point;
use crate::strategy::Asset;
use crate::strategy::mantissa::POW10_I;

/// The integer rows of one plan: the last target (and value scale) seen, in integers.
pub(super) struct Rows {
    step: Decimal,
    /// The last target's bits and value scale, and its integers (`None`: not on this path).
    last: Option<(Key, Option<Target>)>,
}

/// A target's bits and the value scale it was converted for.
type Key = ([u8; 16], u32);

impl Rows {
    pub(super) fn new(step: Decimal) -> Rows {
        Rows { step, last: None }
    }

    /// The row's (value traded, shares traded) for target `t`, or `None` for the reference.
    #[inline]
    pub(super) fn row(&mut self, a: &Asset, t: Decimal) -> Option<(Decimal, Decimal)> {
        let key = (t.serialize(), a.value.scale());
        match &self.last {
            Some((k, target)) if *k == key => target.as_ref()?.row(a),
            _ => {
                let target = Target::new(t, self.step, a.value.scale());
                let out = target.as_ref().and_then(|x| x.row(a));
                self.last = Some((key, target));
                out
            }
        }
    }
}

/// One target and step in integers: what every row of that target shares.
struct Target {
    /// Units: `10^-w`.
    w: u32,
    /// The target in units.
    t: i64,
    /// `step·10^w`: the divisor of `(t − v)/step` on `round_div`'s path.
    den: i64,
    /// `10^(step scale)`: `round_div` multiplies the dividend's mantissa by it.
    step_up: i64,
    /// The step's mantissa and scale (the value traded is `n·step`).
    step_m: i64,
    step_scale: u32,
    /// `10^(w − step scale)`: a traded value `n·step` in units.
    x_up: i64,
}

impl Target {
    /// `None` when the target or the step does not fit the integer path (every row of this
    /// target then goes to the reference).
    fn new(t: Decimal, step: Decimal, value_scale: u32) -> Option<Target> {
        let w = t.scale().max(value_scale);
        if step.is_sign_negative() || step.is_zero() || step.scale() > w {
            return None;
        }
        let up = |k: u32| POW10_I.get(k as usize).and_then(|&p| i64::try_from(p).ok());
        let step_m = i64::try_from(step.mantissa()).ok()?;
        Some(Target {
            w,
            t: fixed_point(t, w)?,
            den: step_m.checked_mul(up(w)?)?,
            step_up: up(step.scale())?,
            step_m,
            step_scale: step.scale(),
            x_up: up(w - step.scale())?,
        })
    }

    /// The row's (value traded, shares traded), or `None` for the reference to decide.
    #[inline]
    fn row(&self, a: &Asset) -> Option<(Decimal, Decimal)> {
        if a.value.scale() > self.w || a.value.mantissa() <= 0 || a.quantity.mantissa() <= 0 {
            return None; // a zero or odd holding: the reference
        }
        let v = fixed_point(a.value, self.w)?;
        // `round_div(t − v, step)`: `(d·10^ss) / (step_m·10^w)`, half to even.
        let d = self.t.checked_sub(v)?;
        let n = round_half_even(d.checked_mul(self.step_up)?, self.den);
        if n == 0 {
            return Some((Decimal::ZERO, Decimal::ZERO));
        }
        // `x = n·step`, at the step's scale; a sale of more than the value is the reference's.
        let x = n.checked_mul(self.step_m)?;
        if x.checked_mul(self.x_up)? <= -v {
            return None;
        }
        // `round_div(x, price)`: `(x·10^ps) / (price_m·10^ss)`, half to even.
        let (pm, ps) = (i64::try_from(a.price.mantissa()).ok()?, a.price.scale());
        let num = x.checked_mul(i64::try_from(*POW10_I.get(ps as usize)?).ok()?)?;
        let den = pm.checked_mul(self.step_up)?;
        if den <= 0 {
            return None;
        }
        let k = round_half_even(num, den);
        // A sale of the whole holding or more: the reference (it returns `−quantity`).
        if k < 0 && !holds_more(a.quantity, k.unsigned_abs()) {
            return None;
        }
        // `k.max(−quantity)` is `k` now (`quantity > 0`); a zero `k` is `Decimal::ZERO`.
        let shares = Decimal::from(k);
        Some((
            Decimal::from_i128_with_scale(i128::from(x), self.step_scale),
            shares,
        ))
    }
}

/// `num / den` rounded half to even, for `den > 0` (as `int::round_div`'s `i64` path).
#[inline]
fn round_half_even(num: i64, den: i64) -> i64 {
    let (q, r) = (num.div_euclid(den), num.rem_euclid(den));
    let up = r > den - r || (r == den - r && q & 1 == 1);
    q + i64::from(up)
}

/// Whether the holding `q > 0` exceeds `k` shares (so a sale of `k` stays within it).
#[inline]
fn holds_more(q: Decimal, k: u64) -> bool {
    let p = POW10_I[q.scale() as usize] as u128;
    u128::from(k)
        .checked_mul(p)
        .is_some_and(|bound| q.mantissa() as u128 > bound)
}

#[cfg(test)]
#[path = "hard_tests.rs"]
mod tests;
