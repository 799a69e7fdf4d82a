//! Plan rendering for `pbal plan`: a human table and a stable JSON document.
//!
//! The plan itself keeps exact decimals; rendering is where money is rounded to cents and
//! weights to four places (half away from zero), once, so every consumer sees the same
//! figures. JSON numbers are written from the decimal text (never through `f64`).
use std::fmt::Write as _;
use std::io::{self, Write};

use rust_decimal::Decimal;

use crate::strategy::{
    Granularity, MarginSummary, Outline, Plan, PlanLine, Strategy, TradeOf, trade_of,
};

mod fixed;
mod table;

pub use table::write_table;

/// What the writers print: a collected [`Plan`], or an [`Outline`] whose lines are computed
/// as they are written. Why both: at 10^5 rows `pbal plan` kept ~37 MB of lines and orders
/// only to print each once; from an outline the writers see the same lines a chunk at a
/// time (see `strategy::build`), so a printed outline is byte for byte its plan (tested).
pub trait Source {
    /// Everything but the lines and the orders.
    fn head(&self) -> Head<'_>;
    /// Number of lines.
    fn line_count(&self) -> usize;
    /// Calls `f` with every line, in order, in one or more chunks.
    fn each_lines(&self, f: &mut dyn FnMut(&[PlanLine]) -> io::Result<()>) -> io::Result<()>;
    /// Calls `f` with every order, in order.
    fn each_trade(&self, f: &mut dyn FnMut(TradeOf<'_>) -> io::Result<()>) -> io::Result<()>;
}

/// A plan's figures besides its lines and orders, as the writers print them.
pub struct Head<'a> {
    pub strategy: Strategy,
    pub granularity: Granularity,
    pub cash: Decimal,
    pub buffer: Decimal,
    pub cash_used: Decimal,
    pub cash_left: Decimal,
    pub total_before: Decimal,
    pub total_after: Decimal,
    pub proven_optimal: bool,
    /// Number of orders.
    pub trades: usize,
    pub notes: &'a [String],
    pub margin: Option<&'a MarginSummary>,
}

impl Source for Plan {
    fn head(&self) -> Head<'_> {
        Head {
            strategy: self.strategy,
            granularity: self.granularity,
            cash: self.cash,
            buffer: self.buffer,
            cash_used: self.cash_used,
            cash_left: self.cash_left,
            total_before: self.total_before,
            total_after: self.total_after,
            proven_optimal: self.proven_optimal,
            trades: self.trades.len(),
            notes: &self.notes,
            margin: self.margin.as_ref(),
        }
    }

    fn line_count(&self) -> usize {
        self.lines.len()
    }

    fn each_lines(&self, f: &mut dyn FnMut(&[PlanLine]) -> io::Result<()>) -> io::Result<()> {
        f(&self.lines)
    }

    fn each_trade(&self, f: &mut dyn FnMut(TradeOf<'_>) -> io::Result<()>) -> io::Result<()> {
        for t in &self.trades {
            f(TradeOf {
                symbol: &t.symbol,
                side: t.side,
                shares: t.shares,
                value: t.value,
            })?;
        }
        Ok(())
    }
}

impl Source for Outline<'_> {
    fn head(&self) -> Head<'_> {
        Head {
            strategy: self.strategy,
            granularity: self.granularity,
            cash: self.cash,
            buffer: self.buffer,
            cash_used: self.cash_used,
            cash_left: self.cash_left,
            total_before: self.total_before,
            total_after: self.total_after,
            proven_optimal: self.proven_optimal,
            trades: self.trade_count(),
            notes: &self.notes,
            margin: self.margin.as_ref(),
        }
    }

    fn line_count(&self) -> usize {
        self.len()
    }

    fn each_lines(&self, f: &mut dyn FnMut(&[PlanLine]) -> io::Result<()>) -> io::Result<()> {
        Outline::each_lines(self, f)
    }

    fn each_trade(&self, f: &mut dyn FnMut(TradeOf<'_>) -> io::Result<()>) -> io::Result<()> {
        Outline::each_lines(self, |lines| {
            for t in lines.iter().filter_map(trade_of) {
                f(t)?;
            }
            Ok(())
        })
    }
}

use fixed::slow::{money, round};

/// A JSON string; symbols are nearly always plain ASCII, which needs no escaping.
fn json_str(o: &mut Vec<u8>, v: &str) {
    if v.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        o.push(b'"');
        o.extend_from_slice(v.as_bytes());
        o.push(b'"');
    } else {
        // serde_json escapes correctly; writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *o, v);
    }
}

