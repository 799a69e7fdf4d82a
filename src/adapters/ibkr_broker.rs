//! The production [`Broker`]: the cycle's operations on the Client Portal client.
//!
//! Translation only — pacing, retries, session recovery and prompt handling live in
//! [`crate::ibkr`]. What this layer adds is the cycle's vocabulary: normalised order states,
//! the base-currency cash view, and session errors classified into [`BrokerErrorKind`]s (session not ready, transient, config, …) so the
//! cycle (and the daemon) can wait for a login instead of failing a period.
use crate::config::Settings;
use crate::cycle::account_kind::gateway_says_paper;
use crate::cycle::broker::{
    AccountInfo, Balances, Broker, BrokerError, BrokerErrorKind, BrokerPosition, ContractSpec,
    Execution, LiveOrder, OrderRequest, OrderStatus, OrderType, PlaceResult, Quote, Side,
};
use crate::ibkr::{self, GatewayClient, GatewayError};

/// The gateway client plus the order policy from the config.
pub struct IbkrBroker {
    client: GatewayClient,
    policy: ibkr::orders::PromptPolicy,
    currency: String,
    /// Account id → cash account (`tradingType`), learnt by [`Broker::accounts`].
    cash_accounts: std::sync::Mutex<std::collections::BTreeMap<String, bool>>,
    /// The Flex Web Service for tax-aware plans (`[flex]`), when configured.
    flex: Option<super::flex_source::FlexSource>,
}

impl IbkrBroker {
    /// Wraps a client with the settings' prompt allowlist and contract defaults.
    pub fn new(client: GatewayClient, settings: &Settings) -> Self {
        IbkrBroker {
            client,
            policy: ibkr::orders::PromptPolicy::new(settings.orders.prompt_allowlist.clone()),
            currency: settings.portfolio.currency.clone(),
            cash_accounts: Default::default(),
            flex: super::flex_source::FlexSource::from_settings(settings),
        }
    }

    /// The underlying client (the daemon's keeper shares it).
    pub fn client(&self) -> &GatewayClient {
        &self.client
    }
}

/// Classifies a gateway error once, while its variant is still known: the daemon retries only
/// transient failures and a session that is not ready; trust, configuration and unresolvable
/// symbols alert at once.
fn map_err(e: GatewayError) -> BrokerError {
    BrokerError::from_source(kind_of(&e), e)
}

/// The [`BrokerErrorKind`] of a gateway error (see [`map_err`]).
fn kind_of(e: &GatewayError) -> BrokerErrorKind {
    if e.is_session_lost() || matches!(e, GatewayError::NotReady(_)) {
        BrokerErrorKind::SessionNotReady
    } else if e.is_retryable() || e.is_rate_limited() {
        BrokerErrorKind::Transient
    } else if e.is_tls()
        || matches!(
            e,
            GatewayError::Config(_)
                | GatewayError::CookieJar { .. }
                | GatewayError::Resolve { .. }
                | GatewayError::Account(_)
        )
    {
        BrokerErrorKind::Config
    } else if matches!(e, GatewayError::Api { .. }) {
        BrokerErrorKind::Refused
    } else {
        BrokerErrorKind::Fatal
    }
}

fn side(s: Side) -> ibkr::types::Side {
    match s {
        Side::Buy => ibkr::types::Side::Buy,
        Side::Sell => ibkr::types::Side::Sell,
    }
}

fn side_back(s: Option<ibkr::types::Side>) -> Side {
    match s {
        Some(ibkr::types::Side::Sell) => Side::Sell,
        _ => Side::Buy,
    }
}

/// Gateway order statuses → the cycle's four. Unknown words count as working: the cycle then
/// keeps polling and finally cancels, rather than assuming a fill.
fn status(s: &str) -> OrderStatus {
    match s.trim().to_ascii_lowercase().as_str() {
        "filled" => OrderStatus::Filled,
        "cancelled" | "canceled" | "apicancelled" => OrderStatus::Cancelled,
        "inactive" | "rejected" => OrderStatus::Inactive,
        _ => OrderStatus::Working,
    }
}

