//! Time, injectable so services and tests agree on "now".

use chrono::{DateTime, SubsecRound, Utc};

/// A source of the current time, truncated to microseconds (what PostgreSQL stores), so a
/// value the service returns equals the value it later reads back.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
