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

/// The cause of a [`RepositoryError`], as the adapter found it: its whole chain of sources
/// stays available to whoever logs it.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Storage could not be reached or is overloaded; the operation did not happen.
    #[error("storage unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else; the cause is for the logs only.
    #[error("storage failure")]
    Internal(#[source] Cause),
}

impl From<ValidationErrors> for DomainError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

/// An error and every source under it, one after another: `storage failure: permanent: Query
/// Error: error returned from database: …`. For logs, which must show the whole cause of a 500.
/// A source whose message the one above it already ends with (as many libraries write theirs)
/// is not repeated.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            let message = error.to_string();
            if !shown.ends_with(&message) {
                write!(f, ": {message}")?;
            }
            shown = message;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("connection")]
    struct Classified(#[source] Refused);

    #[derive(Debug, thiserror::Error)]
    #[error("Query Error: {0}")]
    struct Repeats(#[source] Refused);

    #[test]
    fn a_chain_shows_every_cause_once() {
        let error = RepositoryError::Unavailable(Box::new(Classified(Refused)));
        assert_eq!(Chain(&error).to_string(), "storage unavailable: connection: connection refused");
        let error = DomainError::from(error);
        assert_eq!(Chain(&error).to_string(), "storage unavailable: connection: connection refused");
        let error = RepositoryError::Internal(Box::new(Repeats(Refused)));
        assert_eq!(Chain(&error).to_string(), "storage failure: Query Error: connection refused");
    }
}