impl IbkrBroker {
    fn ticket(&self, account: &str, o: &OrderRequest) -> ibkr::orders::OrderTicket {
        ibkr::orders::OrderTicket {
            account_id: account.to_owned(),
            conid: o.conid,
            sec_type: Some(o.sec_type.clone()),
            coid: o.coid.clone(),
            side: side(o.side),
            order_type: match o.order_type {
                OrderType::Market => ibkr::orders::OrderType::Market,
                OrderType::Limit { price } => ibkr::orders::OrderType::Limit { price },
            },
            size: ibkr::orders::OrderSize::Quantity(o.quantity),
            tif: o.tif.clone(),
            outside_rth: false,
            listing_exchange: None,
        }
    }
}

impl Broker for IbkrBroker {
    async fn ensure_ready(&self) -> Result<(), BrokerError> {
        self.client.ensure_ready().await.map_err(map_err)?;
        Ok(())
    }

    async fn accounts(&self) -> Result<Vec<AccountInfo>, BrokerError> {
        let iserver = self.client.iserver_accounts().await.map_err(map_err)?;
        let portfolio = self.client.portfolio_accounts().await.map_err(map_err)?;
        if let Ok(mut m) = self.cash_accounts.lock() {
            for p in &portfolio {
                m.insert(p.id.clone(), p.is_cash_account());
            }
        }
        Ok(iserver
            .accounts
            .iter()
            .map(|id| {
                let p = portfolio.iter().find(|p| &p.id == id);
                AccountInfo {
                    id: id.clone(),
                    // The gateway's opinion; the guards add the id rule (one place:
                    // `cycle::account_kind`).
                    paper: gateway_says_paper(
                        iserver.is_paper,
                        p.and_then(|p| p.account_type.as_deref()),
                    ),
                }
            })
            .collect())
    }

    async fn positions(&self, account: &str) -> Result<Vec<BrokerPosition>, BrokerError> {
        let mut ps = self.client.positions(account).await.map_err(map_err)?;
        // A row without its contract part (IBind #6) is completed through its conid; if the
        // gateway cannot say what it is, the snapshot fails rather than plan without it.
        for p in ps
            .iter_mut()
            .filter(|p| !p.quantity.is_zero() && (p.asset_class.is_empty() || p.symbol.is_empty()))
        {
            let c = self.client.contract_by_conid(p.conid).await.map_err(|e| {
                // Keep the class (a timeout is still worth a retry), with the reason spelled out.
                BrokerError::new(
                    kind_of(&e),
                    format!(
                        "position conid {} came without its contract fields and could not be \
                         resolved ({e}); refusing to plan on an incomplete account",
                        p.conid
                    ),
                )
            })?;
            if p.symbol.is_empty() {
                p.symbol = c.symbol;
            }
            if p.asset_class.is_empty() {
                p.asset_class = c.sec_type;
            }
            if p.currency.is_empty() {
                p.currency = c.currency.unwrap_or_default();
            }
        }
        ps.into_iter()
            .map(|p| {
                let mark = p.market_price.ok_or_else(|| {
                    BrokerError::fatal(format!("position {}: no market price", p.symbol))
                })?;
                let value = p.market_value.unwrap_or(p.quantity * mark);
                let cost = p.avg_cost.map(|c| c * p.quantity);
                Ok(BrokerPosition {
                    conid: p.conid,
                    symbol: p.symbol,
                    quantity: p.quantity,
                    mark_price: mark,
                    market_value: value,
                    unrealized_pnl: cost.map(|c| value - c).unwrap_or_default(),
                    currency: p.currency,
                    asset_class: p.asset_class,
                })
            })
            .collect()
    }

