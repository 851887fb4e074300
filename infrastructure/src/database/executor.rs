//! The one way a statement reaches the database.
//!
//! Every statement the repositories, the health checks and the replica's freshness checks
//! send runs here, on the pool's own driver (sqlx): built by sea-query (or sea-orm's builders,
//! which are sea-query), bound with sea-orm's own binding of its values
//! (`sea-query-sqlx`), timed and counted in the request's tally ([`statements`]), and failed
//! with a [`DbError`] that says whether the statement can have reached the database, which
//! is what the retry policy needs ([`super::resilience`]) and what [`DbError::failure`]
//! classifies.
//!
//! Rows are read into [`Record`]s: structs whose fields are read from the result's columns of
//! the same names, declared with [`record!`](crate::record). The names are resolved to
//! positions once per result, not once per row.
//!
//! Why not through sea-orm's `ConnectionTrait`: for a page of twenty tasks it cloned every
//! bound value, boxed a future per layer, wrapped each row in a `QueryResult`, built an entity
//! `Model` per row, and formatted an error string for every NULL column its derived decoder
//! met (docs/performance.md, "What moved the numbers"). Transactions are sqlx's, so a
//! transaction dropped before its end (a cancelled request) is rolled back before its
//! connection serves anyone else; on SQLite a transaction that writes starts as
//! `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one failing when it
//! upgrades its read lock.

use super::errors::{Failure, TransientKind, classify_sqlx};
use super::statements;
use futures::TryStreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sea_orm::sqlx::postgres::{PgPool, PgRow};
use sea_orm::sqlx::sqlite::{SqlitePool, SqliteRow};
use sea_orm::sqlx::{self, Postgres, Row, Sqlite};
use sea_orm::{DatabaseConnection, DbBackend, Statement};
use sea_query_sqlx::SqlxValues;
use std::time::Instant;

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// No connection could be had, or the transaction could not begin: nothing was written.
    #[error("no connection")]
    Connect(#[source] sqlx::Error),
    /// The statement failed after it was sent: it may have run.
    #[error("statement failed")]
    Statement(#[source] sqlx::Error),
    /// A row does not decode into its record: the schema and the code disagree.
    #[error("row does not decode")]
    Decode(#[source] sqlx::Error),
    /// A value could not be put into a statement (it does not fit its column).
    #[error("a value cannot be written")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Concurrent transactions kept taking the same row over; this one gave up.
    #[error("contended: {0}")]
    Contended(&'static str),
    /// The health check found the database away while the call was waiting (it keeps
    /// running; see `resilience`).
    #[error("the database stopped answering")]
    Stalled,
}

impl DbError {
    /// What kind of failure this is: may it go away by itself?
    pub(crate) fn failure(&self) -> Failure {
        match self {
            Self::Connect(error) | Self::Statement(error) => classify_sqlx(error),
            Self::Decode(_) | Self::Encode(_) | Self::Contended(_) => Failure::Permanent,
            Self::Stalled => Failure::Transient(TransientKind::Connection),
        }
    }

    /// The statement never left the client, so even a write may be retried.
    pub(crate) fn never_sent(&self) -> bool {
        matches!(self, Self::Connect(_))
    }

    /// A unique-key violation: on the retry of an insert whose key the service chose, proof
    /// that the first attempt committed.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Statement(sqlx::Error::Database(error)) if error.is_unique_violation())
    }
}

/// A row type: a struct whose fields are read from the result's columns of the same names
/// (any order, any other columns ignored). Declare one with [`record!`](crate::record).
pub(crate) trait Record: Sized {
    /// The columns it reads, by name, in the order of its fields.
    const COLUMNS: &'static [&'static str];
    /// Reads a row whose columns [`COLUMNS`](Self::COLUMNS) are at positions `at`.
    fn from_postgres(row: &PgRow, at: &[usize]) -> Result<Self, sqlx::Error>;
    /// Same, on SQLite.
    fn from_sqlite(row: &SqliteRow, at: &[usize]) -> Result<Self, sqlx::Error>;
}

/// Declares a struct and makes it a [`Record`]: each field is read from the column of its
/// name, with sqlx's decoding of its type (so `Option<T>` for a nullable column, `Json<T>`
/// for JSON). The same text serves both backends.
#[macro_export]
#[doc(hidden)]
macro_rules! record {
    // The fields, each from the column at the next of `at`'s positions (one per column; a
    // missing one reads as out of bounds).
    (@read $row:ident, $at:ident, $($field:ident),*) => {{
        use ::sea_orm::sqlx::Row as _;
        let mut at = $at.iter().copied();
        Ok(Self { $($field: $row.try_get(at.next().unwrap_or(usize::MAX))?,)* })
    }};
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* pub(crate) $field: $ty,)*
        }

        impl $crate::database::executor::Record for $name {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn from_postgres(
                row: &::sea_orm::sqlx::postgres::PgRow,
                at: &[usize],
            ) -> ::std::result::Result<Self, ::sea_orm::sqlx::Error> {
                $crate::record!(@read row, at, $($field),*)
            }

            fn from_sqlite(
                row: &::sea_orm::sqlx::sqlite::SqliteRow,
                at: &[usize],
            ) -> ::std::result::Result<Self, ::sea_orm::sqlx::Error> {
                $crate::record!(@read row, at, $($field),*)
            }
        }
    };
}

