//! Surviving Neon's failure modes: a circuit breaker, safe retries and stale-connection
//! eviction around every repository call.
//!
//! Neon suspends idle computes and drops their connections; restarts and pooler restarts do
//! the same. The [`Guard`] of a database decides, for each failed attempt, whether to retry,
//! and keeps a circuit breaker so that while the database is away requests answer 503 at once
//! instead of each waiting out the acquire timeout.
//!
//! # When a retry is safe
//!
//! A retry must never apply a write twice. Each repository call declares its [`Safety`]:
//!
//! | failure                                              | `Read` | `Idempotent` | `Write` |
//! |------------------------------------------------------|--------|--------------|---------|
//! | no connection could be had (acquire or connect failed) | retry | retry       | retry   |
//! | the server aborted it (57P01/57P02/57P03, 40001, 40P01, SQLite busy) | retry | retry | retry |
//! | the connection broke mid-statement (outcome unknown) | retry  | retry        | no      |
//! | pool exhausted, statement timeout                    | no     | no           | no      |
//! | anything else                                        | no     | no           | no      |
//!
//! A server-side abort rolls the statement's transaction back, so nothing was written. A
//! broken connection leaves the outcome unknown, so only reads and writes that recognise
//! their own earlier success are retried: inserts of a row whose id the service chose (a
//! duplicate key on the retry means the first attempt committed), a whole transaction keyed
//! that way, or a compare-and-set update that checks whether the row already holds its
//! result. Pool exhaustion and statement timeouts have used up their time budget already.
//! Retries back off exponentially with jitter, at most [`RETRY_ATTEMPTS`] times and only
//! while less than [`RETRY_BUDGET`] has passed since the first attempt.
//!
//! # The breaker
//!
//! [`BREAKER_THRESHOLD`] consecutive calls that found the database away open it; while open,
//! calls fail at once. After [`BREAKER_OPEN_FOR`] it half-opens: exactly one call goes
//! through as a probe (a readiness probe counts). If the database answers, the breaker closes;
//! if not, it opens again.
//!
//! # Stalls
//!
//! A transaction-mode pooler queues a query while it has no server connection, for as long
//! as its `query_wait_timeout` (two minutes on Neon): while the database is away, calls
//! through the pooler hang instead of failing. So a call that has not finished after
//! [`STALL_CHECK_AFTER`] (or `DB_ACQUIRE_TIMEOUT`, if shorter) makes the guard check the
//! database itself, with a fresh connection to the direct endpoint. If that fails, the
//! database is away: the call is abandoned with a "database away" error (never retried) and
//! the breaker opens at once, so a client waits about a second for its 503, not the acquire
//! timeout. If it answers (a waking compute may take the whole `DB_CONNECT_TIMEOUT` to), the
//! call is merely slow and keeps running; the statement timeout bounds it. One check serves
//! every call that stalls within a quarter of a second of it.
//!
//! # Stale connections
//!
//! When a connection is found dead, every pooled connection that was already idle at that
//! moment, or went back to the pool within [`LOSS_GRACE`] after it (the one whose statement
//! failed among them), is suspect: before one is handed out again it is pinged, and dropped
//! if the ping fails. Connections that were used since are not pinged, so the hot path keeps
//! its single round trip.

use super::errors::{Failure, TransientKind, failure_to_repository_error};
use super::executor::{DbError, Pool};
use backon::{ExponentialBuilder, Retryable};
use domain::RepositoryError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Consecutive "database away" failures that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 3;
/// How long the breaker stays open before letting a probe through.
pub const BREAKER_OPEN_FOR: Duration = Duration::from_millis(500);
/// Retries after the first attempt, at most.
pub const RETRY_ATTEMPTS: usize = 3;
/// No retry starts once this long has passed since the first attempt.
pub const RETRY_BUDGET: Duration = Duration::from_secs(1);
/// A call still running after this long (or `DB_ACQUIRE_TIMEOUT`, if shorter) makes the guard
/// check whether the database is there at all (see "Stalls" in the module docs).
pub const STALL_CHECK_AFTER: Duration = Duration::from_secs(1);

