//! The fast path against the general one on random files: wherever the fast path answers, the
//! general path must give the same holdings bit for bit (scales included); everything else
//! (quirks, errors, duplicates) must be left to the general path.
use std::path::Path;
use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::portfolio_csv::{CsvError, parse_fast, parse_general_file};
use crate::strategy::Holding;

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

/// The fast path's answer and the general path's, for one file.
fn both(bytes: &[u8]) -> (Option<Vec<Holding>>, Result<Vec<Holding>, CsvError>) {
    let file = Path::new("p.csv");
    (parse_fast(file, bytes), parse_general_file(file, bytes))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (any::<i64>(), 0u32..=8).prop_map(|(m, s)| Decimal::new(m % 10i64.pow(12), s).to_string()),
        2 => (1u64..1_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m as i64, s).to_string()),
        1 => "-?[0-9]{15,22}(\\.[0-9]{1,12})?",
        1 => "-?0*[0-9]{0,3}\\.?[0-9]{0,3}0*",
        2 => prop::sample::select(vec![
            "", " 5 ", "+5", ".5", "5.", "-0", "-0.00", "1e3", "1E-2", "abc", "NaN", "inf",
            "1_000", "0", "-5", "1.50", "\u{a0}5", "5\u{b}", "\t7.25", "1.2.3", "--1", "-",
            "0x10", "0.0000000000000000000000000000001", "79228162514264337593543950336",
        ]).prop_map(str::to_string),
    ]
}

fn symbol() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-D][0-9]{0,2}",
        1 => prop::sample::select(vec![
            "", " AB ", "ÄÖ", "\u{a0}X", "X\u{3000}", "a b", "\u{b}Z", "BRK.B",
        ]).prop_map(str::to_string),
    ]
}

/// A field as written in the file: bare, quoted, quoted after a space, or with a doubled quote.
fn write_field(out: &mut String, v: &str, how: u8) {
    match how {
        0..=5 => out.push_str(v),
        6..=11 => out.push_str(&format!("\"{v}\"")),
        12 => out.push_str(&format!(" \"{v}\" ")),
        13 => out.push_str(&format!("\"{v}\"\"\"")),
        _ => out.push_str(&format!("\"{v}\nx\"")),
    }
}

prop_compose! {
    fn file()(
        layout in 0usize..4,
        start in prop::sample::select(vec!["", "", "\u{feff}", "\n", " "]),
        header_end in prop::sample::select(vec!["\n", "\n", "\r\n", "\r", ",\n"]),
        rows in prop::collection::vec(
            (symbol(), number(), number(), number(), prop::collection::vec(0u8..15, 5), 0u8..40),
            0..12,
        ),
    ) -> String {
        let headers = [
            "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"",
            "Extra,MarkPrice,Symbol,PositionValue",
            "symbol,quantity,price",
            "symbol, Quantity ,price,unrealized_pnl",
        ];
        let mut s = format!("{start}{}{header_end}", headers[layout]);
        for (sym, a, p, pnl, how, end) in rows {
            let cells: Vec<&str> = match layout {
                0 => vec![&sym, &a, &p, &pnl],
                1 => vec!["x", &p, &sym, &a],
                2 => vec![&sym, &a, &p],
                _ => vec![&sym, &a, &p, &pnl],
            };
            let n = match end {
                0 => cells.len() - 1, // a short row
                _ => cells.len(),
            };
            for (k, c) in cells[..n].iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                write_field(&mut s, c, how[k % how.len()]);
            }
            s.push_str(match end {
                1..=3 => "\r\n",
                4 => "\r",
                5 => "\n\n",
                6 => "\n  ,  \n",
                7 => "\r\n\r\n",
                8 => ",",
                _ => "\n",
            });
        }
        s
    }
}

