//! Guards between a plan and the market. Pure functions: each either passes or refuses with
//! the numbers, so a user can see exactly which limit a plan broke. Plans are never trimmed
//! silently to fit a cap — a refused plan is a signal that something is unusual.
use std::path::Path;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::broker::{OrderType, Quote, Side};
use crate::config::{OrderKind, OrderSettings};

/// Why a guard refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum GuardViolation {
    #[error("kill switch engaged: {0}")]
    KillSwitch(String),
    #[error(
        "account {0} is a live account; set account.allow_live = true to trade it (paper accounts start with DU)"
    )]
    LiveAccount(String),
    #[error("order {symbol} {side} value {value} exceeds orders.max_order_value {limit}")]
    OrderValue {
        symbol: String,
        side: String,
        value: Decimal,
        limit: Decimal,
    },
    #[error(
        "plan turnover {turnover} is {pct}% of net liquidation {nlv}, above orders.max_turnover_pct {limit}%"
    )]
    Turnover {
        turnover: Decimal,
        nlv: Decimal,
        pct: Decimal,
        limit: Decimal,
    },
    #[error("plan has {count} orders, above orders.max_orders {limit}")]
    OrderCount { count: usize, limit: u32 },
    #[error("{symbol}: no usable price (bid/ask/last missing or not positive)")]
    NoPrice { symbol: String },
    #[error("{symbol}: bid/ask spread {spread_pct}% of mid exceeds orders.max_spread_pct {limit}%")]
    Spread {
        symbol: String,
        spread_pct: Decimal,
        limit: Decimal,
    },
    #[error(
        "{symbol}: quote {price} is {deviation_pct}% from the position's mark {mark}, above orders.max_mark_deviation_pct {limit}%"
    )]
    MarkDeviation {
        symbol: String,
        price: Decimal,
        mark: Decimal,
        deviation_pct: Decimal,
        limit: Decimal,
    },
}

pub use super::account_kind::is_paper;
pub use super::kill_switch::STOP_FILE;

/// The kill switch ([`super::kill_switch`]) as a guard.
pub fn kill_switch(state_dir: &Path, orders: &OrderSettings) -> Result<(), GuardViolation> {
    match super::kill_switch::engaged(state_dir, orders.enabled) {
        Some(why) => Err(GuardViolation::KillSwitch(why)),
        None => Ok(()),
    }
}

/// Refuses a live account unless allowed.
pub fn live_account(
    account_id: &str,
    gateway_says_paper: bool,
    allow_live: bool,
) -> Result<(), GuardViolation> {
    if is_paper(account_id, gateway_says_paper) || allow_live {
        Ok(())
    } else {
        Err(GuardViolation::LiveAccount(account_id.to_owned()))
    }
}

/// One order as planned, before guards: value at its reference price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizedOrder {
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub value: Decimal,
}

/// The three caps: per-order value, turnover as % of net liquidation, order count.
pub fn caps(
    orders: &[SizedOrder],
    net_liquidation: Decimal,
    s: &OrderSettings,
) -> Result<(), GuardViolation> {
    if orders.len() > s.max_orders as usize {
        return Err(GuardViolation::OrderCount {
            count: orders.len(),
            limit: s.max_orders,
        });
    }
    if let Some(o) = orders.iter().find(|o| o.value.abs() > s.max_order_value) {
        return Err(GuardViolation::OrderValue {
            symbol: o.symbol.clone(),
            side: o.side.as_str().to_owned(),
            value: o.value.abs().round_dp(2),
            limit: s.max_order_value,
        });
    }
    let turnover: Decimal = orders.iter().map(|o| o.value.abs()).sum();
    if turnover > Decimal::ZERO {
        // No net liquidation (an empty account) means any turnover is unbounded: refuse.
        let pct = if net_liquidation > Decimal::ZERO {
            (turnover / net_liquidation * Decimal::ONE_HUNDRED).round_dp(2)
        } else {
            Decimal::MAX
        };
        if pct > s.max_turnover_pct {
            return Err(GuardViolation::Turnover {
                turnover: turnover.round_dp(2),
                nlv: net_liquidation.round_dp(2),
                pct,
                limit: s.max_turnover_pct,
            });
        }
    }
    Ok(())
}

fn positive(x: Option<Decimal>) -> Option<Decimal> {
    x.filter(|v| *v > Decimal::ZERO)
}

