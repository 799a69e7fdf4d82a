//! The tax audit as text and as JSON: which lots every sale consumes, their holding period
//! and gain, the ST/LT totals and the budget, and where tax rules held the plan back.
//!
//! JSON numbers are written from the decimal text (never through `f64`), money in cents.
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use super::{LotUse, LotView, TaxAudit};

fn cents(v: Decimal) -> Decimal {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

/// An exact JSON number from a decimal (serde_json keeps the text: arbitrary precision).
fn num(v: Decimal) -> Value {
    serde_json::Number::from_str(&v.normalize().to_string()).map_or(Value::Null, Value::Number)
}

fn money(v: Decimal) -> Value {
    serde_json::Number::from_str(&cents(v).to_string()).map_or(Value::Null, Value::Number)
}

fn opt_money(v: Option<Decimal>) -> Value {
    v.map_or(Value::Null, money)
}

fn lot_use(u: &LotUse) -> Value {
    json!({
        "open": u.open.to_string(),
        "holding_start": u.holding_start.to_string(),
        "term": u.term,
        "shares": num(u.quantity),
        "cost_basis_price": num(u.cost_basis_price),
        "proceeds": money(u.proceeds),
        "gain": money(u.gain),
    })
}

fn lot_view(l: &LotView) -> Value {
    json!({
        "open": l.open.to_string(),
        "holding_start": l.holding_start.to_string(),
        "term": l.term,
        "shares": num(l.quantity),
        "cost_basis_price": num(l.cost_basis_price),
        "unrealized": money(l.unrealized),
    })
}

/// The top-level `tax` object.
pub fn json(t: &TaxAudit) -> Value {
    let sales: Vec<Value> = t
        .sales
        .iter()
        .map(|s| {
            json!({
                "symbol": s.symbol,
                "kind": if s.harvest { "harvest" } else { "rebalance" },
                "shares": num(s.shares),
                "price": num(s.price),
                "realized_short_term": money(s.realized_short_term),
                "realized_long_term": money(s.realized_long_term),
                "lots": s.lots.iter().map(lot_use).collect::<Vec<_>>(),
            })
        })
        .collect();
    let harvests: Vec<Value> = t
        .harvests
        .iter()
        .map(|h| {
            json!({
                "symbol": h.symbol,
                "shares": num(h.shares),
                "loss": money(h.loss),
                "alternate": h.alternate,
                "alternate_shares": num(h.alternate_shares),
                "residual": money(h.residual),
            })
        })
        .collect();
    let limits: Vec<Value> = t
        .limits
        .iter()
        .map(|l| {
            json!({
                "symbol": l.symbol,
                "wanted_shares": num(l.wanted_shares),
                "planned_shares": num(l.planned_shares),
                "reason": l.reason,
                "why": l.reason.describe(),
            })
        })
        .collect();
    json!({
        "as_of": t.as_of.to_string(),
        "lot_method": t.lot_method.as_str(),
        "realized_short_term": money(t.realized_short_term),
        "realized_long_term": money(t.realized_long_term),
        "net_short_term": money(t.net.short_term),
        "net_long_term": money(t.net.long_term),
        "cost": money(t.cost),
        "budget": opt_money(t.budget),
        "budget_left": opt_money(t.budget_left),
        "sales": sales,
        "harvests": harvests,
        "limits": limits,
        "note": "A prediction with IBKR's lot-matching method, not tax advice.",
    })
}

/// Adds the `tax` object, per-position `lots` and `"strategy": "tax-aware"` to a plan's JSON
/// document (as written by `crate::report::write_json`).
pub fn extend_plan_json(doc: &mut Value, t: &TaxAudit) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    obj.insert("strategy".into(), Value::String("tax-aware".into()));
    if let Some(Value::Array(positions)) = obj.get_mut("positions") {
        for p in positions.iter_mut() {
            let Some(p) = p.as_object_mut() else { continue };
            let sym = p.get("symbol").and_then(Value::as_str).unwrap_or("");
            let lots: Vec<Value> = t
                .positions
                .get(sym)
                .map(|v| v.iter().map(lot_view).collect())
                .unwrap_or_default();
            p.insert("lots".into(), Value::Array(lots));
        }
    }
    let mut m = Map::new();
    if let Value::Object(o) = json(t) {
        m = o;
    }
    obj.insert("tax".into(), Value::Object(m));
}

/// The audit as text, printed under the plan table.
pub fn text(t: &TaxAudit) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nTax-aware plan as of {}, lot method {} (IBKR's matching predicted; not tax advice)",
        t.as_of, t.lot_method
    );
    for sale in &t.sales {
        let _ = writeln!(
            s,
            "  {} {} {} @ {}: short-term {}, long-term {}",
            if sale.harvest { "HARVEST" } else { "SELL" },
            sale.shares.normalize(),
            sale.symbol,
            sale.price,
            cents(sale.realized_short_term),
            cents(sale.realized_long_term),
        );
        for u in &sale.lots {
            let _ = writeln!(
                s,
                "      lot opened {} ({}, held since {}): {} @ {} -> {}",
                u.open.date(),
                u.term.as_str(),
                u.holding_start,
                u.quantity.normalize(),
                u.cost_basis_price,
                cents(u.gain),
            );
        }
    }
    for h in &t.harvests {
        let _ = writeln!(
            s,
            "  harvest: {} {} -> {} {} (loss {}, {} left as cash)",
            h.shares.normalize(),
            h.symbol,
            h.alternate_shares.normalize(),
            h.alternate,
            cents(h.loss),
            cents(h.residual),
        );
    }
    let _ = writeln!(
        s,
        "  Realised: short-term {}, long-term {}; after netting short-term {}, long-term {}; cost {}",
        cents(t.realized_short_term),
        cents(t.realized_long_term),
        cents(t.net.short_term),
        cents(t.net.long_term),
        cents(t.cost),
    );
    match (t.budget, t.budget_left) {
        (Some(b), Some(l)) => {
            let _ = writeln!(s, "  Budget: {}, left {}", cents(b), cents(l));
        }
        _ => {
            let _ = writeln!(s, "  Budget: unlimited");
        }
    }
    if !t.limits.is_empty() {
        let _ = writeln!(s, "  Held back by tax rules:");
        for l in &t.limits {
            let _ = writeln!(
                s,
                "    {}: wanted {}, planned {} ({})",
                l.symbol,
                l.wanted_shares.normalize(),
                l.planned_shares.normalize(),
                l.reason.describe(),
            );
        }
    }
    s
}
