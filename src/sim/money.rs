//! The simulated account's money: cash per currency with exchange rates to the base currency,
//! settlement (sale proceeds are cash at once but *settled* cash only one trading day later),
//! and the cash-account rules a real broker enforces after the fact (good-faith violations).
//!
//! Why: a real IBKR ledger is keyed by currency plus `BASE`, its `settledcash` lags
//! `cashbalance` after a sale, and a cash account that sells a position bought with unsettled
//! money is restricted for 90 days. A simulator whose cash is one always-settled USD number
//! cannot show a client that budgets on the wrong figure.
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::state::SimState;

/// Proceeds of a sale not yet settled.
#[derive(Debug, Clone, Serialize)]
pub struct Unsettled {
    pub currency: String,
    pub amount: Decimal,
    pub settles_at: DateTime<Utc>,
}

/// A purchase whose payment has not settled yet (cash accounts: selling it early is a
/// good-faith violation when it was paid with unsettled proceeds).
#[derive(Debug, Clone, Serialize)]
pub struct OpenLot {
    pub conid: i64,
    pub quantity: Decimal,
    pub settles_at: DateTime<Utc>,
    /// Whether settled cash could not cover it at purchase time.
    pub paid_with_unsettled: bool,
}

/// Money books beside the base-currency `SimState::cash`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Books {
    /// Units of base currency per unit of the currency (e.g. `EUR = 1.08` for a USD base).
    pub fx_rates: BTreeMap<String, Decimal>,
    /// Cash in currencies other than the base.
    pub foreign_cash: BTreeMap<String, Decimal>,
    pub unsettled: Vec<Unsettled>,
    pub lots: Vec<OpenLot>,
    /// `STKCASH` (cash account) or `STKNOPT` (margin; the only value the OpenAPI lists).
    pub cash_account: bool,
    /// Good-faith / free-riding violations the account committed (tests assert none).
    pub violations: Vec<String>,
}

/// The next trading day (Monday–Friday, no holidays) at the same time: T+1 settlement.
pub fn settlement_at(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut t = now + Duration::days(1);
    while matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
        t += Duration::days(1);
    }
    t
}

impl SimState {
    /// Exchange rate of `ccy` to the base currency (1 for the base; `None` when unknown).
    pub fn fx_rate(&self, ccy: &str) -> Option<Decimal> {
        if ccy == self.currency {
            Some(Decimal::ONE)
        } else {
            self.books.fx_rates.get(ccy).copied()
        }
    }

    /// Currency an instrument trades in.
    pub fn instrument_currency(&self, conid: i64) -> String {
        self.instruments
            .get(&conid)
            .and_then(|i| i.currency.clone())
            .unwrap_or_else(|| self.currency.clone())
    }

    /// Cash balance of one currency (may be negative after a foreign buy: an FX loan).
    pub fn cash_in(&self, ccy: &str) -> Decimal {
        if ccy == self.currency {
            self.cash
        } else {
            self.books
                .foreign_cash
                .get(ccy)
                .copied()
                .unwrap_or_default()
        }
    }

    fn add_cash(&mut self, ccy: &str, delta: Decimal) {
        if ccy == self.currency {
            self.cash += delta;
        } else {
            *self.books.foreign_cash.entry(ccy.to_owned()).or_default() += delta;
        }
    }

    /// Settled cash of one currency at `now`: the balance less sale proceeds still settling.
    pub fn settled_in(&self, ccy: &str, now: DateTime<Utc>) -> Decimal {
        let pending: Decimal = self
            .books
            .unsettled
            .iter()
            .filter(|u| u.currency == ccy && u.settles_at > now)
            .map(|u| u.amount)
            .sum();
        self.cash_in(ccy) - pending
    }

