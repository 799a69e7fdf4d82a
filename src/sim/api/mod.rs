//! The `/v1/api` surface (also served under `/v1/portal`): one axum router per endpoint group,
//! each group in its own file, all behind the same pipeline (clock, pacing, faults, session
//! activity, request log: see [`pipeline`]).
//!
//! Endpoints are pure functions of [`SimState`](super::state::SimState) and the request
//! ([`pipeline::Call`]) returning a [`Reply`](super::reply::Reply), with the real gateway's JSON
//! shapes (reference examples + OpenAPI) and its session/ordering gates ([`gates`]).
//!
//! Adding an endpoint group: a new file with `pub(super) fn routes() -> Router<Arc<Shared>>`
//! whose routes use `get(Endpoint(f))` etc., plus one `.merge(group::routes())` line in
//! [`router`]. Unknown paths and wrong methods answer the gateway's JSON 404 (never 405).
use std::sync::Arc;

use axum::Router;
use axum::middleware;

use super::Shared;
use pipeline::{Endpoint, not_found};

mod accounts;
mod contracts;
mod gates;
mod marketdata;
mod orders;
mod pipeline;
mod portfolio;
mod session;

/// The API router, paths relative to `/v1/api`.
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .merge(session::routes())
        .merge(accounts::routes())
        .merge(portfolio::routes())
        .merge(contracts::routes())
        .merge(marketdata::routes())
        .merge(orders::routes())
        .fallback(Endpoint(not_found))
        .method_not_allowed_fallback(Endpoint(not_found))
        .layer(middleware::from_fn_with_state(shared, pipeline::front))
}
