use crate::helpers::{RunningBinary, TestApp, settings_from};
use infrastructure::Settings;
use std::time::{Duration, Instant};

#[tokio::test]
async fn liveness_answers_alive() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({ "status": "alive" }));
}

#[tokio::test]
async fn the_service_starts_and_answers_liveness_while_the_database_is_unreachable() {
    // Nothing listens on port 1 of loopback: the database is away.
    let settings = settings_from(&[
        ("APP_ENV", "production"),
        ("APP_HOST", "127.0.0.1"),
        ("APP_PORT", "0"),
        ("JWT_SECRET", "a-test-secret-that-is-long-enough-000"),
        ("DATABASE_URL", "postgres://nobody:pw@127.0.0.1:1/none"),
        ("DB_CONNECT_TIMEOUT", "10"),
    ]);
    let started = Instant::now();
    let app = TestApp::start(settings, None).await;
    assert!(started.elapsed() < Duration::from_secs(2), "start-up waited for the database");
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn with_no_configuration_at_all_the_binary_serves_on_an_embedded_sqlite_file() {
    // A fresh machine: no variables, no config directory, no database.
    let dir = std::env::temp_dir().join(format!("tasks-fresh-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let service = RunningBinary::start(&[], &dir);
    let response = reqwest::get(service.url("/health/live")).await.expect("request");
    assert_eq!(response.status(), 200);
    let (clean, log) = service.stop();
    assert!(clean, "{log}");
    assert!(dir.join("data/app.sqlite3").is_file(), "the SQLite file was not created:\n{log}");
    assert!(log.contains("schema is up to date"), "development migrates at start-up:\n{log}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Settings for a service whose database is at `url` and is not migrated at start-up.
fn settings_with_database(url: &str) -> Settings {
    settings_from(&[
        ("APP_ENV", "test"),
        ("APP_PORT", "0"),
        ("DATABASE_URL", url),
        ("DB_CONNECT_TIMEOUT", "1"),
        ("DB_ACQUIRE_TIMEOUT", "1"),
    ])
}

/// A TCP server that accepts connections and never says a word, like a database host whose
/// packets vanish after the handshake.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, handle)
}

#[tokio::test]
async fn readiness_reports_a_connected_database() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"status": "healthy", "database": "connected"}));
    }
}

#[tokio::test]
async fn readiness_answers_503_within_the_connect_timeout_when_the_database_swallows_packets() {
    let (port, server) = silent_server().await;
    let app =
        TestApp::start(settings_with_database(&format!("postgres://u:pw@127.0.0.1:{port}/db?sslmode=disable")), None)
            .await;
    for path in ["/health", "/health/ready", "/health/db"] {
        let started = Instant::now();
        let response = app.get(path).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), 503, "{path}");
        assert!(elapsed < Duration::from_millis(1800), "{path} took {elapsed:?}");
        assert_eq!(response.headers()["retry-after"], "2", "{path}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: serde_json::Value = response.json().await.expect("json");
        if path == "/health/db" {
            assert_eq!(body["status"], "unhealthy");
        } else {
            assert_eq!(body, serde_json::json!({"status": "unhealthy", "database": "unreachable"}));
        }
    }
    server.abort();
}

#[tokio::test]
async fn readiness_answers_503_at_once_when_nothing_listens() {
    let app = TestApp::start(settings_with_database("postgres://u:pw@127.0.0.1:1/db"), None).await;
    let started = Instant::now();
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() < Duration::from_millis(1800));
}

#[tokio::test]
async fn the_database_probe_reports_latency_and_pool_figures() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/db").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(["healthy", "degraded"].contains(&body["status"].as_str().unwrap_or("")), "{body}");
    assert!(body["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{body}");
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    for key in ["size", "idle", "in_use", "max", "min"] {
        assert!(body["pool"][key].is_u64(), "pool.{key} missing: {body}");
    }
    assert_eq!(body["pool"]["max"], 10, "DB_POOL_MAX's default");
}

#[tokio::test]
async fn open_routes_ignore_an_invalid_authorization_header() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/health", "/health/ready", "/health/db"] {
        let response =
            app.client.get(app.url(path)).header("authorization", "Bearer not-a-token").send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
    }
}
