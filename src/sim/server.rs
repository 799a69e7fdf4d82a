//! Transport: TLS accept loop (tokio-rustls, ring), HTTP/1.1 + HTTP/2 (hyper-util), the axum
//! router (login page, `/sim` admin, `/v1/api` + `/v1/portal`), and the per-request pipeline
//! that applies the simulated clock, pacing and faults before the API logic runs.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Shared;
use super::api::{self, Body as ApiBody, Reply};
use super::faults::{self, FaultAction};

/// The peer address of the connection, for the loopback-only admin API.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Marker on a response: close the connection instead of answering.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let router = router(shared);
    let tracker = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = token.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let token = token.clone();
        tracker.spawn(async move {
            // No handshake timer on purpose: the simulator must behave under
            // `tokio::time::pause()` in client tests, where idle timers fire instantly.
            let tls = tokio::select! {
                r = acceptor.accept(tcp) => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, %peer, "sim: TLS handshake failed");
                        return;
                    }
                },
                _ = token.cancelled() => return,
            };
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                let router = router.clone();
                async move {
                    let resp = match router.oneshot(req.map(Body::new)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<DropConnection>().is_some() {
                        return Err(std::io::Error::other("sim: injected dropped connection"));
                    }
                    Ok::<_, std::io::Error>(resp)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(error = %e, "sim: connection ended"); },
                _ = token.cancelled() => {}
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(login_page))
        .route("/sso/Login", get(login_page).post(login_submit))
        .nest("/sim", super::admin::router())
        .fallback(api_entry)
        .with_state(shared)
}

fn to_response(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match r.body {
        ApiBody::Json(v) => (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            v.to_string(),
        )
            .into_response(),
        ApiBody::Text(t) => (
            status,
            [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
            t,
        )
            .into_response(),
        ApiBody::Html(t) => (
            status,
            [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
            t,
        )
            .into_response(),
        ApiBody::Empty => status.into_response(),
    };
    for c in r.cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn drop_response() -> Response {
    let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
    r.extensions_mut().insert(DropConnection);
    r
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

/// Every `/v1/api/...` (and `/v1/portal/...`) request.
async fn api_entry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path().to_string();
    let Some(path) = full
        .strip_prefix("/v1/api")
        .or_else(|| full.strip_prefix("/v1/portal"))
        .map(|p| {
            if p.is_empty() {
                "/".to_string()
            } else {
                p.to_string()
            }
        })
    else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let m = method.as_str().to_string();
    let query = parse_query(&uri);

    // Phase 1: clock, pacing, faults.
    let fault = {
        let mut s = shared.lock();
        let now = s.now();
        s.tick(now);
        let needs_length = s.behaviour.require_post_length
            && method == Method::POST
            && version <= Version::HTTP_11
            && !headers.contains_key(header::CONTENT_LENGTH)
            && !headers.contains_key(header::TRANSFER_ENCODING);
        if needs_length {
            s.log(now, &m, &path, 411);
            return (StatusCode::LENGTH_REQUIRED, "Length Required").into_response();
        }
        if !s.rate_check(&m, &path, now) {
            s.log(now, &m, &path, 429);
            return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
        }
        let fault = faults::take(&mut s.faults, &m, &path);
        match &fault {
            Some(FaultAction::Status { status, body }) => {
                s.log(now, &m, &path, *status);
                let reply = match body {
                    Some(b) => Reply::json(*status, b.clone()),
                    None => Reply::empty(*status),
                };
                return to_response(reply);
            }
            Some(FaultAction::Drop) => {
                s.log(now, &m, &path, 0);
                return drop_response();
            }
            Some(FaultAction::SessionLoss) => s.drop_sso(),
            Some(FaultAction::Competing) => s.set_competing(),
            Some(FaultAction::NoSessionTickle) => s.session.tickle_no_session += 1,
            Some(FaultAction::NightlyReset) => s.nightly_reset(),
            Some(FaultAction::RejectOrder { message })
                if method == Method::POST && path.ends_with("/orders") =>
            {
                if let Some(c) = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/orders/0/cOID")
                            .and_then(|c| c.as_str())
                            .map(str::to_string)
                    })
                {
                    s.coids.entry(c).or_default().posts += 1;
                }
                s.log(now, &m, &path, 200);
                return to_response(Reply::error(200, message));
            }
            _ => {}
        }
        fault
    };
    if let Some(FaultAction::Delay { ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }

    // Phase 2: the API itself.
    let reply = {
        let mut s = shared.lock();
        let now = s.now();
        s.tick(now);
        s.touch(now);
        let reply = api::handle(&mut s, now, &m, &path, &query, &body);
        let logged = match &fault {
            Some(FaultAction::StatusAfterApply { status }) => *status,
            Some(FaultAction::DropAfterApply) => 0,
            _ => reply.status,
        };
        s.log(now, &m, &path, logged);
        reply
    };
    if let Some(FaultAction::DelayAfterApply { ms }) = &fault {
        // The request took effect; the answer is late (crash tests kill the client here).
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    match fault {
        Some(FaultAction::DropAfterApply) => drop_response(),
        Some(FaultAction::StatusAfterApply { status }) => to_response(Reply::empty(status)),
        _ => to_response(reply),
    }
}

const LOGIN_PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>pbal sim - Client Portal login</title></head>
<body>
<h1>pbal simulator login</h1>
<p>This is the Client Portal Gateway <em>simulator</em>, not IBKR.</p>
<form method="post" action="/sso/Login">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Login</button>
</form>
</body></html>
"#;

async fn login_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        LOGIN_PAGE,
    )
        .into_response()
}

/// Simple form login standing in for IBKR's SRP exchange: correct credentials create the SSO
/// session (and set browser cookies, which API clients do not need).
async fn login_submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = shared.lock();
    let now = s.now();
    s.tick(now);
    let ok = form.get("username") == Some(&s.username) && form.get("password") == Some(&s.password);
    if !ok {
        s.log(now, "POST", "/sso/Login", 401);
        return to_response(Reply {
            status: 401,
            body: ApiBody::Html(
                "<html><body>Invalid username password combination</body></html>".into(),
            ),
            cookies: vec![],
        });
    }
    s.login(now);
    s.log(now, "POST", "/sso/Login", 200);
    let sid = s.session.session_id.clone();
    to_response(Reply {
        status: 200,
        body: ApiBody::Text("Client login succeeds".into()),
        cookies: vec![
            format!("x-sess-uuid={sid}; Path=/; Secure; HttpOnly"),
            "USERID=84412093; Path=/; Secure".to_string(),
        ],
    })
}
