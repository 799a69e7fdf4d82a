//! Tax-aware planning for taxable accounts: lots, lot matching, short/long-term netting, a tax
//! budget, wash-sale rules, exposure groups and loss harvesting. Pure like
//! [`crate::strategy`]: no I/O, no clock (`as_of` is a parameter), exact decimals.
//!
//! Not tax advice: the rules here are a conservative model of US rules, meant to keep an
//! unattended rebalancer from doing something expensive, not to compute a tax return.
//!
//! # How a plan is made ([`plan`])
//! 1. **Harvest** (optional): for each symbol with a configured alternate, the leading lots in
//!    the account's matching order that each lose more than `harvest_min_loss` are sold and the
//!    proceeds buy the alternate (whole shares, so the exposure stays within one share).
//! 2. **Targets**: exposure groups (and each harvested symbol with its alternate) get one
//!    combined target, cut to the group's cap if it has one (the weight above a cap goes to
//!    the uncapped targets pro rata); inside a group the current split is kept, so the planner
//!    never trades GOOG against GOOGL.
//! 3. **`hard`**: the unconstrained plan from [`crate::strategy::plan`].
//! 4. **Sales within the limits**: each wanted sale consumes lots in the matching order; a loss
//!    lot that a wash-sale window forbids stops that symbol's sale before it; then slices of
//!    sales are admitted cheapest tax cost per dollar first (losses first) while the budget
//!    holds; the last slice is cut to the most whole shares that fit.
//! 5. **Buys**: when nothing was cut and no buy is forbidden, the `hard` plan stands as is
//!    (so with no budget and no harvest `tax-aware` equals `hard`). Otherwise the cash from the
//!    admitted sales is invested with the `never-sell` water-fill, with weight 0 for symbols
//!    sold in this run and for groups a wash-sale window forbids buying.
//!
//! Every cut is reported as a [`Limit`]; every sale lists the lots it consumes.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::strategy::{Plan, PlanError, PlanRequest};

mod exposure;
pub mod feed;
mod harvest;
pub mod lots;
pub mod netting;
mod planner;
pub mod render;
mod sells;
pub mod wash;

pub use lots::{Lot, LotMethod, LotUse, Term};
pub use netting::{Budget, Realized};
pub use planner::{plan, validate as validate_settings};
pub use wash::PastTrade;

/// Why a tax-aware plan could not be made. Messages name the symbol or setting to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaxError {
    #[error(
        "unknown lot method {0:?}; use FIFO, LIFO, HIFO, MaxLTGain, MaxLTLoss, MaxSTGain, MaxSTLoss or MinTaxes"
    )]
    UnknownLotMethod(String),
    #[error("{symbol}: a sale of {wanted} shares needs lots, but the lots hold only {available}")]
    NotEnoughLots {
        symbol: String,
        wanted: Decimal,
        available: Decimal,
    },
    #[error(
        "{symbol}: the lots add up to {lots} shares but the position is {position}; \
         refresh the lots (Flex query) so they match the account"
    )]
    LotMismatch {
        symbol: String,
        lots: Decimal,
        position: Decimal,
    },
    #[error("{symbol}: lot {field} is invalid: {message}")]
    BadLot {
        symbol: String,
        field: &'static str,
        message: String,
    },
    #[error("tax settings: {0}")]
    Settings(String),
    #[error(
        "cash: the withdrawal needs sales the tax limits do not allow (raised {raised}, \
         needed {needed}); raise the tax budget or withdraw less"
    )]
    WithdrawalBlocked { needed: Decimal, raised: Decimal },
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// The tax settings of one plan (config `tax` section or `pbal plan` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxSettings {
    pub lot_method: LotMethod,
    /// Maximum cost (weighted net realised gain) of one run; `None` = unlimited.
    pub budget_per_run: Option<Decimal>,
    /// Maximum cost of the calendar year including `ytd`; `None` = unlimited.
    pub budget_per_year: Option<Decimal>,
    /// Realised results of the year so far (before this run).
    pub ytd: Realized,
    /// How many times a net short-term gain counts against the budget (≥ 1 in practice).
    pub st_weight: Decimal,
    /// Groups of substantially identical symbols (`[["VOO", "IVV", "SPY"]]`).
    pub identical: Vec<Vec<String>>,
    /// Name → members sharing one combined target.
    pub exposure_groups: BTreeMap<String, Vec<String>>,
    /// Group name → the largest combined weight of its members (a fraction of the portfolio).
    #[serde(default)]
    pub exposure_caps: BTreeMap<String, Decimal>,
    pub harvest: bool,
    /// A lot is harvested only when its loss exceeds this many dollars.
    pub harvest_min_loss: Decimal,
    /// Symbol → the alternate bought with a harvest's proceeds.
    pub alternates: BTreeMap<String, String>,
}

