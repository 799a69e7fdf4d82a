//! CSV input for `pbal plan`: the original tool's IBKR Flex Query export and a plain
//! `symbol,quantity,price[,unrealized_pnl]` file, plus a `symbol,weight` targets file.
//!
//! Users switch from the Python tool with their existing Flex Query files, so the reader is
//! lenient about layout (columns in any order, extra columns, quotes, CRLF, a UTF-8 BOM,
//! spaces around values) and strict about content: a bad value stops everything with one
//! message naming the file, line and column — never a guess about money.
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::strategy::{Asset, Holding};

mod fast;
mod row;

/// A CSV problem, located precisely enough to fix it in an editor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", file.display())]
    Header {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}:{line}: column {column}: {message}", file.display())]
    Field {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{}:{line}: {message}", file.display())]
    Row {
        file: PathBuf,
        line: u64,
        message: String,
    },
}

impl CsvError {
    /// The 1-based line the error refers to, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            CsvError::Io { .. } => None,
            CsvError::Header { line, .. }
            | CsvError::Field { line, .. }
            | CsvError::Row { line, .. } => Some(*line),
        }
    }
}

/// Which layout a file uses, detected from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// IBKR Flex Query: `Symbol`, `PositionValue`, `MarkPrice`, optional `FifoPnlUnrealized`.
    Flex,
    /// `symbol`, `quantity`, `price`, optional `unrealized_pnl`.
    Plain,
}

/// Reads holdings from `path` (format detected from the header).
pub fn read_holdings(path: &Path) -> Result<Vec<Holding>, CsvError> {
    parse_holdings(path, &read_file(path)?)
}

/// The bytes of the CSV at `path`, or the error [`read_holdings`] reports.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CsvError> {
    std::fs::read(path).map_err(|source| CsvError::Io {
        file: path.to_path_buf(),
        source,
    })
}

/// The planner's assets of the holdings [`parse_holdings`] reads, each symbol borrowed from
/// `bytes`, made as the planner's validation makes them (`strategy::outline_assets` plans
/// them). Why: at 10^5 rows the holdings were ~15 MB, copied once more into assets. `None`
/// when the file is not one the fast path reads, or a row is one the planner refuses: then
/// [`parse_holdings`] (and planning its holdings) gives the answer or the error, as ever.
pub(crate) fn parse_assets<'a>(file: &Path, bytes: &'a [u8]) -> Option<Vec<Asset<'a>>> {
    parse_fast(file, bytes)
}

/// Parses holdings from `bytes`; `file` only names the source in errors.
pub fn parse_holdings(file: &Path, bytes: &[u8]) -> Result<Vec<Holding>, CsvError> {
    match parse_fast(file, bytes) {
        Some(out) => Ok(out),
        None => parse_general_file(file, bytes),
    }
}

/// The fast path, header included ([`fast`]); `None` whenever the general path must decide.
fn parse_fast<'a, O: row::Out<'a>>(file: &Path, bytes: &'a [u8]) -> Option<O> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let (header, start) = fast::header(bytes)?;
    let spec = row_spec(file, &header).ok()?;
    fast::holdings(&bytes[start..], header.len(), &spec)
}

/// The general path over the whole file: header through `csv`, then [`parse_general`].
fn parse_general_file(file: &Path, bytes: &[u8]) -> Result<Vec<Holding>, CsvError> {
    let rd = Reader::new(file, bytes)?;
    let spec = row_spec(file, &rd.header)?;
    parse_general(file, &rd, &spec)
}

/// A UTF-8 byte order mark, which spreadsheet exports put before the header.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the holdings' columns are in `header`.
fn row_spec(file: &Path, header: &[String]) -> Result<RowSpec, CsvError> {
    let (format, cols) = detect_format(file, header)?;
    let [sym, amount, price] = cols.map(|c| c.unwrap_or_default());
    let pnl = match format {
        Format::Flex => col(header, "FifoPnlUnrealized"),
        Format::Plain => col(header, "unrealized_pnl"),
    };
    let names = match format {
        Format::Flex => ["Symbol", "PositionValue", "MarkPrice", "FifoPnlUnrealized"],
        Format::Plain => ["symbol", "quantity", "price", "unrealized_pnl"],
    };
    Ok(RowSpec {
        format,
        sym,
        amount,
        price,
        pnl,
        names,
    })
}

