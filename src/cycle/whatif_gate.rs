//! The what-if gate of submit mode: every order is previewed (`…/orders/whatif`) right before
//! it is placed, and refused when the preview says it is not the order pbal thinks it is.
//!
//! Why: stage mode shows the what-if to a human; submit mode has nobody to look. The guards
//! check pbal's own numbers (caps, prices), but only IBKR knows the account's margin, its
//! restrictions and its view of the order. A preview that returns an error, a warning nobody
//! allowed, or a margin requirement jumping by a large share of the equity (a cash rebalance
//! barely moves it) means something is off — a wrong account type, a price far from the
//! market, an order much larger than intended — and the order is not placed.
//!
//! Every preview is kept in the journal as an event of kind [`EVENT_KIND`] (payload: cOID,
//! leg, symbol, side, the what-if as the broker returned it, the verdict and the percentages),
//! so the approval page and the run report can show what IBKR predicted for each order.
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::broker::Broker;
use super::planning::Leg;
use super::{Cycle, CycleError};

/// The journal event kind of a what-if preview.
pub const EVENT_KIND: &str = "whatif";

/// What the gate concluded for one preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `None`: the order may be placed; `Some`: why it is refused (names order, number, limit).
    pub refusal: Option<String>,
    /// Initial-margin increase as a percentage of equity, when the preview reported both.
    pub margin_change_pct: Option<Decimal>,
    /// Equity decrease as a percentage of equity, when the preview reported both.
    pub equity_change_pct: Option<Decimal>,
}

