//! The table's rows when every figure fits a [`Fig`] and every symbol is ASCII (nearly every
//! plan): widths measured from the figures' values, then every figure written once, straight
//! into its place in the row.
//!
//! Why: the general writer formats each figure into a side buffer (its length alongside),
//! then copies it into the row: a `Vec` update per figure, a buffer of ~60 bytes a row, and
//! two loops over it. Here the first pass only computes each figure's value and length (to
//! find the column widths); the second computes the values again and writes their digits
//! into a chunk of rows pre-filled with spaces. Rounding a figure twice costs less than
//! storing it: the weights' rounding is a few multiplications ([`fixed`]'s estimate).
//!
//! Why the output is the same: the columns end at the offsets the general writer pads them
//! to (every row has the same length in bytes when symbols are ASCII), each figure is the
//! text the general writer prints for it (see [`fig`]), and every other byte is a space,
//! the side word, the symbol or the newline. The last column always holds a figure, so no
//! row ends in a space. A property test compares the two writers on random plans.
//!
//! [`fixed`]: super::fixed
//! [`fig`]: super::fixed::fig
use std::io::{self, Write};

use rust_decimal::Decimal;

use super::fixed::fig::{self, Fig};
use super::fixed::normal_width::NormalWidest;
use super::fixed::width::Widest;
use super::{CHUNK, HEADER, fixed, side};
use crate::strategy::PlanLine;

/// The trade column's words, padded to four bytes (the column is at least five wide).
const SIDE4: [[u8; 4]; 3] = [*b"BUY ", *b"SELL", *b"-   "];

/// Mantissas of a weight from here on are printed by `Decimal` arithmetic (see
/// [`fixed::pct`]): measured by printing them (a weight of 7.9 % or more with 28 decimals).
const PCT_LIMIT: u128 = (1 << 96) / 100;

/// The column widths, or `None` when a symbol is not ASCII (its bytes and its width differ:
/// the general writer lays such rows out).
pub(super) fn measure(lines: &[PlanLine]) -> Option<[usize; 10]> {
    let mut width = HEADER.map(str::len);
    let money = || Widest::new(2, 1 << 96, |o, v| fixed::fixed_dp(o, v, 2));
    let pct = || Widest::new(4, PCT_LIMIT, fixed::pct);
    let mut cols = [money(), pct(), money(), money(), pct(), pct()];
    let mut price = NormalWidest::new(28, width[1]);
    let mut shares = NormalWidest::new(6, width[5]);
    for l in lines {
        if !l.symbol.is_ascii() {
            return None;
        }
        width[0] = width[0].max(l.symbol.len());
        price.add(&l.price, || {
            len(fig::normalized(l.price), || {
                text_len(fixed::normalized, l.price)
            })
        });
        shares.add_abs(&l.trade_shares, || {
            let abs = l.trade_shares.abs();
            len(fig::abs_shares(abs), || text_len(fixed::shares, abs))
        });
        cols[0].add(&l.value_before);
        cols[1].add(&l.target_weight);
        cols[2].add_abs(&l.trade_value);
        cols[3].add(&l.value_after);
        cols[4].add(&l.weight_before);
        cols[5].add(&l.weight_after);
    }
    for (col, (c, pct)) in cols
        .iter()
        .zip([(2, 0), (3, 1), (6, 0), (7, 0), (8, 1), (9, 1)])
    {
        width[c] = width[c].max(col.len() + pct);
    }
    width[1] = price.len();
    width[5] = shares.len();
    // The side words ("BUY", "SELL", "-") are narrower than the header "Trade".
    debug_assert!(width[4] >= 4);
    Some(width)
}

/// A figure's length: from its [`Fig`], or by printing it (beyond a `Fig`).
#[inline(always)]
fn len(f: Option<Fig>, printed: impl FnOnce() -> usize) -> usize {
    match f {
        Some(f) => f.len(),
        None => printed(),
    }
}

