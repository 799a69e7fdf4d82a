//! The fill window: wait for a phase's orders, then cancel what still works and poll until the
//! gateway confirms each cancellation — a bounded number of polls, at the client's pacing.
//!
//! Why confirm: IBKR's DELETE answer is a request, not a confirmation (the order shows
//! `PendingCancel` for a while). A run that stops at the request leaves its orders open in the
//! journal; after the next reset the gateway no longer lists them and they would end up
//! `unknown`, blocking every later period. Mutual funds are the exception: a `FUND` order
//! fills at the NAV struck after the close, hours after any fill window, so it is left working
//! and the next run (or a later check) picks up its fill.
use std::time::Duration;

use super::broker::{Broker, Side};
use super::{Cycle, CycleError};
use crate::journal::{IntentState, OrderIntent};

/// Polls after the cancellation requests before the run reports what is still open.
pub const CANCEL_POLLS: u32 = 5;

/// A mutual-fund order the gateway accepted: it fills at the next NAV, after the close.
pub fn awaits_nav(i: &OrderIntent) -> bool {
    i.sec_type.eq_ignore_ascii_case("FUND") && i.state == IntentState::Working
}

/// The note for a fund order left working (the test of item 5 reads it).
pub fn nav_note(i: &OrderIntent) -> String {
    format!(
        "{} {} {} ({}): a mutual fund order fills at the next NAV, after the close; it was left \
         working and the next run picks up its fill (no new order is placed meanwhile)",
        i.side, i.quantity, i.symbol, i.coid
    )
}

impl<B: Broker> Cycle<B> {
    /// The phase's intents whose fate is still open.
    async fn open_of(&self, run_id: &str, side: Side) -> Result<Vec<OrderIntent>, CycleError> {
        Ok(self
            .intents(run_id)
            .await?
            .into_iter()
            .filter(|i| i.side == side.as_str() && !i.state.is_terminal())
            .collect())
    }

    /// Sleeps one poll interval, or parks when shutdown is requested (working orders stay at
    /// the gateway; the resumed run picks them up).
    async fn nap(&self) -> Result<(), CycleError> {
        let poll = Duration::from_secs(self.settings.orders.poll_interval_secs.max(1));
        tokio::select! {
            _ = tokio::time::sleep(poll) => Ok(()),
            _ = self.stop.cancelled() => Err(CycleError::Parked),
        }
    }

    /// Waits for the phase's orders until they are done or the window closes, then cancels
    /// what still works. Fund orders are waited for until they were polled once.
    pub(super) async fn wait_for(
        &self,
        account: &str,
        run_id: &str,
        side: Side,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        let window = Duration::from_secs(self.settings.orders.fill_timeout_secs);
        let deadline = tokio::time::Instant::now() + window;
        let mut polled = false;
        loop {
            let open = self.open_of(run_id, side).await?;
            if open.iter().all(|i| polled && awaits_nav(i)) {
                notes.extend(open.iter().map(nav_note));
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            self.nap().await?;
            self.reconcile(account, &open).await?;
            polled = true;
        }
        self.cancel_and_confirm(account, run_id, side, notes).await
    }

    /// Cancels the phase's open orders (not fund orders) and polls until the gateway confirms
    /// each, at most [`CANCEL_POLLS`] times; what is still open then is reported, and the next
    /// run asks the gateway again.
    async fn cancel_and_confirm(
        &self,
        account: &str,
        run_id: &str,
        side: Side,
        notes: &mut Vec<String>,
    ) -> Result<(), CycleError> {
        let mut requested: Vec<String> = Vec::new();
        for poll in 0..=CANCEL_POLLS {
            let open: Vec<OrderIntent> = self
                .open_of(run_id, side)
                .await?
                .into_iter()
                .filter(|i| !awaits_nav(i))
                .collect();
            if open.is_empty() {
                break;
            }
            for i in &open {
                let Some(id) = &i.gateway_order_id else {
                    continue;
                };
                if requested.contains(id) {
                    continue;
                }
                tracing::info!(coid = %i.coid, order_id = %id, "fill window over: cancelling");
                requested.push(id.clone());
                if let Err(e) = self.broker.cancel(account, id).await {
                    notes.push(format!("cancel {} failed: {e}", i.coid));
                }
            }
            // Nothing was cancellable (no order id known): one more look is all there is to do.
            if poll == CANCEL_POLLS || (poll > 0 && requested.is_empty()) {
                for i in &open {
                    notes.push(format!(
                        "{} {} ({}): still {} after the fill window and the cancellation \
                         request; the next run asks the gateway again",
                        i.side,
                        i.symbol,
                        i.coid,
                        i.state.as_str()
                    ));
                }
                break;
            }
            self.nap().await?;
            self.reconcile(account, &open).await?;
        }
        let funds = self.open_of(run_id, side).await?;
        notes.extend(funds.iter().filter(|i| awaits_nav(i)).map(nav_note));
        Ok(())
    }
}
