//! The aligned text table `pbal plan` prints, one row per position.
//!
//! Why it is built this way: column widths depend on every row, so the figures are formatted
//! once into one byte buffer (their lengths alongside, one byte per cell), then each row is
//! laid out in place — a row of spaces with the cells copied to their columns — into a chunk
//! that is written out every 256 KiB. At 10^5 rows that is no allocation per row or cell, no
//! second formatting pass, and no output buffer the size of the whole table.
use std::io::{self, Write};

use rust_decimal::Decimal;

use super::fixed;
use crate::strategy::{Plan, PlanLine};

const HEADER: [&str; 10] = [
    "Symbol",
    "Price",
    "Value before",
    "Target",
    "Trade",
    "Shares",
    "Trade value",
    "Value after",
    "Weight before",
    "Weight after",
];

/// The columns holding numbers, in order (all but the symbol and the side).
const NUMBER_COLUMNS: [usize; 8] = [1, 2, 3, 5, 6, 7, 8, 9];

/// The table is written to `out` in chunks of about this size.
const CHUNK: usize = 1 << 18;

/// Writes the plan as an aligned text table with a cash footer (what `pbal plan` prints).
pub fn write_table(plan: &Plan, mut out: impl Write) -> io::Result<()> {
    let n = plan.lines.len();
    let mut cells: Vec<u8> = Vec::with_capacity(n * 64);
    let mut lens: Vec<[u8; 8]> = Vec::with_capacity(n);
    let mut width = HEADER.map(str::len);
    for l in &plan.lines {
        width[0] = width[0].max(chars(&l.symbol));
        width[4] = width[4].max(side(l).len());
        let row = number_cells(&mut cells, l);
        for (&col, &len) in NUMBER_COLUMNS.iter().zip(&row) {
            width[col] = width[col].max(usize::from(len));
        }
        lens.push(row);
    }

    let mut o: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
    line(&mut o, &width, &HEADER.map(str::as_bytes), HEADER[0].len());
    let rule = width.map(|w| vec![b'-'; w]);
    line(
        &mut o,
        &width,
        &rule.each_ref().map(Vec::as_slice),
        width[0],
    );
    let mut at = 0;
    for (l, row) in plan.lines.iter().zip(&lens) {
        let mut c: [&[u8]; 10] = [
            l.symbol.as_bytes(),
            b"",
            b"",
            b"",
            side(l).as_bytes(),
            b"",
            b"",
            b"",
            b"",
            b"",
        ];
        for (&col, &len) in NUMBER_COLUMNS.iter().zip(row) {
            let end = at + usize::from(len);
            c[col] = &cells[at..end];
            at = end;
        }
        line(&mut o, &width, &c, chars(&l.symbol));
        if o.len() > CHUNK {
            out.write_all(&o)?;
            o.clear();
        }
    }
    o.push(b'\n');
    out.write_all(&o)?;
    out.write_all(super::table_footer(plan).as_bytes())
}

/// BUY, SELL or `-`, from the signs of the trade (a zero of either sign is no trade).
fn side(l: &PlanLine) -> &'static str {
    let pos = |v: &Decimal| !v.is_zero() && v.is_sign_positive();
    let neg = |v: &Decimal| !v.is_zero() && v.is_sign_negative();
    if pos(&l.trade_value) || pos(&l.trade_shares) {
        "BUY"
    } else if neg(&l.trade_value) || neg(&l.trade_shares) {
        "SELL"
    } else {
        "-"
    }
}

/// Characters, as the terminal lays them out (symbols are nearly always ASCII).
fn chars(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Appends a row's eight figures to `o`; returns their lengths (a figure is < 64 bytes).
fn number_cells(o: &mut Vec<u8>, l: &PlanLine) -> [u8; 8] {
    let mut lens = [0u8; 8];
    let mut at = o.len();
    for (k, len) in lens.iter_mut().enumerate() {
        match k {
            0 => fixed::normalized(o, l.price),
            1 => fixed::fixed_dp(o, l.value_before, 2),
            2 => pct(o, l.target_weight),
            3 => fixed::shares(o, l.trade_shares.abs()),
            4 => fixed::fixed_dp(o, l.trade_value.abs(), 2),
            5 => fixed::fixed_dp(o, l.value_after, 2),
            6 => pct(o, l.weight_before),
            _ => pct(o, l.weight_after),
        }
        *len = (o.len() - at) as u8;
        at = o.len();
    }
    lens
}

/// A weight as a percentage with two decimals (`12.50%`).
fn pct(o: &mut Vec<u8>, v: Decimal) {
    fixed::pct(o, v);
    o.push(b'%');
}

/// One table line: the symbol and the side left-aligned, numbers right-aligned, two spaces
/// between columns, no trailing spaces. `first_chars` is the first cell's width in characters.
fn line(o: &mut Vec<u8>, width: &[usize; 10], cells: &[&[u8]; 10], first_chars: usize) {
    // Column 0 may hold multi-byte characters: its bytes exceed its characters.
    let extra = cells[0].len() - first_chars.min(cells[0].len());
    let total = width.iter().sum::<usize>() + 2 * (width.len() - 1) + extra;
    let start = o.len();
    o.resize(start + total, b' ');
    let mut pos = start;
    for (i, (cell, &w)) in cells.iter().zip(width).enumerate() {
        let w = if i == 0 { w + extra } else { w };
        let at = if i == 0 || i == 4 {
            pos
        } else {
            pos + w.saturating_sub(cell.len())
        };
        o[at..at + cell.len()].copy_from_slice(cell);
        pos += w + 2;
    }
    while o.last() == Some(&b' ') {
        o.pop();
    }
    o.push(b'\n');
}