/// The length of `v` as `text` prints it.
#[cold]
fn text_len(text: fn(&mut Vec<u8>, Decimal), v: Decimal) -> usize {
    let mut o = Vec::new();
    text(&mut o, v);
    o.len()
}

/// Writes every row of `lines`, whose widths [`measure`] returned.
pub(super) fn write_rows(
    out: &mut impl Write,
    lines: &[PlanLine],
    width: &[usize; 10],
) -> io::Result<()> {
    let mut end = [0usize; 10];
    let mut x = 0;
    for (c, &w) in width.iter().enumerate() {
        x += w + if c > 0 { 2 } else { 0 };
        end[c] = x;
    }
    let row_len = x + 1;
    // No more rows per chunk than there are: on a small plan a full chunk's 256 KiB of fresh
    // pages cost more than writing the rows.
    let per_chunk = (CHUNK / row_len).clamp(1, lines.len().max(1));
    // Zeros, not spaces: every row is blanked before it is written ([`blank`]), and zeroed
    // memory comes from the allocator without a fill (fresh pages are zero), where filling
    // it with spaces first cost ~1 instruction a byte (10^3 rows: ~110,000 instructions).
    let mut buf = vec![0u8; per_chunk * row_len];
    let mut spill = Vec::new();
    for chunk in lines.chunks(per_chunk) {
        let used = chunk.len() * row_len;
        for (l, row) in chunk.iter().zip(buf.chunks_exact_mut(row_len)) {
            blank(row);
            write_row(row, &end, l, &mut spill)?;
        }
        out.write_all(&buf[..used])?;
    }
    Ok(())
}

/// Fills a row with spaces, 32 bytes a store, the last store ending at the row's end. Row by
/// row: one `memset` over the chunk is a `rep stosb`, a byte at a time, and a `memset` call
/// per row costs twice these stores.
#[inline(always)]
fn blank(row: &mut [u8]) {
    const SPACES: [u8; 32] = [b' '; 32];
    let n = row.len();
    if n < 32 {
        row.fill(b' ');
        return;
    }
    for c in row.chunks_exact_mut(32) {
        c.copy_from_slice(&SPACES);
    }
    row[n - 32..].copy_from_slice(&SPACES);
}