/// Writes the plan as one JSON document (money in cents, weights as fractions, trade values
/// and shares signed in `positions`, unsigned with a side in `trades`).
///
/// Streamed by hand rather than through `serde_json::Number`: numbers are the decimal text
/// itself (exact, never via `f64`), and 10^5 positions render in a few milliseconds.
pub fn write_json(source: &impl Source, out: impl Write) -> io::Result<()> {
    // Rendered into a 256 KiB buffer that is flushed when nearly full: per-field writes
    // through a `BufWriter` cost more than the formatting at 10^5 rows, and one buffer for
    // the whole document costs thousands of page faults.
    const CHUNK: usize = 1 << 18;
    let mut out = out;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let o = &mut buf;
    let plan = source.head();
    write!(
        o,
        "{{\"strategy\":\"{}\",\"granularity\":\"{}\",\"cash\":{},\"buffer\":{},\
         \"cash_used\":{},\"cash_left\":{},\"total_before\":{},\"total_after\":{},\
         \"proven_optimal\":{},",
        plan.strategy.as_str(),
        plan.granularity,
        money(plan.cash),
        money(plan.buffer),
        money(plan.cash_used),
        money(plan.cash_left),
        money(plan.total_before),
        money(plan.total_after),
        plan.proven_optimal,
    )?;
    if let Some(m) = plan.margin {
        write_margin_json(o, m)?;
    }
    if !plan.notes.is_empty() {
        o.extend_from_slice(b"\"notes\":[");
        for (i, n) in plan.notes.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            json_str(o, n);
        }
        o.extend_from_slice(b"],");
    }
    o.extend_from_slice(b"\"positions\":[");
    let mut first = true;
    source.each_lines(&mut |lines| {
        for l in lines {
            if o.len() > CHUNK {
                out.write_all(o)?;
                o.clear();
            }
            if !std::mem::take(&mut first) {
                o.extend_from_slice(b",");
            }
            position_json(o, l);
        }
        Ok(())
    })?;
    o.extend_from_slice(b"],\"trades\":[");
    let mut first = true;
    source.each_trade(&mut |t| {
        if o.len() > CHUNK {
            out.write_all(o)?;
            o.clear();
        }
        if !std::mem::take(&mut first) {
            o.extend_from_slice(b",");
        }
        o.extend_from_slice(b"{\"symbol\":");
        json_str(o, t.symbol);
        o.extend_from_slice(b",\"side\":\"");
        o.extend_from_slice(t.side.as_str().as_bytes());
        o.extend_from_slice(b"\",\"shares\":");
        fixed::shares(o, t.shares);
        o.extend_from_slice(b",\"value\":");
        fixed::money(o, t.value);
        o.extend_from_slice(b"}");
        Ok(())
    })?;
    o.extend_from_slice(b"]}\n");
    out.write_all(o)
}

/// One `positions` entry, written without allocating (each key a constant-length copy).
fn position_json(o: &mut Vec<u8>, l: &crate::strategy::PlanLine) {
    o.extend_from_slice(b"{\"symbol\":");
    json_str(o, &l.symbol);
    o.extend_from_slice(b",\"price\":");
    fixed::normalized(o, l.price);
    o.extend_from_slice(b",\"value_before\":");
    fixed::fixed_dp(o, l.value_before, 2);
    o.extend_from_slice(b",\"target_weight\":");
    fixed::fixed_dp(o, l.target_weight, 4);
    o.extend_from_slice(b",\"trade_value\":");
    fixed::fixed_dp(o, l.trade_value, 2);
    o.extend_from_slice(b",\"trade_shares\":");
    fixed::shares(o, l.trade_shares);
    o.extend_from_slice(b",\"value_after\":");
    fixed::fixed_dp(o, l.value_after, 2);
    o.extend_from_slice(b",\"weight_before\":");
    fixed::fixed_dp(o, l.weight_before, 4);
    o.extend_from_slice(b",\"weight_after\":");
    fixed::fixed_dp(o, l.weight_after, 4);
    o.extend_from_slice(b"}");
}

