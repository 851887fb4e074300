//! The read paths, straight on sqlx: a SELECT that sea-query built runs on the pool's own
//! driver, and each row is decoded into the domain's type in one step.
//!
//! Through sea-orm, a page of twenty tasks cost a clone of every bound value, a boxed future
//! per layer (each moved into its box), a `QueryResult` per row, an entity `Model` per row that
//! was then converted (its tags through a `serde_json::Value`), and a formatted error string for
//! every NULL column its derived decoder met (`TryGetError::Null(format!(..))`, up to 120 a
//! page). Reading here avoids all of that (docs/performance.md, "What moved the
//! numbers").
//!
//! The SQL is still sea-query's, so it is exactly what the repositories built before; sqlx
//! still prepares each statement once per connection (named statements, reused through
//! PgBouncer's `max_prepared_statements` too), logs it under `sqlx::query` and reports slow
//! ones. Every statement counts in the request's tally ([`statements::record_statement`]).

use crate::database::statements;
use domain::RepositoryError;
use domain::conversation::{Message, MessageRole};
use domain::task::{Priority, Recurrence, Task, TaskStatus};
use entity::{message, task};
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::types::Json;
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnAcquireErr, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use std::sync::Arc;

use super::{corrupt, corrupt_because};

/// The columns a task is read with, in this order: every column but `search_text`, which only
/// the `q` filter reads (in SQL) and no response shows.
pub(super) const TASK_COLUMNS: [task::Column; 15] = [
    task::Column::Id,
    task::Column::UserId,
    task::Column::Title,
    task::Column::Description,
    task::Column::Status,
    task::Column::Priority,
    task::Column::Tags,
    task::Column::DueDate,
    task::Column::Recurrence,
    task::Column::CompletedAt,
    task::Column::PreviousOccurrenceId,
    task::Column::CreatedAt,
    task::Column::UpdatedAt,
    task::Column::DeletedAt,
    task::Column::Version,
];

/// The columns a message is read with, in this order.
pub(super) const MESSAGE_COLUMNS: [message::Column; 6] = [
    message::Column::Id,
    message::Column::ConversationId,
    message::Column::Role,
    message::Column::Content,
    message::Column::Metadata,
    message::Column::CreatedAt,
];

/// The rows one SELECT returned, as the backend's driver decoded them.
#[derive(Debug)]
pub(super) enum Rows {
    Postgres(Vec<PgRow>),
    Sqlite(Vec<SqliteRow>),
}

/// What sea-orm makes of a failed acquire (its `sqlx_conn_acquire_err`, which it does not
/// export), so that `errors::classify` sees the same errors on both paths.
fn acquire_err(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// What sea-orm makes of a failed query (its `sqlx_error_to_query_err`).
fn query_err(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// Runs `statement`, a SELECT built for `db`'s backend, and returns every row: one round trip.
pub(super) async fn fetch_all(db: &DatabaseConnection, statement: Statement) -> Result<Rows, DbErr> {
    let Statement { sql, values, .. } = statement;
    let values = SqlxValues(values.unwrap_or(sea_orm::sea_query::Values(Vec::new())));
    let query = sqlx::AssertSqlSafe(sql);
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let mut conn = db.get_postgres_connection_pool().acquire().await.map_err(acquire_err)?;
            let started = std::time::Instant::now();
            let rows = sqlx::query_with(query, values).fetch_all(&mut *conn).await;
            statements::record_statement(started.elapsed());
            rows.map(Rows::Postgres).map_err(query_err)
        }
        _ => {
            let mut conn = db.get_sqlite_connection_pool().acquire().await.map_err(acquire_err)?;
            let started = std::time::Instant::now();
            let rows = sqlx::query_with(query, values).fetch_all(&mut *conn).await;
            statements::record_statement(started.elapsed());
            rows.map(Rows::Sqlite).map_err(query_err)
        }
    }
}

