//! Contracts and prices: symbol resolution (cached) and market-data snapshots.
use serde_json::Value;

use super::*;

impl GatewayClient {
    // ------------------------------------------------------------------ contracts & prices

    /// Resolves a symbol to exactly one contract (cached for the client's life).
    ///
    /// Stocks/ETFs use `/trsrv/stocks` (works without a brokerage session): the listing on
    /// `exchange` if given, else the US listing when the currency is USD. Other security types
    /// (`FUND`, `BOND`, …) use `/iserver/secdef/search`. Ambiguity is an error that says which
    /// override to set — guessing a contract would trade the wrong instrument.
    ///
    /// # Errors
    /// [`GatewayError::Resolve`] when nothing or several contracts match.
    pub async fn resolve(&self, q: &ContractQuery) -> Result<Contract, GatewayError> {
        if let Some(c) = self
            .inner
            .conids
            .lock()
            .ok()
            .and_then(|m| m.get(q).cloned())
        {
            return Ok(c);
        }
        let c = self.resolve_uncached(q).await?;
        if let Ok(mut m) = self.inner.conids.lock() {
            m.insert(q.clone(), c.clone());
        }
        Ok(c)
    }

    /// The contract behind a conid (`/iserver/contract/{conid}/info`): what a position row
    /// that arrived without its contract part is.
    ///
    /// # Errors
    /// Transport, session and decode errors; [`GatewayError::Resolve`] when the answer names
    /// no symbol or type.
    pub async fn contract_by_conid(&self, conid: Conid) -> Result<Contract, GatewayError> {
        let ep = format!("/iserver/contract/{conid}/info");
        let v = self.request(Req::get(ep.clone()).idempotent()).await?;
        let o = Obj::new(&v, &ep)?;
        let symbol = o.str("symbol").filter(|s| !s.is_empty());
        let sec_type = o.str("instrument_type").filter(|s| !s.is_empty());
        let (Some(symbol), Some(sec_type)) = (symbol, sec_type) else {
            return Err(GatewayError::Resolve {
                symbol: format!("conid {conid}"),
                detail: "the gateway's contract info has no symbol or instrument type".into(),
            });
        };
        Ok(Contract {
            conid,
            symbol,
            sec_type,
            exchange: o.str("exchange"),
            currency: o.str("currency"),
            name: o.str("company_name"),
        })
    }

    async fn resolve_uncached(&self, q: &ContractQuery) -> Result<Contract, GatewayError> {
        let fail = |detail: String| GatewayError::Resolve {
            symbol: q.symbol.clone(),
            detail,
        };
        if let Some(conid) = q.conid {
            return Ok(Contract {
                conid,
                symbol: q.symbol.clone(),
                sec_type: q.sec_type.clone(),
                exchange: q.exchange.clone(),
                currency: Some(q.currency.clone()),
                name: None,
            });
        }
        if q.symbol.is_empty() {
            return Err(fail("empty symbol".into()));
        }
        let hint = format!(
            "set [portfolio.contracts.{}] exchange = \"…\" or conid = … to choose",
            q.symbol
        );
        let cands = if q.sec_type == "STK" {
            self.stock_candidates(q, &fail, &hint).await?
        } else {
            self.secdef_candidates(q).await?
        };
        pick_one(cands, &fail, &hint)
    }

