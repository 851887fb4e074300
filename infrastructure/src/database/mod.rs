//! Connection pools.
//!
//! Two pools, both lazy so that start-up never waits for the database:
//! - **traffic**: request queries. Uses `DATABASE_URL_POOLED` (a transaction-mode PgBouncer,
//!   such as Neon's `-pooler` endpoint) when set, else `DATABASE_URL`.
//! - **direct**: `DATABASE_URL`, for admin work that needs a real session. Migrations open
//!   their own single-connection pool on it (see [`migrate`]).
//!
//! Nothing here may rely on session state, because through the pooler consecutive statements
//! can land on different server connections: no startup `options` (PgBouncer refuses them with
//! "unsupported startup parameter"), no `SET`, no `search_path`. The statement timeout is
//! therefore a role default that `migrate` writes over the direct URL; see
//! [`migrate::apply_statement_timeout`].

pub(crate) mod errors;
pub(crate) mod executor;
pub mod migrate;
pub(crate) mod pool_events;
pub(crate) mod replica;
pub(crate) mod resilience;
pub(crate) mod statements;
pub mod url;

use crate::settings::{DatabaseSettings, SettingsError};
use executor::Pool;
use sea_orm::{ConnectOptions, DatabaseConnection};
use std::sync::Arc;
use std::time::Duration;
use url::{Backend, DatabaseUrl};

/// The service's database handles.
///
/// The traffic pool may be split into shards, one per HTTP worker (see
/// [`Database::connect_lazy_sharded`]); a handle uses one of them ([`Database::shard`]), while
/// [`Database::pool_stats`] and [`Database::close`] cover them all.
#[derive(Clone, Debug)]
pub struct Database {
    /// The traffic pool's shards, each with the guard that watches it; never empty.
    shards: Arc<[Shard]>,
    /// The shard this handle's [`Database::traffic`] and [`Database::guard`] are.
    shard: usize,
    direct: Pool,
    backend: Backend,
    pooled: bool,
    /// How fresh the read replica is, when there is one (shared by every shard).
    fence: Option<Arc<replica::Fence>>,
}

#[derive(Clone, Debug)]
struct Shard {
    /// sea-orm's handle on `pool`, for what runs through sea-orm (tests, admin tools).
    connection: DatabaseConnection,
    pool: Pool,
    guard: Arc<resilience::Guard>,
    /// This shard's pool on the read replica, with a guard (and breaker) of its own.
    read: Option<(Pool, Arc<resilience::Guard>)>,
}

/// Why a ping failed.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("the ping failed")]
    Failed(#[source] domain::RepositoryError),
}

/// A pool's connections right now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// `traffic` or `direct`.
    pub name: &'static str,
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
    pub min: u32,
}

fn pool_stats(name: &'static str, pool: &Pool) -> PoolStats {
    let (size, idle, options) = match pool {
        Pool::Postgres(pool) => {
            (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX), pool.options().clone_limits())
        }
        Pool::Sqlite(pool) => {
            (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX), pool.options().clone_limits())
        }
    };
    PoolStats { name, size, idle, in_use: size.saturating_sub(idle), max: options.0, min: options.1 }
}

/// The sum of a sharded pool's figures, under one name; `None` without shards.
fn summed<'a>(name: &'static str, shards: impl Iterator<Item = &'a Pool>) -> Option<PoolStats> {
    shards.map(|pool| pool_stats(name, pool)).reduce(|a, b| PoolStats {
        size: a.size + b.size,
        idle: a.idle + b.idle,
        in_use: a.in_use + b.in_use,
        max: a.max + b.max,
        min: a.min + b.min,
        ..a
    })
}

/// The configured bounds of a sqlx pool.
trait Limits {
    fn clone_limits(&self) -> (u32, u32);
}

impl<DB: sea_orm::sqlx::Database> Limits for sea_orm::sqlx::pool::PoolOptions<DB> {
    fn clone_limits(&self) -> (u32, u32) {
        (self.get_max_connections(), self.get_min_connections())
    }
}

