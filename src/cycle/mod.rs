//! One rebalance cycle: live account → plan → guards → dry-run / stage / submit.
//!
//! The same code serves `pbal rebalance`, `pbal staged approve`, `pbal demo` and the daemon.
//!
//! Size: about 630 lines, a little over the ~600-line aim: the cycle's entry points (run, approve,
//! reject, resume) and the report, each step delegated to its own file (`snapshot`,
//! `planning`, `guards`, `execute`, `budget`, `margin`, …).
//!
//! # Safety properties
//! - **Reconcile first.** Before anything that can place an order, every unfinished order
//!   intent in the journal is resolved against the gateway by its cOID; an unfinished run is
//!   resumed (and nothing new is started in that invocation).
//! - **Write-ahead.** All intents of a phase (sells, then buys) are committed in the journal
//!   before the first POST of that phase; each cOID is derived from the run id and the leg,
//!   so a restarted process can tell what the gateway already has.
//! - **Never retried blindly.** A POST whose fate is unknown is reconciled, not resent.
//! - **Fail closed.** Kill switch, live-account refusal, caps and price sanity refuse the whole
//!   plan with the numbers; stale staged plans are re-planned, not submitted.
//!
//! # Layout
//! - `broker.rs`: the trait the cycle needs from a gateway (implemented in `ibkr_broker.rs`).
//! - `guards.rs`: pure checks (kill switch, live account, caps, prices, limit prices).
//! - `snapshot.rs`: reading the account into an [`snapshot::AccountSnapshot`].
//! - `planning.rs`: snapshot + settings → strategy plan → order legs.
//! - `tax_step.rs`: the `tax-aware` plan: lots from the broker's tax statement, rolled
//!   forward with the journal's fills and checked against the positions.
//! - `pricing.rs`: reference prices (book, mark, prior close) and limit prices on the tick.
//! - `budget.rs`: what the buys of a run may spend (never the user's reserve).
//! - `execute.rs`: write-ahead execution, polling, cancellation, fills, reconciliation.
//! - `whatif_gate.rs`: the what-if preview every submitted order passes first.
//! - `settlement.rs`: cash accounts never sell shares whose purchase has not settled.
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod account_kind;
pub mod broker;
pub mod budget;
pub mod execute;
#[cfg(test)]
pub(crate) mod fake;
pub mod fill_window;
pub mod guards;
pub mod kill_switch;
pub mod lock;
pub mod margin;
pub mod open_orders;
pub mod planning;
pub mod pricing;
pub mod reconcile;
pub mod settlement;
pub mod snapshot;
pub mod tax_step;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_cash;
pub mod whatif_gate;

pub use broker::{Broker, BrokerError, BrokerErrorKind};
pub use guards::GuardViolation;

use crate::config::{OrderMode, Settings};
use crate::journal::{Journal, JournalError};

pub use crate::clock::{SharedClock as Clock, system_clock};

/// What runs after every finished run: `(journal, state dir, run id)`.
pub type RunHook = std::sync::Arc<dyn Fn(&Journal, &std::path::Path, &str) + Send + Sync>;

/// Errors that end a cycle. Each says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("refused: {0}")]
    Guard(#[from] GuardViolation),
    #[error("planning failed: {0}")]
    Plan(String),
    #[error("account: {0}")]
    Account(String),
    #[error("staged plan {id}: {reason}")]
    Staged { id: String, reason: String },
    /// Shutdown was requested; the cycle stopped between two steps (never mid-POST). A run
    /// that had written orders ahead stays open and is resumed at the next start.
    #[error("stopped for shutdown between steps; the run resumes at the next start")]
    Parked,
    /// Another process holds the order lock, or orders of an earlier run are still open.
    #[error("{0}")]
    Busy(String),
    /// Orders of unknown fate: the gateway no longer tells whether they traded, so no new
    /// order is placed until a human settles them (`pbal orders resolve`). The text says how.
    #[error("{0}")]
    Blocked(String),
}

impl CycleError {
    /// True when the session was the problem (the daemon waits for a login and retries).
    pub fn is_session_lost(&self) -> bool {
        matches!(self, CycleError::Broker(e) if e.is_session_lost())
    }
}

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Manual,
    Scheduled,
    Approve,
    Demo,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Manual => "manual",
            RunKind::Scheduled => "scheduled",
            RunKind::Approve => "approve",
            RunKind::Demo => "demo",
        }
    }
}

