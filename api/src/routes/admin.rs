//! `/admin`: operator routes, for tokens with the `admin` role only.

use crate::auth::Caller;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use infrastructure::Database;
use serde_json::json;

/// `GET /admin/db/pool-stats`: each pool's size, idle and in-use connections, configured
/// bounds, and the acquire timeouts since the process started. 401 without a valid token,
/// 403 without the `admin` role.
pub async fn pool_stats(caller: Caller, database: web::Data<Database>) -> Result<HttpResponse, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::Forbidden);
    }
    let timeouts = infrastructure::database::errors::acquire_timeouts();
    let pools: Vec<serde_json::Value> = database
        .pool_stats()
        .into_iter()
        .map(|p| {
            let mut value = serde_json::to_value(&p).unwrap_or_default();
            // Timeouts are counted where requests run: on the traffic pool.
            value["acquire_timeouts"] = json!(if p.name == "traffic" { timeouts } else { 0 });
            value
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "pools": pools, "acquire_timeouts": timeouts })))
}
