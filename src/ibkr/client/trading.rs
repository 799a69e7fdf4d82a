//! Orders: what-if, the place/reply conversation, live orders, status, trades, cancel.
use serde_json::{Value, json};

use super::answers;
use super::*;

impl GatewayClient {
    /// Previews an order (`…/orders/whatif`); nothing is placed.
    ///
    /// # Errors
    /// Invalid ticket, transport, session and gateway errors.
    pub async fn whatif(&self, ticket: &OrderTicket) -> Result<WhatIf, GatewayError> {
        let acct = path_segment(&ticket.account_id)?;
        let ep = format!("/iserver/account/{acct}/orders/whatif");
        let req = Req::post(ep.clone(), ticket.body()?).idempotent();
        let (status, body) = self.send(&req).await?;
        // A preview that IBKR refuses still has its amounts and an `error` text worth showing.
        if status.is_success() && body.get("amount").is_some() {
            return WhatIf::from_json(&body, &ep);
        }
        let v = self.check_body(&ep, status, body)?;
        WhatIf::from_json(&v, &ep)
    }

    /// Places one order and runs the reply conversation under `policy`. One order at a time;
    /// refused unless the session was confirmed Ready within `ready_max_age_secs` (re-confirmed
    /// here if older). Never retried: anything that leaves the order's fate open is
    /// [`PlaceOutcome::Unknown`].
    ///
    /// # Errors
    /// Only when the order certainly was not placed: invalid ticket, session not Ready,
    /// gateway unreachable, rate-limit penalty, no session.
    pub async fn place_order(
        &self,
        ticket: &OrderTicket,
        policy: &PromptPolicy,
    ) -> Result<PlaceOutcome, GatewayError> {
        let body = ticket.body()?;
        let acct = path_segment(&ticket.account_id)?;
        let _one_at_a_time = self.inner.order_lock.lock().await;
        self.confirm_ready_for_orders().await?;
        let ep = format!("/iserver/account/{acct}/orders");
        let first = match self.order_step(&Req::post(ep.clone(), body.clone())).await {
            // The gateway refused before taking the order (its session was re-authenticated
            // and not primed yet): prime and send the same POST, same cOID, once more. A
            // second refusal is returned as it is, never retried again.
            Err(GatewayError::NotPrimed) => {
                tracing::warn!(coid = %ticket.coid, "order POST answered \"Please query /accounts first\": not placed; re-priming and sending it once more");
                self.prime().await?;
                self.order_step(&Req::post(ep, body)).await?
            }
            other => other?,
        };
        let mut reply = match first {
            Step::Reply(r) => r,
            Step::Unknown(detail) => return Ok(PlaceOutcome::Unknown { detail }),
        };
        let mut rounds = 0u32;
        loop {
            match reply {
                OrderReply::Submitted { order_id, status } => {
                    tracing::info!(coid = %ticket.coid, order_id = %order_id, status = %status, "order submitted");
                    return Ok(PlaceOutcome::Submitted { order_id, status });
                }
                OrderReply::Error(message) => {
                    if is_duplicate_coid(&message) {
                        return Ok(PlaceOutcome::DuplicateCoid { message });
                    }
                    if let Some(err) = answers::session_refusal(&message, &self.login_url()) {
                        self.note_error(&err);
                        return Err(err);
                    }
                    return Ok(PlaceOutcome::Rejected { message });
                }
                OrderReply::Prompt(prompt) => {
                    rounds += 1;
                    let allowed = policy.allows(&prompt)
                        && !prompt.reply_id.is_empty()
                        && rounds <= policy.max_rounds.max(1);
                    if !allowed {
                        if !prompt.reply_id.is_empty() {
                            let decline = Req::post(
                                format!("/iserver/reply/{}", path_segment(&prompt.reply_id)?),
                                json!({"confirmed": false}),
                            );
                            if let Err(e) = self.send(&decline).await {
                                tracing::warn!(error = %e, "declining a reply prompt failed; the order was not confirmed either way");
                            }
                        }
                        tracing::warn!(coid = %ticket.coid, prompt = %prompt, "order refused: prompt not on orders.prompt_allowlist");
                        return Ok(PlaceOutcome::Refused { prompt });
                    }
                    tracing::info!(coid = %ticket.coid, prompt = %prompt, "confirming allow-listed prompt");
                    let confirm = Req::post(
                        format!("/iserver/reply/{}", path_segment(&prompt.reply_id)?),
                        json!({"confirmed": true}),
                    );
                    reply = match self.order_step(&confirm).await {
                        Ok(Step::Reply(r)) => r,
                        Ok(Step::Unknown(detail)) => return Ok(PlaceOutcome::Unknown { detail }),
                        // The order POST was accepted; a failure now leaves its fate open.
                        Err(e) => {
                            return Ok(PlaceOutcome::Unknown {
                                detail: e.to_string(),
                            });
                        }
                    };
                }
            }
        }
    }

