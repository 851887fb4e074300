//! Health probes. Open routes: they ignore any `Authorization` header.
//!
//! | route            | touches the database | answers                                     |
//! |------------------|----------------------|---------------------------------------------|
//! | `/health/live`   | never                | 200 while the process serves                |
//! | `/health`, `/health/ready` | `SELECT 1` | 200 connected / 503 unreachable             |
//! | `/health/db`     | `SELECT 1`           | healthy / degraded / unhealthy (503), pools |
//!
//! Every database probe gives up after `DB_CONNECT_TIMEOUT`, so a database host that swallows
//! packets costs a probe that long and no longer.

use crate::drain::Drain;
use actix_web::{HttpResponse, web};
use domain::error::Chain;
use infrastructure::Database;
use infrastructure::observe::{BreakerState, PoolStats, ReplicaState};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// A database round trip slower than this makes `/health/db` report `degraded`.
pub const DEGRADED_LATENCY: Duration = Duration::from_millis(100);

/// What the probes need: the pools and how long to wait for them.
#[derive(Clone, Debug)]
pub struct Probe {
    pub database: Database,
    pub timeout: Duration,
}

/// The liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    pub status: Alive,
}

/// Always `alive`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Alive {
    Alive,
}

/// The readiness answer: `{"status": "healthy", "database": "connected"}` (200) or
/// `{"status": "unhealthy", "database": "unreachable"}` (503).
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadyStatus,
    pub database: DatabaseState,
}

/// `healthy`, `unhealthy` (the database did not answer) or `draining` (the instance is
/// shutting down and leaving the load balancer's rotation; the database was not asked).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Healthy,
    Unhealthy,
    Draining,
}

/// `connected`, `unreachable`, or `not_checked` while draining.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseState {
    Connected,
    Unreachable,
    NotChecked,
}

impl Readiness {
    const READY: Self = Self { status: ReadyStatus::Healthy, database: DatabaseState::Connected };
    const NOT_READY: Self = Self { status: ReadyStatus::Unhealthy, database: DatabaseState::Unreachable };
    const DRAINING: Self = Self { status: ReadyStatus::Draining, database: DatabaseState::NotChecked };
}

/// The database probe's answer (200 when `healthy` or `degraded`, 503 when `unhealthy`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseHealth {
    pub status: DatabaseHealthStatus,
    /// The `SELECT 1` round trip in milliseconds (microsecond precision); `null` when it failed.
    #[schema(required = true)]
    pub latency_ms: Option<f64>,
    /// When the probe ran (RFC 3339, UTC, `Z` suffix).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The traffic pool (the one request queries use).
    #[schema(required = true)]
    pub pool: Option<PoolFigures>,
    /// Every pool: `traffic`, and `direct` when the traffic goes through a separate pooled endpoint.
    pub pools: Vec<PoolFigures>,
    /// The database circuit breaker: `closed` (calls go through), `open` (the database was
    /// found away; calls answer 503 at once) or `half_open` (one call probes it).
    #[schema(value_type = String, example = "closed")]
    pub circuit_breaker: BreakerState,
    pub thresholds: Thresholds,
    /// The read replica, when `DATABASE_URL_READ` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaHealth>,
}

/// The read replica: whether reads go to it, and its lag as last measured.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaHealth {
    /// `serving` (it holds every acknowledged write; reads go to it), `behind` (no recent
    /// check found it caught up; reads go to the primary) or `unreachable` (the last check or
    /// read could not reach it; reads go to the primary).
    #[schema(value_type = String, example = "serving")]
    pub state: ReplicaState,
    /// How long the last successful check waited for the replica to replay the primary's
    /// position, in milliseconds.
    pub lag_ms: f64,
    /// `DB_REPLICA_WAIT` in milliseconds: a write waits at most this long for the replica, and
    /// a replica further behind serves no reads.
    pub max_wait_ms: u64,
}

/// `healthy`: `SELECT 1` answered within `thresholds.degraded_latency_ms` (100 ms) and the
/// traffic pool has a free connection; `degraded`: slower, or the pool is saturated;
/// `unhealthy`: no answer within `thresholds.timeout_ms` (`DB_CONNECT_TIMEOUT`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseHealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The limits the database probe judges by.
#[derive(Debug, Serialize, ToSchema)]
pub struct Thresholds {
    /// A round trip slower than this is `degraded` (100).
    pub degraded_latency_ms: u64,
    /// The probe gives up (`unhealthy`) after this long: `DB_CONNECT_TIMEOUT`.
    pub timeout_ms: u64,
}

/// A connection pool right now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PoolFigures {
    /// `traffic` (request queries; the pooled endpoint when `DATABASE_URL_POOLED` is set),
    /// `direct` (migrations and admin work) or `read` (the read replica, `DATABASE_URL_READ`).
    #[schema(example = "traffic")]
    pub name: &'static str,
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    /// Configured `DB_POOL_MAX`.
    pub max: u32,
    /// Configured `DB_POOL_MIN`.
    pub min: u32,
}

