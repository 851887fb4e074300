//! Building and running the HTTP server.

use crate::auth::TokenKeys;
use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::routes::health::Probe;
use crate::{request_id, routes, server_timing};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use domain::SystemClock;
use domain::conversation::ConversationService;
use domain::task::TaskService;
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::repositories::{SeaConversationRepository, SeaTaskRepository};
use infrastructure::settings::{AppSettings, Environment};
use infrastructure::{Database, Settings};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Infrastructure(#[from] infrastructure::Error),
}

/// A bound, not yet running, server and what it serves with.
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
}

impl Application {
    /// Applies pending migrations when `auto_migrate` is on, builds the (lazy) pools and binds
    /// the listener. Port 0 picks a free port; [`Application::port`] tells which.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        if settings.database.auto_migrate {
            let states = migrate::run(&settings.database, MigrateCommand::Up).await?;
            tracing::info!(applied = states.iter().filter(|s| s.applied).count(), "schema is up to date");
        }
        let database = Database::connect_lazy(&settings.database).await?;
        let address = format!("{}:{}", settings.app.host, settings.app.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address: address.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { address, source })?.port();
        let (keys, made_up) = token_keys(&settings);
        if made_up && settings.app.environment == Environment::Development {
            print_development_token(&keys, port);
        }
        let probe = Probe { database: database.clone(), timeout: settings.database.connect_timeout };
        let server = run(listener, database.clone(), keys, probe, &settings.app)?;
        Ok(Self { port, server, database })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pools the server uses (tests inspect the database through them).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// A handle that stops the server gracefully: it stops accepting, lets in-flight requests
    /// finish for up to `app.shutdown_timeout`, and then `run_until_stopped` closes the pools.
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped, then closes the pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        if let Err(error) = self.database.close().await {
            tracing::warn!(%error, "closing the database pools failed");
        }
        Ok(())
    }
}

/// The token keys from `JWT_SECRET`, and whether they were made up for this process. Without
/// a secret (development and test only; production refuses to start) a random one is made, so
/// no token from elsewhere is ever accepted.
fn token_keys(settings: &Settings) -> (TokenKeys, bool) {
    match &settings.auth.jwt_secret {
        Some(secret) => (TokenKeys::new(secret.expose_secret().as_bytes()), false),
        None => {
            tracing::warn!(
                "JWT_SECRET is unset: tokens are signed with a random secret that lives as long as this process"
            );
            let random: Vec<u8> = (0..4).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect();
            (TokenKeys::new(&random), true)
        }
    }
}

/// In development without `JWT_SECRET`, a token for this process so `curl` works at once.
/// Printed to the terminal, never to the log.
fn print_development_token(keys: &TokenKeys, port: u16) {
    let token = keys.issue("dev", &["admin".to_owned()], std::time::Duration::from_secs(24 * 3600));
    eprintln!(
        "\nDevelopment token (user \"dev\", admin role, valid 24 h, only for this process; set JWT_SECRET to mint your own with `api token`):\n\n  export TOKEN={token}\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{port}/api/v1/tasks\n"
    );
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

fn run(
    listener: TcpListener,
    database: Database,
    keys: TokenKeys,
    probe: Probe,
    app: &AppSettings,
) -> Result<Server, StartupError> {
    let probe = web::Data::new(probe);
    let metrics = web::Data::new(crate::metrics::handle());
    let tasks = web::Data::new(TaskService::new(Arc::new(SeaTaskRepository::new(&database)), Arc::new(SystemClock)));
    let conversations = web::Data::new(ConversationService::new(
        Arc::new(SeaConversationRepository::new(&database)),
        Arc::new(SystemClock),
    ));
    let keys = web::Data::new(keys);
    let database = web::Data::new(database);
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(database.clone())
            .app_data(tasks.clone())
            .app_data(conversations.clone())
            .app_data(keys.clone())
            .app_data(probe.clone())
            .app_data(metrics.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .configure(routes::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::NotFound) }))
            .wrap(from_fn(server_timing::middleware))
            .wrap(from_fn(crate::metrics::middleware))
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
            .wrap(from_fn(request_id::middleware))
    })
    // On SIGTERM/SIGINT actix stops accepting, lets in-flight requests finish for up to this
    // long, then stops; run_until_stopped closes the pools after that.
    .shutdown_timeout(app.shutdown_timeout.as_secs().max(1))
    // The binary installs its own SIGTERM/SIGINT handlers before it starts (see `cli`), so a
    // signal that arrives before actix would have installed its own is not fatal.
    .disable_signals();
    if let Some(workers) = app.workers {
        server = server.workers(workers);
    }
    let server =
        server.listen(listener).map_err(|source| StartupError::Bind { address: address.clone(), source })?.run();
    tracing::info!(%address, "listening");
    Ok(server)
}
