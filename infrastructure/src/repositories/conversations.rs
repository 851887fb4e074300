//! Conversations in `conversations`, messages in `messages`.

use super::records::{self, ConversationRow, CreatedAt, MessageRow};
use super::{fence, read};
use crate::Database;
use crate::database::executor::{self, DbError, Pool};
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use chrono::{DateTime, Duration, Utc};
use domain::conversation::{
    Conversation, ConversationCursor, ConversationListQuery, ConversationRepository, Message, MessageCursor,
    MessageListQuery, MessageOrder, NewMessage,
};
use domain::{DeleteOutcome, Page, RepositoryError, UpdateOutcome, UserId};
use entity::{conversation, message};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, Query, SelectStatement, UpdateStatement, WithClause,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, Statement,
};
use std::sync::Arc;
use uuid::Uuid;

/// The conversation repository, over the traffic pool, reading from the read replica where it
/// may (see `database::replica`).
#[derive(Clone, Debug)]
pub struct SeaConversationRepository {
    pool: Pool,
    guard: Arc<Guard>,
    replica: Option<Replica>,
}

impl SeaConversationRepository {
    pub fn new(database: &Database) -> Self {
        Self { pool: database.pool().clone(), guard: database.guard().clone(), replica: database.replica() }
    }

    /// The statements of a page of conversations and of a page of messages, as sent: what
    /// a test runs `EXPLAIN` on to hold the list queries to their indexes.
    #[doc(hidden)]
    pub fn page_statements(
        &self,
        user: &UserId,
        conversations: &ConversationListQuery,
        conversation_id: Uuid,
        messages: &MessageListQuery,
    ) -> [Statement; 2] {
        [
            list_statement(self.backend(), user, conversations),
            messages_statement(self.backend(), user, conversation_id, messages),
        ]
    }

    fn backend(&self) -> DbBackend {
        self.pool.backend()
    }
}

fn owned(user: &UserId, id: Uuid) -> sea_orm::Condition {
    sea_orm::Condition::all().add(conversation::Column::Id.eq(id)).add(conversation::Column::UserId.eq(user.as_ref()))
}

/// The user's conversation with this id.
fn find_select(user: &UserId, id: Uuid) -> Select<conversation::Entity> {
    records::select::<conversation::Entity, ConversationRow>().filter(owned(user, id)).limit(1)
}

/// A page of the user's conversations, most recently updated first.
fn list_statement(backend: DbBackend, user: &UserId, query: &ConversationListQuery) -> Statement {
    let mut select = records::select::<conversation::Entity, ConversationRow>()
        .filter(conversation::Column::UserId.eq(user.as_ref()));
    if let Some(after) = query.after {
        let row = Expr::tuple([
            Expr::col((conversation::Entity, conversation::Column::UpdatedAt)),
            Expr::col((conversation::Entity, conversation::Column::Id)),
        ]);
        select = select.filter(row.lt(Expr::tuple([Expr::val(after.updated_at), Expr::val(after.id)])));
    }
    select
        .order_by(conversation::Column::UpdatedAt, Order::Desc)
        .order_by(conversation::Column::Id, Order::Desc)
        .limit(query.limit + 1)
        .build(backend)
}

/// A page of a conversation's messages, if the user owns it: ownership is checked in the
/// same statement; only an empty page costs a second one.
fn messages_statement(backend: DbBackend, user: &UserId, conversation_id: Uuid, query: &MessageListQuery) -> Statement {
    let order = if query.order == MessageOrder::Asc { Order::Asc } else { Order::Desc };
    let mut select = records::select::<message::Entity, MessageRow>()
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
    select
        .order_by(message::Column::CreatedAt, order.clone())
        .order_by(message::Column::Id, order)
        .limit(query.limit + 1)
        .build(backend)
}

/// The message with this id, as a [`MessageRow`].
fn message_by_id(id: Uuid) -> Select<message::Entity> {
    records::select::<message::Entity, MessageRow>().filter(message::Column::Id.eq(id)).limit(1)
}

/// `column + 1 microsecond` if the conversation's last message is at or after `now`, else
/// `now`: a new message's time, strictly after the previous one even if this clock lags
/// another instance's.
fn next_message_time(now: DateTime<Utc>) -> Expr {
    let last = Expr::col(conversation::Column::LastMessageAt);
    Expr::case(last.clone().gte(now), last.add(Expr::cust("interval '1 microsecond'"))).finally(now).into()
}

