//! `/api/v1/conversations` and their messages.

use crate::auth::Caller;
use crate::dto::conversations::{self as dto, ConversationResponse, MessageResponse, Paged};
use crate::dto::cursor;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, PageParams, if_match, path_id};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::conversation::{Conversation, ConversationListQuery, ConversationService, MessageListQuery, MessageOrder};

fn conversation_response(status: StatusCode, conversation: &Conversation) -> HttpResponse {
    let mut response = HttpResponse::build(status).json(ConversationResponse::from(conversation));
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", conversation.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn bad_query(errors: domain::ValidationErrors) -> ApiError {
    ApiError::BadRequest { detail: "the query string is invalid".into(), errors }
}

/// `POST /api/v1/conversations`
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

/// `GET /api/v1/conversations`
pub async fn list(
    caller: Caller,
    service: web::Data<ConversationService>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (params, mut errors) = PageParams::parse(req.query_string(), false);
    let after = params.cursor.as_deref().and_then(|raw| match cursor::decode_conversation(raw) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add("cursor", "invalid", e.to_string());
            None
        }
    });
    if !errors.is_empty() {
        return Err(bad_query(errors));
    }
    let page = service.list(&caller.user, &ConversationListQuery { limit: params.limit, after }).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: page.items.iter().map(ConversationResponse::from).collect(),
        next_cursor: page.next.as_ref().map(cursor::encode_conversation),
    }))
}

/// `GET /api/v1/conversations/{id}`
pub async fn get(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = service.get(&caller.user, path_id(&id)?).await?;
    Ok(conversation_response(StatusCode::OK, &conversation))
}

/// `PATCH /api/v1/conversations/{id}`
pub async fn update(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let expected = if_match(&req)?;
    let patch = dto::conversation_patch(body.0)?;
    let conversation = service.update(&caller.user, id, patch, expected).await?;
    Ok(conversation_response(StatusCode::OK, &conversation))
}

/// `DELETE /api/v1/conversations/{id}`
pub async fn delete(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.delete(&caller.user, path_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/conversations/{id}/messages`
pub async fn append(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let message = dto::new_message(body.0)?;
    let message = service.append(&caller.user, id, message).await?;
    Ok(HttpResponse::Created().json(MessageResponse::from(&message)))
}

/// `GET /api/v1/conversations/{id}/messages`
pub async fn messages(
    caller: Caller,
    service: web::Data<ConversationService>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let (params, mut errors) = PageParams::parse(req.query_string(), true);
    let order = match params.order.as_deref() {
        None | Some("asc") => MessageOrder::Asc,
        Some("desc") => MessageOrder::Desc,
        Some(_) => {
            errors.add("order", "one_of", "must be asc or desc");
            MessageOrder::Asc
        }
    };
    let after = params.cursor.as_deref().and_then(|raw| match cursor::decode_message(raw, order) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.add("cursor", "invalid", e.to_string());
            None
        }
    });
    if !errors.is_empty() {
        return Err(bad_query(errors));
    }
    let page = service.messages(&caller.user, id, &MessageListQuery { order, limit: params.limit, after }).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: page.items.iter().map(MessageResponse::from).collect(),
        next_cursor: page.next.as_ref().map(cursor::encode_message),
    }))
}
