//! Loss harvesting: sell the leading loss lots of a symbol and buy its alternate with the
//! proceeds, so the exposure stays (within one alternate share) while the loss is realised.
//!
//! Which lots go is IBKR's matching order, not pbal's choice: harvesting takes the lots at
//! the front of that order that each lose more than `harvest_min_loss`, and stops at the
//! first that does not (with FIFO an old gain lot in front blocks the harvest entirely; the
//! loss-first methods such as `HIFO` or `MaxSTLoss` suit harvesting).
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use super::netting::Realized;
use super::sells::Book;
use super::wash::WashWindow;
use super::{Harvest, Lot, Sale, TaxError, TaxSettings};

/// What the harvests did: sales, alternate buys, cash left over, realised results.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub harvests: Vec<Harvest>,
    pub sales: Vec<Sale>,
    /// Symbol → shares bought (alternates).
    pub buys: BTreeMap<String, Decimal>,
    /// Proceeds minus alternate cost.
    pub cash: Decimal,
    pub realized: Realized,
}

/// Runs every configured harvest in symbol order, updating the books (shares used, the
/// alternates' new lots) and the wash-sale window (this run's loss sales and buys).
pub(crate) fn run(
    books: &mut BTreeMap<String, Book>,
    prices: &HashMap<String, Decimal>,
    settings: &TaxSettings,
    wash: &mut WashWindow,
    as_of: NaiveDate,
    whole: bool,
) -> Result<Outcome, TaxError> {
    let mut out = Outcome::default();
    for (x, y) in &settings.alternates {
        let Some(&py) = prices.get(y) else {
            return Err(TaxError::Settings(format!(
                "tax.alternates: {y} (the alternate of {x}) has no price; add it to the \
                 positions as a quantity-0 row with a price"
            )));
        };
        if wash.loss_sale_blocked(x) || wash.buy_blocked(y) {
            continue;
        }
        let Some(book) = books.get(x) else { continue };
        let start = book.used;
        let end = harvest_end(book, settings.harvest_min_loss, whole);
        if end <= start {
            continue;
        }
        let shares = end - start;
        let proceeds = shares * book.price;
        let alt = if whole {
            (proceeds / py).floor()
        } else {
            (proceeds / py).round_dp_with_strategy(4, RoundingStrategy::ToZero)
        };
        if alt <= Decimal::ZERO {
            continue;
        }
        let uses = book.uses(start, end, as_of);
        let mut r = Realized::default();
        for u in &uses {
            r += Realized::of(u.term, u.gain);
        }
        let price = book.price;
        if let Some(b) = books.get_mut(x) {
            b.used = end;
        }
        add_lot(books, y, alt, py, as_of);
        wash.record_loss_sale(x);
        wash.record_buy(y);
        out.realized += r;
        out.cash += proceeds - alt * py;
        *out.buys.entry(y.clone()).or_default() += alt;
        out.harvests.push(Harvest {
            symbol: x.clone(),
            shares,
            loss: -r.total(),
            alternate: y.clone(),
            alternate_shares: alt,
            residual: proceeds - alt * py,
        });
        out.sales.push(Sale {
            symbol: x.clone(),
            shares,
            price,
            harvest: true,
            realized_short_term: r.short_term,
            realized_long_term: r.long_term,
            lots: uses,
        });
    }
    Ok(out)
}

/// How far into `book` (in shares, from what is already used) the harvest may sell: every
/// next lot whose loss is above `min_loss`, whole shares unless the position closes.
fn harvest_end(book: &Book, min_loss: Decimal, whole: bool) -> Decimal {
    let start = book.used;
    let mut end = start;
    let mut c0 = Decimal::ZERO;
    for l in &book.lots {
        let c1 = c0 + l.quantity;
        if c1 > start {
            let q = c1 - c0.max(start);
            let loss = -q * l.gain_per_share(book.price);
            if loss <= min_loss || loss <= Decimal::ZERO {
                break;
            }
            end = c1;
        }
        c0 = c1;
    }
    if whole && end < book.position() {
        end = end.floor();
    }
    end
}

/// The alternate bought today becomes a new lot in its book.
fn add_lot(
    books: &mut BTreeMap<String, Book>,
    symbol: &str,
    quantity: Decimal,
    price: Decimal,
    as_of: NaiveDate,
) {
    let lot = Lot {
        symbol: symbol.to_owned(),
        conid: None,
        quantity,
        cost_basis_price: price,
        open: as_of.and_hms_opt(0, 0, 0).unwrap_or_default(),
        holding_start: as_of,
    };
    books
        .entry(symbol.to_owned())
        .or_insert_with(|| Book {
            price,
            lots: Vec::new(),
            used: Decimal::ZERO,
        })
        .push(lot);
}
