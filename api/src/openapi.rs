//! The OpenAPI 3.1 document, generated from the code and served at `GET /openapi.json`.
//!
//! Every handler carries a `#[utoipa::path]` annotation, and [`crate::routes::configure`]
//! registers each handler at the path and method its annotation names, so a route cannot be
//! served somewhere the document does not say. [`ApiDoc`] lists the annotated handlers; a unit
//! test here and the e2e suite check that its operations are exactly the registered routes.
//! Request bodies are parsed field by field, so they are documented by schema structs next to
//! their parsers (see [`crate::dto`]), which unit tests hold to the parsers.

use crate::dto::conversations::{
    ConversationPage, ConversationPatchRequest, ConversationResponse, CreateConversationRequest, MessageOrderSchema,
    MessagePage, MessageResponse, MessageRoleSchema, NewMessageRequest,
};
use crate::dto::tasks::{
    BatchRequest, CreateTaskRequest, PrioritySchema, RecurrenceSchema, TagSchema, TaskBatch, TaskPage,
    TaskPatchRequest, TaskResponse, TaskSortSchema, TaskStatsResponse, TaskStatusSchema,
};
use crate::error::{ApiError, FieldErrorSchema, Problem};
use crate::routes::{admin, conversations, health, tasks};
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, RefOr, Required};
use utoipa::{Modify, OpenApi};

/// The name of the bearer security scheme.
pub const BEARER: &str = "bearer";

/// What the document says about the service as a whole: the choices API.md leaves open.
const DESCRIPTION: &str = r#"A REST backend for tasks, conversations and messages.

