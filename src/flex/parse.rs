//! Flex Open Positions (lot level) and Trades, from CSV or XML, into [`Lot`]s and
//! [`PastTrade`]s. Both formats become the same records (field name → text, with a line),
//! so the checks and their messages are shared.
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDateTime;
use quick_xml::events::Event;
use rust_decimal::Decimal;

use super::FlexError;
use super::dates::parse_datetime;
use crate::tax::{Lot, PastTrade, Term};

/// One row (CSV) or element (XML): names as in the file, with the line it starts on.
pub(super) struct Rec {
    pub line: u64,
    pub fields: Vec<(String, String)>,
}

/// Field names: (CSV column, XML attribute).
type Name = (&'static str, &'static str);
const SYMBOL: Name = ("Symbol", "symbol");
const CONID: Name = ("Conid", "conid");
const LEVEL: Name = ("LevelOfDetail", "levelOfDetail");
const POSITION: Name = ("Quantity", "position");
const BASIS_PRICE: Name = ("CostBasisPrice", "costBasisPrice");
const BASIS_MONEY: Name = ("CostBasisMoney", "costBasisMoney");
const OPEN: Name = ("OpenDateTime", "openDateTime");
const HOLDING: Name = ("HoldingPeriodDateTime", "holdingPeriodDateTime");
const TRADE_DATE: Name = ("TradeDate", "tradeDate");
const QUANTITY: Name = ("Quantity", "quantity");
const PNL: Name = ("FifoPnlRealized", "fifoPnlRealized");
const BUY_SELL: Name = ("Buy/Sell", "buySell");
const NOTES: Name = ("Notes/Codes", "notes");

/// Reads lot-level Open Positions from a Flex CSV or XML file.
pub fn read_lots(path: &Path) -> Result<Vec<Lot>, FlexError> {
    parse_lots(path, &read(path)?)
}

/// Reads executions from a Flex Trades CSV or XML file.
pub fn read_trades(path: &Path) -> Result<Vec<PastTrade>, FlexError> {
    parse_trades(path, &read(path)?)
}

fn read(path: &Path) -> Result<Vec<u8>, FlexError> {
    std::fs::read(path).map_err(|source| FlexError::Io {
        file: path.to_path_buf(),
        source,
    })
}

/// Parses lots; rows whose level of detail is not `LOT` (e.g. `SUMMARY`) are skipped, so
/// nothing is counted twice.
pub fn parse_lots(file: &Path, bytes: &[u8]) -> Result<Vec<Lot>, FlexError> {
    let recs = records(file, bytes, "POST", "OpenPosition")?;
    let mut out = Vec::new();
    for r in &recs {
        let c = Cell { file, rec: r };
        if c.opt(LEVEL).is_some_and(|l| !l.eq_ignore_ascii_case("LOT")) {
            continue;
        }
        let symbol = c.text(SYMBOL)?.to_string();
        let quantity = c.decimal(POSITION)?;
        if quantity <= Decimal::ZERO {
            return Err(c.err(
                POSITION,
                format!("must be positive (short lots are not supported), got {quantity}"),
            ));
        }
        let cost_basis_price = match c.opt(BASIS_PRICE) {
            Some(_) => c.decimal(BASIS_PRICE)?,
            None => c.decimal(BASIS_MONEY)? / quantity,
        };
        let open = c.datetime(OPEN)?;
        let holding_start = match c.opt(HOLDING) {
            Some(_) => c.datetime(HOLDING)?.date(),
            None => open.date(),
        };
        let conid = match c.opt(CONID) {
            Some(s) => Some(
                s.parse::<i64>()
                    .map_err(|_| c.err(CONID, format!("{s:?} is not a contract id")))?,
            ),
            None => None,
        };
        out.push(Lot {
            symbol,
            conid,
            quantity,
            cost_basis_price,
            open,
            holding_start,
        });
    }
    Ok(out)
}

/// Parses executions; `CLOSED_LOT` and other detail rows, and cancellations, are skipped.
/// A sell with a positive quantity (some templates) is made negative.
pub fn parse_trades(file: &Path, bytes: &[u8]) -> Result<Vec<PastTrade>, FlexError> {
    let recs = records(file, bytes, "TRNT", "Trade")?;
    let mut out = Vec::new();
    for r in &recs {
        let c = Cell { file, rec: r };
        if c.opt(LEVEL)
            .is_some_and(|l| !l.eq_ignore_ascii_case("EXECUTION"))
        {
            continue;
        }
        let side = c.text(BUY_SELL)?.to_ascii_uppercase();
        if side.contains("(CA.)") {
            continue;
        }
        let mut quantity = c.decimal(QUANTITY)?;
        if side.starts_with("SELL") {
            quantity = -quantity.abs();
        } else if side.starts_with("BUY") {
            quantity = quantity.abs();
        } else {
            return Err(c.err(BUY_SELL, format!("{side:?} is neither BUY nor SELL")));
        }
        let realized_pnl = match c.opt(PNL) {
            Some(_) => c.decimal(PNL)?,
            None => Decimal::ZERO,
        };
        let notes = c.opt(NOTES).unwrap_or("");
        let term = notes.split(';').find_map(|n| match n.trim() {
            "LT" => Some(Term::Long),
            "ST" => Some(Term::Short),
            _ => None,
        });
        out.push(PastTrade {
            symbol: c.text(SYMBOL)?.to_string(),
            trade_date: c.datetime(TRADE_DATE)?.date(),
            quantity,
            realized_pnl,
            term,
        });
    }
    Ok(out)
}