    /// Books a fill's cash: buys pay now, sales credit cash now and settled cash at T+1.
    /// In a cash account, selling a lot bought with unsettled money before it settled is
    /// recorded as a good-faith violation.
    pub(crate) fn book_fill(
        &mut self,
        conid: i64,
        buy: bool,
        size: Decimal,
        net: Decimal,
        now: DateTime<Utc>,
    ) {
        let ccy = self.instrument_currency(conid);
        if buy {
            let unsettled_paid = self.settled_in(&ccy, now) < net;
            self.add_cash(&ccy, -net);
            self.books.lots.push(OpenLot {
                conid,
                quantity: size,
                settles_at: settlement_at(now),
                paid_with_unsettled: unsettled_paid,
            });
        } else {
            if self.books.cash_account {
                let early: Decimal = self
                    .books
                    .lots
                    .iter()
                    .filter(|l| l.conid == conid && l.settles_at > now && l.paid_with_unsettled)
                    .map(|l| l.quantity)
                    .sum();
                let held = self
                    .holdings
                    .get(&conid)
                    .map(|h| h.quantity + size)
                    .unwrap_or(size);
                // Shares sold beyond those paid with settled money are unsettled purchases.
                if size > held - early {
                    let sym = self
                        .instruments
                        .get(&conid)
                        .map(|i| i.symbol.clone())
                        .unwrap_or_default();
                    self.books.violations.push(format!(
                        "good-faith violation: sold {size} {sym} bought with unsettled funds before settlement"
                    ));
                }
            }
            self.add_cash(&ccy, net);
            self.books.unsettled.push(Unsettled {
                currency: ccy,
                amount: net,
                settles_at: settlement_at(now),
            });
        }
        self.books.unsettled.retain(|u| u.settles_at > now);
        self.books.lots.retain(|l| l.settles_at > now);
    }

    /// Value of holdings of `asset_class` traded in `ccy`, in that currency.
    fn holdings_value_in(&self, asset_class: &str, ccy: &str) -> Decimal {
        self.holdings
            .iter()
            .filter(|(c, _)| {
                self.instruments.get(c).is_some_and(|i| {
                    i.asset_class == asset_class
                        && i.currency.as_deref().unwrap_or(&self.currency) == ccy
                })
            })
            .map(|(c, h)| h.quantity * self.price(*c).unwrap_or_default())
            .sum()
    }

    /// Every currency the account has cash or positions in, base first.
    fn currencies(&self) -> Vec<String> {
        let mut v = vec![self.currency.clone()];
        let others = self
            .books
            .foreign_cash
            .keys()
            .cloned()
            .chain(self.instruments.values().filter_map(|i| i.currency.clone()));
        for c in others {
            if !v.contains(&c) {
                v.push(c);
            }
        }
        v
    }

    /// Cash of every currency converted to the base currency.
    pub fn total_cash_base(&self) -> Decimal {
        self.currencies()
            .iter()
            .map(|c| self.cash_in(c) * self.fx_rate(c).unwrap_or_default())
            .sum()
    }

    /// Settled cash of every currency converted to the base currency.
    pub fn settled_cash_base(&self, now: DateTime<Utc>) -> Decimal {
        self.currencies()
            .iter()
            .map(|c| self.settled_in(c, now) * self.fx_rate(c).unwrap_or_default())
            .sum()
    }

    /// Holdings of one asset class converted to the base currency.
    pub fn holdings_value_base(&self, asset_class: &str) -> Decimal {
        self.currencies()
            .iter()
            .map(|c| self.holdings_value_in(asset_class, c) * self.fx_rate(c).unwrap_or_default())
            .sum()
    }

