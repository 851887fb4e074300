//! The one mapping from errors to HTTP responses.
//!
//! Every error leaves as an RFC 9457 problem (`application/problem+json`):
//! `{"type", "title", "status", "detail", "code", "request_id"}`, plus `errors` for
//! validation. Domain and infrastructure errors become [`ApiError`] here and nowhere else.
//! Internal errors are logged with their cause and answered opaquely: no SQL, host name or
//! credential ever reaches a client.

use crate::request_id;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::error::Chain;
use domain::{DomainError, RepositoryError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

/// Seconds a client should wait before retrying while the database is away.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// Seconds a client should wait before retrying when the instance is overloaded.
pub const OVERLOADED_RETRY_AFTER_SECONDS: u32 = 1;

/// An error as the API reports it; its message is its problem's `code` and `detail`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", self.code(), self.detail())]
pub enum ApiError {
    BadRequest {
        detail: String,
        errors: ValidationErrors,
    },
    Unauthorized {
        detail: String,
    },
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict {
        detail: String,
    },
    PreconditionFailed {
        detail: String,
    },
    /// The request body did not arrive within the body timeout; the connection is closed.
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation(ValidationErrors),
    /// Over the caller's rate limit; retry after that many seconds.
    RateLimited {
        retry_after: u64,
    },
    Internal,
    /// More requests in flight than the instance takes; retry shortly.
    Overloaded,
    DatabaseUnavailable,
}

/// The body of every error response: an RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:problem-type:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:problem-type:not_found")]
    pub problem_type: String,
    /// A short, fixed summary of the problem type.
    #[schema(example = "Not found")]
    pub title: &'static str,
    /// The HTTP status code of the response.
    #[schema(minimum = 400, maximum = 599, example = 404)]
    pub status: u16,
    /// What went wrong with this request. Never carries SQL, stack traces, host names or credentials.
    pub detail: String,
    #[schema(schema_with = problem_code_schema)]
    pub code: &'static str,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// Present on `validation_failed` (422) and on `bad_request` (400) for a bad query string: every
    /// invalid field or parameter found, not only the first (every invalid batch item too), up to
    /// 100 of them.
    #[serde(skip_serializing_if = "ValidationErrors::is_empty")]
    #[schema(value_type = Vec<FieldErrorSchema>, max_items = 100)]
    pub errors: ValidationErrors,
    /// Present when more than 100 problems were found: how many more there were beyond those
    /// `errors` lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub errors_omitted: Option<usize>,
}

/// Every `code` a problem can carry, as [`ApiError::code`] spells them.
pub const PROBLEM_CODES: [&str; 15] = [
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "precondition_failed",
    "request_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "validation_failed",
    "rate_limited",
    "internal",
    "overloaded",
    "database_unavailable",
];

fn problem_code_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(PROBLEM_CODES)).description(Some(
        "Machine-readable error code: `bad_request` (400: malformed JSON, query string or header), `unauthorized` \
         (401), `forbidden` (403), `not_found` (404, also for a malformed id and for unknown routes), \
         `method_not_allowed` (405: a known path with another method), `conflict` (409), `precondition_failed` \
         (412), `request_timeout` (408: the body did not arrive within the body timeout; the connection is \
         closed), `payload_too_large` (413), `unsupported_media_type` (415), `validation_failed` (422), \
         `rate_limited` (429, with `Retry-After`), `internal` (500), `overloaded` (503, with `Retry-After`: more \
         requests in flight than the instance takes), `database_unavailable` (503, with `Retry-After`).",
    ))
}

