//! The command line: one binary for serving and for operating the schema.

use crate::startup::Application;
use crate::telemetry;
use clap::{Parser, Subcommand};
use infrastructure::Settings;
use infrastructure::database::migrate::{self, MigrateCommand};
use std::process::ExitCode;

const SETTINGS_HELP: &str = "\
Settings (environment, then .env, then config/{APP_ENV}.toml, then config/default.toml):
  APP_ENV               development (default) | test | production
  APP_HOST, APP_PORT    where to listen (default 127.0.0.1:8080; 0.0.0.0 in production)
  LOG_FORMAT            pretty | json (json in production); RUST_LOG filters
  DATABASE_URL          direct PostgreSQL endpoint; migrations always use it.
                        Unset: the embedded SQLite file data/app.sqlite3
  DATABASE_URL_POOLED   pooled endpoint (PgBouncer, transaction mode) for request traffic
  DB_POOL_MAX, DB_POOL_MIN                 traffic pool size (default 10, 0)
  DB_CONNECT_TIMEOUT, DB_ACQUIRE_TIMEOUT   seconds (default 5, 5)
  DB_STATEMENT_TIMEOUT  seconds, 0 = none (default 30); written as a role default by `migrate up`
  DB_IDLE_TIMEOUT, DB_MAX_LIFETIME         seconds, 0 = never (default 300, 1800)
  JWT_SECRET            HS256 secret for bearer tokens (required in production)
  APP_CONFIG_DIR        directory of the TOML files (default ./config, else built-in copies)";

#[derive(Debug, Parser)]
#[command(name = "api", version, about = "Tasks, conversations and messages over REST, built for Neon PostgreSQL", after_help = SETTINGS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default when no command is given).
    Serve,
    /// Change or inspect the schema over DATABASE_URL (the direct endpoint), holding a
    /// PostgreSQL advisory lock so concurrent runs apply each migration once.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration and write DB_STATEMENT_TIMEOUT as the role default.
    Up,
    /// Roll back the last N migrations (default 1).
    Down {
        /// How many migrations to roll back.
        #[arg(short = 'n', long, default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        /// Roll back every migration.
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply every migration again (destroys data).
    Fresh,
}

/// Parses the command line and runs it; the process exit code says whether it worked.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.app.log_format);
    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate { action } => run_migrate(settings, action).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "stopped with an error");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(
        environment = settings.app.environment.as_str(),
        database = ?settings.database.traffic_url()?,
        pooled = settings.database.url_pooled.is_some(),
        "starting"
    );
    let application = Application::build(settings).await?;
    application.run_until_stopped().await?;
    Ok(())
}

async fn run_migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    let command = match action {
        MigrateAction::Up => MigrateCommand::Up,
        MigrateAction::Down { all: true, .. } => MigrateCommand::Down { steps: None },
        MigrateAction::Down { steps, .. } => MigrateCommand::Down { steps: Some(steps) },
        MigrateAction::Status => MigrateCommand::Status,
        MigrateAction::Fresh => MigrateCommand::Fresh,
    };
    let states = migrate::run(&settings.database, command).await?;
    for state in states {
        println!("{} {}", if state.applied { "applied " } else { "pending " }, state.name);
    }
    Ok(())
}
