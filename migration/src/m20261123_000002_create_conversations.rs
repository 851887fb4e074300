//! The conversations table.
//!
//! `message_count` and `last_message_at` are kept in the row by the transaction that appends
//! a message, so a page of conversations is one indexed query with no per-row aggregate.
//! Lists are ordered by most recent activity (`updated_at`), served by
//! `(user_id, updated_at, id)`.

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: r#"
CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    user_id text NOT NULL,
    title text,
    message_count integer NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,
    CONSTRAINT conversations_user_id_length CHECK (char_length(user_id) BETWEEN 1 AND 128),
    CONSTRAINT conversations_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT conversations_message_count_non_negative CHECK (message_count >= 0),
    CONSTRAINT conversations_version_positive CHECK (version >= 1)
);
CREATE INDEX conversations_user_updated_at_idx ON conversations (user_id, updated_at, id);
"#,
    sqlite: r#"
CREATE TABLE conversations (
    id BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    title TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    version INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT conversations_user_id_length CHECK (length(user_id) BETWEEN 1 AND 128),
    CONSTRAINT conversations_title_length CHECK (length(title) BETWEEN 1 AND 200),
    CONSTRAINT conversations_message_count_non_negative CHECK (message_count >= 0),
    CONSTRAINT conversations_version_positive CHECK (version >= 1)
);
CREATE INDEX conversations_user_updated_at_idx ON conversations (user_id, updated_at, id);
"#,
};

const DOWN: BackendSql = BackendSql { postgres: "DROP TABLE conversations;", sqlite: "DROP TABLE conversations;" };

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
