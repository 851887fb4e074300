//! sea-orm implementations of the domain's repository ports.
//!
//! Each port method is one statement where the contract allows it (reads stay a single
//! round trip), and one transaction where it must be atomic. Transactions that write start
//! as `BEGIN IMMEDIATE` on SQLite so two writers queue on the busy timeout instead of one
//! failing when it upgrades its read lock. Every method runs under the database's
//! [`Guard`](crate::database::resilience::Guard), declaring whether retrying it is safe.

mod conversations;
mod rows;
mod tasks;

pub use conversations::SeaConversationRepository;
pub use tasks::SeaTaskRepository;

use crate::database::errors::UnreadableRow;
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use crate::database::statements;
use domain::RepositoryError;
use domain::error::Chain;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Starts a transaction that is going to write.
async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    statements::record_control();
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Commits, counting the `COMMIT` in the request's statement tally.
async fn commit(txn: DatabaseTransaction) -> Result<(), DbErr> {
    statements::record_control();
    txn.commit().await
}

/// Rolls back, counting the `ROLLBACK` in the request's statement tally.
async fn rollback(txn: DatabaseTransaction) -> Result<(), DbErr> {
    statements::record_control();
    txn.rollback().await
}

/// A unique-key violation: on the retry of an insert whose key the service chose, proof that
/// the first attempt committed.
fn is_duplicate(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// A stored row the domain cannot represent: a bug or a hand edit, never the client's fault.
fn corrupt(what: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Internal(Box::new(UnreadableRow { what: what.to_string(), source: None }))
}

/// [`corrupt`], with the error that found it.
fn corrupt_because(what: impl std::fmt::Display, source: impl Into<domain::error::Cause>) -> RepositoryError {
    RepositoryError::Internal(Box::new(UnreadableRow { what: what.to_string(), source: Some(source.into()) }))
}

/// Runs a read that may be served by the read replica (see `database::replica`): there while
/// the replica is known to hold every acknowledged write, on the primary otherwise, and on the
/// primary again when the replica fails it. `run` gets the pool to read from.
async fn read<T, F, Fut>(
    guard: &Guard,
    primary: &DatabaseConnection,
    replica: Option<&Replica>,
    run: F,
) -> Result<T, RepositoryError>
where
    F: Fn(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    if let Some(replica) = replica {
        replica.refresh_in_background();
        if replica.fence.serves_reads() {
            match replica.guard.run(Safety::Read, |_| run(replica.pool.clone())).await {
                Ok(value) => {
                    metrics::counter!("db_reads_total", "target" => "replica").increment(1);
                    return Ok(value);
                }
                Err(error) => {
                    tracing::warn!(error = %Chain(&error), "a read on the replica failed; reading from the primary");
                    replica.fence.mark_unreachable();
                }
            }
        }
        metrics::counter!("db_reads_total", "target" => "primary").increment(1);
    }
    guard.run(Safety::Read, |_| run(primary.clone())).await
}

/// After a write, returns once the read replica holds it, or once the fence's wait is over
/// (see `database::replica`); at once without a replica.
async fn fence(replica: Option<&Replica>) {
    if let Some(replica) = replica {
        replica.after_write().await;
    }
}
