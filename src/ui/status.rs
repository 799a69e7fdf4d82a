//! What `pbal status` shows — session, mode, next run, kill switch, pending plans, last runs —
//! gathered once for both the command and the status page.
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::adapters::JournalPeriodStore;
use crate::config::Settings;
use crate::journal::{Journal, RunRecord, StagedPlan};
use crate::scheduler::Schedule;
use crate::scheduler::driver::PeriodStore;

/// The next scheduled run, in UTC and in the two time zones a user thinks in.
#[derive(Debug, Clone, Serialize)]
pub struct NextRunView {
    pub period: String,
    pub at: DateTime<Utc>,
    pub local: String,
    pub exchange: String,
}

/// The status, as data.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub session: String,
    /// pbal's own login: who, when it last logged in, and whether (and why) it stopped.
    pub login: String,
    pub mode: &'static str,
    pub next_run: Option<NextRunView>,
    pub last_runs: Vec<RunRecord>,
    pub staged_pending: Vec<StagedPlan>,
    pub kill_switch: Option<String>,
    pub journal: PathBuf,
}

/// The gateway's session state in one line; only reads the auth status, never changes it.
pub async fn session_line(client: &crate::ibkr::GatewayClient) -> String {
    match client.auth_status().await {
        Ok(a) if a.healthy() => "ready".to_owned(),
        Ok(a) => format!("not ready: {}", a.reason()),
        Err(e) => format!("unreachable: {e}"),
    }
}

/// Why the kill switch is on, or `None` when orders are allowed.
pub fn kill_switch(settings: &Settings) -> Option<String> {
    crate::cycle::kill_switch::engaged(&settings.state_dir(), settings.orders.enabled)
}

impl StatusView {
    /// Reads the journal and the schedule; `session` is the gateway's answer, asked by the
    /// caller (the page and the command reach the gateway differently).
    ///
    /// # Errors
    /// A message naming what could not be read.
    pub async fn gather(
        settings: &Settings,
        journal: &Journal,
        session: String,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let schedule = Schedule::from_settings(&settings.schedule).map_err(|e| e.to_string())?;
        let store = JournalPeriodStore::new(journal.clone());
        let mut state = store.load().await.map_err(|e| e.to_string())?;
        if state.since.is_none() {
            // The daemon has never run: it would start tracking now (no catch-up of the past),
            // so show the run it would actually make.
            state.apply(&crate::scheduler::PeriodEvent::TrackingStarted { at: now });
        }
        let next_run = schedule.next_run_at(now, &state).map(|n| NextRunView {
            period: n.period.as_str().to_owned(),
            at: n.at,
            local: schedule.local(n.at),
            exchange: schedule.exchange_time(n.at),
        });
        let (last_runs, staged_pending) = journal
            .call(move |j| {
                let runs = j.runs(5)?;
                let staged = j
                    .staged_plans(now)?
                    .into_iter()
                    .filter(|p| p.state == "pending")
                    .collect::<Vec<_>>();
                Ok((runs, staged))
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            session,
            login: crate::adapters::login::summary(settings, false).unwrap_or_else(|e| e),
            mode: crate::cycle::mode_str(settings.orders.mode),
            next_run,
            last_runs,
            staged_pending,
            kill_switch: kill_switch(settings),
            journal: journal.path().to_path_buf(),
        })
    }
}
