//! The `order_intents` table: every order written *before* its POST (write-ahead), keyed by
//! the deterministic cOID, so a restarted process reconciles with the gateway instead of
//! submitting twice.
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, Result, ts};

/// States of an order intent. `Intent` is written before the POST; the rest after the gateway
/// answered (or after reconciliation found out what happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentState {
    /// Committed, POST not known to have reached the gateway.
    Intent,
    /// The POST's fate is unknown (timeout, 503, crash mid-call): reconcile before anything else.
    Unknown,
    /// The gateway accepted it (has an order id); not yet terminal.
    Working,
    Filled,
    Cancelled,
    /// The gateway refused it (error text) or a prompt was not on the allowlist.
    Rejected,
    /// pbal decided not to send it (kill switch, guard, stale plan).
    Skipped,
}

impl IntentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Intent => "intent",
            IntentState::Unknown => "unknown",
            IntentState::Working => "working",
            IntentState::Filled => "filled",
            IntentState::Cancelled => "cancelled",
            IntentState::Rejected => "rejected",
            IntentState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "intent" => IntentState::Intent,
            "unknown" => IntentState::Unknown,
            "working" => IntentState::Working,
            "filled" => IntentState::Filled,
            "cancelled" => IntentState::Cancelled,
            "rejected" => IntentState::Rejected,
            "skipped" => IntentState::Skipped,
            // Unreadable states are treated as unknown: reconcile rather than assume.
            _ => IntentState::Unknown,
        }
    }

    /// True when nothing more will happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            IntentState::Filled
                | IntentState::Cancelled
                | IntentState::Rejected
                | IntentState::Skipped
        )
    }
}

/// One order pbal intends to place, exactly as it will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub coid: String,
    pub run_id: String,
    pub leg: u32,
    pub account_id: String,
    pub conid: i64,
    pub symbol: String,
    /// `STK`, `FUND` …
    pub sec_type: String,
    pub side: String,
    /// Decimal text, exact.
    pub quantity: String,
    pub order_type: String,
    pub limit_price: Option<String>,
    pub tif: String,
    pub state: IntentState,
    pub gateway_order_id: Option<String>,
    pub filled_qty: Option<String>,
    pub avg_price: Option<String>,
    pub last_error: Option<String>,
}

impl Journal {
    /// Writes an intent before its POST. Returns `false` (and changes nothing) if an intent
    /// with this cOID already exists — the caller must then reconcile, not submit.
    pub fn insert_intent(&self, intent: &OrderIntent, now: DateTime<Utc>) -> Result<bool> {
        self.with(|c| insert_intent_on(c, intent, now))
    }

    /// Writes a phase's intents in one transaction: after a crash either all of them exist or
    /// none does, so a resumed run never mistakes a half-written phase for a complete one.
    /// Returns how many were new.
    pub fn insert_intents(&self, intents: &[OrderIntent], now: DateTime<Utc>) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut inserted = 0;
            for i in intents {
                inserted += usize::from(insert_intent_on(&tx, i, now)?);
            }
            tx.commit()?;
            Ok(inserted)
        })
    }

    /// Updates an intent's state and what the gateway told us.
    #[allow(clippy::too_many_arguments)]
    pub fn update_intent(
        &self,
        coid: &str,
        state: IntentState,
        gateway_order_id: Option<&str>,
        filled_qty: Option<&str>,
        avg_price: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE order_intents SET state = ?2,
                     gateway_order_id = COALESCE(?3, gateway_order_id),
                     filled_qty = COALESCE(?4, filled_qty),
                     avg_price = COALESCE(?5, avg_price),
                     last_error = COALESCE(?6, last_error),
                     updated_at = ?7
                 WHERE coid = ?1",
                params![
                    coid,
                    state.as_str(),
                    gateway_order_id,
                    filled_qty,
                    avg_price,
                    error,
                    ts(now)
                ],
            )?;
            if n == 0 {
                return Err(JournalError::NotFound {
                    what: "order intent",
                    id: coid.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// One intent by cOID.
    pub fn intent(&self, coid: &str) -> Result<Option<OrderIntent>> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("{INTENT_SELECT} WHERE coid = ?1"),
                [coid],
                intent_from_row,
            )
            .optional()?)
        })
    }

    /// Intents of a run, in leg order.
    pub fn intents_for_run(&self, run_id: &str) -> Result<Vec<OrderIntent>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("{INTENT_SELECT} WHERE run_id = ?1 ORDER BY leg"))?;
            let v = st
                .query_map([run_id], intent_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    /// Every intent whose fate is not final: what start-up reconciliation must resolve
    /// before any new order may be placed.
    pub fn open_intents(&self) -> Result<Vec<OrderIntent>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "{INTENT_SELECT} WHERE state IN ('intent', 'unknown', 'working') ORDER BY created_at, leg"
            ))?;
            let v = st
                .query_map([], intent_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }
}

fn insert_intent_on(c: &Connection, intent: &OrderIntent, now: DateTime<Utc>) -> Result<bool> {
    let n = c.execute(
                "INSERT INTO order_intents (coid, run_id, leg, account_id, conid, symbol, side, quantity, order_type,
                                            limit_price, tif, state, gateway_order_id, created_at, updated_at, sec_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)
                 ON CONFLICT(coid) DO NOTHING",
                params![
                    intent.coid,
                    intent.run_id,
                    intent.leg,
                    intent.account_id,
                    intent.conid,
                    intent.symbol,
                    intent.side,
                    intent.quantity,
                    intent.order_type,
                    intent.limit_price,
                    intent.tif,
                    intent.state.as_str(),
                    intent.gateway_order_id,
                    ts(now),
                    intent.sec_type
                ],
            )?;
    Ok(n == 1)
}

const INTENT_SELECT: &str = "SELECT coid, run_id, leg, account_id, conid, symbol, side, quantity, order_type, limit_price, tif,
        state, gateway_order_id, filled_qty, avg_price, last_error, sec_type FROM order_intents";

fn intent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderIntent> {
    Ok(OrderIntent {
        coid: r.get(0)?,
        run_id: r.get(1)?,
        leg: r.get(2)?,
        account_id: r.get(3)?,
        conid: r.get(4)?,
        symbol: r.get(5)?,
        side: r.get(6)?,
        quantity: r.get(7)?,
        order_type: r.get(8)?,
        limit_price: r.get(9)?,
        tif: r.get(10)?,
        state: IntentState::parse(&r.get::<_, String>(11)?),
        gateway_order_id: r.get(12)?,
        filled_qty: r.get(13)?,
        avg_price: r.get(14)?,
        last_error: r.get(15)?,
        sec_type: r.get(16)?,
    })
}