/// What a finished cycle reports (printed by the commands, stored in the journal).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CycleReport {
    pub run_id: String,
    pub account_id: String,
    pub mode: OrderMode,
    /// `planned` (dry-run), `staged`, `completed`, `partial`, `nothing-to-do`, `resumed`.
    pub status: String,
    pub plan: Option<planning::RunPlan>,
    pub staged_id: Option<String>,
    pub orders: Vec<execute::LegOutcome>,
    pub prices_delayed: bool,
    pub notes: Vec<String>,
    /// The period the run was recorded against (scheduled runs).
    #[serde(default)]
    pub period: Option<String>,
}

/// Everything a cycle needs, injected (so tests drive the production path).
pub struct Cycle<B: Broker> {
    pub broker: B,
    pub journal: Journal,
    pub settings: Settings,
    pub state_dir: PathBuf,
    pub clock: Clock,
    /// Cancelled on shutdown: the cycle checks it between steps and parks.
    pub stop: tokio_util::sync::CancellationToken,
    /// Called after every finished run with the journal, the state dir and the run id. The
    /// wiring layer passes the run-report writer; the cycle itself knows nothing of HTML.
    pub after_run: Option<RunHook>,
}

/// A fresh run id: UTC timestamp plus 4 random hex digits (short enough for cOIDs).
pub fn new_run_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{:04x}",
        now.format("%Y%m%dT%H%M%S"),
        rand::random::<u16>()
    )
}

impl<B: Broker> Cycle<B> {
    /// A cycle on `broker` and `journal` under `settings`: the state dir (kill switch, order
    /// lock) comes from the settings, the clock is the wall clock, and nothing asks it to stop.
    /// Tests and the daemon adjust with [`Cycle::with_clock`] and [`Cycle::with_stop`].
    pub fn new(broker: B, journal: Journal, settings: Settings) -> Self {
        Cycle {
            broker,
            journal,
            state_dir: settings.state_dir(),
            settings,
            clock: system_clock(),
            stop: tokio_util::sync::CancellationToken::new(),
            after_run: None,
        }
    }

    /// The same cycle calling `hook` after every finished run (see [`Cycle::after_run`]).
    #[must_use]
    pub fn with_after_run(mut self, hook: RunHook) -> Self {
        self.after_run = Some(hook);
        self
    }

