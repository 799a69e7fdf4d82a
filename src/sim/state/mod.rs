//! The simulated world behind the HTTP surface: session, account, orders, fills, pacing,
//! faults and a request log. Everything is synchronous and takes `now` from the caller, so
//! the simulated clock (real time + an offset that tests can advance) drives idle expiry,
//! the nightly reset, delayed fills, market hours and rate-limit windows alike.
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde::Serialize;

use super::account::{AccountSpec, InstrumentSpec};
use super::config::{Behaviour, EndpointLimit, FillMode, StartState};
use super::faults::ActiveFault;

mod matching;
mod pacing;
mod types;

pub use types::*;

pub(crate) struct SimState {
    pub behaviour: Behaviour,
    pub clock_offset: ChronoDuration,
    pub account_id: String,
    /// The user's other accounts (see [`AccountSpec::other_accounts`]).
    pub other_accounts: Vec<String>,
    /// The account endpoints without an account in the path (trades) answer for.
    pub selected_account: String,
    pub currency: String,
    pub username: String,
    pub password: String,
    pub supports_fractions: bool,
    pub market_hours: Option<super::account::MarketHours>,
    /// `None` = follow market hours (or always open without hours).
    pub market_override: Option<bool>,
    pub cash: Decimal,
    pub instruments: BTreeMap<i64, InstrumentSpec>,
    pub prices: BTreeMap<i64, Decimal>,
    pub holdings: BTreeMap<i64, Holding>,
    pub positions_cache: Option<Vec<(i64, Holding, Decimal)>>,
    pub session: Session,
    pub orders: Vec<SimOrder>,
    pub coids: BTreeMap<String, CoidRecord>,
    pub pending: HashMap<String, PendingReply>,
    pub executions: Vec<Execution>,
    pub faults: Vec<ActiveFault>,
    pub rate: RateLimiter,
    pub requests: VecDeque<RequestRecord>,
    pub next_order_id: u64,
    pub last_tick: DateTime<Utc>,
    pub realized_total: Decimal,
    /// Cash in other currencies, settlement and cash-account rules (`money.rs`).
    pub books: super::money::Books,
}

const MAX_LOG: usize = 20_000;

impl SimState {
    pub fn new(
        account: &AccountSpec,
        behaviour: Behaviour,
        start: StartState,
        faults: Vec<super::faults::FaultRule>,
    ) -> Self {
        let now = Utc::now();
        let mut instruments = BTreeMap::new();
        let mut prices = BTreeMap::new();
        let mut holdings = BTreeMap::new();
        for ins in &account.instruments {
            prices.insert(ins.conid, ins.price);
            if ins.quantity > Decimal::ZERO {
                holdings.insert(
                    ins.conid,
                    Holding {
                        quantity: ins.quantity,
                        avg_cost: ins.avg_cost,
                        realized_pnl: Decimal::ZERO,
                    },
                );
            }
            instruments.insert(ins.conid, ins.clone());
        }
        let mut s = SimState {
            behaviour,
            clock_offset: ChronoDuration::zero(),
            account_id: account.account_id.clone(),
            other_accounts: account.other_accounts.clone(),
            selected_account: account.account_id.clone(),
            currency: account.currency.clone(),
            username: account.username.clone(),
            password: account.password.clone(),
            supports_fractions: account.supports_fractions.unwrap_or(true),
            market_hours: account.market_hours.clone(),
            market_override: None,
            cash: account.cash,
            instruments,
            prices,
            holdings,
            positions_cache: None,
            session: Session {
                sso: false,
                had_sso: false,
                sso_started: None,
                session_id: String::new(),
                authenticated: false,
                competing: false,
                auth_ready_at: None,
                generation: 0,
                iserver_primed: false,
                portfolio_primed: false,
                suppressed: BTreeSet::new(),
                last_activity: now,
                md_calls: HashMap::new(),
                live_orders_calls: 0,
                tickle_no_session: 0,
                stuck: None,
            },
            orders: Vec::new(),
            coids: BTreeMap::new(),
            pending: HashMap::new(),
            executions: Vec::new(),
            faults: faults.into_iter().map(ActiveFault::new).collect(),
            rate: RateLimiter::default(),
            requests: VecDeque::new(),
            next_order_id: 1_384_451_200 + u64::from(rand::random::<u16>()),
            last_tick: now,
            realized_total: Decimal::ZERO,
            books: super::money::Books {
                fx_rates: account.fx_rates.clone(),
                foreign_cash: account.foreign_cash.clone(),
                cash_account: account.account_type == "cash",
                ..Default::default()
            },
        };
        match start {
            StartState::LoggedOut => {}
            StartState::SsoOnly => s.login(now),
            StartState::Authenticated => {
                s.login(now);
                s.authenticate_now(now);
            }
        }
        s
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    // ---- session -------------------------------------------------------------------------

    /// Creates a fresh SSO session (browser login).
    pub fn login(&mut self, now: DateTime<Utc>) {
        self.session.sso = true;
        self.session.had_sso = true;
        self.session.sso_started = Some(now);
        self.session.session_id = hex::encode(rand::random::<[u8; 16]>());
        self.session.last_activity = now;
        self.session.portfolio_primed = false;
        self.drop_brokerage();
        if self.behaviour.login_establishes_brokerage && self.session.stuck.is_none() {
            self.authenticate_now(now);
        }
    }

    /// Loses the whole session (idle expiry, logout, injected loss).
    pub fn drop_sso(&mut self) {
        if self.session.stuck == Some(StuckUntil::Relogin) {
            self.session.stuck = None;
        }
        self.session.sso = false;
        self.session.sso_started = None;
        self.session.portfolio_primed = false;
        self.positions_cache = None;
        self.drop_brokerage();
    }

    /// Loses the brokerage session only (nightly reset, competing login).
    pub fn drop_brokerage(&mut self) {
        self.session.authenticated = false;
        self.session.auth_ready_at = None;
        self.session.iserver_primed = false;
        self.session.suppressed.clear();
        self.session.md_calls.clear();
        self.pending.clear();
    }

    /// Completes a brokerage authentication: a new session generation, unprimed, and the
    /// selected account back at the first of the user's accounts (which, for a multi-account
    /// user, is not the one pbal trades).
    pub fn authenticate_now(&mut self, _now: DateTime<Utc>) {
        self.selected_account = self
            .other_accounts
            .first()
            .cloned()
            .unwrap_or_else(|| self.account_id.clone());
        self.session.authenticated = true;
        self.session.competing = false;
        self.session.auth_ready_at = None;
        self.session.generation += 1;
        self.session.iserver_primed = false;
        self.session.suppressed.clear();
        self.session.md_calls.clear();
        self.session.live_orders_calls = 0;
        self.pending.clear();
    }

    /// `ssodh/init` or reauthenticate: authenticated now or after the configured delay.
    pub fn start_auth(&mut self, now: DateTime<Utc>) {
        self.drop_brokerage();
        if self.session.stuck.is_some() {
            return;
        }
        self.session.competing = false;
        if self.behaviour.auth_delay_ms == 0 {
            self.authenticate_now(now);
        } else {
            self.session.auth_ready_at =
                Some(now + ChronoDuration::milliseconds(self.behaviour.auth_delay_ms as i64));
        }
    }

    pub fn set_competing(&mut self) {
        self.drop_brokerage();
        self.session.competing = true;
    }

    /// The nightly maintenance: the brokerage session and its priming go; the SSO session and
    /// `/portfolio` priming stay (the reference only documents the `/iserver` side).
    pub fn nightly_reset(&mut self) {
        let ends_sso = self
            .behaviour
            .nightly_reset
            .as_ref()
            .is_some_and(|r| r.ends_sso);
        if ends_sso {
            self.drop_sso();
        } else {
            self.drop_brokerage();
        }
    }

    /// Makes the brokerage session stuck until `until` (see [`StuckUntil`]).
    pub fn set_stuck(&mut self, until: StuckUntil) {
        self.drop_brokerage();
        self.session.stuck = Some(until);
    }

    /// Advances time-driven state to `now`: pending authentication, idle expiry, nightly
    /// reset, fills. Called before every request and admin inspection.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if let Some(at) = self.session.auth_ready_at
            && now >= at
            && self.session.sso
        {
            self.authenticate_now(now);
        }
        if self.session.sso
            && now - self.session.last_activity
                > ChronoDuration::milliseconds(self.behaviour.idle_timeout_ms as i64)
        {
            tracing::info!("sim: session expired after idle timeout");
            self.drop_sso();
        }
        if let Some(reset) = &self.behaviour.nightly_reset
            && reset_between(reset, self.last_tick, now)
            && (self.session.authenticated || self.session.iserver_primed)
        {
            tracing::info!("sim: nightly reset");
            self.nightly_reset();
        }
        if now > self.last_tick {
            self.last_tick = now;
        }
        self.process_fills(now);
    }