/// Like [`fetch_all`], but reads the rows as they arrive and stops once those held carry more
/// than `max_bytes` of `column`'s text, with at least two rows held: the page the caller cuts
/// from them then has at least one row and knows that more remain. `true` when it stopped
/// early. The replies it did not read are drained by the connection's next user (sqlx waits
/// for the server to be ready before every statement), so memory holds one page's worth,
/// whatever the rows' sizes.
pub(super) async fn fetch_bounded(
    db: &DatabaseConnection,
    statement: Statement,
    column: &str,
    max_bytes: usize,
) -> Result<(Rows, bool), DbErr> {
    use futures::TryStreamExt;
    let Statement { sql, values, .. } = statement;
    let values = SqlxValues(values.unwrap_or(sea_orm::sea_query::Values(Vec::new())));
    let query = sqlx::AssertSqlSafe(sql);
    macro_rules! read {
        ($pool:expr, $variant:ident) => {{
            let mut conn = $pool.acquire().await.map_err(acquire_err)?;
            let started = std::time::Instant::now();
            let mut stream = sqlx::query_with(query, values).fetch(&mut *conn);
            let (mut rows, mut held, mut cut) = (Vec::new(), 0_usize, false);
            let outcome = loop {
                match stream.try_next().await {
                    Ok(Some(row)) => {
                        held += row.try_get::<&str, _>(column).map_or(0, str::len);
                        rows.push(row);
                        if held > max_bytes && rows.len() >= 2 {
                            cut = true;
                            break Ok(());
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(query_err(error)),
                }
            };
            drop(stream);
            statements::record_statement(started.elapsed());
            outcome.map(|()| (Rows::$variant(rows), cut))
        }};
    }
    match db.get_database_backend() {
        DbBackend::Postgres => read!(db.get_postgres_connection_pool(), Postgres),
        _ => read!(db.get_sqlite_connection_pool(), Sqlite),
    }
}

/// A column that sqlx could not decode: the schema and the code disagree.
fn undecodable(what: &str, error: sqlx::Error) -> RepositoryError {
    corrupt_because(format_args!("{what} row"), error)
}

/// The task in a row of [`TASK_COLUMNS`], on either backend (the same `Row` API and types).
macro_rules! decode_task {
    ($row:expr) => {{
        let row = $row;
        macro_rules! get {
            ($i:expr) => {
                row.try_get($i).map_err(|e| undecodable("task", e))
            };
        }
        let id: uuid::Uuid = get!(0)?;
        let status: &str = get!(4)?;
        let priority: i16 = get!(5)?;
        let recurrence: Option<&str> = get!(8)?;
        let Json(tags): Json<Vec<String>> = get!(6)?;
        Ok(Task {
            id,
            user_id: get!(1)?,
            title: get!(2)?,
            description: get!(3)?,
            status: TaskStatus::parse(status).ok_or_else(|| corrupt(format!("task {id} has status {status}")))?,
            priority: Priority::from_rank(priority)
                .ok_or_else(|| corrupt(format!("task {id} has priority {priority}")))?,
            tags,
            due_date: get!(7)?,
            recurrence: match recurrence {
                None => None,
                Some(r) => Some(Recurrence::parse(r).ok_or_else(|| corrupt(format!("task {id} has recurrence {r}")))?),
            },
            completed_at: get!(9)?,
            previous_occurrence_id: get!(10)?,
            created_at: get!(11)?,
            updated_at: get!(12)?,
            deleted_at: get!(13)?,
            version: get!(14)?,
        })
    }};
}

/// The message in a row of [`MESSAGE_COLUMNS`], on either backend.
macro_rules! decode_message {
    ($row:expr) => {{
        let row = $row;
        macro_rules! get {
            ($i:expr) => {
                row.try_get($i).map_err(|e| undecodable("message", e))
            };
        }
        let id: uuid::Uuid = get!(0)?;
        let role: &str = get!(2)?;
        let metadata: Option<Json<serde_json::Value>> = get!(4)?;
        Ok(Message {
            id,
            conversation_id: get!(1)?,
            role: MessageRole::parse(role).ok_or_else(|| corrupt(format!("message {id} has role {role}")))?,
            content: get!(3)?,
            metadata: match metadata.map(|m| m.0) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Object(map)) => Some(map),
                Some(other) => return Err(corrupt(format!("message {id} has metadata {other}"))),
            },
            created_at: get!(5)?,
        })
    }};
}

fn task_from_pg(row: &PgRow) -> Result<Task, RepositoryError> {
    decode_task!(row)
}

fn task_from_sqlite(row: &SqliteRow) -> Result<Task, RepositoryError> {
    decode_task!(row)
}

fn message_from_pg(row: &PgRow) -> Result<Message, RepositoryError> {
    decode_message!(row)
}

fn message_from_sqlite(row: &SqliteRow) -> Result<Message, RepositoryError> {
    decode_message!(row)
}

