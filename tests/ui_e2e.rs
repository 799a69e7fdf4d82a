//! End-to-end: the approval page served on 127.0.0.1:0 in front of the real cycle, gateway
//! client and simulator. Every refusal the page promises is exercised, each asserting that the
//! simulator received no order; the happy path asserts the orders did reach it.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use pbal::adapters::IbkrBroker;
use pbal::config::{OrderMode, Settings};
use pbal::cycle::{Cycle, RunKind};
use pbal::sim::SimHandle;
use reqwest::header::{HOST, ORIGIN};
use rust_decimal_macros::dec;

struct Env {
    sim: SimHandle,
    _dir: tempfile::TempDir,
    cycle: Arc<Cycle<IbkrBroker>>,
    /// Seconds added to the wall clock of the page and the cycle.
    offset: Arc<AtomicI64>,
    base: String,
    token: String,
    http: reqwest::Client,
    staged_id: String,
    legs: usize,
}

fn settings(sim: &SimHandle, dir: &std::path::Path) -> Settings {
    let mut s = common::settings::rebalancing(sim, dir, "hard");
    s.orders.stage_expiry_hours = 1;
    s
}

/// Simulator, a staged plan, and the page serving it.
async fn start() -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let common::SimEnv { sim, dir } = common::SimEnv::relaxed().await;
    let s = settings(&sim, dir.path());
    let state = s.state_dir();
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    let clock: pbal::cycle::Clock =
        Arc::new(move || chrono::Utc::now() + chrono::Duration::seconds(o.load(Ordering::SeqCst)));
    let cycle = Arc::new(common::cycle::with_clock(s.clone(), clock.clone()));
    let r = cycle
        .run(OrderMode::Stage, RunKind::Manual, None)
        .await
        .unwrap();
    assert_eq!(r.status, "staged");
    let bound = pbal::ui::bind("127.0.0.1:0".parse().unwrap(), &state)
        .await
        .unwrap();
    let base = format!("http://{}", bound.addr());
    let link = bound.link();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let ui = pbal::ui::Ui {
        settings: s,
        journal: cycle.journal.clone(),
        decider: cycle.clone(),
        session: Arc::new(|| Box::pin(async { "ready".to_owned() })),
        clock,
    };
    tokio::spawn(pbal::ui::serve(bound, ui, std::future::pending()));
    Env {
        sim,
        _dir: dir,
        offset,
        base,
        token,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        staged_id: r.staged_id.unwrap(),
        legs: r.plan.unwrap().legs.len(),
        cycle,
    }
}

