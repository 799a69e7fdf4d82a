//! Session endpoints and the session state machine's steps: auth status, tickle,
//! `ssodh/init`, priming, recovery and the Ready check that gates orders.
use serde_json::{Value, json};

use super::*;

impl GatewayClient {
    // ------------------------------------------------------------------ session endpoints

    /// `POST /iserver/auth/status`.
    ///
    /// # Errors
    /// Transport errors, `NoSession` (401).
    pub async fn auth_status(&self) -> Result<AuthStatus, GatewayError> {
        let ep = "/iserver/auth/status";
        let v = self.request(Req::post(ep, json!({})).idempotent()).await?;
        AuthStatus::from_json(&v, ep)
    }

    /// `POST /tickle`: keep-alive. `{"error":"no session"}` comes back as `NoSession`.
    ///
    /// # Errors
    /// Transport errors, `NoSession`.
    pub async fn tickle(&self) -> Result<Tickle, GatewayError> {
        let ep = "/tickle";
        let v = self.request_once(&Req::post(ep, json!({}))).await?;
        let o = Obj::new(&v, ep)?;
        let auth = match o.raw("iserver").and_then(|i| i.get("authStatus")) {
            Some(a) if !a.is_null() => Some(AuthStatus::from_json(a, ep)?),
            _ => None,
        };
        Ok(Tickle {
            auth,
            sso_expires_ms: o.int("ssoExpires")?,
        })
    }

    /// `POST /iserver/auth/ssodh/init {"publish":true,"compete":…}`: claims the brokerage
    /// session (with `compete`, from other logins of the same user).
    ///
    /// # Errors
    /// Transport errors, `NoSession`.
    pub async fn ssodh_init(&self, compete: bool) -> Result<AuthStatus, GatewayError> {
        let ep = "/iserver/auth/ssodh/init";
        let v = self
            .request_once(&Req::post(ep, json!({"publish": true, "compete": compete})))
            .await?;
        AuthStatus::from_json(&v, ep)
    }

    /// `POST /iserver/questions/suppress`: pre-answers reply prompts for this brokerage session.
    ///
    /// # Errors
    /// More than 51 ids, transport errors.
    pub async fn suppress_questions(&self, ids: &[String]) -> Result<(), GatewayError> {
        if ids.len() > 51 {
            return Err(GatewayError::Config(format!(
                "orders.suppress has {} ids; the gateway accepts at most 51",
                ids.len()
            )));
        }
        self.request(
            Req::post("/iserver/questions/suppress", json!({ "messageIds": ids })).idempotent(),
        )
        .await
        .map(|_| ())
    }

    /// Primes the brokerage session: `/iserver/accounts`, `/portfolio/accounts`, question
    /// suppression. Sets `Ready`.
    ///
    /// # Errors
    /// Any failing step (the state stays below Ready).
    pub async fn prime(&self) -> Result<IserverAccounts, GatewayError> {
        let accounts = self.iserver_accounts().await?;
        if accounts.accounts.is_empty() {
            let err = GatewayError::NoBrokerage {
                reason: "/iserver/accounts lists no account (competing session?)".into(),
            };
            self.note_error(&err);
            return Err(err);
        }
        self.reselect_account(&accounts).await?;
        self.portfolio_accounts_once().await?;
        let ids = &self.inner.options.suppress;
        if !ids.is_empty() {
            if ids.len() > 51 {
                return Err(GatewayError::Config(format!(
                    "orders.suppress has {} ids; the gateway accepts at most 51",
                    ids.len()
                )));
            }
            self.request_once(&Req::post(
                "/iserver/questions/suppress",
                json!({ "messageIds": ids }),
            ))
            .await?;
        }
        self.set_state(SessionState::Ready, "primed");
        let list = accounts.accounts.clone();
        self.inner.state.send_modify(|s| s.accounts = list);
        Ok(accounts)
    }