/// What a repository call does, which decides when retrying it is safe (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Safety {
    /// Reads only.
    Read,
    /// Writes that recognise their own earlier success on a retry.
    Idempotent,
    /// Writes that might apply twice if retried after an unknown outcome.
    Write,
}

/// The breaker's state, as `/health/db` and `/metrics` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The value of the `db_circuit_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

/// How a call was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    Normal,
    Probe,
}

/// The breaker, retry policy and connection-loss record of one database, watching one of its
/// traffic pools. The guards of a sharded traffic pool ([`Guard::for_pool`]) share the breaker,
/// the loss record and the stall check.
#[derive(Debug)]
pub struct Guard {
    breaker: Arc<Mutex<Breaker>>,
    losses: Arc<ConnectionLosses>,
    /// The traffic pool calls run on, to tell "no connection could be opened" from "all are busy".
    pool: Option<Pool>,
    /// A probe that has not finished after this long (its request was cancelled) is replaced.
    probe_timeout: Duration,
    /// Checks the database itself when a call stalls (PostgreSQL only).
    stall: Option<Arc<StallCheck>>,
}

/// How a stalled call is judged: by connecting to the direct endpoint afresh.
pub struct StallCheck {
    /// How long a call runs before the database is checked.
    pub after: Duration,
    /// The direct endpoint's connection options (they hold the password, hence no Debug).
    pub options: sea_orm::sqlx::postgres::PgConnectOptions,
    /// How long the check may take to connect.
    pub connect_timeout: Duration,
    /// The last verdict, reused briefly so a burst of stalled calls checks once.
    verdict: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for StallCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StallCheck").field("after", &self.after).finish_non_exhaustive()
    }
}

impl StallCheck {
    pub fn new(after: Duration, options: sea_orm::sqlx::postgres::PgConnectOptions, connect_timeout: Duration) -> Self {
        Self { after, options, connect_timeout, verdict: tokio::sync::Mutex::new(None) }
    }

    /// Whether the database answers a fresh connection on the direct endpoint.
    async fn database_answers(&self) -> bool {
        let mut verdict = self.verdict.lock().await;
        if let Some((at, answers)) = *verdict
            && at.elapsed() < Duration::from_millis(250)
        {
            return answers;
        }
        let check = async {
            use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
            let mut conn = self.options.connect().await?;
            conn.ping().await?;
            conn.close().await
        };
        let answers = matches!(tokio::time::timeout(self.connect_timeout, check).await, Ok(Ok(())));
        *verdict = Some((Instant::now(), answers));
        answers
    }
}

/// When connections were last found dead, for the pool's before-acquire check.
#[derive(Debug)]
pub struct ConnectionLosses {
    epoch: Instant,
    /// Nanoseconds after `epoch` of the last loss; 0 for none.
    last: AtomicU64,
    /// Connections released this soon after a loss are suspect too.
    grace: Duration,
}

/// Connections that went back to the pool this soon after a connection loss was seen are
/// pinged before their next use, like those idle at the time.
pub const LOSS_GRACE: Duration = Duration::from_secs(1);

impl ConnectionLosses {
    pub fn new() -> Self {
        Self { epoch: Instant::now(), last: AtomicU64::new(0), grace: LOSS_GRACE }
    }

    /// Like [`ConnectionLosses::new`], with another grace period.
    #[cfg(test)]
    fn with_grace(grace: Duration) -> Self {
        Self { grace, ..Self::new() }
    }

    fn mark(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.last.store(nanos, Ordering::Relaxed);
    }

    /// True when a connection idle for `idle_for` may be dead: it was already idle when the
    /// last loss was seen, or went back to the pool within [`LOSS_GRACE`] after it. The second
    /// case is the connection whose own statement just failed: the pool returns it without a
    /// test (see vendor/README.md), and it is released around the moment its failure is
    /// recorded here.
    pub fn is_suspect(&self, idle_for: Duration) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        if last == 0 {
            return false;
        }
        let idle_since = self.epoch.elapsed().saturating_sub(idle_for);
        idle_since <= Duration::from_nanos(last) + self.grace
    }
}

