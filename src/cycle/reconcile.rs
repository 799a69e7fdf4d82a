//! Learning an order's fate from the gateway, by cOID, without ever guessing.
//!
//! The gateway tells in several places, none complete: the live-orders list (this brokerage
//! session's orders — but it misses orders after a reset and sometimes in between), the
//! executions of the last seven days (fills only), and the status of one order by id (this
//! session's orders; older ones get a 503). An intent is settled only by a definite answer
//! from one of them: listed with a status, filled in full by its executions, or a status by id.
//! When none answers, an order the gateway once had is `unknown` — it is never sent again and
//! never assumed filled or cancelled; a human settles it with `pbal orders resolve`.
use rust_decimal::Decimal;

use super::broker::{Broker, Execution, LiveOrder, OrderStatus};
use super::{Cycle, CycleError};
use crate::journal::{IntentState, OrderIntent};

/// What the gateway's normalised status means for the journal.
pub(super) fn state_of(o: &LiveOrder) -> IntentState {
    match o.status {
        OrderStatus::Working => IntentState::Working,
        OrderStatus::Filled => IntentState::Filled,
        OrderStatus::Cancelled | OrderStatus::Inactive => IntentState::Cancelled,
    }
}

/// The text an `unknown` intent carries: what happened and what the human can do.
pub fn unknown_reason(coid: &str, filled: Decimal, quantity: &str) -> String {
    let part = if filled > Decimal::ZERO {
        format!("{filled} of {quantity} filled; ")
    } else {
        String::new()
    };
    format!(
        "{part}the gateway no longer lists this order and cannot tell its fate; check it in the \
         broker's UI, then run `pbal orders resolve {coid} --as filled|cancelled`"
    )
}

/// This intent's executions: (shares, average price, an order id).
fn executed(i: &OrderIntent, trades: &[Execution]) -> (Decimal, Option<Decimal>, Option<String>) {
    let fills: Vec<&Execution> = trades
        .iter()
        .filter(|t| t.coid.as_deref() == Some(i.coid.as_str()))
        .collect();
    let size: Decimal = fills.iter().map(|t| t.size).sum();
    let notional: Decimal = fills.iter().map(|t| t.size * t.price).sum();
    let avg = (size > Decimal::ZERO).then(|| (notional / size).round_dp(6));
    (size, avg, fills.first().map(|t| t.order_id.clone()))
}

/// What the gateway says about one order when a human is about to settle it.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayFate {
    /// A definite answer: the order's state (filled, cancelled, or still working) and where
    /// it came from.
    Definite { state: IntentState, source: String },
    /// No list, execution or status answers for it.
    CannotTell,
}

impl<B: Broker> Cycle<B> {
    /// Asks the gateway what it knows about one order — live list, executions of the last
    /// seven days, status by id — without recording anything (`pbal orders resolve` refuses
    /// to contradict a definite answer).
    ///
    /// # Errors
    /// The gateway is not reachable or not logged in.
    pub async fn ask_gateway(&self, i: &OrderIntent) -> Result<GatewayFate, CycleError> {
        self.broker.ensure_ready().await?;
        let account = i.account_id.as_str();
        let live = self.broker.live_orders(account).await?;
        if let Some(o) = live
            .iter()
            .find(|o| o.coid.as_deref() == Some(i.coid.as_str()))
        {
            return Ok(GatewayFate::Definite {
                state: state_of(o),
                source: format!("live orders: order {} is {:?}", o.order_id, o.status),
            });
        }
        let trades = self.broker.trades(account, 7).await?;
        let (size, _, traded_id) = executed(i, &trades);
        let qty: Decimal = i.quantity.parse().unwrap_or(Decimal::MAX);
        if size >= qty && size > Decimal::ZERO {
            return Ok(GatewayFate::Definite {
                state: IntentState::Filled,
                source: format!("executions: {size} shares filled"),
            });
        }
        if let Some(id) = i.gateway_order_id.clone().or(traded_id)
            && let Some(o) = self.broker.order_status(account, &id).await?
        {
            return Ok(GatewayFate::Definite {
                state: state_of(&o),
                source: format!("order status: order {id} is {:?}", o.status),
            });
        }
        Ok(GatewayFate::CannotTell)
    }

    /// Asks the gateway about intents whose fate is not known and records what it says.
    /// Returns the cOIDs the gateway has never seen (safe to send, with the same cOID).
    pub(super) async fn reconcile(
        &self,
        account: &str,
        intents: &[OrderIntent],
    ) -> Result<Vec<String>, CycleError> {
        let pending: Vec<&OrderIntent> =
            intents.iter().filter(|i| !i.state.is_terminal()).collect();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let live = self.broker.live_orders(account).await?;
        let trades = self.broker.trades(account, 7).await?;
        let mut unseen = Vec::new();
        for i in pending {
            if let Some(o) = live
                .iter()
                .find(|o| o.coid.as_deref() == Some(i.coid.as_str()))
            {
                self.record_status(&i.coid, o).await?;
                continue;
            }
            let (size, avg, traded_id) = executed(i, &trades);
            let qty: Decimal = i.quantity.parse().unwrap_or(Decimal::MAX);
            if size >= qty && size > Decimal::ZERO {
                // Executions for the whole quantity: filled, whatever the lists say.
                self.update(
                    &i.coid,
                    IntentState::Filled,
                    traded_id,
                    Some(size),
                    avg,
                    None,
                )
                .await?;
                continue;
            }
            let order_id = i.gateway_order_id.clone().or(traded_id);
            if let Some(id) = &order_id {
                match self.broker.order_status(account, id).await {
                    Ok(Some(o)) => {
                        self.record_status(&i.coid, &o).await?;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) if e.is_session_lost() => return Err(e.into()),
                    Err(e) => {
                        tracing::info!(coid = %i.coid, error = %e, "order status unavailable")
                    }
                }
            }
            let once_had = order_id.is_some()
                || size > Decimal::ZERO
                || i.state == IntentState::Working
                || i.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("duplicate cOID"));
            if once_had {
                // The gateway had it (an order id, a fill, or it called the cOID a duplicate)
                // but nothing answers for it now. It is never sent again; a human decides.
                if i.state != IntentState::Unknown || size > Decimal::ZERO {
                    tracing::warn!(coid = %i.coid, "order of unknown fate: the gateway no longer tells");
                    let why = unknown_reason(&i.coid, size, &i.quantity);
                    self.update(
                        &i.coid,
                        IntentState::Unknown,
                        order_id,
                        (size > Decimal::ZERO).then_some(size),
                        avg,
                        Some(why),
                    )
                    .await?;
                }
                continue;
            }
            unseen.push(i.coid.clone());
        }
        Ok(unseen)
    }

    /// Records what the gateway says about one of our orders.
    async fn record_status(&self, coid: &str, o: &LiveOrder) -> Result<(), CycleError> {
        self.update(
            coid,
            state_of(o),
            Some(o.order_id.clone()),
            Some(o.filled),
            o.avg_price,
            None,
        )
        .await
    }
}
