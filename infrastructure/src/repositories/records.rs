//! The rows the repositories read: one type per table, read by column name (see
//! `database::executor`), each turned into the domain's type here and nowhere else.
//!
//! A SELECT names exactly a record's columns ([`select`]); an `UPDATE … RETURNING` returns
//! them ([`returning`]). Every column is decoded by sqlx's own types (`Json` for the JSON
//! ones), so the same record reads PostgreSQL and SQLite.

use super::{corrupt, corrupt_because};
use crate::database::executor::Record;
use chrono::{DateTime, Utc};
use domain::conversation::{Conversation, Message, MessageRole};
use domain::task::{Priority, Recurrence, Replay, StoredResponse, Task, TaskStatus};
use domain::{RepositoryError, UserId};
use sea_orm::sea_query::{Expr, ReturningClause};
use sea_orm::sqlx::types::Json;
use sea_orm::{EntityTrait, QuerySelect, Select};
use uuid::Uuid;

/// A SELECT from `E`'s table of exactly `R`'s columns, each qualified by the table (so joins
/// stay unambiguous).
pub(super) fn select<E: EntityTrait, R: Record>() -> Select<E> {
    E::find().select_only().exprs(R::COLUMNS.iter().map(|name| Expr::col((E::default(), *name))))
}

/// A `RETURNING` clause of exactly `R`'s columns.
pub(super) fn returning<R: Record>() -> ReturningClause {
    sea_orm::sea_query::Query::returning().columns(R::COLUMNS.iter().copied())
}

crate::record! {
    /// A row of `tasks`: every column but `search_text`, which only the `q` filter reads (in
    /// SQL) and no response shows.
    #[derive(Debug)]
    pub(super) struct TaskRow {
        id: Uuid,
        user_id: String,
        title: String,
        description: Option<String>,
        status: String,
        priority: i16,
        tags: Json<Vec<String>>,
        due_date: Option<DateTime<Utc>>,
        recurrence: Option<String>,
        completed_at: Option<DateTime<Utc>>,
        previous_occurrence_id: Option<Uuid>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        deleted_at: Option<DateTime<Utc>>,
        version: i32,
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = RepositoryError;

    fn try_from(row: TaskRow) -> Result<Self, RepositoryError> {
        let id = row.id;
        let user_id = UserId::parse(row.user_id).map_err(|e| corrupt_because(format_args!("task {id}'s user"), e))?;
        Ok(Task {
            status: TaskStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("task {id} has status {}", row.status)))?,
            priority: Priority::from_rank(row.priority)
                .ok_or_else(|| corrupt(format!("task {id} has priority {}", row.priority)))?,
            recurrence: match row.recurrence.as_deref() {
                None => None,
                Some(r) => Some(Recurrence::parse(r).ok_or_else(|| corrupt(format!("task {id} has recurrence {r}")))?),
            },
            id,
            user_id,
            title: row.title,
            description: row.description,
            tags: row.tags.0,
            due_date: row.due_date,
            completed_at: row.completed_at,
            previous_occurrence_id: row.previous_occurrence_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            version: row.version,
        })
    }
}

/// Every row as a task.
pub(super) fn tasks(rows: Vec<TaskRow>) -> Result<Vec<Task>, RepositoryError> {
    rows.into_iter().map(Task::try_from).collect()
}

crate::record! {
    /// One group of `stats`: the user's live tasks of one status and priority.
    #[derive(Debug)]
    pub(super) struct StatsRow {
        status: String,
        priority: i16,
        tasks: i64,
        overdue: i64,
    }
}

crate::record! {
    /// A row of `idempotency_keys`, as a replay reads it.
    #[derive(Debug)]
    pub(super) struct IdempotencyRow {
        request_hash: String,
        response_status: Option<i16>,
        response_body: Option<String>,
        response: Option<Vec<u8>>,
        resource_id: Option<Uuid>,
        created_at: DateTime<Utc>,
    }
}

