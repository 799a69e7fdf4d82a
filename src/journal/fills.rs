//! The `fills` table: executions reported by the gateway, idempotent by execution id.
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Journal, Result, ts};

/// An execution reported by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRecord {
    pub execution_id: String,
    pub coid: Option<String>,
    pub gateway_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub size: String,
    pub price: String,
    pub commission: Option<String>,
    pub trade_time: Option<String>,
}

impl Journal {
    /// Records an execution; returns `false` if it was already recorded.
    pub fn record_fill(&self, fill: &FillRecord, now: DateTime<Utc>) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO fills (execution_id, coid, gateway_order_id, symbol, side, size, price, commission, trade_time, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(execution_id) DO NOTHING",
                params![
                    fill.execution_id,
                    fill.coid,
                    fill.gateway_order_id,
                    fill.symbol,
                    fill.side,
                    fill.size,
                    fill.price,
                    fill.commission,
                    fill.trade_time,
                    ts(now)
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// Every recorded fill, oldest first (tax-aware planning applies those after the last Flex
    /// statement to its lots).
    pub fn all_fills(&self) -> Result<Vec<FillRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {FILL_COLUMNS} FROM fills ORDER BY trade_time, execution_id"
            ))?;
            let rows = st.query_map([], fill_row)?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(Into::into)
        })
    }

    /// Fills of the orders with these cOIDs.
    pub fn fills_for_coids(&self, coids: &[String]) -> Result<Vec<FillRecord>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {FILL_COLUMNS} FROM fills WHERE coid = ?1 ORDER BY trade_time, execution_id"
            ))?;
            let mut out = Vec::new();
            for coid in coids {
                for row in st.query_map([coid], fill_row)? {
                    out.push(row?);
                }
            }
            Ok(out)
        })
    }
}

/// The columns [`fill_row`] reads, in its order.
const FILL_COLUMNS: &str =
    "execution_id, coid, gateway_order_id, symbol, side, size, price, commission, trade_time";

/// One `fills` row selected with [`FILL_COLUMNS`].
fn fill_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FillRecord> {
    Ok(FillRecord {
        execution_id: r.get(0)?,
        coid: r.get(1)?,
        gateway_order_id: r.get(2)?,
        symbol: r.get(3)?,
        side: r.get(4)?,
        size: r.get(5)?,
        price: r.get(6)?,
        commission: r.get(7)?,
        trade_time: r.get(8)?,
    })
}
