//! Runs a migration step written as one SQL script per backend.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The SQL of one migration step for each supported backend.
pub(crate) struct BackendSql {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl BackendSql {
    /// Executes the script for the connection's backend. Both drivers accept several
    /// `;`-separated statements in one unprepared call.
    pub(crate) async fn run(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => self.postgres,
            DbBackend::Sqlite => self.sqlite,
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}: use PostgreSQL or SQLite"
                )));
            }
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}

/// Executes each statement on its own: what has to run outside a transaction (a
/// `CREATE INDEX CONCURRENTLY`) may not share a multi-statement call, which PostgreSQL runs
/// as one implicit transaction.
pub(crate) async fn run_each<'a>(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = &'a str>,
) -> Result<(), DbErr> {
    for statement in statements {
        manager.get_connection().execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Builds PostgreSQL indexes `CONCURRENTLY`, so writes go on during a rolling deploy: each
/// `(name, definition after ON)` that does not exist yet. An interrupted build leaves an
/// invalid index behind, which `IF NOT EXISTS` would take for done: those are dropped and
/// built again. Runs outside a transaction (the migration's `use_transaction` is `false`).
/// Migrations 7 and 8 wrote the same steps inline before this existed; shipped migration
/// files are not edited (docs/database.md), so they keep their copies.
pub(crate) async fn create_indexes_concurrently(
    manager: &SchemaManager<'_>,
    indexes: &[(&str, &str)],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let invalid = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.relname::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE NOT i.indisvalid AND c.relname = ANY($1) \
               AND c.relnamespace = to_regnamespace(current_schema())",
            [indexes.iter().map(|(name, _)| (*name).to_owned()).collect::<Vec<_>>().into()],
        ))
        .await?;
    for row in invalid {
        let name: String = row.try_get("", "name")?;
        db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS \"{name}\"")).await?;
    }
    for (name, definition) in indexes {
        db.execute_unprepared(&format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")).await?;
    }
    Ok(())
}