impl IdempotencyRow {
    /// What a request that repeats the stored one answers.
    pub(super) fn replay(self) -> Result<Replay, RepositoryError> {
        match (self.resource_id, self.response_status, self.response, self.response_body) {
            (Some(task_id), Some(status), Some(body), _) => {
                let status = u16::try_from(status).map_err(|_| corrupt(format!("idempotency status {status}")))?;
                Ok(Replay::Response { task_id, response: StoredResponse { status, body } })
            }
            // Written by a build that stored the task itself (see the migration that added
            // `response`).
            (_, _, None, Some(body)) => {
                let first: Task =
                    serde_json::from_str(&body).map_err(|e| corrupt_because("idempotency response", e))?;
                Ok(Replay::Task(first))
            }
            _ => Err(corrupt("idempotency record without a response")),
        }
    }
}

crate::record! {
    /// A row of `conversations`.
    #[derive(Debug)]
    pub(super) struct ConversationRow {
        id: Uuid,
        user_id: String,
        title: Option<String>,
        message_count: i32,
        last_message_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        version: i32,
    }
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = RepositoryError;

    fn try_from(row: ConversationRow) -> Result<Self, RepositoryError> {
        let user_id = UserId::parse(row.user_id)
            .map_err(|e| corrupt_because(format_args!("conversation {}'s user", row.id), e))?;
        Ok(Conversation {
            id: row.id,
            user_id,
            title: row.title,
            message_count: i64::from(row.message_count),
            last_message_at: row.last_message_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

crate::record! {
    /// A row of `messages`.
    #[derive(Debug)]
    pub(super) struct MessageRow {
        id: Uuid,
        conversation_id: Uuid,
        role: String,
        content: String,
        metadata: Option<Json<serde_json::Value>>,
        created_at: DateTime<Utc>,
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = RepositoryError;

    fn try_from(row: MessageRow) -> Result<Self, RepositoryError> {
        let id = row.id;
        Ok(Message {
            role: MessageRole::parse(&row.role)
                .ok_or_else(|| corrupt(format!("message {id} has role {}", row.role)))?,
            metadata: match row.metadata.map(|m| m.0) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Object(map)) => Some(map),
                Some(other) => return Err(corrupt(format!("message {id} has metadata {other}"))),
            },
            id,
            conversation_id: row.conversation_id,
            content: row.content,
            created_at: row.created_at,
        })
    }
}

crate::record! {
    /// The one column a statement returns when only its time matters.
    #[derive(Debug)]
    pub(super) struct CreatedAt {
        created_at: DateTime<Utc>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::executor::{DbError, Pool};
    use chrono::TimeZone;
    use entity::{conversation, message, task};
    use sea_orm::{ActiveModelTrait, Database, DbBackend, IntoActiveModel, QueryOrder, QueryTrait};
    use sea_orm_migration::MigratorTrait;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 30, 15).single().expect("time") + chrono::Duration::microseconds(123_456)
    }

    fn task_model(id: u128, nulls: bool) -> task::Model {
        task::Model {
            id: Uuid::from_u128(id),
            user_id: "decoder-user".into(),
            title: "A task".into(),
            description: (!nulls).then(|| "with a description".into()),
            search_text: "a task".into(),
            status: if nulls { "pending".into() } else { "completed".into() },
            priority: 2,
            tags: serde_json::json!(["a", "b"]),
            due_date: (!nulls).then_some(at()),
            recurrence: (!nulls).then(|| "weekly".into()),
            completed_at: (!nulls).then_some(at()),
            previous_occurrence_id: (!nulls).then(|| Uuid::from_u128(1)),
            created_at: at(),
            updated_at: at(),
            deleted_at: (!nulls).then_some(at()),
            version: 3,
        }
    }

    /// A record reads the columns of its names wherever the result has them, NULLs included,
    /// and says which column is missing (on SQLite here; the end-to-end suite reads every
    /// record on PostgreSQL).
    #[tokio::test]
    async fn records_read_columns_by_name() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        migration::Migrator::up(&db, None).await.expect("migrate");
        for (id, nulls) in [(1, true), (2, false)] {
            task_model(id, nulls).into_active_model().reset_all().insert(&db).await.expect("insert task");
        }
        let pool = Pool::of(&db);

        let rows: Vec<TaskRow> = pool
            .fetch_all(select::<task::Entity, TaskRow>().order_by_asc(task::Column::Id).build(DbBackend::Sqlite))
            .await
            .expect("tasks");
        let read = tasks(rows).expect("domain tasks");
        assert_eq!(read.len(), 2);
        let (bare, full) = (&read[0], &read[1]);
        assert_eq!((bare.status, bare.description.as_deref(), bare.recurrence), (TaskStatus::Pending, None, None));
        assert_eq!(
            (bare.due_date, bare.completed_at, bare.deleted_at, bare.previous_occurrence_id),
            (None, None, None, None)
        );
        assert_eq!(full.status, TaskStatus::Completed);
        assert_eq!(full.description.as_deref(), Some("with a description"));
        assert_eq!(full.recurrence, Some(Recurrence::Weekly));
        assert_eq!((full.due_date, full.deleted_at), (Some(at()), Some(at())));
        assert_eq!(full.previous_occurrence_id, Some(Uuid::from_u128(1)));
        assert_eq!(
            (full.tags.clone(), full.priority, full.version),
            (vec!["a".into(), "b".into()], Priority::Medium, 3)
        );
        assert_eq!((full.created_at, full.updated_at), (at(), at()));

        // Another order, and a column the record does not read: the same tasks.
        let mut reversed = TaskRow::COLUMNS.to_vec();
        reversed.reverse();
        reversed.insert(3, "search_text");
        let sql = format!("SELECT {} FROM tasks ORDER BY id", reversed.join(", "));
        let rows: Vec<TaskRow> =
            pool.fetch_all(sea_orm::Statement::from_string(DbBackend::Sqlite, sql)).await.expect("any order");
        assert_eq!(tasks(rows).expect("domain tasks"), read);

        // A column missing from the result is named.
        let sql = "SELECT id, user_id FROM tasks";
        let error = pool
            .fetch_all::<TaskRow>(sea_orm::Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .expect_err("columns missing");
        assert!(matches!(&error, DbError::Decode(_)), "{error:?}");
        assert!(domain::error::Chain(&error).to_string().contains("title"), "{error:?}");

        let conversation = conversation::Model {
            id: Uuid::from_u128(9),
            user_id: "decoder-user".into(),
            title: None,
            message_count: 2,
            last_message_at: Some(at()),
            created_at: at(),
            updated_at: at(),
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
                created_at: at(),
            };
            message.into_active_model().reset_all().insert(&db).await.expect("insert message");
        }
        let rows: Vec<MessageRow> = pool
            .fetch_all(
                select::<message::Entity, MessageRow>().order_by_asc(message::Column::Id).build(DbBackend::Sqlite),
            )
            .await
            .expect("messages");
        let read: Vec<Message> = rows.into_iter().map(Message::try_from).collect::<Result<_, _>>().expect("messages");
        assert_eq!(read.len(), 2);
        assert!(read[0].metadata.is_none());
        assert_eq!(read[1].metadata.as_ref().and_then(|m| m.get("k")), Some(&serde_json::json!([1, 2])));
        let rows: Vec<ConversationRow> = pool
            .fetch_all(select::<conversation::Entity, ConversationRow>().build(DbBackend::Sqlite))
            .await
            .expect("conversations");
        let read: Vec<Conversation> =
            rows.into_iter().map(Conversation::try_from).collect::<Result<_, _>>().expect("conversations");
        assert_eq!((read[0].message_count, read[0].title.as_deref(), read[0].last_message_at), (2, None, Some(at())));
    }
}
