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
        match f.side {
            Side::Buy => held.push(Lot {
                symbol: f.symbol.clone(),
                conid: f.conid,
                quantity: f.quantity,
                cost_basis_price: f.price,
                open: f.time,
                holding_start: f.time.date(),
            }),
            Side::Sell => {
                let order = match_order(held, method, f.time.date(), f.price, st_weight);
                let mut left = f.quantity;
                for i in order {
                    let take = held[i].quantity.min(left);
                    held[i].quantity -= take;
                    left -= take;
                    if left.is_zero() {
                        break;
                    }
                }
                if left > Decimal::ZERO {
                    return Err(TaxError::NotEnoughLots {
                        symbol: f.symbol.clone(),
                        wanted: f.quantity,
                        available: f.quantity - left,
                    });
                }
                held.retain(|l| l.quantity > Decimal::ZERO);
            }
        }
    }
    Ok(by_symbol.into_values().flatten().collect())
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
