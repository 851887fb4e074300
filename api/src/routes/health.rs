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

use actix_web::{HttpResponse, web};
use infrastructure::Database;
use serde_json::json;
use std::time::Duration;

/// A database round trip slower than this makes `/health/db` report `degraded`.
pub const DEGRADED_LATENCY: Duration = Duration::from_millis(100);

/// What the probes need: the pools and how long to wait for them.
#[derive(Clone, Debug)]
pub struct Probe {
    pub database: Database,
    pub timeout: Duration,
}

/// `GET /health/live`: the process is up and serving. Never touches the database, so a
/// database outage does not get the service restarted by its orchestrator.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// `GET /health` and `GET /health/ready`: ready to serve requests that need the database.
pub async fn ready(probe: web::Data<Probe>) -> HttpResponse {
    match probe.database.ping(probe.timeout).await {
        Ok(_) => HttpResponse::Ok().json(json!({ "status": "healthy", "database": "connected" })),
        Err(error) => {
            tracing::warn!(%error, "readiness probe: database unreachable");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unhealthy", "database": "unreachable" }))
        }
    }
}

/// `GET /health/db`: `healthy` when `SELECT 1` answers within 100 ms and the traffic pool has
/// a free connection, `degraded` when slower or the pool is saturated, `unhealthy` (503)
/// when it does not answer within the connect timeout.
pub async fn database(probe: web::Data<Probe>) -> HttpResponse {
    let outcome = probe.database.ping(probe.timeout).await;
    let pools = probe.database.pool_stats();
    let saturated = pools.first().is_some_and(|p| p.in_use >= p.max);
    let (status, latency_ms, error) = match &outcome {
        Ok(latency) if *latency < DEGRADED_LATENCY && !saturated => {
            ("healthy", Some(latency.as_secs_f64() * 1000.0), None)
        }
        Ok(latency) => ("degraded", Some(latency.as_secs_f64() * 1000.0), None),
        Err(error) => ("unhealthy", None, Some(error.to_string())),
    };
    if let Some(error) = &error {
        tracing::warn!(%error, "database health probe failed");
    }
    let body = json!({
        "status": status,
        "latency_ms": latency_ms.map(|ms| (ms * 1000.0).round() / 1000.0),
        "timestamp": crate::dto::timestamp(&chrono::Utc::now()),
        "pool": pools.first(),
        "pools": pools,
        "thresholds": { "degraded_latency_ms": DEGRADED_LATENCY.as_millis(), "timeout_ms": probe.timeout.as_millis() },
    });
    if outcome.is_ok() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
