//! Execution: write-ahead intents, one POST per order, polling within the gateway's pacing,
//! cancellation at the end of the window, fills — and resumption after a crash.
//!
//! The same [`execute`] runs a fresh plan and resumes an interrupted one: it reads the run's
//! intents from the journal, asks the gateway (by cOID) about any whose fate is not known,
//! and POSTs only what the gateway never received. Sells go first; buys are written (and
//! sized with the cash actually available) only once the sells are settled or timed out.
//!
//! Size: ~690 lines, over the ~600-line aim: the phases of one order state machine (write
//! ahead, POST, poll, trim the buys, resume) whose crash-safety argument reads top to bottom.
//! What could move out already has: reconciliation (`reconcile.rs`), the fill window
//! (`fill_window.rs`), open orders (`open_orders.rs`), the buy budget (`budget.rs`) and the
//! what-if gate (`whatif_gate.rs`).
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::broker::{Broker, OrderType, PlaceResult, Side};
use super::planning::{Leg, RunPlan};
use super::{Cycle, CycleError, CycleReport, budget, guards};
use crate::config::OrderMode;
use crate::journal::{FillRecord, IntentState, OrderIntent};

/// What happened to one leg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegOutcome {
    pub leg: u32,
    pub coid: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub state: IntentState,
    pub order_id: Option<String>,
    pub filled: Decimal,
    pub avg_price: Option<Decimal>,
    pub message: Option<String>,
}

/// The result of executing (or resuming) a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecOutcome {
    /// `completed` when every leg filled, else `partial`.
    pub status: String,
    pub legs: Vec<LegOutcome>,
    pub notes: Vec<String>,
}

fn intent_for(leg: &Leg, run_id: &str, account: &str) -> OrderIntent {
    let (order_type, limit_price) = match leg.order_type {
        OrderType::Market => ("MKT", None),
        OrderType::Limit { price } => ("LMT", Some(price.to_string())),
    };
    OrderIntent {
        coid: leg.coid(run_id),
        run_id: run_id.to_owned(),
        leg: leg.leg,
        account_id: account.to_owned(),
        conid: leg.conid,
        symbol: leg.symbol.clone(),
        sec_type: leg.sec_type.clone(),
        side: leg.side.as_str().to_owned(),
        quantity: leg.quantity.to_string(),
        order_type: order_type.to_owned(),
        limit_price,
        tif: leg.tif.clone(),
        state: IntentState::Intent,
        gateway_order_id: None,
        filled_qty: None,
        avg_price: None,
        last_error: None,
    }
}

/// Rebuilds the leg an intent was written for (quantities may have been trimmed).
fn leg_from_intent(i: &OrderIntent) -> Result<Leg, CycleError> {
    let bad = |what: &str| CycleError::Plan(format!("journal intent {}: bad {what}", i.coid));
    let quantity: Decimal = i.quantity.parse().map_err(|_| bad("quantity"))?;
    let order_type = match (i.order_type.as_str(), &i.limit_price) {
        ("LMT", Some(p)) => OrderType::Limit {
            price: p.parse().map_err(|_| bad("limit price"))?,
        },
        ("MKT", _) => OrderType::Market,
        _ => return Err(bad("order type")),
    };
    let side = match i.side.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(bad("side")),
    };
    Ok(Leg {
        leg: i.leg,
        symbol: i.symbol.clone(),
        conid: i.conid,
        sec_type: i.sec_type.clone(),
        side,
        quantity,
        price: match order_type {
            OrderType::Limit { price } => price,
            OrderType::Market => Decimal::ZERO,
        },
        order_type,
        tif: i.tif.clone(),
    })
}

impl<B: Broker> Cycle<B> {
    pub(super) async fn update(
        &self,
        coid: &str,
        state: IntentState,
        order_id: Option<String>,
        filled: Option<Decimal>,
        avg: Option<Decimal>,
        error: Option<String>,
    ) -> Result<(), CycleError> {
        let now = self.clock.now();
        let coid = coid.to_owned();
        self.journal
            .call(move |j| {
                j.update_intent(
                    &coid,
                    state,
                    order_id.as_deref(),
                    filled.map(|d| d.to_string()).as_deref(),
                    avg.map(|d| d.to_string()).as_deref(),
                    error.as_deref(),
                    now,
                )
            })
            .await?;
        Ok(())
    }

