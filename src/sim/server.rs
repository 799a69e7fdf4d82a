//! Transport: TLS accept loop (tokio-rustls, ring), HTTP/1.1 + HTTP/2 (hyper-util), and the
//! one axum router that assembles every surface: the login page, the `/sim` admin API, and
//! the gateway API under `/v1/api` and `/v1/portal` (see [`super::api`] for its pipeline).
//!
//! A new surface (another login flow, another IBKR service) is a module with a
//! `router() -> Router<Arc<Shared>>` and one `.merge(...)`/`.nest(...)` line in [`router`].
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Shared;
use super::conn::{DropConnection, Peer};

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
                normalize_api_path(&mut req);
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

/// Every surface the simulator serves.
fn router(shared: Arc<Shared>) -> Router {
    let api = super::api::router(shared.clone());
    Router::new()
        .merge(super::login::router())
        .merge(super::flex::router())
        .nest("/sim", super::admin::router())
        .nest("/v1/api", api.clone())
        .nest("/v1/portal", api)
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// The gateway ignores leading, trailing and doubled-at-the-ends slashes of an API path
/// (`/v1/api/tickle/` is `/tickle`); the router matches exact paths, so they go first.
fn normalize_api_path<B>(req: &mut Request<B>) {
    let path = req.uri().path();
    let Some((prefix, rest)) = API_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p).map(|rest| (*p, rest)))
    else {
        return;
    };
    if !rest.starts_with('/') {
        return; // `/v1/api` itself, or `/v1/apix`: left to the router
    }
    let trimmed = rest.trim_matches('/');
    if rest == format!("/{trimmed}") {
        return;
    }
    let mut pq = format!("{prefix}/{trimmed}");
    if let Some(q) = req.uri().query() {
        pq.push('?');
        pq.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

const API_PREFIXES: [&str; 2] = ["/v1/api", "/v1/portal"];
