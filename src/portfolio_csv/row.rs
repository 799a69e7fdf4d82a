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
//! when the quotient is exact (see [`div_exact`]), else by `quotient::checked_div` (the
//! same digits and rounding as `Decimal`'s `/` on a `u128`, ~3/4 of its instructions; a
//! value rounded to cents, as IBKR reports it, rarely divides exactly), and only when that
//! declines by `/` itself, so an overflow fails exactly as before. Property tests compare
//! this reader with the field splitter on random rows and both divisions with `Decimal`'s.
use rust_decimal::Decimal;

use super::fast::find;
use super::{Format, RowSpec};
use crate::strategy::{Asset, Holding, quotient};

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

/// The roles of the Flex Query export's columns (`Symbol`, `PositionValue`, `MarkPrice`,
/// `FifoPnlUnrealized`), the layout the fast path reads with these roles as constants.
pub(super) const FLEX: [Role; 4] = [
    Role::Symbol,
    Role::Number(AMOUNT),
    Role::Number(PRICE),
    Role::Number(PNL),
];

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
    #[inline(always)]
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
/// (It and its helpers are inlined: they are the body of the reading loop, and left to
/// itself the compiler's choice changed from build to build, ±10 % of reading a file.)
#[inline(always)]
pub(super) fn read<'a>(
    body: &'a [u8],
    mut i: usize,
    roles: &[Role],
    format: Format,
    out: &mut impl Out<'a>,
) -> Option<usize> {
    let mut sym = (0, 0);
    let mut nums = [Num::default(); 3];
    let last = roles.len().checked_sub(1)?;
    for (c, &role) in roles.iter().enumerate() {
        i = field(body, i, c == last, |i, quoted| match role {
            Role::Symbol => {
                let end = symbol(body, i)?;
                sym = (i, end);
                Some(end)
            }
            Role::Number(slot) => {
                let (n, end) = number(body, i)?;
                nums[slot] = n;
                Some(end)
            }
            Role::Skip if quoted => find(body, i, [b'"', b'\n', b'\r']),
            Role::Skip => Some(find(body, i, [b',', b'\n', b'\r', b'"']).unwrap_or(body.len())),
        })?;
    }
    push(out, &body[sym.0..sym.1], nums, format)?;
    Some(i)
}

/// [`read`] for the Flex Query layout ([`FLEX`]): the same steps, written out column by
/// column. Why: the compiler kept `read`'s loop over the columns even with constant roles
/// (a role load, dispatch and a store of each number into an array, per column); unrolled,
/// the numbers stay in registers. Property tests compare it with `read`.
#[inline(always)]
pub(super) fn read_flex<'a>(body: &'a [u8], i: usize, out: &mut impl Out<'a>) -> Option<usize> {
    let mut sym = (0, 0);
    let i = field(body, i, false, |i, _| {
        let end = symbol(body, i)?;
        sym = (i, end);
        Some(end)
    })?;
    let mut nums = [Num::default(); 3];
    let mut i = i;
    for (k, n) in nums.iter_mut().enumerate() {
        i = field(body, i, k == 2, |i, _| {
            let (m, end) = number(body, i)?;
            *n = m;
            Some(end)
        })?;
    }
    push(out, &body[sym.0..sym.1], nums, Format::Flex)?;
    Some(i)
}

/// One field at `i`: an opening quote or none, the content (`content` gets where it starts
/// and whether it is quoted, and returns where it ends), the closing quote if opened, then
/// `,` — or for the `last` field a line end or the end of the input. Returns where the next
/// field (or record) starts; `None` outside the grammar.
#[inline(always)]
fn field(
    body: &[u8],
    mut i: usize,
    last: bool,
    content: impl FnOnce(usize, bool) -> Option<usize>,
) -> Option<usize> {
    let quoted = body.get(i) == Some(&b'"');
    i += usize::from(quoted);
    i = content(i, quoted)?;
    if quoted {
        if body.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
    }
    match (body.get(i), last) {
        (Some(b','), false) | (Some(b'\n'), true) => Some(i + 1),
        (Some(b'\r'), true) if body.get(i + 1) == Some(&b'\n') => Some(i + 2),
        (None, true) => Some(i),
        _ => None,
    }
}

