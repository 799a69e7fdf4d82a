//! Classifying an answer to an order POST by its body first, then by its status.
//!
//! Why the body first: the gateway reports its own refusals with ordinary HTTP statuses. A 500
//! whose body is `{"error":"Please query /accounts first"}` is not IBKR failing half-way
//! through an order: the gateway refused the request before taking it, because the brokerage
//! session was re-authenticated and not primed yet. Read by status alone it looks like a 5xx
//! of unknown fate, the leg is marked `unknown` and the run stops for a human. Likewise a 400
//! `Bad Request: no bridge` means the brokerage session is not ready — not that IBKR rejected
//! this order — so the leg must not be recorded as rejected. IBind maps both texts to
//! "initialise / prime the session" in the same way.
use reqwest::StatusCode;
use serde_json::Value;

use super::super::error::GatewayError;
use super::super::orders::{OrderReply, classify_order_reply};
use super::super::types::excerpt;

/// What one answer of the order conversation means.
#[derive(Debug)]
pub(super) enum Answer {
    /// A reply the order flow understands (submitted, prompt, error text).
    Reply(OrderReply),
    /// The gateway refused before taking the request, for a session reason: the order
    /// certainly was not placed (`NotPrimed`, `NoBrokerage`, `NoSession`).
    NotTaken(GatewayError),
    /// The request may or may not have been processed.
    Unknown(String),
}

/// The error text of a body: `{"error": …}` (also inside a one-element array) or plain text.
pub(super) fn error_text(body: &Value) -> Option<String> {
    let obj = match body {
        Value::Array(a) => a.first(),
        other => Some(other),
    };
    match obj {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("error")
            .filter(|e| !e.is_null())
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned)),
        _ => None,
    }
}

/// The session-class error a gateway text names, if any: these texts mean the gateway
/// itself refused (no session, brokerage not ready, not primed), whatever the status.
pub(super) fn session_refusal(text: &str, login_url: &str) -> Option<GatewayError> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("query /accounts first") || lower.contains("query/accounts first") {
        Some(GatewayError::NotPrimed)
    } else if lower.contains("no bridge") || lower.contains("init session first") {
        Some(GatewayError::NoBrokerage {
            reason: text.trim().to_owned(),
        })
    } else if lower.contains("no session") || lower.contains("not authenticated") {
        Some(GatewayError::NoSession {
            login_url: login_url.to_owned(),
        })
    } else {
        None
    }
}

/// Classifies the answer to an order (or reply) POST: a session refusal named by the body
/// first, then a 5xx as unknown, then the order reply shapes.
pub(super) fn classify(status: StatusCode, body: &Value, path: &str, login_url: &str) -> Answer {
    if let Some(refusal) = error_text(body).and_then(|t| session_refusal(&t, login_url)) {
        return Answer::NotTaken(refusal);
    }
    if status.is_server_error() {
        return Answer::Unknown(format!(
            "HTTP {} from {path}: the order may or may not exist; reconcile by cOID",
            status.as_u16()
        ));
    }
    match classify_order_reply(body) {
        Ok(r) => Answer::Reply(r),
        Err(e) if status.is_success() => Answer::Unknown(e),
        Err(_) => Answer::Reply(OrderReply::Error(match body {
            Value::String(s) => s.clone(),
            other => format!("HTTP {}: {}", status.as_u16(), excerpt(other)),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOGIN: &str = "https://localhost:5000/";

    fn kind(a: &Answer) -> &'static str {
        match a {
            Answer::Reply(OrderReply::Submitted { .. }) => "submitted",
            Answer::Reply(OrderReply::Prompt(_)) => "prompt",
            Answer::Reply(OrderReply::Error(_)) => "error",
            Answer::NotTaken(GatewayError::NotPrimed) => "not-primed",
            Answer::NotTaken(GatewayError::NoBrokerage { .. }) => "no-brokerage",
            Answer::NotTaken(GatewayError::NoSession { .. }) => "no-session",
            Answer::NotTaken(_) => "other",
            Answer::Unknown(_) => "unknown",
        }
    }

    #[test]
    fn the_body_decides_before_the_status() {
        let c = |status: u16, body: Value| {
            kind(&classify(
                StatusCode::from_u16(status).unwrap(),
                &body,
                "/iserver/account/DU1/orders",
                LOGIN,
            ))
        };
        // A 500 that says "prime first" was refused before the order was taken.
        assert_eq!(
            c(500, json!({"error": "Please query /accounts first"})),
            "not-primed"
        );
        // The same text with another status, or inside an array, means the same.
        assert_eq!(
            c(200, json!([{"error": "Please query /accounts first"}])),
            "not-primed"
        );
        // "no bridge" (plain text, as the gateway sends it) is a session state, not a rejection.
        assert_eq!(
            c(400, Value::String("Bad Request: no bridge".into())),
            "no-brokerage"
        );
        assert_eq!(
            c(
                400,
                json!({"error": "Init session first", "statusCode": 400})
            ),
            "no-brokerage"
        );
        assert_eq!(c(200, json!({"error": "no session"})), "no-session");
        // A bare 5xx, or one with another text, leaves the order's fate open.
        assert_eq!(c(503, Value::Null), "unknown");
        assert_eq!(c(500, json!({"error": "internal error"})), "unknown");
        // Real rejections stay rejections; successes and prompts are parsed.
        assert_eq!(
            c(200, json!({"error": "Order rejected - reason: no funds"})),
            "error"
        );
        assert_eq!(
            c(200, json!([{"order_id": "1", "order_status": "Submitted"}])),
            "submitted"
        );
        assert_eq!(
            c(
                200,
                json!([{"id": "x", "message": ["?"], "messageIds": ["o163"]}])
            ),
            "prompt"
        );
        assert_eq!(c(200, json!({"odd": true})), "unknown");
    }
}
