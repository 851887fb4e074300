//! The migration CLI: `cargo run -p migration -- up|down|status|fresh|refresh` and what
//! `sea-orm-cli migrate ...` runs. Reads `DATABASE_URL` (the direct endpoint, never the pooler).

use migration::{MigrationLock, Migrator};
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DbErr};

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli_with_connection(Migrator, connect).await;
}

/// One connection, so the advisory lock and the migrations share a session. The lock is
/// released when the process exits and its connection closes.
async fn connect(mut options: ConnectOptions) -> Result<sea_orm_migration::sea_orm::DbConn, DbErr> {
    if let Err(problem) = url::Url::parse(options.get_url()) {
        // sea-orm's own message would quote the whole URL, password included.
        return Err(DbErr::Custom(format!("DATABASE_URL is not a valid URL: {problem}")));
    }
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await?;
    // The lock belongs to the session, not to this value: it lasts until the process exits
    // and its only connection closes.
    let _lock = MigrationLock::acquire(&db).await?;
    Ok(db)
}