/// The end of the symbol at `i` ([`symbol_end`]), or `None` for an empty one.
#[inline(always)]
fn symbol(body: &[u8], i: usize) -> Option<usize> {
    let end = symbol_end(body, i);
    (end != i).then_some(end)
}

/// Appends the holding `push_holding` makes of these fields, or returns `None` (appending
/// nothing) where it reports an error. It appends rather than returns the holding
/// ([`push_fields`]): a 136-byte `Holding` returned through an `Option` was built on the
/// stack and then copied into the vector by a `memcpy` call.
#[inline(always)]
fn push<'a>(
    out: &mut impl Out<'a>,
    symbol: &'a [u8],
    nums: [Num; 3],
    format: Format,
) -> Option<()> {
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
            div_exact(a, p).unwrap_or_else(|| div_inexact(amount, price)),
            Some(amount),
        ),
        Format::Plain => (amount, None),
    };
    out.push_row(symbol, quantity, price, pnl.decimal(), market_value)
}

/// Where the rows read go: holdings (`Vec<Holding>`, the general reader's result) or assets
/// (`Vec<Asset>`, borrowing each symbol from the file's bytes, for `pbal plan`: see
/// [`super::parse_assets`]).
pub(crate) trait Out<'a>: Sized {
    fn with_capacity(n: usize) -> Self;
    /// Appends the row with these fields (no conid or currency); `None` (appending nothing)
    /// where the row cannot be taken this way.
    fn push_row(
        &mut self,
        symbol: &'a str,
        quantity: Decimal,
        price: Decimal,
        pnl: Decimal,
        market_value: Option<Decimal>,
    ) -> Option<()>;
    /// Every row's symbol, in order.
    fn symbol(&self, i: usize) -> &str;
    fn len(&self) -> usize;
}

