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

use crate::helpers::{TestApp, TestUser};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const TASKS: &str = "/api/v1/tasks";
const PROBLEM_JSON: &str = "application/problem+json";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A response read whole: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body without `request_id`, which differs from request to request.
    fn body_without_request_id(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove("request_id");
        }
        body
    }
}

async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply { status, headers, body }
}

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
    send(app.request(Method::POST, TASKS, user).json(&body)).await
}

async fn create_batch(app: &TestApp, user: &TestUser, tasks: Vec<Value>) -> Reply {
    send(app.request(Method::POST, &format!("{TASKS}/batch"), user).json(&json!({ "tasks": tasks }))).await
}

async fn get_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    send(app.request(Method::GET, &task_path(id), user)).await
}

/// The task as GET answers it, asserting 200.
async fn fetch(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let reply = get_task(app, user, id).await;
    assert_eq!(reply.status, 200, "GET {id}: {}", reply.body);
    reply.body
}

async fn patch_task(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Reply {
    send(app.request(Method::PATCH, &task_path(id), user).json(&body)).await
}

/// Applies `body` as a patch, asserting 200, and returns the task.
pub(crate) async fn patched(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Value {
    let reply = patch_task(app, user, id, body.clone()).await;
    assert_eq!(reply.status, 200, "PATCH {body}: {}", reply.body);
    reply.body
}

async fn delete_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    send(app.request(Method::DELETE, &task_path(id), user)).await
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
    send(app.request(Method::POST, &format!("{TASKS}/{id}/restore"), user)).await
}

/// `GET /api/v1/tasks/stats`, asserting 200.
pub(crate) async fn stats(app: &TestApp, user: &TestUser) -> Value {
    let reply = send(app.request(Method::GET, &format!("{TASKS}/stats"), user)).await;
    assert_eq!(reply.status, 200, "stats: {}", reply.body);
    reply.body
}

async fn total(app: &TestApp, user: &TestUser) -> u64 {
    stats(app, user).await["total"].as_u64().expect("stats total")
}

/// Every task of `user` that is not deleted (the suites here stay under one page).
async fn all_tasks(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let reply = send(app.request(Method::GET, &format!("{TASKS}?limit=100"), user)).await;
    assert_eq!(reply.status, 200, "list: {}", reply.body);
    assert_eq!(reply.body["next_cursor"], Value::Null, "the test expects a single page");
    reply.body["items"].as_array().expect("items").clone()
}

/// Asserts that `reply` is an RFC 9457 problem with this status and code, whose
/// `request_id` is the response's `X-Request-Id`.
fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "expected {status} {code}, got {reply:?}");
    assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON), "{reply:?}");
    let body = &reply.body;
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    for key in ["type", "title", "detail", "request_id"] {
        assert!(body[key].as_str().is_some_and(|s| !s.is_empty()), "problem lacks `{key}`: {body}");
    }
    let request_id = reply.header("x-request-id").expect("an X-Request-Id header");
    assert_eq!(body["request_id"], request_id, "{body}");
}

/// The `(field, code)` pairs of a validation problem, sorted; every error has a message.
fn field_errors(reply: &Reply) -> Vec<(String, String)> {
    let errors = reply.body["errors"].as_array().unwrap_or_else(|| panic!("no `errors` list in {}", reply.body));
    let mut pairs: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "error without a message: {e}");
            let field = e["field"].as_str().expect("error field").to_owned();
            (field, e["code"].as_str().expect("error code").to_owned())
        })
        .collect();
    pairs.sort();
    pairs
}

/// Asserts a 422 `validation_failed` naming exactly these `(field, code)` pairs.
fn assert_invalid(reply: &Reply, expected: &[(&str, &str)]) {
    assert_problem(reply, 422, "validation_failed");
    let mut expected: Vec<(String, String)> =
        expected.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
    expected.sort();
    assert_eq!(field_errors(reply), expected, "{}", reply.body);
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