/// Typed access to one record's fields, with errors naming file, line and column.
struct Cell<'a> {
    file: &'a Path,
    rec: &'a Rec,
}

impl Cell<'_> {
    /// The value, or `None` when the field is absent or one of Flex's null spellings.
    fn opt(&self, name: Name) -> Option<&str> {
        self.rec
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.0) || k.eq_ignore_ascii_case(name.1))
            .map(|(_, v)| v.trim())
            .filter(|v| !matches!(*v, "" | "-" | "--" | "N/A" | "MULTI"))
    }

    fn text(&self, name: Name) -> Result<&str, FlexError> {
        self.opt(name)
            .ok_or_else(|| self.err(name, "missing or empty".into()))
    }

    fn decimal(&self, name: Name) -> Result<Decimal, FlexError> {
        let s = self.text(name)?.replace(',', "");
        Decimal::from_str(&s)
            .or_else(|_| Decimal::from_scientific(&s))
            .map_err(|_| self.err(name, format!("{s:?} is not a number")))
    }

    fn datetime(&self, name: Name) -> Result<NaiveDateTime, FlexError> {
        let s = self.text(name)?;
        parse_datetime(s).ok_or_else(|| {
            self.err(
                name,
                format!("{s:?} is not a date (yyyyMMdd[;HHmmss] or yyyy-MM-dd)"),
            )
        })
    }

    fn err(&self, name: Name, message: String) -> FlexError {
        // Name the column as the file spells it.
        let column = self
            .rec
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.0) || k.eq_ignore_ascii_case(name.1))
            .map_or(name.0.to_string(), |(k, _)| k.clone());
        FlexError::Field {
            file: self.file.to_path_buf(),
            line: self.rec.line,
            column,
            message,
        }
    }
}

/// All records of one section: XML elements named `element`, or CSV rows of section
/// `code` (with record descriptors) or every row (plain CSV with one header).
fn records(file: &Path, bytes: &[u8], code: &str, element: &str) -> Result<Vec<Rec>, FlexError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.trim_ascii_start().starts_with(b"<") {
        xml_records(file, bytes, element)
    } else {
        csv_records(file, bytes, code)
    }
}

fn row_err(file: &Path, line: u64, message: String) -> FlexError {
    FlexError::Row {
        file: file.to_path_buf(),
        line,
        message,
    }
}

pub(super) fn xml_records(file: &Path, bytes: &[u8], element: &str) -> Result<Vec<Rec>, FlexError> {
    let line_at = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(bytes.len()).min(bytes.len());
        1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
    };
    let mut rd = quick_xml::Reader::from_reader(bytes);
    rd.config_mut().trim_text(true);
    let mut out = Vec::new();
    loop {
        let start = rd.buffer_position();
        let ev = rd.read_event().map_err(|e| {
            row_err(
                file,
                line_at(rd.error_position()),
                format!("malformed XML: {e}"),
            )
        })?;
        let e = match ev {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => break,
            _ => continue,
        };
        if e.local_name().into_inner() != element {
            continue;
        }
        // The element starts after any whitespace before it.
        let skip = bytes[usize::try_from(start).unwrap_or(0).min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count() as u64;
        let line = line_at(start + skip);
        let mut fields = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| row_err(file, line, format!("malformed attribute: {err}")))?;
            let key = a.key.into_inner().to_string();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| row_err(file, line, format!("attribute {key}: {err}")))?
                .into_owned();
            fields.push((key, value));
        }
        out.push(Rec { line, fields });
    }
    Ok(out)
}

fn csv_records(file: &Path, bytes: &[u8], code: &str) -> Result<Vec<Rec>, FlexError> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut header: Option<Vec<String>> = None;
    let mut descriptors = false;
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rd.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(row_err(file, line, format!("malformed CSV: {e}")));
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let f: Vec<String> = rec.iter().map(|s| s.trim().to_string()).collect();
        if f.iter().all(String::is_empty) {
            continue;
        }
        let first = f[0].to_ascii_uppercase();
        if header.is_none() && !descriptors {
            if matches!(
                first.as_str(),
                "BOF" | "BOA" | "BOS" | "HEADER" | "DATA" | "MSG"
            ) {
                descriptors = true;
            } else {
                header = Some(f);
                continue;
            }
        }
        let (cols, values) = if descriptors {
            let section = f.get(1).map(String::as_str).unwrap_or("");
            match first.as_str() {
                "HEADER" if section.eq_ignore_ascii_case(code) => {
                    header = Some(f[2..].to_vec());
                    continue;
                }
                "DATA" if section.eq_ignore_ascii_case(code) => {}
                _ => continue,
            }
            let Some(h) = &header else {
                return Err(row_err(
                    file,
                    line,
                    format!("DATA row of section {code} before its HEADER row"),
                ));
            };
            (h, f[2..].to_vec())
        } else {
            let h = header.as_ref().map_or(&f, |h| h);
            if f == *h {
                continue; // a repeated header (one per section in multi-section exports)
            }
            (h, f.clone())
        };
        if values.len() != cols.len() {
            return Err(row_err(
                file,
                line,
                format!("{} fields, but the header has {}", values.len(), cols.len()),
            ));
        }
        out.push(Rec {
            line,
            fields: cols.iter().cloned().zip(values).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