## Conventions
- JSON in UTF-8. Timestamps are RFC 3339; clients may send any offset, the server stores the instant and always answers in UTC with a `Z` suffix and microsecond precision. IDs are UUIDs (v7, made by the server).
- **Authentication**: every `/api/v1/...` route and `/admin/...` needs `Authorization: Bearer <JWT>` (HS256, signed with the configured `JWT_SECRET`; claims `sub` = the user id, 1-128 characters, `exp` required, optional `roles` that may hold `"admin"`). Tokens are accepted up to 30 seconds past `exp` and up to 30 seconds before `nbf` (clock skew). A missing, malformed, wrongly signed, expired or `alg: none` token is a 401 with `WWW-Authenticate: Bearer`. In development and test, without `JWT_SECRET`, tokens are signed with a random per-process secret. Open routes (health, metrics, this document) ignore any `Authorization` header, even an invalid one.
- A user sees only their own rows: another user's resource answers 404, exactly like a missing one. A malformed id in a path (`/api/v1/tasks/not-a-uuid`) answers 404 too.
- **Errors** are RFC 9457 problem details (`application/problem+json`, schema `Problem`) with `type` = `urn:problem-type:<code>`. Validation errors list every problem at once in `errors` (at most 100, then `errors_omitted`), each `{field, code, message}`. A 500 never carries SQL, stack traces, host names or credentials. An unknown path answers 404 (`not_found`); a known path with a method it does not support answers 405 (`method_not_allowed`).
- **Bodies** may be `application/json` or any `application/*+json` type (so `application/merge-patch+json` works for PATCH); anything else, or no `Content-Type`, is a 415. Bodies over 1 MiB are a 413. JSON that does not parse is a 400. Unknown fields (`unknown_field`), server-owned fields such as `id`, `version`, `created_at`, `user_id` (`read_only`) and wrong JSON types (`type`) are 422s, so a typo never passes silently. Validation codes: `required`, `type`, `length`, `one_of`, `format`, `range`, `size`, `read_only`, `unknown_field` and `reused` (an `Idempotency-Key` sent before with another body).
- **Query strings** are strict: an unknown or repeated parameter (other than the task list's `status`) is a 400, so a typo never silently widens a list; so is a bad value or cursor. Cursors are opaque and belong to the order that produced them. The 400's `errors` use the codes `unknown_parameter`, `repeated`, `one_of`, `range`, `length`, `format` and `invalid` (a cursor that does not decode or belongs to another order).
- **Every response** carries `X-Request-Id` (the client's own when it sent one of 1-200 visible ASCII characters, otherwise one the server made) and `Server-Timing: db;desc="statements=N";dur=M`: the SQL statements the request ran (transaction control not counted) and their total time in milliseconds.
- **Conditional requests**: responses for one task or conversation carry `ETag: "<version>"`. `If-Match` takes `"<version>"` (or `*`, no condition) on PATCH and DELETE (tasks and conversations); a stale version is a 412 and nothing changes. A PATCH without `If-Match` that races another writer is re-applied to the newer version, so no update is lost.
- **Idempotency**: `POST /api/v1/tasks` with an `Idempotency-Key` (1-255 characters) is safe to retry for 24 hours: a replay answers with the first response and `Idempotent-Replayed: true`, even when that task has since been deleted (it then answers 404); concurrent requests with one key wait for the first and then replay it; the same key with another body is a 422 (`reused`).
- A database that cannot be reached answers 503 (`database_unavailable`) with `Retry-After`.
- **`HEAD`** works on every `GET` route: the same status and headers, no body.

## Limits and abuse
Every client, signed in or not, gets a documented answer at a bounded cost.
- **Rate limits** (per instance; `RATE_LIMIT_USER`/`_BURST`, default 100 requests a second with bursts of 200): every route but health, metrics and this document takes a token from the caller's bucket: the user's when the request carries a valid bearer token, else its client address's (`RATE_LIMIT_ADDRESS`/`_BURST`, default 20 and 40; IPv6 clients share a bucket per /64; behind a proxy listed in `TRUSTED_PROXIES`, the address it forwards in `X-Forwarded-For`). An empty bucket answers 429 (`rate_limited`) with `Retry-After` in whole seconds. Limited responses carry `RateLimit-Policy: "user";q=<burst>;w=<seconds to refill>` and `RateLimit: "user";r=<remaining>;t=<seconds until full>` (draft-ietf-httpapi-ratelimit-headers; policy `"address"` for requests without a valid token). With a limit set to 0 its headers are absent. Limits are per instance: behind a load balancer with N instances a client may get up to N times the rate. CORS preflights are answered before the limits and are not counted.
- **Overload**: more requests in flight than the instance takes (`MAX_IN_FLIGHT`, default 512) answers 503 (`overloaded`) with `Retry-After: 1` at once, before the body is read, with the `RateLimit` headers; a client over its rate gets its 429 first. Bodies over 64 KiB are parsed and checked a few at a time; one that waits more than 5 s for its turn is a 503 (`overloaded`) too. `/health/live` is never refused.
- **Time**: a body that does not arrive within `BODY_TIMEOUT` (default 10 s) answers 408 (`request_timeout`) and the connection is closed. A request head that does not arrive within 5 s is answered 408 by the HTTP layer itself, without a body.
- **Size**: a 422 lists at most 100 errors, then `errors_omitted` says how many more there were. A page of any list is cut before its JSON passes 1 MiB: it holds at least one item, and `next_cursor` is set when items remain, so `limit` is a maximum. A request head over 128 KiB or with more than 96 headers is answered 431, and one that does not parse 400, by the HTTP layer itself: without a problem body or `X-Request-Id`, and the connection is closed.
- **Text**: U+0000 in any string of a body is a 422 on that field (`format`), in a query parameter a 400 (`format`); `q` also refuses control characters other than tab and line breaks. A tag must contain a visible character. An object with a key twice is a 400.
- **Dates**: timestamps live in 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z: a `due_date` outside is a 422 (`range`), a `due_before`/`due_after` outside a 400 (`range`). Completing a recurring task whose next due date would pass the end creates no next occurrence; the completion succeeds.
- **Ids**: only the canonical `8-4-4-4-12` hexadecimal spelling (either case) names a resource; any other (braces, `urn:uuid:`, no hyphens) is a 404.
- **Tokens**: a token whose `nbf` is more than 30 seconds in the future is a 401.
- **Idempotency keys** are kept 24 hours and then purged; an expired key can be used again.
- **Browsers**: CORS for the origins in `CORS_ALLOWED_ORIGINS` (none by default). Preflights are answered for every route with the methods and request headers the API uses; `ETag`, `Location`, `X-Request-Id`, `Retry-After`, `RateLimit`, `RateLimit-Policy` and `Idempotent-Replayed` are exposed to scripts. Every response carries `X-Content-Type-Options: nosniff` and `Content-Security-Policy: frame-ancestors 'none'`; those of `/api/` and `/admin/` also `Cache-Control: no-store`.
"#;

/// The document. See the module docs for how it is kept true.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Tasks service", description = DESCRIPTION, license(name = "MIT OR Apache-2.0")),
    paths(
        health::live,
        health::health,
        health::ready,
        health::database,
        crate::metrics::render,
        serve,
        admin::pool_stats,
        tasks::create,
        tasks::list,
        tasks::create_batch,
        tasks::stats,
        tasks::get,
        tasks::update,
        tasks::delete,
        tasks::restore,
        conversations::create,
        conversations::list,
        conversations::get,
        conversations::update,
        conversations::delete,
        conversations::append,
        conversations::messages,
    ),
    components(
        schemas(
            Problem,
            FieldErrorSchema,
            TaskResponse,
            TaskPage,
            TaskBatch,
            TaskStatsResponse,
            CreateTaskRequest,
            TaskPatchRequest,
            BatchRequest,
            TaskStatusSchema,
            PrioritySchema,
            RecurrenceSchema,
            TaskSortSchema,
            TagSchema,
            ConversationResponse,
            ConversationPage,
            MessageResponse,
            MessagePage,
            CreateConversationRequest,
            ConversationPatchRequest,
            NewMessageRequest,
            MessageRoleSchema,
            MessageOrderSchema,
        ),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::NotFound,
            responses::Conflict,
            responses::PreconditionFailed,
            responses::PayloadTooLarge,
            responses::UnsupportedMediaType,
            responses::ValidationFailed,
            responses::RequestTimeout,
            responses::RateLimited,
            responses::Internal,
            responses::DatabaseUnavailable,
            responses::Overloaded,
        ),
    ),
    modifiers(&Conventions),
    tags(
        (name = "tasks", description = "The caller's tasks: `/api/v1/tasks`."),
        (name = "conversations", description = "The caller's conversations and their messages: `/api/v1/conversations`."),
        (name = "health", description = "Probes for orchestrators. Open routes."),
        (name = "operations", description = "Metrics and this document. Open routes."),
        (name = "admin", description = "Operator routes: a bearer token with the `admin` role."),
    ),
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// This document
///
/// The OpenAPI 3.1 document of the service, generated from the code. Open route: ignores any
/// `Authorization` header.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json"),
        (status = 500, response = responses::Internal),
    ),
)]
pub async fn serve() -> Result<HttpResponse, ApiError> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    match JSON.get_or_init(|| document().to_json().map_err(|e| e.to_string())) {
        Ok(json) => Ok(HttpResponse::Ok().content_type("application/json").body(json.as_str())),
        Err(error) => {
            tracing::error!(%error, "the OpenAPI document does not serialise");
            Err(ApiError::Internal)
        }
    }
}

