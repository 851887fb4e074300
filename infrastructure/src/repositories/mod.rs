//! Implementations of the domain's repository ports.
//!
//! Each port method is one statement where the contract allows it (reads stay a single
//! round trip, but for a search, which is planned per call in a transaction of its own: see
//! `database::executor::Query`), and one transaction where it must be atomic. Statements
//! are built by sea-orm's and sea-query's builders and run through the executor
//! (`database::executor`); rows are read into the [`records`] and turned into the domain's
//! types there. Every method runs under the database's
//! [`Guard`](crate::database::resilience::Guard), declaring whether retrying it is safe.

mod conversations;
mod records;
mod tasks;

pub use conversations::SeaConversationRepository;
pub use tasks::SeaTaskRepository;

use crate::database::errors::UnreadableRow;
use crate::database::executor::{DbError, Pool};
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use domain::RepositoryError;
use domain::error::Chain;

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
async fn read<T, F, Fut>(guard: &Guard, primary: &Pool, replica: Option<&Replica>, run: F) -> Result<T, RepositoryError>
where
    F: Fn(Pool) -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
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
