//! The domain: types, validation rules, business rules (status transitions, recurrence) and
//! the repository traits (ports) its services need.
//!
//! It knows nothing of HTTP or SQL: `api` turns requests into these types, `infrastructure`
//! implements the ports with sea-orm. Its input types are valid by construction: a
//! [`task::NewTask`] that exists has passed every rule.

pub mod clock;
pub mod conversation;
pub mod error;
pub mod page;
pub mod task;
pub mod user;
pub mod validation;

pub use clock::{Clock, SystemClock};
pub use error::{DomainError, RepositoryError, Result};

/// What a conditional delete did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// The `If-Match` version was not the current one; nothing was deleted.
    VersionMismatch {
        current: i32,
    },
}

/// What a conditional update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome<T> {
    Updated(T),
    NotFound,
    /// The expected version was not the current one; nothing was changed.
    VersionMismatch {
        current: i32,
    },
}
pub use page::{MAX_PAGE_BYTES, Page};
pub use user::UserId;
pub use validation::{FieldError, ValidationErrors};
