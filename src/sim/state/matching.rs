//! Orders: placement, commissions, the cOID register and the fills that market hours, limit
//! prices and the fill mode allow.
use super::*;

impl SimState {
    /// IBKR Pro fixed pricing: 0.005 per share, min 1.00, max 1 % of trade value.
    pub fn commission(size: Decimal, price: Decimal) -> Decimal {
        let raw = (size * dec!(0.005)).max(dec!(1.00));
        let cap = (size * price * dec!(0.01)).max(dec!(0.01));
        raw.min(cap)
            .round_dp_with_strategy(2, RoundingStrategy::AwayFromZero)
    }

    pub fn coid_registered(&self, coid: &str, now: DateTime<Utc>) -> bool {
        self.coids
            .get(coid)
            .and_then(|r| r.placed_at)
            .is_some_and(|t| now - t < ChronoDuration::hours(24))
    }

    /// Places a confirmed order; returns its id and the status reported to the client.
    pub fn place(&mut self, o: NewOrder, now: DateTime<Utc>) -> (u64, OrderStatus) {
        self.next_order_id += 1 + u64::from(rand::random::<u8>() % 7);
        let id = self.next_order_id;
        let ins = &self.instruments[&o.conid];
        let status = if self.market_open(now) && o.order_type != OrderType::MarketOnClose {
            OrderStatus::Submitted
        } else {
            OrderStatus::PreSubmitted
        };
        let order = SimOrder {
            order_id: id,
            coid: o.coid.clone(),
            account: self.account_id.clone(),
            conid: o.conid,
            symbol: ins.symbol.clone(),
            side: o.side,
            order_type: o.order_type,
            limit_price: o.limit_price,
            quantity: o.quantity,
            cash_qty: o.cash_qty,
            tif: o.tif.clone(),
            filled: Decimal::ZERO,
            avg_price: None,
            status,
            placed_at: now,
            last_update: now,
            session_generation: self.session.generation,
            partial_done: false,
            cancel_reads_left: 0,
        };
        if let Some(c) = &o.coid {
            let rec = self.coids.entry(c.clone()).or_default();
            rec.order_id = Some(id);
            rec.placed_at = Some(now);
        }
        tracing::info!(order_id = id, coid = ?o.coid, "sim: order placed");
        self.orders.push(order);
        self.process_fills(now);
        (id, status)
    }

    /// Fills whatever the fill mode, market state and prices allow.
    pub fn process_fills(&mut self, now: DateTime<Utc>) {
        let open = self.market_open(now);
        let mode = self.behaviour.fill_mode.clone();
        for i in 0..self.orders.len() {
            let o = &self.orders[i];
            if !o.status.is_working() {
                continue;
            }
            let Some(price) = self.price(o.conid) else {
                continue;
            };
            let is_fund = self
                .instruments
                .get(&o.conid)
                .is_some_and(|i| i.asset_class == "FUND");
            let eligible = match o.order_type {
                // Mutual funds trade once a day at the NAV struck after the close: an order
                // fills at the first close after it was placed (immediately without hours).
                OrderType::Market if is_fund => match &self.market_hours {
                    Some(h) => h
                        .last_close_at_or_before(now)
                        .is_some_and(|c| c > o.placed_at),
                    None => open,
                },
                OrderType::Market => open,
                OrderType::Limit => {
                    open && match (o.side, o.limit_price) {
                        (Side::Buy, Some(l)) => l >= price,
                        (Side::Sell, Some(l)) => l <= price,
                        _ => false,
                    }
                }
                OrderType::MarketOnClose => match &self.market_hours {
                    Some(h) => h
                        .last_close_at_or_before(now)
                        .is_some_and(|c| c > o.placed_at),
                    None => open,
                },
            };
            if !eligible {
                continue;
            }
            if o.status == OrderStatus::PreSubmitted {
                self.orders[i].status = OrderStatus::Submitted;
            }
            let o = &self.orders[i];
            let fill_size = match &mode {
                FillMode::Never => continue,
                FillMode::Delayed { ms } => {
                    if now - o.placed_at < ChronoDuration::milliseconds(*ms as i64) {
                        continue;
                    }
                    self.full_size(o, price)
                }
                FillMode::Immediate => self.full_size(o, price),
                FillMode::Partial { fraction } => {
                    if o.partial_done {
                        continue;
                    }
                    let full = self.full_size(o, price);
                    (full * *fraction).floor().min(full)
                }
            };
            if matches!(mode, FillMode::Partial { .. }) {
                self.orders[i].partial_done = true;
            }
            if fill_size <= Decimal::ZERO {
                if self.orders[i].cash_qty.is_some() && self.orders[i].quantity.is_none() {
                    // Cash amount below one share (no fractions): nothing can fill.
                    self.orders[i].status = OrderStatus::Inactive;
                }
                continue;
            }
            self.execute(i, fill_size, price, now);
        }
    }

