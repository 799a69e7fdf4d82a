//! A human's settlement of an order whose fate the gateway can no longer tell
//! (`pbal orders resolve`), and the list of open orders a human looks at first.
//!
//! Why in the journal: the settlement changes what pbal believes about money (an order that
//! never filled vs. one that did), so it is written like everything else pbal decides — in one
//! transaction with an audit event naming who decided, when, and what the gateway said.
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::intents::{IntentState, OrderIntent};
use super::{Journal, Result, ts};

/// An order whose fate is open, with when it was written and last changed.
#[derive(Debug, Clone, Serialize)]
pub struct OpenOrder {
    #[serde(flatten)]
    pub intent: OrderIntent,
    pub created_at: String,
    pub updated_at: String,
}

/// A human's decision about one order.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub coid: &'a str,
    /// `Filled` or `Cancelled`.
    pub state: IntentState,
    /// Who decided: the OS user and uid.
    pub by: &'a str,
    /// What the gateway said when asked (or why it was not asked).
    pub gateway: &'a str,
}

impl Journal {
    /// Open intents (intent, unknown, working), oldest first, with their times.
    pub fn open_orders(&self) -> Result<Vec<OpenOrder>> {
        let intents = self.open_intents()?;
        self.with(|c| {
            let mut st =
                c.prepare("SELECT created_at, updated_at FROM order_intents WHERE coid = ?1")?;
            let mut out = Vec::with_capacity(intents.len());
            for intent in intents {
                let (created_at, updated_at) = st.query_row([&intent.coid], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                out.push(OpenOrder {
                    intent,
                    created_at,
                    updated_at,
                });
            }
            Ok(out)
        })
    }

    /// Records a human's settlement of an open intent, with an `order-resolved` audit event, in
    /// one transaction. Returns `false` (and changes nothing) when the intent is not open any
    /// more — e.g. a run settled it from the gateway's answer meanwhile.
    pub fn resolve_intent(&self, r: &Resolution<'_>, now: DateTime<Utc>) -> Result<bool> {
        let note = format!(
            "resolved as {} by {} at {} (gateway: {})",
            r.state.as_str(),
            r.by,
            ts(now),
            r.gateway
        );
        self.with(|c| {
            let tx = c.transaction()?;
            let before: Option<(String, String)> = tx
                .query_row(
                    "SELECT state, run_id FROM order_intents WHERE coid = ?1",
                    [r.coid],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .ok();
            // A filled order filled in full: that is what the human asserts.
            let n = tx.execute(
                "UPDATE order_intents SET state = ?2, last_error = ?3, updated_at = ?4,
                     filled_qty = CASE WHEN ?2 = 'filled' THEN quantity ELSE filled_qty END
                 WHERE coid = ?1 AND state IN ('intent', 'unknown', 'working')",
                params![r.coid, r.state.as_str(), note, ts(now)],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let (previous, run_id) = before.unwrap_or_default();
            let payload = serde_json::json!({
                "coid": r.coid, "as": r.state.as_str(), "by": r.by,
                "previous_state": previous, "gateway": r.gateway,
            });
            tx.execute(
                "INSERT INTO events (at, run_id, kind, payload_json) VALUES (?1, ?2, 'order-resolved', ?3)",
                params![ts(now), run_id, payload.to_string()],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(coid: &str, state: IntentState) -> OrderIntent {
        OrderIntent {
            coid: coid.into(),
            run_id: "R".into(),
            leg: 0,
            account_id: "DU1".into(),
            conid: 1,
            symbol: "VTI".into(),
            sec_type: "STK".into(),
            side: "BUY".into(),
            quantity: "3".into(),
            order_type: "LMT".into(),
            limit_price: Some("10".into()),
            tif: "DAY".into(),
            state,
            gateway_order_id: Some("7".into()),
            filled_qty: None,
            avg_price: None,
            last_error: None,
        }
    }

    #[test]
    fn a_resolution_settles_an_open_order_once_and_leaves_an_audit_event() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open_in(dir.path()).unwrap();
        let now = Utc::now();
        j.begin_run("R", "manual", "submit", None, now).unwrap();
        j.insert_intent(&intent("a", IntentState::Unknown), now)
            .unwrap();
        let mut b = intent("b", IntentState::Filled);
        b.leg = 1;
        j.insert_intent(&b, now).unwrap();
        let open = j.open_orders().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].intent.coid, "a");
        let r = Resolution {
            coid: "a",
            state: IntentState::Filled,
            by: "alice (uid 1000)",
            gateway: "cannot tell",
        };
        assert!(j.resolve_intent(&r, now).unwrap());
        let a = j.intent("a").unwrap().unwrap();
        assert_eq!(a.state, IntentState::Filled);
        assert_eq!(a.filled_qty.as_deref(), Some("3"));
        assert!(a.last_error.unwrap().contains("by alice (uid 1000)"));
        // Already settled, or never open: nothing changes.
        assert!(!j.resolve_intent(&r, now).unwrap());
        assert!(
            !j.resolve_intent(
                &Resolution {
                    coid: "b",
                    ..r.clone()
                },
                now
            )
            .unwrap()
        );
        assert!(
            !j.resolve_intent(&Resolution { coid: "zz", ..r }, now)
                .unwrap()
        );
        let events = j.events(Some("R")).unwrap();
        let resolved: Vec<_> = events.iter().filter(|e| e.1 == "order-resolved").collect();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].2["previous_state"], "unknown");
        assert_eq!(resolved[0].2["by"], "alice (uid 1000)");
        assert!(j.open_orders().unwrap().is_empty());
    }
}
