//! `/admin`: operator routes, for tokens with the `admin` role only.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::responses::{Forbidden, Internal, Unauthorized};
use crate::routes::health::PoolFigures;
use actix_web::{HttpResponse, web};
use infrastructure::Database;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /admin/db/pool-stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolStatsResponse {
    /// `traffic` first, then `direct` when the traffic goes through a separate pooled endpoint.
    pub pools: Vec<PoolReport>,
    /// Requests that gave up waiting for a pooled connection (`DB_ACQUIRE_TIMEOUT`) since the
    /// process started.
    pub acquire_timeouts: u64,
    /// Acquires that took longer than 5 ms (the pool was busy, or a connection had to be
    /// opened) since the process started.
    pub acquire_waits: u64,
}

/// One pool's figures, acquire waits and acquire timeouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolReport {
    #[serde(flatten)]
    pub figures: PoolFigures,
    /// Acquire timeouts on this pool since the process started (counted on `traffic`, where
    /// requests run; 0 on `direct`).
    pub acquire_timeouts: u64,
    /// Acquires on this pool that took longer than 5 ms since the process started (counted on
    /// `traffic`; 0 on `direct`).
    pub acquire_waits: u64,
}

/// Connection pool statistics (admin only)
///
/// Each pool's size, idle and in-use connections, configured bounds, and the acquire waits
/// (acquires slower than 5 ms) and timeouts since the process started. Needs a bearer token with the `admin` role: 401
/// without a valid token, 403 without the role.
#[utoipa::path(
    get,
    path = "/admin/db/pool-stats",
    operation_id = "admin_pool_stats",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pools right now.", body = PoolStatsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
)]
pub async fn pool_stats(caller: Caller, database: web::Data<Database>) -> Result<HttpResponse, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::Forbidden);
    }
    let figures = database.figures();
    let (timeouts, waits) = (figures.acquire_timeouts, figures.acquire_waits);
    let pools = figures
        .pools
        .iter()
        .map(|p| PoolReport {
            figures: PoolFigures::from(p),
            // Timeouts are counted where requests run: on the traffic pool.
            acquire_timeouts: if p.name == "traffic" { timeouts } else { 0 },
            acquire_waits: if p.name == "traffic" { waits } else { 0 },
        })
        .collect();
    Ok(HttpResponse::Ok().json(PoolStatsResponse { pools, acquire_timeouts: timeouts, acquire_waits: waits }))
}