    async fn balances(&self, account: &str) -> Result<Balances, BrokerError> {
        let ledger = self.client.ledger(account).await.map_err(map_err)?;
        let summary = self.client.summary(account).await.map_err(map_err)?;
        let ccy = &self.currency;
        let cash = ledger.cash(ccy).ok_or_else(|| {
            BrokerError::config(format!(
                "ledger has no {ccy} cash entry (portfolio.currency); currencies: {}",
                ledger
                    .by_currency
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        // Net liquidation feeds the caps: it must be in the currency the plan is in.
        if let Some(c) = summary
            .currency
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case(ccy))
        {
            return Err(BrokerError::config(format!(
                "the account summary is in {c} but portfolio.currency is {ccy}; set \
                 portfolio.currency = \"{c}\" (pbal does not convert currencies)"
            )));
        }
        let settled = ledger.settled_cash(ccy).unwrap_or(cash);
        // A cash account may only spend settled cash: buying with unsettled proceeds and
        // selling before they settle is a good-faith violation (90-day restriction). Unknown
        // account type counts as cash (fail closed).
        let cash_account = self
            .cash_accounts
            .lock()
            .map(|m| m.get(account).copied().unwrap_or(true))
            .unwrap_or(true);
        Ok(Balances {
            currency: ccy.clone(),
            settled_cash: settled,
            cash: if cash_account {
                settled.min(cash)
            } else {
                cash
            },
            net_liquidation: summary.net_liquidation,
            excess_liquidity: summary.excess_liquidity,
            cash_account,
            foreign_debts: ledger
                .by_currency
                .iter()
                .filter(|(c, e)| {
                    !c.eq_ignore_ascii_case(ccy)
                        && !c.eq_ignore_ascii_case("BASE")
                        && e.cash_balance < rust_decimal::Decimal::ZERO
                })
                .map(|(c, e)| (c.clone(), e.cash_balance))
                .collect(),
        })
    }

    async fn resolve(&self, spec: &ContractSpec) -> Result<i64, BrokerError> {
        let q = ibkr::types::ContractQuery {
            symbol: spec.symbol.clone(),
            sec_type: spec.sec_type.clone(),
            currency: spec.currency.clone(),
            exchange: spec.exchange.clone(),
            conid: spec.conid,
        };
        Ok(self.client.resolve(&q).await.map_err(map_err)?.conid)
    }

    async fn quotes(&self, conids: &[i64]) -> Result<Vec<Quote>, BrokerError> {
        let qs = self.client.snapshot(conids).await.map_err(map_err)?;
        Ok(qs
            .into_iter()
            // A line with only a close is kept: a mutual fund has no live quote, only its NAV.
            .filter(|q| !q.is_missing() || q.close.is_some())
            .map(|q| Quote {
                conid: q.conid,
                bid: q.bid,
                ask: q.ask,
                close: q.close,
                // A `C`-prefixed last is yesterday's close, and a halted line has no tradable
                // price: neither may size an order.
                last: q.last.filter(|_| !q.last_is_prior_close && !q.halted),
                delayed: q.availability.is_delayed(),
            })
            .collect())
    }

    async fn whatif(
        &self,
        account: &str,
        order: &OrderRequest,
    ) -> Result<serde_json::Value, BrokerError> {
        let w = self
            .client
            .whatif(&self.ticket(account, order))
            .await
            .map_err(map_err)?;
        serde_json::to_value(&w).map_err(|e| BrokerError::from_source(BrokerErrorKind::Fatal, e))
    }

    async fn place(&self, account: &str, order: &OrderRequest) -> Result<PlaceResult, BrokerError> {
        // Orders need a Ready session confirmed within the last few seconds.
        self.client
            .confirm_ready_for_orders()
            .await
            .map_err(map_err)?;
        let outcome = self
            .client
            .place_order(&self.ticket(account, order), &self.policy)
            .await
            .map_err(map_err)?;
        Ok(match outcome {
            ibkr::orders::PlaceOutcome::Submitted { order_id, status } => {
                PlaceResult::Submitted { order_id, status }
            }
            ibkr::orders::PlaceOutcome::Refused { prompt } => PlaceResult::Refused {
                prompt_id: prompt.message_ids.join(","),
                text: prompt.messages.join(" / "),
            },
            ibkr::orders::PlaceOutcome::Rejected { message } => {
                PlaceResult::Rejected { reason: message }
            }
            ibkr::orders::PlaceOutcome::DuplicateCoid { .. } => PlaceResult::DuplicateCoid,
            ibkr::orders::PlaceOutcome::Unknown { detail } => {
                PlaceResult::Unknown { reason: detail }
            }
        })
    }

    async fn live_orders(&self, account: &str) -> Result<Vec<LiveOrder>, BrokerError> {
        let os = self.client.live_orders(account).await.map_err(map_err)?;
        Ok(os
            .into_iter()
            .map(|o| LiveOrder {
                order_id: o.order_id.to_string(),
                coid: o.order_ref,
                conid: o.conid,
                side: side_back(o.side),
                status: status(&o.status),
                filled: o.filled_quantity.unwrap_or_default(),
                remaining: o.remaining_quantity.unwrap_or_default(),
                avg_price: o.avg_price,
            })
            .collect())
    }

    async fn order_status(
        &self,
        _account: &str,
        order_id: &str,
    ) -> Result<Option<LiveOrder>, BrokerError> {
        match self.client.order_status(order_id).await {
            Ok(o) => {
                let total = o.total_size.unwrap_or_default();
                let filled = o.cum_fill.unwrap_or_default();
                Ok(Some(LiveOrder {
                    order_id: o.order_id.to_string(),
                    coid: o.order_ref,
                    conid: o.conid.unwrap_or_default(),
                    side: side_back(o.side),
                    status: status(&o.status),
                    filled,
                    remaining: (total - filled).max(rust_decimal::Decimal::ZERO),
                    avg_price: o.avg_price,
                }))
            }
            // Without a session nothing can be learnt now; the caller waits for a login.
            Err(e) if e.is_session_lost() => Err(map_err(e)),
            // 503 (an order of an earlier session), an unknown id, a garbled answer: the
            // gateway cannot tell, which is an answer the cycle must not turn into a guess.
            Err(e) => {
                tracing::info!(%order_id, error = %e, "order status: the gateway cannot tell");
                Ok(None)
            }
        }
    }

    async fn trades(&self, account: &str, days: u32) -> Result<Vec<Execution>, BrokerError> {
        let ts = self
            .client
            .account_trades(account, days.clamp(1, 7))
            .await
            .map_err(map_err)?;
        Ok(ts
            .into_iter()
            .filter(|t| t.account.as_deref().is_none_or(|a| a == account))
            .map(|t| Execution {
                execution_id: t.execution_id,
                order_id: t.order_id.map(|i| i.to_string()).unwrap_or_default(),
                coid: t.order_ref,
                symbol: t.symbol,
                side: side_back(t.side),
                size: t.size,
                price: t.price,
                commission: t.commission,
                time: t.trade_time,
            })
            .collect())
    }

    async fn price_increments(
        &self,
        conid: i64,
        side: Side,
    ) -> Result<Vec<crate::cycle::pricing::IncrementRule>, BrokerError> {
        let rules = self
            .client
            .price_increments(conid, side == Side::Buy)
            .await
            .map_err(map_err)?;
        Ok(rules
            .into_iter()
            .map(|r| crate::cycle::pricing::IncrementRule {
                lower_edge: r.lower_edge,
                increment: r.increment,
            })
            .collect())
    }

    async fn cancel(&self, account: &str, order_id: &str) -> Result<(), BrokerError> {
        self.client
            .cancel_order(account, order_id)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn tax_statement(&self) -> Result<crate::cycle::tax_step::TaxStatement, BrokerError> {
        match &self.flex {
            Some(f) => f.statement().await,
            None => Err(BrokerError::config(
                "portfolio.strategy = \"tax-aware\" needs [flex] lots_query and a token",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fail_toward_working() {
        assert_eq!(status("Filled"), OrderStatus::Filled);
        assert_eq!(status("Cancelled"), OrderStatus::Cancelled);
        assert_eq!(status("Inactive"), OrderStatus::Inactive);
        assert_eq!(status("PreSubmitted"), OrderStatus::Working);
        assert_eq!(status("SomethingNew"), OrderStatus::Working);
    }
}