    /// `/trsrv/stocks`: the listings of a stock symbol on the wanted exchange (US listings
    /// for USD when no exchange is configured; other currencies must name one).
    async fn stock_candidates(
        &self,
        q: &ContractQuery,
        fail: &(dyn Fn(String) -> GatewayError + Sync),
        hint: &str,
    ) -> Result<Vec<Contract>, GatewayError> {
        let ep = "/trsrv/stocks";
        let v = self
            .request(Req::get(ep).query("symbols", q.symbol.clone()))
            .await?;
        let entries = v
            .get(&q.symbol)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut cands: Vec<Contract> = Vec::new();
        for e in &entries {
            let name = e.get("name").and_then(Value::as_str).map(str::to_owned);
            for c in e
                .get("contracts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let o = Obj::new(c, ep)?;
                let exchange = o.str("exchange");
                let is_us = o.bool("isUS").unwrap_or(false);
                let keep = match &q.exchange {
                    Some(x) => exchange
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(x)),
                    None if q.currency == "USD" => is_us,
                    None => {
                        return Err(fail(format!(
                            "currency {} needs an explicit exchange; {hint}",
                            q.currency
                        )));
                    }
                };
                if keep {
                    let conid = o.req_int("conid")?;
                    if !cands.iter().any(|k| k.conid == conid) {
                        cands.push(Contract {
                            conid,
                            symbol: q.symbol.clone(),
                            sec_type: "STK".into(),
                            exchange,
                            currency: Some(q.currency.clone()),
                            name: name.clone(),
                        });
                    }
                }
            }
        }
        Ok(cands)
    }

    /// `/iserver/secdef/search`: funds (`fund=true`) and other security types, matching the
    /// symbol exactly and the configured exchange if any.
    async fn secdef_candidates(&self, q: &ContractQuery) -> Result<Vec<Contract>, GatewayError> {
        let ep = "/iserver/secdef/search";
        let mut req = Req::get(ep).query("symbol", q.symbol.clone());
        if q.sec_type == "FUND" {
            req = req.query("fund", "true");
        } else {
            req = req.query("secType", q.sec_type.clone());
        }
        let v = self.request(req).await?;
        let arr = v.as_array().cloned().unwrap_or_default();
        let mut cands: Vec<Contract> = Vec::new();
        for item in &arr {
            let o = Obj::new(item, ep)?;
            if !o
                .str("symbol")
                .is_some_and(|s| s.eq_ignore_ascii_case(&q.symbol))
            {
                continue;
            }
            let exchange = o.str("description");
            if let Some(x) = &q.exchange
                && !exchange
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(x))
            {
                continue;
            }
            let Some(conid) = o.int("conid")? else {
                continue;
            };
            if !cands.iter().any(|k| k.conid == conid) {
                cands.push(Contract {
                    conid,
                    symbol: q.symbol.clone(),
                    sec_type: q.sec_type.clone(),
                    exchange,
                    currency: Some(q.currency.clone()),
                    name: o.str("companyName"),
                });
            }
        }
        Ok(cands)
    }

    /// Market-data snapshot for many conids. The gateway answers the first request for a conid
    /// with no data (pre-flight); conids without a price are asked again every
    /// `snapshot_retry_every` until `snapshot_max_wait`. Quotes still without a price come back
    /// with [`Quote::is_missing`] true; delayed data is flagged by [`Quote::availability`].
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn snapshot(&self, conids: &[Conid]) -> Result<Vec<Quote>, GatewayError> {
        let ep = "/iserver/marketdata/snapshot";
        let mut got: HashMap<Conid, Quote> = HashMap::new();
        let deadline = Instant::now() + self.inner.options.snapshot_max_wait;
        let mut pending: Vec<Conid> = conids.to_vec();
        pending.sort_unstable();
        pending.dedup();
        loop {
            for chunk in pending.chunks(100) {
                let list = chunk
                    .iter()
                    .map(Conid::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let v = self
                    .request(
                        Req::get(ep)
                            .query("conids", list)
                            .query("fields", SNAPSHOT_FIELDS),
                    )
                    .await?;
                for item in v.as_array().into_iter().flatten() {
                    let q = Quote::from_json(item, ep)?;
                    got.insert(q.conid, q);
                }
            }
            pending.retain(|c| !got.get(c).is_some_and(Quote::has_price));
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(self.inner.options.snapshot_retry_every).await;
        }
        Ok(conids
            .iter()
            .map(|c| {
                got.get(c).cloned().unwrap_or(Quote {
                    conid: *c,
                    symbol: None,
                    last: None,
                    last_is_prior_close: false,
                    halted: false,
                    bid: None,
                    ask: None,
                    bid_size: None,
                    ask_size: None,
                    close: None,
                    availability: crate::ibkr::types::Availability::Unknown,
                    updated_ms: None,
                })
            })
            .collect())
    }

    // ------------------------------------------------------------------ orders
}

fn pick_one(
    mut cands: Vec<Contract>,
    fail: &dyn Fn(String) -> GatewayError,
    hint: &str,
) -> Result<Contract, GatewayError> {
    match cands.len() {
        1 => Ok(cands.remove(0)),
        0 => Err(fail(format!("no matching contract; {hint}"))),
        _ => Err(fail(format!(
            "ambiguous: {}; {hint}",
            cands
                .iter()
                .map(|c| format!(
                    "conid {} on {} ({})",
                    c.conid,
                    c.exchange.as_deref().unwrap_or("?"),
                    c.name.as_deref().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