    pub(super) async fn intents(&self, run_id: &str) -> Result<Vec<OrderIntent>, CycleError> {
        let rid = run_id.to_owned();
        Ok(self.journal.call(move |j| j.intents_for_run(&rid)).await?)
    }

    async fn write_intents(&self, intents: Vec<OrderIntent>) -> Result<(), CycleError> {
        let now = self.clock.now();
        // One transaction; an existing cOID is left untouched (the journal knows its fate).
        self.journal
            .call(move |j| j.insert_intents(&intents, now))
            .await?;
        Ok(())
    }

    /// Records a leg that will not be placed, with the message the user sees.
    async fn mark_rejected(
        &self,
        coid: &str,
        msg: String,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        notes.push(msg.clone());
        self.update(coid, IntentState::Rejected, None, None, None, Some(msg))
            .await
    }

    /// POSTs one intent and records the answer. Session loss leaves the intent as written
    /// (it will be reconciled); any other failure marks it unknown and stops the run.
    async fn place_one(
        &self,
        account: &str,
        run_id: &str,
        leg: &Leg,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        let order = leg.order_request(run_id);
        match self.broker.place(account, &order).await {
            Ok(PlaceResult::Submitted { order_id, status }) => {
                let state = if status.eq_ignore_ascii_case("filled") {
                    IntentState::Filled
                } else {
                    IntentState::Working
                };
                tracing::info!(coid = %order.coid, %order_id, symbol = %leg.symbol, side = leg.side.as_str(), qty = %leg.quantity, "order submitted");
                self.update(&order.coid, state, Some(order_id), None, None, None)
                    .await
            }
            Ok(PlaceResult::Refused { prompt_id, text }) => {
                tracing::warn!(coid = %order.coid, %prompt_id, "order refused: prompt not allowed");
                let msg = format!(
                    "{} {}: gateway prompt {prompt_id} is not on orders.prompt_allowlist, order not placed: {text}",
                    leg.side.as_str(),
                    leg.symbol
                );
                self.mark_rejected(&order.coid, msg, notes).await
            }
            Ok(PlaceResult::Rejected { reason }) => {
                tracing::warn!(coid = %order.coid, %reason, "order rejected");
                let msg = format!(
                    "{} {}: rejected by the gateway: {reason}",
                    leg.side.as_str(),
                    leg.symbol
                );
                self.mark_rejected(&order.coid, msg, notes).await
            }
            Ok(PlaceResult::DuplicateCoid) => {
                // The gateway already has it: reconciliation will adopt it.
                self.update(
                    &order.coid,
                    IntentState::Unknown,
                    None,
                    None,
                    None,
                    Some("duplicate cOID: gateway already has it".to_owned()),
                )
                .await
            }
            Ok(PlaceResult::Unknown { reason }) => {
                self.update(
                    &order.coid,
                    IntentState::Unknown,
                    None,
                    None,
                    None,
                    Some(reason),
                )
                .await
            }
            Err(e) if e.is_session_lost() => Err(e.into()),
            Err(e) => {
                self.update(
                    &order.coid,
                    IntentState::Unknown,
                    None,
                    None,
                    None,
                    Some(e.to_string()),
                )
                .await?;
                Err(e.into())
            }
        }
    }

