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
//! The measuring pass also notes which weight columns print `0.00%` in every row (at 10^5
//! positions of similar size, all three do), so that the writer ([`rows`]) can take those
//! from a template row instead of looking at each weight again.
//!
//! [`fixed`]: super::fixed
//! [`fig`]: super::fixed::fig
use rust_decimal::Decimal;

use super::fixed::fig::{self, Fig};
use super::fixed::normal_width::NormalWidest;
use super::fixed::width::Widest;
use super::{HEADER, fixed};
use crate::strategy::PlanLine;

mod rows;

pub(super) use rows::Rows;
#[cfg(test)]
pub(super) use rows::write_rows;

/// What the measuring pass found: the column widths, which weight columns print `0.00%` in
/// every row (target, weight before, weight after), and the target every line shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) width: [usize; 10],
    pub(super) zero: [bool; 3],
    /// The target weight of every line, bit for bit (equal weights, the default), when its
    /// column is not all zeros; `None` when the targets differ.
    pub(super) target: Option<Decimal>,
}

/// Mantissas of a weight from here on are printed by `Decimal` arithmetic (see
/// [`fixed::pct`]): measured by printing them (a weight of 7.9 % or more with 28 decimals).
const PCT_LIMIT: u128 = (1 << 96) / 100;

/// The column widths and the all-zero weight columns, or `None` when a symbol is not ASCII
/// (its bytes and its width differ: the general writer lays such rows out).
#[cfg(test)]
pub(super) fn measure(lines: &[PlanLine]) -> Option<Layout> {
    let mut m = Measure::new();
    m.add(lines).then(|| m.finish())
}

/// [`measure`] a chunk of lines at a time (an outline hands its lines out in chunks).
pub(super) struct Measure {
    width: [usize; 10],
    /// Value before, target, trade value, value after, weight before, weight after.
    cols: [Widest; 6],
    price: NormalWidest,
    shares: NormalWidest,
    /// The first target weight and whether every line since has had its bits.
    target: Option<(Decimal, bool)>,
}

impl Measure {
    pub(super) fn new() -> Measure {
        let width = HEADER.map(str::len);
        let money = || Widest::new(2, 1 << 96, |o, v| fixed::fixed_dp(o, v, 2));
        // Thresholds start where a weight stops printing as 0.00: the same widths, and
        // whether a column is all zeros for free.
        let pct = || Widest::new(4, PCT_LIMIT, fixed::pct).with_floor(&fig::PCT_ZERO);
        Measure {
            cols: [money(), pct(), money(), money(), pct(), pct()],
            price: NormalWidest::new(28, width[1]),
            shares: NormalWidest::new(6, width[5]),
            width,
            target: None,
        }
    }

    /// Measures `lines`; `false` when a symbol is not ASCII (then the general writer lays
    /// the table out, and this measure is of no further use).
    pub(super) fn add(&mut self, lines: &[PlanLine]) -> bool {
        let Measure {
            width,
            cols,
            price,
            shares,
            target,
        } = self;
        for l in lines {
            if !ascii(l.symbol.as_bytes()) {
                return false;
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
            shared(target, &l.target_weight);
        }
        true
    }

    /// The layout of every line measured.
    pub(super) fn finish(self) -> Layout {
        let Measure {
            mut width,
            cols,
            price,
            shares,
            target,
        } = self;
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
        let zero = [1, 4, 5].map(|k| cols[k].all_below_floor());
        let target = match target {
            Some((t, true)) if !zero[0] => Some(t),
            _ => None,
        };
        Layout {
            width,
            zero,
            target,
        }
    }
}

/// Notes whether every target weight so far has the bits of the first: the target every
/// line shares, if any.
#[inline(always)]
fn shared(seen: &mut Option<(Decimal, bool)>, t: &Decimal) {
    match seen {
        None => *seen = Some((*t, true)),
        // Mantissa, scale and sign, as `serialize` has them but without reordering.
        Some((first, all)) => *all = *all && fixed::parts(*first) == fixed::parts(*t),
    }
}

/// Whether a symbol is ASCII: 4 to 16 bytes as two words that overlap in the middle (one
/// test of their high bits), anything else by `is_ascii`. (`is_ascii`'s length cases cost
/// ~15 instructions a row for an 8-byte symbol.)
#[inline(always)]
fn ascii(sym: &[u8]) -> bool {
    #[inline(always)]
    fn two<const K: usize>(sym: &[u8], high: u64) -> bool {
        let n = sym.len();
        let (Ok(a), Ok(b)) = (
            <[u8; K]>::try_from(&sym[..K]),
            <[u8; K]>::try_from(&sym[n - K..]),
        ) else {
            return sym.is_ascii();
        };
        (word(a) | word(b)) & high == 0
    }
    match sym.len() {
        8..=16 => two::<8>(sym, 0x8080_8080_8080_8080),
        4..=7 => two::<4>(sym, 0x8080_8080),
        _ => sym.is_ascii(),
    }
}

/// Up to eight bytes as one word (little-endian).
#[inline(always)]
fn word<const K: usize>(b: [u8; K]) -> u64 {
    let mut w = [0u8; 8];
    w[..K].copy_from_slice(&b);
    u64::from_le_bytes(w)
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
        let fast = measure(lines).map(|layout| {
            assert_eq!(layout.width, width);
            let mut fast = Vec::new();
            write_rows(&mut fast, lines, &layout).unwrap();
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

    /// The word test agrees with `is_ascii` at every length up to 40, with a byte of each
    /// kind at every position.
    #[test]
    fn ascii_is_is_ascii() {
        for n in 0..=40 {
            let mut sym = vec![b'A'; n];
            assert!(ascii(&sym));
            for i in 0..n {
                for b in [0x00, 0x7f, 0x80, 0xc3, 0xff] {
                    sym[i] = b;
                    assert_eq!(ascii(&sym), sym.is_ascii(), "{sym:?}");
                }
                sym[i] = b'A';
            }
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
        assert!(fast.len() > 2 * super::super::CHUNK);
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
