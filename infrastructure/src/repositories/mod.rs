//! sea-orm implementations of the domain's repository ports.
//!
//! Each port method is one statement where the contract allows it (reads stay a single
//! round trip), and one transaction where it must be atomic. Transactions that write start
//! as `BEGIN IMMEDIATE` on SQLite so two writers queue on the busy timeout instead of one
//! failing when it upgrades its read lock.

mod conversations;
mod tasks;

pub use conversations::SeaConversationRepository;
pub use tasks::SeaTaskRepository;

use crate::database::errors::to_repository_error;
use domain::RepositoryError;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Starts a transaction that is going to write.
async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, RepositoryError> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
    .map_err(to_repository_error)
}

/// Shorthand for mapping sea-orm errors at the port boundary.
fn db_err(error: DbErr) -> RepositoryError {
    to_repository_error(error)
}

/// A stored row the domain cannot represent: a bug or a hand edit, never the client's fault.
fn corrupt(what: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Internal(format!("unreadable row: {what}"))
}
