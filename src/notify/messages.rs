//! The alerts pbal sends, one constructor each, so every message says what happened, why, and
//! the exact next step — and carries its cause (sent once per cause) and, where there is
//! something to look at, the approval page's link.
//!
//! Why here and from plain values: the scheduler, the cycle adapter and the daemon each raise
//! some of these, and a leaf module taking strings and numbers keeps the wording in one place
//! (and testable against the real channels) without the notifier knowing any of those layers.
use rust_decimal::Decimal;

use super::{Alert, Severity, kind};

/// Two decimals, rounded (half away from zero, as prices are shown).
fn money(d: Decimal) -> String {
    format!(
        "{:.2}",
        d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    )
}

/// One order of a staged plan, as the alert lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// `BUY` or `SELL`.
    pub side: String,
    pub quantity: Decimal,
    pub symbol: String,
    /// The limit price; `None` for a market order.
    pub limit: Option<Decimal>,
}

impl std::fmt::Display for OrderLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.side,
            self.quantity.normalize(),
            self.symbol
        )?;
        match self.limit {
            Some(p) => write!(f, " limit {}", money(p)),
            None => write!(f, " market"),
        }
    }
}

/// What "plan staged" says.
#[derive(Debug, Clone)]
pub struct StagedPlan<'a> {
    pub staged_id: &'a str,
    /// The scheduled period, if any.
    pub period: Option<&'a str>,
    pub orders: &'a [OrderLine],
    /// Sum of the orders' absolute values, in the account's currency.
    pub turnover: Decimal,
    /// Turnover as a percentage of the portfolio's value before the run, when known.
    pub turnover_pct: Option<Decimal>,
    pub currency: &'a str,
    /// When the plan expires, in the schedule's time zone.
    pub expires: &'a str,
}

/// "Plan staged": the orders, turnover and expiry; approve on the page or the command line.
pub fn plan_staged(p: &StagedPlan<'_>) -> Alert {
    let when = p.period.map(|x| format!(" for {x}")).unwrap_or_default();
    let mut m = format!(
        "{} order(s), turnover {} {}",
        p.orders.len(),
        money(p.turnover),
        p.currency
    );
    if let Some(pct) = p.turnover_pct {
        m.push_str(&format!(" ({}% of the portfolio)", money(pct)));
    }
    m.push_str(&format!(", expires {}:\n", p.expires));
    for o in p.orders {
        m.push_str(&format!("- {o}\n"));
    }
    m.push_str(&format!(
        "Next step: approve or reject it on the approval page, or run `pbal staged approve {id}` \
         (`pbal staged show {id}` shows it in full; `pbal staged reject {id}` drops it).",
        id = p.staged_id
    ));
    Alert::new(
        Severity::Warning,
        format!("pbal: plan{when} waits for approval"),
        m,
    )
    .with_page()
    .with_cause(kind::PLAN_STAGED, p.staged_id)
}

/// What "run finished" says.
#[derive(Debug, Clone)]
pub struct RunFinished<'a> {
    pub run_id: &'a str,
    pub period: Option<&'a str>,
    /// `completed`, `partial`, `planned` (dry-run), `nothing-to-do`…
    pub status: &'a str,
    pub planned: usize,
    pub filled: usize,
    /// The residual drift line, when it was measured.
    pub drift: Option<&'a str>,
    /// Other notes of the run (one sentence each).
    pub notes: &'a [String],
}