impl Default for ConnectionLosses {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    pub fn new(losses: Arc<ConnectionLosses>, probe_timeout: Duration, stall: Option<StallCheck>) -> Self {
        Self {
            breaker: Arc::new(Mutex::new(Breaker::Closed { failures: 0 })),
            losses,
            pool: None,
            probe_timeout,
            stall: stall.map(Arc::new),
        }
    }

    /// A guard with this one's breaker, loss record and stall check that looks at `pool`'s
    /// size when an acquire times out.
    pub(crate) fn for_pool(&self, pool: Pool) -> Self {
        Self {
            breaker: self.breaker.clone(),
            losses: self.losses.clone(),
            pool: Some(pool),
            probe_timeout: self.probe_timeout,
            stall: self.stall.clone(),
        }
    }

    /// Runs one attempt, and if it stalls, checks whether the database is there at all.
    async fn watch<T>(&self, attempt: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
        let Some(stall) = &self.stall else { return attempt.await };
        let mut attempt = std::pin::pin!(attempt);
        tokio::select! {
            outcome = &mut attempt => return outcome,
            () = tokio::time::sleep(stall.after) => {}
        }
        // The attempt goes on while the database is checked: a connection it is opening (to a
        // waking compute, say) must not lose the time the check takes from its own deadline.
        let check = stall.database_answers();
        let mut check = std::pin::pin!(check);
        tokio::select! {
            outcome = &mut attempt => return outcome,
            answers = &mut check => if answers {
                return attempt.await;
            }
        }
        tracing::warn!(after = ?stall.after, "a database call stalled and the database does not answer");
        self.open_now();
        Err(DbError::Stalled)
    }

    /// Opens the breaker at once: the database was found away directly.
    fn open_now(&self) {
        let mut breaker = self.lock();
        if !matches!(*breaker, Breaker::Open { .. }) {
            tracing::warn!("database away: circuit breaker opened");
            metrics::counter!("db_circuit_breaker_opened_total").increment(1);
        }
        set_gauge(BreakerState::Open);
        *breaker = Breaker::Open { until: Instant::now() + BREAKER_OPEN_FOR };
    }

    /// The breaker's state right now.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Breaker::Closed { .. } => BreakerState::Closed,
            Breaker::Open { until } if Instant::now() < until => BreakerState::Open,
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admit(&self) -> Option<Admission> {
        let mut breaker = self.lock();
        let now = Instant::now();
        match *breaker {
            Breaker::Closed { .. } => Some(Admission::Normal),
            Breaker::Open { until } if now < until => None,
            Breaker::HalfOpen { probe_since } if now.duration_since(probe_since) < self.probe_timeout => None,
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => {
                *breaker = Breaker::HalfOpen { probe_since: now };
                set_gauge(BreakerState::HalfOpen);
                Some(Admission::Probe)
            }
        }
    }

    fn record(&self, admission: Admission, away: Option<bool>) {
        let mut breaker = self.lock();
        match (away, &mut *breaker) {
            // The database answered (even with an error of the caller's making).
            (Some(false), state) => {
                if !matches!(state, Breaker::Closed { failures: 0 }) {
                    if !matches!(state, Breaker::Closed { .. }) {
                        tracing::info!("database answered: circuit breaker closed");
                        set_gauge(BreakerState::Closed);
                    }
                    *state = Breaker::Closed { failures: 0 };
                }
            }
            (Some(true), Breaker::Closed { failures }) => {
                *failures += 1;
                if *failures >= BREAKER_THRESHOLD {
                    tracing::warn!(failures = *failures, "database away: circuit breaker opened");
                    metrics::counter!("db_circuit_breaker_opened_total").increment(1);
                    set_gauge(BreakerState::Open);
                    *breaker = Breaker::Open { until: Instant::now() + BREAKER_OPEN_FOR };
                }
            }
            (Some(true), state) => {
                if admission == Admission::Probe {
                    tracing::warn!("probe failed: circuit breaker open again");
                }
                set_gauge(BreakerState::Open);
                *state = Breaker::Open { until: Instant::now() + BREAKER_OPEN_FOR };
            }
            // No verdict (pool exhausted, statement timeout): a probe lets the next call probe.
            (None, state) => {
                if admission == Admission::Probe {
                    *state = Breaker::Open { until: Instant::now() };
                }
            }
        }
    }

