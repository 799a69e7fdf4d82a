//! The rows of the direct writer: each row starts as a copy of a template, then every figure
//! the template does not already hold is written straight into its place, right to left.
//!
//! Why templates: most of a row is often the same in every row. At 10^5 positions of
//! similar size every weight prints `0.00%` (a weight of about 10^-5), and most rows of a
//! never-sell plan trade nothing: side `-`, `0` shares, `0.00` traded, and the value after is
//! the value before. Looking at those figures again cost ~45 instructions a row for the
//! weights and ~130 for a row without a trade; here they come with the row's blank, which
//! is a copy either way.
//!
//! Why the output is the same: a weight column is left to the template only when
//! [`super::measure`] found that every weight in it prints `0.00` (see
//! [`Widest::with_floor`]). A row takes the template without a trade only when its trade
//! value and share count are both zero (which [`side`] also requires for `-`, and which print
//! as `0.00` and `0` at any scale or sign), and its value after has the very bits of its
//! value before, so the same text: that text is copied from the one column to the other.
//! Every write stays inside what the right-to-left order allows (a figure may write spaces
//! up to 7 bytes before itself, which lands in its own column, the gap, or the five or more
//! bytes of the column to its left, written afterwards); the template's figures are never
//! in such reach. A property test compares this writer with the general one on lines built
//! to take every path.
//!
//! [`Widest::with_floor`]: crate::report::fixed::width::Widest::with_floor
use std::io::{self, Write};

use rust_decimal::Decimal;

use super::super::{CHUNK, fixed, side};
use super::Layout;
use crate::report::fixed::fig::{self, Fig};
use crate::report::fixed::parts;
use crate::strategy::PlanLine;

/// The trade column's words, padded to four bytes (the column is at least five wide).
const SIDE4: [[u8; 4]; 3] = [*b"BUY ", *b"SELL", *b"-   "];

/// Where the columns end in a row, and the rows as they start.
struct Grid {
    /// Column `c` spans `end[c - 1] + 2 .. end[c]`; the newline is at `end[9]`.
    end: [usize; 10],
    /// Spaces, the newline, and `0.00%` in every all-zero weight column.
    blank: Vec<u8>,
    /// [`Self::blank`] with `-`, `0` and `0.00` in the trade columns: a row without a trade.
    quiet: Vec<u8>,
    /// How many bytes of "value before" a row without a trade copies into "value after" (the
    /// narrower column's width), or 0 (too wide for two 16-byte copies: no copying).
    copy: usize,
}

impl Grid {
    fn new(layout: &Layout) -> Grid {
        let width = &layout.width;
        let mut end = [0usize; 10];
        let mut x = 0;
        for (c, &w) in width.iter().enumerate() {
            x += w + if c > 0 { 2 } else { 0 };
            end[c] = x;
        }
        let mut blank = vec![b' '; x + 1];
        blank[x] = b'\n';
        for (zero, c) in layout.zero.iter().zip([3, 8, 9]) {
            if *zero {
                blank[end[c] - 5..end[c]].copy_from_slice(b"0.00%");
            }
        }
        if let Some(t) = layout.target {
            // The text the general writer prints (`measure` counted it within the width).
            let mut text = Vec::new();
            fixed::pct(&mut text, t);
            text.push(b'%');
            blank[end[3] - text.len()..end[3]].copy_from_slice(&text);
        }
        let mut quiet = blank.clone();
        quiet[end[3] + 2] = b'-';
        quiet[end[5] - 1] = b'0';
        quiet[end[6] - 4..end[6]].copy_from_slice(b"0.00");
        let n = width[2].min(width[7]);
        let copy = if (8..=32).contains(&n) { n } else { 0 };
        Grid {
            end,
            blank,
            quiet,
            copy,
        }
    }
}

/// Writes every row of `lines`, laid out as [`super::measure`] found.
#[cfg(test)]
pub(in crate::report::table) fn write_rows(
    out: &mut impl Write,
    lines: &[PlanLine],
    layout: &Layout,
) -> io::Result<()> {
    Rows::new(layout, lines.len()).write(out, lines)
}

/// The rows' writer, fed a chunk of lines at a time: the templates and one chunk of output
/// rows, reused.
pub(in crate::report::table) struct Rows {
    g: Grid,
    /// The weight columns left to the template: the target, and both weights.
    target: bool,
    weights: bool,
    row_len: usize,
    buf: Vec<u8>,
    spill: Vec<u8>,
}

