//! Request parsing shared by every route: JSON bodies, JSON objects field by field, path ids,
//! and the conditional and idempotency headers.
//!
//! A body is accepted only as `application/json` (or any `+json` type, such as
//! `application/merge-patch+json`), at most 1 MiB, and well-formed (else 415, 413, 400).
//! Objects are then read field by field so that every unknown, read-only, missing or
//! wrongly typed field is reported in one 422, not only the first.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use domain::ValidationErrors;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A well-formed JSON request body.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .is_some_and(|essence| {
                essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
            });
        let declared_too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if declared_too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = bytes.await.map_err(|e| match e.as_response_error().status_code().as_u16() {
                413 => ApiError::PayloadTooLarge,
                _ => ApiError::bad_request("the request body could not be read"),
            })?;
            serde_json::from_slice(&bytes)
                .map(JsonBody)
                .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
        })
    }
}

/// A JSON body that may be absent: an empty body is `None`; anything else is held to the
/// same rules as [`JsonBody`].
#[derive(Debug)]
pub struct OptionalJsonBody(pub Option<Value>);

impl FromRequest for OptionalJsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let empty =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0")
                || (req.headers().get(header::CONTENT_LENGTH).is_none()
                    && req.headers().get(header::TRANSFER_ENCODING).is_none());
        if empty {
            return Box::pin(async { Ok(OptionalJsonBody(None)) });
        }
        let body = JsonBody::from_request(req, payload);
        Box::pin(async move { body.await.map(|b| OptionalJsonBody(Some(b.0))) })
    }
}

/// `limit` (1–100, default 20), `cursor` and, where a route has one, `order`, with every
/// other parameter refused.
#[derive(Debug, Default)]
pub struct PageParams {
    pub limit: u64,
    pub cursor: Option<String>,
    pub order: Option<String>,
}

impl PageParams {
    pub fn parse(raw: &str, allow_order: bool) -> (Self, ValidationErrors) {
        let mut params = PageParams { limit: 20, ..PageParams::default() };
        let mut errors = ValidationErrors::new();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let (name, value) = (name.into_owned(), value.into_owned());
            if seen.contains(&name) {
                errors.add(name, "repeated", "may be given only once");
                continue;
            }
            seen.push(name.clone());
            match name.as_str() {
                "limit" => match value.parse::<u64>() {
                    Ok(n @ 1..=100) => params.limit = n,
                    _ => errors.add("limit", "range", "must be an integer from 1 to 100"),
                },
                "cursor" => params.cursor = Some(value),
                "order" if allow_order => params.order = Some(value),
                _ => errors.add(name, "unknown_parameter", "is not a parameter of this list"),
            }
        }
        (params, errors)
    }
}

/// Reads a JSON object field by field, collecting every problem.
#[derive(Debug)]
pub struct ObjectReader {
    fields: Map<String, Value>,
    errors: ValidationErrors,
}

impl ObjectReader {
    /// Starts reading `value`, which must be an object.
    pub fn new(value: Value) -> Result<Self, ValidationErrors> {
        match value {
            Value::Object(fields) => Ok(Self { fields, errors: ValidationErrors::new() }),
            _ => {
                let mut errors = ValidationErrors::new();
                errors.add("$", "type", "the body must be a JSON object");
                Err(errors)
            }
        }
    }

    fn convert<T: DeserializeOwned>(&mut self, name: &str, value: Value, expected: &str) -> Option<T> {
        match serde_json::from_value(value) {
            Ok(v) => Some(v),
            Err(_) => {
                self.errors.add(name, "type", format!("must be {expected}"));
                None
            }
        }
    }

    /// A field that must be present and not null.
    pub fn required<T: DeserializeOwned>(&mut self, name: &str, expected: &str) -> Option<T> {
        match self.fields.remove(name) {
            None => {
                self.errors.add(name, "required", "is required");
                None
            }
            Some(Value::Null) => {
                self.errors.add(name, "type", format!("must be {expected}, not null"));
                None
            }
            Some(value) => self.convert(name, value, expected),
        }
    }

    /// A field that may be absent but not null.
    pub fn optional<T: DeserializeOwned>(&mut self, name: &str, expected: &str) -> Option<T> {
        match self.fields.remove(name) {
            None => None,
            Some(Value::Null) => {
                self.errors.add(name, "type", format!("must be {expected}, not null"));
                None
            }
            Some(value) => self.convert(name, value, expected),
        }
    }

    /// A field that may be absent (`None`), null (`Some(None)`) or a value.
    pub fn nullable<T: DeserializeOwned>(&mut self, name: &str, expected: &str) -> Option<Option<T>> {
        match self.fields.remove(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => self.convert(name, value, &format!("{expected} or null")).map(Some),
        }
    }

