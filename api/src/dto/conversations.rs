//! Conversation and message requests and responses.

use super::body::{self, Field};
use super::{domain_enum_schema, optional_timestamp, timestamp};
use domain::ValidationErrors;
use domain::conversation::{
    Conversation, ConversationPatch, Message, MessageOrder, MessageRole, NewConversation, NewMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

const CONVERSATION_SERVER_OWNED: &[&str] =
    &["id", "user_id", "version", "created_at", "updated_at", "message_count", "last_message_at"];
const MESSAGE_SERVER_OWNED: &[&str] = &["id", "conversation_id", "created_at"];
const ROLES: &[&str] = &["user", "assistant", "system", "tool"];

/// `POST /api/v1/conversations`: `{"title"?}`; an empty body is allowed.
pub fn new_conversation(body: Option<Value>) -> Result<NewConversation, ValidationErrors> {
    match body {
        None => NewConversation::parse(None),
        Some(body) => body::parse::<CreateConversationRequest, NewConversation>(body, CONVERSATION_SERVER_OWNED),
    }
}

/// `PATCH /api/v1/conversations/{id}`: a merge patch of the title.
pub fn conversation_patch(body: Value) -> Result<ConversationPatch, ValidationErrors> {
    body::parse::<ConversationPatchRequest, ConversationPatch>(body, CONVERSATION_SERVER_OWNED)
}

/// `POST /api/v1/conversations/{id}/messages`.
pub fn new_message(body: Value) -> Result<NewMessage, ValidationErrors> {
    body::parse::<NewMessageRequest, NewMessage>(body, MESSAGE_SERVER_OWNED)
}

impl TryFrom<CreateConversationRequest> for NewConversation {
    type Error = ValidationErrors;

    fn try_from(request: CreateConversationRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = request.title.nullable("title", "a string", &mut errors);
        NewConversation::parse(errors.into_result(title)?.flatten())
    }
}

impl TryFrom<ConversationPatchRequest> for ConversationPatch {
    type Error = ValidationErrors;

    fn try_from(request: ConversationPatchRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = request.title.nullable("title", "a string", &mut errors);
        ConversationPatch::parse(errors.into_result(title)?)
    }
}

impl TryFrom<NewMessageRequest> for NewMessage {
    type Error = ValidationErrors;

    fn try_from(request: NewMessageRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let e = &mut errors;
        let role = request.role.required("role", "a string", e);
        let role = body::one_of("role", role, MessageRole::parse, ROLES, e);
        let content = request.content.required("content", "a string", e);
        let metadata = request.metadata.nullable("metadata", "a JSON object", e);
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
}

domain_enum_schema!(
    /// `MessageRole` in the document, from [`MessageRole::ALL`].
    MessageRoleSchema as "MessageRole" = MessageRole::ALL.map(MessageRole::as_str),
    "Who wrote a message."
);
domain_enum_schema!(
    /// The `order` values of the message list.
    MessageOrderSchema as "MessageOrder" = [MessageOrder::Asc, MessageOrder::Desc].map(MessageOrder::as_str),
    "Message list order by `(created_at, id)`, which is commit order: `asc` (oldest first, the default) or `desc`."
);

fn create_title() -> utoipa::openapi::schema::Object {
    super::title_schema("`null` (or absent) for no title, else 1-200 characters after trimming. No U+0000.", true)
}

fn patch_title() -> utoipa::openapi::schema::Object {
    super::title_schema("1-200 characters after trimming; `null` clears it. No U+0000.", true)
}

/// The body of `POST /api/v1/conversations`. The body itself may be empty (no
/// `Content-Type` needed then), which is the same as `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversationRequest {
    #[serde(default)]
    #[schema(schema_with = create_title)]
    pub title: Field<String>,
}

/// The body of `PATCH /api/v1/conversations/{id}`: a JSON merge patch. An absent `title`
/// changes nothing; `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatchRequest {
    #[serde(default)]
    #[schema(schema_with = patch_title)]
    pub title: Field<String>,
}

