//! The conversation service.

use super::model::{
    Conversation, ConversationCursor, ConversationListQuery, ConversationPatch, Message, MessageCursor,
    MessageListQuery, NewConversation, NewMessage,
};
use super::ports::ConversationRepository;
use crate::clock::Clock;
use crate::error::{DomainError, Result};
use crate::page::Page;
use crate::user::UserId;
use crate::{DeleteOutcome, UpdateOutcome};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ConversationService {
    repo: Arc<dyn ConversationRepository>,
    clock: Arc<dyn Clock>,
}

impl ConversationService {
    pub fn new(repo: Arc<dyn ConversationRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn create(&self, user: &UserId, new: NewConversation) -> Result<Conversation> {
        let conversation = new.into_conversation(user, Uuid::now_v7(), self.clock.now());
        self.repo.insert(&conversation).await?;
        Ok(conversation)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn get(&self, user: &UserId, id: Uuid) -> Result<Conversation> {
        self.repo.find(user, id).await?.ok_or(DomainError::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn list(
        &self,
        user: &UserId,
        query: &ConversationListQuery,
    ) -> Result<Page<Conversation, ConversationCursor>> {
        Ok(self.repo.list(user, query).await?)
    }

    /// Changes the title; a patch without a title changes nothing.
    #[tracing::instrument(level = "debug", skip(self, patch), fields(user = %user))]
    pub async fn update(
        &self,
        user: &UserId,
        id: Uuid,
        patch: ConversationPatch,
        if_match: Option<i32>,
    ) -> Result<Conversation> {
        let current = self.repo.find_for_update(user, id).await?.ok_or(DomainError::NotFound)?;
        if let Some(expected) = if_match.filter(|v| *v != current.version) {
            return Err(DomainError::PreconditionFailed { expected, current: current.version });
        }
        let Some(title) = patch.title().map(|t| t.map(str::to_owned)).filter(|t| *t != current.title) else {
            return Ok(current);
        };
        let expected = if_match.or(Some(current.version));
        match self.repo.set_title(user, id, title.clone(), expected, self.clock.now()).await? {
            UpdateOutcome::NotFound => Err(DomainError::NotFound),
            UpdateOutcome::Updated(updated) => Ok(updated),
            // Someone else changed it in between: with If-Match that is a failed precondition;
            // without, the title change still applies to the newer version.
            UpdateOutcome::VersionMismatch { current } => match if_match {
                Some(expected) => Err(DomainError::PreconditionFailed { expected, current }),
                None => match self.repo.set_title(user, id, title, None, self.clock.now()).await? {
                    UpdateOutcome::Updated(updated) => Ok(updated),
                    UpdateOutcome::NotFound | UpdateOutcome::VersionMismatch { .. } => Err(DomainError::NotFound),
                },
            },
        }
    }

    /// Deletes a conversation and its messages; with `if_match`, only that version of it.
    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn delete(&self, user: &UserId, id: Uuid, if_match: Option<i32>) -> Result<()> {
        match self.repo.delete(user, id, if_match).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(DomainError::NotFound),
            DeleteOutcome::VersionMismatch { current } => {
                Err(DomainError::PreconditionFailed { expected: if_match.unwrap_or_default(), current })
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self, message), fields(user = %user))]
    pub async fn append(&self, user: &UserId, conversation_id: Uuid, message: NewMessage) -> Result<Message> {
        self.repo
            .append(user, conversation_id, Uuid::now_v7(), message, self.clock.now())
            .await?
            .ok_or(DomainError::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn messages(
        &self,
        user: &UserId,
        conversation_id: Uuid,
        query: &MessageListQuery,
    ) -> Result<Page<Message, MessageCursor>> {
        self.repo.messages(user, conversation_id, query).await?.ok_or(DomainError::NotFound)
    }
}