prop_compose! {
    /// Files the fast path reads (Flex or plain layout, symbols unique, in order or not),
    /// now and then a row the planner refuses (a negative market value, a price of zero, a
    /// magnitude beyond 10^15).
    fn ordinary()(
        flex in any::<bool>(),
        rows in prop::collection::btree_map(
            "[A-Z]{1,6}",
            (0i64..10_000_000, 0u32..4, 1i64..100_000_000, 0u32..4, -10_000i64..10_000, 0u8..60),
            0..30,
        ),
        shuffle in any::<prop::sample::Index>(),
    ) -> String {
        let mut rows: Vec<_> = rows.into_iter().collect();
        let k = shuffle.index(rows.len() + 1);
        if k < rows.len() {
            rows.swap(0, k);
        }
        let mut s = String::from(if flex {
            "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\n"
        } else {
            "symbol,quantity,price,unrealized_pnl\n"
        });
        for (sym, (a, sa, p, sp, pnl, odd)) in rows {
            let (a, p) = match odd {
                0 => (-a - 1, p),
                1 => (a, 0),
                2 => (a * 1_000_000_000 + 1_000_000_000_000_001, p),
                _ => (a, p),
            };
            let (a, p, pnl) = (Decimal::new(a, sa), Decimal::new(p, sp), Decimal::new(pnl, 2));
            if flex {
                s.push_str(&format!("\"{sym}\",\"{}\",\"{p}\",\"{pnl}\"\n", (a * p).round_dp(2)));
            } else {
                s.push_str(&format!("{sym},{a},{p},{pnl}\n"));
            }
        }
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn fast_path_answers_only_as_the_general_path_does(s in file()) {
        let (fast, general) = both(s.as_bytes());
        if let Some(fast) = fast {
            let general = general.map_err(|e| e.to_string());
            prop_assert!(general.is_ok(), "fast path accepted what fails: {:?} {:?}", s, general);
            let general = general.unwrap();
            let f: Vec<Key> = fast.iter().map(key).collect();
            let g: Vec<Key> = general.iter().map(key).collect();
            prop_assert_eq!(f, g, "{:?}", s);
        }
    }

    /// `parse_assets` (the rows straight into the planner's assets) plans as the holdings do:
    /// where it answers, the holdings read and the plans of both are the same, in every
    /// strategy that takes assets; where it declines a file the fast path reads, planning
    /// those holdings is an error.
    #[test]
    fn assets_plan_as_the_holdings_do(s in prop_oneof![file(), ordinary()], kind in 0usize..4, cash in -50_000i64..5_000_000) {
        let file = Path::new("p.csv");
        let (strategy, granularity) = [
            (crate::strategy::Strategy::NeverSell, crate::strategy::Granularity::Shares),
            (crate::strategy::Strategy::Hard, crate::strategy::Granularity::Exact),
            (crate::strategy::Strategy::NeverSell, crate::strategy::Granularity::Increment(1)),
            (crate::strategy::Strategy::MinTrades, crate::strategy::Granularity::Shares),
        ][kind];
        let mut req = crate::strategy::PlanRequest::new(Vec::new(), Decimal::new(cash, 2));
        req.strategy = strategy;
        req.granularity = granularity;
        if strategy == crate::strategy::Strategy::MinTrades {
            req.bands.rel_pct = Decimal::from(20);
        }
        let assets: Option<Vec<crate::strategy::Asset>> = super::super::parse_assets(file, s.as_bytes());
        let holdings: Option<Vec<Holding>> = parse_fast(file, s.as_bytes());
        let mut with = req.clone();
        with.holdings = holdings.clone().unwrap_or_default();
        let json = |p: crate::strategy::Plan| serde_json::to_string(&p).unwrap();
        match (assets, holdings) {
            (Some(assets), Some(_)) => {
                let a = crate::strategy::outline_assets(&req, assets).unwrap().map(|o| json(o.into_plan()));
                let h = crate::strategy::plan(&with).map(json);
                prop_assert_eq!(a, h, "{:?}", s);
            }
            (Some(_), None) => prop_assert!(false, "assets read where holdings are not: {:?}", s),
            (None, Some(_)) => prop_assert!(crate::strategy::plan(&with).is_err(), "{:?}", s),
            (None, None) => {}
        }
    }

    #[test]
    fn numbers_read_as_from_str_does(s in number()) {
        let reference = Decimal::from_str(s.trim()).or_else(|_| Decimal::from_scientific(s.trim()));
        match decimal(s.as_bytes()) {
            Some(d) => prop_assert_eq!(Some(d.serialize()), reference.ok().map(|r| r.serialize()), "{:?}", s),
            // Declined only what the general path reports.
            None => prop_assert!(reference.is_err(), "{:?}", s),
        }
    }

    /// The word-at-a-time search against a byte-by-byte one, from every start, on bytes where
    /// wanted ones are frequent or rare (and high bytes that could fool the borrow trick).
    #[test]
    fn find_is_the_first_wanted_byte(
        bytes in prop::collection::vec(prop_oneof![
            Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), Just(0u8), Just(0x80u8),
            Just(0xFFu8), Just(0x01u8), 0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255,
        ], 0..40),
    ) {
        for i in 0..=bytes.len() {
            let naive = |set: &[u8]| bytes[i..].iter().position(|b| set.contains(b)).map(|k| i + k);
            prop_assert_eq!(find(&bytes, i, [b'"', b'\n', b'\r']), naive(b"\"\n\r"));
            prop_assert_eq!(find(&bytes, i, [b',', b'\n', b'\r', b'"']), naive(b",\n\r\""));
        }
    }

    #[test]
    fn plain_numbers_take_the_fast_path(neg in any::<bool>(), int in "[0-9]{1,9}", frac in "[0-9]{0,9}") {
        let s = format!("{}{int}{}{frac}", if neg { "-" } else { "" }, if frac.is_empty() { "" } else { "." });
        let d = plain_decimal(s.as_bytes());
        prop_assert!(d.is_some(), "{:?}", s);
        prop_assert_eq!(d.unwrap().serialize(), Decimal::from_str(&s).unwrap().serialize(), "{:?}", s);
    }
}

#[test]
fn ordinary_files_take_the_fast_path() {
    for s in [
        "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\r\n\
         \"AAA\",\"7093.24\",\"21.56\",\"381.2714\"\r\n\"BBB\",\"0\",\"1.50\",\"-0.0001\"\r\n",
        "symbol,quantity,price\nZ9,3.5,10\n\nA1,0,7.25\n",
        "Extra,Symbol,PositionValue,MarkPrice\nx, AAA ,100, 2\n",
    ] {
        let (fast, general) = both(s.as_bytes());
        let fast = fast.unwrap_or_else(|| panic!("not taken: {s:?}"));
        let f: Vec<Key> = fast.iter().map(key).collect();
        let g: Vec<Key> = general.unwrap().iter().map(key).collect();
        assert_eq!(f, g);
    }
    // Quirks, errors and duplicates are the general path's.
    for s in [
        "Symbol,PositionValue,MarkPrice\nx, \"10.0\" ,2\n",
        "Symbol,PositionValue,MarkPrice\nA,1,2\nA,3,4\n",
        "Symbol,PositionValue,MarkPrice\nA,1,0\n",
        "Symbol,PositionValue,MarkPrice\nA,1\n",
        "Symbol,PositionValue,MarkPrice\n\"A\nB\",1,2\n",
    ] {
        assert!(both(s.as_bytes()).0.is_none(), "{s:?}");
    }
}
