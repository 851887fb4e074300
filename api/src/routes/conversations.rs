//! `/api/v1/conversations` and their messages.

use crate::auth::Caller;
use crate::dto::conversations::{
    self as dto, ConversationPage, ConversationPatchRequest, ConversationResponse, MessageOrderSchema, MessagePage,
    MessageResponse, NewMessageRequest,
};
use crate::dto::cursor;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, QueryParams, if_match, limit, parse_query, path_id};
use crate::openapi::responses::{
    BadRequest, DatabaseUnavailable, Internal, NotFound, PayloadTooLarge, PreconditionFailed, Unauthorized,
    UnsupportedMediaType, ValidationFailed,
};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::conversation::{
    Conversation, ConversationCursor, ConversationListQuery, ConversationService, Message, MessageCursor,
    MessageListQuery, MessageOrder,
};
use utoipa::IntoParams;

fn conversation_response(status: StatusCode, conversation: &Conversation) -> HttpResponse {
    let mut response = HttpResponse::build(status).json(ConversationResponse::from(conversation));
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", conversation.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The query parameters of `GET /api/v1/conversations`, as the document shows them and the
/// route reads them.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationListParams {
    /// Page size, 1-100.
    #[param(value_type = u8, required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u64>,
    /// Opaque: the `next_cursor` of the previous page.
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

impl QueryParams for ConversationListParams {
    fn take(&mut self, name: &str, value: String, errors: &mut domain::ValidationErrors) -> bool {
        match name {
            "limit" => self.limit = limit(&value, errors),
            "cursor" => self.cursor = Some(value),
            _ => return false,
        }
        true
    }
}

impl ConversationListParams {
    /// The domain's query; `errors` are the parameters' own (a cursor that does not decode is
    /// added).
    fn into_query(self, mut errors: domain::ValidationErrors) -> Result<ConversationListQuery, ApiError> {
        let after = self.cursor.and_then(|raw| {
            cursor::decode_conversation(&raw).map_err(|e| errors.add("cursor", "invalid", e.to_string())).ok()
        });
        let limit = self.limit.unwrap_or(domain::page::LIMIT_DEFAULT);
        errors.into_result(ConversationListQuery { limit, after }).map_err(bad_query)
    }
}

/// The query parameters of `GET /api/v1/conversations/{id}/messages`, as the document shows
/// them and the route reads them.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageListParams {
    /// Page size, 1-100.
    #[param(value_type = u8, required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u64>,
    /// Opaque: the `next_cursor` of the previous page, with the same `order`.
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
    /// `asc` (oldest first, the default) or `desc`.
    #[param(value_type = MessageOrderSchema, required = false, default = "asc")]
    pub order: Option<MessageOrder>,
}

impl QueryParams for MessageListParams {
    fn take(&mut self, name: &str, value: String, errors: &mut domain::ValidationErrors) -> bool {
        match name {
            "limit" => self.limit = limit(&value, errors),
            "cursor" => self.cursor = Some(value),
            "order" => match value.as_str() {
                "asc" => self.order = Some(MessageOrder::Asc),
                "desc" => self.order = Some(MessageOrder::Desc),
                _ => errors.add("order", "one_of", "must be asc or desc"),
            },
            _ => return false,
        }
        true
    }
}

impl MessageListParams {
    /// The domain's query; `errors` are the parameters' own (a cursor that does not decode, or
    /// belongs to the other order, is added).
    fn into_query(self, mut errors: domain::ValidationErrors) -> Result<MessageListQuery, ApiError> {
        let order = self.order.unwrap_or(MessageOrder::Asc);
        let after = self.cursor.and_then(|raw| {
            cursor::decode_message(&raw, order).map_err(|e| errors.add("cursor", "invalid", e.to_string())).ok()
        });
        let limit = self.limit.unwrap_or(domain::page::LIMIT_DEFAULT);
        errors.into_result(MessageListQuery { order, limit, after }).map_err(bad_query)
    }
}

fn bad_query(errors: domain::ValidationErrors) -> ApiError {
    ApiError::BadRequest { detail: "the query string is invalid".into(), errors }
}

