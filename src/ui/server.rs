//! The axum router: every request passes [`checks`] (Host, Origin, token, security headers);
//! the two POST handlers add the one-time CSRF value, the kill switch and the plan's state
//! before calling the [`super::Decider`].
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::html::{self, Frame};
use super::pages::{self, Forms};
use super::runview::RunView;
use super::security::{self, CsrfStore, Refusal};
use super::status::{self as status_view, StatusView};
use super::{Decider, SessionProbe, Ui};
use crate::config::Settings;
use crate::cycle::Clock;
use crate::journal::{Journal, JournalError};

/// The page's strict policy: nothing but same-origin stylesheet and forms; no script at all,
/// no framing, no plugins, no base-URI tricks.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Shared by all handlers.
pub struct AppState {
    settings: Settings,
    journal: Journal,
    decider: Arc<dyn Decider>,
    session: SessionProbe,
    clock: Clock,
    token: String,
    csrf: CsrfStore,
}

impl AppState {
    pub fn new(ui: Ui, token: String) -> Arc<Self> {
        Arc::new(Self {
            settings: ui.settings,
            journal: ui.journal,
            decider: ui.decider,
            session: ui.session,
            clock: ui.clock,
            token,
            csrf: CsrfStore::default(),
        })
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    fn kill_switch(&self) -> Option<String> {
        status_view::kill_switch(&self.settings)
    }

    fn page(&self, title: &str, body: &str) -> Response {
        Html(html::page(
            Frame::Served { token: &self.token },
            title,
            body,
        ))
        .into_response()
    }
}

type St = State<Arc<AppState>>;

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/history", get(history))
        .route("/history/{run}", get(run_page))
        .route("/status", get(status))
        .route("/pbal.css", get(css))
        .route("/plans/{id}/approve", post(approve))
        .route("/plans/{id}/reject", post(reject))
        .layer(middleware::from_fn_with_state(state.clone(), checks))
        .with_state(state)
}

fn refuse(r: &Refusal) -> Response {
    let body = html::page(
        Frame::Plain,
        "Refused",
        &format!(
            r#"<p class="bad" id="refusal">{}</p>"#,
            html::esc(&r.to_string())
        ),
    );
    (r.status(), Html(body)).into_response()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn query_token(req: &Request) -> Option<String> {
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Host, Origin, token — in that order — then the security headers on whatever is answered.
async fn checks(State(st): St, req: Request, next: Next) -> Response {
    let verdict = (|| {
        let h = req.headers();
        let host = security::check_host(header_str(h, header::HOST))?;
        let is_post = req.method() == Method::POST;
        security::check_origin(host, header_str(h, header::ORIGIN), is_post)?;
        if req.uri().path() != "/pbal.css" {
            security::check_token(&st.token, query_token(&req).as_deref())?;
        }
        Ok::<(), Refusal>(())
    })();
    let mut resp = match verdict {
        Ok(()) => next.run(req).await,
        Err(r) => {
            tracing::warn!(reason = %r, "ui: request refused");
            refuse(&r)
        }
    };
    let h = resp.headers_mut();
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn journal_error(e: &JournalError) -> Response {
    let status = match e {
        JournalError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = html::page(
        Frame::Plain,
        "Error",
        &format!(r#"<p class="bad">{}</p>"#, html::esc(&e.to_string())),
    );
    (status, Html(body)).into_response()
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::CSS,
    )
        .into_response()
}

async fn index(State(st): St) -> Response {
    let now = st.now();
    let plans = match st.journal.call(move |j| j.staged_plans(now)).await {
        Ok(p) => p,
        Err(e) => return journal_error(&e),
    };
    let kill = st.kill_switch();
    let body = pages::staged_list(&plans, &st.settings, kill.as_deref(), now, |p| {
        Some(Forms {
            token: st.token.clone(),
            approve_csrf: st.csrf.issue(&p.id, "approve", now),
            reject_csrf: st.csrf.issue(&p.id, "reject", now),
        })
    });
    st.page("Staged plans", &body)
}

async fn history(State(st): St) -> Response {
    match st.journal.call(|j| j.runs(100)).await {
        Ok(runs) => st.page("Run history", &pages::history_list(&runs, &st.token)),
        Err(e) => journal_error(&e),
    }
}

async fn run_page(State(st): St, Path(run): Path<String>) -> Response {
    let id = run.clone();
    match st.journal.call(move |j| RunView::load(j, &id)).await {
        Ok(v) => st.page(&format!("Run {run}"), &pages::run_detail(&v)),
        Err(e) => journal_error(&e),
    }
}

async fn status(State(st): St) -> Response {
    let session = (st.session)().await;
    match StatusView::gather(&st.settings, &st.journal, session, st.now()).await {
        Ok(v) => st.page("Status", &pages::status(&v, &st.token)),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// CSRF (one-time, this plan, this action), kill switch, still pending — in that order.
async fn precheck(
    st: &AppState,
    id: &str,
    action: &str,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    let now = st.now();
    let csrf = form.get("csrf").map(String::as_str).unwrap_or("");
    st.csrf
        .consume(csrf, id, action, now)
        .map_err(|r| refuse(&r))?;
    if let Some(k) = st.kill_switch() {
        return Err(refuse(&Refusal::KillSwitch(k)));
    }
    let sid = id.to_owned();
    let plan = st
        .journal
        .call(move |j| j.staged_plan(&sid, now))
        .await
        .map_err(|e| journal_error(&e))?;
    if plan.state != "pending" {
        return Err(refuse(&Refusal::NotPending {
            id: plan.id,
            state: plan.state,
        }));
    }
    Ok(())
}

async fn approve(
    State(st): St,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = precheck(&st, &id, "approve", &form).await {
        return r;
    }
    tracing::info!(staged = %id, "ui: approval requested");
    let result = st.decider.clone().approve(id.clone()).await;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) if e.is_session_lost() => StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => StatusCode::CONFLICT,
    };
    let body = pages::approve_outcome(&id, &result, &st.token);
    (status, st.page(&format!("Plan {id}"), &body)).into_response()
}

async fn reject(
    State(st): St,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = precheck(&st, &id, "reject", &form).await {
        return r;
    }
    let t = html::esc(&st.token);
    match st.decider.clone().reject(id.clone()).await {
        Ok(()) => st.page(
            &format!("Plan {id}"),
            &format!(
                r#"<p class="ok" id="outcome">Plan {} rejected; it stays in the journal.</p><p><a href="/?token={t}">Back to the staged plans</a></p>"#,
                html::esc(&id)
            ),
        ),
        Err(e) => (
            StatusCode::CONFLICT,
            st.page(
                &format!("Plan {id}"),
                &format!(r#"<p class="bad" id="outcome">{}</p>"#, html::esc(&e.to_string())),
            ),
        )
            .into_response(),
    }
}