/// "Run finished": the outcome and the residual drift; a partial run says what to do.
pub fn run_finished(r: &RunFinished<'_>) -> Alert {
    let when = r.period.map(|x| format!(" {x}")).unwrap_or_default();
    let severity = match r.status {
        "completed" | "planned" | "nothing-to-do" => Severity::Info,
        _ => Severity::Warning,
    };
    let mut m = format!(
        "Outcome: {} — {} of {} planned order(s) filled (run {}).",
        r.status, r.filled, r.planned, r.run_id
    );
    m.push_str(&format!(
        "\nResidual drift: {}.",
        r.drift.unwrap_or("not measured")
    ));
    for n in r.notes {
        m.push_str(&format!("\n- {n}"));
    }
    let step = match r.status {
        "completed" | "nothing-to-do" => None,
        "planned" => Some("this was a dry run; set orders.mode to stage or submit to trade"),
        _ => Some(
            "check the unfilled orders with `pbal history` (or the approval page) and in \
             the broker's UI; the next run plans on what actually filled",
        ),
    };
    if let Some(s) = step {
        m.push_str(&format!("\nNext step: {s}."));
    }
    Alert::new(severity, format!("pbal:{when} rebalance {}", r.status), m)
        .with_page()
        .with_cause(kind::RUN_FINISHED, r.run_id)
}

/// "Login needed": the scheduled run waits for a brokerage session.
pub fn login_needed(period: &str, slot: &str, why: &str, deadline: &str, how: &str) -> Alert {
    Alert::new(
        Severity::Warning,
        format!("pbal: log in to IBKR for the {period} rebalance"),
        format!(
            "The {period} rebalance is due (slot {slot}) but the brokerage session is not \
             ready: {why}.\nNext step: {how}. pbal waits until {deadline}, then records the \
             period as missed."
        ),
    )
    .with_cause(kind::LOGIN_NEEDED, format!("{period}: {why}"))
}

/// "Period missed": no rebalance this period, why, and how to do it by hand.
pub fn period_missed(period: &str, reason: &str, next_step: &str) -> Alert {
    Alert::new(
        Severity::Critical,
        format!("pbal: no {period} rebalance"),
        format!("{reason}.\nNext step: {next_step}."),
    )
    .with_page()
    .with_cause(kind::PERIOD_MISSED, period)
}

/// "Daemon blocked": pbal cannot do its work until a human acts. `what` names the blocker
/// (e.g. "automatic logins stopped"); the cause is `what` and `reason`, so a new reason alerts
/// again.
pub fn daemon_blocked(what: &str, reason: &str, next_step: &str) -> Alert {
    Alert::new(
        Severity::Critical,
        format!("pbal is blocked: {what}"),
        format!("{reason}\nNext step: {next_step}."),
    )
    .with_page()
    .with_cause(kind::DAEMON_BLOCKED, format!("{what}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn order_lines_name_side_quantity_symbol_and_limit() {
        let buy = OrderLine {
            side: "BUY".into(),
            quantity: dec!(12.000),
            symbol: "VTI".into(),
            limit: Some(dec!(250.456)),
        };
        assert_eq!(buy.to_string(), "BUY 12 VTI limit 250.46");
        let sell = OrderLine {
            limit: None,
            side: "SELL".into(),
            ..buy
        };
        assert_eq!(sell.to_string(), "SELL 12 VTI market");
    }

    #[test]
    fn a_partial_run_warns_with_a_next_step_and_a_complete_one_informs() {
        let notes = vec!["prices were delayed".to_owned()];
        let mut r = RunFinished {
            run_id: "r1",
            period: Some("2027-Q1"),
            status: "partial",
            planned: 3,
            filled: 2,
            drift: Some("largest VTI +1.20 percentage points from its target weight"),
            notes: &notes,
        };
        let a = run_finished(&r);
        assert_eq!(a.severity, Severity::Warning);
        assert!(
            a.message.contains("Outcome: partial — 2 of 3"),
            "{}",
            a.message
        );
        assert!(a.message.contains("VTI +1.20"), "{}", a.message);
        assert!(a.message.contains("Next step:"), "{}", a.message);
        r.status = "completed";
        let a = run_finished(&r);
        assert_eq!(a.severity, Severity::Info);
        assert!(!a.message.contains("Next step"), "{}", a.message);
        assert_eq!(a.cause.unwrap().key, "r1");
    }
}
