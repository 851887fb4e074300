//! Schema migrations for the service, run by `sea-orm-cli migrate`, `cargo run -p migration`,
//! the service's `api migrate` command and development auto-migration.
//!
//! This crate stands alone: it depends on nothing else in the workspace. Each migration holds
//! one concern and carries hand-written SQL for PostgreSQL and SQLite, because the schema relies
//! on things sea-query's builder does not express (CHECK constraints, triggers, partial
//! uniqueness), and a reviewer should see the exact DDL that runs.
//!
//! Migrations always run over the *direct* database URL: they use session state (the CLI's
//! `SET search_path`, the advisory lock below) that a transaction-mode pooler cannot keep.

pub use sea_orm_migration::prelude::*;

mod lock;
mod m20261123_000001_create_tasks;
mod m20261123_000002_create_conversations;
mod m20261123_000003_create_messages;
mod m20261123_000004_create_idempotency_keys;
mod m20261123_000005_add_updated_at_triggers;
mod m20261207_000006_add_idempotency_response;
mod m20261207_000007_index_live_tasks;
mod m20261207_000008_index_task_search;
mod m20261208_000009_index_task_search_digits;
mod sql;

pub use lock::{MIGRATION_LOCK_KEY, MigrationLock};

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tasks::Migration),
            Box::new(m20261123_000002_create_conversations::Migration),
            Box::new(m20261123_000003_create_messages::Migration),
            Box::new(m20261123_000004_create_idempotency_keys::Migration),
            Box::new(m20261123_000005_add_updated_at_triggers::Migration),
            Box::new(m20261207_000006_add_idempotency_response::Migration),
            Box::new(m20261207_000007_index_live_tasks::Migration),
            Box::new(m20261207_000008_index_task_search::Migration),
            Box::new(m20261208_000009_index_task_search_digits::Migration),
        ]
    }
}
