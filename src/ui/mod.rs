//! The local approval page: staged plans with a before/after chart, run history and status,
//! with Approve/Reject buttons that take the same path as `pbal staged approve/reject`.
//!
//! Why a web page: stage mode is the default, and an unattended daemon whose alert says "plan
//! staged" must let the user see and decide from a phone. Why loopback only: the page can place
//! orders; it is reached from elsewhere through an SSH tunnel
//! (`ssh -L 8421:127.0.0.1:8421 host`), never by listening on a public interface.
//!
//! # Layout
//! - `security.rs`: the token file, Host/Origin checks, one-time CSRF values.
//! - `server.rs`: the axum router, the checks as middleware, the handlers.
//! - `pages.rs`, `chart.rs`, `html.rs`: HTML and the inline-SVG chart (pure functions).
//! - `report.rs`: `reports/<run>.html` and `.json` after every run, and the CSV export.
//! - `whatif.rs`: IBKR's what-if equity and margin change per order and summed.
//! - `runview.rs`, `status.rs`: the data behind the history and status pages, shared with
//!   `pbal history` / `pbal status` and the report files.
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::Settings;
use crate::cycle::{Broker, Clock, Cycle, CycleError, CycleReport};
use crate::journal::Journal;

pub mod chart;
pub mod html;
pub mod pages;
pub mod report;
pub mod runview;
pub mod security;
mod server;
pub mod status;
pub mod whatif;

pub use security::{TokenError, load_or_create_token};

/// Errors starting the page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    #[error(
        "ui.listen {0} is not a loopback address; the page can place orders, so it listens on \
         127.0.0.1 or [::1] only (reach it with `ssh -L 8421:127.0.0.1:8421 host`)"
    )]
    NotLoopback(SocketAddr),
    #[error("ui: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("ui server: {0}")]
    Serve(std::io::Error),
}

/// What the page needs from the order-placing side: the very calls `pbal staged approve` and
/// `pbal staged reject` make. Object-safe so the page does not care which broker is behind it.
pub trait Decider: Send + Sync + 'static {
    /// [`Cycle::approve`]: lock, reconcile, re-read, re-plan or execute.
    fn approve(self: Arc<Self>, id: String) -> BoxFuture<'static, Result<CycleReport, CycleError>>;
    /// [`Cycle::reject`].
    fn reject(self: Arc<Self>, id: String) -> BoxFuture<'static, Result<(), CycleError>>;
}

impl<B: Broker + 'static> Decider for Cycle<B> {
    fn approve(self: Arc<Self>, id: String) -> BoxFuture<'static, Result<CycleReport, CycleError>> {
        Box::pin(async move { Cycle::approve(&self, &id).await })
    }

    fn reject(self: Arc<Self>, id: String) -> BoxFuture<'static, Result<(), CycleError>> {
        Box::pin(async move {
            Cycle::reject(&self, &id, Some("rejected on the approval page".to_owned())).await
        })
    }
}

/// The gateway's session state in one line, for the status page (never changes the session).
pub type SessionProbe = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// Everything the page serves from.
pub struct Ui {
    pub settings: Settings,
    pub journal: Journal,
    pub decider: Arc<dyn Decider>,
    pub session: SessionProbe,
    pub clock: Clock,
}

impl Ui {
    /// The page in front of `cycle` (decisions through it, journal and clock from it), with the
    /// session line read from `client`.
    pub fn for_cycle<B: Broker + 'static>(
        cycle: Arc<Cycle<B>>,
        client: crate::ibkr::GatewayClient,
    ) -> Self {
        let session: SessionProbe = Arc::new(move || {
            let c = client.clone();
            Box::pin(async move { status::session_line(&c).await })
        });
        Self {
            settings: cycle.settings.clone(),
            journal: cycle.journal.clone(),
            clock: cycle.clock.clone(),
            decider: cycle,
            session,
        }
    }
}

/// A bound, not yet serving, page: the address is known (port 0 resolved) so the link can be
/// printed — and given to the alerts — before serving starts (`pbal run` binds, builds its
/// notifier with [`Bound::link`], then serves with [`serve`]).
pub struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    token: String,
}

impl Bound {
    /// The address actually listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's base URL, `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The link with the token: what `pbal ui` prints and the alerts carry.
    pub fn link(&self) -> String {
        link(self.addr, &self.token)
    }
}

/// The tokenised link for a page at `addr`.
pub fn link(addr: SocketAddr, token: &str) -> String {
    format!("http://{addr}/?token={token}")
}

/// The link for the configured `ui.listen`, reading (or creating) the token in the state dir.
/// Alerts call this; it does not need the page to be running in this process.
pub fn configured_link(settings: &Settings) -> Result<String, UiError> {
    let token = load_or_create_token(&settings.state_dir())?;
    Ok(link(settings.ui.listen, &token))
}

/// Binds `addr` (loopback only) and reads or creates the token in the state dir.
///
/// # Errors
/// [`UiError::NotLoopback`], [`UiError::Bind`], [`UiError::Token`].
pub async fn bind(addr: SocketAddr, state_dir: &std::path::Path) -> Result<Bound, UiError> {
    if !addr.ip().is_loopback() {
        return Err(UiError::NotLoopback(addr));
    }
    let token = load_or_create_token(state_dir)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| UiError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| UiError::Bind { addr, source })?;
    Ok(Bound {
        listener,
        addr,
        token,
    })
}

/// Serves the page until `shutdown` completes.
pub async fn serve(
    bound: Bound,
    ui: Ui,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), UiError> {
    let app = server::router(server::AppState::new(ui, bound.token));
    axum::serve(bound.listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(UiError::Serve)
}
