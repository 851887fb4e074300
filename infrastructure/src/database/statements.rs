//! Counting the statements each request sends to the database.
//!
//! The executor ([`super::executor`]) reports every statement it runs, transaction control
//! (`BEGIN`, `COMMIT`, `ROLLBACK`) included, to [`record_statement`]; requests run inside
//! [`tally`], which adds them up for that request only (a task-local, so concurrent requests
//! never mix). The API reports the tally in a `Server-Timing` header, which is how tests prove
//! a list page costs one query and how an operator spots an N+1: the tally is every round trip
//! a request makes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

tokio::task_local! {
    static CURRENT: Arc<Counter>;
}

#[derive(Debug, Default)]
struct Counter {
    statements: AtomicU64,
    micros: AtomicU64,
}

/// What one request sent to the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub statements: u64,
    pub time: Duration,
}

/// Runs `future`, counting the statements it executes.
pub async fn tally<F: Future>(future: F) -> (F::Output, Tally) {
    let counter = Arc::new(Counter::default());
    let output = CURRENT.scope(counter.clone(), future).await;
    let tally = Tally {
        statements: counter.statements.load(Ordering::Relaxed),
        time: Duration::from_micros(counter.micros.load(Ordering::Relaxed)),
    };
    (output, tally)
}

/// Adds a statement that took `elapsed` to the current request's tally, if any.
pub(crate) fn record_statement(elapsed: Duration) {
    let _ = CURRENT.try_with(|counter| {
        counter.statements.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        counter.micros.fetch_add(micros, Ordering::Relaxed);
    });
}