impl From<&PoolStats> for PoolFigures {
    fn from(p: &PoolStats) -> Self {
        Self { name: p.name, size: p.size, idle: p.idle, in_use: p.in_use, max: p.max, min: p.min }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Liveness: the process is up and serving
///
/// Never touches the database, so a database outage does not get the service restarted by
/// its orchestrator. Ignores any `Authorization` header.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "health_live",
    tag = "health",
    responses((status = 200, description = "The process serves requests.", body = Liveness)),
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: Alive::Alive })
}

/// Readiness (same as `/health/ready`)
///
/// Ready to serve requests that need the database: `SELECT 1` on the traffic pool, giving up
/// after `DB_CONNECT_TIMEOUT`. Ignores any `Authorization` header.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "health",
    responses(
        (status = 200, description = "The database answered.", body = Readiness,
            example = json!({"status": "healthy", "database": "connected"})),
        (status = 503, description = "The database did not answer within `DB_CONNECT_TIMEOUT`, or the instance \
            is draining before it stops (`{\"status\": \"draining\", \"database\": \"not_checked\"}`, at once).",
            headers(("Retry-After" = u32, description = "Seconds to wait before probing again (2).")),
            body = Readiness, example = json!({"status": "unhealthy", "database": "unreachable"})),
    ),
)]
pub async fn health(probe: web::Data<Probe>, drain: web::Data<Drain>) -> HttpResponse {
    ready(probe, drain).await
}

/// Readiness
///
/// Ready to serve requests that need the database: `SELECT 1` on the traffic pool, giving up
/// after `DB_CONNECT_TIMEOUT`. Ignores any `Authorization` header.
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "health_ready",
    tag = "health",
    responses(
        (status = 200, description = "The database answered.", body = Readiness,
            example = json!({"status": "healthy", "database": "connected"})),
        (status = 503, description = "The database did not answer within `DB_CONNECT_TIMEOUT`, or the instance \
            is draining before it stops (`{\"status\": \"draining\", \"database\": \"not_checked\"}`, at once).",
            headers(("Retry-After" = u32, description = "Seconds to wait before probing again (2).")),
            body = Readiness, example = json!({"status": "unhealthy", "database": "unreachable"})),
    ),
)]
pub async fn ready(probe: web::Data<Probe>, drain: web::Data<Drain>) -> HttpResponse {
    if drain.is_draining() {
        return HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS))
            .json(Readiness::DRAINING);
    }
    match probe.database.ping(probe.timeout).await {
        Ok(_) => HttpResponse::Ok().json(Readiness::READY),
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "readiness probe: database unreachable");
            HttpResponse::ServiceUnavailable()
                .insert_header((actix_web::http::header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS))
                .json(Readiness::NOT_READY)
        }
    }
}

/// Database health, latency and pools
///
/// `healthy` when `SELECT 1` answers within 100 ms and the traffic pool has a free
/// connection, `degraded` when slower or the pool is saturated (both 200), `unhealthy` (503)
/// when it does not answer within `DB_CONNECT_TIMEOUT`. The thresholds in force are in the
/// body. Ignores any `Authorization` header.
#[utoipa::path(
    get,
    path = "/health/db",
    operation_id = "health_db",
    tag = "health",
    responses(
        (status = 200, description = "`healthy` or `degraded`.", body = DatabaseHealth),
        (status = 503, description = "`unhealthy`: no answer within `DB_CONNECT_TIMEOUT`.",
            headers(("Retry-After" = u32, description = "Seconds to wait before probing again (2).")),
            body = DatabaseHealth),
    ),
)]
pub async fn database(probe: web::Data<Probe>) -> HttpResponse {
    let outcome = probe.database.ping(probe.timeout).await;
    probe.database.keep_replica_checked();
    let figures = probe.database.figures();
    let pools: Vec<PoolFigures> = figures.pools.iter().map(PoolFigures::from).collect();
    let saturated = pools.first().is_some_and(|p| p.in_use >= p.max);
    let (status, latency_ms) = match &outcome {
        Ok(latency) if *latency < DEGRADED_LATENCY && !saturated => {
            (DatabaseHealthStatus::Healthy, Some(latency.as_secs_f64() * 1000.0))
        }
        Ok(latency) => (DatabaseHealthStatus::Degraded, Some(latency.as_secs_f64() * 1000.0)),
        Err(error) => {
            tracing::warn!(error = %Chain(error), "database health probe failed");
            (DatabaseHealthStatus::Unhealthy, None)
        }
    };
    let body = DatabaseHealth {
        status,
        latency_ms: latency_ms.map(|ms| (ms * 1000.0).round() / 1000.0),
        timestamp: crate::dto::timestamp(&chrono::Utc::now()),
        pool: pools.first().cloned(),
        pools,
        circuit_breaker: figures.breaker,
        thresholds: Thresholds { degraded_latency_ms: millis(DEGRADED_LATENCY), timeout_ms: millis(probe.timeout) },
        replica: figures.replica.map(|replica| ReplicaHealth {
            state: replica.state,
            lag_ms: (replica.lag.as_secs_f64() * 1e6).round() / 1000.0,
            max_wait_ms: millis(replica.max_wait),
        }),
    };
    if outcome.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS))
            .json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_latency_threshold_is_the_one_in_force() {
        assert_eq!(millis(DEGRADED_LATENCY), 100, "the /health/db description says 100 ms");
    }
}
