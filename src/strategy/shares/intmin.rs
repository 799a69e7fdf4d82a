//! [`Item::int_min`] on exact integers.
//!
//! Why: the root proof of never-sell deposits runs on Decimals (the budget binds there, and
//! the cut term divides), and its per-asset integer minimum — three weighted squares of ten
//! Decimal operations — was a third of it (~1,600 instructions an asset, ~1 M of the 7.9 M of
//! a 1e3 never-sell whole-share plan).
//!
//! Why it is exact: the reference computes, per candidate `n` (the clamped floor of
//! `target / P` and the next integer, and `lo`), `v = target − n·P` and then `k·v²` (or `|v|`).
//! Each Decimal operation is exact when its result's mantissa at its natural scale (sum of the
//! scales for a product, the larger for a difference) is below 2^96 and that scale is at most
//! 28, and then returns exactly that mantissa and scale: `n·P` is `(n·m_P, s_P)` (`ZERO` for
//! `n = 0`), `target − n·P` is at `max(s_t, s_P)` (just `target` for `n = 0`), `v·v·k` at
//! `2·s_v + s_k`. Every one of those bounds is checked here, so the integers are the
//! reference's mantissas. The reference's `min` returns the first smallest; comparing the
//! mantissas decides it when all three share one scale, which is required. Anything else —
//! a limit not at scale 0, a zero target, deviation or weight factor (whose zeros Decimal
//! represents its own way), a bound exceeded, a quotient the integers do not take — returns
//! `None`, and the Decimal reference answers.
use rust_decimal::Decimal;

use super::Item;
use crate::strategy::fast::quotient_floor_int;
use crate::strategy::mantissa::{LIMIT, POW10_I, mul_bounded};

fn fit(v: i128) -> Option<i128> {
    (v.unsigned_abs() < LIMIT).then_some(v)
}

impl Item {
    /// [`Item::int_min`] where the integers give its exact result (see the module docs).
    pub(super) fn int_min_fast(&self, target: Decimal, square: bool) -> Option<Decimal> {
        let (mt, st) = (target.mantissa(), target.scale());
        let (mp, sp) = (self.price.mantissa(), self.price.scale());
        let (mk, sk) = (self.k.mantissa(), self.k.scale());
        if mt == 0 || mk <= 0 || self.lo.scale() != 0 || self.hi.scale() != 0 {
            return None;
        }
        let (lo, hi) = (self.lo.mantissa(), self.hi.mantissa());
        let clamp = |n: i128| {
            if n < lo {
                lo
            } else if n > hi {
                hi
            } else {
                n
            }
        };
        let q = quotient_floor_int(target, self.price)?;
        let sv = st.max(sp);
        let t = mul_bounded(mt, POW10_I[(sv - st) as usize])?;
        let up = POW10_I[(sv - sp) as usize];
        let scale = if square { 2 * sv + sk } else { sv };
        if scale > 28 {
            return None;
        }
        let mut best: Option<i128> = None;
        for n in [clamp(q), clamp(q + 1), lo] {
            // `n = 0`: `v` is `target` itself, at `s_t`; one scale for all is required.
            if n == 0 && sv != st {
                return None;
            }
            let v = fit(t - mul_bounded(mul_bounded(n, mp)?, up)?)?;
            if v == 0 {
                return None;
            }
            let m = if square {
                let v2 = mul_bounded(v, v)?;
                if mk == 1 {
                    v2
                } else {
                    fit(v2.checked_mul(mk)?)?
                }
            } else {
                v.abs()
            };
            if best.is_none_or(|b| m < b) {
                best = Some(m);
            }
        }
        best.map(|m| Decimal::from_i128_with_scale(m, scale))
    }
}
