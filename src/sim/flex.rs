//! The Flex Web Service v3 (`SendRequest` → `GetStatement`), served by the simulator so the
//! daemon's unattended lot fetch is tested end to end.
//!
//! Behaviour from `reference/ibkr-flex-query.md` §1 and §7: every answer is HTTP 200; errors
//! are `<Status>Fail</Status>` (or `Warn`) with `<ErrorCode>`/`<ErrorMessage>`; the first
//! polls of a new reference code answer 1019 "Statement generation in progress"; the `<Url>`
//! comes padded with whitespace (real responses have newlines in it). Switchable failures
//! (`send_error`) reproduce 1001, 1013, 1018 and friends. Pacing is enforced per token
//! ([`FlexPacing`]): 1018 "Too many requests" above 1 request per second or 10 per minute.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Shared;

/// What the simulated Flex Web Service knows.
#[derive(Debug, Clone)]
pub struct FlexSimConfig {
    /// The one valid token.
    pub token: String,
    /// A token that answers 1012 "Token has expired".
    pub expired_token: String,
    /// Query id → the report body (XML or CSV) served once ready.
    pub queries: BTreeMap<String, Vec<u8>>,
    /// How many `GetStatement` polls of a fresh reference code answer 1019 first.
    pub in_progress_polls: u32,
    /// When set, every `SendRequest` fails with this code (e.g. 1001, 1013, 1018).
    pub send_error: Option<u32>,
    /// Per-token request limits (`None`: unlimited, for tests not about pacing).
    pub pacing: Option<FlexPacing>,
}

/// Flex's per-token limits: each `(n, window)` allows `n` requests (`SendRequest` and
/// `GetStatement` alike) in any sliding `window`; beyond, the answer is 1018.
///
/// Every request counts, the rejected ones too: IBKR does not document whether they do, and
/// counting them is the stricter reading, so a client that retries a 1018 at once stays locked
/// out, and only one that waits passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexPacing {
    pub limits: Vec<(u32, Duration)>,
}

impl Default for FlexPacing {
    /// The documented limits: 1 per second and 10 per minute per token.
    fn default() -> Self {
        FlexPacing {
            limits: vec![(1, Duration::from_secs(1)), (10, Duration::from_secs(60))],
        }
    }
}

/// The example lot-level statement (`examples/tax/lots.xml`), served as query `1`.
pub const EXAMPLE_QUERY: &str = "1";

impl Default for FlexSimConfig {
    fn default() -> Self {
        FlexSimConfig {
            token: "sim-flex-token".into(),
            expired_token: "sim-expired-token".into(),
            queries: BTreeMap::from([(
                EXAMPLE_QUERY.to_string(),
                include_bytes!("../../examples/tax/lots.xml").to_vec(),
            )]),
            in_progress_polls: 2,
            send_error: None,
            pacing: Some(FlexPacing::default()),
        }
    }
}

/// Live state: the configuration and the reference codes handed out.
#[derive(Debug)]
pub(crate) struct FlexSim {
    pub cfg: Mutex<FlexSimConfig>,
    /// Reference code → (query id, polls still answering "in progress").
    refs: Mutex<HashMap<String, (String, u32)>>,
    next: Mutex<u64>,
    /// Token → times of its recent requests (for [`FlexPacing`]).
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Requests answered 1018 by the pacing rule.
    paced: AtomicU32,
}

impl FlexSim {
    pub fn new(cfg: FlexSimConfig) -> Self {
        FlexSim {
            cfg: Mutex::new(cfg),
            refs: Mutex::new(HashMap::new()),
            next: Mutex::new(1_234_567_890),
            seen: Mutex::new(HashMap::new()),
            paced: AtomicU32::new(0),
        }
    }

    /// Records a request of `token` now; `true` when it exceeds a limit (answer 1018).
    fn over_limit(&self, pacing: Option<&FlexPacing>, token: Option<&String>) -> bool {
        let (Some(p), Some(t)) = (pacing, token) else {
            return false;
        };
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let times = seen.entry(t.clone()).or_default();
        let longest = p.limits.iter().map(|l| l.1).max().unwrap_or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > longest)
        {
            times.pop_front();
        }
        let over = p.limits.iter().any(|(n, window)| {
            let recent = times
                .iter()
                .filter(|t| now.duration_since(**t) < *window)
                .count();
            recent >= *n as usize
        });
        times.push_back(now);
        if over {
            self.paced.fetch_add(1, Ordering::Relaxed);
        }
        over
    }
}

