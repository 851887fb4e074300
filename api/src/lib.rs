//! The HTTP layer: routes, extractors, error mapping and start-up wiring.
//!
//! It parses requests into domain types, calls domain services, maps errors to HTTP and wires
//! everything together at start-up. It holds no business rules and no SQL.

pub mod auth;
pub mod cli;
pub mod cors;
pub mod drain;
pub mod dto;
pub mod error;
pub mod extract;
pub mod json_log;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod server_timing;
pub mod startup;
pub mod telemetry;

pub use startup::Application;
