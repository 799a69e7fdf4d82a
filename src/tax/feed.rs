//! Bringing a Flex lot statement up to date for the daemon: fills recorded in pbal's journal
//! after the statement was generated are applied (buys open new lots, sells consume lots in
//! the account's matching order), then the lots are checked against the live positions.
//!
//! Flex activity data refreshes once a day, so the statement can lag the account by a day of
//! pbal's own trades; anything else that differs (a manual trade, a corporate action) is a
//! mismatch and an error: the planner never guesses a cost basis.
use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::lots::{Lot, LotMethod, match_order};
use super::wash::PastTrade;
use super::{TaxError, planner::QUANTITY_TOLERANCE};
use crate::strategy::Side;

/// One execution from the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub symbol: String,
    pub conid: Option<i64>,
    pub time: NaiveDateTime,
    pub side: Side,
    /// Shares (> 0).
    pub quantity: Decimal,
    pub price: Decimal,
}

/// The lots after applying `fills` made after `statement_time`, in time order. Earlier fills
/// are already in the statement and are skipped.
pub fn roll_forward(
    lots: &[Lot],
    statement_time: NaiveDateTime,
    fills: &[Fill],
    method: LotMethod,
    st_weight: Decimal,
) -> Result<Vec<Lot>, TaxError> {
    roll_forward_trades(lots, statement_time, fills, method, st_weight).map(|(l, _)| l)
}

/// [`roll_forward`], plus the applied fills as trades for the wash-sale window and the
/// year-to-date results: buys as they are, each sale split by the holding period of the lots
/// it consumed, with the gain those lots realise (predicted with `method`, as IBKR would
/// match them).
pub fn roll_forward_trades(
    lots: &[Lot],
    statement_time: NaiveDateTime,
    fills: &[Fill],
    method: LotMethod,
    st_weight: Decimal,
) -> Result<(Vec<Lot>, Vec<PastTrade>), TaxError> {
    let mut trades = Vec::new();
    let mut by_symbol: BTreeMap<String, Vec<Lot>> = BTreeMap::new();
    for l in lots {
        by_symbol
            .entry(l.symbol.clone())
            .or_default()
            .push(l.clone());
    }
    let mut fills: Vec<&Fill> = fills.iter().filter(|f| f.time > statement_time).collect();
    fills.sort_by_key(|f| f.time);
    for f in fills {
        if f.quantity <= Decimal::ZERO || f.price <= Decimal::ZERO {
            return Err(TaxError::BadLot {
                symbol: f.symbol.clone(),
                field: "fill",
                message: format!(
                    "journal fill at {} has quantity {} and price {}; both must be positive",
                    f.time, f.quantity, f.price
                ),
            });
        }
        let held = by_symbol.entry(f.symbol.clone()).or_default();
        let day = f.time.date();
        match f.side {
            Side::Buy => {
                trades.push(PastTrade {
                    symbol: f.symbol.clone(),
                    trade_date: day,
                    quantity: f.quantity,
                    realized_pnl: Decimal::ZERO,
                    term: None,
                });
                held.push(Lot {
                    symbol: f.symbol.clone(),
                    conid: f.conid,
                    quantity: f.quantity,
                    cost_basis_price: f.price,
                    open: f.time,
                    holding_start: f.time.date(),
                })
            }
            Side::Sell => sell_lots(held, f, method, st_weight, &mut trades)?,
        }
    }
    Ok((by_symbol.into_values().flatten().collect(), trades))
}

/// A journal sale after the statement: consumes `held` lots in the account's matching order
/// and records the sale per term with its realised gain.
fn sell_lots(
    held: &mut Vec<Lot>,
    f: &Fill,
    method: LotMethod,
    st_weight: Decimal,
    trades: &mut Vec<PastTrade>,
) -> Result<(), TaxError> {
    let day = f.time.date();
    let order = match_order(held, method, day, f.price, st_weight);
    let mut left = f.quantity;
    // Per term: (shares, realised gain).
    let mut by_term: BTreeMap<super::Term, (Decimal, Decimal)> = BTreeMap::new();
    for i in order {
        let take = held[i].quantity.min(left);
        let e = by_term.entry(held[i].term(day)).or_default();
        e.0 += take;
        e.1 += take * held[i].gain_per_share(f.price);
        held[i].quantity -= take;
        left -= take;
        if left.is_zero() {
            break;
        }
    }
    for (term, (q, gain)) in by_term.into_iter().filter(|(_, (q, _))| !q.is_zero()) {
        trades.push(PastTrade {
            symbol: f.symbol.clone(),
            trade_date: day,
            quantity: -q,
            realized_pnl: gain,
            term: Some(term),
        });
    }
    if left > Decimal::ZERO {
        return Err(TaxError::NotEnoughLots {
            symbol: f.symbol.clone(),
            wanted: f.quantity,
            available: f.quantity - left,
        });
    }
    held.retain(|l| l.quantity > Decimal::ZERO);
    Ok(())
}

