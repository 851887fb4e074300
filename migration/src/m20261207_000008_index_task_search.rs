//! An index for `q`, the search in a task's title and description.
//!
//! `q` is a case-insensitive literal substring: the list reads `search_text LIKE '%…%'`
//! (`search_text` is the title and description, case-folded by the service). No B-tree serves
//! an infix pattern, so without this index a search walks all of the user's rows in list order
//! until a page is full: fast for a common term, seconds at a million rows for a rare one. A
//! trigram GIN index (`pg_trgm`) finds the rows holding every trigram of the term; `btree_gin`
//! lets `user_id` lead it, so one index scan reads only that user's matches. Both extensions
//! ship with PostgreSQL's contrib, are trusted (the database owner may create them, as Neon's
//! `neondb_owner` can) and are among the extensions Neon provides.
//!
//! The index is not partial: it serves `include_deleted=true` too, and the live-rows filter is
//! checked on the rows it finds.
//!
//! Which plan is faster depends on how many rows hold the term: a few are found in the index
//! and sorted, many fill a page from the first rows of a walk of the list's index. The planner
//! estimates an infix `LIKE` by testing the pattern against the column's histogram, which
//! holds 100 values by default: a term in 1 % of a million rows matched none of them, was
//! estimated at 0.01 %, and its 10,000 rows were fetched and sorted (50–170 ms) where the walk
//! takes about a millisecond. `search_text` keeps 1,000 (`SET STATISTICS 1000`), which puts
//! such a term at about 1 %; ANALYZE then samples 300,000 rows instead of 30,000. Terms shorter than three characters have no trigram to look
//! up: they stay a walk of the list's own index (docs/database.md).
//!
//! Built `CONCURRENTLY` outside a transaction, so writes to `tasks` go on during a rolling
//! deploy, as in migration 7; an invalid index an interrupted build left is dropped and built
//! again. `down` drops the index and leaves the extensions: other objects in the database may
//! use them, and creating them again is idempotent. SQLite has no trigram index: its search
//! stays a scan of the user's rows.

use crate::sql::run_each;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "tasks_user_search_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        run_each(manager, ["CREATE EXTENSION IF NOT EXISTS pg_trgm", "CREATE EXTENSION IF NOT EXISTS btree_gin"])
            .await?;
        // An extension lives in one schema of the database, which need not be on this
        // migration's search_path (`sea-orm-cli migrate -s`): name the operator class in full.
        let trgm_schema = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT quote_ident(n.nspname) AS schema FROM pg_extension e \
                 JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'",
            ))
            .await?
            .ok_or_else(|| DbErr::Migration("pg_trgm is not installed after CREATE EXTENSION".to_owned()))?
            .try_get::<String>("", "schema")?;
        // Left over by an interrupted build: `IF NOT EXISTS` would take it for done.
        let invalid = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS invalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE NOT i.indisvalid AND c.relname = $1 \
                   AND c.relnamespace = to_regnamespace(current_schema())",
                [INDEX.into()],
            ))
            .await?;
        if invalid.is_some() {
            db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")).await?;
        }
        let create = format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON tasks \
             USING gin (user_id, search_text {trgm_schema}.gin_trgm_ops)"
        );
        // A SHARE UPDATE EXCLUSIVE lock, as the index build's: reads and writes go on.
        run_each(manager, [create.as_str(), "ALTER TABLE tasks ALTER COLUMN search_text SET STATISTICS 1000"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {INDEX}");
        run_each(manager, ["ALTER TABLE tasks ALTER COLUMN search_text SET STATISTICS -1", drop.as_str()]).await
    }

    /// `CREATE INDEX CONCURRENTLY` refuses to run inside a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}