/// Create a conversation
///
/// Answers 201 with the conversation, `Location: /api/v1/conversations/{id}` and its `ETag`.
/// The body may be empty (then no `Content-Type` is needed), which is the same as `{}`.
#[utoipa::path(
    post,
    path = "/api/v1/conversations",
    operation_id = "create_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    // A reference rather than the type: the body is optional, but `null` is not a valid one.
    request_body(content = ref("#/components/schemas/CreateConversationRequest"), content_type = "application/json",
        description = "Optional: an empty body creates an untitled conversation. Any `application/*+json` media type is accepted too."),
    responses(
        (status = 201, description = "Created.", body = ConversationResponse, headers(
            ("Location" = String, description = "`/api/v1/conversations/{id}`"),
            ("ETag" = String, description = "`\"<version>\"`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn create(
    caller: Caller,
    service: web::Data<ConversationService>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let new = dto::new_conversation(body.0)?;
    let conversation = service.create(&caller.user, new).await?;
    let mut response = conversation_response(StatusCode::CREATED, &conversation);
    if let Ok(value) = HeaderValue::from_str(&format!("/api/v1/conversations/{}", conversation.id)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// List conversations
///
/// A page of the caller's conversations, most recent activity (`updated_at`) first; each
/// carries `message_count` and `last_message_at` from the same single query. An unknown or
/// repeated parameter, a bad value or a bad cursor is a 400.
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    operation_id = "list_conversations",
    tag = "conversations",
    security(("bearer" = [])),
    params(ConversationListParams),
    responses(
        (status = 200, description = "A page of conversations.", body = ConversationPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn list(
    caller: Caller,
    service: web::Data<ConversationService>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (params, errors) = parse_query::<ConversationListParams>(req.query_string());
    let page = service.list(&caller.user, &params.into_query(errors)?).await?;
    let cursor_of = |c: &Conversation| ConversationCursor { updated_at: c.updated_at, id: c.id };
    let body = crate::dto::page_json(&page, ConversationResponse::from, cursor_of, cursor::encode_conversation);
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

/// Get a conversation
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    operation_id = "get_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The conversation's id. A malformed id answers 404, like a missing conversation or another user's.")),
    responses(
        (status = 200, description = "The conversation.", body = ConversationResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn get(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = service.get(&caller.user, path_id(&id)?).await?;
    Ok(conversation_response(StatusCode::OK, &conversation))
}

/// Update a conversation (JSON merge patch)
///
/// Sets or clears (`null`) the title. A patch that changes nothing leaves `version` and
/// `updated_at` as they were. With `If-Match`, a stale version is a 412 and nothing changes;
/// without it, a patch that races another writer still applies to the newer version.
#[utoipa::path(
    patch,
    path = "/api/v1/conversations/{id}",
    operation_id = "update_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The conversation's id. A malformed id answers 404, like a missing conversation or another user's."),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"",
            description = "`\"<version>\"` (the conversation's `ETag`): the patch applies only to that version, else 412 and nothing changes. `*` or no header: no condition. Anything else is a 400."),
    ),
    request_body(content(
        (ConversationPatchRequest = "application/merge-patch+json"),
        (ConversationPatchRequest = "application/json"),
    ), description = "The merge patch. Any `application/*+json` media type is accepted."),
    responses(
        (status = 200, description = "The conversation after the patch.", body = ConversationResponse, headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn update(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    // A body that could never apply is a 422 whatever version If-Match names.
    let patch = dto::conversation_patch(body.into_value())?;
    let expected = if_match(&req)?;
    let conversation = service.update(&caller.user, id, patch, expected).await?;
    Ok(conversation_response(StatusCode::OK, &conversation))
}

/// Delete a conversation and its messages
///
/// Permanent: the conversation and all its messages are removed. With `If-Match`, only that
/// version of the conversation is deleted: a stale version is a 412 and nothing is removed.
/// Deleting it again is a 404.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}",
    operation_id = "delete_conversation",
    tag = "conversations",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The conversation's id. A malformed id answers 404, like a missing conversation or another user's."),
        ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"",
            description = "`\"<version>\"` (the conversation's `ETag`): the delete applies only to that version, else 412 and nothing changes. `*` or no header: no condition. Anything else is a 400."),
    ),
    responses(
        (status = 204, description = "Deleted, with its messages."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn delete(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    service.delete(&caller.user, id, if_match(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Append a message
///
/// Answers 201 with the message. In the same transaction the conversation's `updated_at`
/// moves to the message's time and its `message_count` and `last_message_at` are updated.
/// Appending locks the conversation, so concurrent appends take turns; each message is timed
/// at the server's clock or one microsecond after the conversation's previous message,
/// whichever is later, so messages are in commit order by `(created_at, id)`.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "append_message",
    tag = "conversations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The conversation's id. A malformed id answers 404, like a missing conversation or another user's.")),
    request_body(content((NewMessageRequest = "application/json")),
        description = "The message. Any `application/*+json` media type is accepted too."),
    responses(
        (status = 201, description = "Appended.", body = MessageResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn append(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let message = dto::new_message(body.into_value())?;
    let message = service.append(&caller.user, id, message).await?;
    Ok(HttpResponse::Created().json(MessageResponse::from(&message)))
}

/// List a conversation's messages
///
/// A page of messages in `(created_at, id)` order, which is commit order: a client paging
/// forward never misses a message that committed late. An unknown or repeated parameter, a
/// bad value or a bad cursor is a 400.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/messages",
    operation_id = "list_messages",
    tag = "conversations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The conversation's id. A malformed id answers 404, like a missing conversation or another user's."), MessageListParams),
    responses(
        (status = 200, description = "A page of messages.", body = MessagePage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn messages(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let (params, errors) = parse_query::<MessageListParams>(req.query_string());
    let query = params.into_query(errors)?;
    let order = query.order;
    let page = service.messages(&caller.user, id, &query).await?;
    let cursor_of = |m: &Message| MessageCursor { order, created_at: m.created_at, id: m.id };
    let body = crate::dto::page_json(&page, MessageResponse::from, cursor_of, cursor::encode_message);
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<P: IntoParams>() -> Vec<String> {
        P::into_params(|| None).into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn the_documented_list_parameters_are_the_ones_the_parser_accepts() {
        assert_eq!(names::<ConversationListParams>(), ["limit", "cursor"]);
        assert_eq!(names::<MessageListParams>(), ["limit", "cursor", "order"]);
        let (_, errors) = parse_query::<ConversationListParams>("limit=5&cursor=x");
        assert!(errors.is_empty(), "{errors:?}");
        let (params, errors) = parse_query::<MessageListParams>("limit=5&cursor=x&order=desc");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(params.order, Some(MessageOrder::Desc));
        let (_, errors) = parse_query::<ConversationListParams>("order=desc");
        assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["unknown_parameter"]);
        let (_, errors) = parse_query::<MessageListParams>("order=up&limit=0&limit=3");
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(found, [("order", "one_of"), ("limit", "range"), ("limit", "repeated")]);
        let orders = serde_json::to_value(<MessageOrderSchema as utoipa::PartialSchema>::schema()).expect("json");
        assert_eq!(orders["enum"], serde_json::json!(["asc", "desc"]));
    }
}
