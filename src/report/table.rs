//! The aligned text table `pbal plan` prints, one row per position.
//!
//! Why it is built this way: column widths depend on every row. Nearly every plan takes
//! [`direct`]: the widths are measured from the figures' values without printing them, then
//! each figure is printed once, straight into its place in a chunk of rows written out every
//! 256 KiB. The general writer (a symbol that is not ASCII: its bytes and its width differ)
//! formats the figures once into one byte buffer (their lengths alongside, one byte per
//! cell), then appends the rows piece by piece; it is also the reference [`direct`] is
//! tested against. Either way, at 10^5 rows there is no allocation per row or cell and no
//! output buffer the size of the whole table.
use std::io::{self, Write};

use rust_decimal::Decimal;

use super::Source;
use super::fixed;
use crate::strategy::PlanLine;

mod direct;

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

/// Appends every line's number cells to `cells` and returns the column widths and each row's
/// cell lengths.
fn measure(lines: &[PlanLine], cells: &mut Vec<u8>) -> ([usize; 10], Vec<[u8; 8]>) {
    let mut lens: Vec<[u8; 8]> = Vec::with_capacity(lines.len());
    let mut width = HEADER.map(str::len);
    for l in lines {
        width[0] = width[0].max(chars(&l.symbol));
        width[4] = width[4].max(SIDES[side(l)].len());
        let row = number_cells(cells, l);
        for (&col, &len) in NUMBER_COLUMNS.iter().zip(&row) {
            width[col] = width[col].max(usize::from(len));
        }
        lens.push(row);
    }
    (width, lens)
}

/// Writes the plan as an aligned text table with a cash footer (what `pbal plan` prints).
pub fn write_table(plan: &impl Source, mut out: impl Write) -> io::Result<()> {
    let mut o: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
    let mut m = direct::Measure::new();
    let mut ascii = true;
    plan.each_lines(&mut |lines| {
        ascii = ascii && m.add(lines);
        Ok(())
    })?;
    if ascii {
        let layout = m.finish();
        head(&mut o, &layout.width);
        out.write_all(&o)?;
        o.clear();
        let mut rows = direct::Rows::new(&layout, plan.line_count());
        plan.each_lines(&mut |lines| rows.write(&mut out, lines))?;
    } else {
        // Rare (a symbol that is not ASCII): the general writer, on every line at once.
        let mut all: Vec<PlanLine> = Vec::with_capacity(plan.line_count());
        plan.each_lines(&mut |lines| {
            all.extend_from_slice(lines);
            Ok(())
        })?;
        general_rows(&mut out, &mut o, &all)?;
    }
    o.push(b'\n');
    out.write_all(&o)?;
    out.write_all(super::table_footer(&plan.head()).as_bytes())
}

/// The header and the rule under it.
fn head(o: &mut Vec<u8>, width: &[usize; 10]) {
    line(o, width, &HEADER.map(str::as_bytes), HEADER[0].len());
    let rule = width.map(|w| vec![b'-'; w]);
    line(o, width, &rule.each_ref().map(Vec::as_slice), width[0]);
}

/// The header and the rows through the general writer: every figure formatted into one buffer
/// first, then the rows appended piece by piece. Used when [`direct`] declines.
fn general_rows(out: &mut impl Write, o: &mut Vec<u8>, lines: &[PlanLine]) -> io::Result<()> {
    let mut cells: Vec<u8> = Vec::with_capacity(lines.len() * 64 + WINDOW);
    let (width, lens) = measure(lines, &mut cells);
    head(o, &width);
    piecewise_rows(out, o, lines, &width, &mut cells, &lens)
}

/// Every row appended piece by piece to `o` (flushed to `out` every [`CHUNK`]): the layout for
/// symbols that are not ASCII, and the reference [`direct`] is tested against.
fn piecewise_rows(
    out: &mut impl Write,
    o: &mut Vec<u8>,
    lines: &[PlanLine],
    width: &[usize; 10],
    cells: &mut Vec<u8>,
    lens: &[[u8; 8]],
) -> io::Result<()> {
    // Slack after the last figure, so every figure can be copied as a fixed-size window.
    cells.extend_from_slice(&[b' '; WINDOW]);
    let mut at = 0;
    for (l, row) in lines.iter().zip(lens) {
        at = write_row(o, width, l, cells, at, row);
        if o.len() > CHUNK {
            out.write_all(o)?;
            o.clear();
        }
    }
    Ok(())
}

/// The trade column's words.
const SIDES: [&str; 3] = ["BUY", "SELL", "-"];

/// [`SIDES`] padded with spaces to a window.
const SIDE_WINDOWS: [[u8; WINDOW]; 3] = [padded(SIDES[0]), padded(SIDES[1]), padded(SIDES[2])];

const fn padded(s: &str) -> [u8; WINDOW] {
    let mut w = [b' '; WINDOW];
    let mut i = 0;
    while i < s.len() {
        w[i] = s.as_bytes()[i];
        i += 1;
    }
    w
}

