//! Page bodies: staged plans, run history, one run, status, and the outcome of a decision.
//!
//! Pure functions from journal data to HTML (no I/O), so they are tested directly and shared
//! by the served pages and the self-contained report files.
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::chart::weights_svg;
use super::html::{esc, money, percent};
use super::runview::RunView;
use super::status::StatusView;
use crate::config::Settings;
use crate::cycle::broker::OrderType;
use crate::cycle::planning::RunPlan;
use crate::cycle::snapshot::AccountSnapshot;
use crate::cycle::{CycleError, CycleReport, guards};
use crate::journal::{RunRecord, StagedPlan};

/// The approve/reject forms of one pending plan: the token (in the action URL, like every
/// link) and one single-use CSRF value per action.
#[derive(Debug, Clone)]
pub struct Forms {
    pub token: String,
    pub approve_csrf: String,
    pub reject_csrf: String,
}

/// "in 3 h 20 min", "expired 5 min ago".
fn relative(at: &str, now: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(at) else {
        return String::new();
    };
    let d = t.with_timezone(&Utc) - now;
    let m = d.num_minutes().abs();
    let span = format!("{} h {} min", m / 60, m % 60);
    if d.num_seconds() >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// The staged-plans page: pending plans first (each with its buttons when `forms` gives
/// them), then decided ones.
pub fn staged_list(
    plans: &[StagedPlan],
    settings: &Settings,
    kill: Option<&str>,
    now: DateTime<Utc>,
    mut forms: impl FnMut(&StagedPlan) -> Option<Forms>,
) -> String {
    let mut s = String::new();
    if let Some(k) = kill {
        let _ = write!(
            s,
            r#"<p class="notice" id="kill-switch">Kill switch engaged: {}. Plans cannot be approved or rejected here until it is off.</p>"#,
            esc(k)
        );
    }
    let (pending, decided): (Vec<&StagedPlan>, Vec<&StagedPlan>) =
        plans.iter().partition(|p| p.state == "pending");
    if pending.is_empty() {
        s.push_str("<p>No plan is waiting for a decision.</p>");
    }
    for p in &pending {
        let f = if kill.is_none() { forms(p) } else { None };
        s.push_str(&staged_card(p, settings, now, f.as_ref()));
    }
    if !decided.is_empty() {
        s.push_str("<h2>Decided and expired</h2>");
        for p in decided {
            s.push_str(&staged_card(p, settings, now, None));
        }
    }
    s
}

/// One staged plan: header, chart, orders, what-if, guards, buttons.
pub fn staged_card(
    p: &StagedPlan,
    settings: &Settings,
    now: DateTime<Utc>,
    forms: Option<&Forms>,
) -> String {
    let pending = p.state == "pending";
    let mut s = format!(
        r#"<section class="card{cls}" id="plan-{id}"><h2>Plan {id} <span class="state">{state}</span></h2><p>Account {acct} · staged {created} · expires {expires} ({rel})</p>"#,
        cls = if pending { " pending" } else { "" },
        id = esc(&p.id),
        state = esc(&p.state),
        acct = esc(&p.account_id),
        created = esc(&p.created_at),
        expires = esc(&p.expires_at),
        rel = relative(&p.expires_at, now),
    );
    if let Some(n) = &p.decision_note {
        let _ = write!(s, "<p>{}</p>", esc(n));
    }
    let plan = serde_json::from_value::<RunPlan>(p.plan.clone()).ok();
    let snap = serde_json::from_value::<AccountSnapshot>(p.snapshot.clone()).ok();
    match &plan {
        Some(rp) => {
            s.push_str(&plan_summary(rp));
            s.push_str(&weights_svg(&rp.plan.lines));
            s.push_str(&tax_section(rp));
            s.push_str(&orders_table(rp, &p.whatif));
            if let Some(snap) = &snap {
                s.push_str(&guards_list(rp, snap, settings));
            }
        }
        None => s.push_str(r#"<p class="bad">The stored plan cannot be read.</p>"#),
    }
    if let (true, Some(f)) = (pending, forms) {
        let (id, t) = (esc(&p.id), esc(&f.token));
        let _ = write!(
            s,
            r#"<div class="buttons"><form method="post" action="/plans/{id}/approve?token={t}"><input type="hidden" name="csrf" value="{a}"><button class="approve" type="submit">Approve and send orders</button></form><form method="post" action="/plans/{id}/reject?token={t}"><input type="hidden" name="csrf" value="{r}"><button class="reject" type="submit">Reject</button></form></div>"#,
            a = esc(&f.approve_csrf),
            r = esc(&f.reject_csrf),
        );
    }
    s.push_str("</section>");
    s
}

/// A tax-aware plan's audit (lots per sale, ST/LT, budget, limits, sources); empty otherwise.
fn tax_section(rp: &RunPlan) -> String {
    rp.tax.as_ref().map_or_else(String::new, |t| {
        format!(
            r#"<h3>Tax</h3><pre class="tax">{}</pre>"#,
            esc(t.text().trim())
        )
    })
}

fn plan_summary(rp: &RunPlan) -> String {
    let turnover: Decimal = rp.legs.iter().map(|l| l.value()).sum();
    format!(
        "<p>{} orders · turnover {} · strategy {} · cash {} → left {} · portfolio {} → {}</p>",
        rp.legs.len(),
        money(turnover),
        esc(&format!("{:?}", rp.plan.strategy)),
        money(rp.plan.cash),
        money(rp.plan.cash_left),
        money(rp.plan.total_before),
        money(rp.plan.total_after),
    )
}

fn dec_field(w: &serde_json::Value, key: &str) -> String {
    super::whatif::field(w, key).map_or_else(|| "–".to_owned(), money)
}

/// Orders with their what-if results side by side (commission, equity after, equity and
/// initial margin change), then the summed change ([`super::whatif`]).
fn orders_table(rp: &RunPlan, whatif: &serde_json::Value) -> String {
    let mut s = String::from(
        r#"<div class="scroll"><table class="orders"><thead><tr><th>#</th><th>side</th><th class="num">qty</th><th>symbol</th><th>type</th><th class="num">ref. price</th><th class="num">value</th><th class="num">what-if commission</th><th class="num">equity after</th><th class="num">equity change</th><th class="num">initial margin change</th><th>what-if note</th></tr></thead><tbody>"#,
    );
    for l in &rp.legs {
        let w = super::whatif::for_leg(whatif, l.leg);
        let note = ["error", "warn"]
            .iter()
            .filter_map(|k| w.get(*k).and_then(|x| x.as_str()))
            .collect::<Vec<_>>()
            .join("; ");
        let kind = match l.order_type {
            OrderType::Market => "market".to_owned(),
            OrderType::Limit { price } => format!("limit {}", money(price)),
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            l.leg,
            l.side.as_str(),
            l.quantity.normalize(),
            esc(&l.symbol),
            esc(&kind),
            money(l.price),
            money(l.value()),
            dec_field(&w, "commission"),
            dec_field(&w, "equity_after"),
            super::whatif::cell(&w, "equity_change"),
            super::whatif::cell(&w, "initial_change"),
            esc(&note),
        );
    }
    s.push_str("</tbody></table></div>");
    s.push_str(&super::whatif::summary(whatif));
    s
}

/// The guards as they stand for this plan under the current settings.
fn guards_list(rp: &RunPlan, snap: &AccountSnapshot, settings: &Settings) -> String {
    let o = &settings.orders;
    let nlv = snap.balances.net_liquidation;
    let mut items: Vec<(bool, String)> = Vec::new();
    items.push((
        guards::live_account(&snap.account_id, snap.paper, settings.account.allow_live).is_ok(),
        format!(
            "account {} is {}",
            snap.account_id,
            if guards::is_paper(&snap.account_id, snap.paper) {
                "a paper account"
            } else {
                "live (allowed by account.allow_live)"
            }
        ),
    ));
    let sized = rp.sized_orders();
    let largest = sized
        .iter()
        .map(|o| o.value.abs())
        .max()
        .unwrap_or_default();
    let turnover: Decimal = sized.iter().map(|o| o.value.abs()).sum();
    items.push((
        sized.len() <= o.max_orders as usize,
        format!("{} orders ≤ max_orders {}", sized.len(), o.max_orders),
    ));
    items.push((
        largest <= o.max_order_value,
        format!(
            "largest order {} ≤ max_order_value {}",
            money(largest),
            money(o.max_order_value)
        ),
    ));
    let pct = if nlv > Decimal::ZERO {
        percent(turnover / nlv)
    } else {
        "∞".to_owned()
    };
    items.push((
        guards::caps(&sized, nlv, o).is_ok(),
        format!(
            "turnover {pct} of net liquidation {} ≤ max_turnover_pct {}%",
            money(nlv),
            o.max_turnover_pct
        ),
    ));
    items.push((
        true,
        format!(
            "every quote within max_spread_pct {}% and max_mark_deviation_pct {}% when staged{}",
            o.max_spread_pct,
            o.max_mark_deviation_pct,
            if snap.prices_delayed {
                " (market data was delayed)"
            } else {
                ""
            }
        ),
    ));
    let mut s = String::from(r#"<h3>Guards</h3><ul class="guards">"#);
    for (ok, text) in items {
        let _ = write!(
            s,
            r#"<li class="{}">{} {}</li>"#,
            if ok { "ok" } else { "bad" },
            if ok { "✓" } else { "✗" },
            esc(&text)
        );
    }
    s.push_str("</ul>");
    s
}

/// The run list of the history page.
pub fn history_list(runs: &[RunRecord], token: &str) -> String {
    if runs.is_empty() {
        return "<p>No runs yet.</p>".to_owned();
    }
    let mut s = String::from(
        r#"<div class="scroll"><table><thead><tr><th>run</th><th>kind</th><th>mode</th><th>status</th><th>period</th><th>started</th><th>error</th></tr></thead><tbody>"#,
    );
    for r in runs {
        let _ = write!(
            s,
            r#"<tr><td><a href="/history/{id}?token={t}">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&r.kind),
            esc(&r.mode),
            esc(&r.status),
            esc(r.period.as_deref().unwrap_or("–")),
            esc(&r.started_at),
            esc(r.error.as_deref().unwrap_or("")),
            id = esc(&r.id),
            t = esc(token),
        );
    }
    s.push_str("</tbody></table></div>");
    s
}

/// One run in full: header, chart, orders, fills, commissions, residual drift.
pub fn run_detail(v: &RunView) -> String {
    let r = &v.run;
    let mut s = format!(
        "<p>{} · {} · account {} · status <b>{}</b>{} · started {} · finished {}</p>",
        esc(&r.kind),
        esc(&r.mode),
        esc(r.account_id.as_deref().unwrap_or("–")),
        esc(&r.status),
        r.period
            .as_deref()
            .map(|p| format!(" · period {}", esc(p)))
            .unwrap_or_default(),
        esc(&r.started_at),
        esc(r.finished_at.as_deref().unwrap_or("–")),
    );
    if let Some(e) = &r.error {
        let _ = write!(s, r#"<p class="bad">{}</p>"#, esc(e));
    }
    if r.prices_delayed {
        s.push_str(r#"<p class="warn">Planned on delayed market data.</p>"#);
    }
    if let Some(rp) = r
        .plan
        .clone()
        .and_then(|p| serde_json::from_value::<RunPlan>(p).ok())
    {
        s.push_str(&plan_summary(&rp));
        s.push_str(&weights_svg(&rp.plan.lines));
        s.push_str(&tax_section(&rp));
    }
    s.push_str(r#"<h2>Orders</h2>"#);
    if v.orders.is_empty() {
        s.push_str("<p>No orders were sent.</p>");
    } else {
        s.push_str(r#"<div class="scroll"><table class="run-orders"><thead><tr><th>cOID</th><th>side</th><th>symbol</th><th class="num">qty</th><th>state</th><th class="num">filled</th><th class="num">avg price</th></tr></thead><tbody>"#);
        for i in &v.orders {
            let _ = write!(
                s,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&i.coid),
                esc(&i.side),
                esc(&i.symbol),
                esc(&i.quantity),
                esc(i.state.as_str()),
                esc(i.filled_qty.as_deref().unwrap_or("–")),
                esc(i.avg_price.as_deref().unwrap_or("–")),
            );
        }
        s.push_str("</tbody></table></div>");
    }
    s.push_str(&fills_and_drift(v));
    s
}

fn fills_and_drift(v: &RunView) -> String {
    let mut s = String::new();
    if !v.fills.is_empty() {
        let _ = write!(
            s,
            r#"<h2>Fills</h2><p>Commissions {}</p><div class="scroll"><table class="fills"><thead><tr><th>execution</th><th>side</th><th class="num">size</th><th>symbol</th><th class="num">price</th><th class="num">commission</th><th>time</th></tr></thead><tbody>"#,
            money(v.commissions)
        );
        for f in &v.fills {
            let _ = write!(
                s,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                esc(&f.execution_id),
                esc(&f.side),
                esc(&f.size),
                esc(&f.symbol),
                esc(&f.price),
                esc(f.commission.as_deref().unwrap_or("–")),
                esc(f.trade_time.as_deref().unwrap_or("–")),
            );
        }
        s.push_str("</tbody></table></div>");
    }
    if let Some(max) = v.max_drift {
        let _ = write!(
            s,
            r#"<h2>Residual drift</h2><p>Largest distance from target: <b id="max-drift">{}</b> points</p><div class="scroll"><table class="drift"><thead><tr><th>symbol</th><th class="num">target</th><th class="num">after</th><th class="num">drift</th></tr></thead><tbody>"#,
            percent(max).trim_end_matches('%')
        );
        for d in &v.drift {
            let _ = write!(
                s,
                r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&d.symbol),
                percent(d.target_weight),
                percent(d.weight_after),
                percent(d.drift),
            );
        }
        s.push_str("</tbody></table></div>");
    }
    s
}

/// The status page.
pub fn status(v: &StatusView, token: &str) -> String {
    let mut s = format!(
        "<table><tbody><tr><th>session</th><td>{}</td></tr><tr><th>login</th><td>{}</td></tr><tr><th>mode</th><td>{}</td></tr><tr><th>next run</th><td>{}</td></tr><tr><th>kill switch</th><td>{}</td></tr><tr><th>staged</th><td>{} pending</td></tr><tr><th>journal</th><td>{}</td></tr></tbody></table>",
        esc(&v.session),
        esc(&v.login),
        esc(v.mode),
        v.next_run
            .as_ref()
            .map(|n| format!(
                "{} at {} ({} exchange time)",
                esc(&n.period),
                esc(&n.local),
                esc(&n.exchange)
            ))
            .unwrap_or_else(|| "none scheduled".to_owned()),
        v.kill_switch
            .as_deref()
            .map_or("off".to_owned(), |k| format!("ON ({})", esc(k))),
        v.staged_pending.len(),
        esc(&v.journal.display().to_string()),
    );
    s.push_str("<h2>Last runs</h2>");
    s.push_str(&history_list(&v.last_runs, token));
    s
}

/// What an approval did: sent orders (with their states), re-staged, or refused.
pub fn approve_outcome(id: &str, result: &Result<CycleReport, CycleError>, token: &str) -> String {
    let t = esc(token);
    match result {
        Ok(r) if r.status == "restaged" => format!(
            r#"<p class="warn" id="outcome">Prices or holdings moved since plan {} was staged, so nothing was sent: a fresh plan {} is waiting for your decision.</p><ul>{}</ul><p><a href="/?token={t}">Review the new plan</a></p>"#,
            esc(id),
            esc(r.staged_id.as_deref().unwrap_or("?")),
            r.notes
                .iter()
                .map(|n| format!("<li>{}</li>", esc(n)))
                .collect::<String>(),
        ),
        Ok(r) => {
            let mut s = format!(
                r#"<p class="ok" id="outcome">Plan {} approved: run {} {}.</p><div class="scroll"><table class="outcome-orders"><thead><tr><th>symbol</th><th>side</th><th class="num">qty</th><th>state</th><th class="num">filled</th><th class="num">avg price</th><th>message</th></tr></thead><tbody>"#,
                esc(id),
                esc(&r.run_id),
                esc(&r.status),
            );
            for o in &r.orders {
                let _ = write!(
                    s,
                    r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                    esc(&o.symbol),
                    o.side.as_str(),
                    o.quantity.normalize(),
                    esc(o.state.as_str()),
                    o.filled.normalize(),
                    o.avg_price.map(money).unwrap_or_else(|| "–".to_owned()),
                    esc(o.message.as_deref().unwrap_or("")),
                );
            }
            let _ = write!(
                s,
                r#"</tbody></table></div><ul>{}</ul><p><a href="/history/{}?token={t}">Run details</a></p>"#,
                r.notes
                    .iter()
                    .map(|n| format!("<li>{}</li>", esc(n)))
                    .collect::<String>(),
                esc(&r.run_id),
            );
            s
        }
        Err(e) => format!(
            r#"<p class="bad" id="outcome">Plan {} was not executed: {}</p><p><a href="/?token={t}">Back to the staged plans</a></p>"#,
            esc(id),
            esc(&e.to_string()),
        ),
    }
}
