//! Periods: the unit of "exactly once". A period (a quarter by default) gets at most one
//! completed rebalance; its key (`2027-Q1`, `2027-01`, `2027`) is what the journal records,
//! so the key format is stable and never depends on the machine's locale or zone.
//!
//! Period boundaries are local midnights in `schedule.timezone`, the same zone the cron is read
//! in, so "the first week of the quarter" and "the quarter" can never disagree.
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    /// Parses `schedule.period` (`month`, `quarter`, `year`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            "year" => Some(Self::Year),
            _ => None,
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        }
    }
}

/// The journal's identifier of a period, e.g. `2027-Q1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeriodKey(pub String);

impl PeriodKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeriodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PeriodKey {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// One concrete period: its key and its half-open UTC bounds `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub key: PeriodKey,
    pub kind: PeriodKind,
    /// First day (local) of the period.
    pub first_day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// The period containing `t`, with boundaries at local midnight in `tz`.
    pub fn containing(kind: PeriodKind, tz: Tz, t: DateTime<Utc>) -> Period {
        let local = t.with_timezone(&tz).date_naive();
        let m0 = local.month0() / kind.months() * kind.months();
        Self::starting(kind, tz, local.year(), m0 + 1)
    }

    fn starting(kind: PeriodKind, tz: Tz, year: i32, month: u32) -> Period {
        let first_day = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
        let next_first = add_months(first_day, kind.months());
        let key = match kind {
            PeriodKind::Month => format!("{year:04}-{month:02}"),
            PeriodKind::Quarter => format!("{year:04}-Q{}", (month - 1) / 3 + 1),
            PeriodKind::Year => format!("{year:04}"),
        };
        Period {
            key: PeriodKey(key),
            kind,
            first_day,
            start: local_midnight(tz, first_day),
            end: local_midnight(tz, next_first),
        }
    }

    /// The period after this one.
    pub fn next(&self, tz: Tz) -> Period {
        let d = add_months(self.first_day, self.kind.months());
        Self::starting(self.kind, tz, d.year(), d.month())
    }

    /// The period before this one.
    pub fn prev(&self, tz: Tz) -> Period {
        let d = sub_months(self.first_day, self.kind.months());
        Self::starting(self.kind, tz, d.year(), d.month())
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_months(chrono::Months::new(n))
        .unwrap_or(NaiveDate::MAX)
}

fn sub_months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_sub_months(chrono::Months::new(n))
        .unwrap_or(NaiveDate::MIN)
}

/// The first instant of local day `d` in `tz`. Some zones skip midnight on their DST day
/// (e.g. America/Santiago): then the day starts at the first wall time that exists.
fn local_midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let mut naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..(24 * 4) {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&naive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn quarter_keys_and_bounds_in_new_york() {
        let p = Period::containing(PeriodKind::Quarter, New_York, utc("2027-02-10T12:00:00Z"));
        assert_eq!(p.key.as_str(), "2027-Q1");
        assert_eq!(p.start, utc("2027-01-01T05:00:00Z"));
        assert_eq!(p.end, utc("2027-04-01T04:00:00Z")); // EDT by April
        // 03:00 UTC on 1 April is still 31 March in New York: Q1.
        let p = Period::containing(PeriodKind::Quarter, New_York, utc("2027-04-01T03:00:00Z"));
        assert_eq!(p.key.as_str(), "2027-Q1");
        assert_eq!(p.next(New_York).key.as_str(), "2027-Q2");
        assert_eq!(p.prev(New_York).key.as_str(), "2026-Q4");
        assert_eq!(p.next(New_York).start, p.end);
    }

    #[test]
    fn month_and_year_keys() {
        let t = utc("2027-12-31T23:00:00Z"); // 18:00 in New York
        assert_eq!(
            Period::containing(PeriodKind::Month, New_York, t)
                .key
                .as_str(),
            "2027-12"
        );
        assert_eq!(
            Period::containing(PeriodKind::Year, New_York, t)
                .key
                .as_str(),
            "2027"
        );
        let m = Period::containing(PeriodKind::Month, New_York, t);
        assert_eq!(m.next(New_York).key.as_str(), "2028-01");
    }
}
