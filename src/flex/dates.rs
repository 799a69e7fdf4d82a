//! Flex date and time formats: the default `yyyyMMdd;HHmmss`, plain `yyyyMMdd`, ISO
//! `yyyy-MM-dd` (with `;`, `,`, space or `T` before an optional `HH:mm:ss` / `HHmmss`), and a
//! trailing time-zone word such as `EDT` (ignored: Flex times are US Eastern and only the
//! date decides holding periods and wash-sale windows).
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Parses a Flex date or date-time; a date alone is midnight.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let (date, time) = match s.find([';', ',', ' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date = parse_date(date)?;
    let time = time.split_whitespace().next().unwrap_or("");
    let time = if time.is_empty() {
        NaiveTime::MIN
    } else {
        NaiveTime::parse_from_str(time, "%H%M%S")
            .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M:%S"))
            .ok()?
    };
    Some(date.and_time(time))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(s, "%Y%m%d").ok()
    } else {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flex_and_iso_forms() {
        let want = NaiveDate::from_ymd_opt(2025, 4, 26)
            .unwrap()
            .and_hms_opt(13, 34, 28)
            .unwrap();
        for s in [
            "20250426;133428",
            "2025-04-26;13:34:28 EDT",
            "2025-04-26 13:34:28",
            "2025-04-26T13:34:28",
            "20250426,133428",
        ] {
            assert_eq!(parse_datetime(s), Some(want), "{s}");
        }
        let midnight = want.date().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(parse_datetime("20250426"), Some(midnight));
        assert_eq!(parse_datetime("2025-04-26"), Some(midnight));
        for bad in ["", "MULTI", "2025-13-01", "20250426;25xx00", "04/26/2025"] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
