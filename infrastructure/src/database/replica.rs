//! A read replica (`DATABASE_URL_READ`, such as the pooled endpoint of a Neon read replica):
//! reads of lists, single resources, stats and message pages go to it, writes and the reads
//! a write depends on stay on the primary, and every client sees its own acknowledged writes,
//! whichever instance of the service it reaches.
//!
//! # Read-your-writes, across instances
//!
//! A replica lags the primary by the time it takes to receive and replay the WAL. Routing a
//! user's reads to the primary for a while after that user's write would work only if every
//! request of the user reached the same instance; behind a load balancer it does not. So the
//! guarantee is built from two rules that hold on every instance without any shared state:
//!
//! 1. **A write is acknowledged only once the replica has replayed it, or once
//!    [`Fence::wait`] has passed since it committed.** After the commit the instance reads the
//!    primary's WAL position and waits until the replica's replay position reaches it.
//! 2. **A read goes to the replica only while this instance holds a fact younger than
//!    `wait`**: "at time `t0` the primary's WAL position was `P`, and the replica has since
//!    replayed `P`".
//!
//! A write acknowledged before a read starts was either confirmed replayed (and replay never
//! goes back), or it committed at least `wait` before its acknowledgement, so before the `t0`
//! of any fact young enough to be used, and that fact says the replica has replayed it.
//!
//! Facts come from the writes' own waits (one check, a "round", serves every write that
//! committed before it started), and, when reads find no fresh fact, from a round a read
//! starts in the background while it goes to the primary itself. An instance without traffic
//! starts no round, so it never wakes a suspended compute.
//!
//! # Cost, and a replica that is away
//!
//! Each write waits for the replication lag (milliseconds on a healthy replica) and at most
//! `wait`, and a round costs one statement on the primary and one or more on the replica. A
//! replica that fails or lags past `wait` serves no reads until a round finds it caught up;
//! reads then go to the primary, and writes wait the full `wait` (there is no way for one
//! instance to know that no other still trusts the replica, so the bound is paid rather
//! than the guarantee given up). A read that fails on the replica is run on the primary.

use super::executor::Pool;
use super::resilience::{Guard, Safety};
use sea_orm::{DbBackend, Statement};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest pause between two polls of the replica's replay position.
const POLL_MAX: Duration = Duration::from_millis(5);

/// After a round that did not find the replica caught up, the next starts this much later.
const FAILED_ROUND_PAUSE: Duration = Duration::from_millis(50);

/// What `/health/db` and `db_replica_state` say of the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// It holds every acknowledged write: reads go to it.
    Serving,
    /// No recent round has found it caught up (lagging, or not checked lately): reads go to
    /// the primary.
    Behind,
    /// The last round could not reach it: reads go to the primary.
    Unreachable,
}

impl ReplicaState {
    /// The value of the `db_replica_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Serving => 0.0,
            Self::Behind => 1.0,
            Self::Unreachable => 2.0,
        }
    }
}

/// The replica's freshness, shared by every worker of the instance. See the module docs.
#[derive(Debug)]
pub struct Fence {
    epoch: Instant,
    /// How long a write waits for the replica at most, and how old a fact may be when a read
    /// relies on it.
    wait: Duration,
    /// `t0` of the newest confirmed fact, in nanoseconds after `epoch` (0: none yet).
    newest: AtomicU64,
    /// One round at a time; the others wait for it to finish.
    round: Arc<tokio::sync::Mutex<()>>,
    finished: tokio::sync::Notify,
    /// The last round's outcome: 0 caught up, 1 behind, 2 unreachable.
    last: AtomicU8,
    /// How long the last successful round took from `t0` to the confirmation, in microseconds.
    lag_micros: AtomicU64,
    /// When the endpoint was last found not to be a standby (nanoseconds after `epoch`).
    not_a_standby_warned: AtomicU64,
}