impl Rows {
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Postgres(rows) => rows.is_empty(),
            Self::Sqlite(rows) => rows.is_empty(),
        }
    }

    /// The rows as tasks; they must hold [`TASK_COLUMNS`].
    pub(super) fn tasks(&self) -> Result<Vec<Task>, RepositoryError> {
        match self {
            Self::Postgres(rows) => rows.iter().map(task_from_pg).collect(),
            Self::Sqlite(rows) => rows.iter().map(task_from_sqlite).collect(),
        }
    }

    /// The rows as messages; they must hold [`MESSAGE_COLUMNS`].
    pub(super) fn messages(&self) -> Result<Vec<Message>, RepositoryError> {
        match self {
            Self::Postgres(rows) => rows.iter().map(message_from_pg).collect(),
            Self::Sqlite(rows) => rows.iter().map(message_from_sqlite).collect(),
        }
    }

    /// Appends `other`'s rows (of the same backend) to these.
    pub(super) fn extend(&mut self, other: Rows) {
        match (self, other) {
            (Self::Postgres(rows), Self::Postgres(more)) => rows.extend(more),
            (Self::Sqlite(rows), Self::Sqlite(more)) => rows.extend(more),
            _ => unreachable!("one repository never mixes backends"),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Postgres(rows) => rows.len(),
            Self::Sqlite(rows) => rows.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::conversations::from_message;
    use crate::repositories::tasks::from_model;
    use chrono::{TimeZone, Utc};
    use entity::conversation;
    use sea_orm::{ActiveModelTrait, Database, EntityTrait, IntoActiveModel, QueryOrder, QuerySelect, QueryTrait};
    use sea_orm_migration::MigratorTrait;
    use uuid::Uuid;

    fn task(id: u128, nulls: bool) -> task::Model {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 30, 15).single().expect("time")
            + chrono::Duration::microseconds(123_456);
        task::Model {
            id: Uuid::from_u128(id),
            user_id: "decoder-user".into(),
            title: "A task".into(),
            description: (!nulls).then(|| "with a description".into()),
            search_text: "a task".into(),
            status: if nulls { "pending".into() } else { "completed".into() },
            priority: 2,
            tags: serde_json::json!(["a", "b"]),
            due_date: (!nulls).then_some(at),
            recurrence: (!nulls).then(|| "weekly".into()),
            completed_at: (!nulls).then_some(at),
            previous_occurrence_id: (!nulls).then(|| Uuid::from_u128(1)),
            created_at: at,
            updated_at: at,
            deleted_at: (!nulls).then_some(at),
            version: 3,
        }
    }

    /// The direct decoders read what sea-orm's entity decoding and the model conversions read,
    /// NULLs included (on SQLite here; the end-to-end suite covers PostgreSQL).
    #[tokio::test]
    async fn rows_decode_as_the_entities_decode_them() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        migration::Migrator::up(&db, None).await.expect("migrate");
        for (id, nulls) in [(1, true), (2, false)] {
            task(id, nulls).into_active_model().reset_all().insert(&db).await.expect("insert task");
        }
        let at = task(0, true).created_at;
        let conversation = conversation::Model {
            id: Uuid::from_u128(9),
            user_id: "decoder-user".into(),
            title: None,
            message_count: 2,
            last_message_at: Some(at),
            created_at: at,
            updated_at: at,
            version: 1,
        };
        conversation.into_active_model().reset_all().insert(&db).await.expect("insert conversation");
        for (id, metadata) in [(10, None), (11, Some(serde_json::json!({"k": [1, 2]})))] {
            let message = message::Model {
                id: Uuid::from_u128(id),
                conversation_id: Uuid::from_u128(9),
                role: "user".into(),
                content: "hi".into(),
                metadata,
                created_at: at,
            };
            message.into_active_model().reset_all().insert(&db).await.expect("insert message");
        }

        let derived = task::Entity::find().order_by_asc(task::Column::Id).all(&db).await.expect("derived");
        let derived: Vec<Task> = derived.into_iter().map(|m| from_model(m).expect("model")).collect();
        let select = task::Entity::find().select_only().columns(TASK_COLUMNS).order_by_asc(task::Column::Id);
        let direct = fetch_all(&db, select.build(DbBackend::Sqlite)).await.expect("direct").tasks().expect("tasks");
        assert_eq!(derived.len(), 2);
        assert_eq!(direct, derived);
        assert!(direct[0].description.is_none() && direct[1].description.is_some());

        let derived = message::Entity::find().order_by_asc(message::Column::Id).all(&db).await.expect("derived");
        let derived: Vec<Message> = derived.into_iter().map(|m| from_message(m).expect("model")).collect();
        let select = message::Entity::find().select_only().columns(MESSAGE_COLUMNS).order_by_asc(message::Column::Id);
        let direct =
            fetch_all(&db, select.build(DbBackend::Sqlite)).await.expect("direct").messages().expect("messages");
        assert_eq!(derived.len(), 2);
        assert!(derived[0].metadata.is_none() && derived[1].metadata.is_some());
        assert_eq!(direct, derived);
    }
}
