//! Conversations, messages and the rules for writing them.

use crate::task::input::Title;
use crate::validation::{NUL_MESSAGE, ValidationErrors, find_nul, no_nul};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::Validate;

/// The largest `metadata` object accepted, serialised as compact JSON.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

/// A conversation with the summary of its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: Uuid,
    pub user_id: crate::UserId,
    pub title: Option<String>,
    pub message_count: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// A new conversation: an optional [`Title`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewConversation {
    title: Option<Title>,
}

impl NewConversation {
    pub fn parse(title: Option<String>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = match title.map(|t| Title::parse(&t)) {
            Some(Err(broken)) => {
                broken.report("title", &mut errors);
                None
            }
            other => other.and_then(Result::ok),
        };
        errors.into_result(Self { title })
    }

    pub fn into_conversation(self, user: &crate::UserId, id: Uuid, now: DateTime<Utc>) -> Conversation {
        Conversation {
            id,
            user_id: user.clone(),
            title: self.title.map(Title::into_string),
            message_count: 0,
            last_message_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A checked change of title (a [`Title`], or `null` to clear it); only
/// [`ConversationPatch::parse`] makes one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversationPatch {
    title: Option<Option<Title>>,
}

impl ConversationPatch {
    /// `None` leaves the title as it is, `Some(None)` clears it.
    pub fn parse(title: Option<Option<String>>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = match title {
            Some(Some(raw)) => Title::parse(&raw).map_err(|b| b.report("title", &mut errors)).ok().map(Some),
            other => other.map(|_| None),
        };
        errors.into_result(Self { title })
    }

    /// The title to set: `None` to leave it, `Some(None)` to clear it.
    pub fn title(&self) -> Option<Option<&str>> {
        self.title.as_ref().map(|t| t.as_ref().map(Title::as_str))
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
    System,
    Tool,
}

impl MessageRole {
    pub const ALL: [Self; 4] = [Self::User, Self::Assistant, Self::System, Self::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
            Self::Tool => "tool",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// A message as stored and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: MessageRole,
    pub content: String,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub created_at: DateTime<Utc>,
}

/// A message to append, checked: content of 1–100,000 characters, metadata an object of at
/// most [`METADATA_MAX_BYTES`].
#[derive(Clone, Debug, PartialEq, Validate)]
pub struct NewMessage {
    role: MessageRole,
    #[validate(
        length(min = 1, max = 100_000, message = "must have 1 to 100000 characters"),
        custom(function = "no_nul")
    )]
    content: String,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl NewMessage {
    pub fn parse(
        role: MessageRole,
        content: String,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Self, ValidationErrors> {
        let new = Self { role, content, metadata };
        let mut errors: ValidationErrors = new.validate().err().map(Into::into).unwrap_or_default();
        if let Some(metadata) = &new.metadata {
            let size = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > METADATA_MAX_BYTES {
                errors.add("metadata", "size", format!("must be at most {METADATA_MAX_BYTES} bytes as JSON"));
            } else if let Some(at) = metadata.iter().find_map(|(k, v)| {
                let path = format!("metadata.{k}");
                if k.contains('\0') { Some(path) } else { find_nul(v, &path) }
            }) {
                errors.add("metadata", "format", format!("{NUL_MESSAGE} (found at {at})"));
            }
        }
        errors.into_result(new)
    }

    /// The message, timed at `at` (which the repository chooses; see the port).
    pub fn into_message(self, id: Uuid, conversation_id: Uuid, at: DateTime<Utc>) -> Message {
        Message { id, conversation_id, role: self.role, content: self.content, metadata: self.metadata, created_at: at }
    }
}

/// Position after a conversation in most-recent-activity order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationCursor {
    pub updated_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationListQuery {
    pub limit: u64,
    pub after: Option<ConversationCursor>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageOrder {
    Asc,
    Desc,
}

impl MessageOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// Position after a message in `(created_at, id)` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageCursor {
    pub order: MessageOrder,
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageListQuery {
    pub order: MessageOrder,
    pub limit: u64,
    pub after: Option<MessageCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_are_optional_trimmed_and_bounded() {
        assert!(NewConversation::parse(None).is_ok());
        assert_eq!(
            NewConversation::parse(Some(" hi ".into())).expect("valid").title.map(Title::into_string).as_deref(),
            Some("hi")
        );
        assert!(NewConversation::parse(Some("  ".into())).is_err());
        assert!(NewConversation::parse(Some("é".repeat(200))).is_ok());
        assert!(NewConversation::parse(Some("é".repeat(201))).is_err());
        assert!(ConversationPatch::parse(Some(None)).is_ok());
        assert!(ConversationPatch::parse(Some(Some(String::new()))).is_err());
    }

    #[test]
    fn content_has_one_to_100000_characters() {
        assert!(NewMessage::parse(MessageRole::User, String::new(), None).is_err());
        assert!(NewMessage::parse(MessageRole::User, "ü".repeat(100_000), None).is_ok());
        assert!(NewMessage::parse(MessageRole::User, "x".repeat(100_001), None).is_err());
    }

    #[test]
    fn metadata_is_bounded_in_bytes() {
        let small = json!({"model": "m", "tokens": 12}).as_object().cloned();
        assert!(NewMessage::parse(MessageRole::Tool, "x".into(), small).is_ok());
        let big = json!({"blob": "x".repeat(METADATA_MAX_BYTES)}).as_object().cloned();
        let errors = NewMessage::parse(MessageRole::Tool, "x".into(), big).expect_err("too big");
        assert_eq!(errors.iter().next().map(|e| e.code.as_str()), Some("size"));
    }

    #[test]
    fn nul_is_refused_in_titles_content_and_metadata() {
        assert!(NewConversation::parse(Some("a\0".into())).is_err());
        let errors = ConversationPatch::parse(Some(Some("\0".into()))).expect_err("nul");
        assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["format"]);
        let errors = NewMessage::parse(MessageRole::User, "hi\0".into(), None).expect_err("nul");
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect::<Vec<_>>(),
            [("content", "format")]
        );
        let metadata = json!({"tool": {"args": ["ok", "bad\u{0}"]}}).as_object().cloned();
        let errors = NewMessage::parse(MessageRole::Tool, "x".into(), metadata).expect_err("nul");
        let error = errors.iter().next().expect("one error");
        assert_eq!((error.field.as_str(), error.code.as_str()), ("metadata", "format"));
        assert!(error.message.contains("metadata.tool.args[1]"), "{}", error.message);
    }

    #[test]
    fn roles_parse() {
        for role in MessageRole::ALL {
            assert_eq!(MessageRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(MessageRole::parse("robot"), None);
    }
}
