//! Row decoding for the read paths, straight from sqlx's row.
//!
//! sea-orm's derived `FromQueryResult` reads a nullable column through `Option<T>`'s
//! `TryGetable`, which builds a `TryGetError::Null(format!("{idx:?}"))` for every NULL it meets
//! and then throws it away. A task row has six nullable columns, so a page of twenty tasks paid
//! for up to 120 formatted strings: `scripts/bench`'s profile of the first page put the row
//! decoding at a fifth of the service's CPU, a third of that in those strings. These decoders
//! ask sqlx for the same types sea-orm asks for (`row.try_get::<Option<T>>` on both backends, see
//! sea-orm's `executor/query.rs`), by the entity's own column names, so the values are the same;
//! a NULL is just `None`. Other rows (mock or proxy connections) fall back to sea-orm's decoder.

use entity::{message, task};
use sea_orm::sqlx::Row;
use sea_orm::{DbErr, FromQueryResult, IdenStatic, QueryResult, RuntimeErr};
use std::sync::Arc;

/// A task row decoded without sea-orm's per-NULL error strings.
#[derive(Debug)]
pub(super) struct TaskRow(pub task::Model);

/// A message row decoded without sea-orm's per-NULL error strings.
#[derive(Debug)]
pub(super) struct MessageRow(pub message::Model);

/// What sea-orm makes of a decoding error (its `sqlx_error_to_query_err`, which it does not export).
fn query_err(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// `row.try_get(<the column's name>)` for a `pre`-fixed column, sea-orm's error on failure.
macro_rules! get {
    ($row:expr, $pre:expr, $column:expr) => {{
        let name = IdenStatic::as_str(&$column);
        let result =
            if $pre.is_empty() { $row.try_get(name) } else { $row.try_get(format!("{}{name}", $pre).as_str()) };
        result.map_err(query_err)?
    }};
}

macro_rules! decode_task {
    ($row:expr, $pre:expr) => {{
        use task::Column as C;
        let row = $row;
        task::Model {
            id: get!(row, $pre, C::Id),
            user_id: get!(row, $pre, C::UserId),
            title: get!(row, $pre, C::Title),
            description: get!(row, $pre, C::Description),
            search_text: get!(row, $pre, C::SearchText),
            status: get!(row, $pre, C::Status),
            priority: get!(row, $pre, C::Priority),
            tags: get!(row, $pre, C::Tags),
            due_date: get!(row, $pre, C::DueDate),
            recurrence: get!(row, $pre, C::Recurrence),
            completed_at: get!(row, $pre, C::CompletedAt),
            previous_occurrence_id: get!(row, $pre, C::PreviousOccurrenceId),
            created_at: get!(row, $pre, C::CreatedAt),
            updated_at: get!(row, $pre, C::UpdatedAt),
            deleted_at: get!(row, $pre, C::DeletedAt),
            version: get!(row, $pre, C::Version),
        }
    }};
}

macro_rules! decode_message {
    ($row:expr, $pre:expr) => {{
        use message::Column as C;
        let row = $row;
        message::Model {
            id: get!(row, $pre, C::Id),
            conversation_id: get!(row, $pre, C::ConversationId),
            role: get!(row, $pre, C::Role),
            content: get!(row, $pre, C::Content),
            metadata: get!(row, $pre, C::Metadata),
            created_at: get!(row, $pre, C::CreatedAt),
        }
    }};
}

impl FromQueryResult for TaskRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if let Some(row) = res.try_as_pg_row() {
            return Ok(Self(decode_task!(row, pre)));
        }
        if let Some(row) = res.try_as_sqlite_row() {
            return Ok(Self(decode_task!(row, pre)));
        }
        task::Model::from_query_result(res, pre).map(Self)
    }
}

impl FromQueryResult for MessageRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if let Some(row) = res.try_as_pg_row() {
            return Ok(Self(decode_message!(row, pre)));
        }
        if let Some(row) = res.try_as_sqlite_row() {
            return Ok(Self(decode_message!(row, pre)));
        }
        message::Model::from_query_result(res, pre).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use entity::conversation;
    use sea_orm::{ActiveModelTrait, Database, EntityTrait, IntoActiveModel, QueryOrder};
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

    /// The fast decoders read exactly what sea-orm's derived ones read, NULLs included.
    #[tokio::test]
    async fn rows_decode_as_sea_orm_decodes_them() {
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
        let fast =
            task::Entity::find().order_by_asc(task::Column::Id).into_model::<TaskRow>().all(&db).await.expect("fast");
        assert_eq!(derived.len(), 2);
        assert_eq!(fast.into_iter().map(|r| r.0).collect::<Vec<_>>(), derived);
        assert_eq!(derived, vec![task(1, true), task(2, false)]);

        let derived = message::Entity::find().order_by_asc(message::Column::Id).all(&db).await.expect("derived");
        let fast = message::Entity::find()
            .order_by_asc(message::Column::Id)
            .into_model::<MessageRow>()
            .all(&db)
            .await
            .expect("fast");
        assert_eq!(derived.len(), 2);
        assert!(derived[0].metadata.is_none() && derived[1].metadata.is_some());
        assert_eq!(fast.into_iter().map(|r| r.0).collect::<Vec<_>>(), derived);
    }
}
