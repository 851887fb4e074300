//! Conversations in `conversations`, messages in `messages`.

use super::rows::{self, MESSAGE_COLUMNS, Rows};
use super::{begin_write, commit, corrupt, fence, is_duplicate, read, rollback};
use crate::Database;
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use chrono::{DateTime, Duration, Utc};
use domain::conversation::{
    Conversation, ConversationCursor, ConversationListQuery, ConversationRepository, Message, MessageCursor,
    MessageListQuery, MessageOrder, MessageRole, NewMessage,
};
use domain::{DeleteOutcome, Page, RepositoryError, UpdateOutcome, UserId};
use entity::{conversation, message};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use std::sync::Arc;
use uuid::Uuid;

/// The conversation repository on sea-orm, over the traffic pool, reading from the read
/// replica where it may (see `database::replica`).
#[derive(Clone, Debug)]
pub struct SeaConversationRepository {
    db: DatabaseConnection,
    guard: Arc<Guard>,
    replica: Option<Replica>,
}

impl SeaConversationRepository {
    pub fn new(database: &Database) -> Self {
        Self { db: database.traffic().clone(), guard: database.guard().clone(), replica: database.replica() }
    }
}

fn from_conversation(m: conversation::Model) -> Conversation {
    Conversation {
        id: m.id,
        user_id: m.user_id,
        title: m.title,
        message_count: i64::from(m.message_count),
        last_message_at: m.last_message_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    }
}

pub(super) fn from_message(m: message::Model) -> Result<Message, RepositoryError> {
    let metadata = match m.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => Some(map),
        Some(other) => return Err(corrupt(format!("message {} has metadata {other}", m.id))),
    };
    Ok(Message {
        role: MessageRole::parse(&m.role).ok_or_else(|| corrupt(format!("message {} has role {}", m.id, m.role)))?,
        id: m.id,
        conversation_id: m.conversation_id,
        content: m.content,
        metadata,
        created_at: m.created_at,
    })
}

fn owned(user: &UserId, id: Uuid) -> sea_orm::Condition {
    sea_orm::Condition::all().add(conversation::Column::Id.eq(id)).add(conversation::Column::UserId.eq(user.as_ref()))
}

/// Appending on PostgreSQL in one statement, atomic by itself: the UPDATE takes the
/// conversation's row lock (so concurrent appends take turns), moves its counters and returns
/// the message's time; the INSERT uses that time. No row updated (no such conversation for
/// this user) means nothing inserted.
const APPEND_POSTGRES: &str = r#"
WITH conversation AS (
    UPDATE conversations
    SET message_count = message_count + 1,
        last_message_at = CASE WHEN last_message_at >= $3 THEN last_message_at + interval '1 microsecond' ELSE $3 END,
        updated_at = CASE WHEN last_message_at >= $3 THEN last_message_at + interval '1 microsecond' ELSE $3 END
    WHERE id = $1 AND user_id = $2
    RETURNING last_message_at
)
INSERT INTO messages (id, conversation_id, role, content, metadata, created_at)
SELECT $4, $1, $5, $6, $7, conversation.last_message_at FROM conversation
RETURNING created_at
"#;

impl SeaConversationRepository {
    /// One attempt at appending on PostgreSQL (see [`APPEND_POSTGRES`]). A retry whose
    /// message id already exists finds the first attempt's message: the statement is atomic, so
    /// the duplicate aborted it whole, counters included.
    async fn append_postgres(
        &self,
        attempt: u32,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        new: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<Result<Message, message::Model>>, DbErr> {
        let draft = new.clone().into_message(message_id, conversation_id, now);
        let statement = sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            APPEND_POSTGRES,
            [
                conversation_id.into(),
                user.as_ref().into(),
                now.into(),
                message_id.into(),
                draft.role.as_str().into(),
                draft.content.clone().into(),
                draft.metadata.clone().map(serde_json::Value::Object).into(),
            ],
        );
        match sea_orm::ConnectionTrait::query_one_raw(&self.db, statement).await {
            Ok(None) => Ok(None),
            Ok(Some(row)) => {
                let created_at: DateTime<Utc> = row.try_get("", "created_at")?;
                Ok(Some(Ok(Message { created_at, ..draft })))
            }
            Err(error) if attempt > 1 && is_duplicate(&error) => {
                let stored = message::Entity::find_by_id(message_id).one(&self.db).await?;
                Ok(stored.map(Err))
            }
            Err(error) => Err(error),
        }
    }