    /// Shares still to fill at `price` (cash orders are sized at the fill price).
    fn full_size(&self, o: &SimOrder, price: Decimal) -> Decimal {
        match (o.quantity, o.cash_qty) {
            (Some(q), _) => q - o.filled,
            (None, Some(cash)) => {
                // What is left of the cash amount after earlier (partial) fills.
                let spent = o.filled * o.avg_price.unwrap_or_default();
                let dp = if self.supports_fractions { 4 } else { 0 };
                ((cash - spent).max(Decimal::ZERO) / price)
                    .round_dp_with_strategy(dp, RoundingStrategy::ToZero)
            }
            (None, None) => Decimal::ZERO,
        }
    }

    fn execute(&mut self, i: usize, size: Decimal, price: Decimal, now: DateTime<Utc>) {
        let commission = Self::commission(size, price);
        let gross = size * price;
        let (side, conid) = (self.orders[i].side, self.orders[i].conid);
        let h = self.holdings.entry(conid).or_insert(Holding {
            quantity: Decimal::ZERO,
            avg_cost: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
        });
        let net = match side {
            Side::Buy => {
                let new_qty = h.quantity + size;
                h.avg_cost = ((h.quantity * h.avg_cost + gross + commission) / new_qty).round_dp(6);
                h.quantity = new_qty;
                gross + commission
            }
            Side::Sell => {
                let pnl = size * (price - h.avg_cost) - commission;
                h.realized_pnl += pnl;
                self.realized_total += pnl;
                h.quantity -= size;
                if h.quantity.is_zero() {
                    h.avg_cost = Decimal::ZERO;
                }
                gross - commission
            }
        };
        self.book_fill(conid, side == Side::Buy, size, net, now);
        let dp = if self.supports_fractions { 4 } else { 0 };
        let o = &mut self.orders[i];
        let prev = o.filled;
        o.filled += size;
        o.avg_price = Some(match o.avg_price {
            Some(a) => ((a * prev + price * size) / o.filled).round_dp(4),
            None => price,
        });
        o.last_update = now;
        let done = match (o.quantity, o.cash_qty) {
            (Some(q), _) => o.filled >= q,
            // A cash order is done when the rest of the amount no longer buys a share increment.
            (None, Some(cash)) => {
                let spent = o.filled * o.avg_price.unwrap_or_default();
                ((cash - spent).max(Decimal::ZERO) / price)
                    .round_dp_with_strategy(dp, RoundingStrategy::ToZero)
                    .is_zero()
            }
            (None, None) => true,
        };
        if done {
            o.status = OrderStatus::Filled;
        }
        let exec = Execution {
            execution_id: format!(
                "0000f711.{:08x}.01.{:02}",
                o.order_id as u32,
                self.executions.len() % 100 + 1
            ),
            order_id: o.order_id,
            coid: o.coid.clone(),
            conid,
            symbol: o.symbol.clone(),
            side,
            size,
            price,
            commission,
            net_amount: net,
            at: now,
        };
        tracing::info!(order_id = o.order_id, %size, %price, "sim: fill");
        self.executions.push(exec);
    }
}
