//! The table's rows when every symbol is ASCII: each row has the same length in bytes, so a
//! chunk of rows is laid out at fixed offsets and filled from right to left.
//!
//! Why: appending a row piece by piece (padding, figure, padding, …) cost ~750 instructions a
//! row, a Vec length update and capacity check per piece. Here every column ends at a fixed
//! offset, and each figure and each run of padding is one fixed-size copy that ENDS where it
//! belongs: whatever it overwrites to its left (the column's padding, earlier columns, the end
//! of the previous row) is written afterwards, because columns are filled right to left and
//! rows last to first. What reaches the output is therefore exactly what the piecewise writer
//! produced: the figures right-aligned at the column ends, the side and the symbol left-aligned
//! at the column starts, spaces everywhere else, no trailing spaces (the last column always
//! holds a figure).
use std::io::{self, Write};

use super::{CHUNK, side};
use crate::strategy::PlanLine;

/// Bytes before a chunk's first row, which that row's leftmost copies may overwrite.
const LEAD: usize = 64;
/// A figure up to this length is copied as one window of this size.
const FIG: usize = 16;
/// Padding is written in windows of this many spaces.
const PAD: usize = 32;
const SPACES: [u8; PAD] = [b' '; PAD];
/// The trade column's words, padded to four bytes (the column is at least five wide).
const SIDE4: [[u8; 4]; 3] = [*b"BUY ", *b"SELL", *b"-   "];
/// For each table column, which of a row's eight figures it shows (symbol and side: none).
const FIGURE: [usize; 10] = [0, 0, 1, 2, 0, 3, 4, 5, 6, 7];
/// Bytes a caller must leave before the first figure in `cells` (see [`write_rows`]).
pub(super) const CELLS_LEAD: usize = FIG;

/// Writes every row. `cells` holds the figures one after another from `CELLS_LEAD` on (that
/// many bytes of anything before them), `lens` each row's eight figure lengths, `width` the
/// column widths (in bytes: every symbol is ASCII).
pub(super) fn write_rows(
    out: &mut impl Write,
    lines: &[PlanLine],
    width: &[usize; 10],
    cells: &[u8],
    lens: &[[u8; 8]],
) -> io::Result<()> {
    let mut end = [0usize; 10];
    let mut x = 0;
    for (c, &w) in width.iter().enumerate() {
        x += w + if c > 0 { 2 } else { 0 };
        end[c] = x;
    }
    let row_len = x + 1;
    // No more rows per chunk than there are: the buffer is filled before use, and on a small
    // plan a full chunk's 256 KiB of fresh pages cost more than writing the rows.
    let per_chunk = (CHUNK / row_len).clamp(1, lines.len().max(1));
    let mut buf = vec![b' '; LEAD + per_chunk * row_len];
    let mut at = CELLS_LEAD;
    for (lines, lens) in lines.chunks(per_chunk).zip(lens.chunks(per_chunk)) {
        let cells_end = at
            + lens
                .iter()
                .flatten()
                .map(|&l| usize::from(l))
                .sum::<usize>();
        let mut fe = cells_end;
        for (r, (l, row_lens)) in lines.iter().zip(lens).enumerate().rev() {
            let base = LEAD + r * row_len;
            fe = write_row(&mut buf, base, &end, width, l, cells, fe, row_lens);
        }
        debug_assert_eq!(fe, at);
        at = cells_end;
        out.write_all(&buf[LEAD..LEAD + lines.len() * row_len])?;
    }
    Ok(())
}

/// Fills `buf[e - n .. e]` with spaces (and possibly some bytes before it).
fn spaces_before(buf: &mut [u8], mut e: usize, n: usize) {
    let mut left = n;
    loop {
        buf[e - PAD..e].copy_from_slice(&SPACES);
        if left <= PAD {
            return;
        }
        e -= PAD;
        left -= PAD;
    }
}

/// One row at `buf[base..]`, its figures ending at `cells[fe]`; returns where they start.
#[allow(clippy::too_many_arguments)]
fn write_row(
    buf: &mut [u8],
    base: usize,
    end: &[usize; 10],
    width: &[usize; 10],
    l: &PlanLine,
    cells: &[u8],
    mut fe: usize,
    lens: &[u8; 8],
) -> usize {
    buf[base + end[9]] = b'\n';
    for c in (1..10).rev() {
        let e = base + end[c];
        if c == 4 {
            spaces_before(buf, e, 2 + width[4]);
            let st = e - width[4];
            buf[st..st + 4].copy_from_slice(&SIDE4[side(l)]);
            continue;
        }
        let len = usize::from(lens[FIGURE[c]]);
        if len <= FIG {
            buf[e - FIG..e].copy_from_slice(&cells[fe - FIG..fe]);
        } else {
            buf[e - len..e].copy_from_slice(&cells[fe - len..fe]);
        }
        fe -= len;
        spaces_before(buf, e - len, 2 + width[c] - len);
    }
    let sym = l.symbol.as_bytes();
    spaces_before(buf, base + end[0], end[0] - sym.len());
    buf[base..base + sym.len()].copy_from_slice(sym);
    fe
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::{measure, piecewise_rows};
    use super::*;
    use crate::strategy::{self, Granularity, Holding, PlanRequest, plan};

    /// The rows of `lines` by [`write_rows`] and by the piecewise reference.
    fn both(lines: &[PlanLine]) -> (Vec<u8>, Vec<u8>) {
        let mut cells = vec![b'#'; CELLS_LEAD];
        let (width, lens, _) = measure(lines, &mut cells);
        let mut fast = Vec::new();
        write_rows(&mut fast, lines, &width, &cells, &lens).unwrap();
        let (mut reference, mut o) = (Vec::new(), Vec::new());
        piecewise_rows(&mut reference, &mut o, lines, &width, &mut cells, &lens).unwrap();
        reference.extend_from_slice(&o);
        (fast, reference)
    }

    fn holding() -> impl Strategy<Value = (String, i64, i64, i64)> {
        (
            "[A-Z]{1,3}|[A-Z]{30,45}",
            prop_oneof![0i64..5, 0i64..100_000, 0i64..1_000_000_000_000_000],
            prop_oneof![1i64..100_000, 1i64..1_000_000_000_000_000],
            0u32..6,
        )
            .prop_map(|(s, q, p, k)| (s, q, p, i64::from(k)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Wide and narrow columns, long symbols, buys, sells and no trade, every
        /// granularity: the same bytes as the piecewise writer.
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
                .map(|(s, q, p, k)| Holding::new(s, Decimal::new(q, k as u32), Decimal::new(p, 2)))
                .collect();
            let mut req = PlanRequest::new(hs, Decimal::new(cash, 2));
            req.strategy = if hard { strategy::Strategy::Hard } else { strategy::Strategy::NeverSell };
            req.granularity = if exact { Granularity::Exact } else { Granularity::Increment(1) };
            let Ok(p) = plan(&req) else { return Ok(()) };
            let (fast, reference) = both(&p.lines);
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
        assert!(fast.len() > 2 * CHUNK);
        assert_eq!(fast, reference);
    }
}
