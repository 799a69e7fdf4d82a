//! `/sim/...` admin API: the in-process [`SimControl`] powers over HTTP, for tests that drive
//! the real `pbal` binary in another process (inspect orders by cOID, change prices, drop
//! sessions, inject faults, advance the clock). Outside `/v1/api`, loopback callers only, and
//! not rate limited or logged as gateway traffic.
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conn::Peer;
use super::{FaultRule, FillMode, RateLimits, SessionAction, Shared, SimControl};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route("/ca.pem", get(ca))
        .route("/orders", get(orders))
        .route("/orders/{coid}", get(order))
        .route("/executions", get(executions))
        .route("/requests", get(requests))
        .route("/price", post(price))
        .route("/session", post(session))
        .route(
            "/faults",
            get(faults_list).post(fault_add).delete(faults_clear),
        )
        .route("/market", post(market))
        .route("/fill-mode", post(fill_mode))
        .route("/fill-all", post(fill_all))
        .route("/advance", post(advance))
        .route("/rate-limits", post(rate_limits))
        .route("/behaviour", get(behaviour_get).post(behaviour_patch))
        .layer(middleware::from_fn(loopback_only))
}

async fn loopback_only(req: Request<Body>, next: Next) -> Response {
    match req.extensions().get::<Peer>() {
        Some(Peer(addr)) if addr.ip().is_loopback() => next.run(req).await,
        _ => (StatusCode::FORBIDDEN, "admin API is loopback-only").into_response(),
    }
}

fn ctl(s: Arc<Shared>) -> SimControl {
    SimControl(s)
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
        .into_response()
}

async fn state(State(s): State<Arc<Shared>>) -> Response {
    let c = ctl(s);
    Json(json!({
        "now": c.now(),
        "account_id": c.account_id(),
        "cash": c.cash(),
        "positions": c.positions(),
        "session": c.session(),
        "market_open": c.market_open(),
        "fill_mode": c.behaviour().fill_mode,
        "rate_limited": c.rate_limited(),
    }))
    .into_response()
}

async fn ca(State(s): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        s.ca_pem.clone(),
    )
        .into_response()
}

async fn orders(State(s): State<Arc<Shared>>) -> Response {
    let c = ctl(s);
    Json(json!({"orders": c.orders(), "coids": c.coid_records()})).into_response()
}

async fn order(State(s): State<Arc<Shared>>, Path(coid): Path<String>) -> Response {
    let c = ctl(s);
    match c.coid_record(&coid) {
        Some(rec) => Json(json!({"coid": coid, "record": rec, "order": c.order_by_coid(&coid)}))
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no request with cOID {coid}")})),
        )
            .into_response(),
    }
}

async fn executions(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(ctl(s).executions())).into_response()
}

async fn requests(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(ctl(s).requests())).into_response()
}

#[derive(Deserialize)]
struct PriceBody {
    symbol: String,
    price: Decimal,
}

async fn price(State(s): State<Arc<Shared>>, Json(b): Json<PriceBody>) -> Response {
    match ctl(s).set_price(&b.symbol, b.price) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct SessionBody {
    action: Option<SessionAction>,
    /// Number of upcoming tickles answering `{"error":"no session"}`.
    tickle_no_session: Option<u32>,
}

async fn session(State(s): State<Arc<Shared>>, Json(b): Json<SessionBody>) -> Response {
    let c = ctl(s);
    if let Some(a) = b.action {
        c.set_session(a);
    }
    if let Some(n) = b.tickle_no_session {
        c.tickle_no_session(n);
    }
    Json(json!({"session": c.session()})).into_response()
}

async fn faults_list(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(ctl(s).faults())).into_response()
}

async fn fault_add(State(s): State<Arc<Shared>>, Json(rule): Json<FaultRule>) -> Response {
    ctl(s).add_fault(rule);
    Json(json!({"ok": true})).into_response()
}

async fn faults_clear(State(s): State<Arc<Shared>>) -> Response {
    ctl(s).clear_faults();
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct MarketBody {
    /// `true`/`false` forces; `null` follows market hours.
    open: Option<bool>,
}

async fn market(State(s): State<Arc<Shared>>, Json(b): Json<MarketBody>) -> Response {
    let c = ctl(s);
    c.set_market_open(b.open);
    Json(json!({"market_open": c.market_open()})).into_response()
}

async fn fill_mode(State(s): State<Arc<Shared>>, Json(m): Json<FillMode>) -> Response {
    ctl(s).set_fill_mode(m);
    Json(json!({"ok": true})).into_response()
}

async fn fill_all(State(s): State<Arc<Shared>>) -> Response {
    ctl(s).fill_all();
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: u64,
}

async fn advance(State(s): State<Arc<Shared>>, Json(b): Json<AdvanceBody>) -> Response {
    let c = ctl(s);
    c.advance(std::time::Duration::from_secs(b.seconds));
    Json(json!({"now": c.now()})).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RateBody {
    Full(RateLimits),
    Toggle { enabled: bool },
}

async fn rate_limits(State(s): State<Arc<Shared>>, Json(b): Json<RateBody>) -> Response {
    let limits = match b {
        RateBody::Full(l) => l,
        RateBody::Toggle { enabled } => RateLimits {
            enabled,
            ..RateLimits::real()
        },
    };
    ctl(s).set_rate_limits(limits);
    Json(json!({"ok": true})).into_response()
}

async fn behaviour_get(State(s): State<Arc<Shared>>) -> Response {
    Json(json!(ctl(s).behaviour())).into_response()
}

/// Merges the given keys into the behaviour (e.g. `{"idle_timeout_ms": 1000}`).
async fn behaviour_patch(State(s): State<Arc<Shared>>, Json(patch): Json<Value>) -> Response {
    let c = ctl(s);
    let mut current = serde_json::to_value(c.behaviour()).unwrap_or(Value::Null);
    let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) else {
        return bad("expected a JSON object");
    };
    for (k, v) in p {
        if !cur.contains_key(k) {
            return bad(format!("unknown behaviour key {k:?}"));
        }
        cur.insert(k.clone(), v.clone());
    }
    match serde_json::from_value(current) {
        Ok(b) => {
            c.update_behaviour(|x| *x = b);
            Json(json!(c.behaviour())).into_response()
        }
        Err(e) => bad(e),
    }
}