/// The index of column `name` (case-insensitive; the header is trimmed already).
fn col(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h.eq_ignore_ascii_case(name))
}

/// The general path: any CSV the `csv` crate reads, every error located by line and column.
fn parse_general(file: &Path, rd: &Reader<'_>, spec: &RowSpec) -> Result<Vec<Holding>, CsvError> {
    let names = spec.names;
    let body = &rd.bytes[rd.body_start..];
    // The header's line: blank lines before it are skipped by `csv` but are lines of the file.
    // `csv` stops after the `\r` of a CRLF header, and counts its pending `\n` in the body.
    let pending = rd.body_start > 0
        && rd.bytes[rd.body_start - 1] == b'\r'
        && rd.bytes.get(rd.body_start) == Some(&b'\n');
    let header_line = (newlines(&rd.bytes[..rd.body_start]) + u64::from(pending)).max(1);
    let (out, lines) = match split_point(body) {
        // Large files: two halves on two threads (the split is at a record boundary).
        Some(mid) if body.len() > PARALLEL_BYTES => {
            let first_lines = header_line + newlines(&body[..mid]);
            let (a, b) = std::thread::scope(|scope| {
                let second = scope.spawn(|| {
                    let mut r = Reader::body(file, &body[mid..], &rd.header, first_lines);
                    parse_rows(&mut r, spec)
                });
                let mut r = Reader::body(file, &body[..mid], &rd.header, header_line);
                let a = parse_rows(&mut r, spec);
                (a, second.join())
            });
            let (mut out, mut lines) = a?;
            let (out2, lines2) = b.map_err(|_| CsvError::Row {
                file: file.to_path_buf(),
                line: first_lines + 1,
                message: "internal error while parsing".into(),
            })??;
            out.extend(out2);
            lines.extend(lines2);
            (out, lines)
        }
        _ => {
            let mut r = Reader::body(file, body, &rd.header, header_line);
            parse_rows(&mut r, spec)?
        }
    };
    // Duplicates are checked after the pass, with keys borrowed from the rows (no second
    // allocation per symbol).
    let mut seen: HashMap<&str, u64> = HashMap::with_capacity(out.len());
    for (h, &line) in out.iter().zip(&lines) {
        if let Some(first) = seen.insert(h.symbol.as_str(), line) {
            return Err(CsvError::Field {
                file: file.to_path_buf(),
                line,
                column: names[0].to_string(),
                message: format!(
                    "duplicate symbol {} (first on line {first}); merge the rows",
                    h.symbol
                ),
            });
        }
    }
    Ok(out)
}

/// Which header this is: IBKR Flex (`Symbol, PositionValue, MarkPrice`) or plain
/// (`symbol, quantity, price`), with the three columns' indexes; otherwise names what is
/// missing.
fn detect_format(file: &Path, header: &[String]) -> Result<(Format, [Option<usize>; 3]), CsvError> {
    let c = |name| col(header, name);
    let flex = [c("Symbol"), c("PositionValue"), c("MarkPrice")];
    let plain = [c("symbol"), c("quantity"), c("price")];
    if flex.iter().all(Option::is_some) {
        Ok((Format::Flex, flex))
    } else if plain.iter().all(Option::is_some) {
        Ok((Format::Plain, plain))
    } else {
        let missing: Vec<&str> = if flex.iter().any(Option::is_some) {
            ["Symbol", "PositionValue", "MarkPrice"]
                .iter()
                .zip(&flex)
                .filter(|(_, c)| c.is_none())
                .map(|(n, _)| *n)
                .collect()
        } else {
            ["symbol", "quantity", "price"]
                .iter()
                .zip(&plain)
                .filter(|(_, c)| c.is_none())
                .map(|(n, _)| *n)
                .collect()
        };
        Err(CsvError::Header {
            file: file.to_path_buf(),
            line: 1,
            message: format!(
                "missing column(s) {}; expected an IBKR Flex Query header \
                 (Symbol, PositionValue, MarkPrice[, FifoPnlUnrealized]) \
                 or symbol, quantity, price[, unrealized_pnl]",
                missing.join(", ")
            ),
        })
    }
}