/// A decimal from the broker's what-if JSON (a string or a number), `None` when absent.
fn dec(v: &Value, key: &str) -> Option<Decimal> {
    match v.get(key)? {
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Whether a what-if warning is allowed. Its id is the code before the first `/`
/// (`21/You are trying to submit an order without having market data`); IBKR names order
/// messages `o<code>`, so `o21` on `orders.prompt_allowlist` allows it, exactly as for reply
/// prompts. A warning without a code is never allowed.
fn warning_allowed(warn: &str, allow: &[String]) -> bool {
    let Some((code, _)) = warn.split_once('/') else {
        return false;
    };
    let code = code.trim();
    if code.is_empty() {
        return false;
    }
    allow.iter().map(|a| a.trim()).any(|a| {
        !a.is_empty()
            && (a.eq_ignore_ascii_case(code)
                || (code.chars().all(|c| c.is_ascii_digit())
                    && a.len() == code.len() + 1
                    && a[..1].eq_ignore_ascii_case("o")
                    && &a[1..] == code))
    })
}

fn pct(part: Decimal, whole: Decimal) -> Decimal {
    (part / whole * Decimal::ONE_HUNDRED)
        .round_dp(2)
        .normalize()
}

/// Judges one preview (pure). `order` names the order in messages (`BUY 10 VTI`).
pub fn judge(order: &str, whatif: &Value, allow: &[String], limit_pct: Decimal) -> Verdict {
    let mut verdict = Verdict {
        refusal: None,
        margin_change_pct: None,
        equity_change_pct: None,
    };
    let refuse = |why: String| Some(format!("{order}: not placed: {why}"));
    if let Some(e) = text(whatif, "error") {
        verdict.refusal = refuse(format!("the what-if preview returned an error: {e}"));
        return verdict;
    }
    if let Some(w) = text(whatif, "warn")
        && !warning_allowed(&w, allow)
    {
        verdict.refusal = refuse(format!(
            "the what-if preview warns \"{w}\" and its id is not on orders.prompt_allowlist"
        ));
        return verdict;
    }
    let Some(equity) = dec(whatif, "equity_current").filter(|e| *e > Decimal::ZERO) else {
        verdict.refusal = refuse(
            "the what-if preview reported no equity, so its margin change cannot be checked"
                .to_owned(),
        );
        return verdict;
    };
    let margin = dec(whatif, "initial_change").map(|c| pct(c.max(Decimal::ZERO), equity));
    let equity_drop = dec(whatif, "equity_change").map(|c| pct((-c).max(Decimal::ZERO), equity));
    verdict.margin_change_pct = margin;
    verdict.equity_change_pct = equity_drop;
    if let Some(m) = margin.filter(|m| *m > limit_pct) {
        verdict.refusal = refuse(format!(
            "the what-if preview raises the initial margin by {} ({m}% of equity {}), above \
             orders.max_margin_change_pct {limit_pct}%",
            dec(whatif, "initial_change").unwrap_or_default(),
            equity
        ));
    } else if let Some(d) = equity_drop.filter(|d| *d > limit_pct) {
        verdict.refusal = refuse(format!(
            "the what-if preview lowers equity by {} ({d}% of equity {}), above \
             orders.max_margin_change_pct {limit_pct}%",
            -dec(whatif, "equity_change").unwrap_or_default(),
            equity
        ));
    }
    verdict
}

impl<B: Broker> Cycle<B> {
    /// Previews `leg` and journals the preview; returns why it must not be placed, if so.
    /// A preview that fails is a refusal too (fail closed), except a lost session, which
    /// stops the run with the intent unsent (it is resumed, and previewed again, later).
    pub(crate) async fn whatif_refusal(
        &self,
        account: &str,
        run_id: &str,
        leg: &Leg,
    ) -> Result<Option<String>, CycleError> {
        let order = leg.order_request(run_id);
        let name = format!("{} {} {}", leg.side.as_str(), leg.quantity, leg.symbol);
        let (whatif, verdict) = match self.broker.whatif(account, &order).await {
            Ok(w) => {
                let o = &self.settings.orders;
                let v = judge(&name, &w, &o.prompt_allowlist, o.max_margin_change_pct);
                (w, v)
            }
            Err(e) if e.is_session_lost() => return Err(e.into()),
            Err(e) => (
                json!({ "error": e.to_string() }),
                Verdict {
                    refusal: Some(format!(
                        "{name}: not placed: the what-if preview failed ({e})"
                    )),
                    margin_change_pct: None,
                    equity_change_pct: None,
                },
            ),
        };
        let payload = json!({
            "coid": order.coid,
            "leg": leg.leg,
            "symbol": leg.symbol,
            "side": leg.side.as_str(),
            "quantity": leg.quantity.to_string(),
            "whatif": whatif,
            "passed": verdict.refusal.is_none(),
            "refusal": verdict.refusal,
            "margin_change_pct": verdict.margin_change_pct.map(|d| d.to_string()),
            "equity_change_pct": verdict.equity_change_pct.map(|d| d.to_string()),
            "limit_pct": self.settings.orders.max_margin_change_pct.to_string(),
        });
        let (rid, now) = (run_id.to_owned(), self.clock.now());
        self.journal
            .call(move |j| j.event(Some(&rid), EVENT_KIND, &payload, now))
            .await?;
        if let Some(r) = &verdict.refusal {
            tracing::warn!(coid = %order.coid, refusal = %r, "what-if gate refused the order");
        }
        Ok(verdict.refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn w(initial: &str, equity_change: &str) -> Value {
        json!({"equity_current": "100000", "equity_change": equity_change,
               "initial_change": initial, "warn": null, "error": null})
    }

    #[test]
    fn margin_and_equity_changes_are_bounded_by_the_limit() {
        let ok = judge("BUY 10 VTI", &w("5000", "-1"), &[], dec!(10));
        assert_eq!(ok.refusal, None);
        assert_eq!(ok.margin_change_pct, Some(dec!(5)));
        let v = judge("BUY 30 VTI", &w("12000", "-1"), &[], dec!(10));
        let r = v.refusal.unwrap();
        assert!(
            r.contains("BUY 30 VTI") && r.contains("12%") && r.contains("10%"),
            "{r}"
        );
        // A sell lowers the margin requirement: never refused for it.
        assert_eq!(
            judge("SELL 99 VTI", &w("-60000", "-1"), &[], dec!(10)).refusal,
            None
        );
        let drop = judge("BUY 1 X", &w("0", "-15,000"), &[], dec!(10));
        assert!(drop.refusal.unwrap().contains("lowers equity by 15000"));
    }

    #[test]
    fn errors_unknown_warnings_and_missing_equity_refuse() {
        let mut e = w("0", "0");
        e["error"] = json!("No trading permissions");
        assert!(
            judge("BUY 1 X", &e, &[], dec!(10))
                .refusal
                .unwrap()
                .contains("No trading permissions")
        );
        let mut warn = w("0", "0");
        warn["warn"] = json!("21/You are trying to submit an order without having market data");
        assert!(judge("BUY 1 X", &warn, &[], dec!(10)).refusal.is_some());
        assert!(
            judge("BUY 1 X", &warn, &["o2".to_owned()], dec!(10))
                .refusal
                .is_some()
        );
        assert!(
            judge("BUY 1 X", &warn, &["o21".to_owned()], dec!(10))
                .refusal
                .is_none()
        );
        // The text never allows, only the id.
        assert!(
            judge("BUY 1 X", &warn, &["market data".to_owned()], dec!(10))
                .refusal
                .is_some()
        );
        let mut no_code = w("0", "0");
        no_code["warn"] = json!("something odd");
        assert!(
            judge("BUY 1 X", &no_code, &["o21".to_owned()], dec!(10))
                .refusal
                .is_some()
        );
        let none = json!({"amount": 1});
        assert!(
            judge("BUY 1 X", &none, &[], dec!(10))
                .refusal
                .unwrap()
                .contains("no equity")
        );
    }
}