/// Reusable problem responses, one per error status, each with an example built by the same
/// code that renders the real error.
pub mod responses {
    use super::problem;
    use crate::error::ApiError;
    use domain::ValidationErrors;
    use utoipa::ToResponse;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::response::Response;

    macro_rules! problem_response {
        ($($type:ident => $error:expr, $description:literal;)*) => {$(
            #[doc = $description]
            #[derive(Debug)]
            pub struct $type;

            impl<'r> ToResponse<'r> for $type {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($type), RefOr::T(problem($error, $description)))
                }
            }
        )*};
    }

    fn invalid_field() -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        errors.add("title", "length", "must have 1 to 200 characters after trimming");
        errors
    }

    fn bad_parameter() -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        errors.add("limit", "range", "must be an integer from 1 to 100");
        errors
    }

    problem_response! {
        BadRequest => ApiError::BadRequest { detail: "the query string is invalid".into(), errors: bad_parameter() },
            "Bad request (`bad_request`): JSON that does not parse, a malformed header (`If-Match`, `Idempotency-Key`), or an invalid query string (then `errors` lists every bad parameter).";
        Unauthorized => ApiError::unauthorized("an Authorization: Bearer token is required"),
            "Unauthorized (`unauthorized`): a missing, malformed, wrongly signed or expired bearer token.";
        Forbidden => ApiError::Forbidden,
            "Forbidden (`forbidden`): the token lacks the `admin` role.";
        NotFound => ApiError::NotFound,
            "Not found (`not_found`): no such resource for this user (another user's resource answers the same), or a malformed id.";
        Conflict => ApiError::Conflict { detail: "the task kept changing while it was being updated; retry".into() },
            "Conflict (`conflict`): the resource kept changing under concurrent writers; retry.";
        PreconditionFailed => ApiError::PreconditionFailed { detail: "If-Match names version 2 but the current version is 3".into() },
            "Precondition failed (`precondition_failed`): `If-Match` names a version that is no longer current; nothing changed.";
        PayloadTooLarge => ApiError::PayloadTooLarge,
            "Payload too large (`payload_too_large`): the body is over 1 MiB.";
        UnsupportedMediaType => ApiError::UnsupportedMediaType,
            "Unsupported media type (`unsupported_media_type`): the body is not `application/json` (or `application/*+json`), or has no `Content-Type`.";
        ValidationFailed => ApiError::Validation(invalid_field()),
            "Validation failed (`validation_failed`): `errors` lists every invalid, missing, unknown or server-owned field.";
        Internal => ApiError::Internal,
            "Internal error (`internal`): logged on the server; the body carries no SQL, host names or credentials.";
        DatabaseUnavailable => ApiError::DatabaseUnavailable,
            "Service unavailable: the database is away (`database_unavailable`), or more requests are in flight than the instance takes (`overloaded`). Retry after `Retry-After` seconds.";
        RequestTimeout => ApiError::RequestTimeout,
            "Request timeout (`request_timeout`): the body did not arrive within the body timeout; the connection is closed.";
        RateLimited => ApiError::RateLimited { retry_after: 1 },
            "Too many requests (`rate_limited`): the caller's bucket is empty; retry after `Retry-After` seconds.";
        Overloaded => ApiError::Overloaded,
            "Overloaded (`overloaded`): more requests are in flight than the instance takes; retry after `Retry-After` seconds.";
    }
}

