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
use domain::{DomainError, RepositoryError, ValidationErrors};
use serde::Serialize;
use std::fmt;

/// Seconds a client should wait before retrying while the database is away.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// An error as the API reports it.
#[derive(Debug)]
pub enum ApiError {
    BadRequest { detail: String, errors: ValidationErrors },
    Unauthorized { detail: String },
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict { detail: String },
    PreconditionFailed { detail: String },
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation(ValidationErrors),
    Internal,
    DatabaseUnavailable,
}

/// The body of every error response.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    pub request_id: String,
    #[serde(skip_serializing_if = "ValidationErrors::is_empty")]
    pub errors: ValidationErrors,
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
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::Internal => "internal",
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
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Validation(_) => "Validation failed",
            Self::Internal => "Internal server error",
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
            Self::PayloadTooLarge => "request bodies are limited to 1 MiB".into(),
            Self::UnsupportedMediaType => "request bodies must be application/json".into(),
            Self::Validation(errors) => {
                format!("{} invalid field{}", errors.len(), if errors.len() == 1 { "" } else { "s" })
            }
            Self::Internal => "the server failed to handle the request; it has been logged".into(),
            Self::DatabaseUnavailable => "the database is unavailable; retry shortly".into(),
        }
    }

    /// The problem document for this error and request.
    pub fn problem(&self, request_id: String) -> Problem {
        let errors = match self {
            Self::Validation(errors) | Self::BadRequest { errors, .. } => errors.clone(),
            _ => ValidationErrors::new(),
        };
        Problem {
            problem_type: format!("urn:problem-type:{}", self.code()),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: self.code(),
            request_id,
            errors,
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
            409 => Self::Conflict { detail: "the request conflicts with the resource's state".into() },
            412 => Self::PreconditionFailed { detail: "a precondition failed".into() },
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Validation(ValidationErrors::new()),
            503 => Self::DatabaseUnavailable,
            _ if status.is_client_error() => Self::bad_request(status.canonical_reason().unwrap_or("bad request")),
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
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
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            RepositoryError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::DatabaseUnavailable
            }
            RepositoryError::Internal(cause) => {
                tracing::error!(%cause, "storage failure");
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
