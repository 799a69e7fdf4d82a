//! What every `/v1/api` request goes through around its endpoint, in the order a real
//! gateway's front applies it:
//! 1. [`front`] (an axum middleware on the API router): the simulated clock ticks, HTTP/1 POSTs
//!    without a length get 411, pacing answers 429, and an injected fault may answer, drop the
//!    connection, delay, or change the session before the endpoint runs;
//! 2. [`Endpoint`] (the axum handler every route uses): under one lock of the state, the clock
//!    ticks, the request counts as session activity, the JSON body is parsed, the endpoint
//!    function runs, and the request is logged with the status the client will see;
//! 3. back in [`front`]: faults that act after the request took effect (late answer, dropped
//!    answer, replaced status).
//!
//! Endpoints are plain `fn(&mut SimState, &Call) -> Reply`, so a new one is a function plus a
//! `.route(...)` line; none of them sees HTTP.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::{Method, StatusCode, Uri, Version, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::Shared;
use super::super::conn::DropConnection;
use super::super::faults::{self, FaultAction};
use super::super::reply::Reply;
use super::super::state::SimState;

/// Request bodies above this are refused (axum's default limit for buffered bodies).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// One endpoint: a pure function of the simulator state and the request.
pub(crate) type EndpointFn = fn(&mut SimState, &Call) -> Reply;

/// What an endpoint sees of its request.
pub(crate) struct Call<'a> {
    /// The simulated time of this request.
    pub now: DateTime<Utc>,
    pub query: &'a HashMap<String, String>,
    /// The JSON body (`Null` when empty, or malformed outside `/iserver`).
    pub body: &'a Value,
    params: &'a [(String, String)],
}

impl Call<'_> {
    /// A `{name}` segment of the route's path (`""` if the route has none by that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The axum handler for an [`EndpointFn`]: `get(Endpoint(tickle))`.
#[derive(Clone, Copy)]
pub(crate) struct Endpoint(pub EndpointFn);

/// Marker type parameter so this impl can never overlap axum's own `Handler` impls.
#[doc(hidden)]
pub struct ViaEndpoint;

impl axum::handler::Handler<ViaEndpoint, Arc<Shared>> for Endpoint {
    type Future = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn call(self, req: Request, shared: Arc<Shared>) -> Self::Future {
        Box::pin(async move { run(self.0, req, &shared).await })
    }
}

/// The fault [`front`] chose for this request, handed to the endpoint so the request log shows
/// what the client saw.
#[derive(Clone)]
struct Chosen(Option<FaultAction>);

/// The API's 404 (also for a wrong method: the gateway does not answer 405).
pub(crate) fn not_found(_: &mut SimState, _: &Call) -> Reply {
    Reply::error(404, "Not Found")
}

async fn run(endpoint: EndpointFn, req: Request, shared: &Shared) -> Response {
    let (mut parts, body) = req.into_parts();
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    // Already buffered by `front`; this cannot exceed the limit again.
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let fault = parts.extensions.get::<Chosen>().and_then(|c| c.0.clone());
    let query = parse_query(&parts.uri);
    let path = parts.uri.path();
    // axum answers HEAD with the GET handler; the gateway routes no HEAD at all.
    let endpoint = if parts.method == Method::HEAD {
        not_found
    } else {
        endpoint
    };
    let mut s = shared.lock();
    let now = s.now();
    s.tick(now);
    s.touch(now);
    let reply = match parse_body(&parts.method, path, &bytes) {
        Ok(body) => {
            let call = Call {
                now,
                query: &query,
                body: &body,
                params: &params,
            };
            endpoint(&mut s, &call)
        }
        Err(r) => r,
    };
    let mut reply = reply;
    if let Some(FaultAction::StripSecDef { even_with_wait }) = &fault
        && (*even_with_wait || query.get("waitForSecDef").map(String::as_str) != Some("true"))
        && let super::super::reply::Body::Json(v) = &mut reply.body
    {
        faults::strip_secdef(v);
    }
    let logged = match &fault {
        Some(FaultAction::StatusAfterApply { status }) => *status,
        Some(FaultAction::DropAfterApply) => 0,
        _ => reply.status,
    };
    s.log(now, parts.method.as_str(), path, logged);
    drop(s);
    reply.into_response()
}

