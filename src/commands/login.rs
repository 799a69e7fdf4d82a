//! `pbal login [--check] [--reset]`: one login to the gateway now, without a browser, printing
//! each step's outcome (never a secret); `--check` only checks the credentials and the login
//! state; `--reset` re-enables automatic logins after a stop (wrong password, locked account).
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::Globals;
use super::common;
use crate::ibkr::sso::{Attempt, LoginAlert, SsoLogin};
use crate::notify::{Alert, Notifier, Notify, Severity};

/// Arguments of `pbal login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Check only: credential files readable and private, TOTP secret valid, login state.
    /// Sends nothing to the gateway.
    #[arg(long)]
    pub check: bool,
    /// Clear a stop of automatic logins (do this after fixing the credentials); then log in
    /// once unless --check is also given.
    #[arg(long)]
    pub reset: bool,
}

pub fn run(g: &Globals, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let settings = common::load(g.config.as_deref(), g.log_format.as_deref())?;
    crate::util::private_umask();
    let state_dir = settings.state_dir();
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("state dir {}", state_dir.display()))?;
    let opts = crate::daemon::login::sso_options(&settings)
        .map_err(|why| anyhow::anyhow!("pbal cannot log in by itself: {why}"))?;
    let sources = opts.sources.clone();
    let alerts: Arc<Mutex<Vec<LoginAlert>>> = Arc::default();
    let sink = alerts.clone();
    let sso = SsoLogin::new(
        opts,
        Arc::new(move |a| sink.lock().unwrap_or_else(|p| p.into_inner()).push(a)),
    );
    if args.reset {
        sso.reset().map_err(|e| anyhow::anyhow!(e))?;
        println!("login: automatic logins re-enabled (stop and backoff cleared)");
    }
    if args.check {
        return check(&sso, &sources);
    }
    let notifier = Notifier::from_settings(&settings.notify)?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let client = crate::adapters::gateway_client(&settings)?;
        if client.auth_status().await.is_ok_and(|s| s.healthy()) {
            println!("login: the gateway already has an authenticated session; nothing to do");
            return Ok(ExitCode::SUCCESS);
        }
        println!("login: logging in as {}", sources.username);
        let progress = |step: &str, outcome: &str| println!("  {step:<14} {outcome}");
        let result = sso.attempt(&client, Attempt::Manual, &progress).await;
        let pending: Vec<LoginAlert> =
            std::mem::take(&mut *alerts.lock().unwrap_or_else(|p| p.into_inner()));
        for a in pending {
            let sev = if a.stopped {
                Severity::Critical
            } else {
                Severity::Warning
            };
            notifier.notify(&Alert::new(sev, a.title, a.message)).await;
        }
        match result {
            Ok(report) => {
                println!(
                    "  {:<14} {} user, second factor: {}",
                    "result",
                    if report.paper { "paper" } else { "live" },
                    report.factor
                );
                match client.ensure_ready().await {
                    Ok(s) => println!(
                        "  {:<14} ready (accounts: {})",
                        "session",
                        s.accounts.join(", ")
                    ),
                    Err(e) => println!("  {:<14} logged in, but not ready yet: {e}", "session"),
                }
                println!("login: OK");
                Ok(ExitCode::SUCCESS)
            }
            Err(why) => {
                println!("login: FAILED: {why}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

fn check(
    sso: &SsoLogin,
    sources: &crate::ibkr::sso::CredentialSources,
) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    println!("  {:<14} {}", "username", sources.username);
    println!("  {:<14} from {}", "password", sources.password);
    match &sources.totp_secret {
        Some(s) => println!("  {:<14} from {}", "TOTP secret", s),
        None => println!(
            "  {:<14} none (IB Key push or no second factor)",
            "TOTP secret"
        ),
    }
    match sources.load() {
        Ok(_) => println!("  {:<14} readable and private", "credentials"),
        Err(e) => {
            ok = false;
            println!("  {:<14} FAIL: {e}", "credentials");
        }
    }
    match sso.state() {
        Ok(state) => {
            if let Some(t) = state.last_success {
                println!(
                    "  {:<14} {}",
                    "last login",
                    t.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            match state.may_attempt(chrono::Utc::now()) {
                Ok(()) => println!("  {:<14} automatic logins enabled", "state"),
                Err(why) => {
                    ok &= state.stopped.is_none();
                    println!("  {:<14} {why}", "state");
                }
            }
        }
        Err(e) => {
            ok = false;
            println!("  {:<14} FAIL: {e}", "state");
        }
    }
    println!("login check: {}", if ok { "OK" } else { "FAIL" });
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