    /// Places every not-yet-sent intent of `phase`, then waits for them to finish or the window
    /// to close, cancelling what remains.
    async fn run_phase(
        &self,
        account: &str,
        run_id: &str,
        side: Side,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        let intents: Vec<OrderIntent> = self
            .intents(run_id)
            .await?
            .into_iter()
            .filter(|i| i.side == side.as_str())
            .collect();
        let unseen = self.reconcile(account, &intents).await?;
        for coid in unseen {
            let Some(intent) = intents.iter().find(|i| i.coid == coid) else {
                continue;
            };
            // Shutdown and the kill switch are checked between orders, never during one.
            if self.stop.is_cancelled() {
                return Err(CycleError::Parked);
            }
            if let Err(g) = guards::kill_switch(&self.state_dir, &self.settings.orders) {
                self.update(
                    &coid,
                    IntentState::Skipped,
                    None,
                    None,
                    None,
                    Some(g.to_string()),
                )
                .await?;
                notes.push(format!("{} {}: not sent: {g}", intent.side, intent.symbol));
                continue;
            }
            self.broker.ensure_ready().await?;
            let leg = leg_from_intent(intent)?;
            // Submit mode previews every order first (see `whatif_gate`).
            if let Some(refusal) = self.whatif_refusal(account, run_id, &leg).await? {
                self.mark_rejected(&coid, refusal, notes).await?;
                continue;
            }
            self.place_one(account, run_id, &leg, notes).await?;
        }
        self.wait_for(account, run_id, side, notes).await
    }

    /// Writes the buy intents, trimmed to the cash actually available now.
    /// The budget of item "buys spend only this run's money": the ledger re-read after the
    /// sells, and only what this run's sells actually raised (from their executions).
    async fn buy_budget(
        &self,
        account: &str,
        run_id: &str,
        run_plan: &RunPlan,
    ) -> Result<budget::BuyBudget, CycleError> {
        let balances = self.broker.balances(account).await?;
        let sells: Vec<OrderIntent> = self
            .intents(run_id)
            .await?
            .into_iter()
            .filter(|i| i.side == Side::Sell.as_str())
            .collect();
        let proceeds = if sells.is_empty() {
            Decimal::ZERO
        } else {
            let executions = self.broker.trades(account, 7).await?;
            budget::realised_proceeds(&sells, &executions)
        };
        let margin = run_plan.plan.margin.as_ref();
        Ok(budget::BuyBudget {
            ledger_cash: balances.cash,
            // A withdrawal is negative and stays so: the cash the user takes out is kept out
            // of the buys like the buffer (`available` floors the total at 0).
            planned_cash: run_plan.plan.cash,
            realised_proceeds: proceeds,
            buffer: self.settings.portfolio.buffer,
            loan: margin.map_or(Decimal::ZERO, |m| m.loan_room),
            owed: margin.map_or(Decimal::ZERO, |m| m.loan_before),
        })
    }

    async fn write_buys(
        &self,
        account: &str,
        run_id: &str,
        run_plan: &RunPlan,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        let mut buys: Vec<Leg> = run_plan
            .legs
            .iter()
            .filter(|l| l.side == Side::Buy)
            .cloned()
            .collect();
        if buys.is_empty() {
            return Ok(());
        }
        let budget = self.buy_budget(account, run_id, run_plan).await?;
        let available = budget.available();
        if budget::trim(&mut buys, available) {
            notes.push(budget.describe());
        }
        for l in &buys {
            let planned = run_plan
                .legs
                .iter()
                .find(|p| p.leg == l.leg)
                .map(|p| p.quantity);
            if planned != Some(l.quantity) {
                notes.push(format!(
                    "BUY {}: trimmed from {} to {} shares to fit the buy budget {}",
                    l.symbol,
                    planned.unwrap_or_default(),
                    l.quantity,
                    available.round_dp(2)
                ));
            }
        }
        let intents: Vec<OrderIntent> = buys
            .iter()
            .map(|l| {
                let mut i = intent_for(l, run_id, account);
                if l.quantity.is_zero() {
                    i.state = IntentState::Skipped;
                    i.last_error = Some("trimmed to zero: not enough cash".to_owned());
                }
                i
            })
            .collect();
        self.write_intents(intents).await
    }