/// A problem response for `error`, with its headers and an example.
fn problem(error: ApiError, description: &str) -> Response {
    use actix_web::ResponseError;
    let example = serde_json::to_value(error.problem("01936f0e-7b1c-7cc3-8a5e-5f1c2d3e4f50".into())).ok();
    let mut response = utoipa::openapi::ResponseBuilder::new().description(description).content(
        "application/problem+json",
        utoipa::openapi::ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).example(example).build(),
    );
    match error.status_code().as_u16() {
        401 => {
            response = response.header("WWW-Authenticate", string_header("Always `Bearer`.", None));
        }
        503 => {
            response = response.header(
                "Retry-After",
                retry_after_header(&format!(
                    "Seconds to wait before retrying ({} while the database is away, {} when overloaded).",
                    crate::error::RETRY_AFTER_SECONDS,
                    crate::error::OVERLOADED_RETRY_AFTER_SECONDS
                )),
            );
        }
        429 => {
            response = response.header(
                "Retry-After",
                retry_after_header("Whole seconds until the caller's bucket holds a token again."),
            );
        }
        _ => {}
    }
    response.build()
}

fn retry_after_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
        .description(Some(description))
        .build()
}

fn string_header(description: &str, format: Option<&str>) -> Header {
    let mut schema = ObjectBuilder::new().schema_type(Type::String);
    if let Some(format) = format {
        schema = schema.format(Some(utoipa::openapi::SchemaFormat::Custom(format.to_owned())));
    }
    HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build()
}

/// The headers every response carries, as `components/headers`.
const COMMON_RESPONSE_HEADERS: [&str; 4] =
    ["X-Request-Id", "Server-Timing", "X-Content-Type-Options", "Content-Security-Policy"];

/// The headers of every response of a rate-limited route.
const LIMITED_RESPONSE_HEADERS: [&str; 3] = ["RateLimit-Policy", "RateLimit", "Cache-Control"];

