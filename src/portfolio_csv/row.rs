//! The row reader of the fast path ([`super::fast`]) for the rows nearly every file consists
//! of: each field bare or wholly quoted, the symbol graphic ASCII, every number `-?d+(.d+)?`.
//!
//! Why: at 10^5 rows splitting a row into field ranges, checking the symbol's UTF-8 and then
//! parsing each number field again cost ~1,000 instructions a row. Here one pass over the row
//! walks each field once, knowing from the header what it holds: a number's digits become
//! its mantissa as they are passed, the symbol's bytes are checked as they are passed (graphic
//! ASCII is valid UTF-8 and has nothing for `str::trim` to remove), and a column the plan
//! does not read is only skipped.
//!
//! Why it is exact: a row is taken here only when it is in the grammar above, and then
//! [`super::fast`]'s field splitting would give the same field ranges and its `plain_decimal`
//! the same mantissa and scale (the same digits, at most 18, one dot between digits). Every
//! other row, and every row the general path reports an error for (a zero price, a negative
//! amount, a field count), returns `None` before anything is pushed, and the caller reads that
//! row again the general fast way, which accepts it or leaves the file to the general path.
//! The quantity of a Flex row is `PositionValue / MarkPrice`, divided here on the mantissas
//! only when the quotient is exact (see [`div_exact`]). Property tests compare this reader
//! with the field splitter on random rows and [`div_exact`] with `Decimal` division.
use rust_decimal::Decimal;

use super::fast::find;
use super::{Format, RowSpec};
use crate::strategy::Holding;

/// What a column holds, for the row reader: a number's slot in [`Nums`], the symbol, or
/// nothing the plan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Skip,
    Symbol,
    Number(usize),
}

/// Slots of the number columns: amount (quantity or position value), price, P&L.
const AMOUNT: usize = 0;
const PRICE: usize = 1;
const PNL: usize = 2;

/// Each column's role, from the header's column positions.
pub(super) fn roles(header_len: usize, spec: &RowSpec) -> Vec<Role> {
    let mut roles = vec![Role::Skip; header_len];
    let mut set = |c: usize, r| {
        if let Some(slot) = roles.get_mut(c) {
            *slot = r;
        }
    };
    set(spec.sym, Role::Symbol);
    set(spec.amount, Role::Number(AMOUNT));
    set(spec.price, Role::Number(PRICE));
    if let Some(c) = spec.pnl {
        set(c, Role::Number(PNL));
    }
    roles
}

/// A plain number as written: its digits as an integer, the count of decimals, the sign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Num {
    pub m: u64,
    pub scale: u32,
    pub neg: bool,
}

impl Num {
    /// The `Decimal` `Decimal::from_str` makes of such text (`from_parts`, so `1.50` keeps
    /// scale 2 and `-0` is zero).
    pub(super) fn decimal(self) -> Decimal {
        Decimal::from_parts(
            self.m as u32,
            (self.m >> 32) as u32,
            0,
            self.neg,
            self.scale,
        )
    }
}

/// The holding of the record at `i` and where the next record starts, or `None` when the
/// row is outside the grammar or would be an error (the caller then reads it the other way).
pub(super) fn read(
    body: &[u8],
    mut i: usize,
    roles: &[Role],
    format: Format,
) -> Option<(Holding, usize)> {
    let mut sym = (0, 0);
    let mut nums = [Num::default(); 3];
    let last = roles.len().checked_sub(1)?;
    for (c, &role) in roles.iter().enumerate() {
        let quoted = body.get(i) == Some(&b'"');
        i += usize::from(quoted);
        i = match role {
            Role::Symbol => {
                let end = symbol_end(body, i);
                if end == i {
                    return None;
                }
                sym = (i, end);
                end
            }
            Role::Number(slot) => {
                let (n, end) = number(body, i)?;
                nums[slot] = n;
                end
            }
            Role::Skip if quoted => find(body, i, [b'"', b'\n', b'\r'])?,
            Role::Skip => find(body, i, [b',', b'\n', b'\r', b'"']).unwrap_or(body.len()),
        };
        if quoted {
            if body.get(i) != Some(&b'"') {
                return None;
            }
            i += 1;
        }
        i = match (body.get(i), c == last) {
            (Some(b','), false) | (Some(b'\n'), true) => i + 1,
            (Some(b'\r'), true) if body.get(i + 1) == Some(&b'\n') => i + 2,
            (None, true) => i,
            _ => return None,
        };
    }
    let holding = holding(&body[sym.0..sym.1], nums, format)?;
    Some((holding, i))
}

