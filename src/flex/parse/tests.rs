use std::path::Path;

use chrono::NaiveDate;
use rust_decimal_macros::dec;

use super::*;

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<FlexQueryResponse queryName="lots" type="AF">
 <FlexStatements count="1">
  <FlexStatement accountId="U1234567" fromDate="20250101" toDate="20250630">
   <OpenPositions>
    <OpenPosition symbol="VTI" conid="12345" position="30" levelOfDetail="SUMMARY" costBasisPrice="180" />
    <OpenPosition levelOfDetail="LOT" position="10" costBasisPrice="150.25" symbol="VTI" conid="12345"
        openDateTime="20240115;093000" holdingPeriodDateTime="20240115;093000" extra="x" />
    <OpenPosition symbol="VTI" conid="12345" position="20" levelOfDetail="LOT" costBasisMoney="3900"
        openDateTime="20250301;100000" holdingPeriodDateTime="20231201;100000" />
   </OpenPositions>
   <Trades>
    <Trade symbol="VTI" tradeDate="20250610" quantity="-5" buySell="SELL" fifoPnlRealized="-120.5" levelOfDetail="EXECUTION" notes="P" />
    <Lot symbol="VTI" tradeDate="20250610" quantity="5" buySell="SELL" fifoPnlRealized="-120.5" levelOfDetail="CLOSED_LOT" notes="ST" />
    <Trade symbol="BND" tradeDate="20250612" quantity="3" buySell="BUY" fifoPnlRealized="0" levelOfDetail="EXECUTION" />
    <Trade symbol="BND" tradeDate="20250613" quantity="-3" buySell="BUY (Ca.)" fifoPnlRealized="0" levelOfDetail="EXECUTION" />
    <Trade symbol="BND" tradeDate="20250620" quantity="2" buySell="SELL" fifoPnlRealized="40" levelOfDetail="EXECUTION" notes="LT;P" />
   </Trades>
  </FlexStatement>
 </FlexStatements>
</FlexQueryResponse>
"#;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn reads_lot_level_open_positions_from_xml() {
    let lots = parse_lots(Path::new("l.xml"), XML.as_bytes()).unwrap();
    assert_eq!(lots.len(), 2, "the SUMMARY row is skipped");
    assert_eq!(lots[0].symbol, "VTI");
    assert_eq!(lots[0].conid, Some(12345));
    assert_eq!(lots[0].quantity, dec!(10));
    assert_eq!(lots[0].cost_basis_price, dec!(150.25));
    assert_eq!(lots[0].open.to_string(), "2024-01-15 09:30:00");
    // CostBasisMoney / Quantity; the holding period starts before the open (tacked).
    assert_eq!(lots[1].cost_basis_price, dec!(195));
    assert_eq!(lots[1].holding_start, day("2023-12-01"));
}

#[test]
fn reads_trades_from_xml_executions_only() {
    let t = parse_trades(Path::new("t.xml"), XML.as_bytes()).unwrap();
    assert_eq!(t.len(), 3, "CLOSED_LOT rows and cancellations are skipped");
    assert_eq!(t[0].quantity, dec!(-5));
    assert_eq!(t[0].realized_pnl, dec!(-120.5));
    assert_eq!(t[0].trade_date, day("2025-06-10"));
    assert_eq!(t[1].quantity, dec!(3));
    // A sell written with a positive quantity is still a sale; LT from the notes.
    assert_eq!(t[2].quantity, dec!(-2));
    assert_eq!(t[2].term, Some(Term::Long));
}