    /// One POST of the order conversation. `Err` only when the request certainly did not
    /// reach IBKR (not sent, or refused by the gateway itself for a session reason, which
    /// the body says first: see [`answers`]).
    async fn order_step(&self, req: &Req) -> Result<Step, GatewayError> {
        if let Some(remaining) = self.inner.limiter.frozen_for() {
            // Inside a 429 penalty: nothing is sent, so the order certainly does not exist.
            return Err(GatewayError::RateLimited { remaining });
        }
        match self.send(req).await {
            Ok((status, body)) => {
                match answers::classify(status, &body, &req.path, &self.login_url()) {
                    answers::Answer::Reply(r) => Ok(Step::Reply(r)),
                    answers::Answer::Unknown(detail) => Ok(Step::Unknown(detail)),
                    answers::Answer::NotTaken(err) => {
                        self.note_error(&err);
                        Err(err)
                    }
                }
            }
            // A 429 answer (or a penalty that began while we waited for a slot): most likely
            // not placed, but the caller reconciles by cOID rather than trusting that.
            Err(e @ GatewayError::RateLimited { .. }) => Ok(Step::Unknown(format!(
                "{e}; the order may or may not exist; reconcile by cOID"
            ))),
            Err(
                e @ (GatewayError::Timeout { .. }
                | GatewayError::Transport { .. }
                | GatewayError::Decode { .. }),
            ) => Ok(Step::Unknown(format!(
                "{e}; the order may or may not exist; reconcile by cOID"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Live orders of `account_id` (working ones plus those finished in this brokerage
    /// session). Quirks handled: always passes `accountId` (omitting it gives false-empty
    /// lists), never `force=true` (returns `[]` by design), asks a second time when the first
    /// answer is empty (the first call after authentication is often empty), and filters by
    /// account client-side. The gateway allows one call per 5 s; the limiter spaces them.
    ///
    /// # Errors
    /// Transport, session and decode errors.
    pub async fn live_orders(&self, account_id: &str) -> Result<Vec<LiveOrder>, GatewayError> {
        let ep = "/iserver/account/orders";
        let mut list = Vec::new();
        for attempt in 0..2 {
            let v = self
                .request(Req::get(ep).query("accountId", account_id.to_owned()))
                .await?;
            let orders = match &v {
                Value::Object(o) => o.get("orders").cloned().unwrap_or(Value::Array(vec![])),
                Value::Array(_) => v.clone(),
                Value::Null => Value::Array(vec![]),
                other => {
                    return Err(GatewayError::decode(
                        ep,
                        format!("unexpected {}", excerpt(other)),
                    ));
                }
            };
            list = orders
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| LiveOrder::from_json(o, ep))
                .collect::<Result<Vec<_>, _>>()?;
            if !list.is_empty() || attempt == 1 {
                break;
            }
        }
        list.retain(|o| o.account.is_empty() || o.account == account_id);
        Ok(list)
    }

    /// Status of one order of this brokerage session.
    ///
    /// # Errors
    /// Transport, session and decode errors (older orders: the gateway answers 503).
    pub async fn order_status(&self, order_id: &str) -> Result<OrderStatus, GatewayError> {
        let ep = format!("/iserver/account/order/status/{}", path_segment(order_id)?);
        let v = self.request(Req::get(ep.clone())).await?;
        OrderStatus::from_json(&v, &ep)
    }

    /// Executions of the last `days` days (1–7), for reconciliation by `order_ref` (= cOID).
    ///
    /// # Errors
    /// `days` outside 1–7, transport, session and decode errors.
    pub async fn trades(&self, days: u32) -> Result<Vec<Trade>, GatewayError> {
        if !(1..=7).contains(&days) {
            return Err(GatewayError::Config(format!(
                "trades: days must be 1..=7, got {days}"
            )));
        }
        let ep = "/iserver/account/trades";
        let v = self
            .request(Req::get(ep).query("days", days.to_string()))
            .await?;
        v.as_array()
            .into_iter()
            .flatten()
            .map(|t| Trade::from_json(t, ep))
            .collect()
    }

    /// Requests cancellation (`DELETE …/order/{id}`); poll live orders until `Cancelled`.
    ///
    /// # Errors
    /// Unknown order, transport and session errors. Not retried.
    pub async fn cancel_order(
        &self,
        account_id: &str,
        order_id: &str,
    ) -> Result<CancelAck, GatewayError> {
        let ep = format!(
            "/iserver/account/{}/order/{}",
            path_segment(account_id)?,
            path_segment(order_id)?
        );
        let req = Req {
            method: Method::DELETE,
            path: ep.clone(),
            query: Vec::new(),
            body: None,
            retry: false,
        };
        let v = self.request_once(&req).await?;
        let o = Obj::new(&v, &ep)?;
        Ok(CancelAck {
            order_id: o.int("order_id")?,
            message: o.str("msg").unwrap_or_default(),
        })
    }
}

enum Step {
    Reply(OrderReply),
    Unknown(String),
}