impl Fence {
    pub fn new(wait: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            wait,
            newest: AtomicU64::new(0),
            round: Arc::new(tokio::sync::Mutex::new(())),
            finished: tokio::sync::Notify::new(),
            last: AtomicU8::new(1),
            lag_micros: AtomicU64::new(0),
            not_a_standby_warned: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX).max(1)
    }

    /// How old the newest fact is; `None` when there is none.
    fn age(&self) -> Option<Duration> {
        let newest = self.newest.load(Ordering::Acquire);
        (newest != 0).then(|| Duration::from_nanos(self.nanos(Instant::now()).saturating_sub(newest)))
    }

    /// Whether a read starting now may go to the replica (rule 2).
    pub fn serves_reads(&self) -> bool {
        self.age().is_some_and(|age| age < self.wait)
    }

    /// Whether a round should start to keep reads on the replica: no fact, or one past half
    /// its life.
    pub fn wants_a_round(&self) -> bool {
        self.age().is_none_or(|age| age >= self.wait / 2)
    }

    /// Whether the newest fact covers a write that committed before `committed`.
    fn covers(&self, committed: Instant) -> bool {
        self.newest.load(Ordering::Acquire) >= self.nanos(committed)
    }

    pub fn state(&self) -> ReplicaState {
        if self.serves_reads() {
            return ReplicaState::Serving;
        }
        match self.last.load(Ordering::Relaxed) {
            2 => ReplicaState::Unreachable,
            _ => ReplicaState::Behind,
        }
    }

    /// The time the last successful round took to see its position replayed: the replication
    /// lag as this instance last measured it.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_micros.load(Ordering::Relaxed))
    }

    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// `DATABASE_URL_READ` points at a server that is not a standby: said at most once a
    /// minute, as an error, since every write then waits the whole `wait`.
    fn warn_not_a_standby(&self) {
        let now = self.nanos(Instant::now());
        let last = self.not_a_standby_warned.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 60_000_000_000)
            && self.not_a_standby_warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::error!(
                "DATABASE_URL_READ is not a read replica (pg_is_in_recovery() is false): reads stay on the primary \
                 and every write waits DB_REPLICA_WAIT; point it at a replica or remove it"
            );
        }
    }

    /// A read on the replica failed: no read relies on it until a round finds it caught up.
    pub fn mark_unreachable(&self) {
        self.newest.store(0, Ordering::Release);
        self.settle(2);
    }

    fn settle(&self, outcome: u8) {
        self.last.store(outcome, Ordering::Relaxed);
        metrics::gauge!("db_replica_state").set(self.state().gauge());
    }
}

/// The replica's pool (this worker's shard of it) and its guard, the primary's pool, and the
/// shared fence.
#[derive(Clone, Debug)]
pub struct Replica {
    pub pool: Pool,
    /// The replica's own breaker and retries: its failures say nothing about the primary.
    pub guard: Arc<Guard>,
    pub primary: Pool,
    /// The primary's guard, for the position a round reads there.
    pub primary_guard: Arc<Guard>,
    pub fence: Arc<Fence>,
}

crate::record! {
    /// The primary's WAL insert position.
    #[derive(Debug)]
    struct Lsn { lsn: String }
}

crate::record! {
    /// Whether the replica is a standby, and whether it replayed a position.
    #[derive(Debug)]
    struct Replay { standby: bool, replayed: bool }
}

/// What one round found.
#[derive(Clone, Copy)]
enum Round {
    CaughtUp,
    Behind,
    Unreachable,
}

impl Replica {
    /// Rule 1: returns once a write that committed before this call is on the replica, or once
    /// `wait` has passed.
    pub async fn after_write(&self) {
        let committed = Instant::now();
        let deadline = committed + self.fence.wait;
        loop {
            if self.fence.covers(committed) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            // Registered before the round starts, so its end is not missed. A round already
            // running may have started before the commit: then the next one is needed.
            let finished = self.fence.finished.notified();
            self.start_round();
            if self.fence.covers(committed) {
                return;
            }
            let _ = tokio::time::timeout(deadline - now, finished).await;
        }
    }

    /// Starts a round in the background when the facts are getting old and none is running,
    /// so that reads keep going to the replica. Returns at once.
    pub fn refresh_in_background(&self) {
        if self.fence.wants_a_round() {
            self.start_round();
        }
    }

    /// Starts a round on a task of its own unless one is running. The round is never cut
    /// short from outside: its calls run under the guards, whose breakers must see every
    /// call end (a probe dropped half-way would hold a half-open breaker for its timeout).
    /// Those who wait for it give up at their own deadlines instead.
    fn start_round(&self) {
        let Ok(running) = self.fence.round.clone().try_lock_owned() else { return };
        let replica = self.clone();
        tokio::spawn(async move {
            replica.run_round(Instant::now() + replica.fence.wait).await;
            drop(running);
            replica.fence.finished.notify_waiters();
        });
    }

