//! The messages table: append-only, deleted with their conversation by the foreign key's
//! cascade, and paged in `(created_at, id)` order through `(conversation_id, created_at, id)`.

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: r#"
CREATE TABLE messages (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role text NOT NULL,
    content text NOT NULL,
    metadata jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_role_valid CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT messages_content_length CHECK (char_length(content) BETWEEN 1 AND 100000),
    CONSTRAINT messages_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX messages_conversation_created_at_idx ON messages (conversation_id, created_at, id);
"#,
    sqlite: r#"
CREATE TABLE messages (
    id BLOB PRIMARY KEY NOT NULL,
    conversation_id BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT messages_role_valid CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT messages_content_length CHECK (length(content) BETWEEN 1 AND 100000),
    CONSTRAINT messages_metadata_is_object CHECK (json_valid(metadata) AND json_type(metadata) = 'object')
);
CREATE INDEX messages_conversation_created_at_idx ON messages (conversation_id, created_at, id);
"#,
};

const DOWN: BackendSql = BackendSql { postgres: "DROP TABLE messages;", sqlite: "DROP TABLE messages;" };

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
