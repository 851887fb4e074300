//! The JSON shapes clients build on, as snapshots (`tests/e2e/snapshots/`): a task, a page,
//! the stats, a conversation and its messages, and the problems. Ids, timestamps the server
//! makes, cursors and request ids are redacted; everything else is compared whole, so a field
//! that appears, vanishes, is renamed or changes its JSON type shows in review as a changed
//! snapshot. On a deliberate change, run the test with `INSTA_UPDATE=always` and review the
//! diff; CI never writes snapshots.

use crate::helpers::{TestApp, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

/// `value` with what differs from run to run replaced by a placeholder naming it.
fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let placeholder = match key.as_str() {
                        _ if value.is_null() => None,
                        "id" | "conversation_id" => Some("[id]"),
                        "request_id" => Some("[request id]"),
                        "next_cursor" => Some("[cursor]"),
                        "created_at" | "updated_at" | "completed_at" | "last_message_at" | "deleted_at" => {
                            Some("[timestamp]")
                        }
                        _ => None,
                    };
                    let value = placeholder.map_or_else(|| redacted(value), |p| Value::String(p.to_owned()));
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// What a client sees of a reply: the status, the headers a client reads, the redacted body.
async fn seen(app: &TestApp, method: Method, path: &str, user: &TestUser, body: Option<Value>) -> Value {
    let reply = app.call(method, path, user, body).await;
    let header = |name: &str| reply.header(name).map(str::to_owned);
    let location = header("location").map(|l| l.rsplit_once('/').map_or(l.clone(), |(base, _)| format!("{base}/[id]")));
    json!({
        "status": reply.status,
        "content-type": header("content-type"),
        "etag": header("etag"),
        "location": location,
        "body": redacted(&reply.body),
    })
}

fn full_task() -> Value {
    json!({
        "title": "  Water the plants ",
        "description": "The ferns first",
        "status": "in_progress",
        "priority": "high",
        "tags": ["Home", "garden", "home"],
        "due_date": "2031-04-05T09:30:00+02:00",
        "recurrence": "weekly"
    })
}

#[tokio::test]
async fn a_task_created_read_and_listed() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    insta::assert_json_snapshot!(
        "task_created",
        seen(&app, Method::POST, "/api/v1/tasks", &alice, Some(full_task())).await
    );
    app.create_task(&alice, json!({"title": "Second"})).await;
    insta::assert_json_snapshot!(
        "task_page",
        seen(&app, Method::GET, "/api/v1/tasks?limit=1&sort=created_at", &alice, None).await
    );
    insta::assert_json_snapshot!("task_stats", seen(&app, Method::GET, "/api/v1/tasks/stats", &alice, None).await);
}

#[tokio::test]
async fn a_conversation_and_its_messages() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let created = app.post_as(&alice, "/api/v1/conversations", json!({"title": "Trip"})).await;
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let message = json!({"role": "user", "content": "Where to?", "metadata": {"client": {"version": 3}}});
    let path = format!("/api/v1/conversations/{id}/messages");
    insta::assert_json_snapshot!("message_appended", seen(&app, Method::POST, &path, &alice, Some(message)).await);
    insta::assert_json_snapshot!("message_page", seen(&app, Method::GET, &path, &alice, None).await);
    let path = format!("/api/v1/conversations/{id}");
    insta::assert_json_snapshot!("conversation", seen(&app, Method::GET, &path, &alice, None).await);
}

#[tokio::test]
async fn problems() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let invalid =
        json!({"title": " ", "status": "done", "priority": 3, "tags": ["ok", ""], "version": 2, "colour": "red"});
    insta::assert_json_snapshot!(
        "problem_validation",
        seen(&app, Method::POST, "/api/v1/tasks", &alice, Some(invalid)).await
    );
    let missing = format!("/api/v1/tasks/{}", uuid::Uuid::now_v7());
    insta::assert_json_snapshot!("problem_not_found", seen(&app, Method::GET, &missing, &alice, None).await);
    insta::assert_json_snapshot!(
        "problem_bad_query",
        seen(&app, Method::GET, "/api/v1/tasks?limit=0&colour=red", &alice, None).await
    );
}
