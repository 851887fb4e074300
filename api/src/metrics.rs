//! Prometheus metrics, served as text at `/metrics`.
//!
//! - `http_requests_total{method, route, status}`: `route` is the route template
//!   (`/api/v1/tasks/{id}`), never a raw path, so ids do not explode the label set;
//!   requests that match no route count as `unmatched`.
//! - `http_request_duration_seconds{method, route}`: a latency histogram.
//! - `db_pool_connections{pool, state}` (`idle`, `in_use`) and `db_pool_max_connections{pool}`.
//! - `db_errors_total{kind}`: database errors by class (see `infrastructure::database::errors`).
//! - `db_acquire_timeouts_total`: requests that gave up waiting for a pooled connection.
//! - `db_acquire_waits_total`: acquires that took longer than 5 ms.
//! - `db_circuit_breaker_state`: 0 closed, 1 half-open, 2 open; `db_circuit_breaker_opened_total`.
//! - `db_retries_total`: database calls retried after a transient failure.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use infrastructure::Database;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's metrics recorder. Metrics are process-wide by nature; several servers in one
/// process (as in the test suite) share it.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), LATENCY_BUCKETS)
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness's); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts and times every request by route template and status.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    let route = match crate::routes::RouteTemplate::of(response.request()) {
        Some(template) => SharedString::from_shared(template.0.clone()),
        None => SharedString::const_str("unmatched"),
    };
    let status = SharedString::from(response.status().as_str().to_owned());
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// A method as a label, without an allocation for the standard ones.
fn method_label(method: &actix_web::http::Method) -> SharedString {
    const STANDARD: [&str; 9] = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];
    match STANDARD.into_iter().find(|name| *name == method.as_str()) {
        Some(name) => SharedString::const_str(name),
        None => SharedString::from(method.as_str().to_owned()),
    }
}

/// Prometheus metrics
///
/// The Prometheus text exposition format (version 0.0.4). Open route: ignores any
/// `Authorization` header. The metrics:
///
/// - `http_requests_total{method, route, status}`: requests by route template
///   (`/api/v1/tasks/{id}`, never a raw path, so ids do not explode the label set) and
///   status; requests that match no route count as route `unmatched`.
/// - `http_request_duration_seconds{method, route}`: a latency histogram (buckets from 1 ms
///   to 10 s).
/// - `db_pool_connections{pool, state}` (`state` = `idle` | `in_use`) and
///   `db_pool_max_connections{pool}` (`pool` = `traffic` | `direct`).
/// - `db_errors_total{kind}`: database errors by class.
/// - `db_acquire_timeouts_total`: requests that gave up waiting for a pooled connection.
/// - `db_acquire_waits_total`: acquires that took longer than 5 ms.
/// - `db_circuit_breaker_state`: 0 closed, 1 half-open, 2 open; `db_circuit_breaker_opened_total`.
/// - `db_retries_total`: database calls retried after a transient failure.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The metrics, as Prometheus text.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
    ),
)]
pub async fn render(handle: web::Data<PrometheusHandle>, database: web::Data<Database>) -> HttpResponse {
    for pool in database.pool_stats() {
        metrics::gauge!("db_pool_connections", "pool" => pool.name, "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!("db_pool_connections", "pool" => pool.name, "state" => "in_use").set(f64::from(pool.in_use));
        metrics::gauge!("db_pool_max_connections", "pool" => pool.name).set(f64::from(pool.max));
    }
    metrics::counter!("db_acquire_timeouts_total").absolute(infrastructure::database::errors::acquire_timeouts());
    metrics::counter!("db_acquire_waits_total").absolute(infrastructure::database::pool_events::acquire_waits());
    metrics::gauge!("db_circuit_breaker_state").set(database.guard().state().gauge());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}
