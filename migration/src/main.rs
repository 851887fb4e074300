//! The migration CLI: `cargo run -p migration -- up|down|status|fresh|refresh` and what
//! `sea-orm-cli migrate ...` runs. Reads `DATABASE_URL` (the direct endpoint, never the pooler)
//! from the environment, `.env` or `-u`; without one it uses the embedded SQLite file the
//! service itself uses by default, `data/app.sqlite3`, and says so.

use migration::{MigrationLock, Migrator};
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DbErr};

/// The service's default database when `DATABASE_URL` is unset (`database.sqlite_path` in
/// config/default.toml), relative to the directory it runs in.
const DEFAULT_SQLITE_PATH: &str = "data/app.sqlite3";

#[tokio::main]
async fn main() {
    // What sea-orm-migration does first too; done here to know whether a URL was given.
    dotenvy::dotenv().ok();
    let given = std::env::var_os("DATABASE_URL").is_some()
        || std::env::args().any(|arg| arg == "-u" || arg.starts_with("--database-url"));
    if given {
        sea_orm_migration::cli::run_cli_with_connection(Migrator, connect).await;
        return;
    }
    eprintln!("migration: DATABASE_URL is not set; using the service's default, the SQLite file {DEFAULT_SQLITE_PATH}");
    sea_orm_migration::cli::run_cli_with_custom_connection(Migrator, async || {
        if let Some(dir) = std::path::Path::new(DEFAULT_SQLITE_PATH).parent() {
            std::fs::create_dir_all(dir).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
        connect(ConnectOptions::new(format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"))).await
    })
    .await;
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
