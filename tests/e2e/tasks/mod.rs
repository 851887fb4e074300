//! The tasks API over HTTP, rule by rule (API.md, Conventions and Tasks), one file a feature:
//! authentication and isolation between users (`auth`), the error contract (`contract`),
//! creating tasks, one at a time, under an idempotency key or in a batch (`create`), reading,
//! changing and completing them (`update`), and deleting, restoring and counting them
//! (`delete`). List filters, sorting and paging, and concurrency have suites of their own
//! (`tasks_listing`, `tasks_concurrency`). This module holds the request helpers they share.

mod auth;
mod contract;
mod create;
mod delete;
mod update;

use crate::helpers::{PROBLEM_JSON, Reply, TestApp, TestUser, assert_invalid, assert_problem, field_errors, send};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

const TASKS: &str = "/api/v1/tasks";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn task_path(id: &str) -> String {
    format!("{TASKS}/{id}")
}

fn id_of(task: &Value) -> String {
    task["id"].as_str().expect("a task id").to_owned()
}

/// An id no task has.
fn missing_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn create(app: &TestApp, user: &TestUser, body: Value) -> Reply {
    app.post_as(user, TASKS, body).await
}

async fn create_batch(app: &TestApp, user: &TestUser, tasks: Vec<Value>) -> Reply {
    app.post_as(user, &format!("{TASKS}/batch"), json!({ "tasks": tasks })).await
}

async fn get_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    app.get_as(user, &task_path(id)).await
}

/// The task as GET answers it, asserting 200.
async fn fetch(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let reply = get_task(app, user, id).await;
    assert_eq!(reply.status, 200, "GET {id}: {}", reply.body);
    reply.body
}

async fn patch_task(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Reply {
    app.patch_as(user, &task_path(id), body).await
}

/// Applies `body` as a patch, asserting 200, and returns the task.
pub(crate) async fn patched(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Value {
    let reply = patch_task(app, user, id, body.clone()).await;
    assert_eq!(reply.status, 200, "PATCH {body}: {}", reply.body);
    reply.body
}

async fn delete_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    app.delete_as(user, &task_path(id)).await
}

/// Deletes the task, asserting 204.
pub(crate) async fn must_delete(app: &TestApp, user: &TestUser, id: &str) {
    let reply = delete_task(app, user, id).await;
    assert_eq!(reply.status, 204, "DELETE {id}: {}", reply.body);
}

/// `POST /api/v1/tasks/batch`, asserting 201: the created tasks, which share one `created_at`.
pub(crate) async fn created_batch(app: &TestApp, user: &TestUser, tasks: Vec<Value>) -> Vec<Value> {
    let reply = create_batch(app, user, tasks).await;
    assert_eq!(reply.status, 201, "the batch answered {}", reply.body);
    reply.body["items"].as_array().expect("batch items").clone()
}

async fn restore_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    app.call(Method::POST, &format!("{TASKS}/{id}/restore"), user, None).await
}

/// `GET /api/v1/tasks/stats`, asserting 200.
pub(crate) async fn stats(app: &TestApp, user: &TestUser) -> Value {
    app.get_as(user, &format!("{TASKS}/stats")).await.good()
}

async fn total(app: &TestApp, user: &TestUser) -> u64 {
    stats(app, user).await["total"].as_u64().expect("stats total")
}

/// Every task of `user` that is not deleted (the suites here stay under one page).
async fn all_tasks(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let page: Value = app.get_as(user, &format!("{TASKS}?limit=100")).await.good();
    assert_eq!(page["next_cursor"], Value::Null, "the test expects a single page");
    page["items"].as_array().expect("items").clone()
}

/// Parses a timestamp the API answered, asserting its form: UTC with a `Z` suffix and at least
/// millisecond precision.
fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("expected a timestamp, got {value}"));
    assert!(text.ends_with('Z'), "{text} is not in UTC with a Z suffix");
    let fraction = text.split_once('.').map_or("", |(_, f)| f.trim_end_matches('Z'));
    assert!(fraction.len() >= 3 && fraction.chars().all(|c| c.is_ascii_digit()), "{text} lacks millisecond precision");
    DateTime::parse_from_rfc3339(text).expect("an RFC 3339 timestamp").with_timezone(&Utc)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("a test timestamp").with_timezone(&Utc)
}

/// Asserts that `t` is within a minute of now (a timestamp the server just made).
fn assert_recent(t: DateTime<Utc>) {
    let drift = (Utc::now() - t).num_seconds().abs();
    assert!(drift < 60, "{t} is not the current time");
}

/// `GET /api/v1/tasks` with this `Authorization` header (or none).
async fn list_with_authorization(app: &TestApp, authorization: Option<&str>) -> Reply {
    let mut request = app.client.get(app.url(TASKS));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request).await
}

/// What a client can tell apart: status, content type and the body apart from its request id.
fn observable(reply: &Reply) -> (u16, Option<String>, Value) {
    (reply.status, reply.header("content-type").map(str::to_owned), reply.body_without_request_id())
}