/// Appending on PostgreSQL in one statement, atomic by itself: the UPDATE takes the
/// conversation's row lock (so concurrent appends take turns), moves its counters and returns
/// the message's time; the INSERT uses that time. No row updated (no such conversation for
/// this user) means nothing inserted.
///
/// ```sql
/// WITH conversation AS (
///     UPDATE conversations SET message_count = message_count + 1,
///         last_message_at = <next time>, updated_at = <next time>
///     WHERE id = $1 AND user_id = $2 RETURNING last_message_at)
/// INSERT INTO messages (id, conversation_id, role, content, metadata, created_at)
/// SELECT $3, $1, $4, $5, $6, conversation.last_message_at FROM conversation
/// RETURNING created_at
/// ```
fn append_postgres(
    user: &UserId,
    conversation_id: Uuid,
    draft: &Message,
    now: DateTime<Utc>,
) -> Result<Statement, DbError> {
    let cte = Alias::new("conversation");
    let update = UpdateStatement::new()
        .table(conversation::Entity)
        .value(conversation::Column::MessageCount, Expr::col(conversation::Column::MessageCount).add(1))
        .value(conversation::Column::LastMessageAt, next_message_time(now))
        .value(conversation::Column::UpdatedAt, next_message_time(now))
        .and_where(conversation::Column::Id.eq(conversation_id))
        .and_where(conversation::Column::UserId.eq(user.as_ref()))
        .returning_col(conversation::Column::LastMessageAt)
        .to_owned();
    let values = SelectStatement::new()
        .expr(Expr::val(draft.id))
        .expr(Expr::val(conversation_id))
        .expr(Expr::val(draft.role.as_str()))
        .expr(Expr::val(draft.content.as_str()))
        .expr(Expr::val(draft.metadata.clone().map(serde_json::Value::Object)))
        .expr(Expr::col((cte.clone(), conversation::Column::LastMessageAt)))
        .from(cte.clone())
        .to_owned();
    let insert = Query::insert()
        .into_table(message::Entity)
        .columns([
            message::Column::Id,
            message::Column::ConversationId,
            message::Column::Role,
            message::Column::Content,
            message::Column::Metadata,
            message::Column::CreatedAt,
        ])
        .select_from(values)
        .map_err(|e| DbError::Encode(Box::new(e)))?
        .returning(records::returning::<CreatedAt>())
        .to_owned();
    let with = WithClause::new().cte(CommonTableExpression::new().query(update).table_name(cte).to_owned()).to_owned();
    Ok(DbBackend::Postgres.build(&with.query(insert)))
}

/// What one attempt at appending found.
enum Appended {
    /// No such conversation for this user.
    NoConversation,
    /// The message, as this attempt wrote it.
    New(Message),
    /// The message an earlier attempt of this call wrote.
    Earlier(MessageRow),
}

