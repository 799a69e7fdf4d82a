//! Wash-sale windows and "substantially identical" groups.
//!
//! A loss is disallowed when the same or a substantially identical security is bought within
//! 30 days before or after the sale. pbal cannot know future buys it does not make, so it
//! enforces both directions on what it controls, conservatively:
//! - no loss-realising sale of a group bought within the past 30 days (trade history, or a lot
//!   opened in the window, or a buy in this very run);
//! - no buy of a group sold at a loss within the past 30 days, or at a loss in this run.
//!
//! The buy ban lasts 30 days after the sale, so the first allowed buy back is on day 31.
use std::collections::{BTreeSet, HashMap};

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::TaxError;
use super::lots::Lot;

/// Days on each side of a loss sale in which a buy makes it a wash sale.
pub const WASH_WINDOW_DAYS: u64 = 30;

/// One past execution (Flex "Trades" section), for the wash-sale window and year-to-date
/// realised results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastTrade {
    pub symbol: String,
    pub trade_date: NaiveDate,
    /// Signed: + bought, − sold.
    pub quantity: Decimal,
    /// Flex `FifoPnlRealized` (0 on buys).
    pub realized_pnl: Decimal,
    /// `Some(Term)` when the row says ST or LT (Flex notes); used for year-to-date results.
    #[serde(default)]
    pub term: Option<super::lots::Term>,
}

/// Symbol → group key (the group's first symbol); symbols in no group are their own group.
#[derive(Debug, Clone, Default)]
pub struct Identical {
    key: HashMap<String, String>,
}

impl Identical {
    /// Builds the groups; a symbol listed in two groups is an error (the groups would merge
    /// silently otherwise).
    pub fn new(groups: &[Vec<String>]) -> Result<Self, TaxError> {
        let mut key = HashMap::new();
        for g in groups {
            let Some(first) = g.first() else { continue };
            for s in g {
                if let Some(prev) = key.insert(s.clone(), first.clone())
                    && prev != *first
                {
                    return Err(TaxError::Settings(format!(
                        "tax.identical: {s} is in two groups; merge them"
                    )));
                }
            }
        }
        Ok(Identical { key })
    }

    pub fn group<'a>(&'a self, symbol: &'a str) -> &'a str {
        self.key.get(symbol).map_or(symbol, String::as_str)
    }
}

/// What happened in the window before `as_of`, by identical group.
#[derive(Debug, Clone, Default)]
pub struct WashWindow {
    pub identical: Identical,
    /// Groups bought within the past 30 days (or in this run).
    pub bought: BTreeSet<String>,
    /// Groups sold at a loss within the past 30 days (or in this run).
    pub loss_sold: BTreeSet<String>,
}

impl WashWindow {
    pub fn new(identical: Identical, trades: &[PastTrade], lots: &[Lot], as_of: NaiveDate) -> Self {
        let from = as_of
            .checked_sub_days(Days::new(WASH_WINDOW_DAYS))
            .unwrap_or(NaiveDate::MIN);
        let inside = |d: NaiveDate| d >= from && d <= as_of;
        let mut w = WashWindow {
            identical,
            ..Default::default()
        };
        for t in trades.iter().filter(|t| inside(t.trade_date)) {
            let g = w.identical.group(&t.symbol).to_string();
            if t.quantity > Decimal::ZERO {
                w.bought.insert(g);
            } else if t.quantity < Decimal::ZERO && t.realized_pnl < Decimal::ZERO {
                w.loss_sold.insert(g);
            }
        }
        for l in lots.iter().filter(|l| inside(l.open.date())) {
            let g = w.identical.group(&l.symbol).to_string();
            w.bought.insert(g);
        }
        w
    }

    /// A sale of `symbol` must not realise a loss (its group was bought in the window).
    pub fn loss_sale_blocked(&self, symbol: &str) -> bool {
        self.bought.contains(self.identical.group(symbol))
    }

    /// `symbol` must not be bought (its group was sold at a loss in the window).
    pub fn buy_blocked(&self, symbol: &str) -> bool {
        self.loss_sold.contains(self.identical.group(symbol))
    }

    pub fn record_buy(&mut self, symbol: &str) {
        let g = self.identical.group(symbol).to_string();
        self.bought.insert(g);
    }

    pub fn record_loss_sale(&mut self, symbol: &str) {
        let g = self.identical.group(symbol).to_string();
        self.loss_sold.insert(g);
    }
}

/// Year-to-date realised results from past trades in `as_of`'s calendar year (up to
/// `as_of`). Rows without an ST/LT note count as short-term: the costlier assumption.
pub fn year_to_date(trades: &[PastTrade], as_of: NaiveDate) -> super::netting::Realized {
    use chrono::Datelike;
    let mut r = super::netting::Realized::default();
    for t in trades
        .iter()
        .filter(|t| t.trade_date.year() == as_of.year() && t.trade_date <= as_of)
    {
        r += super::netting::Realized::of(
            t.term.unwrap_or(super::lots::Term::Short),
            t.realized_pnl,
        );
    }
    r
}
