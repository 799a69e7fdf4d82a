//! What IBKR's what-if preview predicts for a staged plan: each order's equity and margin
//! change, and their sum against the account's equity.
//!
//! Why on the approval page: the guards check pbal's own numbers; only IBKR knows the account's
//! margin. A cash rebalance barely moves the margin requirement and costs equity only its
//! commissions; a preview showing a large margin increase or equity drop is the sign that
//! something is off (wrong account type, an order far larger than meant) — the approver should
//! see it before pressing the button.
//!
//! The stored what-if is the broker adapter's JSON per leg (`{"leg", "symbol", "whatif"}`);
//! the change fields (`equity_change`, `initial_change`, `maintenance_change`, and
//! `equity_current`) appear when the gateway reported them. Missing fields show as "–" and the
//! summary is left out when no preview has them, rather than showing zeros nobody measured.
//! IBKR previews each order on its own, so the totals are the sum of separate previews, and
//! the page says so.
use rust_decimal::Decimal;
use serde_json::Value;

use super::html::{esc, money};

/// The what-if of leg `leg` in the stored array (`Null` when there is none).
pub fn for_leg(whatif: &Value, leg: u32) -> Value {
    whatif
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w.get("leg").and_then(Value::as_u64) == Some(u64::from(leg)))
        .and_then(|w| w.get("whatif"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A decimal field of one what-if (a string or a number), `None` when absent.
pub fn field(w: &Value, key: &str) -> Option<Decimal> {
    match w.get(key)? {
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// A table cell's text for `key` ("–" when absent), signed for changes.
pub fn cell(w: &Value, key: &str) -> String {
    match field(w, key) {
        Some(d) if key.ends_with("_change") && d > Decimal::ZERO => format!("+{}", money(d)),
        Some(d) => money(d),
        None => "–".to_owned(),
    }
}

/// The sums over every previewed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub equity_change: Option<Decimal>,
    pub initial_change: Option<Decimal>,
    pub maintenance_change: Option<Decimal>,
    /// The account's equity before the orders (the first preview that reported it).
    pub equity_current: Option<Decimal>,
}

fn add(acc: &mut Option<Decimal>, v: Option<Decimal>) {
    if let Some(v) = v {
        *acc = Some(acc.unwrap_or_default() + v);
    }
}

/// Sums the change fields of every stored preview.
pub fn totals(whatif: &Value) -> Totals {
    let mut t = Totals::default();
    for w in whatif
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.get("whatif"))
    {
        add(&mut t.equity_change, field(w, "equity_change"));
        add(&mut t.initial_change, field(w, "initial_change"));
        add(&mut t.maintenance_change, field(w, "maintenance_change"));
        if t.equity_current.is_none() {
            t.equity_current = field(w, "equity_current");
        }
    }
    t
}

/// One paragraph with the summed equity and margin change (as % of equity when known); empty
/// when no preview reported a change.
pub fn summary(whatif: &Value) -> String {
    let t = totals(whatif);
    let pct = |d: Decimal| match t.equity_current.filter(|e| *e > Decimal::ZERO) {
        Some(e) => format!(
            " ({:+.2}% of equity {})",
            (d / e * Decimal::ONE_HUNDRED).round_dp(2),
            money(e)
        ),
        None => String::new(),
    };
    let mut parts = Vec::new();
    if let Some(d) = t.equity_change {
        parts.push(format!("equity {}{}", signed(d), pct(d)));
    }
    if let Some(d) = t.initial_change {
        parts.push(format!("initial margin {}{}", signed(d), pct(d)));
    }
    if let Some(d) = t.maintenance_change {
        parts.push(format!("maintenance margin {}{}", signed(d), pct(d)));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        r#"<p class="whatif">What-if (IBKR's preview, each order on its own, summed): {}</p>"#,
        esc(&parts.join(" · "))
    )
}

fn signed(d: Decimal) -> String {
    if d > Decimal::ZERO {
        format!("+{}", money(d))
    } else {
        money(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!([
            {"leg": 1, "symbol": "VTI", "whatif": {
                "commission": "1.00", "equity_after": "99999",
                "equity_current": "100000", "equity_change": "-1",
                "initial_change": "2500", "maintenance_change": "2000"}},
            {"leg": 2, "symbol": "BND", "whatif": {
                "equity_current": "100000", "equity_change": "-1.5",
                "initial_change": "-500", "maintenance_change": null}},
            {"leg": 3, "symbol": "VXUS", "whatif": {"error": "no market data"}},
        ])
    }

    #[test]
    fn sums_the_changes_and_relates_them_to_equity() {
        let t = totals(&stored());
        assert_eq!(t.equity_change, Some(Decimal::new(-25, 1)));
        assert_eq!(t.initial_change, Some(Decimal::from(2000)));
        assert_eq!(t.maintenance_change, Some(Decimal::from(2000)));
        let s = summary(&stored());
        assert!(s.contains("equity -2.50 ("), "{s}");
        assert!(
            s.contains("initial margin +2000.00 (+2.00% of equity 100000.00)"),
            "{s}"
        );
        assert!(s.contains("maintenance margin +2000.00"), "{s}");
        assert!(s.contains("each order on its own"), "{s}");
    }

    #[test]
    fn cells_are_signed_and_missing_fields_are_dashes() {
        let w = for_leg(&stored(), 1);
        assert_eq!(cell(&w, "initial_change"), "+2500.00");
        assert_eq!(cell(&w, "equity_change"), "-1.00");
        assert_eq!(cell(&for_leg(&stored(), 3), "initial_change"), "–");
        assert_eq!(for_leg(&stored(), 9), Value::Null);
    }

    #[test]
    fn no_summary_without_reported_changes() {
        let old = json!([{"leg": 1, "symbol": "VTI", "whatif": {"commission": "1", "equity_after": "5"}}]);
        assert_eq!(summary(&old), "");
        assert_eq!(totals(&old), Totals::default());
    }
}
