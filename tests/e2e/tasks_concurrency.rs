//! The concurrency rules of the tasks API: the database, not a check-then-act race in the
//! service, decides between concurrent requests.

use crate::helpers::{TestApp, TestUser};
use futures::future::join_all as futures_join_all;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

const WRITERS: usize = 12;

async fn total(app: &TestApp, user: &TestUser) -> i64 {
    let stats: Value =
        app.request(Method::GET, "/api/v1/tasks/stats", user).send().await.expect("stats").json().await.expect("json");
    stats["total"].as_i64().expect("total")
}

async fn get(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let response = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), user).send().await.expect("get");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn concurrent_creates_with_one_idempotency_key_create_exactly_one_task() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "pay the rent", "priority": "high"});
    let requests = (0..WRITERS).map(|_| {
        app.request(Method::POST, "/api/v1/tasks", &alice).header("idempotency-key", "rent-2030-01").json(&body).send()
    });
    let responses = futures_join_all(requests).await;
    let mut ids = HashSet::new();
    let mut created = 0;
    for response in responses {
        let response = response.expect("request");
        let status = response.status().as_u16();
        // API.md allows 409 for a request that arrives while the first is in flight.
        assert!(status == 201 || status == 409, "unexpected status {status}");
        if status == 201 {
            created += 1;
            ids.insert(response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned());
        }
    }
    assert!(created >= 1);
    assert_eq!(ids.len(), 1, "every success names the same task");
    assert_eq!(total(&app, &alice).await, 1, "exactly one task was written");
}

#[tokio::test]
async fn concurrent_writers_with_the_same_if_match_cannot_both_win() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "original"})).await;
    let id = task["id"].as_str().expect("id").to_owned();
    let requests = (0..WRITERS).map(|i| {
        app.request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice)
            .header("if-match", "\"1\"")
            .json(&json!({"title": format!("writer {i}")}))
            .send()
    });
    let mut winners = Vec::new();
    for response in futures_join_all(requests).await {
        let response = response.expect("request");
        match response.status().as_u16() {
            200 => winners.push(response.json::<Value>().await.expect("json")["title"].clone()),
            412 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let stored = get(&app, &alice, &id).await;
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["title"], winners[0], "the stored title is the winner's");
}

#[tokio::test]
async fn concurrent_writers_without_if_match_all_apply_and_none_is_lost() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "counter"})).await;
    let id = task["id"].as_str().expect("id").to_owned();
    let writers = 8;
    let requests = (0..writers).map(|i| {
        app.request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice)
            .json(&json!({"title": format!("writer {i}")}))
            .send()
    });
    for response in futures_join_all(requests).await {
        assert_eq!(response.expect("request").status(), 200);
    }
    // Each patch was applied to some version and bumped it: none was overwritten unseen.
    let stored = get(&app, &alice, &id).await;
    assert_eq!(stored["version"], 1 + writers);
}

#[tokio::test]
async fn completing_a_recurring_task_concurrently_creates_one_next_occurrence() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(&alice, json!({"title": "standup", "recurrence": "daily", "due_date": "2031-03-10T09:00:00Z"}))
        .await;
    let id = task["id"].as_str().expect("id").to_owned();
    let requests = (0..WRITERS).map(|_| {
        app.request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice).json(&json!({"status": "completed"})).send()
    });
    for response in futures_join_all(requests).await {
        assert_eq!(response.expect("request").status(), 200);
    }
    let page: Value = app
        .request(Method::GET, "/api/v1/tasks?sort=due_date", &alice)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "the task and exactly one next occurrence: {page}");
    assert_eq!(items[1]["due_date"], "2031-03-11T09:00:00.000000Z");
    assert_eq!(items[1]["status"], "pending");
}
