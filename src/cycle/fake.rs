//! The one in-memory [`Broker`] for unit tests: a book of positions and cash that fills
//! market and marketable orders at its price, immediately, with switches for the failures the
//! cycle must survive (session loss mid-run, prompts, orders that never fill).
//!
//! One shared fake (rather than one per test module) keeps every test of the cycle and of the
//! scheduler adapter honest about the same broker semantics.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::broker::*;

#[derive(Default)]
pub(crate) struct Book {
    pub(crate) positions: BTreeMap<String, (i64, Decimal, Decimal)>, // symbol -> (conid, qty, price)
    pub(crate) cash: Decimal,
    /// cOID -> (order, status, order id)
    pub(crate) orders: BTreeMap<String, (OrderRequest, OrderStatus, String)>,
    pub(crate) posts: Vec<String>,
    pub(crate) executions: Vec<Execution>,
}

/// A broker that fills market and marketable orders at its price, immediately.
pub(crate) struct FakeBroker {
    pub(crate) book: Mutex<Book>,
    pub(crate) account: String,
    pub(crate) paper: bool,
    /// Fail every POST after this many (simulates a crash mid-run).
    pub(crate) fail_after: Option<usize>,
    /// Prompt every order of this symbol with a prompt id.
    pub(crate) prompt_for: Option<(String, String)>,
    pub(crate) fills: bool,
    pub(crate) post_count: AtomicUsize,
    /// `balances` answers "session lost" while set.
    pub(crate) fail_balances: AtomicBool,
    /// `ensure_ready` answers "not authenticated" while this is false.
    pub(crate) ready: AtomicBool,
    /// How many what-if previews were asked for.
    pub(crate) whatifs: AtomicUsize,
}

impl FakeBroker {
    pub(crate) fn new(positions: &[(&str, i64, Decimal, Decimal)], cash: Decimal) -> Self {
        let mut book = Book {
            cash,
            ..Default::default()
        };
        for (s, c, q, p) in positions {
            book.positions.insert(s.to_string(), (*c, *q, *p));
        }
        FakeBroker {
            book: Mutex::new(book),
            account: "DU111".into(),
            paper: true,
            fail_after: None,
            prompt_for: None,
            fills: true,
            post_count: AtomicUsize::new(0),
            fail_balances: Default::default(),
            ready: AtomicBool::new(true),
            whatifs: AtomicUsize::new(0),
        }
    }

    pub(crate) fn set_price(&self, symbol: &str, price: Decimal) {
        self.book
            .lock()
            .unwrap()
            .positions
            .get_mut(symbol)
            .unwrap()
            .2 = price;
    }

    pub(crate) fn posts(&self) -> Vec<String> {
        self.book.lock().unwrap().posts.clone()
    }

    pub(crate) fn orders(&self) -> BTreeMap<String, (OrderRequest, OrderStatus, String)> {
        self.book.lock().unwrap().orders.clone()
    }
}

