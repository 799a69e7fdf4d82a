//! Prices an order may be sized and sent at: the reference price (sanity-checked against the
//! book, the position's mark or the prior close) and limit prices on the contract's tick.
//!
//! Why a module of its own: every figure here ends up in an order. A last trade printed
//! outside the current bid/ask (a late print, a stale line) would size the whole plan on a
//! price nobody can trade at; a symbol pbal does not hold has no mark to compare with, so
//! the prior close is the only anchor; and a limit price off the tick is rejected by IBKR
//! (or silently rounded the wrong way, so a buy could cost more than budgeted). Pure
//! functions: each either returns a price or refuses with the numbers.
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::broker::{Quote, Side};
use super::guards::GuardViolation;
use crate::config::OrderSettings;

/// How far outside the bid/ask a last trade may print and still be used, as a fraction of
/// the mid (0.1 %). Beyond it the mid is used: the book is what an order meets now.
const BAND_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// One price-increment rule of a contract (`incrementRules` of `/iserver/contract/rules`):
/// from `lower_edge` upwards, prices are multiples of `increment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementRule {
    pub lower_edge: Decimal,
    pub increment: Decimal,
}

/// A checked reference price and, when it is not a live trade inside the book, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub price: Decimal,
    /// Said to the user (e.g. "last 101.50 outside bid/ask 99.90/100.10: mid used").
    pub note: Option<String>,
}

fn positive(x: Option<Decimal>) -> Option<Decimal> {
    x.filter(|v| *v > Decimal::ZERO)
}

fn pct_from(price: Decimal, anchor: Decimal) -> Decimal {
    ((price - anchor).abs() / anchor * Decimal::ONE_HUNDRED).round_dp(4)
}

/// The price a plan is sized at.
///
/// - Last trade when it lies within bid/ask (± 0.1 % of the mid), else the mid.
/// - No last and no book: a mutual fund (`fund`) is priced at the prior close / NAV (with a
///   note); anything else has no usable price.
/// - The spread must not exceed `orders.max_spread_pct`.
/// - Held: the price must lie within `orders.max_mark_deviation_pct` of the position's mark;
///   not held: of the prior close (`quote.close`) when the gateway sent one.
pub fn reference_price(
    symbol: &str,
    quote: &Quote,
    mark: Option<Decimal>,
    fund: bool,
    s: &OrderSettings,
) -> Result<Reference, GuardViolation> {
    let bid = positive(quote.bid);
    let ask = positive(quote.ask);
    let mid = match (bid, ask) {
        (Some(b), Some(a)) if a >= b => Some((a + b) / Decimal::TWO),
        _ => None,
    };
    if let (Some(b), Some(a), Some(m)) = (bid, ask, mid) {
        let spread_pct = ((a - b) / m * Decimal::ONE_HUNDRED).round_dp(4);
        if spread_pct > s.max_spread_pct {
            return Err(GuardViolation::Spread {
                symbol: symbol.to_owned(),
                spread_pct,
                limit: s.max_spread_pct,
            });
        }
    }
    let close = positive(quote.close);
    let mut note = None;
    let price = match (positive(quote.last), bid, ask, mid) {
        (Some(last), Some(b), Some(a), Some(m)) => {
            let slack = m * BAND_TOLERANCE;
            if last < b - slack || last > a + slack {
                note = Some(format!(
                    "{symbol}: last {last} outside bid/ask {b}/{a}: mid {m} used"
                ));
                m
            } else {
                last
            }
        }
        (Some(last), ..) => last,
        (None, .., Some(m)) => m,
        (None, ..) => match close {
            Some(c) if fund => {
                note = Some(format!(
                    "{symbol}: no live quote for the fund: priced at the prior close/NAV {c}"
                ));
                c
            }
            _ => {
                return Err(GuardViolation::NoPrice {
                    symbol: symbol.to_owned(),
                });
            }
        },
    };
    let anchor = positive(mark).or(close);
    if let Some(anchor) = anchor {
        let deviation_pct = pct_from(price, anchor);
        if deviation_pct > s.max_mark_deviation_pct {
            return Err(GuardViolation::MarkDeviation {
                symbol: symbol.to_owned(),
                price,
                mark: anchor,
                deviation_pct,
                limit: s.max_mark_deviation_pct,
            });
        }
    }
    Ok(Reference { price, note })
}

/// The tick at `price`: the increment of the rule with the highest `lower_edge` not above
/// it; one cent without rules (US stocks above 1.00).
pub fn tick_at(price: Decimal, rules: &[IncrementRule]) -> Decimal {
    rules
        .iter()
        .filter(|r| r.lower_edge <= price && r.increment > Decimal::ZERO)
        .max_by_key(|r| r.lower_edge)
        .map(|r| r.increment)
        .unwrap_or(Decimal::new(1, 2))
}

