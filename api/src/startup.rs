//! Building and running the HTTP server.

use crate::auth::TokenKeys;
use crate::drain::Drain;
use crate::error::ApiError;
use crate::extract::{BodyTimeout, MAX_BODY_BYTES};
use crate::limits::Limits;
use crate::routes::health::Probe;
use crate::{request_id, routes, server_timing};
use actix_web::dev::Server;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use domain::SystemClock;
use domain::conversation::ConversationService;
use domain::error::Chain;
use domain::task::TaskService;
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::repositories::{SeaConversationRepository, SeaTaskRepository};
use infrastructure::settings::{AppSettings, Environment};
use infrastructure::{Database, Settings};
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;

/// Connections the kernel may hold for the server before it accepts them (capped by
/// `net.core.somaxconn`, 4096 by default).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Infrastructure(#[from] infrastructure::Error),
}

/// A bound, not yet running, server and what it serves with.
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
    drain: Drain,
}

impl Application {
    /// Applies pending migrations when `auto_migrate` is on, builds the (lazy) pools and binds
    /// the listener. Port 0 picks a free port; [`Application::port`] tells which.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, None).await
    }

    /// Like [`Application::build`]; with `warm_up`, each HTTP worker opens its first database
    /// connection in the background as soon as it starts, giving up after that long. A request
    /// that arrives at once then finds its TLS and SCRAM handshakes (or a suspended Neon
    /// compute's wake-up) already under way; start-up itself never waits for the database.
    pub async fn build_with(settings: Settings, warm_up: Option<std::time::Duration>) -> Result<Self, StartupError> {
        if settings.database.auto_migrate {
            let states = migrate::run(&settings.database, MigrateCommand::Up).await?;
            tracing::info!(applied = states.iter().filter(|s| s.applied).count(), "schema is up to date");
        }
        let workers =
            settings.app.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        // One shard of the traffic pool for each worker: see `Database::connect_lazy_sharded`.
        let database = Database::connect_lazy_sharded(&settings.database, workers).await?;
        let address = format!("{}:{}", settings.app.host, settings.app.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address: address.clone(), source })?;
        // std listens with a backlog of 128: a burst of new connections overflowed it, and the
        // clients whose SYN was dropped waited for its retransmission (1 s, then 3 s).
        socket2::SockRef::from(&listener)
            .listen(LISTEN_BACKLOG)
            .map_err(|source| StartupError::Bind { address: address.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { address, source })?.port();
        let (keys, made_up) = token_keys(&settings);
        if made_up && settings.app.environment == Environment::Development {
            print_development_token(&keys, port);
        }
        let drain = Drain::default();
        let server = run(listener, database.clone(), keys, workers, warm_up, drain.clone(), &settings)?;
        Ok(Self { port, server, database, drain })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pools the server uses (tests inspect the database through them).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The switch that starts the drain: readiness answers 503 and every answer closes its
    /// connection (see [`crate::drain`]); stopping is [`Application::stop_handle`]'s.
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    /// A handle that stops the server gracefully: it stops accepting, lets in-flight requests
    /// finish for up to `app.shutdown_timeout`, and then `run_until_stopped` closes the pools.
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped, then closes the pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        self.database.close().await;
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

/// Purges expired idempotency keys on a timer, for as long as the worker runs. A timer in the
/// service rather than a job an operator must schedule: nothing to forget to deploy, and the
/// service skips the purge when it wrote no key since the last one, so it never wakes a
/// suspended database. Each worker purges through its own shard of the pool.
async fn purge_expired_keys(tasks: TaskService, every: std::time::Duration) {
    let mut timer = tokio::time::interval(every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer.tick().await;
    loop {
        timer.tick().await;
        match tasks.purge_expired_keys().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "purging expired idempotency keys failed; retrying at the next purge")
            }
        }
    }
}

