//! End-to-end suites: the service over HTTP and its database layer against real databases.
//!
//! The backend comes from the environment, so the same suite runs three ways (see
//! `scripts/test`):
//! - nothing set: SQLite, one temporary file per test;
//! - `TEST_DATABASE_URL`: PostgreSQL over that direct URL, one database per test, copied from
//!   a migrated template;
//! - plus `TEST_DATABASE_URL_POOLED`: request traffic through that pooler (PgBouncer in
//!   transaction mode, or Neon's `-pooler` endpoint) to the same per-test databases.
//!
//! The role in `TEST_DATABASE_URL` needs CREATEDB, like Neon's `neondb_owner`.

mod conversations;
mod database;
mod errors;
mod health;
mod helpers;
mod limits;
mod migrations;
mod openapi;
mod operations;
mod plans;
mod replica;
mod resilience;
mod schema;
mod secrets;
mod shapes;
mod statements;
mod tasks;
mod tasks_concurrency;
mod tasks_listing;
mod tasks_smoke;
