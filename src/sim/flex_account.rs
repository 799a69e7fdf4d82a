//! Query `2` of the simulated Flex service: a lot statement of the simulated account's own
//! starting positions, so `portfolio.strategy = "tax-aware"` can be tried (and tested)
//! against `pbal sim` with lots that match its positions.
//!
//! Each held instrument becomes two lots at its average cost: two thirds (whole shares,
//! rounded down) opened two years before the statement (long-term) and the rest opened 60
//! days before it (short-term), so a sale shows both holding periods. The statement runs
//! through the day before the simulator started, as a real one fetched in the morning does.
use std::fmt::Write;

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use super::account::AccountSpec;
use super::flex::FlexSimConfig;

/// The query id of the generated account statement.
pub const ACCOUNT_QUERY: &str = "2";

/// `cfg` with query [`ACCOUNT_QUERY`] added (unless the configuration already has one).
pub(crate) fn with_account_query(
    mut cfg: FlexSimConfig,
    account: &AccountSpec,
    today: NaiveDate,
) -> FlexSimConfig {
    cfg.queries
        .entry(ACCOUNT_QUERY.to_string())
        .or_insert_with(|| statement(account, today));
    cfg
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// The XML statement (Open Positions at lot level, an empty Trades section).
pub fn statement(account: &AccountSpec, today: NaiveDate) -> Vec<u8> {
    let through = today - Duration::days(1);
    let old = ymd(through - Duration::days(730));
    let recent = ymd(through - Duration::days(60));
    let mut rows = String::new();
    for i in account
        .instruments
        .iter()
        .filter(|i| i.quantity > Decimal::ZERO)
    {
        let long = (i.quantity * Decimal::TWO / Decimal::from(3)).floor();
        let short = i.quantity - long;
        let _ = writeln!(
            rows,
            r#"<OpenPosition symbol="{s}" conid="{c}" position="{q}" levelOfDetail="SUMMARY"/>"#,
            s = i.symbol,
            c = i.conid,
            q = i.quantity
        );
        for (q, open) in [(long, &old), (short, &recent)] {
            if q > Decimal::ZERO {
                let _ = writeln!(
                    rows,
                    r#"<OpenPosition symbol="{s}" conid="{c}" position="{q}" levelOfDetail="LOT" costBasisPrice="{b}" openDateTime="{open};100000" holdingPeriodDateTime="{open};100000"/>"#,
                    s = i.symbol,
                    c = i.conid,
                    b = i.avg_cost,
                );
            }
        }
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<FlexQueryResponse queryName="pbal sim account" type="AF">
<FlexStatements count="1">
<FlexStatement accountId="{acct}" fromDate="{from}" toDate="{to}" whenGenerated="{gen};080000">
<OpenPositions>
{rows}</OpenPositions>
<Trades/>
</FlexStatement>
</FlexStatements>
</FlexQueryResponse>
"#,
        acct = account.account_id,
        from = ymd(NaiveDate::from_ymd_opt(through.year(), 1, 1).unwrap_or(through)),
        to = ymd(through),
        gen = ymd(today),
    )
    .into_bytes()
}