/// Rounds a limit price onto the tick: buys down (never pay more than budgeted), sells up
/// (never sell for less than intended).
pub fn round_to_tick(price: Decimal, side: Side, rules: &[IncrementRule]) -> Decimal {
    let tick = tick_at(price, rules);
    let units = price / tick;
    let units = match side {
        Side::Buy => units.round_dp_with_strategy(0, RoundingStrategy::ToNegativeInfinity),
        Side::Sell => units.round_dp_with_strategy(0, RoundingStrategy::ToPositiveInfinity),
    };
    (units * tick).normalize()
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

    #[test]
    fn last_inside_the_book_is_used_outside_it_the_mid() {
        let s = orders();
        let inside = q(Some(dec!(99.9)), Some(dec!(100.1)), Some(dec!(100.05)));
        assert_eq!(
            reference_price("A", &inside, None, false, &s).unwrap(),
            Reference {
                price: dec!(100.05),
                note: None
            }
        );
        // A late print 1 % above the ask: the mid, with a note.
        let outside = q(Some(dec!(99.9)), Some(dec!(100.1)), Some(dec!(101.1)));
        let r = reference_price("A", &outside, None, false, &s).unwrap();
        assert_eq!(r.price, dec!(100.0));
        assert!(r.note.unwrap().contains("outside bid/ask"));
        // Within the 0.1 % tolerance: still the last.
        let edge = q(Some(dec!(99.9)), Some(dec!(100.1)), Some(dec!(100.15)));
        assert_eq!(
            reference_price("A", &edge, None, false, &s).unwrap().price,
            dec!(100.15)
        );
        // No book: the last alone.
        let bare = q(None, None, Some(dec!(50)));
        assert_eq!(
            reference_price("A", &bare, None, false, &s).unwrap().price,
            dec!(50)
        );
        let e = reference_price("A", &q(None, None, Some(dec!(0))), None, false, &s).unwrap_err();
        assert!(matches!(e, GuardViolation::NoPrice { .. }));
    }

    #[test]
    fn symbols_not_held_are_checked_against_the_prior_close() {
        let s = orders(); // 5 % deviation allowed
        let mut quote = q(None, None, Some(dec!(110)));
        quote.close = Some(dec!(100));
        let e = reference_price("NEW", &quote, None, false, &s).unwrap_err();
        assert!(
            matches!(e, GuardViolation::MarkDeviation { mark, .. } if mark == dec!(100)),
            "{e}"
        );
        quote.last = Some(dec!(104));
        assert_eq!(
            reference_price("NEW", &quote, None, false, &s)
                .unwrap()
                .price,
            dec!(104)
        );
        // Held: the mark wins over the close.
        quote.last = Some(dec!(110));
        assert!(reference_price("H", &quote, Some(dec!(108)), false, &s).is_ok());
    }

    #[test]
    fn funds_without_a_live_quote_use_the_prior_nav_and_say_so() {
        let s = orders();
        let mut quote = q(None, None, None);
        quote.close = Some(dec!(94.73));
        let r = reference_price("VSMAX", &quote, None, true, &s).unwrap();
        assert_eq!(r.price, dec!(94.73));
        assert!(r.note.unwrap().contains("prior close"));
        // A stock gets no such fallback.
        assert!(reference_price("VTI", &quote, None, false, &s).is_err());
    }

    #[test]
    fn wide_spreads_are_refused() {
        let s = orders(); // 1 %
        let e = reference_price(
            "A",
            &q(Some(dec!(98)), Some(dec!(102)), Some(dec!(100))),
            None,
            false,
            &s,
        )
        .unwrap_err();
        assert!(matches!(e, GuardViolation::Spread { .. }), "{e}");
    }

    #[test]
    fn limit_prices_round_onto_the_tick_buys_down_sells_up() {
        let rules = vec![
            IncrementRule {
                lower_edge: dec!(0),
                increment: dec!(0.0001),
            },
            IncrementRule {
                lower_edge: dec!(1),
                increment: dec!(0.01),
            },
            IncrementRule {
                lower_edge: dec!(500),
                increment: dec!(0.05),
            },
        ];
        assert_eq!(
            round_to_tick(dec!(100.117), Side::Buy, &rules),
            dec!(100.11)
        );
        assert_eq!(
            round_to_tick(dec!(100.111), Side::Sell, &rules),
            dec!(100.12)
        );
        assert_eq!(round_to_tick(dec!(534.13), Side::Buy, &rules), dec!(534.10));
        assert_eq!(
            round_to_tick(dec!(534.11), Side::Sell, &rules),
            dec!(534.15)
        );
        assert_eq!(
            round_to_tick(dec!(0.51237), Side::Buy, &rules),
            dec!(0.5123)
        );
        // On the tick already: unchanged either way.
        assert_eq!(round_to_tick(dec!(534.10), Side::Sell, &rules), dec!(534.1));
        // No rules: cents.
        assert_eq!(round_to_tick(dec!(10.019), Side::Buy, &[]), dec!(10.01));
        assert_eq!(tick_at(dec!(10), &[]), dec!(0.01));
    }
}