/// The `margin` object: money in cents, percentages with two decimals.
fn write_margin_json(o: &mut Vec<u8>, m: &MarginSummary) -> io::Result<()> {
    write!(
        o,
        "\"margin\":{{\"max_margin_pct\":{},\"loan_limit\":{},\"loan_before\":{},\
         \"loan_new\":{},\"loan_after\":{},\"net_liquidation\":{},\
         \"excess_liquidity_before\":{},\"excess_liquidity_after\":{},\
         \"cushion_pct_after\":{},\"min_cushion_pct\":{}}},",
        round(m.max_margin_pct, 2).normalize(),
        money(m.loan_limit),
        money(m.loan_before),
        money(m.loan_new),
        money(m.loan_after),
        money(m.net_liquidation),
        money(m.excess_liquidity_before),
        money(m.excess_liquidity_after),
        money(m.cushion_pct_after),
        round(m.min_cushion_pct, 2).normalize(),
    )
}

/// The table's margin footer: the loan against its limit, the cushion against its minimum.
fn margin_footer(s: &mut String, m: &MarginSummary) {
    let _ = writeln!(
        s,
        "Margin loan {:.2} new, {:.2} after (limit {:.2} = {}% of net liquidation {:.2})",
        money(m.loan_new),
        money(m.loan_after),
        money(m.loan_limit),
        round(m.max_margin_pct, 2).normalize(),
        money(m.net_liquidation),
    );
    let _ = writeln!(
        s,
        "Excess liquidity {:.2} now, at least {:.2} after: cushion {:.2}% (minimum {}%)",
        money(m.excess_liquidity_before),
        money(m.excess_liquidity_after),
        money(m.cushion_pct_after),
        round(m.min_cushion_pct, 2).normalize(),
    );
}