fn run(
    listener: TcpListener,
    database: Database,
    keys: TokenKeys,
    workers: usize,
    warm_up: Option<std::time::Duration>,
    drain: Drain,
    settings: &Settings,
) -> Result<Server, StartupError> {
    let app: &AppSettings = &settings.app;
    // Every database probe gives up after the connect timeout (see `routes::health`).
    let probe_timeout = settings.database.connect_timeout;
    let metrics = web::Data::new(crate::metrics::handle());
    if settings.database.url_read.is_some() {
        // Behind until the first check finds the replica caught up.
        metrics::gauge!("db_replica_state").set(infrastructure::observe::ReplicaState::Behind.gauge());
        metrics::gauge!("db_replica_lag_seconds").set(0.0);
        for target in ["replica", "primary"] {
            metrics::counter!("db_reads_total", "target" => target).absolute(0);
        }
    }
    let keys = web::Data::new(keys);
    let limits = web::Data::new(Limits::new(&settings.limits));
    Limits::spawn_upkeep(&limits.clone().into_inner());
    let body_timeout = BodyTimeout(settings.limits.body_timeout);
    let origins = settings.limits.cors_allowed_origins.clone();
    let purge_interval = settings.limits.idempotency_purge_interval;
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // actix calls the factory once on each worker's thread as the worker starts: each worker
    // gets the shard of the traffic pool with its number, and its services use only that one.
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let warm_ups = Arc::new(tokio::sync::Semaphore::new(1));
    let all = web::Data::new(database.clone());
    let drain = web::Data::new(drain);
    let server = HttpServer::new(move || {
        let worker = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let database = database.shard(worker);
        if let Some(within) = warm_up {
            // One at a time: a request that arrives at once and opens its own connection then
            // shares the cores with one other TLS and SCRAM handshake, not one per worker.
            let (warming, turn) = (database.clone(), warm_ups.clone());
            actix_web::rt::spawn(async move {
                let _turn = turn.acquire().await;
                warming.warm_up(within).await;
            });
        }
        let tasks = TaskService::new(Arc::new(SeaTaskRepository::new(&database)), Arc::new(SystemClock));
        actix_web::rt::spawn(purge_expired_keys(tasks.clone(), purge_interval));
        let conversations =
            ConversationService::new(Arc::new(SeaConversationRepository::new(&database)), Arc::new(SystemClock));
        let probe = Probe { database, timeout: probe_timeout };
        App::new()
            .app_data(all.clone())
            .app_data(drain.clone())
            .app_data(limits.clone())
            .app_data(body_timeout)
            .app_data(web::Data::new(tasks))
            .app_data(web::Data::new(conversations))
            .app_data(keys.clone())
            .app_data(web::Data::new(probe))
            .app_data(metrics.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .configure(routes::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::NotFound) }))
            // Outermost last. The limits sit outside the request log, so a flood of rejected
            // requests costs no log line each; CORS sits outside them, so a browser can read a
            // 429 or 503; the request id wraps everything, so every answer has one.
            .wrap(from_fn(server_timing::middleware))
            .wrap(from_fn(crate::telemetry::request_log))
            .wrap(from_fn(crate::limits::middleware))
            .wrap(from_fn(crate::metrics::middleware))
            .wrap(Condition::new(!origins.is_empty(), crate::cors::cors(&origins)))
            .wrap(from_fn(request_id::middleware))
    })
    .workers(workers)
    // On SIGTERM/SIGINT actix stops accepting, lets in-flight requests finish for up to this
    // long, then stops; run_until_stopped closes the pools after that.
    .shutdown_timeout(app.shutdown_timeout.as_secs().max(1))
    // The binary installs its own SIGTERM/SIGINT handlers before it starts (see `cli`), so a
    // signal that arrives before actix would have installed its own is not fatal.
    .disable_signals();
    let server =
        server.listen(listener).map_err(|source| StartupError::Bind { address: address.clone(), source })?.run();
    tracing::info!(%address, workers, "listening");
    Ok(server)
}
