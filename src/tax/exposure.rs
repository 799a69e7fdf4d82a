//! Exposure groups: members share one combined target, split as they are held now, and a
//! group may have a cap on its combined weight.
//!
//! Keeping the current split means the planner moves the group as a whole toward its target
//! and never sells one member to buy another (which could realise gains or break a harvest
//! for nothing). A group held at zero value is split equally.
//!
//! A cap bounds what the members' targets add up to (two 6 % targets on GOOG and GOOGL are
//! 12 % of one company; a 10 % cap makes it 10 %). The weight above a cap goes to the targets
//! outside capped groups in proportion to their weights; that can lift another capped group
//! over its own cap, so capping repeats until no group is over (at most once per group).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;

use super::TaxError;
use crate::strategy::{Holding, Targets};

/// The targets with every group's combined weight re-split by current value. Returns the
/// input unchanged when there are no groups (so `tax-aware` stays identical to `hard`).
pub fn targets(
    t: &Targets,
    holdings: &[Holding],
    groups: &[(String, Vec<String>)],
    caps: &BTreeMap<String, Decimal>,
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
    apply_caps(&mut w, groups, caps)?;
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

/// Cuts every capped group's combined weight to its cap (weights become fractions of 1) and
/// gives what was cut to the weights outside capped groups, pro rata.
fn apply_caps(
    w: &mut BTreeMap<String, Decimal>,
    groups: &[(String, Vec<String>)],
    caps: &BTreeMap<String, Decimal>,
) -> Result<(), TaxError> {
    let total: Decimal = w.values().copied().sum();
    if caps.is_empty() || total <= Decimal::ZERO {
        return Ok(());
    }
    let weight_of = |w: &BTreeMap<String, Decimal>, members: &[String]| -> Decimal {
        members.iter().filter_map(|m| w.get(m)).copied().sum()
    };
    // Group name → its capped share; grows until no free group is over its cap.
    let mut fixed: BTreeMap<&str, Decimal> = BTreeMap::new();
    loop {
        let held: BTreeSet<&str> = groups
            .iter()
            .filter(|(n, _)| fixed.contains_key(n.as_str()))
            .flat_map(|(_, m)| m.iter().map(String::as_str))
            .collect();
        let free: Decimal = w
            .iter()
            .filter(|(k, _)| !held.contains(k.as_str()))
            .map(|(_, v)| *v)
            .sum();
        let room = Decimal::ONE - fixed.values().copied().sum::<Decimal>();
        let mut over = Vec::new();
        for (name, members) in groups {
            let Some(cap) = caps
                .get(name)
                .filter(|_| !fixed.contains_key(name.as_str()))
            else {
                continue;
            };
            let share = if free.is_zero() {
                Decimal::ZERO
            } else {
                weight_of(w, members) * room / free
            };
            if share > *cap {
                over.push((name.as_str(), *cap));
            }
        }
        if over.is_empty() {
            if free.is_zero() && room > Decimal::ZERO {
                let names: Vec<&str> = fixed.keys().copied().collect();
                return Err(TaxError::Settings(format!(
                    "exposure caps of {} leave {room} of the portfolio with no target outside                      them; raise a cap or add a target outside the capped groups",
                    names.join(", ")
                )));
            }
            for (k, v) in w.iter_mut() {
                if !held.contains(k.as_str()) {
                    *v = *v * room / free;
                }
            }
            break;
        }
        fixed.extend(over);
    }
    for (name, members) in groups {
        let Some(cap) = fixed.get(name.as_str()) else {
            continue;
        };
        let g = weight_of(w, members);
        for m in members {
            if let Some(v) = w.get_mut(m) {
                *v = *v * *cap / g;
            }
        }
    }
    Ok(())
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
