//! Request ids, the request context of log lines, and the guarantee that every response is
//! shaped by the API's rules.
//!
//! The outermost middleware takes the client's `X-Request-Id` when it is 1–200 visible ASCII
//! characters, else makes one (a UUID v7). It makes the request's [`Context`] (id, method,
//! path, and the route template once `telemetry::request_log` knows it) current while
//! the request is handled, for error rendering and for every log line written meanwhile, and
//! puts the id on every response. A 4xx/5xx that an inner layer answered without a problem
//! body (actix's own 404 and 405, for instance) is replaced by the matching problem, so every
//! error has one shape. JSON error bodies are left alone: they are problems, or the health
//! probes' documented `{"status": "unhealthy", ...}`.
//!
//! The context is a task-local, not a tracing span: a span costs its registration, its
//! fields' formatting and an enter and exit on every poll, which together came to a quarter
//! of a GET's work; the JSON log lines (`crate::json_log`) show the context as the span they
//! used to show.
//!
//! It also sets the headers OWASP's REST security cheat sheet asks of an API on every
//! response: `X-Content-Type-Options: nosniff`, `Content-Security-Policy: frame-ancestors
//! 'none'` and, on the authenticated routes (`/api/`, `/admin/`), `Cache-Control: no-store`,
//! so no shared cache or browser keeps one user's data.

use crate::error::ApiError;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::rc::Rc;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request being handled, as its log lines show it.
#[derive(Debug)]
pub struct Context {
    pub id: String,
    pub method: Method,
    pub path: String,
    /// The route template (`/api/v1/tasks/{id}`, `unmatched` when no route matched), set
    /// by `telemetry::request_log` once the handler has answered, when request lines are
    /// logged: the completion line shows it, lines written during the handler do not.
    pub route: std::cell::OnceCell<std::sync::Arc<str>>,
}

tokio::task_local! {
    static CURRENT: Rc<Context>;
}

/// The request id of the request being handled ("" outside of one).
pub fn current() -> String {
    CURRENT.try_with(|c| c.id.clone()).unwrap_or_default()
}

/// Runs `f` as if handling the request of `context`.
#[cfg(test)]
pub(crate) fn in_context<R>(context: Context, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Rc::new(context), f)
}

/// Runs `f` with the request being handled, if any.
pub fn with_current<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    CURRENT.try_with(|c| f(c)).ok()
}

fn accept(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    (visible && (1..=200).contains(&bytes.len())).then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// The middleware; see the module docs.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req.headers().get(&HEADER).and_then(accept).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let private = is_private(req.path());
    let context = Rc::new(Context {
        id,
        method: req.method().clone(),
        path: req.path().to_owned(),
        route: std::cell::OnceCell::new(),
    });
    let outcome = CURRENT.scope(context.clone(), next.call(req)).await;
    let id = &context.id;
    match outcome {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            // Our own handlers answer errors in JSON (problems, or the health probes' own
            // documented bodies); anything else came from a layer that does not know the API.
            let is_json = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
                let v = v.as_bytes();
                v.starts_with(b"application/problem+json") || v.starts_with(b"application/json")
            });
            if res.status().as_u16() >= 400 && !is_json {
                let mut response =
                    CURRENT.sync_scope(context.clone(), || ApiError::for_status(res.status()).error_response());
                // A 405's `Allow` (RFC 9110 requires it) names what the path does support.
                if let Some(allow) = res.headers().get(header::ALLOW) {
                    response.headers_mut().insert(header::ALLOW, allow.clone());
                }
                let (req, _) = res.into_parts();
                res = ServiceResponse::new(req, response);
            }
            if let Ok(value) = HeaderValue::from_str(id) {
                res.headers_mut().insert(HEADER, value);
            }
            let private = is_private(res.request().path());
            secure(res.headers_mut(), private);
            let draining =
                res.request().app_data::<actix_web::web::Data<crate::drain::Drain>>().is_some_and(|d| d.is_draining());
            if draining {
                crate::drain::close_connection(res.response_mut());
            }
            Ok(res)
        }
        // An error that escaped every handler: answer it in the same shape, with the id.
        Err(error) => {
            let mut response = CURRENT.sync_scope(context.clone(), || error.error_response());
            if let Ok(value) = HeaderValue::from_str(id) {
                response.headers_mut().insert(HEADER, value);
            }
            secure(response.headers_mut(), private);
            Err(actix_web::error::InternalError::from_response(error.to_string(), response).into())
        }
    }
}

/// Routes whose answers belong to one caller.
fn is_private(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/admin/")
}

fn secure(headers: &mut actix_web::http::header::HeaderMap, private: bool) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
