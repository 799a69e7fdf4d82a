//! Pacing in front of every gateway request: a global rate, per-endpoint minimum spacing
//! (reference §6.1) and a freeze of all traffic after an HTTP 429.
//!
//! IBKR punishes pacing violations by putting the caller's IP in a "penalty box" for about ten
//! minutes, and retries during the penalty deepen it (ibind #15). So the limiter:
//! - spaces all requests at least `1 / max_requests_per_sec` apart (no bursts: any one-second
//!   window then holds at most `max_requests_per_sec` requests, below the gateway's 10/s);
//! - spaces calls to the slow endpoints (orders 1/5 s, `portfolio/accounts` 1/5 s, tickle 1/s …)
//!   by their documented minimum — callers simply wait;
//! - after a 429, refuses every request immediately with [`GatewayError::RateLimited`] until the
//!   penalty period (config `gateway.rate_limit_penalty_secs`) has passed. Refusing (rather than
//!   sleeping ten minutes inside a call) lets the cycle report and the keeper carry on.
//!
//! Slots are reserved under a short `std` mutex and waited for outside it, in tokio time, so
//! tests drive it with `tokio::time::pause()`.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::error::GatewayError;

/// Endpoints with their own documented pacing. Everything else is `Other` (global rate only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    Snapshot,
    LiveOrders,
    Trades,
    PortfolioAccounts,
    Tickle,
    SsoValidate,
    Other,
}

impl EndpointClass {
    /// The minimum spacing between two calls of this class: the documented limit plus a 10 %
    /// margin, because the gateway measures arrival times and network jitter can bring two
    /// calls sent exactly 5 s apart within its window (a 429 costs a 10-minute penalty).
    pub fn min_spacing(self) -> Duration {
        match self {
            EndpointClass::Snapshot => Duration::from_millis(110),
            EndpointClass::LiveOrders
            | EndpointClass::Trades
            | EndpointClass::PortfolioAccounts => Duration::from_millis(5500),
            EndpointClass::Tickle => Duration::from_millis(1100),
            EndpointClass::SsoValidate => Duration::from_secs(66),
            EndpointClass::Other => Duration::ZERO,
        }
    }

    /// Classifies an API path (relative to `/v1/api`) and method.
    pub fn of(method: &reqwest::Method, path: &str) -> Self {
        let p = path.split('?').next().unwrap_or(path);
        if p.starts_with("/iserver/marketdata/snapshot") {
            EndpointClass::Snapshot
        } else if *method == reqwest::Method::GET && p == "/iserver/account/orders" {
            EndpointClass::LiveOrders
        } else if p == "/iserver/account/trades" {
            EndpointClass::Trades
        } else if p == "/portfolio/accounts" || p.starts_with("/portfolio/subaccounts") {
            EndpointClass::PortfolioAccounts
        } else if p == "/tickle" {
            EndpointClass::Tickle
        } else if p == "/sso/validate" {
            EndpointClass::SsoValidate
        } else {
            EndpointClass::Other
        }
    }
}

#[derive(Debug)]
struct State {
    next_global: Instant,
    next_by_class: HashMap<EndpointClass, Instant>,
    frozen_until: Option<Instant>,
}

/// The one limiter shared by all clones of a [`super::GatewayClient`].
#[derive(Debug)]
pub struct RateLimiter {
    spacing: Duration,
    penalty: Duration,
    state: Mutex<State>,
}

impl RateLimiter {
    /// `max_per_sec` requests per second overall (≥ 1); `penalty` after a 429.
    pub fn new(max_per_sec: u32, penalty: Duration) -> Self {
        let now = Instant::now();
        Self {
            spacing: Duration::from_secs(1) / max_per_sec.max(1),
            penalty,
            state: Mutex::new(State {
                next_global: now,
                next_by_class: HashMap::new(),
                frozen_until: None,
            }),
        }
    }

    /// Waits for this request's slot, or refuses at once during a penalty.
    ///
    /// # Errors
    /// [`GatewayError::RateLimited`] while frozen (also if a 429 arrived while waiting).
    pub async fn acquire(&self, class: EndpointClass) -> Result<(), GatewayError> {
        let start = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            Self::check_frozen(&mut st, now)?;
            let mut start = now.max(st.next_global);
            if let Some(next) = st.next_by_class.get(&class) {
                start = start.max(*next);
            }
            st.next_global = start + self.spacing;
            let spacing = class.min_spacing();
            if !spacing.is_zero() {
                st.next_by_class.insert(class, start + spacing);
            }
            start
        };
        tokio::time::sleep_until(start).await;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Self::check_frozen(&mut st, Instant::now())
    }

    fn check_frozen(st: &mut State, now: Instant) -> Result<(), GatewayError> {
        match st.frozen_until {
            Some(until) if until > now => Err(GatewayError::RateLimited {
                remaining: until - now,
            }),
            Some(_) => {
                st.frozen_until = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a 429: nothing is sent until the penalty has passed. Returns the error to report.
    pub fn penalize(&self) -> GatewayError {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + self.penalty;
        st.frozen_until = Some(st.frozen_until.map_or(until, |u| u.max(until)));
        GatewayError::RateLimited {
            remaining: self.penalty,
        }
    }

    /// Time left in the current penalty, if any.
    pub fn frozen_for(&self) -> Option<Duration> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.frozen_until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn global_spacing_and_endpoint_spacing() {
        let rl = RateLimiter::new(8, Duration::from_secs(600));
        let t0 = Instant::now();
        for _ in 0..8 {
            rl.acquire(EndpointClass::Other).await.unwrap();
        }
        // 8 requests at 125 ms spacing: the 8th starts at 875 ms.
        assert_eq!(Instant::now() - t0, Duration::from_millis(875));
        rl.acquire(EndpointClass::LiveOrders).await.unwrap();
        let t1 = Instant::now();
        rl.acquire(EndpointClass::LiveOrders).await.unwrap();
        // The documented 1 per 5 s plus the 10 % jitter margin.
        assert_eq!(Instant::now() - t1, Duration::from_millis(5500));
    }

    #[tokio::test(start_paused = true)]
    async fn penalty_freezes_everything_then_lifts() {
        let rl = RateLimiter::new(8, Duration::from_secs(600));
        let e = rl.penalize();
        assert!(e.is_rate_limited());
        let e = rl.acquire(EndpointClass::Tickle).await.unwrap_err();
        assert!(e.is_rate_limited(), "{e}");
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(rl.acquire(EndpointClass::Other).await.is_err());
        assert!(rl.frozen_for().is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        rl.acquire(EndpointClass::Other).await.unwrap();
        assert!(rl.frozen_for().is_none());
    }

    #[test]
    fn classes() {
        use reqwest::Method;
        assert_eq!(
            EndpointClass::of(&Method::GET, "/iserver/account/orders"),
            EndpointClass::LiveOrders
        );
        assert_eq!(
            EndpointClass::of(&Method::POST, "/iserver/account/U1/orders"),
            EndpointClass::Other
        );
        assert_eq!(
            EndpointClass::of(&Method::GET, "/iserver/marketdata/snapshot"),
            EndpointClass::Snapshot
        );
        assert_eq!(
            EndpointClass::of(&Method::POST, "/tickle"),
            EndpointClass::Tickle
        );
    }
}
