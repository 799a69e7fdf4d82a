//! The fast path of [`super::parse_holdings`] for the files nearly everyone has: one record
//! per line, fields bare or wholly quoted, numbers like `-123.45`.
//!
//! Why: at 10^5 rows the general reader (`csv` records, a UTF-8 check and a `str` per field,
//! `Decimal::from_str`, a SipHash set of symbols) cost more than the plan. Here the body is
//! split in place, numbers of the form `-?digits[.digits]` (at most 18 digits) become the
//! `Decimal` of their digits and decimal count — `Decimal::from_parts`, as `from_str` builds it,
//! so `1.50` keeps its scale 2 — and a file whose symbols are already in order needs no set.
//!
//! Why it is exact: it never decides anything the general path would decide differently. It
//! returns `None` at the first thing outside its simple grammar (a quote inside a field, a
//! line break inside quotes, a lone CR, a non-ASCII or unusual number) and at every error
//! (a bad value, a field count, a duplicate); the caller then reads the whole file again the
//! general way, which produces the result or the exact error message as before. Property
//! tests compare both paths on random files.
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Format, RowSpec};
use crate::strategy::Holding;

/// Holdings from the records of `body` (the bytes after the header), or `None` when the
/// general path must decide.
pub(super) fn holdings(body: &[u8], header_len: usize, spec: &RowSpec) -> Option<Vec<Holding>> {
    let records = body.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut out = Vec::with_capacity(records);
    let mut fields: Vec<(usize, usize)> = Vec::with_capacity(header_len);
    let mut i = 0;
    while i < body.len() {
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
        out.push(holding(body, &fields, spec)?);
    }
    unique(&out).then_some(out)
}

/// Splits the record starting at `i` into `fields` (content ranges, quotes removed); returns
/// where the next record starts. `None` outside the simple grammar.
fn record(body: &[u8], mut i: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
    fields.clear();
    loop {
        let (start, end);
        if body.get(i) == Some(&b'"') {
            let len = body[i + 1..]
                .iter()
                .position(|&b| matches!(b, b'"' | b'\n' | b'\r'))?;
            (start, end) = (i + 1, i + 1 + len);
            if body[end] != b'"' {
                return None; // a line break inside quotes
            }
            i = end + 1;
        } else {
            let len = body[i..]
                .iter()
                .position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'))
                .unwrap_or(body.len() - i);
            (start, end) = (i, i + len);
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

/// One holding, exactly as `parse_rows` builds it; `None` where it would report an error.
fn holding(body: &[u8], fields: &[(usize, usize)], spec: &RowSpec) -> Option<Holding> {
    let field = |c: usize| {
        let (a, b) = fields[c];
        &body[a..b]
    };
    let symbol = std::str::from_utf8(field(spec.sym)).ok()?.trim();
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
    let mut h = match spec.format {
        Format::Flex => Holding {
            market_value: Some(a),
            ..Holding::new(symbol, a / p, p)
        },
        Format::Plain => Holding::new(symbol, a, p),
    };
    h.unrealized_pnl = pnl;
    Some(h)
}

/// A number field as the general path reads it (`str::trim`, `Decimal::from_str`, then
/// scientific notation); `None` where it reports an error or the field is not plain ASCII.
pub(super) fn decimal(raw: &[u8]) -> Option<Decimal> {
    if !raw.is_ascii() {
        return None; // maybe Unicode white space around it: the general path trims it
    }
    // ASCII white space as `str::trim` sees it (including vertical tab).
    let s = raw
        .iter()
        .position(|b| !is_space(*b))
        .map_or(&raw[..0], |a| {
            let b = raw.iter().rposition(|b| !is_space(*b)).unwrap_or(a);
            &raw[a..=b]
        });
    plain_decimal(s).or_else(|| {
        let s = std::str::from_utf8(s).ok()?;
        if s.is_empty() {
            return None;
        }
        Decimal::from_str(s)
            .or_else(|_| Decimal::from_scientific(s))
            .ok()
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

/// `-?digits[.digits]` with at most 18 digits: the digits as the mantissa, the decimals as
/// the scale — what `Decimal::from_str` computes for such text (it also ends in
/// `from_parts`, which makes `-0` zero).
fn plain_decimal(s: &[u8]) -> Option<Decimal> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &digits[..0]),
    };
    let point = usize::from(digits.len() != int.len());
    if int.is_empty() || (point == 1 && frac.is_empty()) || int.len() + frac.len() > 18 {
        return None;
    }
    let mut m: u64 = 0;
    for &b in int.iter().chain(frac) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m * 10 + u64::from(d);
    }
    Some(Decimal::from_parts(
        m as u32,
        (m >> 32) as u32,
        0,
        neg,
        frac.len() as u32,
    ))
}

/// No symbol twice. A file in symbol order (IBKR sorts its exports) shows it by comparing
/// neighbours; otherwise a set.
fn unique(hs: &[Holding]) -> bool {
    if hs.windows(2).all(|w| w[0].symbol < w[1].symbol) {
        return true;
    }
    let mut seen = std::collections::HashSet::with_capacity(hs.len());
    hs.iter().all(|h| seen.insert(h.symbol.as_str()))
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
