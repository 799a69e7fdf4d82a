//! Session endpoints: `/tickle`, `/iserver/auth/status`, `/iserver/auth/ssodh/init`,
//! `/iserver/reauthenticate`, `/sso/validate`, `/logout`.
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::super::Shared;
use super::super::reply::Reply;
use super::super::state::SimState;
use super::gates::{need_sso, unauthorized};
use super::pipeline::{Call, Endpoint};

const MAC: &str = "5C:2A:91:07:E4:3B";
pub(super) const SERVER_NAME: &str = "JifZ04117";
pub(super) const SERVER_VERSION: &str = "Build 10.30.1c, Jun 3, 2024 4:12:58 PM (pbal sim)";
const USER_ID: i64 = 84_412_093;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/tickle", get(Endpoint(tickle)).post(Endpoint(tickle)))
        .route(
            "/iserver/auth/status",
            get(Endpoint(status)).post(Endpoint(status)),
        )
        .route("/iserver/auth/ssodh/init", post(Endpoint(ssodh_init)))
        .route(
            "/iserver/reauthenticate",
            get(Endpoint(reauthenticate)).post(Endpoint(reauthenticate)),
        )
        .route("/sso/validate", get(Endpoint(sso_validate)))
        .route("/logout", get(Endpoint(logout)).post(Endpoint(logout)))
}

fn auth_status(s: &SimState) -> Value {
    let a = s.session.authenticated;
    json!({
        "authenticated": a,
        "competing": s.session.competing,
        "connected": true,
        "established": a,
        "fail": "",
        "message": "",
        "MAC": MAC,
        "hardware_info": format!("7a41c09e|{MAC}"),
        "serverInfo": if a {
            json!({"serverName": SERVER_NAME, "serverVersion": SERVER_VERSION})
        } else {
            json!({"serverName": null, "serverVersion": null})
        },
    })
}

fn status(s: &mut SimState, _: &Call) -> Reply {
    need_sso(s).unwrap_or_else(|| Reply::ok(auth_status(s)))
}

fn ssodh_init(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    let compete = c
        .body
        .get("compete")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if s.session.competing && !compete {
        let mut st = auth_status(s);
        st["fail"] = json!("Force compete capability must be used together with compete flag");
        return Reply::ok(st);
    }
    // Already healthy: init reports the status and keeps the session (and its priming).
    if !s.session.authenticated || s.session.competing {
        s.start_auth(c.now);
    }
    Reply::ok(auth_status(s))
}

fn reauthenticate(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    if s.session.stuck == Some(super::super::state::StuckUntil::Reauthenticate) {
        s.session.stuck = None;
    }
    s.start_auth(c.now);
    Reply::ok(json!({"message": "triggered"}))
}

fn logout(s: &mut SimState, _: &Call) -> Reply {
    let had = s.session.sso;
    s.drop_sso();
    if had {
        Reply::ok(json!({"status": true}))
    } else {
        unauthorized()
    }
}

fn tickle(s: &mut SimState, _: &Call) -> Reply {
    if !s.session.sso {
        return if s.session.had_sso {
            Reply::ok(json!({"error": "no session"}))
        } else {
            unauthorized()
        };
    }
    if s.session.tickle_no_session > 0 {
        s.session.tickle_no_session -= 1;
        return Reply::ok(json!({"error": "no session"}));
    }
    let remaining = s.behaviour.idle_timeout_ms;
    let mut st = auth_status(s);
    if let Some(o) = st.as_object_mut() {
        o.remove("fail");
        o.remove("hardware_info");
    }
    let iserver = if s.behaviour.tickle_omits_auth_status_without_brokerage
        && !s.session.authenticated
        && !s.session.competing
    {
        json!({})
    } else {
        json!({"authStatus": st})
    };
    Reply::ok(json!({
        "session": s.session.session_id,
        "ssoExpires": remaining,
        "collission": s.session.competing,
        "userId": USER_ID,
        "hmds": {"error": "no bridge"},
        "iserver": iserver,
    }))
}

fn sso_validate(s: &mut SimState, c: &Call) -> Reply {
    if let Some(r) = need_sso(s) {
        return r;
    }
    let now = c.now;
    let auth = s.session.sso_started.unwrap_or(now).timestamp_millis();
    let left =
        s.behaviour.idle_timeout_ms as i64 - (now - s.session.last_activity).num_milliseconds();
    Reply::ok(json!({
        "USER_ID": USER_ID, "USER_NAME": s.username, "CREDENTIAL": s.username, "RESULT": true,
        "AUTH_TIME": auth, "EXPIRES": left.max(0), "LOGIN_TYPE": 2, "IS_MASTER": false,
        "IS_FREE_TRIAL": false, "SF_ENABLED": false, "PAPER_USER_NAME": s.username,
        "LANDING_APP": "UNIVERSAL", "QUALIFIED_FOR_MOBILE_AUTH": null, "IP": "127.0.0.1",
        "features": {"env": "PROD", "realtime": true, "bond": true, "newMf": true,
                     "optionChains": true, "calendar": true, "wlms": true},
        "lastAccessed": s.session.last_activity.timestamp_millis(), "region": "NJ"
    }))
}