/// One entry of a problem's `errors`: `{"field", "code", "message"}`.
#[derive(Debug, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    /// The field or parameter: `title`, `tags[1]`, `tasks[3].title`, `$` (the body itself), `limit`,
    /// or the `Idempotency-Key` header.
    #[schema(example = "title")]
    pub field: String,
    /// In a 422: `required`, `type` (wrong JSON type or `null` where not allowed), `length`, `one_of`,
    /// `format` (also for U+0000 in any string), `range` (a timestamp outside 0001-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999999Z), `size`, `read_only` (a server-owned field), `unknown_field` or
    /// `reused` (an `Idempotency-Key` sent before with another body). In a 400 for a query string:
    /// `one_of`, `length`, `format` (also for U+0000 or another control character), `range`,
    /// `repeated`, `unknown_parameter` or `invalid` (a cursor).
    #[schema(example = "length")]
    pub code: String,
    /// A human-readable explanation.
    #[schema(example = "must have 1 to 200 characters after trimming")]
    pub message: String,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest { detail: detail.into(), errors: ValidationErrors::new() }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized { detail: detail.into() }
    }

    /// The machine-readable code of API.md.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal => "internal",
            Self::Overloaded => "overloaded",
            Self::DatabaseUnavailable => "database_unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "Bad request",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PreconditionFailed { .. } => "Precondition failed",
            Self::RequestTimeout => "Request timeout",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Validation(_) => "Validation failed",
            Self::RateLimited { .. } => "Too many requests",
            Self::Internal => "Internal server error",
            Self::Overloaded => "Overloaded",
            Self::DatabaseUnavailable => "Database unavailable",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail }
            | Self::Conflict { detail }
            | Self::PreconditionFailed { detail } => detail.clone(),
            Self::Forbidden => "this token lacks the role the resource needs".into(),
            Self::NotFound => "no such resource".into(),
            Self::MethodNotAllowed => "the resource does not support this method".into(),
            Self::RequestTimeout => "the request body did not arrive in time; the connection is closed".into(),
            Self::PayloadTooLarge => "request bodies are limited to 1 MiB".into(),
            Self::UnsupportedMediaType => "request bodies must be application/json".into(),
            Self::Validation(errors) => {
                format!("{} invalid field{}", errors.len(), if errors.len() == 1 { "" } else { "s" })
            }
            Self::RateLimited { retry_after } => {
                format!(
                    "too many requests; retry after {retry_after} second{}",
                    if *retry_after == 1 { "" } else { "s" }
                )
            }
            Self::Internal => "the server failed to handle the request; it has been logged".into(),
            Self::Overloaded => "the service has more requests in flight than it takes; retry shortly".into(),
            Self::DatabaseUnavailable => "the database is unavailable; retry shortly".into(),
        }
    }

    /// The problem document for this error and request.
    pub fn problem(&self, request_id: String) -> Problem {
        let errors = match self {
            Self::Validation(errors) | Self::BadRequest { errors, .. } => errors.clone(),
            _ => ValidationErrors::new(),
        };
        let errors_omitted = Some(errors.omitted()).filter(|n| *n > 0);
        Problem {
            problem_type: format!("urn:problem-type:{}", self.code()),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: self.code(),
            request_id,
            errors,
            errors_omitted,
        }
    }

    /// The error for a status an inner layer answered without a problem body (actix's own
    /// 404 and 405, for instance).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::bad_request("the request is malformed"),
            401 => Self::unauthorized("a bearer token is required"),
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::Conflict { detail: "the request conflicts with the resource's state".into() },
            412 => Self::PreconditionFailed { detail: "a precondition failed".into() },
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Validation(ValidationErrors::new()),
            429 => Self::RateLimited { retry_after: 1 },
            503 => Self::DatabaseUnavailable,
            _ if status.is_client_error() => Self::bad_request(status.canonical_reason().unwrap_or("bad request")),
            _ => Self::Internal,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Overloaded | Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        match self {
            Self::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::DatabaseUnavailable => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
            }
            Self::Overloaded => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(OVERLOADED_RETRY_AFTER_SECONDS)));
            }
            Self::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
            }
            // The body may still be arriving; reading on would give the slow client what the
            // timeout took away.
            Self::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem(request_id::current())).unwrap_or_default();
        response.body(body)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation(errors) => Self::Validation(errors),
            DomainError::NotFound => Self::NotFound,
            DomainError::PreconditionFailed { expected, current } => Self::PreconditionFailed {
                detail: format!("If-Match names version {expected} but the current version is {current}"),
            },
            DomainError::Conflict(detail) => Self::Conflict { detail },
            DomainError::IdempotencyKeyReused => {
                let mut errors = ValidationErrors::new();
                errors.add(
                    "Idempotency-Key",
                    "reused",
                    "this key was already used with a different request body; use a new key",
                );
                Self::Validation(errors)
            }
            DomainError::Repository(error) => error.into(),
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Unavailable(_) => {
                tracing::warn!(error = %Chain(&error), "database unavailable");
                Self::DatabaseUnavailable
            }
            RepositoryError::Internal(_) => {
                tracing::error!(error = %Chain(&error), "storage failure");
                Self::Internal
            }
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, so a new one cannot be added without being checked here.
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::bad_request("x"),
            ApiError::unauthorized("x"),
            ApiError::Forbidden,
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::Conflict { detail: "x".into() },
            ApiError::PreconditionFailed { detail: "x".into() },
            ApiError::RequestTimeout,
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::Validation(ValidationErrors::new()),
            ApiError::RateLimited { retry_after: 1 },
            ApiError::Internal,
            ApiError::Overloaded,
            ApiError::DatabaseUnavailable,
        ];
        for error in &all {
            match error {
                ApiError::BadRequest { .. }
                | ApiError::Unauthorized { .. }
                | ApiError::Forbidden
                | ApiError::NotFound
                | ApiError::MethodNotAllowed
                | ApiError::Conflict { .. }
                | ApiError::PreconditionFailed { .. }
                | ApiError::RequestTimeout
                | ApiError::PayloadTooLarge
                | ApiError::UnsupportedMediaType
                | ApiError::Validation(_)
                | ApiError::RateLimited { .. }
                | ApiError::Internal
                | ApiError::Overloaded
                | ApiError::DatabaseUnavailable => {}
            }
        }
        all
    }

    #[test]
    fn the_documented_codes_are_exactly_the_codes_errors_carry() {
        let codes: Vec<&str> = every_error().iter().map(ApiError::code).collect();
        assert_eq!(codes, PROBLEM_CODES);
    }

    #[test]
    fn a_problem_serialises_to_its_documented_properties() {
        let schema = serde_json::to_value(<Problem as utoipa::PartialSchema>::schema()).expect("schema");
        let mut errors = ValidationErrors::new();
        for i in 0..=domain::validation::MAX_LISTED_ERRORS {
            errors.add(format!("f{i}"), "length", "too long");
        }
        let problem = serde_json::to_value(ApiError::Validation(errors).problem("id".into())).expect("json");
        let keys: Vec<&String> = problem.as_object().expect("object").keys().collect();
        let documented: Vec<&String> = schema["properties"].as_object().expect("properties").keys().collect();
        assert_eq!(keys, documented);
        let required: Vec<&str> =
            schema["required"].as_array().expect("required").iter().filter_map(|v| v.as_str()).collect();
        for optional in ["errors", "errors_omitted"] {
            assert!(!required.contains(&optional), "{optional} is present only when there are some");
        }
        assert_eq!(required.len(), documented.len() - 2);
        assert_eq!(problem["errors"][0], serde_json::json!({"field": "f0", "code": "length", "message": "too long"}));
        assert_eq!(problem["errors"].as_array().map(Vec::len), Some(domain::validation::MAX_LISTED_ERRORS));
        assert_eq!(problem["errors_omitted"], 1);
        assert_eq!(problem["detail"], "101 invalid fields");
    }
}
