//! The login surfaces: IBKR's SRP exchange (`/sso/Authenticator`, `/sso/Dispatcher`, see
//! [`super::sso`]) and, with `Behaviour::form_login`, a simple browser form (`/sso/Login`)
//! standing in for it. Correct credentials create the SSO session (and set browser cookies,
//! which API clients do not need). Outside `/v1/api`: not paced, not faulted.
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Shared;
use super::reply::{Body, Reply};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(login_page))
        .route("/sso/Login", get(login_page).post(login_submit))
        .route("/sso/{*rest}", axum::routing::post(super::sso::entry))
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

async fn login_submit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = shared.lock();
    let now = s.now();
    s.tick(now);
    if !s.behaviour.form_login {
        s.log(now, "POST", "/sso/Login", 403);
        return Reply {
            status: 403,
            body: Body::Html(
                "<html><body>This simulator expects IBKR's SRP login (pbal login); start it \
                 with --form-login for this form.</body></html>"
                    .into(),
            ),
            cookies: vec![],
        }
        .into_response();
    }
    let ok = form.get("username") == Some(&s.username) && form.get("password") == Some(&s.password);
    if !ok {
        s.log(now, "POST", "/sso/Login", 401);
        return Reply {
            status: 401,
            body: Body::Html(
                "<html><body>Invalid username password combination</body></html>".into(),
            ),
            cookies: vec![],
        }
        .into_response();
    }
    s.login(now);
    s.log(now, "POST", "/sso/Login", 200);
    let sid = s.session.session_id.clone();
    Reply {
        status: 200,
        body: Body::Text("Client login succeeds".into()),
        cookies: vec![
            format!("x-sess-uuid={sid}; Path=/; Secure; HttpOnly"),
            "USERID=84412093; Path=/; Secure".to_string(),
        ],
    }
    .into_response()
}