    /// One attempt at appending on SQLite, whose CTEs cannot write: a transaction that starts
    /// as the single writer.
    async fn append_once(
        &self,
        attempt: u32,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        new: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<Result<Message, message::Model>>, DbErr> {
        let txn = begin_write(&self.db).await?;
        // BEGIN IMMEDIATE made this the only writer, so nothing moves the conversation under us.
        let find = conversation::Entity::find().filter(owned(user, conversation_id));
        let Some(current) = find.one(&txn).await? else {
            rollback(txn).await?;
            return Ok(None);
        };
        // On a retry, the first attempt may have committed: the message id is ours.
        if attempt > 1
            && let Some(stored) = message::Entity::find_by_id(message_id).one(&txn).await?
        {
            rollback(txn).await?;
            return Ok(Some(Err(stored)));
        }
        // Strictly after the previous message, even if this clock lags another instance's.
        let at = match current.last_message_at {
            Some(last) if last >= now => last + Duration::microseconds(1),
            _ => now,
        };
        let message = new.clone().into_message(message_id, conversation_id, at);
        message::Entity::insert(message::ActiveModel {
            id: Set(message.id),
            conversation_id: Set(message.conversation_id),
            role: Set(message.role.as_str().to_owned()),
            content: Set(message.content.clone()),
            metadata: Set(message.metadata.clone().map(serde_json::Value::Object)),
            created_at: Set(message.created_at),
        })
        .exec_without_returning(&txn)
        .await?;
        conversation::Entity::update_many()
            .col_expr(conversation::Column::MessageCount, Expr::col(conversation::Column::MessageCount).add(1))
            .col_expr(conversation::Column::LastMessageAt, Expr::val(at))
            .col_expr(conversation::Column::UpdatedAt, Expr::val(at))
            .filter(conversation::Column::Id.eq(conversation_id))
            .exec(&txn)
            .await?;
        commit(txn).await?;
        Ok(Some(Ok(message)))
    }

    async fn message_rows(
        &self,
        db: &DatabaseConnection,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Option<(Rows, bool)>, DbErr> {
        let order = if query.order == MessageOrder::Asc { Order::Asc } else { Order::Desc };
        // Ownership is checked in the same statement; only an empty page costs a second one.
        let mut select = message::Entity::find()
            .select_only()
            .columns(MESSAGE_COLUMNS)
            .inner_join(conversation::Entity)
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(conversation::Column::UserId.eq(user.as_ref()));
        if let Some(after) = query.after {
            let row = Expr::tuple([
                Expr::col((message::Entity, message::Column::CreatedAt)),
                Expr::col((message::Entity, message::Column::Id)),
            ]);
            let position = Expr::tuple([Expr::val(after.created_at), Expr::val(after.id)]);
            select = select.filter(if query.order == MessageOrder::Asc { row.gt(position) } else { row.lt(position) });
        }
        let select = select
            .order_by(message::Column::CreatedAt, order.clone())
            .order_by(message::Column::Id, order)
            .limit(query.limit + 1);
        // Messages may be 100,000 characters each: reading stops at a page's worth of text.
        let statement = select.build(db.get_database_backend());
        let (rows, cut) = rows::fetch_bounded(db, statement, "content", domain::MAX_PAGE_BYTES).await?;
        if rows.is_empty() && conversation::Entity::find().filter(owned(user, conversation_id)).one(db).await?.is_none()
        {
            return Ok(None);
        }
        Ok(Some((rows, cut)))
    }
}

#[async_trait::async_trait]
impl ConversationRepository for SeaConversationRepository {
    #[tracing::instrument(level = "debug", skip_all, fields(conversation = %c.id))]
    async fn insert(&self, c: &Conversation) -> Result<(), RepositoryError> {
        let model = conversation::ActiveModel {
            id: Set(c.id),
            user_id: Set(c.user_id.clone()),
            title: Set(c.title.clone()),
            message_count: Set(i32::try_from(c.message_count).unwrap_or(i32::MAX)),
            last_message_at: Set(c.last_message_at),
            created_at: Set(c.created_at),
            updated_at: Set(c.updated_at),
            version: Set(c.version),
        };
        self.guard
            .run(Safety::Idempotent, |attempt| {
                let model = model.clone();
                async move {
                    match conversation::Entity::insert(model).exec_without_returning(&self.db).await {
                        // The id is ours: a duplicate on a retry means the first attempt committed.
                        Err(error) if attempt > 1 && is_duplicate(&error) => Ok(()),
                        other => other.map(|_| ()),
                    }
                }
            })
            .await?;
        fence(self.replica.as_ref()).await;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError> {
        let found = read(&self.guard, &self.db, self.replica.as_ref(), |db| {
            let select = conversation::Entity::find().filter(owned(user, id));
            async move { select.one(&db).await }
        })
        .await?;
        Ok(found.map(from_conversation))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError> {
        let found = self
            .guard
            .run(Safety::Read, |_| conversation::Entity::find().filter(owned(user, id)).one(&self.db))
            .await?;
        Ok(found.map(from_conversation))
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, limit = query.limit))]
    async fn list(
        &self,
        user: &UserId,
        query: &ConversationListQuery,
    ) -> Result<Page<Conversation, ConversationCursor>, RepositoryError> {
        let rows = read(&self.guard, &self.db, self.replica.as_ref(), |db| {
            let mut select = conversation::Entity::find().filter(conversation::Column::UserId.eq(user.as_ref()));
            if let Some(after) = query.after {
                let row = Expr::tuple([
                    Expr::col((conversation::Entity, conversation::Column::UpdatedAt)),
                    Expr::col((conversation::Entity, conversation::Column::Id)),
                ]);
                select = select.filter(row.lt(Expr::tuple([Expr::val(after.updated_at), Expr::val(after.id)])));
            }
            let select = select
                .order_by(conversation::Column::UpdatedAt, Order::Desc)
                .order_by(conversation::Column::Id, Order::Desc)
                .limit(query.limit + 1);
            async move { select.all(&db).await }
        })
        .await?;
        let rows = rows.into_iter().map(from_conversation).collect();
        Ok(Page::from_overfetch(rows, query.limit, |c: &Conversation| ConversationCursor {
            updated_at: c.updated_at,
            id: c.id,
        }))
    }

    #[tracing::instrument(level = "debug", skip(self, title), fields(user = %user))]
    async fn set_title(
        &self,
        user: &UserId,
        id: Uuid,
        title: Option<String>,
        expected_version: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome<Conversation>, RepositoryError> {
        let rows = self
            .guard
            .run(Safety::Write, |_| {
                let mut update = conversation::Entity::update_many()
                    .col_expr(conversation::Column::Title, Expr::val(title.clone()))
                    .col_expr(conversation::Column::UpdatedAt, Expr::val(now))
                    .col_expr(conversation::Column::Version, Expr::col(conversation::Column::Version).add(1))
                    .filter(owned(user, id));
                if let Some(version) = expected_version {
                    update = update.filter(conversation::Column::Version.eq(version));
                }
                update.exec_with_returning(&self.db)
            })
            .await?;
        if let Some(row) = rows.into_iter().next() {
            fence(self.replica.as_ref()).await;
            return Ok(UpdateOutcome::Updated(from_conversation(row)));
        }
        Ok(match self.find_for_update(user, id).await? {
            Some(current) => UpdateOutcome::VersionMismatch { current: current.version },
            None => UpdateOutcome::NotFound,
        })
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn delete(
        &self,
        user: &UserId,
        id: Uuid,
        expected_version: Option<i32>,
    ) -> Result<DeleteOutcome, RepositoryError> {
        let result = self
            .guard
            .run(Safety::Write, |_| {
                let mut delete = conversation::Entity::delete_many().filter(owned(user, id));
                if let Some(version) = expected_version {
                    delete = delete.filter(conversation::Column::Version.eq(version));
                }
                delete.exec(&self.db)
            })
            .await?;
        if result.rows_affected == 1 {
            fence(self.replica.as_ref()).await;
            return Ok(DeleteOutcome::Deleted);
        }
        if expected_version.is_some()
            && let Some(current) = self.find_for_update(user, id).await?
        {
            return Ok(DeleteOutcome::VersionMismatch { current: current.version });
        }
        Ok(DeleteOutcome::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self, new), fields(user = %user))]
    async fn append(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        new: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, RepositoryError> {
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        let outcome = self
            .guard
            .run(Safety::Idempotent, |attempt| {
                let new = &new;
                async move {
                    if postgres {
                        self.append_postgres(attempt, user, conversation_id, message_id, new, now).await
                    } else {
                        self.append_once(attempt, user, conversation_id, message_id, new, now).await
                    }
                }
            })
            .await?;
        if outcome.is_some() {
            fence(self.replica.as_ref()).await;
        }
        match outcome {
            None => Ok(None),
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(stored)) => from_message(stored).map(Some),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, order = query.order.as_str(), limit = query.limit))]
    async fn messages(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Option<Page<Message, MessageCursor>>, RepositoryError> {
        let Some((rows, cut)) = read(&self.guard, &self.db, self.replica.as_ref(), |db| async move {
            self.message_rows(&db, user, conversation_id, query).await
        })
        .await?
        else {
            return Ok(None);
        };
        let rows = rows.messages()?;
        let order = query.order;
        let cursor_of = |m: &Message| MessageCursor { order, created_at: m.created_at, id: m.id };
        // A cut read holds one row past the page, like an overfetch.
        let limit = if cut { u64::try_from(rows.len() - 1).unwrap_or(query.limit) } else { query.limit };
        Ok(Some(Page::from_overfetch(rows, Ord::min(limit, query.limit), cursor_of)))
    }
}