/// A statement, and how PostgreSQL is to plan it.
///
/// Statements are prepared once per connection, and after five executions PostgreSQL may
/// switch to a generic plan, made without the values, when it looks no dearer than the custom
/// ones. That is right for every statement whose best plan does not depend on its values, and
/// wrong for a search: the same `LIKE` is best served by the trigram index for a rare term and
/// by the list's own index for a common one, and the generic plan took 0.4–0.6 s for a
/// common term where the term's own took under a millisecond (docs/database.md). A
/// [`Query::planned_per_call`] runs in a read-only transaction that sets
/// `plan_cache_mode = force_custom_plan` for itself (`SET LOCAL`): two round trips more than
/// a plain statement, and safe through a transaction-mode pooler. The unnamed statement, which PostgreSQL also plans per call, is
/// not: sqlx parses it and binds it in two exchanges, between which PgBouncer may hand the
/// server connection to another client (pgbouncer/pgbouncer#1288).
#[derive(Debug)]
pub(crate) struct Query {
    statement: Statement,
    per_call: bool,
    rows: usize,
}

impl Query {
    /// `statement`, planned for its values on every call.
    pub(crate) fn planned_per_call(statement: Statement) -> Self {
        Self { statement, per_call: true, rows: 0 }
    }

    /// The rows the statement is expected to return (its `LIMIT`): room for them is made at
    /// once. Grown row by row, a page's vector was reallocated four times, each at a size that
    /// made glibc's allocator consolidate its free lists first.
    pub(crate) fn expecting(self, rows: u64) -> Self {
        Self { rows: usize::try_from(rows).unwrap_or(0).min(MAX_EXPECTED_ROWS), ..self }
    }
}

/// The most rows [`Query::expecting`] makes room for up front (a page holds at most 100).
const MAX_EXPECTED_ROWS: usize = 128;

impl From<Statement> for Query {
    fn from(statement: Statement) -> Self {
        Self { statement, per_call: false, rows: 0 }
    }
}

/// How a [`Query::planned_per_call`] begins on PostgreSQL: one exchange, as a simple query.
const BEGIN_PLANNED_PER_CALL: &str = "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan";

/// What the executor needs of a backend's driver; PostgreSQL's and SQLite's are the same
/// calls on different types.
trait Driver: sqlx::Database {
    fn fetch(conn: &mut Self::Connection, sql: String, values: SqlxValues) -> BoxStream<'_, sqlx::Result<Self::Row>>;
    fn execute(conn: &mut Self::Connection, sql: String, values: SqlxValues) -> BoxFuture<'_, sqlx::Result<u64>>;
    fn decode<R: Record>(row: &Self::Row, at: &[usize]) -> sqlx::Result<R>;
    /// Where the column `name` is in `row`'s result.
    fn position(row: &Self::Row, name: &str) -> sqlx::Result<usize>;
}

/// The same calls for both backends: `sqlx::query_with` and `Row` are generic, only the row
/// type and the record's reader differ.
macro_rules! driver {
    ($database:ty, $row:ty, $read:ident) => {
        impl Driver for $database {
            fn fetch(
                conn: &mut Self::Connection,
                sql: String,
                values: SqlxValues,
            ) -> BoxStream<'_, sqlx::Result<$row>> {
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values).fetch(conn)
            }

            fn execute(
                conn: &mut Self::Connection,
                sql: String,
                values: SqlxValues,
            ) -> BoxFuture<'_, sqlx::Result<u64>> {
                Box::pin(async move {
                    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values).execute(conn).await?.rows_affected())
                })
            }

            fn decode<R: Record>(row: &$row, at: &[usize]) -> sqlx::Result<R> {
                R::$read(row, at)
            }

            fn position(row: &$row, name: &str) -> sqlx::Result<usize> {
                row.try_column(name).map(sqlx::Column::ordinal)
            }
        }
    };
}

