//! The `events` table: an append-only audit log for forensics.
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Journal, Result, ts};

impl Journal {
    /// Appends an audit event.
    pub fn event(
        &self,
        run_id: Option<&str>,
        kind: &str,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO events (at, run_id, kind, payload_json) VALUES (?1, ?2, ?3, ?4)",
                params![ts(now), run_id, kind, payload.to_string()],
            )?;
            Ok(())
        })
    }

    /// Events of a run (or all, when `run_id` is None), oldest first.
    pub fn events(&self, run_id: Option<&str>) -> Result<Vec<(String, String, serde_json::Value)>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT at, kind, payload_json FROM events WHERE (?1 IS NULL OR run_id = ?1) ORDER BY id",
            )?;
            let rows = st.query_map([run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, kind, payload) = row?;
                out.push((at, kind, serde_json::from_str(&payload)?));
            }
            Ok(out)
        })
    }
}
