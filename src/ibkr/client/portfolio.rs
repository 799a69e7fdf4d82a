//! Account endpoints: account lists and selection, positions, ledger and summary.
use serde_json::{Value, json};

use super::*;

impl GatewayClient {
    /// `GET /iserver/accounts` — also primes the brokerage session.
    ///
    /// # Errors
    /// Transport and session errors.
    pub async fn iserver_accounts(&self) -> Result<IserverAccounts, GatewayError> {
        let ep = "/iserver/accounts";
        let v = self.request_once(&Req::get(ep)).await?;
        parse_iserver_accounts(&v, ep)
    }

    /// `GET /portfolio/accounts` — required before other `/portfolio` calls (1 per 5 s).
    ///
    /// # Errors
    /// Transport and session errors.
    /// An answer younger than the endpoint's spacing is reused instead of waiting for a new one.
    pub async fn portfolio_accounts(&self) -> Result<Vec<PortfolioAccount>, GatewayError> {
        let fresh = self.inner.portfolio_cache.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < EndpointClass::PortfolioAccounts.min_spacing())
                .map(|(_, list)| list.clone())
        });
        if let Some(list) = fresh {
            return Ok(list);
        }
        let v = self.request(Req::get("/portfolio/accounts")).await?;
        self.remember_portfolio(parse_portfolio_accounts(&v)?)
    }

    /// `/portfolio/accounts` without retries or cache (priming must really call it).
    pub(super) async fn portfolio_accounts_once(
        &self,
    ) -> Result<Vec<PortfolioAccount>, GatewayError> {
        let v = self.request_once(&Req::get("/portfolio/accounts")).await?;
        self.remember_portfolio(parse_portfolio_accounts(&v)?)
    }

    fn remember_portfolio(
        &self,
        list: Vec<PortfolioAccount>,
    ) -> Result<Vec<PortfolioAccount>, GatewayError> {
        if let Ok(mut c) = self.inner.portfolio_cache.lock() {
            *c = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }
}

fn parse_portfolio_accounts(v: &Value) -> Result<Vec<PortfolioAccount>, GatewayError> {
    {
        let ep = "/portfolio/accounts";
        let arr = v.as_array().ok_or_else(|| {
            GatewayError::decode(ep, format!("expected an array, got {}", excerpt(v)))
        })?;
        arr.iter()
            .map(|a| {
                let o = Obj::new(a, ep)?;
                Ok(PortfolioAccount {
                    id: o
                        .str("id")
                        .or_else(|| o.str("accountId"))
                        .ok_or_else(|| GatewayError::decode(ep, "account without `id`"))?,
                    currency: o.str("currency"),
                    account_type: o.str("type"),
                    title: o.str("accountTitle"),
                    trading_type: o.str("tradingType"),
                })
            })
            .collect()
    }
}

impl GatewayClient {
    /// `POST /iserver/account {"acctId":…}`: selects the account for endpoints without an
    /// account in the path (live orders, trades) — needed by multi-account users.
    ///
    /// # Errors
    /// Transport and session errors.
    pub async fn switch_account(&self, account_id: &str) -> Result<(), GatewayError> {
        self.request_once(&Req::post(
            "/iserver/account",
            json!({ "acctId": account_id }),
        ))
        .await
        .map(|_| ())
    }

    /// Chooses the account to trade: `configured` if non-empty (it must be tradable in this
    /// session), otherwise the only account the gateway reports.
    ///
    /// # Errors
    /// [`GatewayError::Account`] when absent, or when several exist and none is configured.
    pub async fn select_account(&self, configured: &str) -> Result<String, GatewayError> {
        let tradable = self.iserver_accounts().await?;
        let portfolio = self.portfolio_accounts().await?;
        let in_portfolio = |id: &str| portfolio.iter().any(|p| p.id == id);
        let configured = configured.trim();
        if !configured.is_empty() {
            if !tradable.accounts.iter().any(|a| a == configured) || !in_portfolio(configured) {
                return Err(GatewayError::Account(format!(
                    "account.id `{configured}` is not available in this gateway session \
                     (the session can trade: {})",
                    list_or_none(&tradable.accounts)
                )));
            }
            if tradable.selected_account.as_deref() != Some(configured)
                && tradable.accounts.len() > 1
            {
                self.switch_account(configured).await?;
            }
            return Ok(configured.to_owned());
        }
        match tradable.accounts.as_slice() {
            [only] if in_portfolio(only) => Ok(only.clone()),
            [] => Err(GatewayError::Account(
                "the gateway session reports no tradable account (competing session? \
                 log out other sessions of this username)"
                    .into(),
            )),
            several => Err(GatewayError::Account(format!(
                "several accounts ({}); set account.id to choose one",
                list_or_none(several)
            ))),
        }
    }