    /// `/portfolio/{acct}/ledger`: one entry per currency (values in that currency) plus `BASE`
    /// (everything converted), `endofbundle` on the last.
    pub(crate) fn ledger_json(&self, now: DateTime<Utc>) -> Value {
        let n = |d: Decimal| {
            d.round_dp(2)
                .normalize()
                .to_string()
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or(Value::Null)
        };
        let entry = |key: &str,
                     cash: Decimal,
                     settled: Decimal,
                     stk: Decimal,
                     funds: Decimal,
                     rate: Decimal| {
            json!({
                "acctcode": self.account_id, "currency": key, "secondkey": key, "key": "LedgerList",
                "cashbalance": n(cash), "settledcash": n(settled), "cashbalancefxsegment": 0.0,
                "netliquidationvalue": n(cash + stk + funds),
                "stockmarketvalue": n(stk), "funds": n(funds), "moneyfunds": 0.0,
                "stockoptionmarketvalue": 0.0, "futuremarketvalue": 0.0, "futureoptionmarketvalue": 0.0,
                "futuresonlypnl": 0.0, "corporatebondsmarketvalue": 0.0, "tbondsmarketvalue": 0.0,
                "tbillsmarketvalue": 0.0, "warrantsmarketvalue": 0.0, "issueroptionsmarketvalue": 0.0,
                "commoditymarketvalue": 0.0, "cryptocurrencyvalue": 0.0, "interest": 0.0, "dividends": 0.0,
                "realizedpnl": n(self.realized_total), "unrealizedpnl": n(self.unrealized()),
                "exchangerate": n(rate), "timestamp": now.timestamp(), "sessionid": 1, "severity": 0
            })
        };
        let mut m = serde_json::Map::new();
        for c in self.currencies() {
            let rate = self.fx_rate(&c).unwrap_or_default();
            m.insert(
                c.clone(),
                entry(
                    &c,
                    self.cash_in(&c),
                    self.settled_in(&c, now),
                    self.holdings_value_in("STK", &c),
                    self.holdings_value_in("FUND", &c),
                    rate,
                ),
            );
        }
        m.insert(
            "BASE".into(),
            entry(
                "BASE",
                self.total_cash_base(),
                self.settled_cash_base(now),
                self.holdings_value_base("STK"),
                self.holdings_value_base("FUND"),
                Decimal::ONE,
            ),
        );
        if let Some(last) = m.values_mut().next_back() {
            last["endofbundle"] = json!(1);
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::account::AccountSpec;
    use crate::sim::config::{Behaviour, StartState};
    use crate::sim::state::{NewOrder, OrderType, Side};
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn order(conid: i64, side: Side, qty: Decimal) -> NewOrder {
        NewOrder {
            coid: None,
            conid,
            side,
            order_type: OrderType::Market,
            limit_price: None,
            quantity: Some(qty),
            cash_qty: None,
            tif: "DAY".into(),
        }
    }

    #[test]
    fn settlement_skips_the_weekend() {
        let fri = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
        assert_eq!(
            settlement_at(fri),
            Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap()
        );
    }

    #[test]
    fn settled_cash_lags_cash_by_one_trading_day_after_a_sale() {
        let mut s = SimState::new(
            &AccountSpec::default_ten_etf(),
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap();
        let vaw = s.conid_by_symbol("VAW").unwrap();
        let before = s.cash;
        s.place(order(vaw, Side::Sell, dec!(10)), now);
        let proceeds = s.cash - before;
        assert!(proceeds > Decimal::ZERO);
        assert_eq!(s.settled_in("USD", now), before, "proceeds not settled yet");
        let l = s.ledger_json(now);
        let d = |v: &Value| v.to_string().parse::<Decimal>().unwrap();
        assert_eq!(d(&l["USD"]["settledcash"]), before);
        assert_eq!(d(&l["USD"]["cashbalance"]), s.cash.round_dp(2));
        let next_day = now + Duration::days(1) + Duration::minutes(1);
        assert_eq!(s.settled_in("USD", next_day), s.cash);
    }

    #[test]
    fn foreign_instruments_book_their_own_currency_and_base_converts() {
        let mut spec = AccountSpec::default_ten_etf();
        spec.fx_rates.insert("EUR".into(), dec!(1.10));
        spec.foreign_cash.insert("EUR".into(), dec!(1000));
        spec.instruments[0].currency = Some("EUR".into()); // FTEC priced in EUR here
        spec.validate().unwrap();
        let mut s = SimState::new(
            &spec,
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap();
        let ftec = s.conid_by_symbol("FTEC").unwrap();
        let usd_before = s.cash;
        s.place(order(ftec, Side::Buy, dec!(1)), now);
        assert_eq!(s.cash, usd_before, "a EUR buy leaves USD cash alone");
        assert_eq!(s.cash_in("EUR"), dec!(1000) - dec!(128.62) - dec!(1.00));
        let l = s.ledger_json(now);
        assert_eq!(l["EUR"]["exchangerate"].to_string(), "1.1");
        let base_cash: Decimal = l["BASE"]["cashbalance"].to_string().parse().unwrap();
        assert_eq!(
            base_cash,
            (usd_before + s.cash_in("EUR") * dec!(1.10)).round_dp(2)
        );
        let last = l.as_object().unwrap().values().next_back().unwrap();
        assert_eq!(last["endofbundle"], 1);
    }

    #[test]
    fn cash_account_selling_an_unsettled_purchase_is_a_violation() {
        let mut spec = AccountSpec::default_ten_etf();
        spec.account_type = "cash".into();
        spec.cash = dec!(100);
        let mut s = SimState::new(
            &spec,
            Behaviour::default(),
            StartState::Authenticated,
            vec![],
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap();
        let vnq = s.conid_by_symbol("VNQ").unwrap(); // 83.10
        let vaw = s.conid_by_symbol("VAW").unwrap();
        s.place(order(vaw, Side::Sell, dec!(5)), now); // unsettled proceeds
        s.place(order(vnq, Side::Buy, dec!(5)), now); // paid partly with them
        assert!(s.books.violations.is_empty());
        let all = s.holdings[&vnq].quantity;
        s.place(order(vnq, Side::Sell, all), now + Duration::hours(1));
        assert_eq!(s.books.violations.len(), 1, "{:?}", s.books.violations);
    }
}