#[test]
fn reads_plain_csv_in_any_column_order_with_iso_dates() {
    let csv = "\u{feff}\"HoldingPeriodDateTime\",\"Extra\",\"Symbol\",\"Quantity\",\"CostBasisPrice\",\"OpenDateTime\",\"LevelOfDetail\"\r\n\
               \"2024-01-15\",\"x\",\"VTI\",\"30\",\"180\",\"\",\"SUMMARY\"\r\n\
               \"2024-01-15\",\"x\",\"VTI\",\"10\",\"150\",\"2024-01-15;09:30:00\",\"LOT\"\r\n\
               \"20240301\",\"x\",\"VTI\",\"20\",\"195\",\"20240301\",\"LOT\"\r\n";
    let lots = parse_lots(Path::new("l.csv"), csv.as_bytes()).unwrap();
    assert_eq!(lots.len(), 2);
    assert_eq!(lots[1].open.date(), day("2024-03-01"));
    assert_eq!(lots[0].holding_start, day("2024-01-15"));
}

#[test]
fn reads_csv_with_record_descriptors_and_several_sections() {
    let csv = "\"BOF\",\"U1\",\"q\",\"2\",\"20250101\",\"20250630\"\n\
               \"BOA\",\"U1\"\n\
               \"BOS\",\"POST\",\"Open Positions\"\n\
               \"HEADER\",\"POST\",\"Symbol\",\"Quantity\",\"CostBasisPrice\",\"OpenDateTime\",\"HoldingPeriodDateTime\",\"LevelOfDetail\"\n\
               \"DATA\",\"POST\",\"VTI\",\"10\",\"150\",\"20240115;093000\",\"20240115;093000\",\"LOT\"\n\
               \"EOS\",\"POST\",\"1\"\n\
               \"BOS\",\"TRNT\",\"Trades\"\n\
               \"HEADER\",\"TRNT\",\"Symbol\",\"TradeDate\",\"Quantity\",\"FifoPnlRealized\",\"Buy/Sell\"\n\
               \"DATA\",\"TRNT\",\"VTI\",\"20250610\",\"-5\",\"-1,120.50\",\"SELL\"\n\
               \"EOS\",\"TRNT\",\"1\"\n\
               \"EOA\",\"U1\"\n\"EOF\",\"U1\"\n";
    let lots = parse_lots(Path::new("f.csv"), csv.as_bytes()).unwrap();
    assert_eq!(lots.len(), 1);
    assert_eq!(lots[0].quantity, dec!(10));
    let t = parse_trades(Path::new("f.csv"), csv.as_bytes()).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].realized_pnl, dec!(-1120.50));
}

#[test]
fn errors_name_file_line_and_column() {
    let cases: [(&str, &str); 6] = [
        (
            "Symbol,Quantity,CostBasisPrice,OpenDateTime\nVTI,10,150,20240115\nVTI,abc,1,20240115\n",
            "l.csv:3: column Quantity: \"abc\" is not a number",
        ),
        (
            "Symbol,Quantity,CostBasisPrice,OpenDateTime\nVTI,10,150,2024/01/15\n",
            "l.csv:2: column OpenDateTime: \"2024/01/15\" is not a date",
        ),
        (
            "Symbol,Quantity,CostBasisPrice,OpenDateTime\nVTI,-10,150,20240115\n",
            "l.csv:2: column Quantity: must be positive",
        ),
        (
            "Symbol,Quantity,OpenDateTime\nVTI,10,20240115\n",
            "l.csv:2: column CostBasisMoney: missing or empty",
        ),
        (
            "Symbol,Quantity,CostBasisPrice,OpenDateTime\nVTI,10,150\n",
            "l.csv:2: 3 fields, but the header has 4",
        ),
        (
            "<FlexQueryResponse>\n<OpenPosition symbol=\"A\" position=\"1\"\n costBasisPrice=\"1\" openDateTime=\"soon\"/>\n</FlexQueryResponse>",
            "l.csv:2: column openDateTime: \"soon\" is not a date",
        ),
    ];
    for (input, want) in cases {
        let e = parse_lots(Path::new("l.csv"), input.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "{input:?}: got {e:?}, want {want:?}");
    }
    let e = parse_lots(Path::new("l.xml"), b"<A><OpenPosition symbol=\"x></A>")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("l.xml:1: malformed"), "{e}");
}
