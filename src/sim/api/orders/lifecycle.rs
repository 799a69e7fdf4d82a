//! How an order's status moves when clients look at it: a cancellation that is a request, not a
//! confirmation (`PendingCancel` for a few reads, then `Cancelled`), and which orders the
//! gateway still shows — the live list forgets orders after a while, the status by id answers
//! longer. Real gateways behave this way (reference §5.4–5.5, IBind #43, #90); a client that
//! believes one answer blocks its own account.
use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::super::super::state::{OrderStatus, SimState};

/// Requests cancellation of the working order at `i`: cancelled at once, or `PendingCancel`
/// for [`crate::sim::Behaviour::cancel_pending_reads`] reads.
pub(super) fn request_cancel(s: &mut SimState, i: usize, now: DateTime<Utc>) {
    let reads = s.behaviour.cancel_pending_reads;
    let o = &mut s.orders[i];
    if reads == 0 {
        o.status = OrderStatus::Cancelled;
    } else {
        o.status = OrderStatus::PendingCancel;
        o.cancel_reads_left = reads;
    }
    o.last_update = now;
}

/// A client read the order at `i` (listed it or asked its status): a pending cancellation
/// moves one read closer to `Cancelled`.
pub(super) fn note_read(s: &mut SimState, i: usize, now: DateTime<Utc>) {
    let o = &mut s.orders[i];
    if o.status != OrderStatus::PendingCancel {
        return;
    }
    o.cancel_reads_left = o.cancel_reads_left.saturating_sub(1);
    if o.cancel_reads_left == 0 {
        o.status = OrderStatus::Cancelled;
        o.last_update = now;
    }
}

/// Whether `/iserver/account/orders` still lists the order at `i` now.
pub(super) fn listed(s: &SimState, i: usize, now: DateTime<Utc>) -> bool {
    let o = &s.orders[i];
    o.session_generation == s.session.generation
        && s.behaviour
            .live_orders_forget_after_ms
            .is_none_or(|ms| now - o.last_update < ChronoDuration::milliseconds(ms as i64))
}

/// The index of order `id` if `/iserver/account/order/status/{id}` answers for it: orders of
/// this brokerage session, or (with `order_status_across_resets`) of the last 24 hours.
pub(super) fn status_known(s: &SimState, id: u64, now: DateTime<Utc>) -> Option<usize> {
    let gen_ = s.session.generation;
    let across = s.behaviour.order_status_across_resets;
    s.orders.iter().position(|o| {
        o.order_id == id
            && (o.session_generation == gen_
                || (across && now - o.placed_at < ChronoDuration::hours(24)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::account::AccountSpec;
    use crate::sim::config::{Behaviour, StartState};
    use crate::sim::state::{NewOrder, OrderType, Side};
    use rust_decimal_macros::dec;

    fn state(b: Behaviour) -> (SimState, DateTime<Utc>) {
        let s = SimState::new(
            &AccountSpec::default_ten_etf(),
            b,
            StartState::Authenticated,
            vec![],
        );
        let now = s.now();
        (s, now)
    }

    fn place(s: &mut SimState, now: DateTime<Utc>) -> usize {
        let conid = s.conid_by_symbol("FTEC").unwrap();
        s.place(
            NewOrder {
                coid: Some("c1".into()),
                conid,
                side: Side::Buy,
                order_type: OrderType::Limit,
                limit_price: Some(dec!(1)),
                quantity: Some(dec!(1)),
                cash_qty: None,
                tif: "DAY".into(),
            },
            now,
        );
        s.orders.len() - 1
    }

    #[test]
    fn a_cancel_takes_the_configured_reads() {
        let (mut s, now) = state(Behaviour {
            cancel_pending_reads: 2,
            ..Behaviour::default()
        });
        let i = place(&mut s, now);
        request_cancel(&mut s, i, now);
        assert_eq!(s.orders[i].status, OrderStatus::PendingCancel);
        note_read(&mut s, i, now);
        assert_eq!(s.orders[i].status, OrderStatus::PendingCancel);
        note_read(&mut s, i, now);
        assert_eq!(s.orders[i].status, OrderStatus::Cancelled);
    }

    #[test]
    fn the_live_list_forgets_and_the_status_survives_a_reset_when_configured() {
        let (mut s, now) = state(Behaviour {
            live_orders_forget_after_ms: Some(1000),
            order_status_across_resets: true,
            ..Behaviour::default()
        });
        let i = place(&mut s, now);
        let id = s.orders[i].order_id;
        assert!(listed(&s, i, now));
        assert!(!listed(&s, i, now + ChronoDuration::seconds(2)));
        s.nightly_reset();
        s.authenticate_now(now);
        assert!(!listed(&s, i, now));
        assert_eq!(status_known(&s, id, now), Some(i));
        s.behaviour.order_status_across_resets = false;
        assert_eq!(status_known(&s, id, now), None, "real default: 503");
    }
}
