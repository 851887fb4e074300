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

/// The instants the service stores and returns: 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59.999999Z. Four-digit years are what RFC 3339 can write, and what
/// both backends compare correctly (SQLite compares the text).
pub mod range {
    use chrono::{DateTime, Utc};

    /// 0001-01-01T00:00:00Z.
    pub fn earliest() -> DateTime<Utc> {
        DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// 9999-12-31T23:59:59.999999Z.
    pub fn latest() -> DateTime<Utc> {
        DateTime::from_timestamp(253_402_300_799, 999_999_000).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether `t` is inside the range.
    pub fn contains(t: &DateTime<Utc>) -> bool {
        (earliest()..=latest()).contains(t)
    }

    /// The range as the API's messages state it.
    pub const DESCRIPTION: &str = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_range_is_years_one_to_9999_in_utc() {
            assert_eq!(earliest().to_rfc3339(), "0001-01-01T00:00:00+00:00");
            assert_eq!(latest().to_rfc3339_opts(chrono::SecondsFormat::Micros, true), "9999-12-31T23:59:59.999999Z");
            assert!(contains(&earliest()) && contains(&latest()));
            assert!(!contains(&(latest() + chrono::Duration::microseconds(1))));
            assert!(!contains(&(earliest() - chrono::Duration::microseconds(1))));
        }
    }
}
