//! What the database layer tells an operator, in one place.
//!
//! - [`Database::figures`](crate::Database::figures): the pools, the waits for and timeouts of
//!   pooled connections, the circuit breaker and the read replica, right now.
//! - [`tally`]: what one request sent to the database (statements and their time).
//! - [`wait_counter`]: the tracing layer that counts slow acquires; install it next to the log
//!   output.
//! - [`ERROR_KINDS`]: every `kind` of `db_errors_total`, so the metric exists before its first
//!   error.
//!
//! Everything else in `database` is the layer's own business.

use std::time::Duration;

pub use crate::database::PoolStats;
pub use crate::database::errors::ERROR_KINDS;
pub use crate::database::pool_events::layer as wait_counter;
pub use crate::database::replica::ReplicaState;
pub use crate::database::resilience::{BreakerState, STALL_CHECK_AFTER};
pub use crate::database::statements::{Tally, tally};

/// The database layer's figures at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// `traffic` (all its shards together), `direct` when traffic goes through a pooler, and
    /// `read` when there is a read replica.
    pub pools: Vec<PoolStats>,
    /// Acquires of a traffic connection that waited longer than 5 ms, since the process started.
    pub acquire_waits: u64,
    /// Requests that gave up waiting for a traffic connection, since the process started.
    pub acquire_timeouts: u64,
    /// The database's circuit breaker.
    pub breaker: BreakerState,
    /// The read replica, when `DATABASE_URL_READ` is set.
    pub replica: Option<ReplicaFigures>,
}

/// The read replica's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaFigures {
    pub state: ReplicaState,
    /// How long the last successful check waited for the replica to replay the primary's
    /// position.
    pub lag: Duration,
    /// `DB_REPLICA_WAIT`: a write waits at most this long for the replica.
    pub max_wait: Duration,
}
