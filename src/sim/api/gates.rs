//! The session and ordering gates real gateways put in front of endpoints: an SSO session,
//! then a brokerage session, then the priming calls (`/iserver/accounts`,
//! `/portfolio/accounts`). Each gate returns the gateway's exact refusal, or `None` to pass.
use super::super::config::NoBrokerageReply;
use super::super::reply::Reply;
use super::super::state::SimState;
use serde_json::json;

/// The 401 the gateway answers without a session.
pub(super) fn unauthorized() -> Reply {
    Reply::json(
        401,
        json!({"error": "not authenticated", "statusCode": 401}),
    )
}

/// Refuses unless the SSO (web login) session exists.
pub(super) fn need_sso(s: &SimState) -> Option<Reply> {
    (!s.session.sso).then(unauthorized)
}

/// Refuses unless the brokerage session is authenticated, with the configured refusal style.
pub(super) fn need_brokerage(s: &SimState) -> Option<Reply> {
    if let Some(r) = need_sso(s) {
        return Some(r);
    }
    if s.session.authenticated {
        return None;
    }
    Some(match s.behaviour.no_brokerage_reply {
        NoBrokerageReply::Unauthorized => unauthorized(),
        NoBrokerageReply::InitSessionFirst => Reply::json(
            400,
            json!({"error": "Init session first", "statusCode": 400}),
        ),
        NoBrokerageReply::NoBridge => Reply::text(400, "Bad Request: no bridge"),
    })
}

/// Refuses unless `/iserver/accounts` was called in this brokerage session.
pub(super) fn need_primed(s: &SimState) -> Option<Reply> {
    if let Some(r) = need_brokerage(s) {
        return Some(r);
    }
    (!s.session.iserver_primed).then(|| Reply::error(500, "Please query /accounts first"))
}

/// Refuses unless `/portfolio/accounts` was called and `acct` is the simulated account.
pub(super) fn need_portfolio(s: &SimState, acct: &str) -> Option<Reply> {
    if let Some(r) = need_sso(s) {
        return Some(r);
    }
    if !s.session.portfolio_primed {
        return Some(Reply::error(500, "Please query /portfolio/accounts first"));
    }
    if acct != s.account_id {
        return Some(Reply::error(500, &format!("Account {acct} not found")));
    }
    None
}

/// The refusal for an order path naming another account.
pub(super) fn account_not_found(acct: &str) -> Reply {
    Reply::error(500, &format!("Account {acct} not found"))
}
