//! `Server-Timing: db;desc="statements=N";dur=M` on every response: how many statements the
//! request sent to the database and how long they took in total (milliseconds). Browsers'
//! developer tools show it; tests read it to prove a page costs one query.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use infrastructure::observe;

pub const HEADER: HeaderName = HeaderName::from_static("server-timing");

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (outcome, tally) = observe::tally(next.call(req)).await;
    let mut response = outcome?;
    let value = format!("db;desc=\"statements={}\";dur={:.3}", tally.statements, tally.time.as_secs_f64() * 1000.0);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}