/// The holding `push_holding` makes of these fields, or `None` where it reports an error.
fn holding(symbol: &[u8], nums: [Num; 3], format: Format) -> Option<Holding> {
    let [a, p, pnl] = nums;
    if p.m == 0 || p.neg || (a.neg && a.m != 0) {
        return None;
    }
    debug_assert!(symbol.iter().all(u8::is_ascii_graphic));
    // SAFETY: `symbol_end` took only graphic ASCII bytes, and ASCII is valid UTF-8. (The
    // checked conversion cost ~100 instructions a row, re-checking those same bytes.)
    let symbol = unsafe { std::str::from_utf8_unchecked(symbol) };
    let (amount, price) = (a.decimal(), p.decimal());
    let (quantity, market_value) = match format {
        Format::Flex => (
            div_exact(a, p).unwrap_or_else(|| amount / price),
            Some(amount),
        ),
        Format::Plain => (amount, None),
    };
    Some(Holding {
        market_value,
        unrealized_pnl: pnl.decimal(),
        ..Holding::new(symbol, quantity, price)
    })
}

/// `a / p` for a non-negative `a` and a positive `p`, exactly as `Decimal`'s `/` returns it,
/// when the quotient is exact at a scale `scale(a) − scale(p) ≥ 0`; `None` otherwise.
///
/// Why: a Flex row gives the position's value and price, and the quantity is their quotient:
/// a 96-bit `Decimal` division per row. For whole-share positions (value = shares · price)
/// the quotient is exact, and then `Decimal`'s division returns the integer quotient of the
/// mantissas at the scale difference unchanged (its remainder loop and its trailing-zero
/// removal run only for a remainder or a negative scale difference). A zero dividend is
/// `Decimal::ZERO` there as here.
pub(super) fn div_exact(a: Num, p: Num) -> Option<Decimal> {
    if a.m == 0 {
        return Some(Decimal::ZERO);
    }
    if p.m == 0 || a.scale < p.scale || !a.m.is_multiple_of(p.m) {
        return None;
    }
    let q = Num {
        m: a.m / p.m,
        scale: a.scale - p.scale,
        neg: a.neg != p.neg,
    };
    Some(q.decimal())
}

/// Whether a byte may be in a symbol the row reader takes: graphic ASCII but the CSV's quote
/// and separator.
const fn symbol_bytes() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b',' as usize;
        b += 1;
    }
    t
}
static SYMBOL: [bool; 256] = symbol_bytes();

/// The end of the run of symbol bytes at `i`.
fn symbol_end(body: &[u8], i: usize) -> usize {
    let rest = body.get(i..).unwrap_or_default();
    i + rest
        .iter()
        .position(|&b| !SYMBOL[usize::from(b)])
        .unwrap_or(rest.len())
}

/// The number at `i` (`-?d+(.d+)?`, at most 18 digits) and where it ends (at the first byte
/// that is neither digit nor its dot), or `None`.
pub(super) fn number(body: &[u8], i: usize) -> Option<(Num, usize)> {
    let neg = body.get(i) == Some(&b'-');
    let start = i + usize::from(neg);
    let (m, end) = digits(body, start, 0);
    let int = end - start;
    let (m, end, scale) = if body.get(end) == Some(&b'.') {
        let (m, e) = digits(body, end + 1, m);
        (m, e, e - end - 1)
    } else {
        (m, end, 0)
    };
    // Digits on both sides of a dot; more than 18 digits may have wrapped `m`.
    if int == 0 || (scale == 0 && end != start + int) || int + scale > 18 {
        return None;
    }
    Some((
        Num {
            m,
            scale: scale as u32,
            neg,
        },
        end,
    ))
}

/// `m` extended by the decimal digits from `i` on (wrapping), and where they end.
fn digits(body: &[u8], mut i: usize, mut m: u64) -> (u64, usize) {
    while let Some(&b) = body.get(i) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    (m, i)
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
