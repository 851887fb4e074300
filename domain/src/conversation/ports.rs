//! What the conversation service needs from storage.

use super::model::{
    Conversation, ConversationCursor, ConversationListQuery, Message, MessageCursor, MessageListQuery, NewMessage,
};
use crate::error::RepositoryError;
use crate::page::Page;
use crate::user::UserId;
use crate::{DeleteOutcome, UpdateOutcome};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Storage of conversations and messages, scoped to one user: another user's conversation
/// behaves exactly like a missing one.
#[async_trait::async_trait]
pub trait ConversationRepository: Send + Sync + std::fmt::Debug {
    async fn insert(&self, conversation: &Conversation) -> Result<(), RepositoryError>;

    /// For a client to read: it may come from a read replica that holds every write
    /// acknowledged so far.
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError>;

    /// As the primary holds it now: for a write that depends on it.
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Conversation>, RepositoryError>;

    /// A page in most-recent-activity order, summaries included, in one query.
    async fn list(
        &self,
        user: &UserId,
        query: &ConversationListQuery,
    ) -> Result<Page<Conversation, ConversationCursor>, RepositoryError>;

    /// Sets the title if the version matches (when given).
    async fn set_title(
        &self,
        user: &UserId,
        id: Uuid,
        title: Option<String>,
        expected_version: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome<Conversation>, RepositoryError>;

    /// Deletes the conversation and, through the foreign key, its messages, if its version is
    /// still `expected_version` (when given).
    async fn delete(
        &self,
        user: &UserId,
        id: Uuid,
        expected_version: Option<i32>,
    ) -> Result<DeleteOutcome, RepositoryError>;

    /// Appends a message in one transaction: locks the conversation, times the message at
    /// `now` or just after the conversation's last message (whichever is later, so each
    /// conversation's messages are strictly ordered by time in commit order), inserts it and
    /// moves `message_count`, `last_message_at` and `updated_at`. `None`: no such conversation.
    async fn append(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        message_id: Uuid,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, RepositoryError>;

    /// A page of a conversation's messages; `None`: no such conversation.
    async fn messages(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Option<Page<Message, MessageCursor>>, RepositoryError>;
}
