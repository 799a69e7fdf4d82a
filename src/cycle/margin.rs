//! The cash a run may invest, and its margin budget: `portfolio.cash`, `portfolio.buffer`,
//! `portfolio.max_margin_pct` and `min_cushion_pct` against the live balances.
//!
//! Why here and not in the strategy: which cash is the user's (settled cash), what the account
//! owes already (a negative cash balance) and whether it may borrow at all (a cash account
//! never does) are facts of the live account; the strategy (`strategy::margin`) only turns them
//! into a loan and a cushion.
use rust_decimal::Decimal;

use super::CycleError;
use super::snapshot::AccountSnapshot;
use crate::config::{CashSetting, Settings};
use crate::strategy::MarginRequest;

/// The run's deposit and, on a margin account with `max_margin_pct > 0`, its margin budget.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCash {
    /// The user's own cash the plan invests (or the withdrawal, < 0).
    pub cash: Decimal,
    pub margin: Option<MarginRequest>,
    /// Why a configured margin budget does not apply (a cash account), for the plan's notes.
    pub note: Option<String>,
}

/// The cash the plan may use, from `portfolio.cash`, and the loan it may add.
///
/// `available` invests settled cash (never a negative balance: a loan is not cash to invest)
/// and, with a margin budget, may borrow up to the limit on top. A fixed deposit larger than
/// the settled cash above the buffer is refused unless the margin budget covers the rest; the
/// loan is then capped at that rest. Without a budget (the default) pbal never borrows.
pub fn run_cash(snap: &AccountSnapshot, settings: &Settings) -> Result<RunCash, CycleError> {
    let p = &settings.portfolio;
    let b = &snap.balances;
    let settled = b.settled_cash;
    let wants_margin = p.max_margin_pct > Decimal::ZERO;
    let note = (wants_margin && b.cash_account).then(|| {
        "cash account: portfolio.max_margin_pct is ignored (a cash account never borrows)"
            .to_owned()
    });
    let margin = (wants_margin && !b.cash_account).then(|| MarginRequest {
        max_margin_pct: p.max_margin_pct,
        min_cushion_pct: p.min_cushion_pct,
        net_liquidation: b.net_liquidation,
        excess_liquidity: b.excess_liquidity,
        existing_loan: (-b.cash.min(settled)).max(Decimal::ZERO),
        max_new_loan: None,
        maintenance_pct: p.maintenance_pct,
    });
    if margin.is_some() && !b.foreign_debts.is_empty() {
        let owed: Vec<String> = b
            .foreign_debts
            .iter()
            .map(|(c, v)| format!("{c} {v}"))
            .collect();
        return Err(CycleError::Plan(format!(
            "the account owes cash in another currency ({}); pbal cannot count that loan \
             against portfolio.max_margin_pct in {}: repay it, or set portfolio.max_margin_pct \
             = 0 (pbal does not convert currencies)",
            owed.join(", "),
            b.currency
        )));
    }
    let own = settled.max(Decimal::ZERO);
    match &p.cash {
        CashSetting::Available => Ok(RunCash {
            cash: own,
            margin,
            note,
        }),
        CashSetting::Amount(x) => fixed_deposit(*x, settled, p, b, margin, note),
    }
}

/// A fixed `portfolio.cash`: a withdrawal or a deposit within the settled cash above the
/// buffer borrows nothing; a larger deposit borrows the rest only within the margin budget.
fn fixed_deposit(
    x: Decimal,
    settled: Decimal,
    p: &crate::config::PortfolioSettings,
    b: &super::broker::Balances,
    margin: Option<MarginRequest>,
    note: Option<String>,
) -> Result<RunCash, CycleError> {
    let room = settled - p.buffer;
    if x <= Decimal::ZERO || x <= room {
        return Ok(RunCash {
            cash: x,
            // A deposit within the settled cash borrows nothing.
            margin: margin.map(|m| MarginRequest {
                max_new_loan: Some(Decimal::ZERO),
                ..m
            }),
            note,
        });
    }
    let room = room.max(Decimal::ZERO);
    let Some(m) = margin else {
        return Err(CycleError::Plan(format!(
            "portfolio.cash = {x} but only {room} settled cash is available above the \
             buffer {}; lower portfolio.cash or use \"available\"{}",
            p.buffer,
            if b.cash_account {
                " (a cash account never borrows)"
            } else {
                ", or set portfolio.max_margin_pct to borrow the rest"
            }
        )));
    };
    let loan = x - room;
    if loan > m.room() {
        return Err(CycleError::Plan(format!(
            "portfolio.cash = {x} needs a margin loan of {loan} beyond the settled cash \
             {room} above the buffer, but the margin budget allows {} more ({}% of net \
             liquidation {} = {}, less the {} owed); lower portfolio.cash or raise \
             portfolio.max_margin_pct",
            m.room().round_dp(2),
            m.max_margin_pct.normalize(),
            m.net_liquidation.round_dp(2),
            m.loan_limit().round_dp(2),
            m.existing_loan.round_dp(2),
        )));
    }
    Ok(RunCash {
        cash: room,
        margin: Some(MarginRequest {
            max_new_loan: Some(loan),
            ..m
        }),
        note,
    })
}
