//! Request parsing shared by every route: JSON bodies, JSON objects field by field, path ids,
//! and the conditional and idempotency headers.
//!
//! A body is accepted only as `application/json` (or any `+json` type, such as
//! `application/merge-patch+json`), at most 1 MiB, and well-formed (else 415, 413, 400).
//! Each route then reads it into its DTO (`crate::dto::body`), which reports every unknown,
//! read-only, missing or wrongly typed field in one 422, not only the first.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use domain::ValidationErrors;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bodies larger than this are parsed off the HTTP workers (see [`HeavyTurn`]).
pub const HEAVY_BODY_BYTES: usize = 64 * 1024;

/// How long heavy work may wait for its turn before the request is refused as overloaded.
const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A turn on the threads for CPU-heavy request work: parsing a large body and checking what
/// it holds. Parsing a 1 MiB body of small objects takes about a tenth of a second and builds
/// a document many times its size; on an HTTP worker that would stall every other request
/// and database connection the worker holds, and with no bound on how many run at once, 32
/// clients sending such bodies in a loop took the process past 600 MB. So the instance has
/// half the CPUs' worth of threads for it (at least one) and as many turns: a request takes a
/// turn once its body has arrived (a slow sender never holds one), keeps it from the parse to
/// the end of its checks, and gives it back before it touches the database. At most that many
/// parsed documents exist at once; the rest wait their turn as bytes, and a turn that does
/// not come within a few seconds is a 503 `overloaded`. A few long-lived threads rather than
/// the blocking pool: each thread the allocator sees gets an arena of its own, and a parse's
/// memory, freed, stays in that arena, so dozens of pool threads each kept a parse's worth.
#[derive(Debug)]
pub struct HeavyTurn {
    /// `None` when the threads could not be started: the work then runs where it is called.
    turn: Option<(&'static HeavyThreads, tokio::sync::SemaphorePermit<'static>)>,
}

type HeavyJob = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
struct HeavyThreads {
    turns: tokio::sync::Semaphore,
    jobs: std::sync::mpsc::SyncSender<HeavyJob>,
}

impl HeavyThreads {
    /// The instance's threads, started on first use; `None` if none could be started.
    fn get() -> Option<&'static Self> {
        static HEAVY: std::sync::OnceLock<Option<HeavyThreads>> = std::sync::OnceLock::new();
        HEAVY
            .get_or_init(|| {
                let threads = (std::thread::available_parallelism().map_or(1, usize::from) / 2).max(1);
                let (jobs, queue) = std::sync::mpsc::sync_channel::<HeavyJob>(threads);
                let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
                for n in 0..threads {
                    let queue = queue.clone();
                    let spawned = std::thread::Builder::new().name(format!("heavy-{n}")).spawn(move || {
                        loop {
                            let job = match queue.lock() {
                                Ok(queue) => queue.recv(),
                                Err(poisoned) => poisoned.into_inner().recv(),
                            };
                            match job {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        }
                    });
                    if let Err(error) = spawned {
                        tracing::error!(%error, "could not start a thread for heavy request work");
                        return None;
                    }
                }
                Some(HeavyThreads { turns: tokio::sync::Semaphore::new(threads), jobs })
            })
            .as_ref()
    }
}

impl HeavyTurn {
    /// Waits for a turn: `overloaded` when none comes within a few seconds.
    pub async fn take() -> Result<Self, ApiError> {
        let Some(threads) = HeavyThreads::get() else { return Ok(Self { turn: None }) };
        let Ok(Ok(permit)) = tokio::time::timeout(HEAVY_WAIT, threads.turns.acquire()).await else {
            crate::limits::count_rejection("overloaded");
            return Err(ApiError::Overloaded);
        };
        Ok(Self { turn: Some((threads, permit)) })
    }

    /// Runs `work` on a heavy-work thread and waits for its result. A turn is a free thread:
    /// there are as many turns as threads, and `&mut self` keeps each turn to one job at a time.
    pub async fn run<T: Send + 'static>(&mut self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let Some((threads, _)) = &self.turn else { return Ok(work()) };
        let (done, outcome) = tokio::sync::oneshot::channel();
        let job: HeavyJob = Box::new(move || {
            let _ = done.send(work());
        });
        if threads.jobs.try_send(job).is_err() {
            tracing::error!("the threads for heavy request work are gone");
            return Err(ApiError::Internal);
        }
        outcome.await.map_err(|_| {
            tracing::error!("heavy request work panicked");
            ApiError::Internal
        })
    }
}

/// How long a request body may take to arrive (`BODY_TIMEOUT`), as app data.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

impl Default for BodyTimeout {
    fn default() -> Self {
        Self(std::time::Duration::from_secs(10))
    }
}

/// A well-formed JSON request body. A large one comes with the [`HeavyTurn`] it was parsed
/// on, for the checks that follow; [`JsonBody::into_value`] gives the turn back.
#[derive(Debug)]
pub struct JsonBody(pub Value, pub Option<HeavyTurn>);

