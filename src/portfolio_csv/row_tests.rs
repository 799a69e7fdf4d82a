//! The one-pass row reader against the field splitter and `push_holding` it stands in for, and
//! its exact division against `Decimal`'s.
use std::path::Path;
use std::str::FromStr;

use proptest::prelude::*;

use super::*;
use crate::portfolio_csv::fast::{plain_decimal, push_holding, record};
use crate::portfolio_csv::row_spec;

/// Everything that makes a holding, with each decimal as its exact bits.
type Key = (String, [u8; 16], [u8; 16], [u8; 16], Option<[u8; 16]>);

fn key(h: &Holding) -> Key {
    (
        h.symbol.clone(),
        h.quantity.serialize(),
        h.price.serialize(),
        h.unrealized_pnl.serialize(),
        h.market_value.map(|d| d.serialize()),
    )
}

/// [`read`] on the record at the start of `body`: the holding it appends and where the next
/// record starts. A declined row must append nothing.
fn read_one(body: &[u8], roles: &[Role], format: Format) -> Option<(Holding, usize)> {
    one(|out| read(body, 0, roles, format, out))
}

/// [`read_flex`] as [`read_one`] reads.
fn flex_one(body: &[u8]) -> Option<(Holding, usize)> {
    one(|out| read_flex(body, 0, out))
}

fn one(read: impl FnOnce(&mut Vec<Holding>) -> Option<usize>) -> Option<(Holding, usize)> {
    let mut out = Vec::new();
    let next = read(&mut out);
    assert_eq!(
        out.len(),
        usize::from(next.is_some()),
        "one holding per row read"
    );
    Some((out.pop()?, next?))
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u64..10_000_000, 0u32..=4, any::<bool>()).prop_map(|(m, s, neg)| {
            let d = Decimal::new(m as i64, s);
            if neg { format!("-{d}") } else { d.to_string() }
        }),
        1 => "-?[0-9]{15,21}(\\.[0-9]{1,6})?",
        1 => "-?0*[0-9]{0,3}\\.?[0-9]{0,3}0*",
        2 => prop::sample::select(vec![
            "", " 5", "5 ", "+5", ".5", "5.", "-0", "-0.00", "1e3", "abc", "1.2.3", "--1", "-",
            "0", "1.50", "5\"", "5,", "5\r", "5\n",
        ]).prop_map(str::to_string),
    ]
}

fn symbol() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-Z][A-Z0-9.]{0,8}",
        1 => prop::sample::select(vec![
            "", " AB", "AB ", "ÄÖ", "a b", "A\"B", "A,B", "A\rB", "A\nB", "\u{7f}", "~!",
        ]).prop_map(str::to_string),
    ]
}

/// One row in one of the header layouts, each field bare or quoted, with a line end.
fn row() -> impl Strategy<Value = (usize, String)> {
    (
        0usize..3,
        symbol(),
        number_text(),
        number_text(),
        number_text(),
        prop::collection::vec(0u8..8, 5),
        prop::sample::select(vec!["\n", "\r\n", "", "\r", ",\n", "\"\n", "\n\n"]),
        0u8..10,
        prop::sample::select(vec![
            "",
            "",
            "Z",
            "\"ZZ9\",\"1234567.8\",\"12.5\",\"-0.25\"\n",
        ]),
    )
        .prop_map(|(layout, sym, a, p, pnl, how, end, short, next)| {
            let cells: Vec<&str> = match layout {
                0 => vec![&sym, &a, &p, &pnl],
                1 => vec!["x y", &p, &sym, &a],
                _ => vec![&sym, &a, &p],
            };
            let n = if short == 0 {
                cells.len() - 1
            } else {
                cells.len()
            };
            let mut s = String::new();
            for (k, c) in cells[..n].iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                match how[k] {
                    0..=3 => s.push_str(c),
                    4..=6 => s.push_str(&format!("\"{c}\"")),
                    _ => s.push_str(&format!("\"{c}")),
                }
            }
            s.push_str(end);
            // What follows a row (the next one, most often) lets the word-at-a-time readers
            // run to its end.
            s.push_str(next);
            (layout, s)
        })
}

