//! Health probes.

use actix_web::HttpResponse;
use serde_json::json;

/// `GET /health/live`: the process is up and serving. Never touches the database, so a
/// database outage does not get the service restarted by its orchestrator.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}