impl SeaConversationRepository {
    /// One attempt at appending on PostgreSQL (see [`append_postgres`]). A retry whose
    /// message id already exists finds the first attempt's message: the statement is atomic, so
    /// the duplicate aborted it whole, counters included.
    async fn append_on_postgres(
        &self,
        attempt: u32,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        new: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Appended, DbError> {
        let draft = new.clone().into_message(message_id, conversation_id, now);
        let statement = append_postgres(user, conversation_id, &draft, now)?;
        match self.pool.fetch_optional::<CreatedAt>(statement).await {
            Ok(None) => Ok(Appended::NoConversation),
            Ok(Some(CreatedAt { created_at })) => Ok(Appended::New(Message { created_at, ..draft })),
            Err(error) if attempt > 1 && error.is_unique_violation() => {
                let stored = self.pool.fetch_optional(message_by_id(message_id).build(DbBackend::Postgres)).await?;
                Ok(stored.map_or(Appended::NoConversation, Appended::Earlier))
            }
            Err(error) => Err(error),
        }
    }

    /// One attempt at appending on SQLite, whose CTEs cannot write: a transaction that starts
    /// as the single writer.
    async fn append_on_sqlite(
        &self,
        attempt: u32,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        new: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Appended, DbError> {
        let backend = self.backend();
        let mut txn = self.pool.begin_write().await?;
        // BEGIN IMMEDIATE made this the only writer, so nothing moves the conversation under us.
        let Some(current) =
            txn.fetch_optional::<ConversationRow>(find_select(user, conversation_id).build(backend)).await?
        else {
            txn.rollback().await?;
            return Ok(Appended::NoConversation);
        };
        // On a retry, the first attempt may have committed: the message id is ours.
        if attempt > 1
            && let Some(stored) = txn.fetch_optional::<MessageRow>(message_by_id(message_id).build(backend)).await?
        {
            txn.rollback().await?;
            return Ok(Appended::Earlier(stored));
        }
        // Strictly after the previous message, even if this clock lags another instance's.
        let at = match current.last_message_at {
            Some(last) if last >= now => last + Duration::microseconds(1),
            _ => now,
        };
        let message = new.clone().into_message(message_id, conversation_id, at);
        let insert = message::Entity::insert(message::ActiveModel {
            id: Set(message.id),
            conversation_id: Set(message.conversation_id),
            role: Set(message.role.as_str().to_owned()),
            content: Set(message.content.clone()),
            metadata: Set(message.metadata.clone().map(serde_json::Value::Object)),
            created_at: Set(message.created_at),
        });
        txn.execute(insert.build(backend)).await?;
        let counters = conversation::Entity::update_many()
            .col_expr(conversation::Column::MessageCount, Expr::col(conversation::Column::MessageCount).add(1))
            .col_expr(conversation::Column::LastMessageAt, Expr::val(at))
            .col_expr(conversation::Column::UpdatedAt, Expr::val(at))
            .filter(conversation::Column::Id.eq(conversation_id));
        txn.execute(counters.build(backend)).await?;
        txn.commit().await?;
        Ok(Appended::New(message))
    }

    async fn message_rows(
        &self,
        db: &Pool,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Option<(Vec<MessageRow>, bool)>, DbError> {
        let statement = messages_statement(db.backend(), user, conversation_id, query);
        // Messages may be 100,000 characters each: reading stops at a page's worth of text,
        // with at least two rows held, so the page cut from them has one row and knows that
        // more remain.
        let mut held = 0_usize;
        let (rows, cut) = db
            .fetch_until(executor::Query::from(statement).expecting(query.limit + 1), |rows: &[MessageRow]| {
                held += rows.last().map_or(0, |m| m.content.len());
                held > domain::MAX_PAGE_BYTES && rows.len() >= 2
            })
            .await?;
        if rows.is_empty()
            && db
                .fetch_optional::<ConversationRow>(find_select(user, conversation_id).build(db.backend()))
                .await?
                .is_none()
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
        let insert = conversation::Entity::insert(conversation::ActiveModel {
            id: Set(c.id),
            user_id: Set(c.user_id.as_ref().to_owned()),
            title: Set(c.title.clone()),
            message_count: Set(i32::try_from(c.message_count).unwrap_or(i32::MAX)),
            last_message_at: Set(c.last_message_at),
            created_at: Set(c.created_at),
            updated_at: Set(c.updated_at),
            version: Set(c.version),
        })
        .build(self.backend());
        self.guard
            .run(Safety::Idempotent, |attempt| {
                let insert = insert.clone();
                async move {
                    match self.pool.execute(insert).await {
                        // The id is ours: a duplicate on a retry means the first attempt committed.
                        Err(error) if attempt > 1 && error.is_unique_violation() => Ok(()),
                        other => other.map(drop),
                    }
                }
            })
            .await?;
        fence(self.replica.as_ref()).await;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError> {
        let found = read(&self.guard, &self.pool, self.replica.as_ref(), |db| {
            let select = find_select(user, id).build(self.backend());
            async move { db.fetch_optional::<ConversationRow>(select).await }
        })
        .await?;
        found.map(Conversation::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError> {
        let found = self
            .guard
            .run(Safety::Read, |_| {
                self.pool.fetch_optional::<ConversationRow>(find_select(user, id).build(self.backend()))
            })
            .await?;
        found.map(Conversation::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, limit = query.limit))]
    async fn list(
        &self,
        user: &UserId,
        query: &ConversationListQuery,
    ) -> Result<Page<Conversation, ConversationCursor>, RepositoryError> {
        let rows = read(&self.guard, &self.pool, self.replica.as_ref(), |db| {
            let select = list_statement(self.backend(), user, query);
            async move { db.fetch_all::<ConversationRow>(select).await }
        })
        .await?;
        let rows = rows.into_iter().map(Conversation::try_from).collect::<Result<Vec<_>, _>>()?;
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
                let update = update.into_query().returning(records::returning::<ConversationRow>()).to_owned();
                self.pool.fetch_optional::<ConversationRow>(self.backend().build(&update))
            })
            .await?;
        if let Some(row) = rows {
            fence(self.replica.as_ref()).await;
            return Ok(UpdateOutcome::Updated(Conversation::try_from(row)?));
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
                self.pool.execute(delete.build(self.backend()))
            })
            .await?;
        if result == 1 {
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
        let postgres = self.backend() == DbBackend::Postgres;
        let outcome = self
            .guard
            .run(Safety::Idempotent, |attempt| {
                let new = &new;
                async move {
                    if postgres {
                        self.append_on_postgres(attempt, user, conversation_id, message_id, new, now).await
                    } else {
                        self.append_on_sqlite(attempt, user, conversation_id, message_id, new, now).await
                    }
                }
            })
            .await?;
        match outcome {
            Appended::NoConversation => Ok(None),
            Appended::New(message) => {
                fence(self.replica.as_ref()).await;
                Ok(Some(message))
            }
            Appended::Earlier(stored) => {
                fence(self.replica.as_ref()).await;
                Message::try_from(stored).map(Some)
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, order = query.order.as_str(), limit = query.limit))]
    async fn messages(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Option<Page<Message, MessageCursor>>, RepositoryError> {
        let Some((rows, cut)) = read(&self.guard, &self.pool, self.replica.as_ref(), |db| async move {
            self.message_rows(&db, user, conversation_id, query).await
        })
        .await?
        else {
            return Ok(None);
        };
        let rows = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
        let order = query.order;
        let cursor_of = |m: &Message| MessageCursor { order, created_at: m.created_at, id: m.id };
        // A cut read holds one row past the page, like an overfetch.
        let limit = if cut { u64::try_from(rows.len() - 1).unwrap_or(query.limit) } else { query.limit };
        Ok(Some(Page::from_overfetch(rows, Ord::min(limit, query.limit), cursor_of)))
    }
}
