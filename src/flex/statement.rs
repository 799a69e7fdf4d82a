//! Which day a Flex statement's data run through (its `toDate`).
//!
//! Why it matters: Flex activity data refresh once a day, so a statement fetched this
//! morning holds the lots as of the last close, not as of the moment it was generated.
//! pbal's own fills after that day must be applied to its lots, and fills on or before it
//! must not be applied twice; the generation time would draw that line in the wrong place.
use std::path::Path;

use chrono::NaiveDate;

use super::FlexError;
use super::dates::parse_datetime;
use super::parse::xml_records;

/// The last day the statement covers: the latest `toDate` of its `FlexStatement`s (XML), or
/// the "to" date of the CSV `BOF` header record (the second plain date in it). Errors name
/// the file and say what is missing.
pub fn statement_through(file: &Path, bytes: &[u8]) -> Result<NaiveDate, FlexError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let missing = |what: &str| FlexError::Row {
        file: file.to_path_buf(),
        line: 1,
        message: format!(
            "{what}: pbal cannot tell which of its own fills the statement already holds"
        ),
    };
    if bytes.trim_ascii_start().starts_with(b"<") {
        let mut latest = None;
        for r in xml_records(file, bytes, "FlexStatement")? {
            let to = r
                .fields
                .iter()
                .find(|(k, _)| k == "toDate")
                .and_then(|(_, v)| parse_datetime(v))
                .ok_or_else(|| FlexError::Field {
                    file: file.to_path_buf(),
                    line: r.line,
                    column: "toDate".into(),
                    message: "missing or not a date".into(),
                })?;
            latest = latest.max(Some(to.date()));
        }
        return latest.ok_or_else(|| missing("no <FlexStatement> element with a toDate"));
    }
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    for rec in rd.records().flatten() {
        if rec.get(0).map(str::trim) != Some("BOF") {
            continue;
        }
        let dates: Vec<NaiveDate> = rec
            .iter()
            .map(str::trim)
            .filter(|f| f.len() == 8 && f.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|f| NaiveDate::parse_from_str(f, "%Y%m%d").ok())
            .collect();
        if let Some(to) = dates.get(1).or(dates.first()) {
            return Ok(*to);
        }
    }
    Err(missing(
        "no BOF header record with the statement's dates (enable \"Include header and trailer \
         records\" in the Flex query, or use XML)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn reads_to_date_from_xml_and_csv() {
        let xml = include_bytes!("../../examples/tax/lots.xml");
        assert_eq!(
            statement_through(Path::new("lots.xml"), xml).unwrap(),
            d("2025-06-30")
        );
        let two = br#"<FlexQueryResponse><FlexStatements count="2">
<FlexStatement accountId="U1" fromDate="20250101" toDate="20250627" whenGenerated="20250701;080000"/>
<FlexStatement accountId="U1" fromDate="20250101" toDate="20250630" whenGenerated="20250701;080000"/>
</FlexStatements></FlexQueryResponse>"#;
        assert_eq!(
            statement_through(Path::new("x"), two).unwrap(),
            d("2025-06-30")
        );
        let csv = b"\"BOF\",\"U1\",\"pbal lots\",\"2\",\"20250101\",\"20250630\",\"20250701;080000\",\"\"\n\"HEADER\",\"POST\",\"Symbol\"\n";
        assert_eq!(
            statement_through(Path::new("x.csv"), csv).unwrap(),
            d("2025-06-30")
        );
    }

    #[test]
    fn a_statement_without_dates_is_an_error_naming_the_file() {
        let e = statement_through(Path::new("lots.csv"), b"Symbol,Quantity\nVTI,1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("lots.csv:1:") && e.contains("BOF"), "{e}");
        let e = statement_through(
            Path::new("l.xml"),
            b"<FlexQueryResponse><FlexStatements><FlexStatement accountId=\"U1\"/></FlexStatements></FlexQueryResponse>",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("toDate"), "{e}");
    }
}
