//! Exposure groups: members share one combined target, split as they are held now.
//!
//! Keeping the current split means the planner moves the group as a whole toward its target
//! and never sells one member to buy another (which could realise gains or break a harvest
//! for nothing). A group held at zero value is split equally.
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use super::TaxError;
use crate::strategy::{Holding, Targets};

/// The targets with every group's combined weight re-split by current value. Returns the
/// input unchanged when there are no groups (so `tax-aware` stays identical to `hard`).
pub fn targets(
    t: &Targets,
    holdings: &[Holding],
    groups: &[(String, Vec<String>)],
) -> Result<Targets, TaxError> {
    if groups.is_empty() {
        return Ok(t.clone());
    }
    let value: HashMap<&str, Decimal> = holdings
        .iter()
        .map(|h| (h.symbol.as_str(), h.value()))
        .collect();
    let mut w: BTreeMap<String, Decimal> = match t {
        Targets::Equal => holdings
            .iter()
            .map(|h| (h.symbol.clone(), Decimal::ONE))
            .collect(),
        Targets::Weights(m) => m.clone(),
    };
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, members) in groups {
        for m in members {
            if !value.contains_key(m.as_str()) {
                return Err(TaxError::Settings(format!(
                    "exposure group {name}: {m} is not among the holdings; add it as a \
                     quantity-0 row with a price"
                )));
            }
            if let Some(other) = seen.insert(m.as_str(), name.as_str()) {
                return Err(TaxError::Settings(format!(
                    "{m} is in exposure groups {other} and {name}; a symbol may be in one group"
                )));
            }
        }
        let total_w: Decimal = members
            .iter()
            .map(|m| w.get(m).copied().unwrap_or_default())
            .sum();
        let total_v: Decimal = members.iter().map(|m| value[m.as_str()]).sum();
        if total_w.is_zero() {
            continue;
        }
        let n = Decimal::from(members.len());
        for m in members {
            let share = if total_v.is_zero() {
                total_w / n
            } else {
                total_w * value[m.as_str()] / total_v
            };
            w.insert(m.clone(), share);
        }
    }
    Ok(Targets::Weights(w))
}

/// The configured groups plus, when harvesting, each symbol with its alternate (joined to
/// the group either already belongs to).
pub fn with_alternates(
    groups: &BTreeMap<String, Vec<String>>,
    alternates: &BTreeMap<String, String>,
    held: impl Fn(&str) -> bool,
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> =
        groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (x, y) in alternates {
        if !held(x) || !held(y) {
            continue;
        }
        let gx = out.iter().position(|(_, m)| m.contains(x));
        let gy = out.iter().position(|(_, m)| m.contains(y));
        match (gx, gy) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), Some(_)) => {} // both grouped elsewhere: the user's groups stand
            (Some(a), None) => out[a].1.push(y.clone()),
            (None, Some(b)) => out[b].1.push(x.clone()),
            (None, None) => out.push((format!("{x}/{y}"), vec![x.clone(), y.clone()])),
        }
    }
    out
}