driver!(Postgres, PgRow, from_postgres);
driver!(Sqlite, SqliteRow, from_sqlite);

/// A statement's SQL and its values, as sqlx binds them.
fn parts(statement: Statement) -> (String, SqlxValues) {
    let values = statement.values.unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    (statement.sql, SqlxValues(values))
}

/// The positions of `R`'s columns in `row`'s result.
fn positions<D: Driver, R: Record>(row: &D::Row) -> sqlx::Result<Vec<usize>> {
    R::COLUMNS.iter().map(|name| D::position(row, name)).collect()
}

/// Runs `statement` on `conn` and reads its rows into `R`s as they arrive, until `enough`
/// says so (given the rows held). `true` when it stopped early. The replies it did not read
/// are drained by the connection's next user (sqlx waits for the server to be ready before
/// every statement).
async fn fetch_on<D: Driver, R: Record>(
    conn: &mut D::Connection,
    statement: Statement,
    rows: usize,
    mut enough: impl FnMut(&[R]) -> bool,
) -> Result<(Vec<R>, bool), DbError> {
    let (sql, values) = parts(statement);
    let started = Instant::now();
    let mut stream = D::fetch(conn, sql, values);
    let (mut records, mut at, mut cut) = (Vec::with_capacity(rows), None, false);
    let outcome = loop {
        match stream.try_next().await {
            Ok(Some(row)) => {
                let at = match &at {
                    Some(at) => at,
                    None => match positions::<D, R>(&row) {
                        Ok(found) => at.insert(found),
                        Err(error) => break Err(DbError::Decode(error)),
                    },
                };
                match D::decode::<R>(&row, at) {
                    Ok(record) => records.push(record),
                    Err(error) => break Err(DbError::Decode(error)),
                }
                if enough(&records) {
                    cut = true;
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(DbError::Statement(error)),
        }
    };
    drop(stream);
    statements::record_statement(started.elapsed());
    outcome.map(|()| (records, cut))
}

async fn execute_on<D: Driver>(conn: &mut D::Connection, statement: Statement) -> Result<u64, DbError> {
    let (sql, values) = parts(statement);
    let started = Instant::now();
    let affected = D::execute(conn, sql, values).await;
    statements::record_statement(started.elapsed());
    affected.map_err(DbError::Statement)
}

/// Runs `$body` on a connection checked out of `$pool` for it alone, with `$D` the backend's
/// [`Driver`]; a failed checkout is [`DbError::Connect`].
macro_rules! with_connection {
    ($pool:expr, |$conn:ident, $D:ident| $body:expr) => {
        match $pool {
            Pool::Postgres(pool) => {
                type $D = Postgres;
                let mut $conn = pool.acquire().await.map_err(DbError::Connect)?;
                $body
            }
            Pool::Sqlite(pool) => {
                type $D = Sqlite;
                let mut $conn = pool.acquire().await.map_err(DbError::Connect)?;
                $body
            }
        }
    };
}

/// A pool of either backend: each statement checks a connection out for itself alone.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    /// The pool under a sea-orm handle (which migrations and admin tools use).
    pub(crate) fn of(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => Self::Postgres(db.get_postgres_connection_pool().clone()),
            _ => Self::Sqlite(db.get_sqlite_connection_pool().clone()),
        }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        match self {
            Self::Postgres(_) => DbBackend::Postgres,
            Self::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    /// Open connections, idle or in use.
    pub(crate) fn size(&self) -> u32 {
        match self {
            Self::Postgres(pool) => pool.size(),
            Self::Sqlite(pool) => pool.size(),
        }
    }

    /// Runs `statement` and reads every row: one round trip.
    pub(crate) async fn fetch_all<R: Record>(&self, query: impl Into<Query>) -> Result<Vec<R>, DbError> {
        Ok(self.fetch_until(query, |_| false).await?.0)
    }

    /// The first row, if any. The statement should say `LIMIT 1`: every row is read, so that
    /// the connection goes back to the pool ready for the next statement.
    pub(crate) async fn fetch_optional<R: Record>(&self, statement: Statement) -> Result<Option<R>, DbError> {
        Ok(self.fetch_all(Query::from(statement).expecting(1)).await?.into_iter().next())
    }

    /// Like [`Pool::fetch_all`], but reads the rows as they arrive and stops once `enough`
    /// says so (given the rows held): `true` when it stopped early, so that memory holds what
    /// the caller wants whatever the rows' sizes.
    pub(crate) async fn fetch_until<R: Record>(
        &self,
        query: impl Into<Query>,
        enough: impl FnMut(&[R]) -> bool,
    ) -> Result<(Vec<R>, bool), DbError> {
        let query = query.into();
        match self {
            Self::Postgres(pool) if query.per_call => {
                let started = Instant::now();
                let begun = pool.begin_with(BEGIN_PLANNED_PER_CALL).await;
                statements::record_statement(started.elapsed());
                let mut txn = begun.map_err(DbError::Connect)?;
                let rows = fetch_on::<Postgres, R>(&mut txn, query.statement, query.rows, enough).await?;
                // A read-only transaction: once the rows are read, how it ends changes nothing
                // (a connection that fails to roll back is closed by sqlx, not reused).
                let started = Instant::now();
                let _ = txn.rollback().await;
                statements::record_statement(started.elapsed());
                Ok(rows)
            }
            _ => {
                with_connection!(self, |conn, D| fetch_on::<D, R>(&mut conn, query.statement, query.rows, enough).await)
            }
        }
    }

    /// Runs a statement that returns no rows; the number of rows it affected.
    pub(crate) async fn execute(&self, statement: Statement) -> Result<u64, DbError> {
        with_connection!(self, |conn, D| execute_on::<D>(&mut conn, statement).await)
    }

    /// Runs `SELECT 1` in the simple protocol: whether the database answers.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        let started = Instant::now();
        let outcome = with_connection!(self, |conn, _D| {
            sqlx::raw_sql(sqlx::AssertSqlSafe("SELECT 1")).execute(&mut *conn).await.map(drop)
        });
        statements::record_statement(started.elapsed());
        outcome.map_err(DbError::Statement)
    }

    /// Begins a transaction that is going to write (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn begin_write(&self) -> Result<Transaction, DbError> {
        let started = Instant::now();
        let begun = match self {
            Self::Postgres(pool) => pool.begin().await.map(Transaction::Postgres),
            Self::Sqlite(pool) => pool.begin_with("BEGIN IMMEDIATE").await.map(Transaction::Sqlite),
        };
        statements::record_statement(started.elapsed());
        // Nothing is written before BEGIN succeeds, so every failure here counts as unsent.
        begun.map_err(DbError::Connect)
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    pub(crate) async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// An open transaction; dropped without [`Transaction::commit`], it rolls back.
#[derive(Debug)]
pub(crate) enum Transaction {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Transaction {
    /// The first row, if any.
    pub(crate) async fn fetch_optional<R: Record>(&mut self, statement: Statement) -> Result<Option<R>, DbError> {
        let (rows, _) = match self {
            Self::Postgres(txn) => fetch_on::<Postgres, R>(txn, statement, 1, |_| false).await?,
            Self::Sqlite(txn) => fetch_on::<Sqlite, R>(txn, statement, 1, |_| false).await?,
        };
        Ok(rows.into_iter().next())
    }

    /// Runs a statement that returns no rows; the number of rows it affected.
    pub(crate) async fn execute(&mut self, statement: Statement) -> Result<u64, DbError> {
        match self {
            Self::Postgres(txn) => execute_on::<Postgres>(txn, statement).await,
            Self::Sqlite(txn) => execute_on::<Sqlite>(txn, statement).await,
        }
    }

    /// Commits. A failure leaves it unknown whether the transaction committed.
    pub(crate) async fn commit(self) -> Result<(), DbError> {
        let started = Instant::now();
        let committed = match self {
            Self::Postgres(txn) => txn.commit().await,
            Self::Sqlite(txn) => txn.commit().await,
        };
        statements::record_statement(started.elapsed());
        committed.map_err(DbError::Statement)
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<(), DbError> {
        let started = Instant::now();
        let rolled_back = match self {
            Self::Postgres(txn) => txn.rollback().await,
            Self::Sqlite(txn) => txn.rollback().await,
        };
        statements::record_statement(started.elapsed());
        rolled_back.map_err(DbError::Statement)
    }
}
