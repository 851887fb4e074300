//! Running migrations from the service (`api migrate ...` and auto-migration at start-up).
//!
//! Always over the direct URL, on one dedicated connection that holds the PostgreSQL advisory
//! lock of [`migration::MigrationLock`], so several instances starting at once apply each
//! migration exactly once. After `up` and `fresh` it writes the statement timeout as a role
//! default (see [`apply_statement_timeout`]).

use super::url::Backend;
use super::{PoolRole, connect_options, prepare_sqlite_file};
use crate::Error;
use crate::settings::DatabaseSettings;
use migration::{MigrationLock, Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigrationStatus;
use std::time::Duration;

/// A migration command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Roll back this many migrations (`None`: all of them).
    Down { steps: Option<u32> },
    /// Report which migrations are applied.
    Status,
    /// Drop every table, then apply every migration.
    Fresh,
}

/// One migration and whether it is applied, as reported after a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// Runs `command` against the direct URL under the migration lock and reports the state after.
#[tracing::instrument(skip(settings), fields(database = %settings.direct_url().map(|u| u.to_string()).unwrap_or_default()))]
pub async fn run(settings: &DatabaseSettings, command: MigrateCommand) -> Result<Vec<MigrationState>, Error> {
    let url = settings.direct_url()?;
    prepare_sqlite_file(&url)?;
    let db = sea_orm::Database::connect(connect_options(&url, settings, PoolRole::Migration)).await?;
    let outcome = run_locked(&db, settings, command).await;
    db.close().await?;
    outcome
}

async fn run_locked(
    db: &DatabaseConnection,
    settings: &DatabaseSettings,
    command: MigrateCommand,
) -> Result<Vec<MigrationState>, Error> {
    let lock = MigrationLock::acquire(db).await?;
    let outcome = async {
        match command {
            MigrateCommand::Up => Migrator::up(db, None).await?,
            MigrateCommand::Down { steps } => Migrator::down(db, steps).await?,
            MigrateCommand::Fresh => Migrator::fresh(db).await?,
            MigrateCommand::Status => {}
        }
        if matches!(command, MigrateCommand::Up | MigrateCommand::Fresh) {
            apply_statement_timeout(db, settings).await?;
        }
        status(db).await
    }
    .await;
    lock.release(db).await?;
    outcome
}

async fn status(db: &DatabaseConnection) -> Result<Vec<MigrationState>, Error> {
    Ok(Migrator::get_migration_with_status(db)
        .await?
        .into_iter()
        .map(|m| MigrationState { name: m.name().to_owned(), applied: m.status() == MigrationStatus::Applied })
        .collect())
}

/// Makes `DB_STATEMENT_TIMEOUT` hold for every session of the service's roles in this database,
/// including server connections a transaction-mode pooler opens on the service's behalf.
///
/// Why a role default: PgBouncer and Neon's pooler refuse the startup `options` parameter
/// that sea-orm's `ConnectOptions::statement_timeout` sends, and a session `SET` does not
/// survive a transaction boundary there. `ALTER ROLE ... IN DATABASE ... SET` is stored in
/// the catalog and applied by the server to every new session of that role in that database,
/// at no cost per query: a single SELECT stays one statement with no BEGIN/SET/COMMIT around it.
/// It is written for the direct URL's role and, when it differs, the pooled URL's role.
/// Server connections opened before the change keep the old value until the pooler recycles
/// them (`server_lifetime`).
pub async fn apply_statement_timeout(db: &DatabaseConnection, settings: &DatabaseSettings) -> Result<(), Error> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut roles = vec![None];
    if let Some(pooled) = settings.url_pooled.as_ref().filter(|u| u.backend() == Backend::Postgres) {
        let direct_user = settings.direct_url()?.username().to_owned();
        if !pooled.username().is_empty() && pooled.username() != direct_user {
            roles.push(Some(pooled.username().to_owned()));
        }
    }
    for role in roles {
        let sql = statement_timeout_sql(db, role.as_deref(), settings.statement_timeout).await?;
        db.execute_unprepared(&sql).await?;
    }
    tracing::info!(
        statement_timeout_ms = settings.statement_timeout.map_or(0, |t| t.as_millis()),
        "statement timeout applied as a role default"
    );
    Ok(())
}

/// Lets the server quote the identifiers: `ALTER ROLE` takes no bind parameters.
async fn statement_timeout_sql(
    db: &DatabaseConnection,
    role: Option<&str>,
    timeout: Option<Duration>,
) -> Result<String, Error> {
    let template = match timeout {
        Some(_) => {
            "SELECT format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L', \
                    coalesce($1, current_user), current_database(), $2::text) AS sql"
        }
        None => {
            "SELECT format('ALTER ROLE %I IN DATABASE %I RESET statement_timeout', \
                 coalesce($1, current_user), current_database(), $2::text) AS sql"
        }
    };
    let value = timeout.map_or_else(|| "0".to_owned(), |t| format!("{}ms", t.as_millis().max(1)));
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            template,
            [role.map(str::to_owned).into(), value.into()],
        ))
        .await?
        .ok_or_else(|| Error::Migration("format() returned no row".into()))?;
    Ok(row.try_get::<String>("", "sql")?)
}