/// The order type to send: market, or a limit `limit_offset_bps` through the touch
/// (buys at ask + offset, rounded down to the cent; sells at bid − offset, rounded up),
/// falling back to the reference price when there is no bid/ask.
pub fn order_type(side: Side, quote: &Quote, reference: Decimal, s: &OrderSettings) -> OrderType {
    match s.kind {
        OrderKind::Market => OrderType::Market,
        OrderKind::Limit => {
            let offset = s.limit_offset_bps / Decimal::from(10_000);
            let price = match side {
                Side::Buy => (positive(quote.ask).unwrap_or(reference) * (Decimal::ONE + offset))
                    .round_dp_with_strategy(2, RoundingStrategy::ToNegativeInfinity),
                Side::Sell => (positive(quote.bid).unwrap_or(reference) * (Decimal::ONE - offset))
                    .round_dp_with_strategy(2, RoundingStrategy::ToPositiveInfinity),
            };
            OrderType::Limit { price }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use rust_decimal_macros::dec;

    fn orders() -> OrderSettings {
        Settings::load_from(None, Vec::<(String, String)>::new())
            .unwrap()
            .orders
    }

    fn q(bid: Option<Decimal>, ask: Option<Decimal>, last: Option<Decimal>) -> Quote {
        Quote {
            conid: 1,
            bid,
            ask,
            last,
            close: None,
            delayed: false,
        }
    }

    fn order(symbol: &str, side: Side, value: Decimal) -> SizedOrder {
        SizedOrder {
            symbol: symbol.into(),
            side,
            quantity: Decimal::ONE,
            value,
        }
    }

    #[test]
    fn kill_switch_by_file_and_by_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = orders();
        assert!(kill_switch(dir.path(), &s).is_ok());
        std::fs::write(dir.path().join(STOP_FILE), "").unwrap();
        assert!(matches!(
            kill_switch(dir.path(), &s),
            Err(GuardViolation::KillSwitch(m)) if m.contains("STOP")
        ));
        std::fs::remove_file(dir.path().join(STOP_FILE)).unwrap();
        s.enabled = false;
        assert!(kill_switch(dir.path(), &s).is_err());
    }

    #[test]
    fn live_accounts_need_explicit_permission() {
        assert!(live_account("DU123", true, false).is_ok());
        assert!(live_account("U123", false, false).is_err());
        // The gateway's flag and the id disagree: fail closed.
        assert!(live_account("DU123", false, false).is_err());
        assert!(live_account("U123", true, false).is_err());
        assert!(live_account("U123", false, true).is_ok());
    }

    #[test]
    fn caps_refuse_with_the_numbers() {
        let mut s = orders();
        s.max_order_value = dec!(1000);
        s.max_turnover_pct = dec!(10);
        s.max_orders = 2;
        let e = caps(&[order("A", Side::Buy, dec!(1000.01))], dec!(100000), &s).unwrap_err();
        assert!(
            e.to_string().contains("1000.01") && e.to_string().contains("A"),
            "{e}"
        );
        assert!(caps(&[order("A", Side::Buy, dec!(1000))], dec!(100000), &s).is_ok());
        let e = caps(
            &[
                order("A", Side::Sell, dec!(-900)),
                order("B", Side::Buy, dec!(900)),
            ],
            dec!(10000),
            &s,
        )
        .unwrap_err();
        assert_eq!(
            e,
            GuardViolation::Turnover {
                turnover: dec!(1800),
                nlv: dec!(10000),
                pct: dec!(18),
                limit: dec!(10)
            }
        );
        let three = vec![order("A", Side::Buy, dec!(1)); 3];
        assert!(matches!(
            caps(&three, dec!(100000), &s),
            Err(GuardViolation::OrderCount { count: 3, limit: 2 })
        ));
        assert!(caps(&[order("A", Side::Buy, dec!(1))], Decimal::ZERO, &s).is_err());
        assert!(caps(&[], Decimal::ZERO, &s).is_ok());
    }

    #[test]
    fn limit_prices_stay_within_the_offset() {
        let s = orders(); // limit, 10 bp
        let quote = q(Some(dec!(99.99)), Some(dec!(100.01)), Some(dec!(100)));
        assert_eq!(
            order_type(Side::Buy, &quote, dec!(100), &s),
            OrderType::Limit {
                price: dec!(100.11)
            }
        );
        assert_eq!(
            order_type(Side::Sell, &quote, dec!(100), &s),
            OrderType::Limit { price: dec!(99.90) }
        );
        let mut m = s.clone();
        m.kind = OrderKind::Market;
        assert_eq!(
            order_type(Side::Buy, &quote, dec!(100), &m),
            OrderType::Market
        );
    }
}