    /// One round: the primary's WAL position now, then the replica's replay position until it
    /// reaches it or `deadline` passes.
    async fn run_round(&self, deadline: Instant) {
        let t0 = Instant::now();
        let outcome = self.check(deadline).await;
        match outcome {
            Round::CaughtUp => {
                self.fence.newest.fetch_max(self.fence.nanos(t0), Ordering::AcqRel);
                let lag = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.fence.lag_micros.store(lag, Ordering::Relaxed);
                metrics::gauge!("db_replica_lag_seconds").set(t0.elapsed().as_secs_f64());
                self.fence.settle(0);
            }
            Round::Behind => self.fence.settle(1),
            Round::Unreachable => self.fence.settle(2),
        }
        if !matches!(outcome, Round::CaughtUp) {
            // Still holding the round: the next one waits a little instead of hammering a
            // replica that is away (every write waits for one while it is).
            tokio::time::sleep(FAILED_ROUND_PAUSE).await;
        }
    }

    /// Both statements run under their database's guard, like every other call: a connection
    /// a failed one leaves behind is then tested before it is used again, so a replica pool
    /// whose connections died with the replica recovers, and a round can be the replica
    /// breaker's probe.
    async fn check(&self, deadline: Instant) -> Round {
        // The insert position is at or past the end of every commit record written so far
        // (the write position may not be, while commits are asynchronous).
        let lsn = Statement::from_string(DbBackend::Postgres, "SELECT pg_current_wal_insert_lsn()::text AS lsn");
        let position =
            match self.primary_guard.run(Safety::Read, |_| self.primary.fetch_optional::<Lsn>(lsn.clone())).await {
                Ok(Some(Lsn { lsn })) => lsn,
                _ => return Round::Behind,
            };
        let probe = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_is_in_recovery() AS standby, coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS replayed",
            [position.into()],
        );
        let mut pause = Duration::from_millis(1);
        loop {
            match self.guard.run(Safety::Read, |_| self.pool.fetch_optional::<Replay>(probe.clone())).await {
                Ok(Some(Replay { replayed: true, .. })) => return Round::CaughtUp,
                Ok(Some(Replay { standby: false, .. })) => {
                    // A primary replays nothing: it can never be proven to hold the writes.
                    self.fence.warn_not_a_standby();
                    return Round::Unreachable;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(error = %domain::error::Chain(&error), "the read replica did not answer");
                    return Round::Unreachable;
                }
            }
            if Instant::now() + pause >= deadline {
                return Round::Behind;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_relies_on_a_fact_only_while_it_is_younger_than_the_wait() {
        let fence = Fence::new(Duration::from_millis(60));
        assert!(!fence.serves_reads(), "no fact yet");
        assert_eq!(fence.state(), ReplicaState::Behind);
        assert!(fence.wants_a_round());
        let t0 = Instant::now();
        fence.newest.fetch_max(fence.nanos(t0), Ordering::AcqRel);
        assert!(fence.serves_reads());
        assert_eq!(fence.state(), ReplicaState::Serving);
        assert!(!fence.wants_a_round(), "a fresh fact needs no round");
        std::thread::sleep(Duration::from_millis(35));
        assert!(fence.serves_reads() && fence.wants_a_round(), "past half its life: refreshed, still used");
        std::thread::sleep(Duration::from_millis(35));
        assert!(!fence.serves_reads(), "too old to rely on");
    }

    #[test]
    fn a_fact_covers_the_writes_that_committed_before_its_t0_only() {
        let fence = Fence::new(Duration::from_secs(1));
        let committed = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let later = Instant::now();
        fence.newest.fetch_max(fence.nanos(committed - Duration::from_millis(1)), Ordering::AcqRel);
        assert!(!fence.covers(committed), "a position sampled before the commit may not include it");
        fence.newest.fetch_max(fence.nanos(later), Ordering::AcqRel);
        assert!(fence.covers(committed));
        fence.newest.fetch_max(fence.nanos(committed), Ordering::AcqRel);
        assert!(fence.covers(committed), "facts only move forward");
    }

    #[test]
    fn a_failed_read_takes_the_replica_out_until_a_round_finds_it_caught_up() {
        let fence = Fence::new(Duration::from_secs(1));
        fence.newest.fetch_max(fence.nanos(Instant::now()), Ordering::AcqRel);
        assert!(fence.serves_reads());
        fence.mark_unreachable();
        assert!(!fence.serves_reads());
        assert_eq!(fence.state(), ReplicaState::Unreachable);
        assert_eq!(ReplicaState::Unreachable.gauge(), 2.0);
    }
}
