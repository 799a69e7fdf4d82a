//! A brokerage session stuck "active but not authenticated" (IBeam #7, #16, #130; reference
//! pitfalls §3–4), reproduced by the simulator, and the client's bounded ladder out of it:
//! `ssodh/init`, then `reauthenticate`, then — only when the login is pbal's own, and at most
//! `max_stuck_relogins` times per episode — `/logout` and a fresh login.
mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::SimEnv;
use futures::future::BoxFuture;
use pbal::ibkr::{
    ClientOptions, GatewayClient, GatewayError, Login, LoginOutcome, SessionState, WaitForHuman,
};
use pbal::sim::{SessionAction, SimControl, SimHandle};

/// A login that needs no human: it opens a new session at the simulator, like `SsoLogin`.
struct OwnLogin {
    sim: SimControl,
    logins: AtomicU32,
    /// False: stopped or backing off (as `SsoLogin` after a refused password).
    may: bool,
}

impl Login for OwnLogin {
    fn login<'a>(
        &'a self,
        _client: &'a GatewayClient,
    ) -> BoxFuture<'a, Result<LoginOutcome, GatewayError>> {
        Box::pin(async move {
            self.logins.fetch_add(1, Ordering::SeqCst);
            self.sim.set_session(SessionAction::LogIn);
            Ok(LoginOutcome::Attempted)
        })
    }

    fn can_log_in_now(&self) -> bool {
        self.may
    }
}

fn calls(sim: &SimHandle, path: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.ends_with(path))
        .count()
}

async fn ready_env() -> (SimEnv, GatewayClient) {
    let env = SimEnv::relaxed().await;
    // A stuck session does not heal by waiting: a few polls per rung keep the test short.
    let client = GatewayClient::new(ClientOptions {
        auth_poll_attempts: 3,
        ..env.client_options()
    })
    .unwrap();
    assert_eq!(
        client.ensure_ready().await.unwrap().state,
        SessionState::Ready
    );
    (env, client)
}

#[tokio::test]
async fn reauthenticate_clears_a_session_that_ssodh_init_does_not() {
    let (env, client) = ready_env().await;
    env.sim.set_session(SessionAction::StuckUntilReauthenticate);
    let status = client.recover(&WaitForHuman::default()).await.unwrap();
    assert_eq!(status.state, SessionState::Ready);
    assert_eq!(calls(&env.sim, "/iserver/reauthenticate"), 1);
    assert_eq!(calls(&env.sim, "/logout"), 0);
}

#[tokio::test]
async fn own_login_logs_out_and_in_again_when_reauthenticate_does_not_help() {
    let (env, client) = ready_env().await;
    let login = OwnLogin {
        sim: env.sim.clone(),
        logins: AtomicU32::new(0),
        may: true,
    };
    env.sim.set_session(SessionAction::StuckUntilRelogin);
    let status = client.recover(&login).await.unwrap();
    assert_eq!(status.state, SessionState::Ready);
    assert_eq!(calls(&env.sim, "/iserver/reauthenticate"), 1);
    assert_eq!(calls(&env.sim, "/logout"), 1);
    assert_eq!(login.logins.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_session_a_human_opened_is_never_logged_out() {
    let (env, client) = ready_env().await;
    env.sim.set_session(SessionAction::StuckUntilRelogin);
    let e = client.recover(&WaitForHuman::default()).await.unwrap_err();
    assert!(
        matches!(&e, GatewayError::NoBrokerage { reason } if reason.contains("log out and in again")),
        "{e}"
    );
    assert_eq!(calls(&env.sim, "/logout"), 0);
    assert_eq!(client.status().state, SessionState::SsoOnly);
}

#[tokio::test]
async fn a_stopped_login_never_logs_out_a_session_it_cannot_replace() {
    let (env, client) = ready_env().await;
    let login = OwnLogin {
        sim: env.sim.clone(),
        logins: AtomicU32::new(0),
        may: false,
    };
    env.sim.set_session(SessionAction::StuckUntilRelogin);
    let e = client.recover(&login).await.unwrap_err();
    assert!(e.to_string().contains("cannot log in again"), "{e}");
    assert_eq!(calls(&env.sim, "/logout"), 0);
    assert_eq!(login.logins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn relogins_are_bounded_per_stuck_episode() {
    let (env, client) = ready_env().await;
    let login = OwnLogin {
        sim: env.sim.clone(),
        logins: AtomicU32::new(0),
        may: true,
    };
    let max = client.options().max_stuck_relogins;
    assert_eq!(max, 2, "the production default");
    env.sim.set_session(SessionAction::StuckForever);
    // Every login opens a session that is just as stuck (IBKR's side).
    let mut last = None;
    for _ in 0..max + 3 {
        last = Some(client.recover(&login).await.unwrap_err());
    }
    assert_eq!(calls(&env.sim, "/logout"), max as usize);
    assert_eq!(login.logins.load(Ordering::SeqCst), max);
    let last = last.unwrap().to_string();
    assert!(last.contains("restart the gateway"), "{last}");

    // IBKR heals; the next stuck episode gets its full bound again.
    env.sim.set_session(SessionAction::Authenticate);
    assert_eq!(
        client.recover(&login).await.unwrap().state,
        SessionState::Ready
    );
    env.sim.set_session(SessionAction::StuckUntilRelogin);
    assert_eq!(
        client.recover(&login).await.unwrap().state,
        SessionState::Ready
    );
    assert_eq!(calls(&env.sim, "/logout"), max as usize + 1);
}
