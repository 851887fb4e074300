//! Errors of the domain layer.
//!
//! - [`DomainError`] is what services return; `api` maps each variant to one HTTP status.
//! - [`RepositoryError`] is what ports return: whether storage was unreachable (the caller may
//!   retry later) or failed in a way retrying will not fix. Adapters classify their own errors
//!   into these two; the messages are for logs, never for clients.

use crate::validation::ValidationErrors;

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input broke one or more rules; every broken rule is listed.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// No such resource for this user (another user's resource is reported the same way).
    #[error("not found")]
    NotFound,
    /// The caller's `If-Match` version is not the current one; nothing was changed.
    #[error("version {expected} is not the current version {current}")]
    PreconditionFailed { expected: i32, current: i32 },
    /// The request conflicts with one being processed (e.g. the same idempotency key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An idempotency key was reused with a different request body.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Storage could not be reached or is overloaded; the operation did not happen.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the cause is for the logs only.
    #[error("storage failure: {0}")]
    Internal(String),
}

impl From<ValidationErrors> for DomainError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}
