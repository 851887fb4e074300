//! Indexes whose plans do not wait for statistics.
//!
//! Every task list reads the user's live rows (`deleted_at IS NULL`) in `(<key>, id)` order.
//! Until ANALYZE has run on a table (a new deployment importing its data, a burst of writes
//! before autoanalyze) PostgreSQL guesses that `deleted_at IS NULL` keeps 0.5 % of the rows,
//! and with its default cost settings it then preferred a bitmap scan and a sort of all the
//! user's rows to walking the `(user_id, <key>, id)` index: 22 ms instead of 0.1 ms a page at
//! 64,000 rows. An index whose predicate is the list's own filter needs no estimate of it,
//! so each list order gets a partial twin of its index (with them, the same table is planned
//! as index walks, with PostgreSQL's default costs); the full indexes stay for
//! `include_deleted=true`.
//!
//! On PostgreSQL the indexes are built `CONCURRENTLY`, so writes to `tasks` go on while they
//! are built during a rolling deploy; that cannot run inside a transaction, so this migration
//! runs outside one, a statement at a time. A build that was interrupted leaves an invalid
//! index behind, which `up` drops and builds again.

use crate::sql::{BackendSql, run_each};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes this migration creates, with the definition after `ON`.
const INDEXES: [(&str, &str); 4] = [
    ("tasks_user_created_at_live_idx", "tasks (user_id, created_at, id) WHERE deleted_at IS NULL"),
    ("tasks_user_updated_at_live_idx", "tasks (user_id, updated_at, id) WHERE deleted_at IS NULL"),
    ("tasks_user_due_date_live_idx", "tasks (user_id, due_date, id) WHERE deleted_at IS NULL"),
    ("tasks_user_priority_live_idx", "tasks (user_id, priority, id) WHERE deleted_at IS NULL"),
];

const SQLITE_UP: &str = r#"
CREATE INDEX tasks_user_created_at_live_idx ON tasks (user_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_updated_at_live_idx ON tasks (user_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_due_date_live_idx ON tasks (user_id, due_date, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_priority_live_idx ON tasks (user_id, priority, id) WHERE deleted_at IS NULL;
"#;

const SQLITE_DOWN: &str = r#"
DROP INDEX tasks_user_created_at_live_idx;
DROP INDEX tasks_user_updated_at_live_idx;
DROP INDEX tasks_user_due_date_live_idx;
DROP INDEX tasks_user_priority_live_idx;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return BackendSql { postgres: "", sqlite: SQLITE_UP }.run(manager).await;
        }
        let db = manager.get_connection();
        // Left over by an interrupted build: `IF NOT EXISTS` would take it for done.
        let invalid = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT c.relname::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE NOT i.indisvalid AND c.relname = ANY($1) \
                   AND c.relnamespace = to_regnamespace(current_schema())",
                [INDEXES.iter().map(|(name, _)| (*name).to_owned()).collect::<Vec<_>>().into()],
            ))
            .await?;
        for row in invalid {
            let name: String = row.try_get("", "name")?;
            db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS \"{name}\"")).await?;
        }
        let creates: Vec<String> = INDEXES
            .iter()
            .map(|(name, definition)| format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}"))
            .collect();
        run_each(manager, creates.iter().map(String::as_str)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return BackendSql { postgres: "", sqlite: SQLITE_DOWN }.run(manager).await;
        }
        let drops: Vec<String> =
            INDEXES.iter().map(|(name, _)| format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).collect();
        run_each(manager, drops.iter().map(String::as_str)).await
    }

    /// `CREATE INDEX CONCURRENTLY` refuses to run inside a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}