/// Renders the plan as an aligned text table with a cash footer.
pub fn render_table(plan: &Plan) -> String {
    let mut out = Vec::with_capacity((plan.lines.len() + 8) * 120);
    // Writing into a Vec cannot fail, and every byte written is UTF-8 (symbols are `str`).
    let _ = write_table(plan, &mut out);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The lines under the table: strategy, cash, totals, margin, notes.
fn table_footer(plan: &Head<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Strategy {}, granularity {}{}",
        plan.strategy,
        plan.granularity,
        match (plan.granularity, plan.proven_optimal) {
            (Granularity::Shares, true) => " (proven optimal)",
            (Granularity::Shares, false) => " (best found; optimality not proven)",
            _ => "",
        }
    );
    let _ = writeln!(
        s,
        "Cash requested {:.2}, used {:.2}, left {:.2}{}",
        money(plan.cash),
        money(plan.cash_used),
        money(plan.cash_left),
        if plan.buffer > Decimal::ZERO {
            format!(" (buffer {:.2})", money(plan.buffer))
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "Total before {:.2}, after {:.2}; {} trade(s)",
        money(plan.total_before),
        money(plan.total_after),
        plan.trades
    );
    if let Some(m) = plan.margin {
        margin_footer(&mut s, m);
    }
    for n in plan.notes {
        let _ = writeln!(s, "Note: {n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::strategy::{Granularity, Holding, PlanRequest, plan};

    fn sample() -> Plan {
        let hs = vec![
            Holding::new("AAA", dec!(10), dec!(33.333)),
            Holding::new("BBB", dec!(20), dec!(10)),
        ];
        let mut req = PlanRequest::new(hs, dec!(100));
        req.granularity = Granularity::Shares;
        plan(&req).unwrap()
    }

    #[test]
    fn json_has_the_documented_shape_with_exact_numbers() {
        let p = sample();
        let mut buf = Vec::new();
        write_json(&p, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["strategy"], "never-sell");
        assert_eq!(v["granularity"], "shares");
        assert!(v["cash"].is_number());
        // Numbers keep their decimal digits (no binary floating point on the way).
        assert!(text.contains("\"price\":33.333"), "{text}");
        assert!(text.contains("\"value_before\":333.33"), "{text}");
        let pos = v["positions"].as_array().unwrap();
        assert_eq!(pos.len(), 2);
        for key in [
            "symbol",
            "price",
            "value_before",
            "target_weight",
            "trade_value",
            "trade_shares",
            "value_after",
            "weight_before",
            "weight_after",
        ] {
            assert!(!pos[0][key].is_null(), "{key}");
        }
        let trades = v["trades"].as_array().unwrap();
        assert_eq!(trades.len(), p.trades.len());
        assert_eq!(trades[0]["side"], "BUY");
    }

    #[test]
    fn notes_reach_the_json_and_the_table() {
        let mut p = sample();
        p.notes = vec!["FOO: closes \"x\"".into(), "second".into()];
        let mut buf = Vec::new();
        write_json(&p, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["notes"][0], "FOO: closes \"x\"");
        assert_eq!(v["notes"][1], "second");
        let table = render_table(&p);
        assert!(table.contains("Note: second"), "{table}");
        p.notes.clear();
        let mut buf = Vec::new();
        write_json(&p, &mut buf).unwrap();
        assert!(!String::from_utf8(buf).unwrap().contains("notes"));
    }

    #[test]
    fn margin_loan_and_cushion_reach_the_json_and_the_table() {
        let req = PlanRequest::new(
            vec![
                Holding::new("A", dec!(500), dec!(100)),
                Holding::new("B", dec!(300), dec!(100)),
            ],
            dec!(0),
        );
        let m = crate::strategy::MarginRequest {
            max_margin_pct: dec!(25),
            min_cushion_pct: dec!(10),
            net_liquidation: dec!(80000),
            excess_liquidity: Some(dec!(60000)),
            existing_loan: dec!(0),
            max_new_loan: None,
            maintenance_pct: dec!(25),
        };
        let p = crate::strategy::margin::plan(&req, &m).unwrap();
        let mut buf = Vec::new();
        write_json(&p, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let j = &v["margin"];
        assert_eq!(j["loan_new"].to_string(), "20000.00");
        assert_eq!(j["loan_limit"].to_string(), "20000.00");
        assert_eq!(j["excess_liquidity_after"].to_string(), "35000.00");
        assert_eq!(j["cushion_pct_after"].to_string(), "43.75");
        assert_eq!(j["min_cushion_pct"].to_string(), "10");
        assert_eq!(v["cash_left"].to_string(), "-20000.00");
        let t = render_table(&p);
        assert!(
            t.contains("Margin loan 20000.00 new, 20000.00 after (limit 20000.00 = 25% of net liquidation 80000.00)"),
            "{t}"
        );
        assert!(
            t.contains("at least 35000.00 after: cushion 43.75% (minimum 10%)"),
            "{t}"
        );
        // Without a margin budget there is no margin key.
        let mut buf = Vec::new();
        write_json(&sample(), &mut buf).unwrap();
        assert!(!String::from_utf8(buf).unwrap().contains("margin"));
    }

    #[test]
    fn fixed_point_text_is_exact() {
        for (v, want) in [
            (dec!(0), "0"),
            (dec!(0.00), "0.00"),
            (dec!(5), "5"),
            (dec!(-1234.5), "-1234.5"),
            (dec!(0.0602), "0.0602"),
            (dec!(-0.05), "-0.05"),
            (dec!(112900.48), "112900.48"),
            (
                dec!(79228162514264337593543950335),
                "79228162514264337593543950335",
            ),
        ] {
            let mut out = Vec::new();
            fixed::slow::fixed(&mut out, v);
            let mut fast = Vec::new();
            fixed::normalized(&mut fast, v);
            assert_eq!(fast, v.normalize().to_string().as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), want);
            assert_eq!(v.to_string(), want);
        }
        for (v, dp, want) in [
            (dec!(8000), 2, "8000.00"),
            (dec!(0), 2, "0.00"),
            (dec!(-0.004), 2, "0.00"),
            (dec!(-0.005), 2, "-0.01"),
            (dec!(83.1), 2, "83.10"),
            (dec!(0.06021), 4, "0.0602"),
            (dec!(0.1), 4, "0.1000"),
            (dec!(-12.345), 2, "-12.35"),
        ] {
            let mut out = Vec::new();
            fixed::fixed_dp(&mut out, v, dp);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v} {dp}");
        }
    }

    #[test]
    fn table_has_a_row_per_symbol_and_a_cash_footer() {
        let p = sample();
        let t = render_table(&p);
        assert!(t.lines().next().unwrap().starts_with("Symbol"));
        assert!(t.lines().any(|l| l.starts_with("AAA ")));
        assert!(t.lines().any(|l| l.starts_with("BBB ")));
        let footer = format!(
            "Cash requested 100.00, used {:.2}, left {:.2}",
            p.cash_used, p.cash_left
        );
        assert!(t.contains(&footer), "{t}");
    }
}

#[cfg(test)]
#[path = "report/source_tests.rs"]
mod source_tests;