/// The body of `POST /api/v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    #[serde(default)]
    #[schema(value_type = MessageRoleSchema, required = true)]
    pub role: Field<String>,
    /// 1-100,000 characters (not bytes). No U+0000.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100_000, pattern = r"^[^\u0000]*$")]
    pub content: Field<String>,
    /// `null` or a JSON object of at most 16 KiB (16,384 bytes) as compact JSON, with no U+0000 in
    /// any key or string; anything else is a 422 on `metadata` (code `type`, `size` when too
    /// large, `format` for U+0000).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Field<serde_json::Map<String, Value>>,
}

/// A conversation as the API returns it; `ETag: "<version>"` accompanies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationResponse {
    /// A UUID v7 made by the server.
    pub id: uuid::Uuid,
    /// `null` when untitled.
    #[schema(required = true)]
    pub title: Option<String>,
    /// RFC 3339 in UTC with a `Z` suffix and microsecond precision, like every timestamp the API returns.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Moves to a new message's time when one is appended.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Kept in the conversation row by the append transaction.
    #[schema(minimum = 0)]
    pub message_count: i64,
    /// `null` until the first message.
    #[schema(required = true, format = DateTime)]
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
// It borrows the message: a page of them serialises without copying a string.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse<'a> {
    /// A UUID v7 made by the server.
    pub id: uuid::Uuid,
    pub conversation_id: uuid::Uuid,
    #[schema(value_type = MessageRoleSchema)]
    pub role: MessageRole,
    #[schema(value_type = String)]
    pub content: &'a str,
    #[schema(required = true, value_type = Option<Object>)]
    pub metadata: Option<&'a serde_json::Map<String, Value>>,
    /// The server's clock, or one microsecond after the conversation's previous message,
    /// whichever is later: messages are in commit order by `(created_at, id)`.
    #[serde(serialize_with = "super::serialize_timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> From<&'a Message> for MessageResponse<'a> {
    fn from(m: &'a Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            role: m.role,
            content: &m.content,
            metadata: m.metadata.as_ref(),
            created_at: m.created_at,
        }
    }
}

/// A page of conversations, most recent activity (`updated_at`) first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationResponse>,
    /// Opaque; pass it as `cursor` for the next page. `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage<'a> {
    pub items: Vec<MessageResponse<'a>>,
    /// Opaque; pass it as `cursor` (with the same `order`) for the next page. `null` on the last page.
    #[schema(required = true)]
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

    mod documented_schemas {
        use super::*;
        use crate::dto::doc_tests::{assert_schema_matches_parser, schema_of};

        #[test]
        fn the_create_schema_is_what_the_parser_accepts() {
            assert_schema_matches_parser(
                &schema_of::<CreateConversationRequest>(),
                body::declared_fields::<CreateConversationRequest>(),
                |body| new_conversation(Some(body)),
                |e| e,
                json!({}),
                json!({"title": "t"}),
            );
        }

        #[test]
        fn the_patch_schema_is_what_the_parser_accepts() {
            assert_schema_matches_parser(
                &schema_of::<ConversationPatchRequest>(),
                body::declared_fields::<ConversationPatchRequest>(),
                conversation_patch,
                |e| e,
                json!({}),
                json!({"title": "t"}),
            );
        }

        #[test]
        fn the_message_schema_is_what_the_parser_accepts() {
            assert_schema_matches_parser(
                &schema_of::<NewMessageRequest>(),
                body::declared_fields::<NewMessageRequest>(),
                new_message,
                |e| e,
                json!({"role": "user", "content": "hi"}),
                json!({"role": "tool", "content": "hi", "metadata": {"k": [1]}}),
            );
            for role in schema_of::<MessageRoleSchema>()["enum"].as_array().expect("roles") {
                assert!(new_message(json!({"role": role, "content": "x"})).is_ok(), "{role}");
            }
            assert_eq!(domain::conversation::METADATA_MAX_BYTES, 16 * 1024, "the limit NewMessageRequest documents");
        }
    }
}
