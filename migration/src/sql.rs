//! Runs a migration step written as one SQL script per backend.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

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
