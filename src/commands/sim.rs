//! `pbal sim` — run the Client Portal Gateway simulator (see [`crate::sim`]) until Ctrl-C/SIGTERM.
//! The first stdout line is `listening on https://127.0.0.1:PORT` so scripts and tests can
//! read the chosen port.
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::sim::{AccountSpec, RateLimits, SimConfig, Simulator, StartState, TlsSource};

/// Arguments of `pbal sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (loopback only); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// Account file (TOML, or JSON by extension); default: paper account with the seeds' ten ETFs.
    #[arg(long, value_name = "FILE")]
    pub account: Option<PathBuf>,
    /// Write the CA certificate (PEM) clients must trust to this file.
    #[arg(long, value_name = "FILE")]
    pub ca_out: Option<PathBuf>,
    /// Serve this certificate chain (PEM) instead of generating a CA + leaf; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Start without a session: log in first with IBKR's SRP exchange (`pbal login`), or with
    /// the plain form at https://127.0.0.1:PORT/sso/Login when --form-login is given.
    #[arg(long)]
    pub logged_out: bool,
    /// Also accept the plain username/password form at /sso/Login (for browsers).
    #[arg(long)]
    pub form_login: bool,
    /// Fault rules (TOML `[[fault]]` tables or a JSON array).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Disable pacing (the real 10 req/s + per-endpoint limits and 10-minute penalty box).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Idle expiry of the session in seconds (real gateway: about 360).
    #[arg(long, value_name = "SECS", default_value_t = 360)]
    pub idle_timeout: u64,
    /// Disable the simulated nightly reset (01:00 America/New_York).
    #[arg(long)]
    pub no_nightly_reset: bool,
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = SimConfig {
        listen: args.listen,
        ..SimConfig::default()
    };
    if let Some(p) = &args.account {
        cfg.account = AccountSpec::load(p)?;
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        cfg.tls = TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
    }
    if args.logged_out {
        cfg.start_state = StartState::LoggedOut;
    }
    if let Some(p) = &args.faults {
        cfg.faults = crate::sim::faults::load(p)?;
    }
    cfg.behaviour.form_login = args.form_login;
    if args.no_rate_limits {
        cfg.behaviour.rate_limits = RateLimits::disabled();
    }
    cfg.behaviour.idle_timeout_ms = args.idle_timeout.saturating_mul(1000);
    if args.no_nightly_reset {
        cfg.behaviour.nightly_reset = None;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let handle = Simulator::start(cfg).await?;
        if let Some(p) = &args.ca_out {
            handle
                .write_ca(p)
                .with_context(|| format!("writing the CA certificate to {}", p.display()))?;
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", handle.base_url())?;
            out.flush()?;
        }
        match &args.ca_out {
            Some(p) => eprintln!(
                "pbal sim: trust the CA in {} (API at {})",
                p.display(),
                handle.api_url()
            ),
            None => eprintln!(
                "pbal sim: no --ca-out given; the CA is also served at {}/sim/ca.pem",
                handle.base_url()
            ),
        }
        eprintln!(
            "pbal sim: account {}; login (when logged out): pbal login, or {}/sso/Login with --form-login",
            handle.account_id(),
            handle.base_url()
        );
        wait_for_signal().await;
        eprintln!("pbal sim: shutting down");
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