/// Where the columns of a holdings file are.
struct RowSpec {
    format: Format,
    sym: usize,
    amount: usize,
    price: usize,
    pnl: Option<usize>,
    names: [&'static str; 4],
}

/// Files above this size are parsed on two threads.
const PARALLEL_BYTES: usize = 1 << 20;

/// Line breaks in `bytes` (the lines `csv` counts end in `\n`).
fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// A record boundary near the middle of `body`: a newline with an even number of quotes
/// before it (so it is not inside a quoted field).
fn split_point(body: &[u8]) -> Option<usize> {
    let half = body.len() / 2;
    let quotes = body[..half].iter().filter(|&&b| b == b'"').count();
    let mut inside = quotes % 2 == 1;
    for (k, &b) in body[half..].iter().enumerate() {
        match b {
            b'"' => inside = !inside,
            b'\n' if !inside => return Some(half + k + 1),
            _ => {}
        }
    }
    None
}

fn parse_rows(rd: &mut Reader<'_>, spec: &RowSpec) -> Result<(Vec<Holding>, Vec<u64>), CsvError> {
    let RowSpec {
        format,
        sym,
        amount,
        price,
        pnl,
        names,
    } = *spec;
    let cap = rd.bytes.len() / 40;
    let mut out = Vec::with_capacity(cap);
    let mut lines: Vec<u64> = Vec::with_capacity(cap);
    while let Some(line) = rd.next()? {
        let symbol = rd.text(sym, names[0])?;
        if symbol.is_empty() {
            return Err(rd.field_error(names[0], "empty symbol".into()));
        }
        let p = rd.decimal(price, names[2])?;
        if p <= Decimal::ZERO {
            return Err(rd.field_error(names[2], format!("price must be positive, got {p}")));
        }
        let a = rd.decimal(amount, names[1])?;
        if a < Decimal::ZERO {
            return Err(rd.field_error(
                names[1],
                format!("must not be negative (short positions are not supported), got {a}"),
            ));
        }
        let pnl = match pnl {
            Some(c) => rd.decimal(c, names[3])?,
            None => Decimal::ZERO,
        };
        let mut h = match format {
            Format::Flex => {
                let q = a.checked_div(p).ok_or_else(|| {
                    let message = format!(
                        "{a} / {} {p} is more shares than pbal can count; check the {}",
                        names[2], names[2]
                    );
                    rd.field_error(names[1], message)
                })?;
                Holding {
                    market_value: Some(a),
                    ..Holding::new(symbol, q, p)
                }
            }
            Format::Plain => Holding::new(symbol, a, p),
        };
        h.unrealized_pnl = pnl;
        out.push(h);
        lines.push(line);
    }
    Ok((out, lines))
}

/// Reads a targets file: header `symbol,weight`, one row per symbol. Weights are relative
/// (normalised by their sum).
pub fn read_targets(path: &Path) -> Result<BTreeMap<String, Decimal>, CsvError> {
    let bytes = std::fs::read(path).map_err(|source| CsvError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse_targets(path, &bytes)
}

/// Parses a targets file from `bytes`; `file` only names the source in errors.
pub fn parse_targets(file: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Decimal>, CsvError> {
    let mut rd = Reader::new(file, bytes)?;
    let (Some(sym), Some(w)) = (rd.col("symbol"), rd.col("weight")) else {
        return Err(rd.header_error("expected a header with columns symbol, weight".into()));
    };
    let mut out = BTreeMap::new();
    while let Some(line) = rd.next()? {
        let symbol = rd.text(sym, "symbol")?.to_string();
        if symbol.is_empty() {
            return Err(rd.field_error("symbol", "empty symbol".into()));
        }
        let weight = rd.decimal(w, "weight")?;
        if weight < Decimal::ZERO {
            return Err(rd.field_error("weight", format!("must not be negative, got {weight}")));
        }
        if out.insert(symbol.clone(), weight).is_some() {
            return Err(rd.field_error("weight", format!("duplicate symbol {symbol}")));
        }
        let _ = line;
    }
    if out.values().all(|w| w.is_zero()) {
        return Err(CsvError::Row {
            file: file.to_path_buf(),
            line: 1,
            message: "targets: no symbol has a positive weight".into(),
        });
    }
    Ok(out)
}

/// A thin layer over `csv` that tracks the current line and resolves columns by name
/// (case-insensitive, surrounding spaces ignored).
struct Reader<'a> {
    file: &'a Path,
    bytes: &'a [u8],
    inner: csv::Reader<&'a [u8]>,
    header: Vec<String>,
    record: csv::ByteRecord,
    line: u64,
    /// Line number of the first line of `bytes` minus one.
    line_offset: u64,
    /// Offset of the first record after the header.
    body_start: usize,
}

impl<'a> Reader<'a> {
    fn new(file: &'a Path, bytes: &'a [u8]) -> Result<Self, CsvError> {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let mut inner = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(bytes);
        let header = match inner.byte_headers() {
            Ok(h) => h
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_string())
                .collect(),
            Err(e) => {
                return Err(CsvError::Header {
                    file: file.to_path_buf(),
                    line: 1,
                    message: e.to_string(),
                });
            }
        };
        let body_start = usize::try_from(inner.position().byte()).unwrap_or(bytes.len());
        let r = Reader {
            file,
            bytes,
            inner,
            header,
            record: csv::ByteRecord::new(),
            line: 1,
            line_offset: 0,
            body_start: body_start.min(bytes.len()),
        };
        if r.header.iter().all(String::is_empty) {
            return Err(r.header_error("empty file: expected a header row".into()));
        }
        Ok(r)
    }

    /// A reader over records only (no header), whose first line is line `first_line`.
    fn body(file: &'a Path, bytes: &'a [u8], header: &[String], first_line: u64) -> Self {
        let inner = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        Reader {
            file,
            bytes,
            inner,
            header: header.to_vec(),
            record: csv::ByteRecord::new(),
            line: first_line,
            line_offset: first_line,
            body_start: 0,
        }
    }

    fn col(&self, name: &str) -> Option<usize> {
        col(&self.header, name)
    }

    /// Advances to the next non-empty record; returns its line number.
    fn next(&mut self) -> Result<Option<u64>, CsvError> {
        loop {
            match self.inner.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    self.line = self
                        .record
                        .position()
                        .map_or(self.line + 1, |p| p.line() + self.line_offset);
                    if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
                        continue; // blank line
                    }
                    if self.record.len() != self.header.len() {
                        return Err(CsvError::Row {
                            file: self.file.to_path_buf(),
                            line: self.line,
                            message: format!(
                                "{} fields, but the header has {}",
                                self.record.len(),
                                self.header.len()
                            ),
                        });
                    }
                    return Ok(Some(self.line));
                }
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(self.line + 1, |p| p.line() + self.line_offset);
                    return Err(CsvError::Row {
                        file: self.file.to_path_buf(),
                        line,
                        message: format!("malformed CSV: {e}"),
                    });
                }
            }
        }
    }

    fn text<'s>(&'s self, idx: usize, name: &str) -> Result<&'s str, CsvError> {
        let raw = self.record.get(idx).unwrap_or_default();
        // `x, "10.0" ,y`: a quote after a space is not CSV quoting; strip it ourselves.
        let unquote = |s: &'s str| -> &'s str {
            let s = s.trim();
            s.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .map_or(s, str::trim)
        };
        std::str::from_utf8(raw)
            .map(unquote)
            .map_err(|_| self.field_error(name, "not valid UTF-8".into()))
    }

    fn decimal(&self, idx: usize, name: &str) -> Result<Decimal, CsvError> {
        let s = self.text(idx, name)?;
        if s.is_empty() {
            return Err(self.field_error(name, "empty value; expected a number".into()));
        }
        // Plain decimals; scientific notation ("1e3") as a courtesy. NaN/inf are rejected.
        let parsed = Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s));
        parsed.map_err(|_| self.field_error(name, format!("{s:?} is not a number")))
    }

    fn field_error(&self, column: &str, message: String) -> CsvError {
        CsvError::Field {
            file: self.file.to_path_buf(),
            line: self.line,
            column: column.to_string(),
            message,
        }
    }

    fn header_error(&self, message: String) -> CsvError {
        CsvError::Header {
            file: self.file.to_path_buf(),
            line: 1,
            message,
        }
    }
}

#[cfg(test)]
mod tests;