/// One row into `row` (all spaces, `end[9] + 1` bytes), columns right to left: a figure may
/// write spaces before itself ([`Fig::write_before`]), onto what is written after it.
/// Everything is inlined into this one function, but the rare shapes of figure.
#[inline(always)]
fn write_row(
    row: &mut [u8],
    end: &[usize; 10],
    l: &PlanLine,
    spill: &mut Vec<u8>,
) -> io::Result<()> {
    row[end[9]] = b'\n';
    // Column c spans end[c - 1] + 2 .. end[c].
    let col = |c: usize| (end[c - 1] + 2, end[c]);
    // Figures by reference: a `Decimal` copied into a local for the closures of the rare
    // paths to borrow went through the stack, two extra instructions a figure.
    put_pct(row, col(9), &l.weight_after, spill)?;
    put_pct(row, col(8), &l.weight_before, spill)?;
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
    row[st..st + 4].copy_from_slice(&SIDE4[side(l)]);
    put_pct(row, col(3), &l.target_weight, spill)?;
    put_cents(row, col(2), &l.value_before, spill)?;
    let price = fig::normalized(l.price);
    put(row, col(1), price, spill, |o| fixed::normalized(o, l.price))?;
    put_symbol(&mut row[..l.symbol.len()], l.symbol.as_bytes());
    Ok(())
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
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::{measure as general_measure, piecewise_rows};
    use super::*;
    use crate::strategy::{self, Granularity, Holding, PlanRequest, plan};

    /// The rows of `lines` by [`write_rows`] (`None` if it declines) and by the piecewise
    /// reference, with the widths each measured.
    fn both(lines: &[PlanLine]) -> (Option<Vec<u8>>, Vec<u8>) {
        let mut cells = Vec::new();
        let (width, lens) = general_measure(lines, &mut cells);
        let (mut reference, mut o) = (Vec::new(), Vec::new());
        piecewise_rows(&mut reference, &mut o, lines, &width, &mut cells, &lens).unwrap();
        reference.extend_from_slice(&o);
        let fast = measure(lines).map(|w| {
            assert_eq!(w, width);
            let mut fast = Vec::new();
            write_rows(&mut fast, lines, &w).unwrap();
            fast
        });
        (fast, reference)
    }

    fn holding() -> impl Strategy<Value = (String, i64, i64, u32)> {
        (
            "[A-Z]{1,3}|[A-Z]{4,17}|[A-Z]{30,45}",
            prop_oneof![0i64..5, 0i64..100_000, 0i64..1_000_000_000_000_000],
            prop_oneof![1i64..100_000, 1i64..1_000_000_000_000_000],
            0u32..6,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Wide and narrow columns, long symbols, buys, sells and no trade, every
        /// granularity: the same widths and bytes as the piecewise writer.
        #[test]
        fn rows_match_the_piecewise_writer(
            rows in prop::collection::vec(holding(), 1..40),
            cash in -1_000_000i64..100_000_000_000,
            hard in any::<bool>(),
            exact in any::<bool>(),
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let hs: Vec<Holding> = rows
                .into_iter()
                .filter(|(s, ..)| seen.insert(s.clone()))
                .map(|(s, q, p, k)| Holding::new(s, Decimal::new(q, k), Decimal::new(p, 2)))
                .collect();
            let mut req = PlanRequest::new(hs, Decimal::new(cash, 2));
            req.strategy = if hard { strategy::Strategy::Hard } else { strategy::Strategy::NeverSell };
            req.granularity = if exact { Granularity::Exact } else { Granularity::Increment(1) };
            let Ok(p) = plan(&req) else { return Ok(()) };
            let (fast, reference) = both(&p.lines);
            let fast = fast.expect("ASCII symbols");
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(reference).unwrap());
        }
    }

    #[test]
    fn rows_span_chunks() {
        let hs = (0..20_000)
            .map(|i| {
                Holding::new(
                    format!("S{i:05}"),
                    Decimal::from(i % 7),
                    Decimal::new(i + 1, 2),
                )
            })
            .collect();
        let p = plan(&PlanRequest::new(hs, Decimal::from(100_000))).unwrap();
        let (fast, reference) = both(&p.lines);
        let fast = fast.unwrap();
        assert!(fast.len() > 2 * CHUNK);
        assert_eq!(fast, reference);
    }

    #[test]
    fn declines_what_it_cannot_print() {
        let hs = vec![
            Holding::new("ÆØÅ", Decimal::from(3), Decimal::new(1234, 2)),
            Holding::new("B", Decimal::from(2), Decimal::new(500, 2)),
        ];
        let p = plan(&PlanRequest::new(hs, Decimal::from(100))).unwrap();
        assert_eq!(measure(&p.lines), None);
        // The general writer lays the table out by characters: every line as wide.
        let mut out = Vec::new();
        super::super::write_table(&p, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let widths: Vec<usize> = text.lines().take(4).map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
    }

    /// Figures beyond a `Fig` (money over 2^64 cents, a weight of 7.9 % or more with 28
    /// decimals) are measured and printed by the text functions, in place.
    #[test]
    fn prints_figures_beyond_a_fig() {
        let hs = vec![
            Holding::new("A", Decimal::from(3), Decimal::new(1234, 2)),
            Holding::new("B", Decimal::from(7), Decimal::new(333, 2)),
        ];
        let mut p = plan(&PlanRequest::new(hs, Decimal::from(1000))).unwrap();
        // Beyond what validation lets a holding be (10^15), as a line could still say.
        p.lines[0].value_after = Decimal::from_i128_with_scale(3 * 10i128.pow(19), 0);
        let (fast, reference) = both(&p.lines);
        let fast = fast.unwrap();
        assert!(String::from_utf8_lossy(&fast).contains(" 30000000000000000000.00 "));
        assert_eq!(fast, reference);
    }
}
