//! Why a new order-placing run does not start while earlier orders are open, in words a human
//! can act on.
//!
//! Three cases, each with its own message:
//! - orders of **unknown** fate (the gateway once had them and no longer tells): pbal cannot
//!   know whether they traded, so planning on the holdings would risk trading the same
//!   imbalance twice. Only a human can settle them — the message names the exact commands.
//!   The daemon alerts with this text ([`crate::cycle::CycleError::Blocked`]).
//! - **mutual-fund** orders waiting for their NAV: legitimate; the run waits and places nothing
//!   (no duplicate); the next run picks up the fill.
//! - other **working** orders: wait for them to finish or cancel them.
use super::CycleError;
use super::fill_window::awaits_nav;
use crate::journal::{IntentState, OrderIntent};

fn line(i: &OrderIntent) -> String {
    format!(
        "{} {} {} ({}, {})",
        i.side,
        i.quantity,
        i.symbol,
        i.coid,
        i.state.as_str()
    )
}

/// The message of a run blocked by orders of unknown fate: what, why, and the commands to run.
/// The daemon's alert and the CLI's error both show exactly this text.
pub fn blocked_message(unknown: &[OrderIntent]) -> String {
    let list: Vec<String> = unknown.iter().map(line).collect();
    let example = unknown.first().map_or("<COID>", |i| i.coid.as_str());
    format!(
        "pbal places no new orders: {} order(s) of unknown fate: {}. The gateway no longer tells \
         whether they filled. Check them in the broker's UI, run `pbal orders list`, then settle \
         each with `pbal orders resolve <COID> --as filled|cancelled` (e.g. `pbal orders resolve \
         {example} --as cancelled`); the next run then goes ahead.",
        unknown.len(),
        list.join("; ")
    )
}

/// The error that stops a new run while `open` (the journal's open intents, after
/// reconciliation) is not empty; `None` when nothing is open.
pub fn refusal(open: &[OrderIntent]) -> Option<CycleError> {
    if open.is_empty() {
        return None;
    }
    let unknown: Vec<OrderIntent> = open
        .iter()
        .filter(|i| i.state == IntentState::Unknown)
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Some(CycleError::Blocked(blocked_message(&unknown)));
    }
    if open.iter().all(awaits_nav) {
        let list: Vec<String> = open.iter().map(line).collect();
        return Some(CycleError::Busy(format!(
            "mutual fund order(s) waiting for their NAV: {}; they fill after the close, and the \
             next run picks up the fill; nothing new is placed meanwhile",
            list.join("; ")
        )));
    }
    let list: Vec<String> = open.iter().map(line).collect();
    Some(CycleError::Busy(format!(
        "orders of an earlier run are still open at the gateway: {}; wait for them to finish \
         or cancel them in the broker's UI, then run again",
        list.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(coid: &str, sec_type: &str, state: IntentState) -> OrderIntent {
        OrderIntent {
            coid: coid.into(),
            run_id: "R".into(),
            leg: 0,
            account_id: "DU1".into(),
            conid: 1,
            symbol: "VTI".into(),
            sec_type: sec_type.into(),
            side: "BUY".into(),
            quantity: "3".into(),
            order_type: "LMT".into(),
            limit_price: Some("10".into()),
            tif: "DAY".into(),
            state,
            gateway_order_id: Some("77".into()),
            filled_qty: None,
            avg_price: None,
            last_error: None,
        }
    }

    #[test]
    fn the_blocked_message_names_the_orders_and_the_commands() {
        let m = blocked_message(&[intent("pbal-x-00B", "STK", IntentState::Unknown)]);
        assert_eq!(
            m,
            "pbal places no new orders: 1 order(s) of unknown fate: BUY 3 VTI (pbal-x-00B, \
             unknown). The gateway no longer tells whether they filled. Check them in the \
             broker's UI, run `pbal orders list`, then settle each with `pbal orders resolve \
             <COID> --as filled|cancelled` (e.g. `pbal orders resolve pbal-x-00B --as \
             cancelled`); the next run then goes ahead."
        );
    }

    #[test]
    fn unknown_blocks_fund_orders_wait_working_orders_are_busy() {
        assert!(refusal(&[]).is_none());
        let unknown = intent("a", "STK", IntentState::Unknown);
        let fund = intent("b", "FUND", IntentState::Working);
        let stock = intent("c", "STK", IntentState::Working);
        assert!(matches!(
            refusal(&[fund.clone(), unknown]),
            Some(CycleError::Blocked(_))
        ));
        match refusal(std::slice::from_ref(&fund)) {
            Some(CycleError::Busy(m)) => assert!(m.contains("NAV"), "{m}"),
            other => panic!("{other:?}"),
        }
        match refusal(&[fund, stock]) {
            Some(CycleError::Busy(m)) => assert!(m.contains("still open"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
