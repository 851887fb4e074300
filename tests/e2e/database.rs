use crate::helpers::{Backend, TestDatabase, settings_for, skip};
use infrastructure::Database;
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::database::url::DatabaseUrl;
use sea_orm::{ConnectOptions, ConnectionTrait, DbBackend, Statement};
use std::time::{Duration, Instant};

async fn select_one(
    conn: &sea_orm::DatabaseConnection,
    sql: &str,
) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await
}

#[tokio::test]
async fn a_query_running_longer_than_the_statement_timeout_is_cancelled_on_the_traffic_pool() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        return skip("SQLite has no statement timeout");
    }
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[("DB_STATEMENT_TIMEOUT", "1")]);
    migrate::run(&settings.database, MigrateCommand::Up).await.expect("migrate writes the role default");
    let database = Database::connect_lazy(&settings.database).await.expect("pools");
    assert_eq!(database.is_pooled(), backend.is_pooled(), "traffic goes through the pooler when one is configured");

    let shown = select_one(database.traffic(), "SELECT current_setting('statement_timeout') AS timeout")
        .await
        .expect("query")
        .expect("row");
    assert_eq!(shown.try_get::<String>("", "timeout").expect("timeout"), "1s");

    let started = Instant::now();
    let error = select_one(database.traffic(), "SELECT pg_sleep(5)").await.expect_err("cancelled");
    let elapsed = started.elapsed();
    assert!(error.to_string().contains("statement timeout"), "{error}");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4), "{elapsed:?}");

    // The pool is still usable afterwards.
    select_one(database.traffic(), "SELECT 1 AS one").await.expect("next query");
    database.close().await;
}

#[tokio::test]
async fn a_statement_timeout_sent_as_a_startup_option_is_refused_by_the_pooler() {
    // Why the service uses a role default: sea-orm's ConnectOptions::statement_timeout sends
    // `options=-c statement_timeout=...`, which PgBouncer (and Neon's pooler) refuse.
    let Backend::Postgres { pooled: Some(_), .. } = Backend::from_env() else {
        return skip("needs a pooler");
    };
    let db = TestDatabase::migrated().await;
    let pooled = db.pooled.as_ref().expect("pooled url");
    let mut options = ConnectOptions::new(pooled.expose().to_owned());
    options.statement_timeout(Duration::from_secs(1)).max_connections(1).sqlx_logging(false);
    let outcome = match sea_orm::Database::connect(options).await {
        Ok(conn) => select_one(&conn, "SELECT 1 AS one").await.map(|_| ()),
        Err(error) => Err(error),
    };
    let error = outcome.expect_err("the pooler refuses the startup option");
    assert!(error.to_string().contains("unsupported startup parameter"), "{error}");
}

#[tokio::test]
async fn pools_are_built_without_waiting_for_the_database_and_fail_fast_when_it_is_away() {
    let db = TestDatabase::migrated().await;
    let settings = settings_for(
        &db,
        &[
            ("DATABASE_URL", "postgres://u:pw@127.0.0.1:1/none"),
            ("DATABASE_URL_POOLED", "postgres://u:pw@127.0.0.1:1/none"),
            ("DB_CONNECT_TIMEOUT", "1"),
            ("DB_ACQUIRE_TIMEOUT", "1"),
        ],
    );
    let started = Instant::now();
    let database = Database::connect_lazy(&settings.database).await.expect("lazy pools");
    assert!(started.elapsed() < Duration::from_millis(500));
    let started = Instant::now();
    select_one(database.traffic(), "SELECT 1").await.expect_err("no database there");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn connection_errors_never_contain_the_password() {
    let Backend::Postgres { admin, .. } = Backend::from_env() else {
        return skip("SQLite has no passwords");
    };
    let mut url = url::Url::parse(admin.expose()).expect("url");
    url.set_password(Some("wrong-password-xyzzy")).expect("password");
    let wrong = DatabaseUrl::parse(url.as_str()).expect("valid");
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[("DATABASE_URL", wrong.expose()), ("DB_ACQUIRE_TIMEOUT", "3")]);
    let mut settings = settings;
    settings.database.url_pooled = None;
    let database = Database::connect_lazy(&settings.database).await.expect("lazy pools");
    let error = select_one(database.traffic(), "SELECT 1").await.expect_err("wrong password");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("wrong-password-xyzzy"), "{shown}");
    assert!(shown.contains("password authentication failed") || shown.contains("28P01"), "{shown}");
    assert!(!format!("{settings:?}").contains("wrong-password-xyzzy"));
}

