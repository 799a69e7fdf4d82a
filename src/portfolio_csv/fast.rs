//! The fast path of [`super::parse_holdings`] for the files nearly everyone has: one record
//! per line, fields bare or wholly quoted, numbers like `-123.45`.
//!
//! Why: at 10^5 rows the general reader (building `csv`'s parser, `csv` records, a UTF-8 check
//! and a `str` per field, `Decimal::from_str`, a SipHash set of symbols) cost more than the
//! plan. Here header and body are split in place, numbers of the form `-?digits[.digits]` (at
//! most 18 digits) become the `Decimal` of their digits and decimal count in one pass —
//! `Decimal::from_parts`, as `from_str` builds it, so `1.50` keeps its scale 2 — and a file
//! whose symbols are already in order needs no set.
//!
//! Why it is exact: it never decides anything the general path would decide differently. It
//! returns `None` at the first thing outside its simple grammar (a quote inside a field, a
//! line break inside quotes, a lone CR, a blank first line) and at every error (a bad value,
//! a field count, a duplicate); the caller then reads the whole file again the general way,
//! which produces the result or the exact error message as before. Numbers of any other form
//! go through the general path's own `str::trim` and `Decimal::from_str`. Property tests
//! compare both paths on random files.
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Format, RowSpec, row};
use crate::strategy::symbol;

/// The header's column names (as the general reader trims them) and where the records start;
/// `None` for an empty first line or a header outside the simple grammar.
pub(super) fn header(bytes: &[u8]) -> Option<(Vec<String>, usize)> {
    if matches!(bytes.first(), None | Some(b'\n' | b'\r')) {
        return None;
    }
    let mut fields = Vec::new();
    let start = record(bytes, 0, &mut fields)?;
    let names: Vec<String> = fields
        .iter()
        .map(|&(a, b)| String::from_utf8_lossy(&bytes[a..b]).trim().to_string())
        .collect();
    if names.iter().all(String::is_empty) {
        return None;
    }
    Some((names, start))
}

/// Holdings from the records of `body` (the bytes after the header), or `None` when the
/// general path must decide.
pub(super) fn holdings<'a, O: row::Out<'a>>(
    body: &'a [u8],
    header_len: usize,
    spec: &RowSpec,
) -> Option<O> {
    let roles = row::roles(header_len, spec);
    row::take_overflow(); // a flag left by an earlier file that stopped short
    // The Flex Query layout gets its own copy of the reading loop, with its row reader
    // written out column by column (`row::read_flex`).
    let out = if spec.format == Format::Flex && roles == row::FLEX {
        rows(body, header_len, spec, |i, out| {
            row::read_flex(body, i, out)
        })
    } else {
        rows(body, header_len, spec, |i, out| {
            row::read(body, i, &roles, spec.format, out)
        })
    }?;
    // A quantity beyond `Decimal`: the general reader reports the row.
    if row::take_overflow() {
        return None;
    }
    unique(&out).then_some(out)
}

/// The records of `body`, each read by `read` (a row reader for `spec`'s columns, which
/// appends the row's holding and returns where the next record starts) or, where it
/// declines, split into fields; `None` when the general path must decide.
#[inline(always)]
fn rows<'a, O: row::Out<'a>>(
    body: &'a [u8],
    header_len: usize,
    spec: &RowSpec,
    read: impl Fn(usize, &mut O) -> Option<usize>,
) -> Option<O> {
    let mut out = O::with_capacity(newlines(body) + 1);
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(header_len);
    let mut i = 0;
    while i < body.len() {
        // Nearly every row: one pass ([`row`]); any other is split into fields first.
        if let Some(next) = read(i, &mut out) {
            i = next;
            continue;
        }
        i = record(body, i, &mut fields)?;
        if fields
            .iter()
            .all(|&(a, b)| body[a..b].trim_ascii().is_empty())
        {
            continue; // a blank line, as the general reader skips it
        }
        if fields.len() != header_len {
            return None;
        }
        push_holding(&mut out, body, &fields, spec)?;
    }
    Some(out)
}