/// Which pool a set of options is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolRole {
    /// Request traffic, through the pooler when there is one.
    Traffic,
    /// Admin work over the direct endpoint next to a pooler.
    Direct,
    /// Reads on the read replica.
    Read,
    /// One session for migrations, holding the advisory lock.
    Migration,
}

impl Database {
    /// Builds the pools without opening a connection: one traffic pool of `DB_POOL_MAX`.
    pub async fn connect_lazy(settings: &DatabaseSettings) -> Result<Self, crate::Error> {
        Self::connect_lazy_sharded(settings, 1).await
    }

    /// Like [`Database::connect_lazy`], with the PostgreSQL traffic pool split into `shards`
    /// pools (at most `DB_POOL_MAX` of them) that share `DB_POOL_MAX` and `DB_POOL_MIN`
    /// between them, one for each HTTP worker.
    ///
    /// Why: every actix-web worker runs its own single-threaded tokio runtime, and a socket
    /// stays registered with the runtime of the task that opened it. From a pool shared by the
    /// workers, a worker gets connections that another worker opened half the time (with two),
    /// and then every reply wakes that other worker's thread first, which wakes this one: two
    /// context switches and a cross-thread wake-up per statement. A worker that only uses its
    /// own shard opens, reads and writes its connections on its own thread. The benchmark
    /// measured it on GET by id and the first page of tasks (`scripts/bench`, docs/performance.md).
    ///
    /// SQLite always has one pool: sqlx runs each SQLite connection on a thread of its own.
    pub async fn connect_lazy_sharded(settings: &DatabaseSettings, shards: usize) -> Result<Self, crate::Error> {
        let traffic_url = settings.traffic_url()?;
        let backend = traffic_url.backend();
        prepare_sqlite_file(&traffic_url)?;
        let count = match backend {
            Backend::Postgres => shards.clamp(1, settings.pool_max.max(1) as usize),
            Backend::Sqlite => 1,
        };
        let losses = Arc::new(resilience::ConnectionLosses::new());
        let probe_timeout = settings.acquire_timeout.max(settings.connect_timeout) + Duration::from_secs(1);
        let stall = match backend {
            Backend::Postgres => {
                let direct: sea_orm::sqlx::postgres::PgConnectOptions =
                    settings.direct_url()?.expose().parse().map_err(|_: sea_orm::sqlx::Error| {
                        SettingsError::Invalid {
                            variable: "DATABASE_URL".into(),
                            reason: "is not a PostgreSQL connection string sqlx accepts".into(),
                        }
                    })?;
                let direct = sea_orm::sqlx::ConnectOptions::disable_statement_logging(direct);
                let after = settings.acquire_timeout.min(resilience::STALL_CHECK_AFTER);
                Some(resilience::StallCheck::new(after, direct, settings.connect_timeout))
            }
            Backend::Sqlite => None,
        };
        // One breaker and one record of connection losses for the whole database; each shard's
        // guard looks at its own pool to tell "none could be opened" from "all are busy".
        let guard = resilience::Guard::new(losses.clone(), probe_timeout, stall);
        // The replica's own breaker and loss record: its failures send reads to the primary
        // and say nothing about the primary.
        let read_losses = Arc::new(resilience::ConnectionLosses::new());
        let read_guard = resilience::Guard::new(read_losses.clone(), probe_timeout, None);
        let fence = settings.url_read.as_ref().map(|_| Arc::new(replica::Fence::new(settings.replica_wait)));
        let mut built = Vec::with_capacity(count);
        for index in 0..count {
            let mut options = connect_options(&traffic_url, settings, PoolRole::Traffic);
            options.max_connections(share(settings.pool_max, index, count)).min_connections(share(
                settings.pool_min,
                index,
                count,
            ));
            evict_suspects(&mut options, &losses);
            let connection = sea_orm::Database::connect(options).await?;
            let pool = Pool::of(&connection);
            let read = match &settings.url_read {
                Some(url) => {
                    let mut options = connect_options(url, settings, PoolRole::Read);
                    options.max_connections(share(settings.pool_max, index, count));
                    evict_suspects(&mut options, &read_losses);
                    let read = Pool::of(&sea_orm::Database::connect(options).await?);
                    Some((read.clone(), Arc::new(read_guard.for_pool(read))))
                }
                None => None,
            };
            built.push(Shard { guard: Arc::new(guard.for_pool(pool.clone())), connection, pool, read });
        }
        let pooled = settings.url_pooled.is_some();
        let direct = if pooled {
            let direct_url = settings.direct_url()?;
            let mut options = connect_options(&direct_url, settings, PoolRole::Direct);
            evict_suspects(&mut options, &losses);
            Pool::of(&sea_orm::Database::connect(options).await?)
        } else {
            built[0].pool.clone()
        };
        Ok(Self { shards: built.into(), shard: 0, direct, backend, pooled, fence })
    }

