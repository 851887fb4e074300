//! The tasks table and the indexes its list queries need.
//!
//! Every list is scoped to one user and ordered by a sort key with `id` as the tie-breaker, so
//! each sort has a `(user_id, <key>, id)` index that serves both the filter and the order and
//! lets keyset paging seek straight to a cursor. `priority` is stored as its rank
//! (1 = low, 2 = medium, 3 = high) so that sorting by priority is an index order too.
//! `previous_occurrence_id` is unique: completing a recurring task can create its next
//! occurrence only once, however often the completion is retried. `search_text` is the title
//! and description case-folded by the service (Unicode-aware on both backends; SQLite's
//! `lower()` folds only ASCII), which `q` matches with a literal `LIKE`.

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: r#"
CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    user_id text NOT NULL,
    title text NOT NULL,
    description text,
    search_text text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'pending',
    priority smallint NOT NULL DEFAULT 2,
    tags jsonb NOT NULL DEFAULT '[]'::jsonb,
    due_date timestamptz,
    recurrence text,
    completed_at timestamptz,
    previous_occurrence_id uuid REFERENCES tasks (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    CONSTRAINT tasks_user_id_length CHECK (char_length(user_id) BETWEEN 1 AND 128),
    CONSTRAINT tasks_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT tasks_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT tasks_status_valid CHECK (status IN ('pending', 'in_progress', 'completed')),
    CONSTRAINT tasks_priority_valid CHECK (priority BETWEEN 1 AND 3),
    CONSTRAINT tasks_tags_valid CHECK (jsonb_typeof(tags) = 'array' AND jsonb_array_length(tags) <= 10),
    CONSTRAINT tasks_recurrence_valid CHECK (recurrence IN ('daily', 'weekly', 'monthly')),
    CONSTRAINT tasks_completed_at_matches_status CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CONSTRAINT tasks_version_positive CHECK (version >= 1)
);
COMMENT ON COLUMN tasks.priority IS 'rank: 1 = low, 2 = medium, 3 = high';
COMMENT ON COLUMN tasks.search_text IS 'lower(title) U+001F lower(description), folded by the service';
CREATE UNIQUE INDEX tasks_previous_occurrence_id_key ON tasks (previous_occurrence_id);
CREATE INDEX tasks_user_created_at_idx ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_at_idx ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due_date_idx ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
"#,
    sqlite: r#"
CREATE TABLE tasks (
    id BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    priority INTEGER NOT NULL DEFAULT 2,
    tags TEXT NOT NULL DEFAULT '[]',
    due_date TEXT,
    recurrence TEXT,
    completed_at TEXT,
    previous_occurrence_id BLOB REFERENCES tasks (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    deleted_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT tasks_user_id_length CHECK (length(user_id) BETWEEN 1 AND 128),
    CONSTRAINT tasks_title_length CHECK (length(title) BETWEEN 1 AND 200),
    CONSTRAINT tasks_description_length CHECK (length(description) <= 1000),
    CONSTRAINT tasks_status_valid CHECK (status IN ('pending', 'in_progress', 'completed')),
    CONSTRAINT tasks_priority_valid CHECK (priority BETWEEN 1 AND 3),
    CONSTRAINT tasks_tags_valid CHECK (json_valid(tags) AND json_type(tags) = 'array' AND json_array_length(tags) <= 10),
    CONSTRAINT tasks_recurrence_valid CHECK (recurrence IN ('daily', 'weekly', 'monthly')),
    CONSTRAINT tasks_completed_at_matches_status CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CONSTRAINT tasks_version_positive CHECK (version >= 1)
);
CREATE UNIQUE INDEX tasks_previous_occurrence_id_key ON tasks (previous_occurrence_id);
CREATE INDEX tasks_user_created_at_idx ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_at_idx ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due_date_idx ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
"#,
};

const DOWN: BackendSql = BackendSql { postgres: "DROP TABLE tasks;", sqlite: "DROP TABLE tasks;" };

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
