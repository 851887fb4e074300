//! Idempotency keys for retried creates.
//!
//! The primary key `(user_id, scope, key)` is what makes concurrent requests with one key
//! create exactly one resource: the first insert wins and every other request waits on the
//! unique index, then replays the stored response. `created_at` is indexed so expired keys
//! (older than 24 h) can be purged in bulk.

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: r#"
CREATE TABLE idempotency_keys (
    user_id text NOT NULL,
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    response_status smallint,
    response_body text,
    resource_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key),
    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_response_status_valid CHECK (response_status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
"#,
    sqlite: r#"
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    resource_id BLOB,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    PRIMARY KEY (user_id, scope, key),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_response_status_valid CHECK (response_status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
"#,
};

const DOWN: BackendSql =
    BackendSql { postgres: "DROP TABLE idempotency_keys;", sqlite: "DROP TABLE idempotency_keys;" };

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