    /// How many shards the traffic pool has.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The handle that uses shard `index` (modulo the number of shards) for traffic.
    pub fn shard(&self, index: usize) -> Self {
        Self { shard: index % self.shards.len(), ..self.clone() }
    }

    /// Opens the traffic pool's first connection ahead of the first request, without making
    /// anyone wait for it: started in the background at start-up, it overlaps the TLS and
    /// SCRAM handshakes (and a suspended Neon compute's wake-up) with the server's own start.
    /// A database that is away is only logged: requests connect on demand as always, and the
    /// circuit breaker does not count this attempt.
    pub async fn warm_up(&self, within: Duration) {
        let started = std::time::Instant::now();
        match tokio::time::timeout(within, self.shards[self.shard].pool.ping()).await {
            Ok(Ok(_)) => tracing::debug!(elapsed = ?started.elapsed(), "database connection warmed up"),
            Ok(Err(error)) => tracing::info!(
                error = %domain::error::Chain(&error),
                "database not reachable at start-up; requests will connect on demand"
            ),
            Err(_) => tracing::info!(?within, "database did not answer at start-up; requests will connect on demand"),
        }
    }

    /// sea-orm's handle on the pool for request queries (this handle's shard of it), for
    /// tools that run statements of their own; the repositories use [`Database::pool`].
    pub fn traffic(&self) -> &DatabaseConnection {
        &self.shards[self.shard].connection
    }