impl super::SimControl {
    /// How many Flex requests the pacing rule answered with 1018.
    pub fn flex_paced(&self) -> u32 {
        self.0.flex.paced.load(Ordering::Relaxed)
    }
}

const PATH: &str = "/AccountManagement/FlexWebService";

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{PATH}/SendRequest"), get(send).post(send))
        .route(
            &format!("{PATH}/GetStatement"),
            get(statement).post(statement),
        )
}

fn message(code: u32) -> &'static str {
    match code {
        1001 => "Statement could not be generated at this time. Please try again shortly.",
        1009 => {
            "The server is under heavy load. Statement could not be generated at this time. Please try again shortly."
        }
        1012 => "Token has expired.",
        1013 => "IP restriction.",
        1014 => "Query is invalid.",
        1015 => "Token is invalid.",
        1017 => "Reference code is invalid.",
        1018 => "Too many requests have been made from this token. Please try again shortly.",
        1019 => "Statement generation in progress. Please try again shortly.",
        1020 => "Invalid request or unable to validate request.",
        _ => "Statement could not be retrieved at this time. Please try again shortly.",
    }
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml;charset=UTF-8")], body).into_response()
}

fn error(code: u32) -> Response {
    let status = if code == 1019 { "Warn" } else { "Fail" };
    xml(format!(
        "<FlexStatementResponse timestamp=\"01 December, 2026 09:30 AM EST\">\n<Status>{status}</Status>\n\
         <ErrorCode>{code}</ErrorCode>\n<ErrorMessage>{}</ErrorMessage>\n</FlexStatementResponse>\n",
        message(code)
    ))
}

/// Missing `v=3` or User-Agent: IBKR's request validation fails (1020).
fn invalid(q: &HashMap<String, String>, headers: &HeaderMap) -> bool {
    q.get("v").map(String::as_str) != Some("3") || !headers.contains_key(header::USER_AGENT)
}

fn token_error(cfg: &FlexSimConfig, t: Option<&String>) -> Option<u32> {
    match t {
        Some(t) if *t == cfg.token => None,
        Some(t) if *t == cfg.expired_token => Some(1012),
        _ => Some(1015),
    }
}

async fn send(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if invalid(&q, &headers) {
        return error(1020);
    }
    let flex = &shared.flex;
    let cfg = flex.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if flex.over_limit(cfg.pacing.as_ref(), q.get("t")) {
        return error(1018);
    }
    if let Some(code) = token_error(&cfg, q.get("t")) {
        return error(code);
    }
    if let Some(code) = cfg.send_error {
        return error(code);
    }
    let Some(query) = q.get("q").filter(|id| cfg.queries.contains_key(*id)) else {
        return error(1014);
    };
    let code = {
        let mut n = flex.next.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        n.to_string()
    };
    flex.refs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(code.clone(), (query.clone(), cfg.in_progress_polls));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    xml(format!(
        "<FlexStatementResponse timestamp=\"01 December, 2026 09:30 AM EST\">\n<Status>Success</Status>\n\
         <ReferenceCode>{code}</ReferenceCode>\n<Url>\n  https://{host}{PATH}/GetStatement  \n</Url>\n\
         </FlexStatementResponse>\n"
    ))
}

async fn statement(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if invalid(&q, &headers) {
        return error(1020);
    }
    let flex = &shared.flex;
    let cfg = flex.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if flex.over_limit(cfg.pacing.as_ref(), q.get("t")) {
        return error(1018);
    }
    if let Some(code) = token_error(&cfg, q.get("t")) {
        return error(code);
    }
    let mut refs = flex.refs.lock().unwrap_or_else(|p| p.into_inner());
    let Some((query, left)) = q.get("q").and_then(|c| refs.get_mut(c)) else {
        return error(1017);
    };
    if *left > 0 {
        *left -= 1;
        return error(1019);
    }
    let body = cfg.queries.get(query.as_str()).cloned().unwrap_or_default();
    let kind = if body.trim_ascii_start().starts_with(b"<") {
        "text/xml;charset=UTF-8"
    } else {
        "text/plain;charset=UTF-8"
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