/// What applies to every operation, added in one place: the bearer scheme, the headers every
/// response carries, and the optional `X-Request-Id` request header.
#[derive(Debug)]
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An HS256 JWT signed with `JWT_SECRET`: `sub` (1-128 characters) is the user id, `exp` is \
                         required (30 s of clock skew allowed), `roles` may hold `admin`.",
                    ))
                    .build(),
            ),
        );
        components.headers.insert(
            "X-Request-Id".into(),
            RefOr::T(string_header(
                "The request's id: the client's own `X-Request-Id` when it was 1-200 visible ASCII characters, \
                 otherwise one the server made (a UUID v7). Also in the problem body as `request_id`.",
                None,
            )),
        );
        components.headers.insert(
            "Server-Timing".into(),
            RefOr::T(string_header(
                "`db;desc=\"statements=N\";dur=M`: the SQL statements this request ran (transaction control not \
                 counted) and their total time in milliseconds.",
                None,
            )),
        );
        for (name, description) in [
            ("X-Content-Type-Options", "Always `nosniff`."),
            ("Content-Security-Policy", "Always `frame-ancestors 'none'`."),
            ("Cache-Control", "`no-store` on every answer of `/api/` and `/admin/`: no cache keeps one user's data."),
            (
                "RateLimit-Policy",
                "The caller's rate limit (draft-ietf-httpapi-ratelimit-headers): `\"user\";q=<burst>;w=<seconds to \
                 refill>`, or `\"address\";...` for a request without a valid token. Absent when that limit is off.",
            ),
            (
                "RateLimit",
                "The caller's bucket after this request: `\"user\";r=<requests remaining>;t=<seconds until it is full>`. \
                 Absent when that limit is off.",
            ),
        ] {
            components.headers.insert(name.into(), RefOr::T(string_header(description, None)));
        }
        components.parameters.insert(
            "X-Request-Id".into(),
            RefOr::T(
                ParameterBuilder::new()
                    .name("X-Request-Id")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "A request id to use instead of one the server makes, when it has 1-200 visible ASCII \
                         characters (`^[!-~]{1,200}$`); any other value is ignored, not refused. Echoed in the \
                         response.",
                    ))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ),
        );
        for response in components.responses.values_mut() {
            add_headers(response, &COMMON_RESPONSE_HEADERS);
        }
        let overloaded = components.responses.get("Overloaded").cloned();
        for (path, item) in &mut openapi.paths.paths {
            let limited = !(path.starts_with("/health") || path == "/metrics" || path == "/openapi.json");
            for operation in operations_mut(item) {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::Ref(Ref::new("#/components/parameters/X-Request-Id")));
                let responses = &mut operation.responses.responses;
                if limited {
                    responses.insert("429".into(), RefOr::Ref(Ref::from_response_name("RateLimited")));
                }
                if operation.request_body.is_some() {
                    responses.insert("408".into(), RefOr::Ref(Ref::from_response_name("RequestTimeout")));
                }
                // Load shedding answers any route but the liveness probe; where a route has a
                // 503 of its own (the database is away), that one documents both.
                if path != "/health/live"
                    && let Some(overloaded) = &overloaded
                {
                    add_overloaded(responses, overloaded);
                }
                for response in responses.values_mut() {
                    add_headers(response, &COMMON_RESPONSE_HEADERS);
                    if limited {
                        add_headers(response, &LIMITED_RESPONSE_HEADERS);
                    }
                }
            }
        }
    }
}

fn add_headers(response: &mut RefOr<Response>, names: &[&str]) {
    if let RefOr::T(response) = response {
        for name in names {
            response.headers.insert((*name).into(), RefOr::Ref(Ref::new(format!("#/components/headers/{name}"))));
        }
    }
}

/// Adds the `overloaded` 503 to an operation: as its 503 when it has none, or as the problem
/// content of the 503 it has (a health probe's own body, or `database_unavailable`, which the
/// shared response already describes).
fn add_overloaded(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>, overloaded: &RefOr<Response>) {
    match responses.get_mut("503") {
        None => {
            responses.insert("503".into(), RefOr::Ref(Ref::from_response_name("Overloaded")));
        }
        Some(RefOr::T(own)) => {
            if let RefOr::T(shed) = overloaded {
                for (media, content) in &shed.content {
                    own.content.entry(media.clone()).or_insert_with(|| content.clone());
                }
                own.description = format!(
                    "{} Or `overloaded` (a problem): more requests in flight than the instance takes.",
                    own.description
                );
                own.headers.entry("Retry-After".into()).or_insert_with(|| {
                    RefOr::T(retry_after_header("Seconds to wait before retrying, when overloaded."))
                });
            }
        }
        Some(RefOr::Ref(_)) => {}
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn json() -> Value {
        serde_json::to_value(document()).expect("the document serialises")
    }

    /// `(METHOD, path)` of every operation in the document.
    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, _) in item.as_object().expect("path item") {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn it_is_openapi_3_1() {
        assert_eq!(json()["openapi"], "3.1.0");
    }

    #[test]
    fn its_operations_are_the_registered_routes() {
        let registered: BTreeSet<(String, String)> =
            crate::routes::operations().into_iter().map(|(m, p)| (m.to_string(), p)).collect();
        assert_eq!(documented(&json()), registered);
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = json();
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("item").values() {
                let id = operation["operationId"].as_str().expect("an operationId").to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(value: &Value, doc: &Value, seen: &mut usize) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').expect("a local reference");
                        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
                        *seen += 1;
                    }
                    map.values().for_each(|v| walk(v, doc, seen));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, seen)),
                _ => {}
            }
        }
        let doc = json();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 50, "only {seen} references");
    }

    #[test]
    fn problem_examples_match_their_status() {
        let doc = json();
        for (name, response) in doc["components"]["responses"].as_object().expect("responses") {
            let example = &response["content"]["application/problem+json"]["example"];
            assert!(example["status"].is_u64(), "{name}");
            let code = example["code"].as_str().expect("code");
            assert_eq!(example["type"], format!("urn:problem-type:{code}"), "{name}");
        }
    }
}