    async fn record_fills(&self, account: &str, run_id: &str) -> Result<(), CycleError> {
        let intents = self.intents(run_id).await?;
        if intents.iter().all(|i| i.gateway_order_id.is_none()) {
            return Ok(());
        }
        let trades = self.broker.trades(account, 1).await?;
        let by_coid: BTreeMap<&str, &OrderIntent> =
            intents.iter().map(|i| (i.coid.as_str(), i)).collect();
        let now = self.clock.now();
        let fills: Vec<FillRecord> = trades
            .into_iter()
            .filter_map(|t| {
                let coid = t.coid.clone()?;
                by_coid.contains_key(coid.as_str()).then(|| FillRecord {
                    execution_id: t.execution_id,
                    coid: Some(coid),
                    gateway_order_id: Some(t.order_id),
                    symbol: t.symbol,
                    side: t.side.as_str().to_owned(),
                    size: t.size.to_string(),
                    price: t.price.to_string(),
                    commission: t.commission.map(|c| c.to_string()),
                    trade_time: t.time,
                })
            })
            .collect();
        self.journal
            .call(move |j| {
                for f in &fills {
                    j.record_fill(f, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Executes (or resumes) a run's plan: sells, then buys sized with the cash available.
pub async fn execute<B: Broker>(
    cycle: &Cycle<B>,
    run_id: &str,
    account: &str,
    run_plan: &RunPlan,
) -> Result<ExecOutcome, CycleError> {
    let mut notes = Vec::new();
    let existing = cycle.intents(run_id).await?;
    // Phase 1: sells. All sell intents are committed before the first POST.
    if !existing.iter().any(|i| i.side == "SELL") {
        let sells: Vec<OrderIntent> = run_plan
            .legs
            .iter()
            .filter(|l| l.side == Side::Sell)
            .map(|l| intent_for(l, run_id, account))
            .collect();
        cycle.write_intents(sells).await?;
    }
    cycle
        .run_phase(account, run_id, Side::Sell, &mut notes)
        .await?;
    // Phase 2: buys, written once, after the sells are done.
    if !existing.iter().any(|i| i.side == "BUY") {
        cycle
            .write_buys(account, run_id, run_plan, &mut notes)
            .await?;
    }
    cycle
        .run_phase(account, run_id, Side::Buy, &mut notes)
        .await?;
    cycle.record_fills(account, run_id).await?;
    match residual_drift(cycle, account, run_plan).await {
        Ok(Some(d)) => notes.push(d),
        Ok(None) => {}
        // The orders are done; a failed read-back is reported, not fatal.
        Err(e) => notes.push(format!("residual drift not measured: {e}")),
    }

    let intents = cycle.intents(run_id).await?;
    let legs: Vec<LegOutcome> = intents
        .iter()
        .map(|i| LegOutcome {
            leg: i.leg,
            coid: i.coid.clone(),
            symbol: i.symbol.clone(),
            side: if i.side == "SELL" {
                Side::Sell
            } else {
                Side::Buy
            },
            quantity: i.quantity.parse().unwrap_or_default(),
            state: i.state,
            order_id: i.gateway_order_id.clone(),
            filled: i
                .filled_qty
                .as_deref()
                .and_then(|f| f.parse().ok())
                .unwrap_or_default(),
            avg_price: i.avg_price.as_deref().and_then(|f| f.parse().ok()),
            message: i.last_error.clone(),
        })
        .collect();
    // A buy trimmed below its planned size means the plan was not carried out: partial.
    let trimmed = run_plan.legs.iter().any(|p| {
        p.side == Side::Buy
            && legs
                .iter()
                .find(|l| l.leg == p.leg)
                .is_some_and(|l| l.quantity < p.quantity)
    });
    let all_filled = !trimmed
        && legs.iter().all(|l| {
            l.state == IntentState::Filled
                || (l.state == IntentState::Skipped && l.quantity.is_zero())
        });
    Ok(ExecOutcome {
        status: if all_filled { "completed" } else { "partial" }.to_owned(),
        legs,
        notes,
    })
}

/// After execution: re-reads the positions and reports how far each managed holding is from
/// its target weight (in percentage points of the managed value), largest first.
async fn residual_drift<B: Broker>(
    cycle: &Cycle<B>,
    account: &str,
    run_plan: &RunPlan,
) -> Result<Option<String>, CycleError> {
    let positions = cycle.broker.positions(account).await?;
    let targets: BTreeMap<&str, Decimal> = run_plan
        .plan
        .lines
        .iter()
        .map(|l| (l.symbol.as_str(), l.target_weight))
        .collect();
    let values: BTreeMap<&str, Decimal> = positions
        .iter()
        .filter(|p| targets.contains_key(p.symbol.as_str()))
        .map(|p| (p.symbol.as_str(), p.market_value))
        .collect();
    let total: Decimal = values.values().copied().sum();
    if total <= Decimal::ZERO {
        return Ok(None);
    }
    let mut worst: Option<(&str, Decimal)> = None;
    for (symbol, w) in &targets {
        let actual = values.get(symbol).copied().unwrap_or_default() / total;
        let pp = ((actual - w) * Decimal::ONE_HUNDRED).round_dp(2);
        if worst.is_none_or(|(_, d)| pp.abs() > d.abs()) {
            worst = Some((symbol, pp));
        }
    }
    Ok(worst.map(|(s, pp)| {
        format!("residual drift after the run: largest {s} {pp:+.2} percentage points from its target weight")
    }))
}

/// Gives up an interrupted run that is too old to finish: its orders still working at the
/// gateway are cancelled (a later run would otherwise trade the same imbalance again), and a
/// run that sold without buying says how much cash its sales left uninvested.
async fn abandon<B: Broker>(
    cycle: &Cycle<B>,
    run: &crate::journal::RunRecord,
    intents: &[OrderIntent],
) {
    let Some(account) = run.account_id.as_deref() else {
        return;
    };
    for i in intents {
        if let (IntentState::Working, Some(id)) = (i.state, i.gateway_order_id.as_deref()) {
            tracing::warn!(run = %run.id, coid = %i.coid, order_id = %id, "cancelling an order of an abandoned run");
            if let Err(e) = cycle.broker.cancel(account, id).await {
                tracing::error!(coid = %i.coid, error = %e, "cancel failed: cancel it in the broker's UI");
            }
        }
    }
    let sold = intents.iter().any(|i| i.side == "SELL");
    let bought = intents.iter().any(|i| i.side == "BUY");
    if sold && !bought {
        let proceeds: Decimal = intents
            .iter()
            .filter(|i| i.side == "SELL")
            .filter_map(|i| {
                let q: Decimal = i.filled_qty.as_deref()?.parse().ok()?;
                let p: Decimal = i.avg_price.as_deref()?.parse().ok()?;
                Some(q * p)
            })
            .sum();
        tracing::error!(run = %run.id, proceeds = %proceeds.round_dp(2), "run abandoned after its sells: the proceeds were not reinvested; run `pbal rebalance` to plan the buys");
    }
}

/// Resumes whatever a crash left behind. Returns the resumed run's report, or None when there
/// was nothing to do.
///
/// A submit run that was interrupted less than `orders.fill_timeout_secs` + 1 h ago is finished
/// (what the gateway never received is sent with the same cOIDs). An older one is not: prices
/// have moved, so its unsent orders are marked skipped and a human (or the next period) decides.
pub async fn resume<B: Broker>(cycle: &Cycle<B>) -> Result<Option<CycleReport>, CycleError> {
    let unfinished = cycle.journal.call(|j| j.unfinished_runs()).await?;
    let open = cycle.journal.call(|j| j.open_intents()).await?;
    if unfinished.is_empty() && open.is_empty() {
        return Ok(None);
    }
    cycle.broker.ensure_ready().await?;
    let mut last_report = None;
    for run_id in unfinished {
        let rid = run_id.clone();
        let run = cycle.journal.call(move |j| j.run(&rid)).await?;
        let now = cycle.clock.now();
        let started = chrono::DateTime::parse_from_rfc3339(&run.started_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        let age = now - started;
        let fresh = age
            < chrono::Duration::seconds(cycle.settings.orders.fill_timeout_secs as i64)
                + chrono::Duration::hours(1);
        let places_orders = run.mode == "submit";
        let plan: Option<RunPlan> = run
            .plan
            .clone()
            .and_then(|p| serde_json::from_value(p).ok());
        let rid = run_id.clone();
        let intents = cycle.journal.call(move |j| j.intents_for_run(&rid)).await?;
        let wrote_ahead = !intents.is_empty();
        // A run that wrote no intent sent nothing: there is nothing to finish.
        let (status, report) = match (places_orders && wrote_ahead, plan, run.account_id.clone()) {
            (true, Some(plan), Some(account)) if fresh => {
                let (status, report) = resume_run(cycle, &run, &run_id, account, plan).await?;
                (status, Some(report))
            }
            _ => {
                abandon(cycle, &run, &intents).await;
                let rid = run_id.clone();
                if cycle.journal.call(move |j| j.reopen_approval(&rid)).await? {
                    tracing::warn!(run = %run_id, "the interrupted approval sent nothing: its staged plan is pending again");
                }
                ("interrupted".to_owned(), None)
            }
        };
        let error = (status == "interrupted")
            .then(|| "interrupted before completion; unsent orders were not sent, working ones were cancelled".to_owned());
        let outcome = report.as_ref().and_then(|r| serde_json::to_value(r).ok());
        let rid = run_id.clone();
        cycle
            .journal
            .call(move |j| j.finish_run(&rid, &status, outcome.as_ref(), error.as_deref(), now))
            .await?;
        cycle.write_report(&run_id).await;
        if report.is_some() {
            last_report = report;
        }
    }
    settle_open_intents(cycle).await?;
    Ok(last_report)
}

/// Finishes an interrupted submit run that is still fresh, under the guards as configured
/// now: a user who disallowed live trading or tightened the caps after the crash is obeyed
/// by the resumed run too. Returns the run's status and its report.
async fn resume_run<B: Broker>(
    cycle: &Cycle<B>,
    run: &crate::journal::RunRecord,
    run_id: &str,
    account: String,
    plan: RunPlan,
) -> Result<(String, CycleReport), CycleError> {
    tracing::warn!(run = %run_id, "resuming an interrupted run");
    let offered = cycle.broker.accounts().await?;
    let paper = offered.iter().any(|a| a.id == account && a.paper);
    guards::live_account(&account, paper, cycle.settings.account.allow_live)?;
    guards::kill_switch(&cycle.state_dir, &cycle.settings.orders)?;
    let balances = cycle.broker.balances(&account).await?;
    guards::caps(
        &plan.sized_orders(),
        balances.net_liquidation,
        &cycle.settings.orders,
    )?;
    let outcome = execute(cycle, run_id, &account, &plan).await?;
    let mut notes = vec![format!("resumed interrupted run {run_id}")];
    notes.extend(outcome.notes);
    let report = CycleReport {
        run_id: run_id.to_owned(),
        account_id: account,
        mode: OrderMode::Submit,
        status: "resumed".to_owned(),
        plan: Some(plan),
        staged_id: None,
        orders: outcome.legs,
        prices_delayed: run.prices_delayed,
        notes,
        period: run.period.clone(),
    };
    Ok((outcome.status, report))
}

/// Intents of finished runs whose fate is still open: learn it from the gateway, never
/// resend; one the gateway never received is marked skipped.
async fn settle_open_intents<B: Broker>(cycle: &Cycle<B>) -> Result<(), CycleError> {
    let open = cycle.journal.call(|j| j.open_intents()).await?;
    let mut by_account: BTreeMap<String, Vec<OrderIntent>> = BTreeMap::new();
    for i in open {
        by_account.entry(i.account_id.clone()).or_default().push(i);
    }
    for (account, intents) in by_account {
        for coid in cycle.reconcile(&account, &intents).await? {
            cycle
                .update(
                    &coid,
                    IntentState::Skipped,
                    None,
                    None,
                    None,
                    Some(
                        "never received by the gateway, and its run has ended: not sent".to_owned(),
                    ),
                )
                .await?;
        }
    }
    Ok(())
}