/// BUY, SELL or `-` (an index into [`SIDES`]), from the signs of the trade (a zero of either
/// sign is no trade).
fn side(l: &PlanLine) -> usize {
    let pos = |v: &Decimal| !v.is_zero() && v.is_sign_positive();
    let neg = |v: &Decimal| !v.is_zero() && v.is_sign_negative();
    if pos(&l.trade_value) || pos(&l.trade_shares) {
        0
    } else if neg(&l.trade_value) || neg(&l.trade_shares) {
        1
    } else {
        2
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
/// Straight-line code: a loop over a `match` cost an indirect jump per figure.
fn number_cells(o: &mut Vec<u8>, l: &PlanLine) -> [u8; 8] {
    let mut ends = [o.len(); 9];
    fixed::normalized(o, l.price);
    ends[1] = o.len();
    fixed::fixed_dp(o, l.value_before, 2);
    ends[2] = o.len();
    pct(o, l.target_weight);
    ends[3] = o.len();
    fixed::shares(o, l.trade_shares.abs());
    ends[4] = o.len();
    fixed::fixed_dp(o, l.trade_value.abs(), 2);
    ends[5] = o.len();
    fixed::fixed_dp(o, l.value_after, 2);
    ends[6] = o.len();
    pct(o, l.weight_before);
    ends[7] = o.len();
    pct(o, l.weight_after);
    ends[8] = o.len();
    std::array::from_fn(|k| (ends[k + 1] - ends[k]) as u8)
}

/// A weight as a percentage with two decimals (`12.50%`).
fn pct(o: &mut Vec<u8>, v: Decimal) {
    fixed::pct(o, v);
    o.push(b'%');
}

/// Figures and padding up to this length are copied as one fixed-size window.
const WINDOW: usize = 32;

/// One position's row, as [`line`] would lay it out, from its figures at `cells[at..]`
/// (lengths `lens`); returns where the next row's figures start. Used when a symbol is not
/// ASCII (its bytes and its width differ); otherwise [`direct`] writes the rows. Every piece
/// but the symbol is appended as a fixed-size window and cut to length (see [`fixed`]'s
/// `put64`).
fn write_row(
    o: &mut Vec<u8>,
    width: &[usize; 10],
    l: &PlanLine,
    cells: &[u8],
    mut at: usize,
    lens: &[u8; 8],
) -> usize {
    o.extend_from_slice(l.symbol.as_bytes());
    spaces(o, width[0] - chars(&l.symbol));
    let mut k = 0;
    for (col, &w) in width.iter().enumerate().skip(1) {
        if col == 4 {
            // Left-aligned: the word and its padding are one window.
            let side = side(l);
            spaces(o, 2);
            if w <= WINDOW {
                window(o, &SIDE_WINDOWS[side], w);
            } else {
                o.extend_from_slice(SIDES[side].as_bytes());
                spaces(o, w - SIDES[side].len());
            }
            continue;
        }
        let len = usize::from(lens[k]);
        k += 1;
        spaces(o, 2 + w - len);
        window(o, &cells[at..], len);
        at += len;
    }
    while o.last() == Some(&b' ') {
        o.pop();
    }
    o.push(b'\n');
    at
}

/// Appends `n` spaces.
fn spaces(o: &mut Vec<u8>, mut n: usize) {
    while n > 0 {
        let k = n.min(WINDOW);
        let at = o.len();
        o.extend_from_slice(&[b' '; WINDOW]);
        o.truncate(at + k);
        n -= k;
    }
}

/// Appends `src[..len]`, as a fixed-size window when `src` has the slack.
fn window(o: &mut Vec<u8>, src: &[u8], len: usize) {
    if len <= WINDOW && src.len() >= WINDOW {
        let at = o.len();
        o.extend_from_slice(&src[..WINDOW]);
        o.truncate(at + len);
    } else {
        o.extend_from_slice(&src[..len]);
    }
}

/// One table line (the header and the rule): the symbol and the side left-aligned, numbers
/// right-aligned, two spaces between columns, no trailing spaces. `first_chars` is the first
/// cell's width in characters.
fn line(o: &mut Vec<u8>, width: &[usize; 10], cells: &[&[u8]; 10], first_chars: usize) {
    for (i, (cell, &w)) in cells.iter().zip(width).enumerate() {
        if i > 0 {
            o.extend_from_slice(b"  ");
        }
        let len = if i == 0 { first_chars } else { cell.len() };
        let pad = w.saturating_sub(len);
        if i == 0 || i == 4 {
            o.extend_from_slice(cell);
            o.resize(o.len() + pad, b' ');
        } else {
            o.resize(o.len() + pad, b' ');
            o.extend_from_slice(cell);
        }
    }
    while o.last() == Some(&b' ') {
        o.pop();
    }
    o.push(b'\n');
}