impl Rows {
    /// A writer for `count` rows laid out as `layout`.
    pub(in crate::report::table) fn new(layout: &Layout, count: usize) -> Rows {
        let g = Grid::new(layout);
        let row_len = g.blank.len();
        // No more rows per chunk than there are: on a small plan a full chunk's 256 KiB of
        // fresh pages cost more than writing the rows.
        let per_chunk = (CHUNK / row_len).clamp(1, count.max(1));
        Rows {
            target: layout.zero[0] || layout.target.is_some(),
            weights: layout.zero[1] && layout.zero[2],
            row_len,
            // Zeros, not spaces: every row is filled from a template before it is written,
            // and zeroed memory comes from the allocator without a fill (fresh pages are
            // zero).
            buf: vec![0u8; per_chunk * row_len],
            spill: Vec::new(),
            g,
        }
    }

    /// Writes the rows of `lines` to `out`.
    pub(in crate::report::table) fn write(
        &mut self,
        out: &mut impl Write,
        lines: &[PlanLine],
    ) -> io::Result<()> {
        // One copy of the row writer per template case (the one case of both weights
        // together is worth its own).
        match (self.target, self.weights) {
            (true, true) => self.chunks::<true, true>(out, lines),
            (true, false) => self.chunks::<true, false>(out, lines),
            (false, true) => self.chunks::<false, true>(out, lines),
            (false, false) => self.chunks::<false, false>(out, lines),
        }
    }

    /// The rows, a chunk at a time. `TARGET`: every target prints the same (`0.00%`, or one
    /// shared target); `WEIGHTS`: both weight columns print `0.00%` in every row. The
    /// templates hold those.
    fn chunks<const TARGET: bool, const WEIGHTS: bool>(
        &mut self,
        out: &mut impl Write,
        lines: &[PlanLine],
    ) -> io::Result<()> {
        let row_len = self.row_len;
        let per_chunk = self.buf.len() / row_len;
        for chunk in lines.chunks(per_chunk) {
            let used = chunk.len() * row_len;
            for (l, row) in chunk.iter().zip(self.buf.chunks_exact_mut(row_len)) {
                write_row::<TARGET, WEIGHTS>(row, &self.g, l, &mut self.spill)?;
            }
            out.write_all(&self.buf[..used])?;
        }
        Ok(())
    }
}

/// Copies a template into a row (as long as it), 32 bytes a copy, the last one ending at the
/// row's end. (One `memcpy` per row costs about twice these copies.)
#[inline(always)]
fn fill(row: &mut [u8], template: &[u8]) {
    let n = row.len();
    if n < 32 || template.len() != n {
        row.copy_from_slice(template);
        return;
    }
    for (d, s) in row.chunks_exact_mut(32).zip(template.chunks_exact(32)) {
        d.copy_from_slice(s);
    }
    // Through a local array: a slice copy here became a `memcpy` call.
    if let Ok(last) = <[u8; 32]>::try_from(&template[n - 32..]) {
        row[n - 32..].copy_from_slice(&last);
    }
}

/// Whether two values have the same mantissa, scale and sign, so print the same text.
/// (Comparing `serialize()`'s bytes cost ~20 instructions: the fields are stored in another
/// order.)
#[inline(always)]
fn same(a: &Decimal, b: &Decimal) -> bool {
    parts(*a) == parts(*b)
}

/// One row into `row` (`end[9] + 1` bytes), columns right to left: a figure may write spaces
/// before itself ([`Fig::write_before`]), onto what is written after it. Everything is
/// inlined into this one function, but the rare shapes of figure.
#[inline(always)]
fn write_row<const TARGET: bool, const WEIGHTS: bool>(
    row: &mut [u8],
    g: &Grid,
    l: &PlanLine,
    spill: &mut Vec<u8>,
) -> io::Result<()> {
    let end = &g.end;
    // Column c spans end[c - 1] + 2 .. end[c].
    let col = |c: usize| (end[c - 1] + 2, end[c]);
    let side = side(l);
    let quiet = side == 2 && g.copy != 0 && same(&l.value_before, &l.value_after);
    fill(row, if quiet { &g.quiet } else { &g.blank });
    // Figures by reference: a `Decimal` copied into a local for the closures of the rare
    // paths to borrow went through the stack, two extra instructions a figure.
    if !WEIGHTS {
        put_pct(row, col(9), &l.weight_after, spill)?;
        put_pct(row, col(8), &l.weight_before, spill)?;
    }
    if !quiet {
        put_cents(row, col(7), &l.value_after, spill)?;
        let trade = fig::cents(l.trade_value.abs());
        put(row, col(6), trade, spill, |o| {
            fixed::fixed_dp(o, l.trade_value.abs(), 2)
        })?;
        let shares = fig::abs_shares(l.trade_shares);
        put(row, col(5), shares, spill, |o| {
            fixed::shares(o, l.trade_shares.abs())
        })?;
        let st = end[3] + 2;
        row[st..st + 4].copy_from_slice(&SIDE4[side]);
    }
    if !TARGET {
        put_pct(row, col(3), &l.target_weight, spill)?;
    }
    put_cents(row, col(2), &l.value_before, spill)?;
    if quiet {
        copy_figure(row, end[2], end[7], g.copy);
    }
    let price = fig::normalized(l.price);
    put(row, col(1), price, spill, |o| fixed::normalized(o, l.price))?;
    put_symbol(&mut row[..l.symbol.len()], l.symbol.as_bytes());
    Ok(())
}

