//! The one clock seam: "now" as a value the outer layer passes in.
//!
//! Why: decisions that move money (is a run due, has a staged plan expired, is a run too old to
//! resume) must be testable on literal instants. Only the daemon and the commands construct a
//! [`SystemClock`]; the cycle and the scheduler's driver receive a [`Clock`], and tests give them
//! a fixed or paused one. Any `Fn() -> DateTime<Utc>` is a clock, so a test can pass a closure.
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock shared by clones of one component.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

impl<F: Fn() -> DateTime<Utc> + Send + Sync> Clock for F {
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

/// The wall clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// Wall time that advances with tokio's clock from a chosen start, so tests with paused time
/// (`tokio::time::advance`, auto-advance) move the scheduler's "now" too.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self {
            wall,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.origin;
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::zero())
    }
}