/// How many `\n` in `bytes`, counted in byte-wide lanes (vectorised) 255 bytes at a time.
fn newlines(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

/// Splits the record starting at `i` into `fields` (content ranges, quotes removed); returns
/// where the next record starts. `None` outside the simple grammar.
pub(super) fn record(body: &[u8], mut i: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
    fields.clear();
    loop {
        let (start, end);
        if body.get(i) == Some(&b'"') {
            (start, end) = (i + 1, find(body, i + 1, [b'"', b'\n', b'\r'])?);
            if body[end] != b'"' {
                return None; // a line break inside quotes
            }
            i = end + 1;
        } else {
            let len = find(body, i, [b',', b'\n', b'\r', b'"']).unwrap_or(body.len());
            (start, end) = (i, len);
            i = end;
        }
        fields.push((start, end));
        match body.get(i) {
            Some(b',') => i += 1,
            Some(b'\n') => return Some(i + 1),
            Some(b'\r') if body.get(i + 1) == Some(&b'\n') => return Some(i + 2),
            None => return Some(i),
            // A quote inside a bare field or after a closing quote, a lone CR.
            Some(_) => return None,
        }
    }
}

/// The first index at or after `i` whose byte is one of `set`, eight bytes per step.
///
/// Why: fields are scanned for their end on every row, and a byte-by-byte search with several
/// comparisons per byte was a third of reading a file. Each step XORs eight bytes with each
/// wanted byte and finds zero bytes with the borrow trick `(y − 0x01…) & !y & 0x80…`, whose
/// lowest set bit is exactly the first zero byte (a borrow only runs upwards from a zero byte,
/// and a non-zero byte without an incoming borrow never sets its top bit). The last bytes
/// (fewer than eight) are compared one by one.
pub(super) fn find<const N: usize>(body: &[u8], mut i: usize, set: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = body.get(i..i + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(bytes);
        let mut hit = 0;
        for b in set {
            let y = w ^ (LO * u64::from(b));
            hit |= y.wrapping_sub(LO) & !y & HI;
        }
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = body.get(i..)?;
    rest.iter().position(|b| set.contains(b)).map(|k| i + k)
}

/// Appends one holding, exactly as `parse_rows` builds it; `None` where it would report an
/// error.
pub(super) fn push_holding<'a>(
    out: &mut impl row::Out<'a>,
    body: &'a [u8],
    fields: &[(usize, usize)],
    spec: &RowSpec,
) -> Option<()> {
    let field = |c: usize| {
        let (a, b) = fields[c];
        &body[a..b]
    };
    let raw = field(spec.sym);
    let symbol = std::str::from_utf8(raw).ok()?;
    // `str::trim` only where an end could be white space.
    let graphic = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7f).contains(b));
    let symbol = if graphic(raw.first()) && graphic(raw.last()) {
        symbol
    } else {
        symbol.trim()
    };
    if symbol.is_empty() {
        return None;
    }
    let p = decimal(field(spec.price))?;
    if p.is_zero() || p.is_sign_negative() {
        return None;
    }
    let a = decimal(field(spec.amount))?;
    if a.is_sign_negative() && !a.is_zero() {
        return None;
    }
    let pnl = match spec.pnl {
        Some(c) => decimal(field(c))?,
        None => Decimal::ZERO,
    };
    let (quantity, market_value) = match spec.format {
        Format::Flex => (row::div_inexact(a, p), Some(a)),
        Format::Plain => (a, None),
    };
    out.push_row(symbol, quantity, p, pnl, market_value)
}

/// A number field as the general path reads it (`str::trim`, `Decimal::from_str`, then
/// scientific notation); `None` where it reports an error.
pub(super) fn decimal(raw: &[u8]) -> Option<Decimal> {
    plain_decimal(raw).or_else(|| {
        let s = std::str::from_utf8(raw).ok()?.trim();
        if s.is_empty() {
            return None;
        }
        Decimal::from_str(s)
            .or_else(|_| Decimal::from_scientific(s))
            .ok()
    })
}

/// `-?digits[.digits]` with at most 18 digits and nothing around it: the digits as the
/// mantissa, the decimals as the scale — what `Decimal::from_str` computes for such text (it
/// also ends in `from_parts`, which makes `-0` zero). One pass, no allocation.
pub(super) fn plain_decimal(s: &[u8]) -> Option<Decimal> {
    let (neg, rest) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let mut m: u64 = 0;
    let mut dot = None;
    for (k, &b) in rest.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            // More than 18 digits is refused below, before `m` is used.
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        } else if b == b'.' && dot.is_none() {
            dot = Some(k);
        } else {
            return None;
        }
    }
    let digits = rest.len() - usize::from(dot.is_some());
    let scale = match dot {
        None => 0,
        Some(k) if k > 0 && k + 1 < rest.len() => rest.len() - 1 - k,
        Some(_) => return None, // ".5" or "5.": from_str's own business
    };
    if digits == 0 || digits > 18 {
        return None;
    }
    Some(Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        0,
        neg,
        scale as u32,
    ))
}

/// No symbol twice. A file in symbol order (IBKR sorts its exports) shows it by comparing
/// neighbours; otherwise a set.
fn unique<'a>(hs: &impl row::Out<'a>) -> bool {
    let n = hs.len();
    if (1..n).all(|i| symbol::less(hs.symbol(i - 1), hs.symbol(i))) {
        return true;
    }
    let mut seen = std::collections::HashSet::with_capacity(n);
    (0..n).all(|i| seen.insert(hs.symbol(i)))
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
