//! The CSV reader's behaviour through `parse_holdings` and `parse_targets`: the Flex Query's
//! quirks, the plain layout, errors located by file, line and column, large files.
use rust_decimal_macros::dec;

use super::*;

fn parse(s: &str) -> Result<Vec<Holding>, CsvError> {
    parse_holdings(Path::new("p.csv"), s.as_bytes())
}

#[test]
fn reads_the_flex_query_format_with_its_quirks() {
    let s = "\u{feff}\"Extra\",\"MarkPrice\",\"Symbol\",\"FifoPnlUnrealized\",\"PositionValue\"\r\n\
             x, \"10.0\" ,FOO,\"-1000.00\", 50000.0 \r\n\
             \r\n\
             y,5,BAR,1000,100000\r\n";
    let hs = parse(s).unwrap();
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[0].symbol, "FOO");
    assert_eq!(hs[0].price, dec!(10.0));
    assert_eq!(hs[0].value(), dec!(50000.0));
    assert_eq!(hs[0].quantity, dec!(5000));
    assert_eq!(hs[0].unrealized_pnl, dec!(-1000));
    assert_eq!(hs[1].value(), dec!(100000));
}

#[test]
fn reads_the_plain_format() {
    let hs = parse("symbol,quantity,price\nAAA,3.5,10\nBBB,0,7.25\n").unwrap();
    assert_eq!(hs[0].value(), dec!(35.0));
    assert_eq!(hs[1].quantity, Decimal::ZERO);
    assert_eq!(hs[1].unrealized_pnl, Decimal::ZERO);
}

#[test]
fn the_seed_files_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let hs = read_holdings(&dir.join("portfolio.csv")).unwrap();
    assert_eq!(hs.len(), 10);
}

#[test]
fn errors_name_file_line_and_column() {
    let cases = [
        (
            "Symbol,PositionValue,MarkPrice\nA,1,2\nB,,3\n",
            "p.csv:3: column PositionValue: empty",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,abc\n",
            "p.csv:2: column MarkPrice: \"abc\" is not a number",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,0\n",
            "p.csv:2: column MarkPrice: price must be positive",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,-2\n",
            "p.csv:2: column MarkPrice: price must be positive",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,2\nA,3,4\n",
            "p.csv:3: column Symbol: duplicate symbol A (first on line 2)",
        ),
        (
            "Symbol,MarkPrice\nA,1\n",
            "p.csv:1: missing column(s) PositionValue",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,NaN\n",
            "p.csv:2: column MarkPrice: \"NaN\" is not a number",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1,inf\n",
            "p.csv:2: column MarkPrice: \"inf\" is not a number",
        ),
        (
            "Symbol,PositionValue,MarkPrice\nA,1\n",
            "p.csv:2: 2 fields, but the header has 3",
        ),
        ("", "p.csv:1: empty file"),
    ];
    for (input, want) in cases {
        let e = parse(input).unwrap_err().to_string();
        assert!(e.starts_with(want), "{input:?}: got {e:?}, want {want:?}");
    }
}

#[test]
fn large_files_parse_in_two_halves_with_exact_line_numbers() {
    let rows = 40_000;
    let mut s =
        String::from("\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\r\n");
    for i in 0..rows {
        s.push_str(&format!(
            "\"S{i:06}\",\"{}.50\",\"{}.25\",\"-1.5\"\r\n",
            i + 1,
            i % 97 + 1
        ));
    }
    assert!(s.len() > PARALLEL_BYTES);
    let hs = parse(&s).unwrap();
    assert_eq!(hs.len(), rows);
    assert_eq!(hs[rows - 1].symbol, format!("S{:06}", rows - 1));
    assert_eq!(hs[rows - 1].value(), Decimal::from(rows) + dec!(0.5));
    // Errors near the end (second half) and a duplicate across the halves keep their lines.
    let bad = s.replace("\"S039000\",\"39001.50\"", "\"S039000\",\"x\"");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.starts_with("p.csv:39002: column PositionValue"), "{e}");
    let dup = s.replace("\"S039990\"", "\"S000003\"");
    let e = parse(&dup).unwrap_err().to_string();
    assert!(
        e.starts_with("p.csv:39992: column Symbol: duplicate symbol S000003 (first on line 5)"),
        "{e}"
    );
}

#[test]
fn reads_targets() {
    let t = parse_targets(Path::new("t.csv"), b"symbol,weight\nAAA,1\nBBB, 3 \n").unwrap();
    assert_eq!(t["BBB"], dec!(3));
    let e = parse_targets(Path::new("t.csv"), b"symbol,weight\nAAA,-1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.csv:2: column weight: must not be negative, got -1"
    );
}

#[test]
fn blank_lines_before_the_header_keep_line_numbers_true() {
    // A spreadsheet export can start with empty lines; the csv crate skips them before the
    // header, and every line number after must still be the line in the file.
    let e = parse("\n\nsymbol,quantity,price\nAAA,1,10\nBBB,2,20\nCCC,3\n")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "p.csv:6: 2 fields, but the header has 3");
    let e = parse("\r\n\r\nsymbol,quantity,price\r\nAAA,1,x\r\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.csv:4: column price"), "{e}");
    // The same in a file large enough to be read in two halves.
    let mut s = String::from("\n\n\nsymbol,quantity,price\n");
    for i in 0..100_000 {
        s.push_str(&format!("S{i:06},{},{}.25\n", i % 9 + 1, i % 97 + 1));
    }
    assert!(s.len() > PARALLEL_BYTES);
    let bad = s.replace("S059000,", "S059000,x");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.starts_with("p.csv:59005: column quantity"), "{e}");
    let bad = s.replace("S000002,", "S000002,x");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.starts_with("p.csv:7: column quantity"), "{e}");
}

/// Found by review: a Flex row whose value over its price is beyond `Decimal` (a price of
/// 1e-18 against 1e17) panicked ("Division overflowed") in both readers. It is bad input, so
/// it is an error naming the file, line and column, in the fast reader's layout and in one
/// only the general reader takes.
#[test]
fn a_share_count_beyond_decimal_is_an_error_not_a_panic() {
    for s in [
        "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"\n\
         \"AAA\",\"10\",\"2\",\"0\"\n\
         \"BBB\",\"100000000000000000\",\"0.000000000000000001\",\"0\"\n",
        "Symbol, PositionValue ,MarkPrice\n AAA ,10,2\n BBB ,100000000000000000,1e-18\n",
    ] {
        let e = std::panic::catch_unwind(|| parse(s))
            .expect("no panic")
            .unwrap_err();
        assert_eq!(e.line(), Some(3), "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("p.csv:3: column PositionValue: "),
            "{text}"
        );
        assert!(text.contains("MarkPrice"), "{text}");
    }
}
