//! The simulated world on literal states: commissions, fills, market hours, session expiry
//! and pacing.
use super::*;
use chrono::TimeZone;

fn state() -> SimState {
    SimState::new(
        &AccountSpec::default_ten_etf(),
        Behaviour::default(),
        StartState::Authenticated,
        vec![],
    )
}

#[test]
fn commission_is_ibkr_fixed_with_min_and_cap() {
    assert_eq!(SimState::commission(dec!(10), dec!(100)), dec!(1.00));
    assert_eq!(SimState::commission(dec!(1000), dec!(100)), dec!(5.00));
    // 1 share at 50: min 1.00 but capped at 1 % of 50 = 0.50.
    assert_eq!(SimState::commission(dec!(1), dec!(50)), dec!(0.50));
}

#[test]
fn market_buy_fills_and_moves_cash_and_position() {
    let mut s = state();
    let now = s.now();
    let conid = s.conid_by_symbol("VAW").unwrap();
    let before_cash = s.cash;
    let before_qty = s.holdings[&conid].quantity;
    let (id, _) = s.place(
        NewOrder {
            coid: Some("c1".into()),
            conid,
            side: Side::Buy,
            order_type: OrderType::Market,
            limit_price: None,
            quantity: Some(dec!(2)),
            cash_qty: None,
            tif: "DAY".into(),
        },
        now,
    );
    let o = s.orders.iter().find(|o| o.order_id == id).unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(s.holdings[&conid].quantity, before_qty + dec!(2));
    assert_eq!(s.cash, before_cash - dec!(2) * dec!(180.51) - dec!(1.00));
    assert!(s.coid_registered("c1", now));
    assert!(
        !s.coid_registered("c1", now + ChronoDuration::hours(25)),
        "cOID unique for 24 h only"
    );
}

#[test]
fn limit_order_waits_until_marketable() {
    let mut s = state();
    let now = s.now();
    let conid = s.conid_by_symbol("VNQ").unwrap();
    let (id, _) = s.place(
        NewOrder {
            coid: None,
            conid,
            side: Side::Buy,
            order_type: OrderType::Limit,
            limit_price: Some(dec!(80)),
            quantity: Some(dec!(1)),
            cash_qty: None,
            tif: "DAY".into(),
        },
        now,
    );
    let st = |s: &SimState| s.orders.iter().find(|o| o.order_id == id).unwrap().status;
    assert_eq!(st(&s), OrderStatus::Submitted);
    s.set_price(conid, dec!(79.5), now);
    assert_eq!(st(&s), OrderStatus::Filled);
    assert_eq!(s.orders[0].avg_price, Some(dec!(79.5)));
}

#[test]
fn partial_cash_quantity_order_never_overspends() {
    let mut s = state();
    s.behaviour.fill_mode = FillMode::Partial {
        fraction: dec!(0.5),
    };
    let now = s.now();
    let conid = s.conid_by_symbol("VNQ").unwrap(); // 83.10
    let (id, _) = s.place(
        NewOrder {
            coid: None,
            conid,
            side: Side::Buy,
            order_type: OrderType::Market,
            limit_price: None,
            quantity: None,
            cash_qty: Some(dec!(831)),
            tif: "DAY".into(),
        },
        now,
    );
    let o = s.orders.iter().find(|o| o.order_id == id).unwrap().clone();
    assert_eq!((o.filled, o.status), (dec!(5), OrderStatus::Submitted));
    s.behaviour.fill_mode = FillMode::Immediate;
    s.process_fills(now);
    let o = s.orders.iter().find(|o| o.order_id == id).unwrap();
    assert_eq!(
        (o.filled, o.status),
        (dec!(10), OrderStatus::Filled),
        "831 / 83.10 = 10 shares in total"
    );
}

#[test]
fn market_hours_hold_orders_and_moc_fills_at_the_close() {
    let mut spec = AccountSpec::default_ten_etf();
    spec.market_hours = Some(super::super::account::MarketHours {
        tz: "America/New_York".into(),
        open: "09:30".into(),
        close: "16:00".into(),
    });
    let mut s = SimState::new(
        &spec,
        Behaviour::default(),
        StartState::Authenticated,
        vec![],
    );
    let conid = s.conid_by_symbol("VAW").unwrap();
    let order = |t: OrderType| NewOrder {
        coid: None,
        conid,
        side: Side::Buy,
        order_type: t,
        limit_price: None,
        quantity: Some(dec!(1)),
        cash_qty: None,
        tif: "DAY".into(),
    };
    // Thursday 2026-11-19 08:00 EST (13:00 UTC): closed.
    let pre = Utc.with_ymd_and_hms(2026, 11, 19, 13, 0, 0).unwrap();
    let (mkt, st) = s.place(order(OrderType::Market), pre);
    assert_eq!(st, OrderStatus::PreSubmitted);
    let (moc, _) = s.place(order(OrderType::MarketOnClose), pre);
    let status = |s: &SimState, id| s.orders.iter().find(|o| o.order_id == id).unwrap().status;
    // 10:00 EST: open → the market order fills, the MOC waits for the close.
    let open = Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap();
    s.process_fills(open);
    assert_eq!(status(&s, mkt), OrderStatus::Filled);
    assert_ne!(status(&s, moc), OrderStatus::Filled);
    // 16:01 EST: after the close → MOC filled.
    s.process_fills(Utc.with_ymd_and_hms(2026, 11, 19, 21, 1, 0).unwrap());
    assert_eq!(status(&s, moc), OrderStatus::Filled);
}

#[test]
fn idle_expiry_and_nightly_reset() {
    let mut s = state();
    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    s.last_tick = t0;
    s.session.last_activity = t0;
    s.session.iserver_primed = true;
    s.tick(t0 + ChronoDuration::minutes(5));
    assert!(s.session.sso && s.session.iserver_primed);
    s.touch(t0 + ChronoDuration::minutes(5));
    // 01:00 New York (EDT) = 05:00 UTC next day; keep the session alive until just before.
    let before = Utc.with_ymd_and_hms(2026, 6, 2, 4, 59, 0).unwrap();
    s.session.last_activity = before;
    s.tick(before);
    assert!(s.session.authenticated);
    s.tick(before + ChronoDuration::minutes(2));
    assert!(!s.session.authenticated && !s.session.iserver_primed && s.session.sso);
    s.tick(before + ChronoDuration::minutes(10));
    assert!(
        !s.session.sso,
        "idle for more than 6 minutes drops the session"
    );
}

#[test]
fn rate_limit_penalty_box() {
    let mut s = state();
    let t = s.now();
    assert!(s.rate_check("GET", "/portfolio/accounts", t));
    assert!(!s.rate_check("GET", "/portfolio/accounts", t + ChronoDuration::seconds(1)));
    // Penalty: everything refused for 10 minutes, even other endpoints.
    assert!(!s.rate_check(
        "POST",
        "/iserver/auth/status",
        t + ChronoDuration::minutes(9)
    ));
    assert!(s.rate_check(
        "POST",
        "/iserver/auth/status",
        t + ChronoDuration::minutes(11)
    ));
    let mut g = state();
    let t = g.now();
    for _ in 0..10 {
        assert!(g.rate_check("POST", "/iserver/auth/status", t));
    }
    assert!(
        !g.rate_check("POST", "/iserver/auth/status", t),
        "11th request in a second"
    );
}
