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
  DATABASE_URL_READ     a read replica (e.g. a Neon read replica's pooled endpoint) for reads
  DB_REPLICA_WAIT       seconds a write waits for the replica to replay it, at most (default 0.5)
  DB_POOL_MAX, DB_POOL_MIN                 traffic pool size (default 10, 0)
  DB_CONNECT_TIMEOUT, DB_ACQUIRE_TIMEOUT   seconds (default 5, 5)
  DB_STATEMENT_TIMEOUT  seconds, 0 = none (default 30); written as a role default by `migrate up`
  DB_IDLE_TIMEOUT, DB_MAX_LIFETIME         seconds, 0 = never (default 300, 1800)
  APP_WORKERS           HTTP worker threads; 0 = one per CPU (default 0)
  DRAIN_DELAY           on SIGTERM/SIGINT, seconds /health/ready answers 503 while requests are
                        still served, before the server stops accepting (default 5; 0 in development)
  SHUTDOWN_TIMEOUT      then, seconds requests in flight get to finish (default 30)
  JWT_SECRET            HS256 secret for bearer tokens (required in production, at least 32
                        bytes: `openssl rand -base64 48`; without it, development prints a
                        token for the process at start-up)
  RATE_LIMIT_USER, RATE_LIMIT_USER_BURST   requests/s and burst per user on /api/v1
                        (default 100, 200; 0 = off); limits are per instance
  RATE_LIMIT_ADDRESS, RATE_LIMIT_ADDRESS_BURST   the same per client address, for requests
                        without a valid token (default 20, 40; 0 = off)
  TRUSTED_PROXIES       IPs or networks whose X-Forwarded-For names the client (default none)
  MAX_IN_FLIGHT         requests in flight before new ones get 503 overloaded (default 512; 0 = off)
  BODY_TIMEOUT          seconds a request body may take to arrive, then 408 (default 10)
  CORS_ALLOWED_ORIGINS  origins browsers may call from, comma-separated (default none)
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
    /// Mint a bearer token signed with JWT_SECRET and print it.
    Token {
        /// The user id the token speaks for (its `sub`), 1–128 characters.
        #[arg(long)]
        sub: String,
        /// Give the token the `admin` role (for /admin routes).
        #[arg(long)]
        admin: bool,
        /// How long the token is valid, e.g. 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
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
    // Held to the end of `main`: dropping it writes out the log lines still queued.
    let _log_writer = telemetry::init(settings.app.log_format);
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    let outcome = actix_web::rt::System::new().block_on(async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate { action } => run_migrate(settings, action).await,
            Command::Token { sub, admin, ttl } => print_token(&settings, &sub, admin, ttl),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if serving {
                tracing::error!(error = format!("{error:#}"), "stopped with an error");
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Listen for SIGTERM/SIGINT before anything else, so one that arrives during start-up
    // still means "drain and stop" rather than the default "die at once".
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tracing::info!(
        environment = settings.app.environment.as_str(),
        database = %settings.database.traffic_url()?,
        pooled = settings.database.url_pooled.is_some(),
        "starting"
    );
    let connect_timeout = settings.database.connect_timeout;
    let (drain_delay, shutdown_timeout) = (settings.app.drain_delay, settings.app.shutdown_timeout);
    // Each worker opens its first connection in the background while the server starts.
    let application = Application::build_with(settings, Some(connect_timeout)).await?;
    let (handle, drain) = (application.stop_handle(), application.drain());
    actix_web::rt::spawn(async move {
        let signal = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        // See `crate::drain`: out of the load balancer's rotation first, then stop.
        drain.start();
        tracing::info!(
            signal,
            ?drain_delay,
            "draining: readiness answers 503, requests are served for the drain delay"
        );
        tokio::select! {
            () = tokio::time::sleep(drain_delay) => {}
            _ = terminate.recv() => tracing::info!("a second signal: the drain ends now"),
            _ = interrupt.recv() => tracing::info!("a second signal: the drain ends now"),
        }
        tracing::info!(?shutdown_timeout, "stopping: no new connections; requests in flight may finish");
        handle.stop(true).await;
    });
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

fn print_token(settings: &Settings, sub: &str, admin: bool, ttl: std::time::Duration) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let Some(secret) = &settings.auth.jwt_secret else {
        anyhow::bail!(
            "JWT_SECRET is not set; a server without it signs with a random per-process secret, \
             so set JWT_SECRET (in the environment or .env) for both the server and this command"
        );
    };
    if domain::UserId::parse(sub).is_err() {
        anyhow::bail!("--sub must have 1 to 128 characters");
    }
    let roles = if admin { vec!["admin".to_owned()] } else { Vec::new() };
    println!("{}", crate::auth::TokenKeys::new(secret.expose_secret().as_bytes()).issue(sub, &roles, ttl));
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

#[cfg(test)]
mod tests {
    use super::SETTINGS_HELP;

    #[test]
    fn the_help_names_every_setting() {
        for name in infrastructure::settings::variable_names().chain(["APP_ENV", "APP_CONFIG_DIR"]) {
            assert!(SETTINGS_HELP.contains(name), "`api --help` does not mention {name}");
        }
    }
}
