//! Cross-origin requests from browsers, for the origins `CORS_ALLOWED_ORIGINS` lists (none by
//! default, so nothing changes for clients that are not browsers).
//!
//! Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered here for every
//! route, with the methods and request headers the API uses; the response headers a client
//! reads are exposed to scripts. A preflight from another origin is a 400.

use actix_cors::Cors;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName};

/// How long a browser may cache a preflight's answer.
const MAX_AGE_SECONDS: usize = 3600;

/// The CORS middleware for `origins` (validated by the settings: `scheme://host[:port]`).
pub fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::HEAD, Method::POST, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(MAX_AGE_SECONDS)
}
