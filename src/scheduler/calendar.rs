//! The NYSE trading calendar, computed from rules for any year (no data file to go stale).
//!
//! Why rules and not a downloaded list: the daemon must know in 2031 whether 2031-04-11 is
//! Good Friday without anyone refreshing a file, and a wrong "open" answer only costs a day
//! (the cycle's market-data checks still refuse stale quotes), while a data file that
//! silently ends makes every future day look open.
//!
//! Rules (NYSE Rule 7.2 and the exchange's published calendars):
//! - Weekends are closed.
//! - New Year's Day (1 Jan); on a Sunday it is observed Monday 2 Jan; on a **Saturday it is
//!   not observed at all** — the Friday before (31 Dec) is a normal trading day, because the
//!   exchange does not close for a holiday of the *next* year.
//! - Martin Luther King Jr. Day (3rd Monday of January, from 1998), Washington's Birthday
//!   (3rd Monday of February), Good Friday (2 days before Western Easter), Memorial Day (last
//!   Monday of May), Juneteenth (19 June, from 2022), Independence Day (4 July), Labor Day
//!   (1st Monday of September), Thanksgiving (4th Thursday of November), Christmas (25 Dec).
//!   Fixed-date holidays other than New Year's Day move to Friday when on a Saturday and to
//!   Monday when on a Sunday.
//! - Early closes at 13:00: 3 July when it is Monday–Thursday (the day before Independence
//!   Day), the day after Thanksgiving, and 24 December when it is Monday–Thursday.
//! - Known unscheduled closures (national days of mourning, 9/11, Hurricane Sandy) since 2001
//!   are listed in [`SPECIAL_CLOSURES`]; future ones cannot be predicted, and a day the
//!   exchange closes without notice fails safe in the cycle (no fresh quotes → no orders).
//! - Regular hours 09:30–16:00 America/New_York.
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// Unscheduled full-day closures since 2001 that the rules cannot produce.
pub const SPECIAL_CLOSURES: &[(i32, u32, u32, &str)] = &[
    (2001, 9, 11, "September 11 attacks"),
    (2001, 9, 12, "September 11 attacks"),
    (2001, 9, 13, "September 11 attacks"),
    (2001, 9, 14, "September 11 attacks"),
    (2004, 6, 11, "National Day of Mourning (Reagan)"),
    (2007, 1, 2, "National Day of Mourning (Ford)"),
    (2012, 10, 29, "Hurricane Sandy"),
    (2012, 10, 30, "Hurricane Sandy"),
    (2018, 12, 5, "National Day of Mourning (G. H. W. Bush)"),
    (2025, 1, 9, "National Day of Mourning (Carter)"),
];

/// What kind of day a date is on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    Weekend,
    /// A full-day closure, with its name.
    Holiday(&'static str),
    /// A trading day that closes at 13:00, with the reason.
    EarlyClose(&'static str),
    Regular,
}

/// One trading session, as UTC instants (so callers never do time-zone arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub date: NaiveDate,
    pub open: DateTime<Utc>,
    pub close: DateTime<Utc>,
    pub early_close: bool,
}

/// The exchange calendar used to decide when a cycle may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    /// NYSE trading days and regular hours.
    Nyse,
    /// Every instant is allowed (testing, or a user who wants the cron taken literally).
    None,
}

impl Calendar {
    /// Parses `schedule.calendar` (`NYSE` or `none`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nyse" => Some(Self::Nyse),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The session containing `t` or the next one starting after `t`, searching at most a
    /// few weeks ahead (there is never a longer closure). `None` for [`Calendar::None`].
    pub fn session_on_or_after(self, t: DateTime<Utc>) -> Option<Session> {
        match self {
            Calendar::None => None,
            Calendar::Nyse => {
                let mut date = t.with_timezone(&New_York).date_naive();
                for _ in 0..30 {
                    if let Some(s) = nyse_session(date)
                        && s.close > t
                    {
                        return Some(s);
                    }
                    date = date.succ_opt()?;
                }
                None
            }
        }
    }
}

/// Day classification for the NYSE.
pub fn nyse_day(date: NaiveDate) -> DayKind {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return DayKind::Weekend;
    }
    if let Some(name) = nyse_holiday(date) {
        return DayKind::Holiday(name);
    }
    if let Some(reason) = nyse_early_close(date) {
        return DayKind::EarlyClose(reason);
    }
    DayKind::Regular
}

/// True on NYSE trading days (weekday, not a holiday or closure).
pub fn is_nyse_trading_day(date: NaiveDate) -> bool {
    matches!(nyse_day(date), DayKind::Regular | DayKind::EarlyClose(_))
}

