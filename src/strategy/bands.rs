//! Drift bands: trade only the assets outside their band, back to the target (`to-target`) or
//! to the band's edge (`to-band`).
//!
//! An asset's band is `±h_i` around its target weight `t_i`, with `h_i = min(abs, rel·t_i)`
//! over the limits that are set (`band_abs_pct`, `band_rel_pct`; the 5/25 rule: "5 points or
//! 25 %, whichever is tighter"). Weights are measured against the portfolio value after the
//! run, `V + B` (`V + c` without a buffer; the buffer stays cash and is not part of the
//! targets). Measuring against `V + B` means an asset that does not trade keeps its weight, so
//! the assets inside their band stay inside.
//!
//! When every asset is inside its band, nothing trades and the plan says why. Otherwise the
//! strategy runs on the assets outside their band only, each aiming at its reference value
//! `R_i` (the target, or the nearer band edge); never-sell deposits consider only the outside
//! assets below their band (it cannot sell the others). The net spend needed is
//! `Σ (R_i − p_i)`; when the cash allows less, the references shrink in proportion (the
//! strategy's usual target scaling), so the budget always holds. A withdrawal is always met:
//! bands do not skip a run that must raise cash, so withdrawals plan as without bands (noted).
use rust_decimal::Decimal;

use super::{
    Outline, PlanError, PlanRequest, Spend, Strategy, Targets, build_plan, investable,
    target_value, target_values, validate,
};
use crate::strategy::types::{BandMode, Bands};

/// The band half-width as a fraction of the portfolio, for target weight `t` (a fraction).
pub(crate) fn half_width(b: &Bands, t: Decimal) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    let abs = (!b.abs_pct.is_zero()).then(|| b.abs_pct / hundred);
    let rel = (!b.rel_pct.is_zero()).then(|| b.rel_pct / hundred * t);
    match (abs, rel) {
        (Some(a), Some(r)) => a.min(r),
        (Some(a), None) => a,
        (None, Some(r)) => r,
        (None, None) => Decimal::MAX,
    }
}

pub(crate) fn plan(req: &PlanRequest) -> Result<Outline<'_>, PlanError> {
    if req.bands.abs_pct < Decimal::ZERO || req.bands.rel_pct < Decimal::ZERO {
        return Err(PlanError::NegativeBand);
    }
    let (assets, weight_sum, total_before) = validate(req, None)?;
    let budget = investable(req);
    if budget < Decimal::ZERO {
        let mut p = super::unbanded(req, None)?;
        p.notes
            .push("bands do not apply to withdrawals: the cash must be raised".into());
        return Ok(p);
    }
    let total = total_before + budget;
    let per = if weight_sum.is_zero() {
        Decimal::ZERO
    } else {
        total / weight_sum
    };
    let (outside, kept_above) = outside_bands(req, &assets, weight_sum, total, per);
    let spend = if outside.is_empty() {
        vec![Spend::NONE; assets.len()]
    } else {
        return sub_plan(req, assets, weight_sum, total_before, budget, &outside);
    };
    let targets = target_values(&assets, weight_sum, total, per);
    let mut p = build_plan(req, assets, weight_sum, targets, total_before, spend, true);
    // Say "within" only when it is true: an overweight asset never-sell cannot sell is
    // outside its band, and the note must not claim otherwise.
    p.notes.push(if kept_above.is_empty() {
        format!(
            "every asset is within its band ({}); nothing to trade",
            describe(&req.bands)
        )
    } else {
        format!(
            "{} above its band ({}) and never-sell does not sell; no asset is below its band; \
             nothing to trade",
            kept_above.join(", "),
            describe(&req.bands)
        )
    });
    Ok(p)
}

