//! Failures the client cannot cause: they must still answer in the API's shape and reveal
//! nothing about the server.

use crate::helpers::{JWT_SECRET, TestApp, TestUser, settings_from, token_for};
use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_storage_failure_answers_500_without_leaking_internals() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "soon unreadable"})).await;
    let id = task["id"].as_str().expect("id").to_owned();
    // A row the service cannot read (a number among the tags), written behind its back.
    let db = app.database().expect("test database");
    let conn = db.connect().await;
    let sql = match db.backend() {
        DbBackend::Postgres => "UPDATE tasks SET tags = '[5]'::jsonb",
        _ => "UPDATE tasks SET tags = '[5]'",
    };
    conn.execute_raw(Statement::from_string(db.backend(), sql)).await.expect("corrupt the row");

    // Written behind the service's back, the row reaches a read replica when it reaches it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = loop {
        let response = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), &alice).send().await.expect("get");
        if response.status() != 200 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "internal");
    assert_eq!(body["request_id"], request_id);
    let text = body.to_string().to_lowercase();
    for secret in ["tasks", "select", "tag", "127.0.0.1", "localhost", "sqlite", "postgres", "unreadable", &id] {
        assert!(!text.contains(secret), "the 500 mentions {secret}: {text}");
    }
}

#[tokio::test]
async fn every_api_request_answers_503_with_retry_after_quickly_while_the_database_is_away() {
    let settings = settings_from(&[
        ("APP_ENV", "test"),
        ("APP_PORT", "0"),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_URL", "postgres://app:secret-pw@127.0.0.1:1/gone"),
        ("DB_CONNECT_TIMEOUT", "1"),
        ("DB_ACQUIRE_TIMEOUT", "1"),
    ]);
    let app = TestApp::start(settings, None).await;
    let alice = TestUser { token: token_for("alice", &[]) };
    let id = uuid::Uuid::now_v7();
    let requests = [
        (Method::GET, "/api/v1/tasks".to_owned(), None),
        (Method::GET, format!("/api/v1/tasks/{id}"), None),
        (Method::GET, "/api/v1/tasks/stats".to_owned(), None),
        (Method::POST, "/api/v1/tasks".to_owned(), Some(json!({"title": "t"}))),
        (Method::POST, "/api/v1/tasks/batch".to_owned(), Some(json!({"tasks": [{"title": "t"}]}))),
        (Method::PATCH, format!("/api/v1/tasks/{id}"), Some(json!({"title": "t"}))),
        (Method::DELETE, format!("/api/v1/tasks/{id}"), None),
        (Method::POST, format!("/api/v1/tasks/{id}/restore"), None),
    ];
    for (method, path, body) in requests {
        let started = Instant::now();
        let mut request = app.request(method.clone(), &path, &alice);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        assert!(started.elapsed() < Duration::from_secs(2), "{method} {path} took {:?}", started.elapsed());
        assert_eq!(response.status(), 503, "{method} {path}");
        assert_eq!(response.headers()["retry-after"], "2");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], "database_unavailable");
        assert!(!body.to_string().contains("127.0.0.1") && !body.to_string().contains("secret-pw"), "{body}");
    }
}
