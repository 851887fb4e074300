//! Leaving a load balancer's rotation before stopping, so a rolling or blue-green deploy costs
//! clients nothing.
//!
//! On SIGTERM or SIGINT the instance starts draining: `/health/ready` and `/health` answer
//! `503 {"status": "draining", ...}` at once, without asking the database, while every other
//! route keeps serving for `DRAIN_DELAY`. A load balancer whose health check sees the 503
//! (after `fall` failed checks, `interval` apart) stops sending new requests here, so the
//! delay must be at least `interval × fall`. Every answer during the drain carries
//! `Connection: close`, so clients and proxies that keep connections alive open their next one
//! to another instance. When the delay is over, or on a second signal, the server stops
//! accepting connections and gives the requests in flight up to `app.shutdown_timeout` to
//! finish; then the pools close.

use actix_web::http::ConnectionType;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the instance is draining, shared by every worker (as app data) and the signal
/// handler.
#[derive(Clone, Debug, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// From now on readiness answers 503 and every answer closes its connection.
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Marks `response` to close its connection once it is sent.
pub fn close_connection(response: &mut actix_web::HttpResponse) {
    response.head_mut().set_connection_type(ConnectionType::Close);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_is_seen_by_every_clone_and_a_closed_answer_says_so() {
        let drain = Drain::default();
        let seen_by_a_worker = drain.clone();
        assert!(!seen_by_a_worker.is_draining());
        drain.start();
        assert!(seen_by_a_worker.is_draining());
        let mut response = actix_web::HttpResponse::Ok().finish();
        assert_ne!(response.head().connection_type(), ConnectionType::Close);
        close_connection(&mut response);
        assert_eq!(response.head().connection_type(), ConnectionType::Close);
    }
}