    /// Classifies with the pool in mind: an acquire that timed out while the pool held no
    /// connection at all means none could be opened, i.e. the database is away.
    pub(crate) fn classify(&self, error: &DbError) -> Failure {
        match error.failure() {
            Failure::Transient(TransientKind::PoolExhausted) if self.pool_is_empty() => {
                Failure::Transient(TransientKind::Connection)
            }
            other => other,
        }
    }

    fn pool_is_empty(&self) -> bool {
        self.pool.as_ref().is_some_and(|pool| pool.size() == 0)
    }

    /// Runs `attempt` under the breaker, retrying what `safety` allows (see the module docs).
    /// `attempt` receives the attempt number, from 1, so that idempotent writes can recognise
    /// their own earlier success.
    pub(crate) async fn run<T, F, Fut>(&self, safety: Safety, mut attempt: F) -> Result<T, RepositoryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let Some(admission) = self.admit() else {
            metrics::counter!("db_errors_total", "kind" => "circuit_open").increment(1);
            return Err(RepositoryError::Unavailable(Box::new(super::errors::CircuitOpen)));
        };
        let started = Instant::now();
        let tries = std::sync::atomic::AtomicU32::new(0);
        let policy = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(20))
            .with_max_delay(Duration::from_millis(250))
            .with_max_times(RETRY_ATTEMPTS)
            .with_jitter();
        let outcome = (|| self.watch(attempt(tries.fetch_add(1, Ordering::Relaxed) + 1)))
            .retry(policy)
            .when(|error: &DbError| {
                let failure = self.classify(error);
                if is_connection_loss(failure) {
                    self.losses.mark();
                }
                retry_is_safe(failure, error, safety) && started.elapsed() < RETRY_BUDGET
            })
            .notify(|error: &DbError, delay: Duration| {
                tracing::warn!(%error, ?delay, "database call failed; retrying");
                metrics::counter!("db_retries_total").increment(1);
            })
            .await;
        match outcome {
            Ok(value) => {
                self.record(admission, Some(false));
                Ok(value)
            }
            Err(error @ DbError::Stalled) => {
                Err(failure_to_repository_error(error, Failure::Transient(TransientKind::Connection)))
            }
            Err(error) => {
                let failure = self.classify(&error);
                let away = match failure {
                    Failure::Transient(TransientKind::Connection | TransientKind::ServerUnavailable) => Some(true),
                    Failure::Transient(_) => None,
                    Failure::Permanent => Some(false),
                };
                self.record(admission, away);
                Err(failure_to_repository_error(error, failure))
            }
        }
    }
}

fn set_gauge(state: BreakerState) {
    metrics::gauge!("db_circuit_breaker_state").set(state.gauge());
}

fn is_connection_loss(failure: Failure) -> bool {
    matches!(failure, Failure::Transient(TransientKind::Connection | TransientKind::ServerUnavailable))
}