    /// Parses a string field with `parse`, reporting the allowed values when it fails.
    pub fn parse_with<T>(
        &mut self,
        name: &str,
        value: Option<String>,
        parse: fn(&str) -> Option<T>,
        allowed: &[&str],
    ) -> Option<T> {
        let value = value?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.errors.add(name, "one_of", format!("must be one of {}", allowed.join(", ")));
        }
        parsed
    }

    /// An RFC 3339 timestamp with any offset, as an instant.
    pub fn timestamp(&mut self, name: &str, value: Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
        let value = value?;
        match chrono::DateTime::parse_from_rfc3339(&value) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                self.errors.add(name, "format", "must be an RFC 3339 timestamp, e.g. 2025-01-31T09:00:00Z");
                None
            }
        }
    }

    /// Reports the fields nobody read: server-owned ones as read-only, the rest as unknown.
    pub fn finish(mut self, server_owned: &[&str]) -> ValidationErrors {
        for name in self.fields.keys() {
            if server_owned.contains(&name.as_str()) {
                self.errors.add(name.clone(), "read_only", "is set by the server and cannot be written");
            } else {
                self.errors.add(name.clone(), "unknown_field", "is not a field of this resource");
            }
        }
        self.errors
    }
}

/// A UUID from the path; anything else is a missing resource.
pub fn path_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// `If-Match` (RFC 9110): `None` for no header or `*`, else the one version it names.
/// The comparison is strong, so weak tags (`W/"3"`) and tags that are not a version of this
/// API never match: the precondition fails (412). Several versions, or a header that is not a
/// list of entity tags, is a 400.
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::bad_request("If-Match must be visible ASCII"))?.trim();
    if value == "*" {
        return Ok(None);
    }
    let malformed = || ApiError::bad_request("If-Match must be an entity tag of this API, e.g. \"3\"");
    let mut versions = Vec::new();
    for tag in value.split(',').map(str::trim) {
        if let Some(weak) = tag.strip_prefix("W/") {
            weak.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(malformed)?;
            continue;
        }
        // A bare number is tolerated for clients that forget the quotes.
        let opaque = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        match opaque.unwrap_or(tag).parse::<i32>() {
            Ok(version) => versions.push(version),
            Err(_) if opaque.is_some() => {}
            Err(_) => return Err(malformed()),
        }
    }
    match versions.as_slice() {
        [] => Err(ApiError::PreconditionFailed { detail: "If-Match names no version this API issued".into() }),
        [version] => Ok(Some(*version)),
        _ => Err(ApiError::bad_request("If-Match must name a single version")),
    }
}

/// `Idempotency-Key`: 1–255 characters when present.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
    if (1..=255).contains(&value.chars().count()) {
        Ok(Some(value.to_owned()))
    } else {
        Err(ApiError::bad_request("Idempotency-Key must have 1 to 255 characters"))
    }
}

/// A digest of a JSON body that ignores formatting and key order, to tell a retry from a
/// different request.
pub fn request_digest(body: &Value) -> String {
    use sha2::{Digest, Sha256};
    // serde_json's maps are sorted, so equal documents serialise identically.
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn if_match_of(value: &str) -> Result<Option<i32>, u16> {
        let req = actix_web::test::TestRequest::default().insert_header((header::IF_MATCH, value)).to_http_request();
        if_match(&req).map_err(|e| actix_web::ResponseError::status_code(&e).as_u16())
    }

    #[test]
    fn if_match_compares_strongly() {
        assert_eq!(if_match_of("\"3\""), Ok(Some(3)));
        assert_eq!(if_match_of("3"), Ok(Some(3)));
        assert_eq!(if_match_of("*"), Ok(None));
        assert_eq!(if_match_of("W/\"3\""), Err(412), "a weak tag never matches");
        assert_eq!(if_match_of("\"abc\""), Err(412), "not a version of this API");
        assert_eq!(if_match_of("W/\"1\", \"4\""), Ok(Some(4)));
        assert_eq!(if_match_of("\"1\", \"2\""), Err(400));
        assert_eq!(if_match_of("soon"), Err(400));
    }

    #[test]
    fn every_problem_with_an_object_is_reported() {
        let mut reader =
            ObjectReader::new(json!({"title": 5, "id": "x", "titel": "typo", "description": null})).expect("object");
        assert_eq!(reader.required::<String>("title", "a string"), None);
        assert_eq!(reader.nullable::<String>("description", "a string"), Some(None));
        assert_eq!(reader.required::<String>("status", "a string"), None);
        let errors = reader.finish(&["id"]);
        let found: Vec<(String, String)> = errors.iter().map(|e| (e.field.clone(), e.code.clone())).collect();
        assert_eq!(
            found,
            [
                ("title".into(), "type".into()),
                ("status".into(), "required".into()),
                ("id".into(), "read_only".into()),
                ("titel".into(), "unknown_field".into()),
            ]
        );
    }

    #[test]
    fn digests_ignore_formatting_and_key_order() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).expect("json");
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&json!({"a": 2, "b": [1, 2]})));
    }
}
