//! Classifying database errors: is the database away (the request may succeed later), or is
//! this a failure retrying cannot fix?
//!
//! Neon suspends idle computes and drops their connections; while one wakes, clients see
//! refused or reset connections, `57P01` (terminating connection due to administrator
//! command), `57P03` (cannot connect now) or pooler errors. Those, pool timeouts, statement
//! timeouts and serialization failures are [`Failure::Transient`]; everything else is
//! [`Failure::Permanent`].

use super::executor::DbError;
use domain::RepositoryError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a transient failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransientKind {
    /// No connection could be opened or an open one broke (refused, reset, TLS, closed).
    Connection,
    /// Every pooled connection stayed busy for the whole acquire timeout.
    PoolExhausted,
    /// The server or pooler is shutting down, starting up or out of connections.
    ServerUnavailable,
    /// The statement ran past `statement_timeout`.
    StatementTimeout,
    /// Serialization failure or deadlock: the transaction was rolled back and may be retried.
    Conflict,
    /// SQLite's single writer stayed busy past the busy timeout.
    Busy,
}

/// The class of a database error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Transient(TransientKind),
    Permanent,
}

/// Classifies an error of the database driver by what caused it.
pub(crate) fn classify_sqlx(error: &sea_orm::sqlx::Error) -> Failure {
    use sea_orm::sqlx::Error;
    match error {
        Error::Io(_) | Error::Tls(_) | Error::WorkerCrashed | Error::PoolClosed | Error::Protocol(_) => {
            Failure::Transient(TransientKind::Connection)
        }
        Error::PoolTimedOut => Failure::Transient(TransientKind::PoolExhausted),
        Error::Database(db) => match db.code().as_deref() {
            Some(code) => classify_code(code),
            None => classify_message(db.message()),
        },
        _ => Failure::Permanent,
    }
}

/// PostgreSQL SQLSTATEs and SQLite result codes.
pub fn classify_code(code: &str) -> Failure {
    match code {
        // Class 08: connection exception.
        c if c.starts_with("08") => Failure::Transient(TransientKind::Connection),
        // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections: the server
        // ended or refused the session, so the statement's transaction did not commit.
        "57P01" | "57P02" | "57P03" | "53300" => Failure::Transient(TransientKind::ServerUnavailable),
        "57014" => Failure::Transient(TransientKind::StatementTimeout),
        "40001" | "40P01" => Failure::Transient(TransientKind::Conflict),
        // SQLITE_BUSY and its extended codes (5, 261, 517, 773); SQLITE_LOCKED (6, 262).
        "5" | "261" | "517" | "773" | "6" | "262" => Failure::Transient(TransientKind::Busy),
        _ => Failure::Permanent,
    }
}

/// PgBouncer reports some conditions as errors without a SQLSTATE of their own. Whether the
/// statement ran is unknown then, so they count as a broken connection.
fn classify_message(message: &str) -> Failure {
    let m = message.to_ascii_lowercase();
    let unavailable = [
        "pgbouncer cannot connect to server",
        "server conn crashed",
        "no more connections allowed",
        "query_wait_timeout",
        "server login has been failing",
        "couldn't connect to compute node",
    ];
    if unavailable.iter().any(|p| m.contains(p)) {
        Failure::Transient(TransientKind::ServerUnavailable)
    } else {
        Failure::Permanent
    }
}

/// Every `kind` label of `db_errors_total`: each failure's, and `circuit_open` (a call the
/// open circuit breaker refused without trying).
pub const ERROR_KINDS: [&str; 8] = [
    "connection",
    "pool_exhausted",
    "server_unavailable",
    "statement_timeout",
    "serialization_conflict",
    "busy",
    "permanent",
    "circuit_open",
];

impl Failure {
    /// The `kind` label of the `db_errors_total` metric.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Transient(TransientKind::Connection) => "connection",
            Failure::Transient(TransientKind::PoolExhausted) => "pool_exhausted",
            Failure::Transient(TransientKind::ServerUnavailable) => "server_unavailable",
            Failure::Transient(TransientKind::StatementTimeout) => "statement_timeout",
            Failure::Transient(TransientKind::Conflict) => "serialization_conflict",
            Failure::Transient(TransientKind::Busy) => "busy",
            Failure::Permanent => "permanent",
        }
    }
}

static ACQUIRE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// How many requests gave up waiting for a free traffic connection since the process started.
pub fn acquire_timeouts() -> u64 {
    ACQUIRE_TIMEOUTS.load(Ordering::Relaxed)
}

/// The port-level error for a database error of class `failure`: transient ones mean
/// "unavailable". Each one is counted in `db_errors_total{kind}`.
pub(crate) fn failure_to_repository_error(error: DbError, failure: Failure) -> RepositoryError {
    metrics::counter!("db_errors_total", "kind" => failure.label()).increment(1);
    if failure == Failure::Transient(TransientKind::PoolExhausted) {
        ACQUIRE_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
    }
    let cause = Box::new(Classified { failure, source: error });
    match failure {
        Failure::Transient(_) => RepositoryError::Unavailable(cause),
        Failure::Permanent => RepositoryError::Internal(cause),
    }
}

