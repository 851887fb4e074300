use crate::helpers::{RunningBinary, TestApp};
use infrastructure::Settings;
use std::collections::HashMap;
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
    let vars: HashMap<String, String> = [
        ("APP_ENV", "production"),
        ("APP_HOST", "127.0.0.1"),
        ("APP_PORT", "0"),
        ("JWT_SECRET", "a-test-secret-that-is-long-enough-000"),
        ("DATABASE_URL", "postgres://nobody:pw@127.0.0.1:1/none"),
        ("DB_CONNECT_TIMEOUT", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_vars(&vars).expect("settings");
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
