//! The before/after weight chart, as inline SVG.
//!
//! Inline SVG needs no script, no external asset and no inline style (colours are SVG
//! presentation attributes, which a strict `Content-Security-Policy` allows), so the same markup
//! works in the served page and in the self-contained `reports/<run>.html`. It scales to the
//! screen width through its `viewBox`, which keeps it readable on a phone.
//!
//! Geometry is computed in `Decimal` from the plan's exact weights and rounded to 0.1 px once.
use std::fmt::Write as _;

use rust_decimal::{Decimal, RoundingStrategy};

use super::html::esc;
use crate::strategy::PlanLine;

/// Chart width in SVG user units (scaled by the browser).
const WIDTH: i64 = 640;
/// Left column for the symbol.
const LABEL: i64 = 80;
/// Right column for the figures.
const FIGURES: i64 = 170;
/// Height of one asset's row.
const ROW: i64 = 34;
/// Height of the legend above the rows.
const LEGEND: i64 = 24;

/// Colour of the "before" bars.
pub const BEFORE_FILL: &str = "#94a3b8";
/// Colour of the "after" bars.
pub const AFTER_FILL: &str = "#2563eb";
/// Colour of the target markers.
pub const TARGET_STROKE: &str = "#dc2626";

fn px(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

fn pct(w: Decimal) -> Decimal {
    (w * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// One bar pair plus the target marker per plan line, sorted as the plan is (by symbol).
pub fn weights_svg(lines: &[PlanLine]) -> String {
    let bars = Decimal::from(WIDTH - LABEL - FIGURES);
    // Scale so the largest of all weights and targets fills the bar area (at least 5 %).
    let max = lines
        .iter()
        .flat_map(|l| [l.weight_before, l.weight_after, l.target_weight])
        .fold(Decimal::new(5, 2), Decimal::max);
    let x = |w: Decimal| px(Decimal::from(LABEL) + bars * w.max(Decimal::ZERO) / max);
    let height = LEGEND + ROW * lines.len() as i64 + 4;
    let mut s = String::with_capacity(400 + 700 * lines.len());
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="Portfolio weights before and after the plan, with target markers"><title>Weights before and after, with targets</title>"#
    );
    let _ = write!(
        s,
        r##"<g font-family="sans-serif" font-size="12"><rect x="{LABEL}" y="6" width="12" height="10" fill="{BEFORE_FILL}"/><text x="{}" y="15">before</text><rect x="{}" y="6" width="12" height="10" fill="{AFTER_FILL}"/><text x="{}" y="15">after</text><line x1="{}" y1="4" x2="{}" y2="18" stroke="{TARGET_STROKE}" stroke-width="3"/><text x="{}" y="15">target</text></g>"##,
        LABEL + 16,
        LABEL + 70,
        LABEL + 86,
        LABEL + 146,
        LABEL + 146,
        LABEL + 154,
    );
    for (i, l) in lines.iter().enumerate() {
        let top = LEGEND + ROW * i as i64;
        let sym = esc(&l.symbol);
        let (wb, wa, wt) = (
            pct(l.weight_before),
            pct(l.weight_after),
            pct(l.target_weight),
        );
        let (xb, xa, xt) = (x(l.weight_before), x(l.weight_after), x(l.target_weight));
        let _ = write!(
            s,
            r##"<g class="asset" data-symbol="{sym}" font-family="sans-serif" font-size="12"><title>{sym}: {wb}% before, {wa}% after, target {wt}%</title><text x="0" y="{ty}" font-weight="bold">{sym}</text><rect class="before" x="{LABEL}" y="{yb}" width="{wbw}" height="11" fill="{BEFORE_FILL}"/><rect class="after" x="{LABEL}" y="{ya}" width="{waw}" height="11" fill="{AFTER_FILL}"/><line class="target" x1="{xt}" y1="{y1}" x2="{xt}" y2="{y2}" stroke="{TARGET_STROKE}" stroke-width="3"/><text x="{fx}" y="{ty}">{wb}% → {wa}% (target {wt}%)</text></g>"##,
            ty = top + 19,
            yb = top + 4,
            ya = top + 16,
            wbw = px(xb - Decimal::from(LABEL)),
            waw = px(xa - Decimal::from(LABEL)),
            y1 = top + 1,
            y2 = top + 30,
            fx = WIDTH - FIGURES + 6,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(symbol: &str, before: Decimal, after: Decimal, target: Decimal) -> PlanLine {
        PlanLine {
            symbol: symbol.into(),
            conid: None,
            currency: None,
            price: dec!(1),
            unrealized_pnl: dec!(0),
            quantity_before: dec!(0),
            value_before: dec!(0),
            target_weight: target,
            target_value: dec!(0),
            trade_shares: dec!(0),
            trade_value: dec!(0),
            value_after: dec!(0),
            weight_before: before,
            weight_after: after,
        }
    }

    #[test]
    fn one_bar_pair_and_marker_per_asset_scaled_to_the_largest_weight() {
        let svg = weights_svg(&[
            line("VTI", dec!(0.2), dec!(0.5), dec!(0.6)),
            line("B<ND", dec!(0.8), dec!(0.5), dec!(0.4)),
        ]);
        assert_eq!(svg.matches(r#"class="before""#).count(), 2);
        assert_eq!(svg.matches(r#"class="after""#).count(), 2);
        assert_eq!(svg.matches(r#"class="target""#).count(), 2);
        // Largest weight 0.8 fills the 390-unit bar area: 0.2 → 97.5, 0.5 → 243.8.
        assert!(
            svg.contains(r#"class="before" x="80" y="28" width="97.5""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="after" x="80" y="40" width="243.8""#),
            "{svg}"
        );
        // Target 0.6 → x = 80 + 292.5.
        assert!(svg.contains(r#"x1="372.5""#), "{svg}");
        assert!(svg.contains("20% → 50% (target 60%)"), "{svg}");
        // Symbols are escaped.
        assert!(svg.contains("B&lt;ND") && !svg.contains("B<ND"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn tiny_weights_do_not_blow_up_the_scale() {
        let svg = weights_svg(&[line("X", dec!(0), dec!(0.01), dec!(0.01))]);
        // Scale floor 5 %: 1 % is a fifth of the bar area.
        assert!(
            svg.contains(r#"class="after" x="80" y="40" width="78""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="before" x="80" y="28" width="0""#),
            "{svg}"
        );
    }
}
