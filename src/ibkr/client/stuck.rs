//! Getting from "logged in" to an authenticated brokerage session, including the stuck case.
//!
//! Gateways in the wild sometimes stay "active but not authenticated" for hours after a login
//! (reference pitfalls §3–4; IBeam #7, #16, #130): `ssodh/init` answers, yet `authenticated`
//! stays false. IBeam's remedy is `reauthenticate`, then `/logout` and a fresh login. pbal
//! climbs the same ladder, one rung per failure, and bounds the expensive rung: at most
//! [`ClientOptions::max_stuck_relogins`] logout-and-login rounds until the session is Ready
//! again, and only when the login is pbal's own — logging out a session a human opened would
//! leave them to log in again for nothing, and only when that login may run now (not stopped
//! after a refused password, not backing off). Past the bound it keeps trying the cheap rungs
//! (IBKR's side often heals by itself) and says a human should restart the gateway.
use std::sync::atomic::Ordering;

use serde_json::json;

use super::*;
use crate::ibkr::session::{Login, LoginOutcome};

impl GatewayClient {
    /// `POST /iserver/reauthenticate`: asks the gateway to rebuild the brokerage session.
    ///
    /// # Errors
    /// Transport errors, `NoSession`.
    pub async fn reauthenticate(&self) -> Result<(), GatewayError> {
        self.request_once(&Req::post("/iserver/reauthenticate", json!({})))
            .await
            .map(|_| ())
    }

    /// `POST /logout`: ends the gateway session. Only the stuck-session ladder calls it.
    ///
    /// # Errors
    /// Transport errors; a 401 (nobody logged in) counts as done.
    pub async fn logout(&self) -> Result<(), GatewayError> {
        match self.request_once(&Req::post("/logout", json!({}))).await {
            Ok(_) | Err(GatewayError::NoSession { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Polls auth status until healthy or the configured attempts run out.
    async fn poll_healthy(&self, mut current: AuthStatus) -> Result<AuthStatus, GatewayError> {
        let mut polls = 0;
        while !current.healthy() && polls < self.inner.options.auth_poll_attempts {
            tokio::time::sleep(self.inner.options.auth_poll_every).await;
            current = self.auth_status().await?;
            polls += 1;
        }
        Ok(current)
    }

    /// From an SSO session whose brokerage part is not healthy to a healthy one: `ssodh/init`,
    /// then `reauthenticate`, then (bounded, own login only) `/logout` and a fresh login.
    ///
    /// # Errors
    /// [`GatewayError::NoBrokerage`] naming every rung tried, or the error of a failed step.
    pub(super) async fn establish_brokerage(
        &self,
        login: &dyn Login,
        status: AuthStatus,
    ) -> Result<(), GatewayError> {
        self.set_state(SessionState::SsoOnly, status.reason());
        let init = self.ssodh_init(self.inner.options.compete).await?;
        let mut current = self.poll_healthy(init).await?;
        if current.healthy() {
            return Ok(());
        }
        // Another login of the same user holds the session and we were told not to take it:
        // neither reauthenticating nor logging out is ours to do.
        if current.competing && !self.inner.options.compete {
            return Err(self.no_brokerage(current.reason()));
        }
        tracing::warn!(reason = %current.reason(), "brokerage session still not authenticated after ssodh/init; reauthenticating");
        // Not in the middle of an order conversation: a reply prompt answered on a session
        // that is being rebuilt would leave its order's fate unknown.
        let _no_order_in_flight = self.inner.order_lock.lock().await;
        self.reauthenticate().await?;
        current = self.poll_healthy(self.auth_status().await?).await?;
        if current.healthy() {
            return Ok(());
        }
        let used = self.inner.stuck_relogins.load(Ordering::Acquire);
        let max = self.inner.options.max_stuck_relogins;
        let can_log_in = login.can_log_in_now();
        if !can_log_in || used >= max {
            let why = if can_log_in {
                format!(
                    "session stuck: not authenticated after ssodh/init, reauthenticate and {used} \
                     fresh login(s); restart the gateway ({})",
                    current.reason()
                )
            } else {
                format!(
                    "session stuck: not authenticated after ssodh/init and reauthenticate, and pbal \
                     cannot log in again by itself now; log out and in again at {} or restart the \
                     gateway ({})",
                    self.login_url(),
                    current.reason()
                )
            };
            return Err(self.no_brokerage(why));
        }
        self.inner.stuck_relogins.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(
            round = used + 1,
            max,
            "brokerage session stuck; logging out and in again"
        );
        self.logout().await?;
        self.set_state(
            SessionState::NoSession,
            "logged out to clear a stuck session",
        );
        if login.login(self).await? != LoginOutcome::Attempted {
            return Err(
                self.no_brokerage("stuck session logged out; the new login did not happen".into())
            );
        }
        current = self.auth_status().await?;
        if !current.healthy() {
            let init = self.ssodh_init(self.inner.options.compete).await?;
            current = self.poll_healthy(init).await?;
        }
        if current.healthy() {
            Ok(())
        } else {
            Err(self.no_brokerage(format!(
                "session still stuck after a fresh login ({})",
                current.reason()
            )))
        }
    }

    /// The session is Ready again: the next stuck episode gets its full bound of relogins.
    pub(super) fn stuck_episode_over(&self) {
        self.inner.stuck_relogins.store(0, Ordering::Release);
    }

    fn no_brokerage(&self, reason: String) -> GatewayError {
        self.set_state(SessionState::SsoOnly, reason.clone());
        GatewayError::NoBrokerage { reason }
    }
}
