//! `pbal check`: a pre-flight a human can read — config, certificate trust, session, account
//! and (with targets configured) symbol resolution and market data, one PASS/FAIL line each.
//! Exit code 0 when everything passed, 1 otherwise. Read-only: places nothing.
use std::path::Path;
use std::process::ExitCode;

use crate::config::Settings;
use crate::ibkr::{GatewayClient, GatewayError, SessionState, TrustMode};

/// Arguments of `pbal check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Skip the market-data snapshot of the target symbols.
    #[arg(long)]
    pub no_market_data: bool,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, ok: bool, what: &str, detail: impl std::fmt::Display) {
        if !ok {
            self.failed = true;
        }
        println!("{} {what:<13} {detail}", if ok { "PASS" } else { "FAIL" });
    }
    fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("WARN {what:<13} {detail}");
    }
}

pub fn run(args: CheckArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut r = Report { failed: false };
    let settings = match Settings::load(config) {
        Ok(s) => {
            r.line(
                true,
                "config",
                config.map_or_else(
                    || "defaults (no --config file)".to_owned(),
                    |p| format!("loaded {}", p.display()),
                ),
            );
            s
        }
        Err(e) => {
            r.line(false, "config", e);
            return Ok(ExitCode::from(1));
        }
    };
    match crate::notify::Notifier::from_settings(&settings.notify) {
        Ok(n) => r.line(true, "alerts", n.describe()),
        Err(e) => r.line(false, "alerts", e),
    }
    match crate::adapters::login::summary(&settings, true) {
        Ok(line) => r.line(true, "login", line),
        Err(line) => r.line(false, "login", line),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(check(&settings, &args, &mut r));
    Ok(if r.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn check(settings: &Settings, args: &CheckArgs, r: &mut Report) {
    let client = match crate::adapters::gateway_client(settings) {
        Ok(c) => c,
        Err(e) => {
            r.line(false, "gateway", e);
            return;
        }
    };
    if !check_session(&client, r).await {
        return;
    }
    check_account(&client, settings, r).await;
    if settings.portfolio.targets.is_empty() {
        r.warn(
            "targets",
            "none configured (equal weight over holdings); nothing to resolve",
        );
        return;
    }
    let conids = check_symbols(&client, settings, r).await;
    if args.no_market_data || conids.is_empty() {
        return;
    }
    check_market_data(&client, &conids, r).await;
}

/// Certificate and session lines; false when the later checks cannot run.
async fn check_session(client: &GatewayClient, r: &mut Report) -> bool {
    let trust = match client.trust() {
        TrustMode::CaFile(p) => format!("CA file {}", p.display()),
        TrustMode::Pinned(_) => "pinned certificate (gateway.pin_sha256)".to_owned(),
        TrustMode::Nothing => "nothing configured".to_owned(),
    };
    // Any HTTP answer (even 401) proves the TLS handshake passed our trust settings.
    match client.auth_status().await {
        Ok(_) | Err(GatewayError::NoSession { .. }) => {
            r.line(true, "certificate", format!("trusted via {trust}"));
        }
        Err(e) if e.is_tls() => {
            r.line(false, "certificate", e);
            return false;
        }
        Err(e) => {
            r.line(false, "gateway", e);
            return false;
        }
    }
    match client.ensure_ready().await {
        Ok(status) => {
            r.line(
                status.state == SessionState::Ready,
                "session",
                format!("{} ({})", status.state, status.detail),
            );
            true
        }
        Err(e) => {
            r.line(false, "session", format!("{} — {e}", client.status().state));
            false
        }
    }
}

/// The account line, with the one paper rule (id and gateway agree) the cycle's guard uses.
async fn check_account(client: &GatewayClient, settings: &Settings, r: &mut Report) {
    let acct = match client.select_account(&settings.account.id).await {
        Ok(acct) => acct,
        Err(e) => return r.line(false, "account", e),
    };
    let iserver_flag = client
        .iserver_accounts()
        .await
        .ok()
        .and_then(|a| a.is_paper);
    let account_type = client.portfolio_accounts().await.ok().and_then(|list| {
        list.into_iter()
            .find(|p| p.id == acct)
            .and_then(|p| p.account_type)
    });
    let paper = crate::cycle::account_kind::is_paper(
        &acct,
        crate::cycle::account_kind::gateway_says_paper(iserver_flag, account_type.as_deref()),
    );
    if !paper && !settings.account.allow_live {
        r.line(
            false,
            "account",
            format!(
                "{acct} is a live account and account.allow_live is false \
                 (start with the paper account)"
            ),
        );
    } else {
        r.line(
            true,
            "account",
            format!("{acct} ({})", if paper { "paper" } else { "live" }),
        );
    }
}

/// One line per target symbol; returns the ones that resolved, with their conids.
async fn check_symbols(
    client: &GatewayClient,
    settings: &Settings,
    r: &mut Report,
) -> Vec<(String, i64)> {
    let mut conids = Vec::new();
    for symbol in settings.portfolio.targets.keys() {
        let q = crate::adapters::contract_query(symbol, &settings.portfolio);
        match client.resolve(&q).await {
            Ok(c) => {
                r.line(
                    true,
                    "symbol",
                    format!(
                        "{symbol} → conid {} ({} {}{})",
                        c.conid,
                        c.sec_type,
                        c.exchange.as_deref().unwrap_or(""),
                        c.name.map(|n| format!(", {n}")).unwrap_or_default()
                    ),
                );
                conids.push((symbol.clone(), c.conid));
            }
            Err(e) => r.line(false, "symbol", e),
        }
    }
    conids
}

/// One market-data line per resolved symbol: live, delayed (a warning) or missing.
async fn check_market_data(client: &GatewayClient, conids: &[(String, i64)], r: &mut Report) {
    let ids: Vec<i64> = conids.iter().map(|(_, c)| *c).collect();
    let quotes = match client.snapshot(&ids).await {
        Ok(q) => q,
        Err(e) => return r.line(false, "market data", e),
    };
    for ((symbol, _), q) in conids.iter().zip(quotes) {
        if q.is_missing() {
            r.line(
                false,
                "market data",
                format!("{symbol}: no price ({:?})", q.availability),
            );
        } else if q.availability.is_delayed() {
            r.warn(
                "market data",
                format!(
                    "{symbol}: delayed ({:?}), last {:?}",
                    q.availability, q.last
                ),
            );
        } else {
            r.line(
                true,
                "market data",
                format!(
                    "{symbol}: bid {} ask {} last {}",
                    opt(q.bid),
                    opt(q.ask),
                    opt(q.last)
                ),
            );
        }
    }
}

fn opt(d: Option<rust_decimal::Decimal>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| d.to_string())
}