/// The regular session of `date`, or `None` when the exchange is closed that day.
pub fn nyse_session(date: NaiveDate) -> Option<Session> {
    let early = match nyse_day(date) {
        DayKind::Regular => false,
        DayKind::EarlyClose(_) => true,
        _ => return None,
    };
    let at = |h, m| {
        let naive = date.and_time(NaiveTime::from_hms_opt(h, m, 0)?);
        // 09:30 and 13:00/16:00 are never inside a DST gap or overlap in New York (02:00).
        New_York
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    Some(Session {
        date,
        open: at(9, 30)?,
        close: if early { at(13, 0)? } else { at(16, 0)? },
        early_close: early,
    })
}

/// The name of the NYSE holiday or closure on `date`, if any (weekends excluded).
pub fn nyse_holiday(date: NaiveDate) -> Option<&'static str> {
    let y = date.year();
    if let Some(&(_, _, _, name)) = SPECIAL_CLOSURES
        .iter()
        .find(|&&(cy, cm, cd, _)| (cy, cm, cd) == (y, date.month(), date.day()))
    {
        return Some(name);
    }
    // New Year's Day: Sunday → Monday; Saturday → not observed (no Friday closure).
    let new_year = ymd(y, 1, 1);
    let new_year_observed = match new_year.weekday() {
        Weekday::Sun => Some(ymd(y, 1, 2)),
        Weekday::Sat => None,
        _ => Some(new_year),
    };
    if Some(date) == new_year_observed {
        return Some("New Year's Day");
    }
    if y >= 1998 && date == nth_weekday(y, 1, Weekday::Mon, 3) {
        return Some("Martin Luther King Jr. Day");
    }
    if date == nth_weekday(y, 2, Weekday::Mon, 3) {
        return Some("Washington's Birthday");
    }
    if date == easter_sunday(y) - Duration::days(2) {
        return Some("Good Friday");
    }
    if date == last_weekday(y, 5, Weekday::Mon) {
        return Some("Memorial Day");
    }
    if y >= 2022 && date == observed(ymd(y, 6, 19)) {
        return Some("Juneteenth");
    }
    if date == observed(ymd(y, 7, 4)) {
        return Some("Independence Day");
    }
    if date == nth_weekday(y, 9, Weekday::Mon, 1) {
        return Some("Labor Day");
    }
    if date == thanksgiving(y) {
        return Some("Thanksgiving Day");
    }
    if date == observed(ymd(y, 12, 25)) {
        return Some("Christmas Day");
    }
    None
}

/// Why `date` closes at 13:00, if it does (only meaningful on trading days).
fn nyse_early_close(date: NaiveDate) -> Option<&'static str> {
    let y = date.year();
    let weekday_mon_thu = matches!(
        date.weekday(),
        Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
    );
    if date == ymd(y, 7, 3) && weekday_mon_thu {
        return Some("day before Independence Day");
    }
    if date == thanksgiving(y) + Duration::days(1) {
        return Some("day after Thanksgiving");
    }
    if date == ymd(y, 12, 24) && weekday_mon_thu {
        return Some("Christmas Eve");
    }
    None
}

/// Western (Gregorian) Easter Sunday: the anonymous Gregorian computus (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

fn thanksgiving(y: i32) -> NaiveDate {
    nth_weekday(y, 11, Weekday::Thu, 4)
}

/// Saturday → Friday before, Sunday → Monday after.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    // Callers pass valid month/day constants; the year range is chrono's (±262,000).
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

fn nth_weekday(y: i32, m: u32, wd: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, wd, n).unwrap_or(NaiveDate::MIN)
}

fn last_weekday(y: i32, m: u32, wd: Weekday) -> NaiveDate {
    let first_next = if m == 12 {
        ymd(y + 1, 1, 1)
    } else {
        ymd(y, m + 1, 1)
    };
    let mut d = first_next - Duration::days(1);
    while d.weekday() != wd {
        d -= Duration::days(1);
    }
    d
}