impl Default for TaxSettings {
    fn default() -> Self {
        TaxSettings {
            lot_method: LotMethod::Fifo,
            budget_per_run: None,
            budget_per_year: None,
            ytd: Realized::default(),
            st_weight: Decimal::ONE,
            identical: Vec::new(),
            exposure_groups: BTreeMap::new(),
            exposure_caps: BTreeMap::new(),
            harvest: false,
            harvest_min_loss: Decimal::ZERO,
            alternates: BTreeMap::new(),
        }
    }
}

/// Everything a tax-aware plan needs. `plan.strategy` is ignored (the engine runs `hard`
/// and `never-sell` itself).
#[derive(Debug, Clone, PartialEq)]
pub struct TaxRequest {
    pub plan: PlanRequest,
    pub lots: Vec<Lot>,
    pub trades: Vec<PastTrade>,
    pub as_of: NaiveDate,
    pub settings: TaxSettings,
}

/// A plan plus its tax audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaxPlan {
    pub plan: Plan,
    pub tax: TaxAudit,
}

/// What the plan realises and why it stopped where it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxAudit {
    pub as_of: NaiveDate,
    pub lot_method: LotMethod,
    /// This run's realised results before netting.
    pub realized_short_term: Decimal,
    pub realized_long_term: Decimal,
    /// After US netting.
    pub net: Realized,
    /// Weighted cost of this run (see [`netting`]).
    pub cost: Decimal,
    /// The tighter configured limit left for this run; `None` = unlimited.
    pub budget: Option<Decimal>,
    pub budget_left: Option<Decimal>,
    pub sales: Vec<Sale>,
    pub harvests: Vec<Harvest>,
    pub limits: Vec<Limit>,
    /// Open lots per held symbol before the run, oldest first.
    pub positions: BTreeMap<String, Vec<LotView>>,
}

/// One sale and the lots it consumes (in the account's matching order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    pub symbol: String,
    pub shares: Decimal,
    pub price: Decimal,
    /// `true` for a loss harvest (its own order), `false` for a rebalancing sale.
    pub harvest: bool,
    pub realized_short_term: Decimal,
    pub realized_long_term: Decimal,
    pub lots: Vec<LotUse>,
}

/// A loss harvest: `symbol` sold, `alternate` bought with the proceeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Harvest {
    pub symbol: String,
    pub shares: Decimal,
    pub loss: Decimal,
    pub alternate: String,
    pub alternate_shares: Decimal,
    /// Exposure left unreplaced (proceeds − alternate cost), below one alternate share.
    pub residual: Decimal,
}

/// Where tax rules stopped the plan short of the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub symbol: String,
    /// Signed shares `hard` wanted (− sell, + buy) and the shares planned instead.
    pub wanted_shares: Decimal,
    pub planned_shares: Decimal,
    pub reason: LimitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitReason {
    /// The sale would exceed the tax budget.
    Budget,
    /// The sale would realise a loss a recent buy of an identical symbol disallows.
    WashSaleLoss,
    /// The buy would disallow a loss realised within 30 days (or in this run).
    WashSaleBuy,
    /// Less cash than `hard` expected, because sales were cut.
    Cash,
}

impl LimitReason {
    pub fn describe(self) -> &'static str {
        match self {
            LimitReason::Budget => "tax budget",
            LimitReason::WashSaleLoss => "wash sale: identical symbol bought within 30 days",
            LimitReason::WashSaleBuy => "wash sale: identical symbol sold at a loss within 30 days",
            LimitReason::Cash => "less cash: sales were cut by tax limits",
        }
    }
}

/// An open lot as shown in the audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotView {
    pub open: chrono::NaiveDateTime,
    pub holding_start: NaiveDate,
    pub term: Term,
    pub quantity: Decimal,
    pub cost_basis_price: Decimal,
    pub unrealized: Decimal,
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_exposure;