/// Checks that the lots add up to the live positions (symbol → shares); the first mismatch
/// is the error, naming the symbol and both quantities.
pub fn check_positions(
    lots: &[Lot],
    positions: &BTreeMap<String, Decimal>,
) -> Result<(), TaxError> {
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    for l in lots {
        *sums.entry(l.symbol.as_str()).or_default() += l.quantity;
    }
    for (sym, pos) in positions {
        let lots = sums.remove(sym.as_str()).unwrap_or_default();
        if (lots - *pos).abs() > QUANTITY_TOLERANCE {
            return Err(TaxError::LotMismatch {
                symbol: sym.clone(),
                lots,
                position: *pos,
            });
        }
    }
    if let Some((sym, lots)) = sums.into_iter().find(|(_, q)| !q.is_zero()) {
        return Err(TaxError::LotMismatch {
            symbol: sym.to_string(),
            lots,
            position: Decimal::ZERO,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::tax::Term;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn lot(q: Decimal, basis: Decimal, open: &str) -> Lot {
        Lot {
            symbol: "VTI".into(),
            conid: None,
            quantity: q,
            cost_basis_price: basis,
            open: at(open),
            holding_start: at(open).date(),
        }
    }

    fn fill(side: Side, q: Decimal, price: Decimal, time: &str) -> Fill {
        Fill {
            symbol: "VTI".into(),
            conid: None,
            time: at(time),
            side,
            quantity: q,
            price,
        }
    }

    #[test]
    fn journal_fills_after_the_statement_open_and_close_lots() {
        let lots = vec![
            lot(dec!(10), dec!(60), "2023-01-10 09:30"),
            lot(dec!(10), dec!(150), "2025-05-01 09:30"),
        ];
        let fills = vec![
            // In the statement already (before its generation time): skipped.
            fill(Side::Buy, dec!(99), dec!(1), "2025-06-29 10:00"),
            fill(Side::Buy, dec!(5), dec!(100), "2025-06-30 10:00"),
            fill(Side::Sell, dec!(12), dec!(100), "2025-06-30 11:00"),
        ];
        let stmt = at("2025-06-29 18:00");
        // FIFO: the sale takes the 2023 lot and 2 of the 2025-05 lot.
        let fifo = roll_forward(&lots, stmt, &fills, LotMethod::Fifo, dec!(1)).unwrap();
        let q: Vec<Decimal> = fifo.iter().map(|l| l.quantity).collect();
        assert_eq!(q, vec![dec!(8), dec!(5)]);
        assert_eq!(fifo[0].cost_basis_price, dec!(150));
        assert_eq!(
            fifo[1].holding_start,
            NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
        );
        // HIFO: the 150 lot goes first, then 2 of the new 100 lot.
        let hifo = roll_forward(&lots, stmt, &fills, LotMethod::Hifo, dec!(1)).unwrap();
        let q: Vec<(Decimal, Decimal)> = hifo
            .iter()
            .map(|l| (l.quantity, l.cost_basis_price))
            .collect();
        assert_eq!(q, vec![(dec!(10), dec!(60)), (dec!(3), dec!(100))]);
        check_positions(&hifo, &BTreeMap::from([("VTI".to_string(), dec!(13))])).unwrap();
        // The applied fills as trades: the buy, and the FIFO sale split by holding period
        // (10 LT shares from 2023 at 60: +400; 2 ST shares at 150: −100).
        let (_, trades) =
            roll_forward_trades(&lots, stmt, &fills, LotMethod::Fifo, dec!(1)).unwrap();
        let t: Vec<(Decimal, Decimal, Option<Term>)> = trades
            .iter()
            .map(|t| (t.quantity, t.realized_pnl, t.term))
            .collect();
        assert_eq!(
            t,
            vec![
                (dec!(5), dec!(0), None),
                (dec!(-2), dec!(-100), Some(Term::Short)),
                (dec!(-10), dec!(400), Some(Term::Long)),
            ]
        );
    }

    #[test]
    fn a_sale_beyond_the_lots_and_a_position_mismatch_are_errors() {
        let lots = vec![lot(dec!(10), dec!(60), "2023-01-10 09:30")];
        let fills = vec![fill(Side::Sell, dec!(11), dec!(100), "2025-06-30 11:00")];
        let e = roll_forward(
            &lots,
            at("2025-06-29 18:00"),
            &fills,
            LotMethod::Fifo,
            dec!(1),
        );
        assert!(matches!(e, Err(TaxError::NotEnoughLots { .. })));
        let e = check_positions(&lots, &BTreeMap::from([("VTI".to_string(), dec!(12))]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "VTI: the lots add up to 10 shares but the position is 12; refresh the lots \
             (Flex query) so they match the account"
        );
        let e = check_positions(&lots, &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, TaxError::LotMismatch { position, .. } if position.is_zero()));
    }
}
