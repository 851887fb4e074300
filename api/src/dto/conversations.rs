//! Conversation and message requests and responses.

use super::{optional_timestamp, timestamp};
use crate::extract::ObjectReader;
use domain::ValidationErrors;
use domain::conversation::{Conversation, ConversationPatch, Message, MessageRole, NewConversation, NewMessage};
use serde::Serialize;
use serde_json::Value;

const CONVERSATION_SERVER_OWNED: &[&str] =
    &["id", "user_id", "version", "created_at", "updated_at", "message_count", "last_message_at"];
const MESSAGE_SERVER_OWNED: &[&str] = &["id", "conversation_id", "created_at"];
const ROLES: &[&str] = &["user", "assistant", "system", "tool"];

/// `POST /api/v1/conversations`: `{"title"?}`; an empty body is allowed.
pub fn new_conversation(body: Option<Value>) -> Result<NewConversation, ValidationErrors> {
    let Some(body) = body else { return NewConversation::parse(None) };
    let mut reader = ObjectReader::new(body)?;
    let title = reader.nullable::<String>("title", "a string");
    let errors = reader.finish(CONVERSATION_SERVER_OWNED);
    let title = errors.into_result(title)?;
    NewConversation::parse(title.flatten())
}

/// `PATCH /api/v1/conversations/{id}`: a merge patch of the title.
pub fn conversation_patch(body: Value) -> Result<ConversationPatch, ValidationErrors> {
    let mut reader = ObjectReader::new(body)?;
    let title = reader.nullable::<String>("title", "a string");
    let errors = reader.finish(CONVERSATION_SERVER_OWNED);
    ConversationPatch::parse(errors.into_result(title)?)
}

/// `POST /api/v1/conversations/{id}/messages`.
pub fn new_message(body: Value) -> Result<NewMessage, ValidationErrors> {
    let mut reader = ObjectReader::new(body)?;
    let role = reader.required::<String>("role", "a string");
    let role = reader.parse_with("role", role, MessageRole::parse, ROLES);
    let content: Option<String> = reader.required("content", "a string");
    let metadata = reader.nullable::<serde_json::Map<String, Value>>("metadata", "a JSON object");
    let mut errors = reader.finish(MESSAGE_SERVER_OWNED);
    let (Some(role), Some(content)) = (role, content) else {
        return Err(errors);
    };
    match NewMessage::parse(role, content, metadata.flatten()) {
        Ok(message) => errors.into_result(message),
        Err(rules) => {
            for e in rules.iter() {
                errors.add(e.field.clone(), e.code.clone(), e.message.clone());
            }
            Err(errors)
        }
    }
}

/// A conversation as the API returns it.
#[derive(Debug, Serialize)]
pub struct ConversationResponse {
    pub id: uuid::Uuid,
    pub title: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub message_count: i64,
    pub last_message_at: Option<String>,
}

impl From<&Conversation> for ConversationResponse {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id,
            title: c.title.clone(),
            created_at: timestamp(&c.created_at),
            updated_at: timestamp(&c.updated_at),
            message_count: c.message_count,
            last_message_at: optional_timestamp(&c.last_message_at),
        }
    }
}

/// A message as the API returns it.
#[derive(Debug, Serialize)]
pub struct MessageResponse {
    pub id: uuid::Uuid,
    pub conversation_id: uuid::Uuid,
    pub role: MessageRole,
    pub content: String,
    pub metadata: Option<serde_json::Map<String, Value>>,
    pub created_at: String,
}

impl From<&Message> for MessageResponse {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            role: m.role,
            content: m.content.clone(),
            metadata: m.metadata.clone(),
            created_at: timestamp(&m.created_at),
        }
    }
}

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &ValidationErrors) -> Vec<String> {
        errors.iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn a_message_needs_a_known_role_and_content() {
        assert!(new_message(json!({"role": "user", "content": "hi"})).is_ok());
        let errors = new_message(json!({"role": "robot", "metadata": [1], "id": "x"})).expect_err("invalid");
        assert_eq!(fields(&errors), ["role:one_of", "content:required", "metadata:type", "id:read_only"]);
        let errors = new_message(json!({"role": "user", "content": ""})).expect_err("empty");
        assert_eq!(fields(&errors), ["content:length"]);
    }

    #[test]
    fn metadata_may_be_null_or_an_object() {
        assert!(new_message(json!({"role": "tool", "content": "x", "metadata": null})).is_ok());
        assert!(new_message(json!({"role": "tool", "content": "x", "metadata": {"a": [1]}})).is_ok());
        assert!(new_message(json!({"role": "tool", "content": "x", "metadata": "s"})).is_err());
    }

    #[test]
    fn a_conversation_title_is_optional() {
        assert!(new_conversation(None).is_ok());
        assert!(new_conversation(Some(json!({}))).is_ok());
        assert!(new_conversation(Some(json!({"title": null}))).is_ok());
        assert_eq!(fields(&new_conversation(Some(json!({"title": ""}))).expect_err("blank")), ["title:length"]);
        assert_eq!(
            fields(&new_conversation(Some(json!({"message_count": 3}))).expect_err("owned")),
            ["message_count:read_only"]
        );
    }
}