    /// The same cycle reading "now" from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same cycle parking between steps once `stop` is cancelled.
    #[must_use]
    pub fn with_stop(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        self.stop = stop;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs one cycle in `mode`. With `period`, the run is recorded against that period.
    ///
    /// If a previous run was interrupted, it is resumed and reported instead: a crash is
    /// finished before anything new is planned.
    pub async fn run(
        &self,
        mode: OrderMode,
        kind: RunKind,
        period: Option<&str>,
    ) -> Result<CycleReport, CycleError> {
        if self.stop.is_cancelled() {
            return Err(CycleError::Parked);
        }
        let mut pending_note = None;
        let _lock;
        if mode == OrderMode::Submit {
            _lock = lock::OrderLock::acquire(&self.state_dir)?;
            if let Some(report) = self.resume_interrupted().await? {
                return Ok(report);
            }
            self.refuse_if_orders_open().await?;
        } else {
            // Dry-run and stage never place orders, so they do not finish an interrupted
            // submit run either; they say that one is waiting.
            let unfinished = self
                .journal
                .call(|j| Ok(j.unfinished_runs()?.len() + j.open_intents()?.len()))
                .await?;
            if unfinished > 0 {
                pending_note = Some(
                    "an interrupted submit run is waiting: the next `pbal rebalance --mode submit` or \
                     `pbal staged approve` finishes it before anything else"
                        .to_owned(),
                );
            }
        }
        let run_id = new_run_id(self.now());
        let now = self.now();
        let mode_str = mode_str(mode);
        let (rid, p) = (run_id.clone(), period.map(str::to_owned));
        self.journal
            .call(move |j| j.begin_run(&rid, kind.as_str(), mode_str, p.as_deref(), now))
            .await?;
        let mut result = self.run_inner(&run_id, mode).await;
        if let Ok(report) = &mut result {
            report.period = period.map(str::to_owned);
        }
        if let (Ok(report), Some(note)) = (&mut result, pending_note) {
            report.notes.push(note);
        }
        self.close_unless_resumable(&run_id, &result).await?;
        result
    }

    /// Closes the run, except when it failed after orders were written ahead (session lost,
    /// 429 penalty, gateway errors): that run stays open so the next invocation resumes it — a
    /// half-done rebalance (sold but not bought) must be finished, not forgotten.
    async fn close_unless_resumable(
        &self,
        run_id: &str,
        result: &Result<CycleReport, CycleError>,
    ) -> Result<(), CycleError> {
        if let Err(e) = result {
            let rid = run_id.to_owned();
            let wrote_ahead = !self
                .journal
                .call(move |j| j.intents_for_run(&rid))
                .await?
                .is_empty();
            if wrote_ahead {
                tracing::warn!(run = %run_id, error = %e, "run interrupted after orders were written ahead; it will be resumed by the next pbal command that may place orders");
                return Ok(());
            }
        }
        self.close_run(run_id, result).await
    }

    async fn run_inner(&self, run_id: &str, mode: OrderMode) -> Result<CycleReport, CycleError> {
        self.broker.ensure_ready().await?;
        let snap = snapshot::take(&self.broker, &self.settings, self.now()).await?;
        guards::live_account(
            &snap.account_id,
            snap.paper,
            self.settings.account.allow_live,
        )?;
        self.record_snapshot(run_id, &snap).await?;
        let mut run_plan = self.plan_run(&snap).await?;
        let settle_notes = self.keep_unsettled_shares(&snap, &mut run_plan).await?;
        let plan_json =
            serde_json::to_value(&run_plan).map_err(|e| CycleError::Plan(e.to_string()))?;
        let rid = run_id.to_owned();
        self.journal
            .call(move |j| j.record_plan(&rid, &plan_json))
            .await?;
        guards::caps(
            &run_plan.sized_orders(),
            snap.balances.net_liquidation,
            &self.settings.orders,
        )?;
        let mut report = CycleReport {
            run_id: run_id.to_owned(),
            account_id: snap.account_id.clone(),
            mode,
            status: String::new(),
            plan: Some(run_plan.clone()),
            staged_id: None,
            orders: Vec::new(),
            prices_delayed: snap.prices_delayed,
            notes: Vec::new(),
            period: None,
        };
        if snap.prices_delayed {
            report
                .notes
                .push("market data is delayed: prices may be 15-20 minutes old".to_owned());
        }
        report.notes.extend(snap.notes.iter().cloned());
        report.notes.extend(settle_notes);
        if run_plan.legs.is_empty() {
            report.status = "nothing-to-do".to_owned();
            return Ok(report);
        }
        match mode {
            OrderMode::DryRun => {
                report.status = "planned".to_owned();
            }
            OrderMode::Stage => {
                let staged_id = self.stage(run_id, &snap, &run_plan).await?;
                report.staged_id = Some(staged_id);
                report.status = "staged".to_owned();
            }
            OrderMode::Submit => {
                guards::kill_switch(&self.state_dir, &self.settings.orders)?;
                let outcome = execute::execute(self, run_id, &snap.account_id, &run_plan).await?;
                report.status = outcome.status.clone();
                report.orders = outcome.legs;
                report.notes.extend(outcome.notes);
            }
        }
        Ok(report)
    }

    async fn record_snapshot(
        &self,
        run_id: &str,
        snap: &snapshot::AccountSnapshot,
    ) -> Result<(), CycleError> {
        let v = serde_json::to_value(snap).map_err(|e| CycleError::Plan(e.to_string()))?;
        let (rid, acct, delayed) = (
            run_id.to_owned(),
            snap.account_id.clone(),
            snap.prices_delayed,
        );
        self.journal
            .call(move |j| j.record_snapshot(&rid, &acct, &v, delayed))
            .await?;
        Ok(())
    }

    async fn close_run(
        &self,
        run_id: &str,
        result: &Result<CycleReport, CycleError>,
    ) -> Result<(), CycleError> {
        let now = self.now();
        let rid = run_id.to_owned();
        let (status, outcome, error) = match result {
            Ok(r) => (
                r.status.clone(),
                serde_json::to_value(r).ok(),
                None::<String>,
            ),
            Err(CycleError::Guard(g)) => ("refused".to_owned(), None, Some(g.to_string())),
            Err(e) => ("failed".to_owned(), None, Some(e.to_string())),
        };
        self.journal
            .call(move |j| j.finish_run(&rid, &status, outcome.as_ref(), error.as_deref(), now))
            .await?;
        self.write_report(run_id).await;
        Ok(())
    }

    /// Runs the after-run hook (the wiring layer's report writer: `reports/<run>.html` and
    /// `.json`) for a finished run. Best effort: the hook logs, never fails the run; the
    /// journal is the record.
    pub(crate) async fn write_report(&self, run_id: &str) {
        let Some(hook) = self.after_run.clone() else {
            return;
        };
        let (dir, rid) = (self.state_dir.clone(), run_id.to_owned());
        let _ = self
            .journal
            .call(move |j| {
                hook(j, &dir, &rid);
                Ok(())
            })
            .await;
    }

    /// Stage: run what-if for every leg and store the plan for a human decision.
    async fn stage(
        &self,
        run_id: &str,
        snap: &snapshot::AccountSnapshot,
        run_plan: &planning::RunPlan,
    ) -> Result<String, CycleError> {
        let mut whatifs = Vec::new();
        for leg in &run_plan.legs {
            let order = leg.order_request(run_id);
            let w = match self.broker.whatif(&snap.account_id, &order).await {
                Ok(v) => v,
                // A what-if failure is information for the approver, not a reason to lose the plan.
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            };
            whatifs.push(serde_json::json!({ "leg": leg.leg, "symbol": leg.symbol, "whatif": w }));
        }
        let now = self.now();
        let expires = now + chrono::Duration::hours(self.settings.orders.stage_expiry_hours as i64);
        let staged_id = format!("s{}", &run_id.replace(['T', '-'], ""));
        let plan_v = serde_json::to_value(run_plan).map_err(|e| CycleError::Plan(e.to_string()))?;
        let snap_v = serde_json::to_value(snap).map_err(|e| CycleError::Plan(e.to_string()))?;
        let (sid, rid, acct) = (
            staged_id.clone(),
            run_id.to_owned(),
            snap.account_id.clone(),
        );
        let whatif_v = serde_json::Value::Array(whatifs);
        self.journal
            .call(move |j| {
                j.stage_plan(&sid, &rid, &acct, &plan_v, &snap_v, &whatif_v, now, expires)
            })
            .await?;
        Ok(staged_id)
    }

    /// After reconciliation, orders of earlier runs whose fate is still open (working at the
    /// gateway, or unknown) block a new order-placing run: planning on holdings that do not yet
    /// show them would trade the same imbalance twice.
    async fn refuse_if_orders_open(&self) -> Result<(), CycleError> {
        let open = self.journal.call(|j| j.open_intents()).await?;
        match open_orders::refusal(&open) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Approves a staged plan: re-reads the account; if anything moved beyond tolerance the plan
    /// is superseded by a fresh staged one (returned with status `restaged`); otherwise the staged
    /// orders are executed exactly as approved.
    pub async fn approve(&self, staged_id: &str) -> Result<CycleReport, CycleError> {
        let _lock = lock::OrderLock::acquire(&self.state_dir)?;
        if let Some(report) = self.resume_interrupted().await? {
            return Err(CycleError::Staged {
                id: staged_id.to_owned(),
                reason: format!(
                    "an interrupted run ({}) was resumed first; check `pbal history` and approve again",
                    report.run_id
                ),
            });
        }
        self.refuse_if_orders_open().await?;
        let now = self.now();
        let sid = staged_id.to_owned();
        let staged = self.journal.call(move |j| j.staged_plan(&sid, now)).await?;
        if staged.state != "pending" {
            return Err(CycleError::Staged {
                id: staged_id.to_owned(),
                reason: format!("it is {}, not pending", staged.state),
            });
        }
        let old_plan: planning::RunPlan =
            serde_json::from_value(staged.plan.clone()).map_err(|e| CycleError::Staged {
                id: staged_id.to_owned(),
                reason: format!("stored plan unreadable: {e}"),
            })?;
        let old_snap: snapshot::AccountSnapshot = serde_json::from_value(staged.snapshot.clone())
            .map_err(|e| CycleError::Staged {
            id: staged_id.to_owned(),
            reason: format!("stored snapshot unreadable: {e}"),
        })?;
        guards::kill_switch(&self.state_dir, &self.settings.orders)?;
        self.broker.ensure_ready().await?;

        let run_id = new_run_id(self.now());
        let (rid, now) = (run_id.clone(), self.now());
        self.journal
            .call(move |j| j.begin_run(&rid, RunKind::Approve.as_str(), "submit", None, now))
            .await?;
        let result = self
            .approve_inner(staged_id, &run_id, &old_plan, &old_snap)
            .await;
        self.close_unless_resumable(&run_id, &result).await?;
        if result.is_err() {
            // Failed before any order intent: the approval must not be used up.
            let rid = run_id.clone();
            self.journal.call(move |j| j.reopen_approval(&rid)).await?;
        }
        result
    }

    /// The account moved since staging: plans again on the fresh snapshot, stages the new
    /// plan and marks the old one superseded (with what changed), placing nothing.
    async fn restage(
        &self,
        staged_id: &str,
        run_id: &str,
        snap: &snapshot::AccountSnapshot,
        changes: Vec<String>,
    ) -> Result<CycleReport, CycleError> {
        let now = self.now();
        let mut run_plan = self.plan_run(snap).await?;
        let settle_notes = self.keep_unsettled_shares(snap, &mut run_plan).await?;
        guards::caps(
            &run_plan.sized_orders(),
            snap.balances.net_liquidation,
            &self.settings.orders,
        )?;
        let new_staged = self.stage(run_id, snap, &run_plan).await?;
        let (sid, note, rid) = (
            staged_id.to_owned(),
            format!("superseded by {new_staged}: {}", changes.join("; ")),
            run_id.to_owned(),
        );
        self.journal
            .call(move |j| j.decide_staged(&sid, "superseded", Some(&note), Some(&rid), now))
            .await?;
        Ok(CycleReport {
            run_id: run_id.to_owned(),
            account_id: snap.account_id.clone(),
            mode: OrderMode::Stage,
            status: "restaged".to_owned(),
            plan: Some(run_plan),
            staged_id: Some(new_staged),
            orders: Vec::new(),
            prices_delayed: snap.prices_delayed,
            notes: changes.into_iter().chain(settle_notes).collect(),
            period: None,
        })
    }

    async fn approve_inner(
        &self,
        staged_id: &str,
        run_id: &str,
        old_plan: &planning::RunPlan,
        old_snap: &snapshot::AccountSnapshot,
    ) -> Result<CycleReport, CycleError> {
        let snap = snapshot::take(&self.broker, &self.settings, self.now()).await?;
        guards::live_account(
            &snap.account_id,
            snap.paper,
            self.settings.account.allow_live,
        )?;
        self.record_snapshot(run_id, &snap).await?;
        let changes = snapshot::changes_since(
            old_snap,
            &snap,
            self.settings.orders.approve_price_tolerance_pct,
        );
        let now = self.now();
        if !changes.is_empty() {
            // Stale: re-plan and ask again rather than submit orders sized on old numbers.
            return self.restage(staged_id, run_id, &snap, changes).await;
        }
        // The caps as configured now (they may have been tightened since staging).
        guards::caps(
            &old_plan.sized_orders(),
            snap.balances.net_liquidation,
            &self.settings.orders,
        )?;
        // Claim the decision atomically: a second approver loses here, before any order.
        let (sid, rid) = (staged_id.to_owned(), run_id.to_owned());
        self.journal
            .call(move |j| j.decide_staged(&sid, "approved", None, Some(&rid), now))
            .await?;
        let plan_json =
            serde_json::to_value(old_plan).map_err(|e| CycleError::Plan(e.to_string()))?;
        let rid = run_id.to_owned();
        self.journal
            .call(move |j| j.record_plan(&rid, &plan_json))
            .await?;
        let outcome = execute::execute(self, run_id, &snap.account_id, old_plan).await?;
        Ok(CycleReport {
            run_id: run_id.to_owned(),
            account_id: snap.account_id.clone(),
            mode: OrderMode::Submit,
            status: outcome.status,
            plan: Some(old_plan.clone()),
            staged_id: Some(staged_id.to_owned()),
            orders: outcome.legs,
            prices_delayed: snap.prices_delayed,
            notes: outcome.notes,
            period: None,
        })
    }

    /// Rejects a staged plan (kept in the journal as `rejected`).
    pub async fn reject(&self, staged_id: &str, note: Option<String>) -> Result<(), CycleError> {
        let (sid, now) = (staged_id.to_owned(), self.now());
        self.journal
            .call(move |j| j.decide_staged(&sid, "rejected", note.as_deref(), None, now))
            .await?;
        Ok(())
    }

    /// Reconciles open intents and resumes an interrupted submit run, if any.
    pub async fn resume_interrupted(&self) -> Result<Option<CycleReport>, CycleError> {
        execute::resume(self).await
    }
}

/// The journal's spelling of a mode.
pub fn mode_str(mode: OrderMode) -> &'static str {
    match mode {
        OrderMode::DryRun => "dry-run",
        OrderMode::Stage => "stage",
        OrderMode::Submit => "submit",
    }
}
