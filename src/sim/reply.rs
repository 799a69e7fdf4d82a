//! A gateway answer before it becomes HTTP ([`Reply`]), and the number formats IBKR uses in
//! its JSON. Endpoint handlers are plain functions of the simulator state that return a
//! [`Reply`], so they can be read (and tested) without any HTTP machinery.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A response before it becomes HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Body,
    pub cookies: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Value),
    Text(String),
    Html(String),
    Empty,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(v),
            cookies: vec![],
        }
    }
    pub fn ok(v: Value) -> Reply {
        Reply::json(200, v)
    }
    pub fn error(status: u16, msg: &str) -> Reply {
        Reply::json(status, json!({ "error": msg }))
    }
    pub fn text(status: u16, t: &str) -> Reply {
        Reply {
            status,
            body: Body::Text(t.to_string()),
            cookies: vec![],
        }
    }
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Body::Empty,
            cookies: vec![],
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let typed = |ct: &'static str, text: String| {
            (status, [(header::CONTENT_TYPE, ct)], text).into_response()
        };
        let mut resp = match self.body {
            Body::Json(v) => typed("application/json;charset=utf-8", v.to_string()),
            Body::Text(t) => typed("text/plain;charset=utf-8", t),
            Body::Html(t) => typed("text/html;charset=utf-8", t),
            Body::Empty => status.into_response(),
        };
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Exact decimal as a JSON number (serde_json keeps the digits with arbitrary precision).
pub(crate) fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// `1234.5` → `"1,234.50"` (IBKR's formatted strings).
pub(crate) fn thousands(d: Decimal, dp: u32) -> String {
    let d = d.round_dp(dp);
    let neg = d.is_sign_negative() && !d.is_zero();
    let s = format!("{:.*}", dp as usize, d.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (s.clone(), None),
    };
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    if neg { format!("-{out}") } else { out }
}

/// A quantity as IBKR prints it: thousands separators, no trailing zeros (`"1,200"`, `"2.5"`).
pub(crate) fn qty_str(d: Decimal) -> String {
    thousands(d.normalize(), d.normalize().scale())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn thousands_formats_like_ibkr() {
        assert_eq!(thousands(dec!(6409.2), 2), "6,409.20");
        assert_eq!(thousands(dec!(1234567), 0), "1,234,567");
        assert_eq!(thousands(dec!(-1), 0), "-1");
        assert_eq!(thousands(dec!(12), 2), "12.00");
        assert_eq!(qty_str(dec!(2.5)), "2.5");
        assert_eq!(qty_str(dec!(12.000)), "12");
    }

    #[test]
    fn num_keeps_exact_decimals() {
        assert_eq!(num(dec!(128.62)).to_string(), "128.62");
        assert_eq!(num(dec!(117)).to_string(), "117");
    }
}
