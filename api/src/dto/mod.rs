//! Request and response shapes. Requests become domain types through `TryFrom`-style
//! parsing that reports every problem; responses are built from domain types.

pub mod conversations;
pub mod cursor;
pub mod tasks;

use chrono::{DateTime, SecondsFormat, Utc};

/// Timestamps leave in UTC with a `Z` suffix and microsecond precision.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn optional_timestamp(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(timestamp)
}