const HEADERS: [&str; 3] = [
    "Symbol,PositionValue,MarkPrice,FifoPnlUnrealized",
    "Extra,MarkPrice,Symbol,PositionValue",
    "symbol,quantity,price",
];

/// The header's column names and the row spec, as `parse_fast` builds them.
fn spec(layout: usize) -> (usize, RowSpec) {
    let names: Vec<String> = HEADERS[layout].split(',').map(str::to_string).collect();
    (names.len(), row_spec(Path::new("p.csv"), &names).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// Wherever the row reader answers, the field splitter ends the record at the same place
    /// with the header's field count, and `push_holding` makes the same holding of it.
    #[test]
    fn rows_read_as_the_field_splitter_and_push_holding_do((layout, s) in row()) {
        let (n, spec) = spec(layout);
        let body = s.as_bytes();
        if let Some((h, next)) = read_one(body, &roles(n, &spec), spec.format) {
            let mut fields = Vec::new();
            let end = record(body, 0, &mut fields);
            prop_assert_eq!(end, Some(next), "{:?}", s);
            prop_assert_eq!(fields.len(), n, "{:?}", s);
            let mut out = Vec::new();
            prop_assert!(push_holding(&mut out, body, &fields, &spec).is_some(), "{:?}", s);
            prop_assert_eq!(key(&out[0]), key(&h), "{:?}", s);
        }
    }

    /// A Flex row's quantity is `Decimal`'s own `PositionValue / MarkPrice`, bit for bit,
    /// whichever division made it: values rounded to cents over prices of up to six decimals
    /// (rarely exact, as IBKR reports them), quotients that end after a few digits, whole-share
    /// values, and prices wider than 32 bits.
    #[test]
    fn flex_quantities_are_decimal_quotients(
        cents in 0u64..100_000_000_000,
        price in prop_oneof![
            4 => 1u64..10_000_000,
            1 => 1u64..1_000_000_000_000_000,
            // Quotients that end after a few digits (`Decimal` keeps some trailing zeros).
            2 => prop::sample::select(vec![2u64, 4, 8, 16, 32, 64, 128, 5, 25, 125, 625, 80, 3125]),
        ],
        sp in 0u32..=6,
        shares in 0u64..1_000_000,
        whole in any::<bool>(),
    ) {
        let (n, spec) = spec(0);
        let p = Decimal::new(price as i64, sp);
        let v = if whole {
            p * Decimal::from(shares)
        } else {
            Decimal::new(cents as i64, 2)
        };
        let row = format!("\"S\",\"{v}\",\"{p}\",\"0\"\n");
        if let Some((h, _)) = read_one(row.as_bytes(), &roles(n, &spec), spec.format) {
            prop_assert_eq!(h.market_value, Some(v));
            prop_assert_eq!(h.quantity.serialize(), (v / p).serialize(), "{:?}", row);
        }
    }

    /// The Flex layout's unrolled reader answers exactly as the general one with the Flex
    /// roles (the same holding and end, or both decline), on rows of every shape.
    #[test]
    fn the_flex_reader_reads_as_the_general_one((_, s) in row()) {
        let body = s.as_bytes();
        let got = flex_one(body).map(|(h, next)| (key(&h), next));
        let want = read_one(body, &FLEX, Format::Flex).map(|(h, next)| (key(&h), next));
        prop_assert_eq!(got, want, "{:?}", s);
    }

    /// The number reader against the splitter's `plain_decimal` on the bytes it reads.
    #[test]
    fn numbers_read_as_plain_decimal_does(
        s in number_text(),
        tail in prop::sample::select(vec!["", "\"", ",", "\n", "x", "\",\"12.5\"\n", "\"\r\n\"A\",\"1\""]),
    ) {
        let text = format!("{s}{tail}");
        if let Some((n, end)) = number(text.as_bytes(), 0) {
            // It stops at the first byte that cannot continue the number (a second dot, for
            // one, which the row reader then declines as an unexpected byte).
            let next = text.as_bytes().get(end);
            prop_assert!(!next.is_some_and(u8::is_ascii_digit), "{:?}", text);
            let want = plain_decimal(&text.as_bytes()[..end]).map(|d| d.serialize());
            prop_assert_eq!(Some(n.decimal().serialize()), want, "{:?}", text);
        }
    }

    /// The exact division against `Decimal`'s `/`, bit for bit, on quotients that are exact
    /// (value = shares · price, as whole-share positions are) and on any others.
    #[test]
    fn exact_division_is_decimal_division(
        shares in 0u64..2_000_000,
        price in 1u64..10_000_000,
        sp in 0u32..=6,
        extra in 0u32..=4,
        other in 0u64..1_000_000_000_000,
        so in 0u32..=8,
        exact in any::<bool>(),
    ) {
        let p = Num { m: price, scale: sp, neg: false };
        let a = if exact {
            Num { m: shares * price * 10u64.pow(extra), scale: sp + extra, neg: false }
        } else {
            Num { m: other, scale: so, neg: false }
        };
        let want = a.decimal() / p.decimal();
        if let Some(q) = div_exact(a, p) {
            prop_assert_eq!(q.serialize(), want.serialize(), "{:?} / {:?}", a, p);
        } else {
            prop_assert!(!exact || a.m == 0, "an exact quotient was declined: {:?} / {:?}", a, p);
        }
    }

    /// The word-at-a-time classifiers and digit conversion against byte-by-byte ones.
    #[test]
    fn word_readers_match_byte_readers(bytes in prop::array::uniform8(prop_oneof![
        b'0'..=b'9', b'0'..=b'9', Just(b'.'), Just(b'"'), Just(b','), Just(b' '), Just(b'/'),
        Just(b':'), Just(0x7f), Just(0x80), Just(0xff), Just(0xb0), Just(0xb9), Just(0x21),
        Just(0x7e), Just(0x20), 0u8..=255,
    ])) {
        let w = u64::from_le_bytes(bytes);
        let run = |ok: &dyn Fn(u8) -> bool| bytes.iter().position(|&b| !ok(b)).unwrap_or(8) as u32;
        prop_assert_eq!(symbol_run(w), run(&|b| SYMBOL[usize::from(b)]), "{:?}", bytes);
        let n = run(&|b| b.is_ascii_digit());
        prop_assert_eq!(digit_run(w), n, "{:?}", bytes);
        for k in 1..=n {
            let want: u64 = std::str::from_utf8(&bytes[..k as usize]).unwrap().parse().unwrap();
            prop_assert_eq!(digits_value(w, k), want, "{:?} {}", bytes, k);
        }
    }
}

#[test]
fn ordinary_rows_take_the_one_pass_reader() {
    let (n, spec) = spec(0);
    let roles = roles(n, &spec);
    // A Flex Query header: `fast::holdings` reads its rows with `read_flex`.
    assert_eq!(
        (roles.as_slice(), spec.format),
        (FLEX.as_slice(), Format::Flex)
    );
    for s in [
        "\"S0000000\",\"7093.24\",\"21.56\",\"381.2714\"\n",
        "AAA,0,1.50,-0.0001\r\n",
        "BRK.B,100,2,0",
    ] {
        let (h, next) = read_one(s.as_bytes(), &roles, spec.format).unwrap();
        assert_eq!(next, s.len());
        let want = Decimal::from_str(s.split(',').nth(1).unwrap().trim_matches('"')).unwrap();
        assert_eq!(h.market_value, Some(want));
    }
    // Whole shares: the quotient comes from the exact division.
    let (h, _) = read_one(b"A,7093.24,21.56,0\n", &roles, spec.format).unwrap();
    assert_eq!(h.quantity.serialize(), Decimal::from(329).serialize());
}
