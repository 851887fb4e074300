//! Building and running the HTTP server.

use crate::routes;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::{Database, Settings};
use std::net::TcpListener;
use tracing_actix_web::TracingLogger;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
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
            tracing::info!(
                applied = states.iter().filter(|s| s.applied).count(),
                "schema is up to date"
            );
        }
        let database = Database::connect_lazy(&settings.database).await?;
        let address = format!("{}:{}", settings.app.host, settings.app.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?
            .port();
        let server = run(listener, database.clone())?;
        Ok(Self {
            port,
            server,
            database,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pools the server uses (tests inspect the database through them).
    pub fn database(&self) -> &Database {
        &self.database
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

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn run(listener: TcpListener, database: Database) -> Result<Server, StartupError> {
    let database = web::Data::new(database);
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(TracingLogger::default())
            .app_data(database.clone())
            .configure(routes::configure)
    })
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        address: address.clone(),
        source,
    })?
    .run();
    tracing::info!(%address, "listening");
    Ok(server)
}