/// Each asset outside its band, with the value it trades to (`to-target` or `to-band`), and
/// the overweight assets outside their band that never-sell leaves alone.
fn outside_bands<'a>(
    req: &PlanRequest,
    assets: &[super::Asset<'a>],
    weight_sum: Decimal,
    total: Decimal,
    per: Decimal,
) -> (Vec<(usize, Decimal)>, Vec<&'a str>) {
    let mut outside: Vec<(usize, Decimal)> = Vec::new();
    // Overweight assets outside their band that never-sell leaves alone.
    let mut kept_above: Vec<&str> = Vec::new();
    for (i, a) in assets.iter().enumerate() {
        let t = target_value(a.weight, weight_sum, total, per);
        let h = half_width(&req.bands, a.weight / weight_sum).saturating_mul(total);
        let dev = a.value - t;
        if dev.abs() <= h {
            continue;
        }
        // Never-sell deposits cannot bring an overweight asset back.
        if req.strategy == Strategy::NeverSell && dev > Decimal::ZERO {
            kept_above.push(a.symbol);
            continue;
        }
        let reference = match req.bands.mode {
            BandMode::ToTarget => t,
            BandMode::ToBand if dev > Decimal::ZERO => t + h,
            BandMode::ToBand => t - h,
        };
        outside.push((i, reference));
    }
    (outside, kept_above)
}

fn describe(b: &Bands) -> String {
    let mut parts = Vec::new();
    if !b.abs_pct.is_zero() {
        parts.push(format!("±{} points", b.abs_pct.normalize()));
    }
    if !b.rel_pct.is_zero() {
        parts.push(format!("±{} % of the target", b.rel_pct.normalize()));
    }
    parts.join(" or ")
}

/// Runs the strategy on the outside assets, aiming at their references, and maps the result
/// back onto the whole portfolio.
fn sub_plan<'a>(
    req: &PlanRequest,
    assets: Vec<super::Asset<'a>>,
    weight_sum: Decimal,
    total_before: Decimal,
    budget: Decimal,
    outside: &[(usize, Decimal)],
) -> Result<Outline<'a>, PlanError> {
    let held: Decimal = outside.iter().map(|&(i, _)| assets[i].value).sum();
    let refs: Decimal = outside.iter().map(|&(_, r)| r).sum();
    let needed = refs - held;
    // One map, not a search of every holding per outside asset: with most of 10^5 assets
    // outside their band that search took ~10 s. Symbols are unique (validated).
    let index: std::collections::HashMap<&str, &super::Holding> = req
        .holdings
        .iter()
        .map(|h| (h.symbol.as_str(), h))
        .collect();
    let by_symbol = |sym: &str| index.get(sym).map(|h| (*h).clone());
    let holdings = outside
        .iter()
        .filter_map(|&(i, _)| by_symbol(assets[i].symbol))
        .collect();
    let targets = if refs.is_zero() {
        // Only zero-target holdings are out: the references are all zero.
        Targets::Equal
    } else {
        Targets::Weights(
            outside
                .iter()
                .map(|&(i, r)| (assets[i].symbol.to_string(), r))
                .collect(),
        )
    };
    let sub = PlanRequest {
        holdings,
        targets,
        cash: needed.min(budget),
        buffer: Decimal::ZERO,
        min_trade_value: req.min_trade_value,
        strategy: req.strategy,
        granularity: req.granularity,
        sell_fractional_remainders: req.sell_fractional_remainders,
        bands: Bands::default(),
        minimise: req.minimise,
    };
    let sp = super::plan(&sub)?;
    let mut spend = vec![Spend::NONE; assets.len()];
    for line in &sp.lines {
        if let Ok(i) = assets.binary_search_by(|a| a.symbol.cmp(&line.symbol)) {
            spend[i] = Spend::Value(line.trade_value, line.trade_shares);
        }
    }
    let total = total_before + budget;
    let per = if weight_sum.is_zero() {
        Decimal::ZERO
    } else {
        total / weight_sum
    };
    let targets = target_values(&assets, weight_sum, total, per);
    let mut p = build_plan(
        req,
        assets,
        weight_sum,
        targets,
        total_before,
        spend,
        sp.proven_optimal,
    );
    p.notes = sp.notes;
    let mode = match req.bands.mode {
        BandMode::ToTarget => "to their targets",
        BandMode::ToBand => "to their band edges",
    };
    p.notes.push(format!(
        "{} asset(s) outside their band ({}) trade {mode}; the others do not trade",
        outside.len(),
        describe(&req.bands)
    ));
    Ok(p)
}
