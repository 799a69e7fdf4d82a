//! The margin budget (issue 12 item 6): a deposit may be topped up with a margin loan of at
//! most `max_margin_pct` % of net liquidation, and the plan is refused when the account's
//! excess liquidity after the trades could fall below `min_cushion_pct` % of net liquidation.
//!
//! Why a budget and a cushion: the original author ran the tool on an IBKR margin account and
//! recommends borrowing at most about 20 % of assets, "a large enough cushion to avoid a margin
//! call". The loan limit caps what pbal borrows; the cushion is IBKR's own measure of how far
//! the account is from a margin call (excess liquidity / net liquidation, the summary's
//! `cushion`), checked on a conservative estimate of the account after the trades.
//!
//! # Formulas
//! With net liquidation *N*, the loan already owed *L₀* (a negative cash balance), own cash
//! *c* (the deposit, ≥ 0; withdrawals never borrow), the limit *m* = `max_margin_pct`:
//! - loan limit *Lₘ = m/100 · N*; room *R = max(0, Lₘ − L₀)*, capped by the caller's
//!   `max_new_loan` (a fixed deposit borrows only what it exceeds the settled cash by);
//! - the strategy plans with cash *c + R* (so it spends at most *c + R − buffer*);
//! - the new loan is *ΔL = max(0, cash_used − c)*, the loan after *L₀ + ΔL ≤ Lₘ*;
//! - **excess liquidity after** (conservative): *E' = E − ΔL − r/100 · B*, with *E* IBKR's
//!   excess liquidity now, *B* the value of every buy and *r* = `maintenance_pct` (IBKR's Reg T
//!   maintenance for long stock is 25 %). In IBKR's books a purchase moves cash into stock, so
//!   the equity with loan value stays and only the maintenance margin *r·B* comes off the
//!   excess liquidity; subtracting the loan as well counts every borrowed dollar as lost
//!   (a price gap on what it bought), and sales are not credited. So *E'* is never above what
//!   IBKR will report, up to commissions, **provided r is at least the maintenance rate of
//!   everything bought** (`portfolio.maintenance_pct`; leveraged ETFs carry 50–75 %);
//! - the cushion after is *E' / N* (trades leave *N* unchanged up to commissions); the plan is
//!   refused when *E' < min_cushion_pct/100 · N*, with the numbers.
//!
//! Fail closed: without the account's excess liquidity (a summary lacking `excessliquidity`)
//! a margin budget cannot be checked, and the plan is refused.
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Plan, PlanError, PlanRequest, Side};

/// IBKR's Reg T maintenance margin for long stock, in percent: the default of
/// [`MarginRequest::maintenance_pct`].
pub const REG_T_MAINTENANCE_PCT: Decimal = Decimal::from_parts(25, 0, 0, false, 0);

/// What the margin budget needs from the account and the settings. Pure data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginRequest {
    /// The most the account may owe after the trades, in % of net liquidation (> 0).
    pub max_margin_pct: Decimal,
    /// Excess liquidity must stay at or above this % of net liquidation after the trades.
    pub min_cushion_pct: Decimal,
    /// IBKR's net liquidation value (`netliquidation`).
    pub net_liquidation: Decimal,
    /// IBKR's excess liquidity now (`excessliquidity`); `None`: unknown, the plan is refused.
    pub excess_liquidity: Option<Decimal>,
    /// The loan already owed (the negative part of the cash balance), ≥ 0.
    pub existing_loan: Decimal,
    /// A further cap on this plan's new loan (`None`: only the limit applies).
    pub max_new_loan: Option<Decimal>,
    /// Maintenance margin assumed on every dollar bought, in percent.
    pub maintenance_pct: Decimal,
}

impl MarginRequest {
    /// The loan limit `max_margin_pct % · net liquidation`.
    pub fn loan_limit(&self) -> Decimal {
        self.max_margin_pct * self.net_liquidation / Decimal::ONE_HUNDRED
    }

    /// What a plan may still borrow: the limit less the loan owed, and the caller's cap.
    pub fn room(&self) -> Decimal {
        let room = (self.loan_limit() - self.existing_loan).max(Decimal::ZERO);
        match self.max_new_loan {
            Some(cap) => room.min(cap.max(Decimal::ZERO)),
            None => room,
        }
    }
}

/// The loan and the cushion of a plan, shown with it (table footer, JSON `margin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginSummary {
    pub max_margin_pct: Decimal,
    /// `max_margin_pct % · net liquidation`.
    pub loan_limit: Decimal,
    pub loan_before: Decimal,
    /// The most this plan was allowed to borrow (the limit less the loan owed, capped); what
    /// execution may borrow when limit prices cost more than the reference prices.
    pub loan_room: Decimal,
    /// What this plan borrows (at the reference prices).
    pub loan_new: Decimal,
    pub loan_after: Decimal,
    pub net_liquidation: Decimal,
    pub excess_liquidity_before: Decimal,
    /// The conservative estimate of the module docs.
    pub excess_liquidity_after: Decimal,
    /// `excess_liquidity_after / net_liquidation`, in percent.
    pub cushion_pct_after: Decimal,
    pub min_cushion_pct: Decimal,
}

/// Why a plan breaks the cushion, with every number of the estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct CushionShortfall {
    pub excess_before: Decimal,
    pub loan: Decimal,
    pub buys: Decimal,
    pub maintenance_pct: Decimal,
    pub excess_after: Decimal,
    pub cushion_pct: Decimal,
    pub min_cushion_pct: Decimal,
    pub floor: Decimal,
    pub net_liquidation: Decimal,
    /// The largest new loan that would have kept the cushion (the cash-funded buys kept).
    pub loan_that_fits: Decimal,
}