    // ------------------------------------------------------------------ portfolio

    /// All positions of `account_id`: invalidates the gateway's position cache first (it lags
    /// fills), then reads every page until a short page (when `pageSize` is given) or an empty
    /// one. Zero-quantity rows (closed today) are returned as the gateway sends them.
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn positions(&self, account_id: &str) -> Result<Vec<Position>, GatewayError> {
        let acct = path_segment(account_id)?;
        self.request(
            Req::post(format!("/portfolio/{acct}/positions/invalidate"), json!({})).idempotent(),
        )
        .await?;
        let mut out = Vec::new();
        for page in 0..100u32 {
            let ep = format!("/portfolio/{acct}/positions/{page}");
            // Without waitForSecDef the gateway may send rows before their contract part
            // (assetClass, ticker) arrived (OpenAPI; IBind #6).
            let v = self
                .request(Req::get(ep.clone()).query("waitForSecDef", "true"))
                .await?;
            let items = match &v {
                Value::Array(a) => a,
                Value::Null => break,
                other => {
                    return Err(GatewayError::decode(
                        &ep,
                        format!("expected an array, got {}", excerpt(other)),
                    ));
                }
            };
            if items.is_empty() {
                break;
            }
            // Page sizes differ between gateway versions (30, 100): stop on a short page only
            // when the gateway says how long a page is, otherwise on the first empty page.
            let page_size = items
                .first()
                .and_then(|f| f.get("pageSize"))
                .and_then(Value::as_u64);
            for it in items {
                out.push(Position::from_json(it, &ep)?);
            }
            if page_size.is_some_and(|n| (items.len() as u64) < n) {
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// Cash per currency (`/portfolio/{acct}/ledger`).
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn ledger(&self, account_id: &str) -> Result<Ledger, GatewayError> {
        let acct = path_segment(account_id)?;
        let ep = format!("/portfolio/{acct}/ledger");
        let v = self.request(Req::get(ep.clone())).await?;
        let map = v.as_object().ok_or_else(|| {
            GatewayError::decode(&ep, format!("expected an object, got {}", excerpt(&v)))
        })?;
        let mut by_currency = BTreeMap::new();
        for (ccy, entry) in map {
            let o = Obj::new(entry, &ep)?;
            by_currency.insert(
                ccy.clone(),
                LedgerEntry {
                    currency: o.str("currency").unwrap_or_else(|| ccy.clone()),
                    cash_balance: o
                        .req_dec("cashbalance")
                        .map_err(|e| GatewayError::decode(&ep, format!("currency {ccy}: {e}")))?,
                    settled_cash: o.dec("settledcash")?,
                    net_liquidation_value: o.dec("netliquidationvalue")?,
                    exchange_rate: o.dec("exchangerate")?,
                },
            );
        }
        Ok(Ledger { by_currency })
    }

    /// Net liquidation and cash totals (`/portfolio/{acct}/summary`).
    ///
    /// # Errors
    /// Transport, session and decode errors (a missing net liquidation is an error).
    pub async fn summary(&self, account_id: &str) -> Result<AccountSummary, GatewayError> {
        let acct = path_segment(account_id)?;
        let ep = format!("/portfolio/{acct}/summary");
        let v = self.request(Req::get(ep.clone())).await?;
        let o = Obj::new(&v, &ep)?;
        let amount = |k: &str| -> Result<Option<rust_decimal::Decimal>, GatewayError> {
            match o.raw(k) {
                Some(x) if x.get("isNull").and_then(Value::as_bool) == Some(true) => Ok(None),
                Some(x) => Obj::new(x, &ep)?.dec("amount"),
                None => Ok(None),
            }
        };
        let net = amount("netliquidation")?.ok_or_else(|| {
            GatewayError::decode(&ep, "no `netliquidation.amount` in the account summary")
        })?;
        Ok(AccountSummary {
            net_liquidation: net,
            currency: o
                .raw("netliquidation")
                .and_then(|x| x.get("currency"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            total_cash: amount("totalcashvalue")?,
            available_funds: amount("availablefunds")?,
            excess_liquidity: amount("excessliquidity")?,
        })
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
