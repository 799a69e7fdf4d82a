//! Tax lots, their holding period and the order in which a sale consumes them.
//!
//! IBKR decides which lots a sale closes with the account's default lot-matching method; an
//! order placed through the Client Portal API cannot pick lots. So pbal does not *choose*
//! lots: it *predicts* IBKR's choice with the same method, and the planner only decides how
//! many shares to sell. Every method here is a fixed total order of the lots (given the
//! sale's date and price), so selling `n` shares always consumes a prefix of that order.
use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::TaxError;

/// One open tax lot (a Flex Query "Open Positions" row at `LOT` level of detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lot {
    pub symbol: String,
    #[serde(default)]
    pub conid: Option<i64>,
    /// Shares in the lot (> 0; short lots are not supported).
    pub quantity: Decimal,
    /// Cost basis per share (Flex `CostBasisPrice`, or `CostBasisMoney / Quantity`).
    pub cost_basis_price: Decimal,
    /// When the lot was opened (Flex `OpenDateTime`); orders FIFO and LIFO.
    pub open: NaiveDateTime,
    /// Start of the holding period (Flex `HoldingPeriodDateTime`), which decides short- versus
    /// long-term. It differs from `open` when a wash sale carried a holding period over.
    pub holding_start: NaiveDate,
}

impl Lot {
    /// Short- or long-term if sold on `sale`. US rule: long-term when held *more than* one
    /// year, counting from the day after acquisition, so a sale on the first anniversary is
    /// still short-term and the day after is long-term. A lot started on 29 February reaches
    /// its anniversary on 28 February (chrono's month arithmetic clamps the day).
    pub fn term(&self, sale: NaiveDate) -> Term {
        match self.holding_start.checked_add_months(Months::new(12)) {
            Some(anniversary) if sale > anniversary => Term::Long,
            _ => Term::Short,
        }
    }

    /// Gain (+) or loss (−) per share when sold at `price`.
    pub fn gain_per_share(&self, price: Decimal) -> Decimal {
        price - self.cost_basis_price
    }
}

/// Holding-period class of a realised gain or loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    Short,
    Long,
}

impl Term {
    pub fn as_str(self) -> &'static str {
        match self {
            Term::Short => "short-term",
            Term::Long => "long-term",
        }
    }
}

/// The account's lot-matching method (IBKR Tax Optimizer names; `HIFO` is IBKR's "Highest
/// Cost"; `MinTaxes` is pbal's own, see [`LotMethod::MinTaxes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LotMethod {
    /// First in, first out: oldest `OpenDateTime` first (IBKR's default).
    #[default]
    #[serde(rename = "FIFO")]
    Fifo,
    /// Last in, first out: newest first.
    #[serde(rename = "LIFO")]
    Lifo,
    /// Highest cost first: the largest loss, else the smallest gain.
    #[serde(rename = "HIFO")]
    Hifo,
    /// LT gain (largest first), ST gain (largest), ST loss (smallest), LT loss (smallest).
    MaxLTGain,
    /// LT loss (largest first), ST loss (largest), ST gain (smallest), LT gain (smallest).
    MaxLTLoss,
    /// ST gain (largest first), LT gain (largest), LT loss (smallest), ST loss (smallest).
    MaxSTGain,
    /// ST loss (largest first), LT loss (largest), LT gain (smallest), ST gain (smallest).
    MaxSTLoss,
    /// Smallest tax cost first: per-share gain weighted by `st_weight` when short-term.
    /// IBKR offers no such account default; use it only where lots are matched the same way
    /// (e.g. by hand in the Tax Optimizer), otherwise predictions differ from IBKR's.
    MinTaxes,
}

impl LotMethod {
    pub const ALL: [LotMethod; 8] = [
        LotMethod::Fifo,
        LotMethod::Lifo,
        LotMethod::Hifo,
        LotMethod::MaxLTGain,
        LotMethod::MaxLTLoss,
        LotMethod::MaxSTGain,
        LotMethod::MaxSTLoss,
        LotMethod::MinTaxes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LotMethod::Fifo => "FIFO",
            LotMethod::Lifo => "LIFO",
            LotMethod::Hifo => "HIFO",
            LotMethod::MaxLTGain => "MaxLTGain",
            LotMethod::MaxLTLoss => "MaxLTLoss",
            LotMethod::MaxSTGain => "MaxSTGain",
            LotMethod::MaxSTLoss => "MaxSTLoss",
            LotMethod::MinTaxes => "MinTaxes",
        }
    }
}