impl JsonBody {
    /// The document, for checks cheap enough to run on the HTTP worker.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// Runs `check` on the document: on the body's heavy-work turn when it came with one (and
    /// the turn ends with it), else right here.
    pub async fn check<T: Send + 'static>(
        self,
        check: impl FnOnce(Value) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let JsonBody(value, turn) = self;
        match turn {
            Some(mut turn) => turn.run(move || check(value)).await,
            None => Ok(check(value)),
        }
    }
}

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
        let timeout = req.app_data::<BodyTimeout>().copied().unwrap_or_default().0;
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if declared_too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            // A client that sends its body slowly would otherwise hold the connection, and the
            // part it sent, for as long as it likes.
            let Ok(read) = tokio::time::timeout(timeout, bytes).await else {
                crate::limits::count_rejection("body_timeout");
                return Err(ApiError::RequestTimeout);
            };
            let bytes = read.map_err(|e| match e.as_response_error().status_code().as_u16() {
                413 => ApiError::PayloadTooLarge,
                _ => ApiError::bad_request("the request body could not be read"),
            })?;
            let not_json = |e: serde_json::Error| ApiError::bad_request(format!("the body is not valid JSON: {e}"));
            if bytes.len() <= HEAVY_BODY_BYTES {
                return parse_json(&bytes).map(|value| JsonBody(value, None)).map_err(not_json);
            }
            let mut turn = HeavyTurn::take().await?;
            let value = turn.run(move || parse_json(&bytes)).await?.map_err(not_json)?;
            Ok(JsonBody(value, Some(turn)))
        })
    }
}

/// Parses a JSON document as `serde_json` does, except that an object with a key twice is an
/// error: "last one wins" would let a body say two things at once, and which one a proxy, a
/// log or a signature check in front of the service read is anybody's guess.
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde::Deserialize::deserialize(&mut deserializer).map(|StrictValue(v)| v)?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value whose objects have distinct keys.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate key `{}`", key.escape_debug())));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
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
        Box::pin(async move { body.await.map(|b| OptionalJsonBody(Some(b.into_value()))) })
    }
}

/// The parameters of a query string, decoded. A name or value with U+0000 in it is reported as
/// a `format` error on that parameter and left out: no string with it reaches the database.
pub fn query_pairs(raw: &str, errors: &mut ValidationErrors) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if name.contains('\0') || value.contains('\0') {
            errors.add(name.replace('\0', "\u{fffd}"), "format", domain::validation::NUL_MESSAGE);
            continue;
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    pairs
}

/// The query parameters of one route as a typed struct, which is also what the document shows
/// (`IntoParams`). [`parse_query`] reads a query string into it, listing every problem: a bad
/// value, a name given twice (unless the struct lets it repeat), a name it does not take
/// (`unknown_parameter`). The route then makes the domain's query of it, adding what only the
/// whole can tell (a cursor that belongs to another order).
pub trait QueryParams: Default + utoipa::IntoParams {
    /// The names that may be given more than once (each value is taken).
    const REPEATABLE: &'static [&'static str] = &[];

    /// Takes one parameter, reporting a bad value in `errors`; `false` when `name` is not one
    /// of these parameters.
    fn take(&mut self, name: &str, value: String, errors: &mut ValidationErrors) -> bool;
}

/// Reads `raw` into `P` (see [`QueryParams`]), with every problem found.
pub fn parse_query<P: QueryParams>(raw: &str) -> (P, ValidationErrors) {
    let mut params = P::default();
    let mut errors = ValidationErrors::new();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in query_pairs(raw, &mut errors) {
        if !P::REPEATABLE.contains(&name.as_str()) && seen.contains(&name) {
            errors.add(name, "repeated", "may be given only once");
            continue;
        }
        seen.push(name.clone());
        if !params.take(&name, value, &mut errors) {
            errors.add(name, "unknown_parameter", "is not a parameter of this list");
        }
    }
    (params, errors)
}

/// `true` or `false`.
pub fn flag(name: &str, value: &str, errors: &mut ValidationErrors) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.add(name, "one_of", "must be true or false");
            None
        }
    }
}

/// A page's `limit` (see [`domain::page::parse_limit`]).
pub fn limit(value: &str, errors: &mut ValidationErrors) -> Option<u64> {
    domain::page::parse_limit(value).map_err(|broken| broken.report("limit", errors)).ok()
}

/// A UUID from the path, in its canonical `8-4-4-4-12` hexadecimal spelling (either case);
/// anything else, other spellings `Uuid::parse_str` would take included (braces, `urn:uuid:`,
/// no hyphens), is a missing resource: one resource has one URL.
pub fn path_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    let bytes = raw.as_bytes();
    let canonical = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !canonical {
        return Err(ApiError::NotFound);
    }
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
    fn only_the_canonical_spelling_of_an_id_names_a_resource() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(path_id(&id.to_string()).ok(), Some(id));
        assert_eq!(path_id(&id.to_string().to_uppercase()).ok(), Some(id));
        for other in [
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            id.simple().to_string(),
            format!(" {id}"),
            format!("{id}0"),
            id.to_string().replacen('-', "+", 1),
            "not-a-uuid".to_owned(),
        ] {
            assert!(path_id(&other).is_err(), "{other}");
        }
    }

    #[test]
    fn json_with_a_repeated_key_is_refused_and_everything_else_parses_as_serde_json_does() {
        for text in [
            r#"{"a": 1, "b": [true, null, -2, 3.5, "s\u00e9"], "c": {"d": {}}, "e": 18446744073709551615}"#,
            "[]",
            "\"x\"",
            "-0.0",
        ] {
            let expected: Value = serde_json::from_str(text).expect("json");
            assert_eq!(parse_json(text.as_bytes()).expect(text), expected, "{text}");
        }
        let error = parse_json(br#"{"title": "a", "title": "b"}"#).expect_err("duplicate");
        assert!(error.to_string().contains("duplicate key `title`"), "{error}");
        assert!(parse_json(br#"{"t": [{"k": 1, "k": 2}]}"#).is_err(), "nested duplicates too");
        assert!(parse_json(br#"{"a": 1} x"#).is_err(), "trailing characters");
        assert!(parse_json(br#"{"a": "\ud800"}"#).is_err(), "a lone surrogate");
    }

    #[test]
    fn digests_ignore_formatting_and_key_order() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).expect("json");
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&json!({"a": 2, "b": [1, 2]})));
    }
}
