//! Prometheus metrics, served as text at `/metrics`.
//!
//! - `http_requests_total{method, route, status}`: `route` is the route template
//!   (`/api/v1/tasks/{id}`), never a raw path, so ids do not explode the label set;
//!   requests that match no route count as `unmatched`, and a method that is not one of
//!   HTTP's standard ones as `OTHER`: every label comes from a closed set.
//! - `http_request_duration_seconds{method, route}`: a latency histogram.
//! - `http_requests_rejected_total{reason}`: requests refused by the limits (`overloaded`,
//!   `rate_limited_user`, `rate_limited_address`, `body_timeout`).
//! - `db_pool_connections{pool, state}` (`idle`, `in_use`) and `db_pool_max_connections{pool}`.
//! - `db_errors_total{kind}`: database errors by class (see `infrastructure::observe::ERROR_KINDS`).
//! - `db_acquire_timeouts_total`: requests that gave up waiting for a pooled connection.
//! - `db_acquire_waits_total`: acquires that took longer than 5 ms.
//! - `db_circuit_breaker_state`: 0 closed, 1 half-open, 2 open; `db_circuit_breaker_opened_total`.
//! - `db_retries_total`: database calls retried after a transient failure.
//!
//! Every family but the per-request ones is exported from start-up, at zero, so an alert on
//! it can be written before it first moves; every family has a `# HELP` line. The recorder
//! keeps histogram samples until they are folded into the buckets, which a scrape or the
//! upkeep does: the upkeep runs every few seconds, so memory stays flat whether or not
//! anything scrapes.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use infrastructure::Database;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often histogram samples are folded into their buckets when nothing scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

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
            describe_and_register();
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Samples recorded between two scrapes wait in the recorder until a render or an upkeep folds
/// them into the histogram; without a scraper they would pile up (about 16 bytes a request).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the metrics upkeep thread; latency samples will wait for a scrape");
    }
}

/// `# HELP` for every family, and the families that need no request to exist, at zero.
fn describe_and_register() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by method (standard methods, else OTHER), route template (else unmatched) and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_counter!(
        "http_requests_rejected_total",
        "Requests refused by the limits: overloaded (MAX_IN_FLIGHT), rate_limited_user, rate_limited_address, body_timeout."
    );
    describe_gauge!("db_pool_connections", "Database connections by pool (traffic, direct) and state (idle, in_use).");
    describe_gauge!("db_pool_max_connections", "The most connections each pool opens.");
    describe_counter!("db_errors_total", "Database errors by kind.");
    describe_counter!("db_acquire_timeouts_total", "Requests that gave up waiting for a pooled connection.");
    describe_counter!("db_acquire_waits_total", "Connection acquires that took longer than 5 ms.");
    describe_gauge!("db_circuit_breaker_state", "The circuit breaker: 0 closed, 1 half-open, 2 open.");
    describe_counter!("db_circuit_breaker_opened_total", "Times the circuit breaker opened.");
    describe_counter!("db_retries_total", "Database calls retried after a transient failure.");
    describe_counter!(
        "db_reads_total",
        "With DATABASE_URL_READ: reads that may use the read replica, by where they ran (replica, primary)."
    );
    describe_gauge!(
        "db_replica_state",
        "With DATABASE_URL_READ: the read replica, 0 serving reads, 1 behind (reads go to the primary), 2 unreachable."
    );
    describe_gauge!(
        "db_replica_lag_seconds",
        "With DATABASE_URL_READ: how long the last check waited for the replica to replay the primary's position."
    );
    for reason in crate::limits::REJECTION_REASONS {
        metrics::counter!("http_requests_rejected_total", "reason" => reason).absolute(0);
    }
    for kind in infrastructure::observe::ERROR_KINDS {
        metrics::counter!("db_errors_total", "kind" => kind).absolute(0);
    }
    for name in
        ["db_acquire_timeouts_total", "db_acquire_waits_total", "db_circuit_breaker_opened_total", "db_retries_total"]
    {
        metrics::counter!(name).absolute(0);
    }
    metrics::gauge!("db_circuit_breaker_state").increment(0.0);
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

/// A method as a label: one of HTTP's standard methods, else `OTHER`, so no client can add
/// label values by inventing methods.
fn method_label(method: &actix_web::http::Method) -> SharedString {
    const STANDARD: [&str; 9] = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];
    SharedString::const_str(STANDARD.into_iter().find(|name| *name == method.as_str()).unwrap_or("OTHER"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_labelled_from_a_closed_set() {
        let label =
            |m: &str| method_label(&actix_web::http::Method::from_bytes(m.as_bytes()).expect("method")).to_string();
        assert_eq!(label("GET"), "GET");
        assert_eq!(label("PATCH"), "PATCH");
        assert_eq!(label("BREW"), "OTHER");
        assert_eq!(label(&"X".repeat(60_000)), "OTHER");
        assert_eq!(label("get"), "OTHER", "methods are case-sensitive");
    }
}

/// Prometheus metrics
///
/// The Prometheus text exposition format (version 0.0.4). Open route: ignores any
/// `Authorization` header. The metrics:
///
/// - `http_requests_total{method, route, status}`: requests by route template
///   (`/api/v1/tasks/{id}`, never a raw path, so ids do not explode the label set) and
///   status; requests that match no route count as route `unmatched`, methods other than
///   HTTP's standard ones as `OTHER`.
/// - `http_requests_rejected_total{reason}`: requests refused by the limits: `overloaded`,
///   `rate_limited_user`, `rate_limited_address`, `body_timeout`.
/// - `http_request_duration_seconds{method, route}`: a latency histogram (buckets from 1 ms
///   to 10 s).
/// - `db_pool_connections{pool, state}` (`state` = `idle` | `in_use`) and
///   `db_pool_max_connections{pool}` (`pool` = `traffic` | `direct`).
/// - `db_errors_total{kind}`: database errors by class.
/// - `db_acquire_timeouts_total`: requests that gave up waiting for a pooled connection.
/// - `db_acquire_waits_total`: acquires that took longer than 5 ms.
/// - `db_circuit_breaker_state`: 0 closed, 1 half-open, 2 open; `db_circuit_breaker_opened_total`.
/// - `db_retries_total`: database calls retried after a transient failure.
///
/// Every family but the two per-request ones exists from start-up, at zero; each has a
/// `# HELP` line.
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
    let figures = database.figures();
    for pool in &figures.pools {
        metrics::gauge!("db_pool_connections", "pool" => pool.name, "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!("db_pool_connections", "pool" => pool.name, "state" => "in_use").set(f64::from(pool.in_use));
        metrics::gauge!("db_pool_max_connections", "pool" => pool.name).set(f64::from(pool.max));
    }
    metrics::counter!("db_acquire_timeouts_total").absolute(figures.acquire_timeouts);
    metrics::counter!("db_acquire_waits_total").absolute(figures.acquire_waits);
    metrics::gauge!("db_circuit_breaker_state").set(figures.breaker.gauge());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}
