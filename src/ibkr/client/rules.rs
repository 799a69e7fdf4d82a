//! Contract trading rules: the price increments a limit price must respect.
//!
//! Why: a limit price off the contract's tick is rejected by IBKR (or rounded by it, possibly
//! the wrong way). `POST /iserver/contract/rules` lists `incrementRules` — from `lowerEdge`
//! upwards, prices are multiples of `increment` — so pbal rounds its limits onto them itself.
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;

/// One price-increment rule: from `lower_edge` upwards, prices are multiples of `increment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceIncrement {
    pub lower_edge: Decimal,
    pub increment: Decimal,
}

impl GatewayClient {
    /// The price increments of `conid` for a buy (`is_buy`) or a sell. Falls back to the
    /// single `increment` field when `incrementRules` is absent; an empty list means the
    /// gateway named none.
    ///
    /// # Errors
    /// Transport, session and decode errors (an increment that is not a positive number).
    pub async fn price_increments(
        &self,
        conid: Conid,
        is_buy: bool,
    ) -> Result<Vec<PriceIncrement>, GatewayError> {
        let ep = "/iserver/contract/rules";
        let v = self
            .request(Req::post(ep, json!({"conid": conid, "isBuy": is_buy})).idempotent())
            .await?;
        parse_increments(&v, ep)
    }
}

fn number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => crate::ibkr::types::parse_decimal(&n.to_string()).ok(),
        Value::String(s) => crate::ibkr::types::parse_decimal(s).ok(),
        _ => None,
    }
}

fn parse_increments(v: &Value, ep: &str) -> Result<Vec<PriceIncrement>, GatewayError> {
    // `info-and-rules` nests the rules under `rules`; `/contract/rules` answers them bare.
    let rules = v.get("rules").unwrap_or(v);
    let bad = |what: String| GatewayError::decode(ep, what);
    let mut out = Vec::new();
    if let Some(list) = rules.get("incrementRules").and_then(Value::as_array) {
        for r in list {
            let edge = r.get("lowerEdge").and_then(number).unwrap_or_default();
            let inc = r
                .get("increment")
                .and_then(number)
                .filter(|i| *i > Decimal::ZERO)
                .ok_or_else(|| bad(format!("increment rule without a positive increment: {r}")))?;
            out.push(PriceIncrement {
                lower_edge: edge,
                increment: inc,
            });
        }
    } else if let Some(inc) = rules.get("increment").and_then(number) {
        if inc <= Decimal::ZERO {
            return Err(bad(format!("increment {inc} is not positive")));
        }
        out.push(PriceIncrement {
            lower_edge: Decimal::ZERO,
            increment: inc,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn increment_rules_and_the_single_increment() {
        let v = json!({"incrementRules": [{"lowerEdge": 0.0, "increment": 0.0001},
                                          {"lowerEdge": 1, "increment": "0.05"}]});
        let r = parse_increments(&v, "e").unwrap();
        assert_eq!(r[1].increment, dec!(0.05));
        assert_eq!(r[0].lower_edge, dec!(0));
        let nested = json!({"rules": {"increment": 0.01}});
        assert_eq!(
            parse_increments(&nested, "e").unwrap()[0].increment,
            dec!(0.01)
        );
        assert!(parse_increments(&json!({}), "e").unwrap().is_empty());
        assert!(parse_increments(&json!({"incrementRules": [{"lowerEdge": 0}]}), "e").is_err());
    }
}