    /// The pool for request queries (this handle's shard of it).
    pub(crate) fn pool(&self) -> &Pool {
        &self.shards[self.shard].pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when traffic goes through `DATABASE_URL_POOLED`.
    pub fn is_pooled(&self) -> bool {
        self.pooled
    }

    /// The read replica as this handle's shard uses it, when `DATABASE_URL_READ` is set.
    pub(crate) fn replica(&self) -> Option<replica::Replica> {
        let shard = &self.shards[self.shard];
        let (pool, guard) = shard.read.clone()?;
        Some(replica::Replica {
            pool,
            guard,
            primary: shard.pool.clone(),
            primary_guard: shard.guard.clone(),
            fence: self.fence.clone()?,
        })
    }

    /// The layer's figures right now (see [`crate::observe`]).
    pub fn figures(&self) -> crate::observe::Figures {
        let replica = self.fence.as_ref().map(|fence| crate::observe::ReplicaFigures {
            state: fence.state(),
            lag: fence.lag(),
            max_wait: fence.wait(),
        });
        crate::observe::Figures {
            pools: self.pool_stats(),
            acquire_waits: pool_events::acquire_waits(),
            acquire_timeouts: errors::acquire_timeouts(),
            breaker: self.guard().state(),
            replica,
        }
    }

    /// Starts a check of the read replica's freshness when one is due, as a read would: for a
    /// probe, which is traffic too. Returns at once; nothing without a replica.
    pub fn keep_replica_checked(&self) {
        if let Some(replica) = self.replica() {
            replica.refresh_in_background();
        }
    }

    /// The circuit breaker and retry policy every repository call runs under (the breaker is
    /// the database's; the guard watches this handle's shard).
    pub(crate) fn guard(&self) -> &Arc<resilience::Guard> {
        &self.shards[self.shard].guard
    }

    /// Runs `SELECT 1` on the traffic pool through the circuit breaker (so a readiness probe
    /// can be the breaker's half-open probe), giving up after `within`: a host that swallows
    /// packets must not hang a health probe. Returns the round-trip time.
    pub async fn ping(&self, within: Duration) -> Result<Duration, PingError> {
        let started = std::time::Instant::now();
        let probe = self.guard().run(resilience::Safety::Read, |_| self.pool().ping());
        match tokio::time::timeout(within, probe).await {
            Ok(Ok(_)) => Ok(started.elapsed()),
            Ok(Err(error)) => Err(PingError::Failed(error)),
            Err(_) => Err(PingError::TimedOut(within)),
        }
    }

    /// The state of the traffic pool (all its shards together), the direct one when there is a
    /// pooler, and the read replica's (its shards together) when there is one.
    fn pool_stats(&self) -> Vec<PoolStats> {
        let mut stats: Vec<PoolStats> = summed("traffic", self.shards.iter().map(|s| &s.pool)).into_iter().collect();
        if self.pooled {
            stats.push(pool_stats("direct", &self.direct));
        }
        stats.extend(summed("read", self.shards.iter().filter_map(|s| s.read.as_ref().map(|(pool, _)| pool))));
        stats
    }

    /// Closes every pool, waiting for checked-out connections to come back.
    pub async fn close(self) {
        if self.pooled {
            self.direct.close().await;
        }
        for shard in self.shards.iter() {
            shard.pool.close().await;
            if let Some((read, _)) = &shard.read {
                read.close().await;
            }
        }
    }
}

/// Shard `index`'s part of `total` split over `count` shards: as even as can be, the first
/// shards taking the remainder.
fn share(total: u32, index: usize, count: usize) -> u32 {
    let (count, index) = (count as u32, index as u32);
    total / count + u32::from(index < total % count)
}

/// Maps the settings onto sea-orm's [`ConnectOptions`] for one pool.
///
/// | setting              | option                                             |
/// |----------------------|----------------------------------------------------|
/// | DB_POOL_MAX / _MIN   | `max_connections` / `min_connections` (traffic)    |
/// | DB_CONNECT_TIMEOUT   | `connect_timeout`                                  |
/// | DB_ACQUIRE_TIMEOUT   | `acquire_timeout` (also SQLite's busy timeout)     |
/// | DB_IDLE_TIMEOUT      | `idle_timeout`                                     |
/// | DB_MAX_LIFETIME      | `max_lifetime`                                     |
/// | DB_STATEMENT_TIMEOUT | not here: a role default, see `migrate`            |
///
/// sqlx enforces a single deadline per acquire that covers opening a new connection, so the
/// effective wait for a connection is `max(DB_CONNECT_TIMEOUT, DB_ACQUIRE_TIMEOUT)`.
pub fn connect_options(url: &DatabaseUrl, settings: &DatabaseSettings, role: PoolRole) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    let (max, min) = match role {
        PoolRole::Traffic => (settings.pool_max, settings.pool_min),
        PoolRole::Read => (settings.pool_max, 0),
        PoolRole::Direct => (settings.direct_pool_max, 0),
        PoolRole::Migration => (1, 0),
    };
    options
        .max_connections(max)
        .min_connections(min)
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.acquire_timeout.max(settings.connect_timeout))
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        .connect_lazy(role != PoolRole::Migration)
        // A ping on every checkout would double the round trips of a one-statement read;
        // only connections idle long enough to have been dropped (Neon suspends after 5 min)
        // are checked first.
        .test_before_acquire_if_idle_for(settings.ping_after_idle)
        .sqlx_logging(true)
        .sqlx_logging_level(tracing::log::LevelFilter::Debug)
        .sqlx_slow_statements_logging_settings(tracing::log::LevelFilter::Warn, settings.slow_statement)
        .set_application_name("tasks-service");
    if role == PoolRole::Traffic {
        // Acquires slower than this are reported as events that `pool_events` counts as waits.
        let (threshold, level) = (pool_events::WAIT_THRESHOLD, tracing::log::LevelFilter::Info);
        options.map_sqlx_postgres_pool_opts(move |o| o.acquire_slow_threshold(threshold).acquire_slow_level(level));
        options.map_sqlx_sqlite_pool_opts(move |o| o.acquire_slow_threshold(threshold).acquire_slow_level(level));
    }
    let busy_timeout = settings.acquire_timeout.max(Duration::from_secs(1));
    options.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy_timeout)
            .create_if_missing(true)
    });
    options
}

