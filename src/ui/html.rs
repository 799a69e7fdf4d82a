//! HTML building blocks: escaping, the page frame, the stylesheet, number formatting.
//!
//! Pages are small and few, so they are plain `format!` with one escaping function rather than
//! a template engine; every value that came from the journal or the gateway goes through
//! [`esc`]. The stylesheet is served as a file (`/pbal.css`) so the page's CSP can forbid
//! inline styles; self-contained reports embed the same text in a `<style>` element.
use rust_decimal::{Decimal, RoundingStrategy};

/// The one stylesheet: readable on a phone (fluid width, large tap targets), no web fonts.
pub const CSS: &str = r#"
:root { color-scheme: light dark; }
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0.75rem; line-height: 1.4; }
nav a { margin-right: 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
.card { border: 1px solid #8884; border-radius: 0.5rem; padding: 0.75rem; margin: 1rem 0; }
.pending { border-color: #2563eb; border-width: 2px; }
.state { font-weight: bold; text-transform: uppercase; font-size: 0.85rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #8883; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.buttons { display: flex; gap: 0.75rem; flex-wrap: wrap; margin-top: 1rem; }
.buttons form { margin: 0; }
button { font-size: 1.05rem; padding: 0.7rem 1.4rem; border-radius: 0.4rem; border: 1px solid #8886; cursor: pointer; }
button.approve { background: #15803d; color: #fff; border-color: #15803d; }
button.reject { background: #b91c1c; color: #fff; border-color: #b91c1c; }
.ok { color: #15803d; } .bad { color: #b91c1c; } .warn { color: #b45309; }
.notice { padding: 0.6rem; border-radius: 0.4rem; background: #fef3c7; color: #78350f; }
svg.chart { max-width: 100%; height: auto; }
svg.chart text { fill: currentColor; }
ul.guards { padding-left: 1.2rem; }
"#;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Money to cents, always two decimals.
pub fn money(v: Decimal) -> String {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r.to_string()
}

/// A weight (fraction of 1) as a percentage with two decimals.
pub fn percent(w: Decimal) -> String {
    let mut r = (w * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    format!("{r}%")
}

/// How the page is being rendered: served (stylesheet link, navigation with the token) or as a
/// self-contained report file (embedded stylesheet, no navigation).
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Served {
        token: &'a str,
    },
    /// Served without navigation (refusals and errors: no token to link with).
    Plain,
    Report,
}

/// A whole page around `body`.
pub fn page(frame: Frame<'_>, title: &str, body: &str) -> String {
    let (style, nav) = match frame {
        Frame::Served { token } => {
            let t = esc(token);
            (
                r#"<link rel="stylesheet" href="/pbal.css">"#.to_owned(),
                format!(
                    r#"<nav><a href="/?token={t}">Staged plans</a><a href="/history?token={t}">History</a><a href="/status?token={t}">Status</a></nav>"#
                ),
            )
        }
        Frame::Plain => (
            r#"<link rel="stylesheet" href="/pbal.css">"#.to_owned(),
            String::new(),
        ),
        Frame::Report => (format!("<style>{CSS}</style>"), String::new()),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>{title} · pbal</title>{style}</head>
<body>{nav}<h1>{title}</h1>
{body}
</body></html>
"#,
        title = esc(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn numbers_are_rounded_once_half_away_from_zero() {
        assert_eq!(money(dec!(1.005)), "1.01");
        assert_eq!(money(dec!(-2)), "-2.00");
        assert_eq!(percent(dec!(0.123456)), "12.35%");
    }

    #[test]
    fn report_frame_is_self_contained() {
        let p = page(Frame::Report, "Run <1>", "<p>x</p>");
        assert!(p.contains("<style>") && !p.contains("href=\"/pbal.css\""));
        assert!(p.contains("Run &lt;1&gt;"));
        let p = page(Frame::Served { token: "abc" }, "t", "");
        assert!(p.contains("/history?token=abc") && p.contains("/pbal.css"));
    }
}