impl Broker for FakeBroker {
    async fn ensure_ready(&self) -> Result<(), BrokerError> {
        if self.ready.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(BrokerError::not_ready("not authenticated"))
        }
    }
    async fn accounts(&self) -> Result<Vec<AccountInfo>, BrokerError> {
        Ok(vec![AccountInfo {
            id: self.account.clone(),
            paper: self.paper,
        }])
    }
    async fn positions(&self, _a: &str) -> Result<Vec<BrokerPosition>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(b.positions
            .iter()
            .filter(|(_, (_, q, _))| !q.is_zero())
            .map(|(s, (c, q, p))| BrokerPosition {
                conid: *c,
                symbol: s.clone(),
                quantity: *q,
                mark_price: *p,
                market_value: q * p,
                unrealized_pnl: Decimal::ZERO,
                currency: "USD".into(),
                asset_class: "STK".into(),
            })
            .collect())
    }
    async fn balances(&self, _a: &str) -> Result<Balances, BrokerError> {
        if self.fail_balances.load(Ordering::SeqCst) {
            return Err(BrokerError::not_ready("session lost"));
        }
        let b = self.book.lock().unwrap();
        let pv: Decimal = b.positions.values().map(|(_, q, p)| q * p).sum();
        Ok(Balances {
            currency: "USD".into(),
            settled_cash: b.cash,
            cash: b.cash,
            net_liquidation: b.cash + pv,
            excess_liquidity: Some(b.cash + pv * dec!(0.75)),
            cash_account: false,
            foreign_debts: Vec::new(),
        })
    }
    async fn resolve(&self, spec: &ContractSpec) -> Result<i64, BrokerError> {
        let b = self.book.lock().unwrap();
        b.positions
            .get(&spec.symbol)
            .map(|p| p.0)
            .ok_or_else(|| BrokerError::config(format!("no contract for {}", spec.symbol)))
    }
    async fn quotes(&self, conids: &[i64]) -> Result<Vec<Quote>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(conids
            .iter()
            .filter_map(|c| {
                b.positions.values().find(|p| p.0 == *c).map(|p| Quote {
                    conid: *c,
                    bid: Some(p.2 - dec!(0.01)),
                    ask: Some(p.2 + dec!(0.01)),
                    last: Some(p.2),
                    close: None,
                    delayed: false,
                })
            })
            .collect())
    }
    async fn whatif(&self, _a: &str, o: &OrderRequest) -> Result<serde_json::Value, BrokerError> {
        self.whatifs.fetch_add(1, Ordering::SeqCst);
        // Shaped like the adapter's what-if: a cash rebalance moves neither margin nor equity.
        Ok(serde_json::json!({
            "amount": {"amount": format!("{} shares", o.quantity)},
            "equity_current": "1000000", "equity_change": "-1", "initial_change": "0",
            "warn": null, "error": null,
        }))
    }
    async fn place(&self, _a: &str, o: &OrderRequest) -> Result<PlaceResult, BrokerError> {
        let n = self.post_count.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|k| n >= k) {
            return Err(BrokerError::not_ready("connection lost"));
        }
        if let Some((sym, id)) = &self.prompt_for
            && *sym == o.symbol
        {
            return Ok(PlaceResult::Refused {
                prompt_id: id.clone(),
                text: "Are you sure?".into(),
            });
        }
        let mut b = self.book.lock().unwrap();
        b.posts.push(o.coid.clone());
        if b.orders.contains_key(&o.coid) {
            return Ok(PlaceResult::DuplicateCoid);
        }
        let order_id = format!("{}", 1000 + b.orders.len());
        let mut status = OrderStatus::Working;
        if self.fills {
            let entry = b.positions.get_mut(&o.symbol).unwrap();
            let price = entry.2;
            match o.side {
                Side::Buy => entry.1 += o.quantity,
                Side::Sell => entry.1 -= o.quantity,
            }
            let signed = match o.side {
                Side::Buy => -(o.quantity * price),
                Side::Sell => o.quantity * price,
            };
            b.cash += signed;
            status = OrderStatus::Filled;
            // Like the gateway: every fill is an execution with its price and commission.
            let execution_id = format!("x{}", b.executions.len());
            b.executions.push(Execution {
                execution_id,
                order_id: order_id.clone(),
                coid: Some(o.coid.clone()),
                symbol: o.symbol.clone(),
                side: o.side,
                size: o.quantity,
                price,
                commission: Some(Decimal::ZERO),
                time: None,
            });
        }
        b.orders
            .insert(o.coid.clone(), (o.clone(), status, order_id.clone()));
        Ok(PlaceResult::Submitted {
            order_id,
            status: "Submitted".into(),
        })
    }
    async fn live_orders(&self, _a: &str) -> Result<Vec<LiveOrder>, BrokerError> {
        let b = self.book.lock().unwrap();
        Ok(b.orders
            .iter()
            .map(|(coid, (o, st, id))| LiveOrder {
                order_id: id.clone(),
                coid: Some(coid.clone()),
                conid: o.conid,
                side: o.side,
                status: *st,
                filled: if *st == OrderStatus::Filled {
                    o.quantity
                } else {
                    Decimal::ZERO
                },
                remaining: Decimal::ZERO,
                avg_price: None,
            })
            .collect())
    }
    async fn order_status(
        &self,
        a: &str,
        order_id: &str,
    ) -> Result<Option<LiveOrder>, BrokerError> {
        let all = self.live_orders(a).await?;
        Ok(all.into_iter().find(|o| o.order_id == order_id))
    }
    async fn trades(&self, _a: &str, _d: u32) -> Result<Vec<Execution>, BrokerError> {
        Ok(self.book.lock().unwrap().executions.clone())
    }
    async fn cancel(&self, _a: &str, order_id: &str) -> Result<(), BrokerError> {
        let mut b = self.book.lock().unwrap();
        for (_, st, id) in b.orders.values_mut() {
            if id == order_id && *st == OrderStatus::Working {
                *st = OrderStatus::Cancelled;
            }
        }
        Ok(())
    }
}