/// After a connection was found dead, pings each pooled connection that was idle since
/// before that moment before handing it out, and drops it if the ping fails.
fn evict_suspects(options: &mut ConnectOptions, losses: &std::sync::Arc<resilience::ConnectionLosses>) {
    let losses = losses.clone();
    options.map_sqlx_postgres_before_acquire(move |conn, meta| {
        let suspect = losses.is_suspect(meta.idle_for);
        Box::pin(async move {
            if suspect {
                sea_orm::sqlx::Connection::ping(conn).await?;
            }
            Ok(true)
        })
    });
}

/// SQLite creates the file but not its directory.
fn prepare_sqlite_file(url: &DatabaseUrl) -> Result<(), SettingsError> {
    if url.backend() != Backend::Sqlite {
        return Ok(());
    }
    let Some(path) = url.database().map(std::path::Path::new) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| SettingsError::Invalid {
            variable: "database.sqlite_path".into(),
            reason: format!("directory {} cannot be created: {e}", parent.display()),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> DatabaseSettings {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Settings::from_vars(&vars).expect("settings").database
    }

    #[test]
    fn every_pool_setting_reaches_the_traffic_pool_options() {
        let db = settings(&[
            ("DATABASE_URL", "postgres://u:pw@direct:5432/db"),
            ("DATABASE_URL_POOLED", "postgres://u:pw@pooler:6432/db"),
            ("DB_POOL_MAX", "17"),
            ("DB_POOL_MIN", "3"),
            ("DB_CONNECT_TIMEOUT", "2"),
            ("DB_ACQUIRE_TIMEOUT", "4"),
            ("DB_IDLE_TIMEOUT", "60"),
            ("DB_MAX_LIFETIME", "600"),
            ("DB_STATEMENT_TIMEOUT", "7"),
        ]);
        let options = connect_options(&db.traffic_url().expect("url"), &db, PoolRole::Traffic);
        assert!(options.get_url().contains("@pooler:6432/"));
        assert_eq!(options.get_max_connections(), Some(17));
        assert_eq!(options.get_min_connections(), Some(3));
        assert_eq!(options.get_connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(options.get_acquire_timeout(), Some(Duration::from_secs(4)));
        assert_eq!(options.get_idle_timeout(), Some(Some(Duration::from_secs(60))));
        assert_eq!(options.get_max_lifetime(), Some(Some(Duration::from_secs(600))));
        assert!(options.get_connect_lazy(), "start-up must not wait for the database");
        // Through a transaction-mode pooler: no startup options, no session SET.
        assert_eq!(options.get_statement_timeout(), None);
        assert!(!options.get_test_before_acquire(), "no ping on every checkout");
        assert_eq!(options.get_test_before_acquire_if_idle_for(), Some(db.ping_after_idle));
    }

    #[test]
    fn shards_split_the_pool_bounds_evenly() {
        let split = |total, count| (0..count).map(|i| share(total, i, count)).collect::<Vec<_>>();
        assert_eq!(split(10, 1), [10]);
        assert_eq!(split(10, 4), [3, 3, 2, 2]);
        assert_eq!(split(8, 2), [4, 4]);
        assert_eq!(split(0, 3), [0, 0, 0], "DB_POOL_MIN=0 stays 0 everywhere");
        assert_eq!(split(10, 3).iter().sum::<u32>(), 10);
    }

    #[tokio::test]
    async fn a_sharded_traffic_pool_keeps_the_configured_bounds_in_total() {
        let db =
            settings(&[("DATABASE_URL", "postgres://u:pw@127.0.0.1:9/db"), ("DB_POOL_MAX", "5"), ("DB_POOL_MIN", "1")]);
        let database = Database::connect_lazy_sharded(&db, 2).await.expect("lazy pools");
        assert_eq!(database.shards(), 2);
        let traffic = &database.pool_stats()[0];
        assert_eq!((traffic.name, traffic.max, traffic.min), ("traffic", 5, 1), "the shards share DB_POOL_MAX/MIN");
        let max_of = |shard: usize| {
            database.shard(shard).traffic().get_postgres_connection_pool().options().get_max_connections()
        };
        assert_eq!((max_of(0), max_of(1)), (3, 2));
        assert_eq!(max_of(2), 3, "shard numbers wrap around");

        // Never more shards than connections, and one pool on SQLite.
        let database = Database::connect_lazy_sharded(&db, 64).await.expect("lazy pools");
        assert_eq!(database.shards(), 5);
        let dir = std::env::temp_dir().join(format!("shards-{}", std::process::id()));
        let path = dir.join("db.sqlite3");
        let mut sqlite = settings(&[]);
        sqlite.sqlite_path = path;
        let database = Database::connect_lazy_sharded(&sqlite, 4).await.expect("sqlite");
        assert_eq!(database.shards(), 1);
        database.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Every query moves the pool's acquire future a few times (into timeouts, retries, boxes),
    /// so it must not carry the state machine of opening a connection: vendor/sqlx-core's
    /// patch 4 boxes that. Upstream's is about 14 KB.
    #[tokio::test]
    async fn the_acquire_future_stays_small() {
        let options: sea_orm::sqlx::postgres::PgConnectOptions = "postgres://u:pw@127.0.0.1:9/db".parse().expect("url");
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new().connect_lazy_with(options);
        let acquire = pool.acquire();
        assert!(std::mem::size_of_val(&acquire) < 4096, "{} bytes", std::mem::size_of_val(&acquire));
    }

    #[test]
    fn zero_idle_timeout_and_lifetime_mean_never() {
        let db = settings(&[("DB_IDLE_TIMEOUT", "0"), ("DB_MAX_LIFETIME", "0")]);
        let options = connect_options(&db.traffic_url().expect("url"), &db, PoolRole::Traffic);
        assert_eq!(options.get_idle_timeout(), Some(None));
        assert_eq!(options.get_max_lifetime(), Some(None));
    }

    #[test]
    fn the_direct_and_migration_pools_are_small_and_the_migration_one_connects_eagerly() {
        let db = settings(&[
            ("DATABASE_URL", "postgres://u:pw@direct:5432/db"),
            ("DATABASE_URL_POOLED", "postgres://u:pw@pooler:6432/db"),
            ("DB_POOL_MAX", "50"),
        ]);
        let direct = db.direct_url().expect("url");
        let options = connect_options(&direct, &db, PoolRole::Direct);
        assert!(options.get_url().contains("@direct:5432/"));
        assert_eq!(options.get_max_connections(), Some(db.direct_pool_max));
        let options = connect_options(&direct, &db, PoolRole::Migration);
        assert_eq!(options.get_max_connections(), Some(1), "the advisory lock and the migrations share one session");
        assert!(!options.get_connect_lazy());
    }

    #[test]
    fn a_wait_for_a_connection_covers_the_connect_timeout() {
        let db = settings(&[("DB_CONNECT_TIMEOUT", "9"), ("DB_ACQUIRE_TIMEOUT", "2")]);
        let options = connect_options(&db.traffic_url().expect("url"), &db, PoolRole::Traffic);
        assert_eq!(options.get_acquire_timeout(), Some(Duration::from_secs(9)));
    }
}