impl fmt::Display for LotMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LotMethod {
    type Err = TaxError;
    /// Case-insensitive; also IBKR's long names' initials (`MLG`, `MLL`, `MSG`, `MSL`, `HC`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace(['-', '_', ' '], "");
        Ok(match t.as_str() {
            "fifo" => LotMethod::Fifo,
            "lifo" => LotMethod::Lifo,
            "hifo" | "hc" | "highestcost" => LotMethod::Hifo,
            "maxltgain" | "mlg" => LotMethod::MaxLTGain,
            "maxltloss" | "mll" => LotMethod::MaxLTLoss,
            "maxstgain" | "msg" => LotMethod::MaxSTGain,
            "maxstloss" | "msl" => LotMethod::MaxSTLoss,
            "mintaxes" => LotMethod::MinTaxes,
            _ => return Err(TaxError::UnknownLotMethod(s.to_string())),
        })
    }
}

/// Category rank for the Max* methods: (term, is-gain) → 0..4, and whether larger per-share
/// amounts come first inside the category.
fn category(method: LotMethod, term: Term, gain: Decimal) -> (u8, bool) {
    use Term::{Long, Short};
    let is_gain = gain >= Decimal::ZERO;
    // Each list: the four (term, gain?) categories in IBKR's priority order; "maximise" means
    // the largest absolute amount first (largest gain, or most negative loss).
    let order: [(Term, bool, bool); 4] = match method {
        LotMethod::MaxLTGain => [
            (Long, true, true),
            (Short, true, true),
            (Short, false, false),
            (Long, false, false),
        ],
        LotMethod::MaxLTLoss => [
            (Long, false, true),
            (Short, false, true),
            (Short, true, false),
            (Long, true, false),
        ],
        LotMethod::MaxSTGain => [
            (Short, true, true),
            (Long, true, true),
            (Long, false, false),
            (Short, false, false),
        ],
        LotMethod::MaxSTLoss => [
            (Short, false, true),
            (Long, false, true),
            (Long, true, false),
            (Short, true, false),
        ],
        _ => return (0, false),
    };
    let rank = order
        .iter()
        .position(|&(t, g, _)| t == term && g == is_gain)
        .unwrap_or(0);
    (rank as u8, order[rank].2)
}

/// Indices of `lots` in the order a sale on `sale` at `price` consumes them. Ties are broken
/// by open time, then by input position, so the order is total and deterministic.
pub fn match_order(
    lots: &[Lot],
    method: LotMethod,
    sale: NaiveDate,
    price: Decimal,
    st_weight: Decimal,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..lots.len()).collect();
    let fifo = |a: usize, b: usize| lots[a].open.cmp(&lots[b].open).then(a.cmp(&b));
    let key = |i: usize| -> (u8, Decimal) {
        let l = &lots[i];
        let g = l.gain_per_share(price);
        match method {
            LotMethod::Fifo | LotMethod::Lifo => (0, Decimal::ZERO),
            LotMethod::Hifo => (0, g),
            LotMethod::MinTaxes => {
                let w = if l.term(sale) == Term::Short {
                    st_weight
                } else {
                    Decimal::ONE
                };
                (0, g * w)
            }
            _ => {
                let (rank, largest_first) = category(method, l.term(sale), g);
                // Largest gain first = descending g; largest loss first = ascending g;
                // smallest gain first = ascending g; smallest loss first = descending g.
                let is_gain = g >= Decimal::ZERO;
                let ascending = largest_first != is_gain;
                (rank, if ascending { g } else { -g })
            }
        }
    };
    idx.sort_by(|&a, &b| match method {
        LotMethod::Lifo => fifo(b, a),
        _ => key(a).cmp(&key(b)).then_with(|| fifo(a, b)),
    });
    idx
}

/// Part of one lot consumed by a sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotUse {
    pub open: NaiveDateTime,
    pub holding_start: NaiveDate,
    pub term: Term,
    pub quantity: Decimal,
    pub cost_basis_price: Decimal,
    pub proceeds: Decimal,
    /// Realised gain (+) or loss (−): `quantity · (price − cost_basis_price)`.
    pub gain: Decimal,
}

/// The lots a sale of `quantity` shares consumes, in `order`. Fails when the lots hold fewer
/// shares than the sale (never a guess about basis).
pub fn consume(
    lots: &[Lot],
    order: &[usize],
    quantity: Decimal,
    sale: NaiveDate,
    price: Decimal,
) -> Result<Vec<LotUse>, TaxError> {
    let mut left = quantity;
    let mut out = Vec::new();
    for &i in order {
        if left <= Decimal::ZERO {
            break;
        }
        let l = &lots[i];
        let q = l.quantity.min(left);
        left -= q;
        out.push(LotUse {
            open: l.open,
            holding_start: l.holding_start,
            term: l.term(sale),
            quantity: q,
            cost_basis_price: l.cost_basis_price,
            proceeds: q * price,
            gain: q * l.gain_per_share(price),
        });
    }
    if left > Decimal::ZERO {
        let symbol = lots.first().map_or("?", |l| l.symbol.as_str());
        return Err(TaxError::NotEnoughLots {
            symbol: symbol.to_string(),
            wanted: quantity,
            available: quantity - left,
        });
    }
    Ok(out)
}