impl Env {
    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let (s, h) = (r.status().as_u16(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    }

    /// The index page, and the CSRF value of `action` on `plan`.
    async fn csrf(&self, plan: &str, action: &str) -> String {
        let (s, _, body) = self.get(&format!("/?token={}", self.token)).await;
        assert_eq!(s, 200, "{body}");
        let marker = format!(
            r#"action="/plans/{plan}/{action}?token={}"><input type="hidden" name="csrf" value=""#,
            self.token
        );
        let at = body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {action} form for {plan}: {body}"))
            + marker.len();
        body[at..at + 64].to_owned()
    }

    /// POSTs a decision like a browser on the page would (Host and Origin of the page).
    async fn post(&self, plan: &str, action: &str, csrf: &str) -> (u16, String) {
        self.post_with(
            plan,
            action,
            csrf,
            Some(&self.token),
            None,
            Some(self.base.as_str()),
        )
        .await
    }

    async fn post_with(
        &self,
        plan: &str,
        action: &str,
        csrf: &str,
        token: Option<&str>,
        host: Option<&str>,
        origin: Option<&str>,
    ) -> (u16, String) {
        let q = token.map(|t| format!("?token={t}")).unwrap_or_default();
        let mut req = self
            .http
            .post(format!("{}/plans/{plan}/{action}{q}", self.base))
            .form(&[("csrf", csrf)]);
        if let Some(h) = host {
            req = req.header(HOST, h);
        }
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    fn plan_state(&self, id: &str) -> String {
        self.cycle
            .journal
            .staged_plan(id, chrono::Utc::now())
            .unwrap()
            .state
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_the_pending_plan_with_chart_orders_and_strict_headers() {
    let env = start().await;
    let (s, h, body) = env.get(&format!("/?token={}", env.token)).await;
    assert_eq!(s, 200);
    assert!(body.contains(&format!(r#"id="plan-{}""#, env.staged_id)));
    assert!(body.contains("<svg class=\"chart\""), "{body}");
    let rp: pbal::cycle::planning::RunPlan = serde_json::from_value(
        env.cycle
            .journal
            .staged_plan(&env.staged_id, chrono::Utc::now())
            .unwrap()
            .plan,
    )
    .unwrap();
    assert_eq!(
        body.matches(r#"class="before""#).count(),
        rp.plan.lines.len()
    );
    assert_eq!(
        body.matches(r#"class="target""#).count(),
        rp.plan.lines.len()
    );
    for l in &rp.legs {
        assert!(
            body.contains(&format!("<td>{}</td>", l.symbol)),
            "{}",
            l.symbol
        );
    }
    assert!(body.contains("max_turnover_pct") && body.contains("what-if commission"));
    // IBKR's predicted equity and margin change, per order and summed over the plan.
    assert!(body.contains("initial margin change"), "{body}");
    assert!(
        body.contains("What-if (IBKR's preview, each order on its own, summed): equity "),
        "{body}"
    );
    assert_eq!(body.matches(r#"<form method="post""#).count(), 2);
    assert!(!body.contains("<script"), "the page needs no script");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(h.get("access-control-allow-origin").is_none());
    assert_eq!(h["referrer-policy"], "same-origin");
    // No CORS: a preflight is not answered with permissions.
    let pre = env
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!(
                "{}/plans/{}/approve?token={}",
                env.base, env.staged_id, env.token
            ),
        )
        .header(ORIGIN, "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    assert_ne!(pre.status().as_u16(), 200);
    // The stylesheet is served without the token (it holds nothing private).
    let (s, h, css) = env.get("/pbal.css").await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/css") && css.contains("svg.chart")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_without_token_with_wrong_token_foreign_host_or_origin() {
    let env = start().await;
    assert_eq!(env.get("/").await.0, 401, "no token");
    assert_eq!(env.get("/history").await.0, 401, "no token");
    assert_eq!(
        env.get(&format!("/?token={}", "0".repeat(64))).await.0,
        401,
        "wrong token"
    );
    let csrf = env.csrf(&env.staged_id, "approve").await;
    let id = env.staged_id.as_str();
    let (s, b) = env
        .post_with(id, "approve", &csrf, None, None, Some(&env.base))
        .await;
    assert_eq!(s, 401, "POST without token: {b}");
    let (s, b) = env
        .post_with(
            id,
            "approve",
            &csrf,
            Some(&"f".repeat(64)),
            None,
            Some(&env.base),
        )
        .await;
    assert_eq!(s, 401, "POST with a wrong token: {b}");
    let port = env.base.rsplit(':').next().unwrap();
    let evil = format!("evil.example:{port}");
    let (s, b) = env
        .post_with(
            id,
            "approve",
            &csrf,
            Some(&env.token),
            Some(&evil),
            Some(&format!("http://{evil}")),
        )
        .await;
    assert_eq!(s, 400, "DNS rebinding (foreign Host): {b}");
    let (s, b) = env
        .post_with(
            id,
            "approve",
            &csrf,
            Some(&env.token),
            None,
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(s, 403, "foreign Origin: {b}");
    let (s, b) = env
        .post_with(id, "approve", &csrf, Some(&env.token), None, None)
        .await;
    assert_eq!(s, 403, "no Origin on a POST: {b}");
    let (s, b) = env.post(id, "approve", "").await;
    assert_eq!(s, 403, "no CSRF value: {b}");
    // Another plan's (or action's) value does not authorise this one.
    let reject_csrf = env.csrf(id, "reject").await;
    let (s, _) = env.post(id, "approve", &reject_csrf).await;
    assert_eq!(s, 403, "a reject value used to approve");
    assert!(
        env.sim.orders().is_empty(),
        "no refused request reached the gateway"
    );
    assert_eq!(env.plan_state(id), "pending");
    // The untouched value still works: refusals before the CSRF check do not burn it.
    let (s, b) = env.post(id, "approve", &csrf).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_sends_the_staged_orders_once_and_a_reused_form_is_refused() {
    let env = start().await;
    let csrf = env.csrf(&env.staged_id, "approve").await;
    let (s, body) = env.post(&env.staged_id, "approve", &csrf).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains(r#"id="outcome""#) && body.contains("completed"),
        "{body}"
    );
    assert_eq!(env.sim.orders().len(), env.legs);
    assert_eq!(env.plan_state(&env.staged_id), "approved");
    let (s, body) = env.post(&env.staged_id, "approve", &csrf).await;
    assert_eq!(s, 403, "reused CSRF value: {body}");
    assert!(body.contains("already used"), "{body}");
    assert_eq!(env.sim.orders().len(), env.legs, "nothing sent twice");
    // The decided plan shows no buttons; the run's page shows orders, fills and drift.
    let (_, _, index) = env.get(&format!("/?token={}", env.token)).await;
    assert!(!index.contains("<form"), "{index}");
    let run = env.cycle.journal.runs(1).unwrap().remove(0);
    let (s, _, page) = env
        .get(&format!("/history/{}?token={}", run.id, env.token))
        .await;
    assert_eq!(s, 200);
    assert!(
        page.contains(r#"class="fills""#) && page.contains(r#"id="max-drift""#),
        "{page}"
    );
    assert!(page.contains("filled"), "{page}");
    // The run wrote its report files: self-contained HTML and the JSON audit record, 0600.
    use std::os::unix::fs::PermissionsExt;
    let reports = env.cycle.state_dir.join("reports");
    let html = std::fs::read_to_string(reports.join(format!("{}.html", run.id))).unwrap();
    assert!(
        html.contains("<style>") && html.contains(r#"<svg class="chart""#),
        "{html}"
    );
    assert!(
        !html.contains("href=\"/") && !html.contains("src="),
        "no external asset"
    );
    let jpath = reports.join(format!("{}.json", run.id));
    let mode = std::fs::metadata(&jpath).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let audit: serde_json::Value = serde_json::from_slice(&std::fs::read(&jpath).unwrap()).unwrap();
    assert_eq!(
        audit["orders"].as_array().unwrap().len(),
        env.legs,
        "{audit}"
    );
    assert!(!audit["fills"].as_array().unwrap().is_empty(), "{audit}");
    let prices = audit["prices"].as_array().unwrap();
    assert!(!prices.is_empty());
    for p in prices {
        let src = p["source"].as_str().unwrap();
        assert!(["live", "delayed", "prior close"].contains(&src), "{p}");
        assert!(p["time"].is_string(), "{p}");
    }
    assert!(
        audit["cash_before"].is_string() || audit["cash_before"].is_number(),
        "{audit}"
    );
    assert_ne!(
        audit["cash_before"], audit["cash_after"],
        "the fills moved cash"
    );
    // `pbal history --format csv`: one row per fill (plus unfilled orders), with a header.
    let cfg = common::config::write_config(env._dir.path(), &env.sim, "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pbal"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "history",
            "--format",
            "csv",
            "--run",
            &run.id,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("run,started_at,kind,mode,run_status,coid,side,symbol")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= env.legs, "{csv}");
    assert!(rows.iter().all(|r| r.starts_with(&run.id)), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_and_expired_plans_are_refused() {
    let env = start().await;
    let old = env.staged_id.clone();
    let csrf = env.csrf(&old, "approve").await;
    // Prices move; the CLI approval re-plans and supersedes the page's plan.
    let rp = env
        .cycle
        .journal
        .staged_plan(&old, chrono::Utc::now())
        .unwrap();
    let sym = rp.plan["legs"][0]["symbol"].as_str().unwrap().to_owned();
    let p = env.sim.price(&sym).unwrap();
    env.sim.set_price(&sym, p * dec!(1.03)).unwrap();
    let r = env.cycle.approve(&old).await.unwrap();
    assert_eq!(r.status, "restaged");
    let (s, body) = env.post(&old, "approve", &csrf).await;
    assert_eq!(s, 409, "superseded: {body}");
    assert!(body.contains("superseded"), "{body}");
    // The fresh plan expires after one hour: a form loaded at 59 min is refused at 61.
    let fresh = r.staged_id.unwrap();
    env.offset.store(59 * 60, Ordering::SeqCst);
    let csrf = env.csrf(&fresh, "approve").await;
    env.offset.store(61 * 60, Ordering::SeqCst);
    let (s, body) = env.post(&fresh, "approve", &csrf).await;
    assert_eq!(s, 409, "expired: {body}");
    assert!(body.contains("expired"), "{body}");
    assert!(env.sim.orders().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_hides_the_buttons_and_refuses_on_the_server() {
    let env = start().await;
    let approve = env.csrf(&env.staged_id, "approve").await;
    let reject = env.csrf(&env.staged_id, "reject").await;
    std::fs::write(env.cycle.state_dir.join("STOP"), "").unwrap();
    let (_, _, index) = env.get(&format!("/?token={}", env.token)).await;
    assert!(index.contains(r#"id="kill-switch""#), "{index}");
    assert!(
        !index.contains("<form") && !index.contains("<button"),
        "{index}"
    );
    let (s, body) = env.post(&env.staged_id, "approve", &approve).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("kill switch"), "{body}");
    let (s, _) = env.post(&env.staged_id, "reject", &reject).await;
    assert_eq!(s, 403);
    assert!(env.sim.orders().is_empty());
    assert_eq!(env.plan_state(&env.staged_id), "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_keeps_the_plan_in_the_journal_and_status_page_reads_it() {
    let env = start().await;
    let csrf = env.csrf(&env.staged_id, "reject").await;
    let (s, body) = env.post(&env.staged_id, "reject", &csrf).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(env.plan_state(&env.staged_id), "rejected");
    assert!(env.sim.orders().is_empty());
    let (s, _, status) = env.get(&format!("/status?token={}", env.token)).await;
    assert_eq!(s, 200);
    assert!(
        status.contains("ready") && status.contains("0 pending"),
        "{status}"
    );
}
