//! A first pass over the task routes; the full contract is covered in `tasks_*` suites.

use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_task_can_be_created_read_changed_listed_deleted_and_restored() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let created = app
        .create_task(&alice, json!({"title": "  Water the plants ", "tags": ["Home", "home", "Garden"], "due_date": "2030-01-31T10:00:00+01:00"}))
        .await;
    assert_eq!(created["title"], "Water the plants");
    assert_eq!(created["tags"], json!(["home", "garden"]));
    assert_eq!(created["due_date"], "2030-01-31T09:00:00.000000Z");
    assert_eq!(
        (created["status"].as_str(), created["priority"].as_str(), created["version"].as_i64()),
        (Some("pending"), Some("medium"), Some(1))
    );
    let id = created["id"].as_str().expect("id").to_owned();

    let got = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), &alice).send().await.expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["etag"], "\"1\"");
    assert_eq!(got.json::<Value>().await.expect("json"), created);

    let patched = app
        .request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "completed", "description": "weekly"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!((patched["version"].as_i64(), patched["status"].as_str()), (Some(2), Some("completed")));
    assert!(patched["completed_at"].is_string());

    let stale = app
        .request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(stale.status(), 412);

    let page: Value =
        app.request(Method::GET, "/api/v1/tasks", &alice).send().await.expect("list").json().await.expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_cursor"], Value::Null);

    let stats: Value = app
        .request(Method::GET, "/api/v1/tasks/stats", &alice)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["by_status"]["completed"], 1);

    let deleted = app.request(Method::DELETE, &format!("/api/v1/tasks/{id}"), &alice).send().await.expect("delete");
    assert_eq!(deleted.status(), 204);
    let gone = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), &alice).send().await.expect("get");
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.headers()["content-type"], "application/problem+json");
    let restored =
        app.request(Method::POST, &format!("/api/v1/tasks/{id}/restore"), &alice).send().await.expect("restore");
    assert_eq!(restored.status(), 200);
    assert_eq!(restored.json::<Value>().await.expect("json")["version"], 4);

    let bob = app.new_user();
    let hidden = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), &bob).send().await.expect("get");
    assert_eq!(hidden.status(), 404);
}

#[tokio::test]
async fn paging_walks_every_task_once() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let priorities = ["low", "medium", "high"];
    let items: Vec<Value> = (0..25)
        .map(|i| {
            let due = if i % 4 == 0 { Value::Null } else { json!(format!("2030-01-{:02}T00:00:00Z", 1 + i % 7)) };
            json!({"title": format!("task {i}"), "priority": priorities[i % 3], "due_date": due})
        })
        .collect();
    let response = app
        .request(Method::POST, "/api/v1/tasks/batch", &alice)
        .json(&json!({"tasks": items}))
        .send()
        .await
        .expect("batch");
    assert_eq!(response.status(), 201);
    for sort in
        ["created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date", "priority", "-priority"]
    {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/tasks?sort={sort}&limit=4");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: Value =
                app.request(Method::GET, &path, &alice).send().await.expect("list").json().await.expect("json");
            for item in page["items"].as_array().expect("items") {
                seen.push(item["id"].as_str().expect("id").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (25, 25), "sort={sort}");
    }
}