impl std::fmt::Display for CushionShortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "excess liquidity after the trades would be about {} (now {} − new loan {} − {}% \
             maintenance on buys of {}), {}% of net liquidation {}, below min_cushion_pct {}% \
             ({}); a new loan of at most about {} would keep it. Lower portfolio.max_margin_pct \
             (--max-margin-pct) or the deposit",
            self.excess_after,
            self.excess_before,
            self.loan,
            self.maintenance_pct,
            self.buys,
            self.cushion_pct,
            self.net_liquidation,
            self.min_cushion_pct,
            self.floor,
            self.loan_that_fits
        )
    }
}

/// Plans `req` with the margin budget `m`: the strategy may spend the loan room on top of the
/// deposit, and the result is refused when the estimated cushion falls below the minimum.
pub fn plan(req: &PlanRequest, m: &MarginRequest) -> Result<Plan, PlanError> {
    validate(m)?;
    let excess = m.excess_liquidity.ok_or(PlanError::MarginUnknown)?;
    // Withdrawals never borrow.
    let room = if req.cash >= Decimal::ZERO {
        m.room()
    } else {
        Decimal::ZERO
    };
    let mut plan = if room.is_zero() {
        super::plan(req)?
    } else {
        let mut inner = req.clone();
        inner.cash = req.cash + room;
        super::plan(&inner)?
    };
    plan.cash = req.cash;
    plan.cash_left = req.cash - plan.cash_used;
    let own = req.cash.max(Decimal::ZERO);
    let loan_new = (plan.cash_used - own).max(Decimal::ZERO);
    if loan_new > room {
        // Unreachable (the strategy spends within its cash); never emit a plan above the limit.
        return Err(PlanError::LoanAboveLimit {
            loan: m.existing_loan + loan_new,
            limit: m.loan_limit(),
        });
    }
    let buys: Decimal = plan
        .trades
        .iter()
        .filter(|t| t.side == Side::Buy)
        .map(|t| t.value)
        .sum();
    let maintenance = m.maintenance_pct * buys / Decimal::ONE_HUNDRED;
    let after = excess - loan_new - maintenance;
    let floor = m.min_cushion_pct * m.net_liquidation / Decimal::ONE_HUNDRED;
    let cushion = after * Decimal::ONE_HUNDRED / m.net_liquidation;
    if after < floor {
        // The loan that would have kept the cushion if the cash-funded buys stayed: every
        // borrowed dollar costs 1 + r/100 of excess liquidity.
        let cash_buys = buys - loan_new;
        let fits = ((excess - floor - m.maintenance_pct * cash_buys / Decimal::ONE_HUNDRED)
            / (Decimal::ONE + m.maintenance_pct / Decimal::ONE_HUNDRED))
            .max(Decimal::ZERO);
        return Err(PlanError::CushionTooLow(Box::new(CushionShortfall {
            excess_before: excess.round_dp(2),
            loan: loan_new.round_dp(2),
            buys: buys.round_dp(2),
            maintenance_pct: m.maintenance_pct,
            excess_after: after.round_dp(2),
            cushion_pct: cushion.round_dp(2),
            min_cushion_pct: m.min_cushion_pct,
            floor: floor.round_dp(2),
            net_liquidation: m.net_liquidation.round_dp(2),
            loan_that_fits: fits.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero),
        })));
    }
    plan.margin = Some(MarginSummary {
        max_margin_pct: m.max_margin_pct,
        loan_limit: m.loan_limit(),
        loan_before: m.existing_loan,
        loan_room: room,
        loan_new,
        loan_after: m.existing_loan + loan_new,
        net_liquidation: m.net_liquidation,
        excess_liquidity_before: excess,
        excess_liquidity_after: after,
        cushion_pct_after: cushion,
        min_cushion_pct: m.min_cushion_pct,
    });
    Ok(plan)
}

fn validate(m: &MarginRequest) -> Result<(), PlanError> {
    let pct = |field: &'static str, v: Decimal| {
        if v.is_sign_negative() || v > Decimal::ONE_HUNDRED {
            Err(PlanError::InvalidMargin(format!(
                "{field} must be between 0 and 100, got {v}"
            )))
        } else {
            Ok(())
        }
    };
    pct("max_margin_pct", m.max_margin_pct)?;
    pct("min_cushion_pct", m.min_cushion_pct)?;
    pct("maintenance_pct", m.maintenance_pct)?;
    if m.net_liquidation <= Decimal::ZERO {
        return Err(PlanError::InvalidMargin(format!(
            "net liquidation must be positive to borrow against it, got {}",
            m.net_liquidation
        )));
    }
    if m.existing_loan.is_sign_negative() {
        return Err(PlanError::InvalidMargin(format!(
            "the loan owed must not be negative, got {}",
            m.existing_loan
        )));
    }
    if m.net_liquidation > super::MAX_AMOUNT || m.existing_loan > super::MAX_AMOUNT {
        return Err(PlanError::Overflow(
            "net liquidation or loan exceeds 10^15".into(),
        ));
    }
    if m.excess_liquidity
        .is_some_and(|e| e.abs() > super::MAX_AMOUNT)
    {
        return Err(PlanError::Overflow("excess liquidity exceeds 10^15".into()));
    }
    Ok(())
}