/// The calendar's zone, exposed so callers can display exchange time.
pub const EXCHANGE_TZ: Tz = New_York;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// All full-day closures of `year` falling on weekdays, in order.
    fn holidays(year: i32) -> Vec<String> {
        let mut out = Vec::new();
        let mut day = ymd(year, 1, 1);
        while day.year() == year {
            if let DayKind::Holiday(_) = nyse_day(day) {
                out.push(day.to_string());
            }
            day = day.succ_opt().unwrap();
        }
        out
    }

    fn early_closes(year: i32) -> Vec<String> {
        let mut out = Vec::new();
        let mut day = ymd(year, 1, 1);
        while day.year() == year {
            if let DayKind::EarlyClose(_) = nyse_day(day) {
                out.push(day.to_string());
            }
            day = day.succ_opt().unwrap();
        }
        out
    }

    // Lists as published by NYSE (nyse.com/markets/hours-calendars) for each year.
    #[test]
    fn holidays_2021() {
        assert_eq!(
            holidays(2021),
            [
                "2021-01-01",
                "2021-01-18",
                "2021-02-15",
                "2021-04-02",
                "2021-05-31",
                "2021-07-05",
                "2021-09-06",
                "2021-11-25",
                "2021-12-24"
            ]
        );
        // No Juneteenth before 2022; Friday 2021-12-31 trades (New Year 2022 is a Saturday).
        assert!(is_nyse_trading_day(d("2021-06-18")));
        assert!(is_nyse_trading_day(d("2021-12-31")));
        assert_eq!(early_closes(2021), ["2021-11-26"]);
    }

    #[test]
    fn holidays_2022_saturday_new_year_not_observed() {
        assert_eq!(
            holidays(2022),
            [
                "2022-01-17",
                "2022-02-21",
                "2022-04-15",
                "2022-05-30",
                "2022-06-20",
                "2022-07-04",
                "2022-09-05",
                "2022-11-24",
                "2022-12-26"
            ]
        );
        assert_eq!(early_closes(2022), ["2022-11-25"]);
    }

    #[test]
    fn holidays_2023_sunday_new_year_observed_monday() {
        assert_eq!(
            holidays(2023),
            [
                "2023-01-02",
                "2023-01-16",
                "2023-02-20",
                "2023-04-07",
                "2023-05-29",
                "2023-06-19",
                "2023-07-04",
                "2023-09-04",
                "2023-11-23",
                "2023-12-25"
            ]
        );
        assert_eq!(early_closes(2023), ["2023-07-03", "2023-11-24"]);
    }

    #[test]
    fn holidays_2024() {
        assert_eq!(
            holidays(2024),
            [
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-03-29",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-11-28",
                "2024-12-25"
            ]
        );
        assert_eq!(
            early_closes(2024),
            ["2024-07-03", "2024-11-29", "2024-12-24"]
        );
    }

    #[test]
    fn holidays_2025_include_carter_mourning_day() {
        assert_eq!(
            holidays(2025),
            [
                "2025-01-01",
                "2025-01-09",
                "2025-01-20",
                "2025-02-17",
                "2025-04-18",
                "2025-05-26",
                "2025-06-19",
                "2025-07-04",
                "2025-09-01",
                "2025-11-27",
                "2025-12-25"
            ]
        );
        assert_eq!(
            early_closes(2025),
            ["2025-07-03", "2025-11-28", "2025-12-24"]
        );
    }

    #[test]
    fn holidays_2026_saturday_independence_day_observed_friday() {
        assert_eq!(
            holidays(2026),
            [
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-04-03",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-11-26",
                "2026-12-25"
            ]
        );
        // 2 July 2026 is a full day: the early-close rule is "3 July, Monday–Thursday".
        assert_eq!(early_closes(2026), ["2026-11-27", "2026-12-24"]);
    }

    #[test]
    fn holidays_2027_saturday_juneteenth_and_christmas_sunday_july_4() {
        assert_eq!(
            holidays(2027),
            [
                "2027-01-01",
                "2027-01-18",
                "2027-02-15",
                "2027-03-26",
                "2027-05-31",
                "2027-06-18",
                "2027-07-05",
                "2027-09-06",
                "2027-11-25",
                "2027-12-24"
            ]
        );
        assert_eq!(early_closes(2027), ["2027-11-26"]);
        // New Year 2028 is a Saturday: Friday 2027-12-31 trades.
        assert!(is_nyse_trading_day(d("2027-12-31")));
    }

    #[test]
    fn easter_known_dates() {
        for (y, e) in [
            (2008, "2008-03-23"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter_sunday(y), d(e), "{y}");
        }
    }

    #[test]
    fn sessions_are_in_new_york_time_across_dst() {
        // Winter (EST, UTC-5) and summer (EDT, UTC-4).
        let s = nyse_session(d("2027-01-04")).unwrap();
        assert_eq!(s.open.to_rfc3339(), "2027-01-04T14:30:00+00:00");
        assert_eq!(s.close.to_rfc3339(), "2027-01-04T21:00:00+00:00");
        let s = nyse_session(d("2027-07-06")).unwrap();
        assert_eq!(s.open.to_rfc3339(), "2027-07-06T13:30:00+00:00");
        let s = nyse_session(d("2024-11-29")).unwrap();
        assert!(s.early_close);
        assert_eq!(s.close.to_rfc3339(), "2024-11-29T18:00:00+00:00");
        assert_eq!(nyse_session(d("2024-12-25")), None);
        assert_eq!(nyse_session(d("2024-12-28")), None);
    }

    #[test]
    fn next_session_skips_weekend_and_holiday() {
        // Thursday 2026-12-24 after the 13:00 early close → Christmas Friday closed → Monday.
        let t = Utc.with_ymd_and_hms(2026, 12, 24, 18, 30, 0).unwrap();
        let s = Calendar::Nyse.session_on_or_after(t).unwrap();
        assert_eq!(s.date, d("2026-12-28"));
        // Inside a session: that session.
        let t = Utc.with_ymd_and_hms(2026, 12, 24, 17, 59, 0).unwrap();
        assert_eq!(
            Calendar::Nyse.session_on_or_after(t).unwrap().date,
            d("2026-12-24")
        );
        assert_eq!(Calendar::None.session_on_or_after(t), None);
    }
}