/// A database error with its class, the first link of the chain a failed call logs
/// (`storage unavailable: connection: error communicating with database: …`).
#[derive(Debug, thiserror::Error)]
#[error("{}", failure.label())]
pub(crate) struct Classified {
    failure: Failure,
    #[source]
    source: DbError,
}

/// The circuit breaker refused a call without trying it.
#[derive(Debug, thiserror::Error)]
#[error("circuit breaker open: the database is away")]
pub(crate) struct CircuitOpen;

/// A stored row the domain cannot represent: a bug or a hand edit, never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("unreadable row: {what}")]
pub(crate) struct UnreadableRow {
    pub(crate) what: String,
    #[source]
    pub(crate) source: Option<domain::error::Cause>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_label_is_a_documented_kind() {
        let failures = [
            Failure::Transient(TransientKind::Connection),
            Failure::Transient(TransientKind::PoolExhausted),
            Failure::Transient(TransientKind::ServerUnavailable),
            Failure::Transient(TransientKind::StatementTimeout),
            Failure::Transient(TransientKind::Conflict),
            Failure::Transient(TransientKind::Busy),
            Failure::Permanent,
        ];
        let labels: Vec<&str> = failures.iter().map(|f| f.label()).chain(["circuit_open"]).collect();
        assert_eq!(labels, ERROR_KINDS);
    }

    #[test]
    fn postgres_codes_are_classified() {
        assert_eq!(classify_code("57P01"), Failure::Transient(TransientKind::ServerUnavailable));
        assert_eq!(classify_code("57P03"), Failure::Transient(TransientKind::ServerUnavailable));
        assert_eq!(classify_code("08006"), Failure::Transient(TransientKind::Connection));
        assert_eq!(classify_code("40001"), Failure::Transient(TransientKind::Conflict));
        assert_eq!(classify_code("40P01"), Failure::Transient(TransientKind::Conflict));
        assert_eq!(classify_code("57014"), Failure::Transient(TransientKind::StatementTimeout));
        assert_eq!(classify_code("23505"), Failure::Permanent, "unique violation");
        assert_eq!(classify_code("42P01"), Failure::Permanent, "undefined table");
    }

    #[test]
    fn sqlite_busy_is_transient() {
        assert_eq!(classify_code("5"), Failure::Transient(TransientKind::Busy));
        assert_eq!(classify_code("517"), Failure::Transient(TransientKind::Busy));
        assert_eq!(classify_code("19"), Failure::Permanent, "constraint");
    }

    #[test]
    fn pool_and_connection_errors_are_transient() {
        use sea_orm::sqlx::Error;
        assert_eq!(DbError::Connect(Error::PoolTimedOut).failure(), Failure::Transient(TransientKind::PoolExhausted));
        let refused = Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(DbError::Connect(refused).failure(), Failure::Transient(TransientKind::Connection));
        let reset = Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let reset = DbError::Statement(reset);
        assert_eq!(reset.failure(), Failure::Transient(TransientKind::Connection));
        assert!(!reset.never_sent(), "a statement that failed on the wire may have run");
        assert_eq!(DbError::Stalled.failure(), Failure::Transient(TransientKind::Connection));
        assert_eq!(DbError::Decode(Error::ColumnNotFound("title".into())).failure(), Failure::Permanent);
    }

    #[test]
    fn a_repository_error_keeps_the_whole_cause() {
        use domain::error::Chain;
        let missing = DbError::Decode(sea_orm::sqlx::Error::ColumnNotFound("title".into()));
        let error = failure_to_repository_error(missing, Failure::Permanent);
        assert!(matches!(error, RepositoryError::Internal(_)));
        assert_eq!(
            Chain(&error).to_string(),
            "storage failure: permanent: row does not decode: no column found for name: title"
        );
        let refused = sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let error = DbError::Connect(refused);
        let failure = error.failure();
        let error = failure_to_repository_error(error, failure);
        assert!(matches!(error, RepositoryError::Unavailable(_)));
        let chain = Chain(&error).to_string();
        assert!(chain.starts_with("storage unavailable: connection: no connection: "), "{chain}");
        assert!(chain.to_lowercase().contains("refused"), "{chain}");
    }

    #[test]
    fn pooler_messages_without_a_code_are_recognised() {
        assert_eq!(
            classify_message("pgbouncer cannot connect to server"),
            Failure::Transient(TransientKind::ServerUnavailable)
        );
        assert_eq!(
            classify_message("Couldn't connect to compute node"),
            Failure::Transient(TransientKind::ServerUnavailable)
        );
        assert_eq!(classify_message("syntax error"), Failure::Permanent);
    }
}