/// An empty body is `Null`; a malformed one is refused on `/iserver` POSTs (the gateway's
/// Java side parses them) and ignored elsewhere.
fn parse_body(method: &Method, path: &str, bytes: &[u8]) -> Result<Value, Reply> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(_)
            if method == Method::POST
                && path.trim_start_matches('/').split('/').next() == Some("iserver") =>
        {
            Err(Reply::error(400, "Bad Request: invalid JSON body"))
        }
        Err(_) => Ok(Value::Null),
    }
}

fn parse_query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The middleware in front of every API route (steps 1 and 3 of the module doc).
pub(crate) async fn front(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        )
            .into_response();
    };
    let fault = match admit(&shared, &parts, &body) {
        Ok(fault) => fault,
        Err(refused) => return *refused,
    };
    if let Some(FaultAction::Delay { ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    parts.extensions.insert(Chosen(fault.clone()));
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    if let Some(FaultAction::DelayAfterApply { ms }) = &fault {
        // The request took effect; the answer is late (crash tests kill the client here).
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    match fault {
        Some(FaultAction::DropAfterApply) => drop_response(),
        Some(FaultAction::StatusAfterApply { status }) => Reply::empty(status).into_response(),
        _ => resp,
    }
}

/// Clock, length, pacing and the faults that act before the endpoint: `Err` is the answer
/// in the endpoint's place, `Ok` the fault (if any) still to apply.
fn admit(
    shared: &Shared,
    parts: &Parts,
    body: &Bytes,
) -> Result<Option<FaultAction>, Box<Response>> {
    let (method, path) = (parts.method.as_str(), parts.uri.path());
    let mut s = shared.lock();
    let now = s.now();
    s.tick(now);
    let needs_length = s.behaviour.require_post_length
        && parts.method == Method::POST
        && parts.version <= Version::HTTP_11
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
        && !parts.headers.contains_key(header::TRANSFER_ENCODING);
    if needs_length {
        s.log(now, method, path, 411);
        return Err(Box::new(
            (StatusCode::LENGTH_REQUIRED, "Length Required").into_response(),
        ));
    }
    if !s.rate_check(method, path, now) {
        s.log(now, method, path, 429);
        return Err(Box::new(
            (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response(),
        ));
    }
    let fault = faults::take(&mut s.faults, method, path);
    if let Some(answer) = apply_before(&mut s, now, &parts.method, path, fault.as_ref(), body) {
        return Err(Box::new(answer));
    }
    Ok(fault)
}

/// Applies a fault that acts before the endpoint; `Some` is the answer that replaces it.
fn apply_before(
    s: &mut SimState,
    now: DateTime<Utc>,
    method: &Method,
    path: &str,
    fault: Option<&FaultAction>,
    body: &Bytes,
) -> Option<Response> {
    let m = method.as_str();
    match fault? {
        FaultAction::Status { status, body } => {
            s.log(now, m, path, *status);
            let reply = match body {
                Some(b) => Reply::json(*status, b.clone()),
                None => Reply::empty(*status),
            };
            return Some(reply.into_response());
        }
        FaultAction::Drop => {
            s.log(now, m, path, 0);
            return Some(drop_response());
        }
        FaultAction::SessionLoss => s.drop_sso(),
        FaultAction::Competing => s.set_competing(),
        FaultAction::NoSessionTickle => s.session.tickle_no_session += 1,
        FaultAction::NightlyReset => s.nightly_reset(),
        FaultAction::Reauthenticated if s.session.sso => s.authenticate_now(now),
        // An order POST, its confirmation (a reply can end in a rejection) or a cancellation
        // refused with an `error` text.
        FaultAction::RejectOrder { message }
            if (method == Method::POST
                && (path.ends_with("/orders") || path.starts_with("/iserver/reply/")))
                || (method == Method::DELETE && path.contains("/order/")) =>
        {
            // The rejected POST still counts under its cOID, like any order POST.
            if let Some(c) = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                v.pointer("/orders/0/cOID")
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
            }) {
                s.coids.entry(c).or_default().posts += 1;
            }
            s.log(now, m, path, 200);
            return Some(Reply::error(200, message).into_response());
        }
        _ => {}
    }
    None
}

fn drop_response() -> Response {
    let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
    r.extensions_mut().insert(DropConnection);
    r
}
