//! Keeping the configured account selected, and reading its executions.
//!
//! Why: `/iserver/account/trades` (and the gateway's notion of "the current account") has no
//! account in its path; it answers for the session's *selected* account. For a user with
//! several accounts, every re-authentication puts the selection back on the gateway's default
//! — often another account — and trades then come back empty or foreign. pbal would conclude
//! that its sells raised nothing (budget) or that its orders never filled (reconciliation). So
//! priming, which follows every (re-)authentication, selects the configured account again, and
//! the trades call names the account as well.
use serde_json::Value;

use super::*;

impl GatewayClient {
    /// After `/iserver/accounts`: when the session offers several accounts, the configured one
    /// ([`ClientOptions::account`]) is among them and it is not the selected one, selects it
    /// (`POST /iserver/account`). A configured account the session does not offer is left to
    /// the caller's account check, which refuses with the list.
    ///
    /// # Errors
    /// The switch failed (transport, session).
    pub(super) async fn reselect_account(
        &self,
        accounts: &IserverAccounts,
    ) -> Result<(), GatewayError> {
        let Some(wanted) = self.inner.options.account.as_deref() else {
            return Ok(());
        };
        if accounts.accounts.len() < 2
            || !accounts.accounts.iter().any(|a| a == wanted)
            || accounts.selected_account.as_deref() == Some(wanted)
        {
            return Ok(());
        }
        tracing::info!(
            account = %wanted,
            selected = ?accounts.selected_account,
            "the gateway selected another account after authentication: selecting the configured one"
        );
        self.switch_account(wanted).await
    }

    /// Executions of `account_id` in the last `days` days (1–7), for reconciliation by
    /// `order_ref` (= cOID) and for the proceeds of a run's sells. Sends `accountId` too, and
    /// keeps only that account's rows (the endpoint answers for the selected account, which
    /// priming keeps on the configured one).
    ///
    /// # Errors
    /// `days` outside 1–7, transport, session and decode errors.
    pub async fn account_trades(
        &self,
        account_id: &str,
        days: u32,
    ) -> Result<Vec<Trade>, GatewayError> {
        if !(1..=7).contains(&days) {
            return Err(GatewayError::Config(format!(
                "trades: days must be 1..=7, got {days}"
            )));
        }
        let ep = "/iserver/account/trades";
        let v = self
            .request(
                Req::get(ep)
                    .query("days", days.to_string())
                    .query("accountId", path_segment(account_id)?.to_owned()),
            )
            .await?;
        let trades = match &v {
            Value::Array(a) => a
                .iter()
                .map(|t| Trade::from_json(t, ep))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Null => Vec::new(),
            other => {
                return Err(GatewayError::decode(
                    ep,
                    format!("expected an array, got {}", excerpt(other)),
                ));
            }
        };
        Ok(trades
            .into_iter()
            .filter(|t| t.account.as_deref().is_none_or(|a| a == account_id))
            .collect())
    }
}