    /// Records activity that keeps the session alive.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        if self.session.sso {
            self.session.last_activity = now;
        }
    }

    // ---- market --------------------------------------------------------------------------

    pub fn market_open(&self, now: DateTime<Utc>) -> bool {
        if let Some(o) = self.market_override {
            return o;
        }
        match &self.market_hours {
            Some(h) => h.is_open(now),
            None => true,
        }
    }

    /// The contract's price increment (account file `tick`, default one cent).
    pub fn price_increment(&self, conid: i64) -> Decimal {
        self.instruments
            .get(&conid)
            .and_then(|i| i.tick)
            .filter(|t| *t > Decimal::ZERO)
            .unwrap_or(dec!(0.01))
    }

    pub fn price(&self, conid: i64) -> Option<Decimal> {
        self.prices.get(&conid).copied()
    }

    pub fn set_price(&mut self, conid: i64, price: Decimal, now: DateTime<Utc>) {
        self.prices.insert(conid, price);
        self.process_fills(now);
    }

    pub fn conid_by_symbol(&self, symbol: &str) -> Option<i64> {
        self.instruments
            .values()
            .find(|i| i.symbol.eq_ignore_ascii_case(symbol))
            .map(|i| i.conid)
    }

    pub fn unrealized(&self) -> Decimal {
        self.holdings
            .iter()
            .map(|(c, h)| h.quantity * (self.price(*c).unwrap_or_default() - h.avg_cost))
            .sum()
    }

    /// In the base currency: every currency's cash and holdings converted.
    pub fn net_liquidation(&self) -> Decimal {
        self.total_cash_base() + self.holdings_value_base("STK") + self.holdings_value_base("FUND")
    }
}

/// Whether a nightly reset instant lies in `(from, to]`.
fn reset_between(
    reset: &super::config::NightlyReset,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    let (Ok(tz), Ok(at)) = (
        reset.tz.parse::<Tz>(),
        NaiveTime::parse_from_str(&reset.at, "%H:%M"),
    ) else {
        return false;
    };
    if to <= from {
        return false;
    }
    let start = from.with_timezone(&tz).date_naive() - ChronoDuration::days(1);
    let end = to.with_timezone(&tz).date_naive() + ChronoDuration::days(1);
    let mut d = start;
    while d <= end {
        if let Some(instant) = d.and_time(at).and_local_timezone(tz).earliest() {
            let instant = instant.with_timezone(&Utc);
            if instant > from && instant <= to {
                return true;
            }
        }
        d += ChronoDuration::days(1);
    }
    false
}

#[cfg(test)]
mod tests;
