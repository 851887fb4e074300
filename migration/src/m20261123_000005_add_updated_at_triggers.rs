//! Keeps `updated_at` current on tasks and conversations for every writer, not only the service.
//!
//! The trigger steps in only when an UPDATE left `updated_at` as it was: the service sets it
//! explicitly (appending a message moves a conversation to the message's own time), and an
//! UPDATE that changes nothing at all leaves the row untouched on PostgreSQL. The function is
//! created with OR REPLACE because `migrate fresh` drops tables and types but not functions.

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: r#"
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_set_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER conversations_set_updated_at BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
"#,
    // SQLite has no BEFORE-UPDATE assignment to NEW, so an AFTER trigger writes the row once
    // more; recursive triggers are off by default, so that write does not fire it again.
    sqlite: r#"
CREATE TRIGGER tasks_set_updated_at AFTER UPDATE ON tasks
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE tasks SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id;
END;
CREATE TRIGGER conversations_set_updated_at AFTER UPDATE ON conversations
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE conversations SET updated_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE id = NEW.id;
END;
"#,
};

const DOWN: BackendSql = BackendSql {
    postgres: r#"
DROP TRIGGER conversations_set_updated_at ON conversations;
DROP TRIGGER tasks_set_updated_at ON tasks;
DROP FUNCTION set_updated_at();
"#,
    sqlite: r#"
DROP TRIGGER conversations_set_updated_at;
DROP TRIGGER tasks_set_updated_at;
"#,
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