/// `TEST_DATABASE_CA`: the CA that signed the server certificates (the local stack's). On a
/// Neon branch it is unset and `verify-full` checks against the built-in web roots.
fn ca_file() -> Option<String> {
    std::env::var("TEST_DATABASE_CA").ok().filter(|v| !v.is_empty())
}

fn with_ssl(url: &DatabaseUrl, mode: &str, ca: Option<&str>) -> String {
    let mut url = url::Url::parse(url.expose()).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs).append_pair("sslmode", mode);
    if let Some(ca) = ca {
        url.query_pairs_mut().append_pair("sslrootcert", ca);
    }
    url.to_string()
}

async fn connect_raw(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false).acquire_timeout(Duration::from_secs(5));
    sea_orm::Database::connect(options).await
}

#[tokio::test]
async fn verify_full_tls_connects_directly_and_through_the_pooler() {
    if !Backend::from_env().is_postgres() {
        return skip("SQLite is a local file");
    }
    let db = TestDatabase::migrated().await;
    let ca = ca_file();
    let on_neon = db.url.host().is_some_and(infrastructure::database::url::is_neon_host);
    if ca.is_none() && !on_neon {
        return skip("TEST_DATABASE_CA is not set and the server is not Neon's");
    }
    // Neon's certificates chain to the built-in web roots; the local stack's to its own CA.
    let ca = ca.as_deref();
    let direct = connect_raw(&with_ssl(&db.url, "verify-full", ca)).await.expect("verify-full direct");
    let row = select_one(&direct, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .expect("query")
        .expect("row");
    assert!(row.try_get::<bool>("", "ssl").expect("ssl"), "the direct session is encrypted");
    let row =
        select_one(&direct, "SELECT current_setting('password_encryption') AS enc").await.expect("q").expect("row");
    assert_eq!(row.try_get::<String>("", "enc").expect("enc"), "scram-sha-256");
    direct.close().await.ok();

    if let Some(pooled) = &db.pooled {
        let conn = connect_raw(&with_ssl(pooled, "verify-full", ca)).await.expect("verify-full pooled");
        select_one(&conn, "SELECT 1 AS one").await.expect("query through the pooler");
        conn.close().await.ok();
    }
}

#[tokio::test]
async fn verify_full_refuses_a_server_whose_certificate_it_cannot_verify() {
    if !Backend::from_env().is_postgres() {
        return skip("SQLite is a local file");
    }
    if ca_file().is_none() {
        return skip("TEST_DATABASE_CA is not set: the server has a publicly trusted certificate");
    }
    let db = TestDatabase::migrated().await;
    // Without the local CA, the built-in roots do not vouch for the server.
    for url in std::iter::once(&db.url).chain(db.pooled.as_ref()) {
        let outcome = match connect_raw(&with_ssl(url, "verify-full", None)).await {
            Ok(conn) => select_one(&conn, "SELECT 1 AS one").await.map(|_| ()),
            Err(error) => Err(error),
        };
        let error = outcome.expect_err("unverifiable certificate");
        let shown = error.to_string().to_lowercase();
        assert!(shown.contains("certificate") || shown.contains("tls"), "{shown}");
    }
}

#[tokio::test]
async fn plaintext_connections_are_refused_by_the_stack() {
    if ca_file().is_none() {
        return skip("only the local Neon-like stack is known to refuse plaintext");
    }
    let db = TestDatabase::migrated().await;
    for url in std::iter::once(&db.url).chain(db.pooled.as_ref()) {
        let outcome = match connect_raw(&with_ssl(url, "disable", None)).await {
            Ok(conn) => select_one(&conn, "SELECT 1 AS one").await.map(|_| ()),
            Err(error) => Err(error),
        };
        outcome.expect_err("plaintext refused");
    }
}

#[tokio::test]
async fn sqlite_enforces_foreign_keys_and_runs_in_wal_mode() {
    if Backend::from_env().is_postgres() {
        return skip("SQLite only");
    }
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    let database = Database::connect_lazy(&settings.database).await.expect("pools");
    let conn = database.traffic();
    let row = select_one(conn, "PRAGMA journal_mode").await.expect("pragma").expect("row");
    assert_eq!(row.try_get::<String>("", "journal_mode").expect("mode"), "wal");
    let orphan = conn
        .execute_unprepared(
            "INSERT INTO messages (id, conversation_id, role, content) VALUES (x'00', x'01', 'user', 'hi')",
        )
        .await;
    assert!(orphan.expect_err("foreign key enforced").to_string().contains("FOREIGN KEY"));
    assert_eq!(conn.get_database_backend(), DbBackend::Sqlite);
}
