//! Cash accounts: never sell shares bought within the settlement window.
//!
//! Why: in a cash (non-margin) account, selling a position before the purchase that paid for
//! it has settled is a good-faith (or free-riding) violation, and a few of them restrict the
//! account for 90 days. US stocks and funds settle one trading day after the trade (T+1), so
//! shares bought today may not be sold today. pbal cannot tell which money paid for a buy, so
//! it is conservative: in a cash account, the shares bought (by pbal or by anyone) on a trade
//! date whose settlement day has not come yet are not sellable; a planned sell is cut to what
//! is left, or dropped, with a note. The buys are unaffected: in a cash account they are
//! budgeted on settled cash only, so a smaller sell never lets them spend more.
//!
//! The recent buys come from the gateway's executions of the last 7 days and from pbal's own
//! journal of fills (which outlives the gateway's memory of a previous brokerage session).
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::America::New_York;
use rust_decimal::Decimal;

use super::broker::{Broker, Side};
use super::planning::RunPlan;
use super::snapshot::AccountSnapshot;
use super::{Cycle, CycleError};
use crate::scheduler::calendar::is_nyse_trading_day;

/// One purchase: what, how much, when (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub symbol: String,
    pub size: Decimal,
    pub at: DateTime<Utc>,
}

/// IBKR's trade time `YYYYMMDD-hh:mm:ss` (UTC), or RFC 3339.
pub fn parse_trade_time(t: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(t.trim(), "%Y%m%d-%H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(t.trim())
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

/// The day a trade made at `at` settles: the first NYSE trading day after its New York trade
/// date (T+1).
pub fn settles_on(at: DateTime<Utc>) -> NaiveDate {
    let mut d = at.with_timezone(&New_York).date_naive();
    loop {
        d = d.succ_opt().unwrap_or(d);
        if is_nyse_trading_day(d) {
            return d;
        }
    }
}

/// Shares of each symbol bought but not settled at `now`.
pub fn unsettled_buys(purchases: &[Purchase], now: DateTime<Utc>) -> BTreeMap<String, Decimal> {
    let today = now.with_timezone(&New_York).date_naive();
    let mut out = BTreeMap::new();
    for p in purchases.iter().filter(|p| settles_on(p.at) > today) {
        *out.entry(p.symbol.clone()).or_insert(Decimal::ZERO) += p.size;
    }
    out
}

/// Cuts the plan's sells to the settled shares (`held − unsettled`), dropping a sell left
/// with nothing; returns one note per sell changed. Pure.
pub fn limit_sells(
    plan: &mut RunPlan,
    held: &BTreeMap<String, Decimal>,
    unsettled: &BTreeMap<String, Decimal>,
) -> Vec<String> {
    let mut notes = Vec::new();
    plan.legs.retain_mut(|l| {
        if l.side != Side::Sell {
            return true;
        }
        let Some(recent) = unsettled.get(&l.symbol).filter(|u| **u > Decimal::ZERO) else {
            return true;
        };
        let sellable =
            (held.get(&l.symbol).copied().unwrap_or_default() - recent).max(Decimal::ZERO);
        if l.quantity <= sellable {
            return true;
        }
        let keep = !sellable.is_zero();
        notes.push(format!(
            "SELL {}: {} shares bought in the settlement window have not settled (cash account: \
             selling them now is a good-faith violation); {}",
            l.symbol,
            recent,
            if keep {
                format!("sell cut from {} to {sellable} shares", l.quantity)
            } else {
                format!("sell of {} shares omitted", l.quantity)
            }
        ));
        l.quantity = sellable;
        keep
    });
    notes
}

impl<B: Broker> Cycle<B> {
    /// In a cash account, applies [`limit_sells`] to `plan` with the recent buys the gateway
    /// and the journal know of. Margin accounts are left alone.
    pub(crate) async fn keep_unsettled_shares(
        &self,
        snap: &AccountSnapshot,
        plan: &mut RunPlan,
    ) -> Result<Vec<String>, CycleError> {
        if !snap.balances.cash_account || !plan.legs.iter().any(|l| l.side == Side::Sell) {
            return Ok(Vec::new());
        }
        let account = snap.account_id.as_str();
        let held: BTreeMap<String, Decimal> = snap
            .instruments
            .iter()
            .map(|i| (i.symbol.clone(), i.quantity))
            .collect();
        let mut purchases: BTreeMap<String, Purchase> = BTreeMap::new();
        for e in self.broker.trades(account, 7).await? {
            if let (Side::Buy, Some(at)) = (e.side, e.time.as_deref().and_then(parse_trade_time)) {
                let p = Purchase {
                    symbol: e.symbol,
                    size: e.size,
                    at,
                };
                purchases.insert(e.execution_id, p);
            }
        }
        for f in self.journal.call(|j| j.all_fills()).await? {
            let at = f.trade_time.as_deref().and_then(parse_trade_time);
            let size = f.size.parse::<Decimal>().ok();
            if let (true, Some(at), Some(size)) = (f.side == "BUY", at, size) {
                purchases.entry(f.execution_id).or_insert(Purchase {
                    symbol: f.symbol,
                    size,
                    at,
                });
            }
        }
        let list: Vec<Purchase> = purchases.into_values().collect();
        let unsettled = unsettled_buys(&list, self.clock.now());
        Ok(limit_sells(plan, &held, &unsettled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn t_plus_one_on_nyse_trading_days() {
        // Friday 2026-11-20 15:00 New York → Monday 23rd.
        let fri = Utc.with_ymd_and_hms(2026, 11, 20, 20, 0, 0).unwrap();
        assert_eq!(
            settles_on(fri),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        // Wednesday before Thanksgiving (Thursday 26th) → Friday 27th.
        let wed = Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap();
        assert_eq!(
            settles_on(wed),
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
        );
        // 02:00 UTC on the 24th is still the 23rd in New York.
        let late = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        assert_eq!(
            settles_on(late),
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        );
        assert_eq!(parse_trade_time("20261120-20:00:00"), Some(fri));
    }

    #[test]
    fn only_purchases_not_yet_settled_count() {
        let buy = |sym: &str, size: i64, at: DateTime<Utc>| Purchase {
            symbol: sym.into(),
            size: Decimal::from(size),
            at,
        };
        let mon = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
        let tue = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        let list = [buy("A", 5, mon), buy("A", 3, tue), buy("B", 2, mon)];
        let u = unsettled_buys(&list, tue + chrono::Duration::hours(1));
        assert_eq!(
            u.get("A"),
            Some(&Decimal::from(3)),
            "Monday's buy settled on Tuesday"
        );
        assert_eq!(u.get("B"), None);
    }
}