impl<'a> Out<'a> for Vec<Holding> {
    fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n)
    }

    #[inline(always)]
    fn push_row(
        &mut self,
        symbol: &'a str,
        quantity: Decimal,
        price: Decimal,
        pnl: Decimal,
        market_value: Option<Decimal>,
    ) -> Option<()> {
        let symbol = crate::strategy::symbol::owned(symbol);
        push_fields(self, symbol, quantity, price, pnl, market_value);
        Some(())
    }

    fn symbol(&self, i: usize) -> &str {
        &self[i].symbol
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// A row the planner would refuse (a negative market value, a magnitude beyond 10^15) is not
/// taken: the holdings are read and planned then, and the planner reports it.
impl<'a> Out<'a> for Vec<Asset<'a>> {
    fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n)
    }

    #[inline(always)]
    fn push_row(
        &mut self,
        symbol: &'a str,
        quantity: Decimal,
        price: Decimal,
        pnl: Decimal,
        market_value: Option<Decimal>,
    ) -> Option<()> {
        self.push(Asset::checked(symbol, quantity, price, pnl, market_value)?);
        Some(())
    }

    fn symbol(&self, i: usize) -> &str {
        self[i].symbol
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// `out.push(Holding { .. })` with these fields (no conid or currency), each written straight
/// into the vector's next slot. Why: `push` of the struct built it on the stack first and
/// copied its 136 bytes with a `memcpy` call, ~45 instructions a row.
#[inline(always)]
fn push_fields(
    out: &mut Vec<Holding>,
    symbol: String,
    quantity: Decimal,
    price: Decimal,
    unrealized_pnl: Decimal,
    market_value: Option<Decimal>,
) {
    out.reserve(1);
    let len = out.len();
    // SAFETY: `reserve(1)` leaves room for an element at `len`; each of its fields is
    // written once (no read, no drop of the uninitialised memory) before `set_len` makes it
    // part of the vector, and nothing between can panic.
    unsafe {
        let h = out.as_mut_ptr().add(len);
        (&raw mut (*h).symbol).write(symbol);
        (&raw mut (*h).quantity).write(quantity);
        (&raw mut (*h).price).write(price);
        (&raw mut (*h).unrealized_pnl).write(unrealized_pnl);
        (&raw mut (*h).conid).write(None);
        (&raw mut (*h).currency).write(None);
        (&raw mut (*h).market_value).write(market_value);
        out.set_len(len + 1);
    }
}

/// `push_fields` writes every field of `Holding`: this pattern names them all (no `..`), so a
/// field added to `Holding` fails to compile here instead of being left uninitialised in the
/// vector (found by this session's review: the `unsafe` block alone would still compile).
const _: fn(&Holding) = |h| {
    let Holding {
        symbol: _,
        quantity: _,
        price: _,
        unrealized_pnl: _,
        conid: _,
        currency: _,
        market_value: _,
    } = h;
};

/// `a / p` for a non-negative `a` and a positive `p`, exactly as `Decimal`'s `/` returns it,
/// when the quotient is exact at a scale `scale(a) − scale(p) ≥ 0`; `None` otherwise.
///
/// Why: a Flex row gives the position's value and price, and the quantity is their quotient:
/// a 96-bit `Decimal` division per row. For whole-share positions (value = shares · price)
/// the quotient is exact, and then `Decimal`'s division returns the integer quotient of the
/// mantissas at the scale difference unchanged (its remainder loop and its trailing-zero
/// removal run only for a remainder or a negative scale difference). A zero dividend is
/// `Decimal::ZERO` there as here.
#[inline(always)]
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

/// `amount / price` where [`div_exact`] declines: `quotient::checked_div` (`Decimal`'s own
/// digits and rounding), and `Decimal::checked_div` only where that declines. A quotient
/// beyond `Decimal` (a price of 1e-18 against 1e17) sets a flag that [`take_overflow`]
/// reports after the reading loop, and the general reader then names the row; a `?` here
/// cost the loop ~18 instructions a row, a panic was what happened before.
/// Out of line: inlined into the reading loop, it cost every row ~12 instructions of
/// register shuffling although whole-share files never get here.
#[cold]
#[inline(never)]
pub(super) fn div_inexact(amount: Decimal, price: Decimal) -> Decimal {
    quotient::checked_div(amount, price)
        .or_else(|| amount.checked_div(price))
        .unwrap_or_else(|| {
            OVERFLOW.with(|f| f.set(true));
            Decimal::ZERO
        })
}

thread_local! {
    /// Set by [`div_inexact`] when a quotient overflowed since the last [`take_overflow`].
    static OVERFLOW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a Flex quotient overflowed since the last call (and clears the flag): the rows
/// read since then are not to be used.
pub(super) fn take_overflow() -> bool {
    OVERFLOW.with(|f| f.replace(false))
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

/// The end of the run of symbol bytes at `i`: eight bytes a step ([`symbol_run`]), the last
/// few through the table.
#[inline(always)]
fn symbol_end(body: &[u8], mut i: usize) -> usize {
    while let Some(w) = word(body, i) {
        let run = symbol_run(w);
        i += run as usize;
        if run < 8 {
            return i;
        }
    }
    let rest = body.get(i..).unwrap_or_default();
    i + rest
        .iter()
        .position(|&b| !SYMBOL[usize::from(b)])
        .unwrap_or(rest.len())
}

/// `10^k` for `k < 8` (a table: `u64::pow` loops over the exponent's bits).
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// Eight bytes of each lane's value (`0x0101…`, times a byte).
const ONES: u64 = 0x0101_0101_0101_0101;
/// Each lane's top bit.
const TOPS: u64 = ONES * 0x80;

/// The eight bytes at `i` as a little-endian word (the first byte lowest), if there are eight.
#[inline(always)]
fn word(body: &[u8], i: usize) -> Option<u64> {
    let bytes: [u8; 8] = body.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// How many of the word's bytes, from the first, are symbol bytes ([`SYMBOL`]); 8 = all.
///
/// Every lane is computed on its low seven bits plus its top bit, so no carry crosses a lane:
/// `low + (0x80 − k)` sets the lane's top bit exactly when `low ≥ k`, and `(low ^ c) + 0x7f`
/// exactly when `low ≠ c`.
#[inline(always)]
fn symbol_run(w: u64) -> u32 {
    let low = w & (ONES * 0x7f);
    let high = w & TOPS; // 0x80..=0xff: not ASCII
    let below = ((low + ONES * (0x80 - 0x21)) & TOPS) ^ TOPS; // < 0x21: control or space
    let del = (low + ONES) & TOPS; // 0x7f
    let quote = (((low ^ (ONES * 0x22)) + ONES * 0x7f) & TOPS) ^ TOPS;
    let comma = (((low ^ (ONES * 0x2c)) + ONES * 0x7f) & TOPS) ^ TOPS;
    (high | below | del | quote | comma).trailing_zeros() / 8
}

/// How many of the word's bytes, from the first, are ASCII digits; 8 = all. (Per lane as in
/// [`symbol_run`]: `x = byte ^ 0x30` is 0..=9 exactly for a digit, and `x + 0x76` on its low
/// seven bits reaches the top bit exactly when `x ≥ 10`.)
#[inline(always)]
fn digit_run(w: u64) -> u32 {
    let x = w ^ (ONES * 0x30);
    let not_digit = (((x & (ONES * 0x7f)) + ONES * 0x76) | x) & TOPS;
    not_digit.trailing_zeros() / 8
}

/// The number the word's first `n` bytes (ASCII digits, `1 ≤ n ≤ 8`) spell.
///
/// The digits are moved to the top lanes (zero lanes below are leading zeros), then adjacent
/// lanes are combined three times — tens, hundreds, ten-thousands — each multiplication
/// adding `10^k ·` the earlier (more significant) lane to the later one, whose lane is wide
/// enough for the result (99, 9999, 99999999), so nothing carries into a neighbour.
#[inline(always)]
fn digits_value(w: u64, n: u32) -> u64 {
    let v = (w & (ONES * 0x0f)) << (8 * (8 - n));
    let v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_ffff_0000_ffff;
    v.wrapping_mul(10_000 << 32 | 1) >> 32
}

/// A number of at most seven integer and seven decimal digits, a word at a time: the
/// mantissa, the count of decimals and where it ends; `None` for anything else (the byte
/// reader then decides).
#[inline(always)]
fn number_words(body: &[u8], start: usize) -> Option<(u64, usize, usize)> {
    let w = word(body, start)?;
    let n = digit_run(w);
    if n == 0 || n == 8 {
        return None;
    }
    let end = start + n as usize;
    if (w >> (8 * n)) as u8 != b'.' {
        return Some((digits_value(w, n), 0, end));
    }
    // Most numbers with a dot have at most seven digits: the word one byte on, its first
    // `n` bytes replaced by the integer digits, holds every digit with the dot taken out
    // (byte `j ≥ n` of it is byte `j + 1` of the number), and the byte after them, so one
    // digit run and one conversion read the whole mantissa. Eight digits or more: the
    // two-word way below.
    let low = (1u64 << (8 * n)) - 1;
    let joined = (w & low) | (word(body, start + 1)? & !low);
    let t = digit_run(joined);
    if t < 8 {
        let k = (t - n) as usize;
        return (k > 0).then(|| (digits_value(joined, t), k, end + 1 + k));
    }
    let int = digits_value(w, n);
    let f = word(body, end + 1)?;
    let k = digit_run(f);
    if k == 0 || k == 8 {
        return None;
    }
    let m = int * POW10[k as usize] + digits_value(f, k);
    Some((m, k as usize, end + 1 + k as usize))
}

/// The number at `i` (`-?d+(.d+)?`, at most 18 digits) and where it ends (at the first byte
/// that is neither digit nor its dot), or `None`.
#[inline(always)]
pub(super) fn number(body: &[u8], i: usize) -> Option<(Num, usize)> {
    let neg = body.get(i) == Some(&b'-');
    let start = i + usize::from(neg);
    if let Some((m, scale, end)) = number_words(body, start) {
        let scale = scale as u32;
        return Some((Num { m, scale, neg }, end));
    }
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
#[inline(always)]
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