/// Copies the `n` bytes ending at `from` to end at `to` (`8 ≤ n ≤ 32`), as two fixed-size
/// copies that overlap in the middle; both are loaded before either is stored.
#[inline(always)]
fn copy_figure(row: &mut [u8], from: usize, to: usize, n: usize) {
    #[inline(always)]
    fn two<const K: usize>(row: &mut [u8], from: usize, to: usize, n: usize) {
        let (Ok(a), Ok(b)) = (
            <[u8; K]>::try_from(&row[from - n..from - n + K]),
            <[u8; K]>::try_from(&row[from - K..from]),
        ) else {
            return;
        };
        row[to - n..to - n + K].copy_from_slice(&a);
        row[to - K..to].copy_from_slice(&b);
    }
    if n <= 16 {
        two::<8>(row, from, to, n);
    } else {
        two::<16>(row, from, to, n);
    }
}

/// Copies a symbol into `dst` (as long as it): 4 to 16 bytes as two fixed-size copies that
/// overlap in the middle (the same bytes, written twice), anything else by `copy_from_slice`.
/// (A `memcpy` call per row cost ~15 instructions for the few bytes of a symbol.) Both
/// words are loaded before either is stored: stores between them let the compiler call
/// `memcpy` for the second copy again.
#[inline(always)]
fn put_symbol(dst: &mut [u8], sym: &[u8]) {
    #[inline(always)]
    fn two<const K: usize>(dst: &mut [u8], sym: &[u8]) {
        let n = sym.len();
        let (Ok(a), Ok(b)) = (
            <[u8; K]>::try_from(&sym[..K]),
            <[u8; K]>::try_from(&sym[n - K..]),
        ) else {
            return dst.copy_from_slice(sym);
        };
        dst[..K].copy_from_slice(&a);
        dst[n - K..].copy_from_slice(&b);
    }
    match sym.len() {
        8..=16 => two::<8>(dst, sym),
        4..=7 => two::<4>(dst, sym),
        _ => dst.copy_from_slice(sym),
    }
}

#[inline(always)]
fn put_cents(row: &mut [u8], col: Span, v: &Decimal, spill: &mut Vec<u8>) -> io::Result<()> {
    put(row, col, fig::cents(*v), spill, |o| {
        fixed::fixed_dp(o, *v, 2)
    })
}

#[inline(always)]
fn put_pct(row: &mut [u8], (lo, e): Span, v: &Decimal, spill: &mut Vec<u8>) -> io::Result<()> {
    if fig::pct_is_zero(*v) {
        // One store: the three bytes before "0.00%" are this column's padding or the gap
        // before it (a weight column is at least six wide), written over by the columns to
        // the left afterwards, as `Fig::write_before` may do.
        row[e - 8..e].copy_from_slice(b"   0.00%");
        return Ok(());
    }
    row[e - 1] = b'%';
    put(row, (lo, e - 1), fig::pct(*v), spill, |o| fixed::pct(o, *v))
}

/// Where a column starts and ends in a row.
type Span = (usize, usize);

/// The figure ending before `row[e]`: from its [`Fig`], or (a value beyond a `Fig`: over
/// 2^64 cents) the general text function's bytes.
#[inline(always)]
fn put(
    row: &mut [u8],
    (lo, e): Span,
    f: Option<Fig>,
    spill: &mut Vec<u8>,
    general: impl FnOnce(&mut Vec<u8>),
) -> io::Result<()> {
    match f {
        Some(f) => {
            f.write_before(row, e);
            Ok(())
        }
        None => put_text(row, (lo, e), spill, general),
    }
}

/// [`put`] for a figure beyond a [`Fig`].
#[cold]
fn put_text(
    row: &mut [u8],
    (lo, e): Span,
    spill: &mut Vec<u8>,
    general: impl FnOnce(&mut Vec<u8>),
) -> io::Result<()> {
    spill.clear();
    general(spill);
    // `measure` counted this figure's length from its value; fail rather than misalign.
    let start = e.checked_sub(spill.len()).filter(|&s| s >= lo);
    let Some(start) = start else {
        return Err(io::Error::other("table: a figure is wider than its column"));
    };
    row[start..e].copy_from_slice(spill);
    Ok(())
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