    /// One pass up the state machine from whatever the gateway reports: auth status →
    /// (no session: ask `login`) → ssodh/init + poll when only SSO → prime → Ready.
    ///
    /// # Errors
    /// The error that stopped the climb (the state says where).
    pub async fn recover(&self, login: &dyn Login) -> Result<SessionStatus, GatewayError> {
        let _one = self.inner.recover_lock.lock().await;
        let status = match self.auth_status().await {
            Ok(s) => s,
            Err(e @ GatewayError::NoSession { .. }) => {
                self.set_state(
                    SessionState::NoSession,
                    "nobody is logged in to the gateway",
                );
                match login.login(self).await {
                    Ok(crate::ibkr::session::LoginOutcome::Attempted) => self.auth_status().await?,
                    Ok(crate::ibkr::session::LoginOutcome::WaitingForHuman) => return Err(e),
                    Err(le) => return Err(le),
                }
            }
            Err(e) => return Err(e),
        };
        if !status.healthy() {
            self.establish_brokerage(login, status).await?;
        }
        if self.status().state < SessionState::Brokerage {
            self.set_state(SessionState::Brokerage, "brokerage session established");
        }
        self.prime().await?;
        self.stuck_episode_over();
        Ok(self.status())
    }

    /// For one-shot commands: brings the session to Ready (once, without waiting for a login).
    ///
    /// # Errors
    /// Why the session is not Ready.
    pub async fn ensure_ready(&self) -> Result<SessionStatus, GatewayError> {
        let s = self.status();
        if s.ready_within(self.inner.options.ready_max_age) {
            return Ok(s);
        }
        self.recover(&crate::ibkr::session::WaitForHuman::default())
            .await
    }

    /// The keeper's step: tickle while Ready (confirming it), otherwise recover.
    ///
    /// # Errors
    /// The error of the failed step (the keeper logs it and tries again later).
    pub async fn maintain(&self, login: &dyn Login) -> Result<(), GatewayError> {
        if self.status().state == SessionState::Ready {
            match self.tickle().await {
                Ok(t) => match t.auth {
                    Some(a) if !a.healthy() => {
                        self.set_state(SessionState::SsoOnly, a.reason());
                    }
                    // A tickle without `iserver.authStatus` says nothing about the brokerage
                    // session (gateways omit it when there is none): never read as healthy;
                    // the recovery below asks auth/status.
                    None => {
                        self.degrade(SessionState::Brokerage, "tickle without iserver.authStatus");
                    }
                    Some(_) => {
                        self.inner
                            .state
                            .send_modify(|s| s.confirmed_at = Some(Instant::now()));
                        return Ok(());
                    }
                },
                Err(e) if e.is_rate_limited() => return Err(e),
                Err(e) if e.is_session_lost() => {}
                Err(e) => return Err(e),
            }
        }
        self.recover(login).await.map(|_| ())
    }

    /// Makes sure an order may be sent now: Ready confirmed within `ready_max_age_secs`,
    /// re-confirming with `auth/status` (and re-priming if needed) when older.
    ///
    /// # Errors
    /// [`GatewayError::NotReady`] (or the transport error) when the session is not usable.
    pub async fn confirm_ready_for_orders(&self) -> Result<(), GatewayError> {
        let max_age = self.inner.options.ready_max_age;
        if self.status().ready_within(max_age) {
            return Ok(());
        }
        let status = self.auth_status().await?;
        if !status.healthy() {
            self.set_state(SessionState::SsoOnly, status.reason());
            return Err(GatewayError::NotReady(status.reason()));
        }
        if self.status().state == SessionState::Ready {
            self.inner
                .state
                .send_modify(|s| s.confirmed_at = Some(Instant::now()));
        } else {
            self.prime()
                .await
                .map_err(|e| GatewayError::NotReady(format!("priming failed: {e}")))?;
        }
        Ok(())
    }
}

pub(super) fn parse_iserver_accounts(v: &Value, ep: &str) -> Result<IserverAccounts, GatewayError> {
    let o = Obj::new(v, ep)?;
    let accounts: Vec<String> = o
        .raw("accounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut props = BTreeMap::new();
    if let Some(Value::Object(m)) = o.raw("acctProps") {
        for (k, p) in m {
            let po = Obj::new(p, ep)?;
            props.insert(
                k.clone(),
                crate::ibkr::types::AccountProps {
                    supports_cash_qty: po.bool("supportsCashQty").unwrap_or(false),
                    supports_fractions: po.bool("supportsFractions").unwrap_or(false),
                },
            );
        }
    }
    Ok(IserverAccounts {
        accounts,
        props,
        selected_account: o.str("selectedAccount"),
        is_paper: o.bool("isPaper"),
    })
}