/// The table of the module docs. A call abandoned after a stall is never retried: the
/// database was just found away.
fn retry_is_safe(failure: Failure, error: &DbError, safety: Safety) -> bool {
    if matches!(error, DbError::Stalled) {
        return false;
    }
    match failure {
        Failure::Transient(TransientKind::PoolExhausted | TransientKind::StatementTimeout) | Failure::Permanent => {
            false
        }
        Failure::Transient(TransientKind::ServerUnavailable | TransientKind::Conflict | TransientKind::Busy) => true,
        Failure::Transient(TransientKind::Connection) => safety != Safety::Write || error.never_sent(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_mid_statement() -> DbError {
        let reset = sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        DbError::Statement(reset)
    }

    fn io_at_connect() -> DbError {
        let refused = sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        DbError::Connect(refused)
    }

    #[test]
    fn a_broken_connection_mid_statement_is_retried_only_when_that_is_safe() {
        let failure = io_mid_statement().failure();
        assert!(retry_is_safe(failure, &io_mid_statement(), Safety::Read));
        assert!(retry_is_safe(failure, &io_mid_statement(), Safety::Idempotent));
        assert!(!retry_is_safe(failure, &io_mid_statement(), Safety::Write));
    }

    #[test]
    fn a_statement_that_never_left_is_always_retried() {
        let failure = io_at_connect().failure();
        for safety in [Safety::Read, Safety::Idempotent, Safety::Write] {
            assert!(retry_is_safe(failure, &io_at_connect(), safety));
        }
    }

    #[test]
    fn exhausted_budgets_and_permanent_errors_are_not_retried() {
        let timeout = DbError::Connect(sea_orm::sqlx::Error::PoolTimedOut);
        assert!(!retry_is_safe(timeout.failure(), &timeout, Safety::Read));
        let permanent = DbError::Decode(sea_orm::sqlx::Error::ColumnNotFound("x".into()));
        assert!(!retry_is_safe(permanent.failure(), &permanent, Safety::Read));
        assert!(!retry_is_safe(DbError::Stalled.failure(), &DbError::Stalled, Safety::Read), "never after a stall");
    }

    #[test]
    fn the_breaker_opens_after_repeated_failures_and_lets_one_probe_through() {
        let guard = Guard::new(std::sync::Arc::new(ConnectionLosses::new()), Duration::from_secs(5), None);
        for _ in 0..BREAKER_THRESHOLD - 1 {
            let admission = guard.admit().expect("closed");
            guard.record(admission, Some(true));
            assert_eq!(guard.state(), BreakerState::Closed);
        }
        let admission = guard.admit().expect("closed");
        guard.record(admission, Some(true));
        assert_eq!(guard.state(), BreakerState::Open);
        assert!(guard.admit().is_none(), "open: refused at once");
        std::thread::sleep(BREAKER_OPEN_FOR);
        let probe = guard.admit().expect("half-open: one probe");
        assert_eq!(probe, Admission::Probe);
        assert!(guard.admit().is_none(), "only one probe at a time");
        guard.record(probe, Some(false));
        assert_eq!(guard.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let guard = Guard::new(std::sync::Arc::new(ConnectionLosses::new()), Duration::from_secs(5), None);
        for _ in 0..BREAKER_THRESHOLD {
            let a = guard.admit().expect("closed");
            guard.record(a, Some(true));
        }
        std::thread::sleep(BREAKER_OPEN_FOR);
        let probe = guard.admit().expect("probe");
        guard.record(probe, Some(true));
        assert_eq!(guard.state(), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let guard = Guard::new(std::sync::Arc::new(ConnectionLosses::new()), Duration::from_secs(5), None);
        for _ in 0..BREAKER_THRESHOLD - 1 {
            let a = guard.admit().expect("closed");
            guard.record(a, Some(true));
        }
        let a = guard.admit().expect("closed");
        guard.record(a, Some(false));
        let a = guard.admit().expect("closed");
        guard.record(a, Some(true));
        assert_eq!(guard.state(), BreakerState::Closed);
    }

    #[test]
    fn connections_idle_since_before_a_loss_or_released_just_after_it_are_suspect() {
        let losses = ConnectionLosses::with_grace(Duration::from_millis(50));
        assert!(!losses.is_suspect(Duration::from_secs(3600)), "no loss yet");
        std::thread::sleep(Duration::from_millis(20));
        losses.mark();
        assert!(losses.is_suspect(Duration::from_millis(15)), "idle before the loss");
        std::thread::sleep(Duration::from_millis(20));
        assert!(losses.is_suspect(Duration::from_millis(5)), "released within the grace after the loss");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!losses.is_suspect(Duration::from_millis(5)), "used well after the loss");
        assert_eq!(ConnectionLosses::new().grace, LOSS_GRACE);
    }
}
