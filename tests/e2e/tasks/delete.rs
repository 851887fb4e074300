//! Deleting and restoring tasks, and counting them.

use super::*;

// ---------------------------------------------------------------------------------------------
// Deleting and restoring
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_task_soft_deletes_it_and_a_second_delete_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "t"})).await);
    let deleted = delete_task(&app, &alice, &id).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(deleted.body, Value::Null, "a 204 has no body");
    assert_problem(&get_task(&app, &alice, &id).await, 404, "not_found");
    assert_problem(&delete_task(&app, &alice, &id).await, 404, "not_found");
    assert!(all_tasks(&app, &alice).await.is_empty());
    // The row is kept, marked deleted, with its version bumped.
    let reply = send(app.request(Method::GET, &format!("{TASKS}?include_deleted=true"), &alice)).await;
    assert_eq!(reply.status, 200);
    let items = reply.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_recent(instant(&items[0]["deleted_at"]));
    assert_eq!(items[0]["version"], 2);
}

#[tokio::test]
async fn restoring_a_deleted_task_brings_it_back_with_a_bumped_version() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t", "priority": "high", "tags": ["a"]})).await;
    let id = id_of(&task);
    assert_eq!(delete_task(&app, &alice, &id).await.status, 204);
    let restored = restore_task(&app, &alice, &id).await;
    assert_eq!(restored.status, 200, "{restored:?}");
    assert_eq!(restored.header("etag"), Some("\"3\""));
    let body = &restored.body;
    assert_eq!(body["deleted_at"], Value::Null);
    assert_eq!(body["version"], 3, "delete and restore each bump the version");
    for field in ["id", "title", "priority", "tags", "status", "created_at", "description", "due_date"] {
        assert_eq!(body[field], task[field], "{field}");
    }
    assert!(instant(&body["updated_at"]) >= instant(&task["updated_at"]));
    let got = get_task(&app, &alice, &id).await;
    assert_eq!((got.status, &got.body), (200, body));
    assert_eq!(got.header("etag"), Some("\"3\""));
    assert_eq!(total(&app, &alice).await, 1);
    // It behaves like any live task again.
    assert_eq!(patched(&app, &alice, &id, json!({"title": "again"})).await["version"], 4);
}

#[tokio::test]
async fn restoring_a_task_that_is_not_deleted_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let id = id_of(&task);
    assert_problem(&restore_task(&app, &alice, &id).await, 404, "not_found");
    assert_problem(&restore_task(&app, &alice, &missing_id()).await, 404, "not_found");
    assert_eq!(fetch(&app, &alice, &id).await, task, "nothing changed");
    // Nor can a restored task be restored twice.
    assert_eq!(delete_task(&app, &alice, &id).await.status, 204);
    assert_eq!(restore_task(&app, &alice, &id).await.status, 200);
    assert_problem(&restore_task(&app, &alice, &id).await, 404, "not_found");
    assert_eq!(fetch(&app, &alice, &id).await["version"], 3);
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stats_of_a_user_without_tasks_list_every_status_and_priority_as_zero() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    assert_eq!(
        stats(&app, &alice).await,
        json!({
            "total": 0,
            "by_status": {"pending": 0, "in_progress": 0, "completed": 0},
            "by_priority": {"low": 0, "medium": 0, "high": 0},
            "overdue": 0
        })
    );
}

#[tokio::test]
async fn stats_count_by_status_and_priority_and_overdue_leaving_out_deleted_tasks_and_other_users() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let past = "2020-01-01T00:00:00Z";
    let future = "2099-01-01T00:00:00Z";
    let overdue_high =
        id_of(&app.create_task(&alice, json!({"title": "a", "priority": "high", "due_date": past})).await);
    app.create_task(&alice, json!({"title": "b", "status": "in_progress", "priority": "low", "due_date": past})).await;
    app.create_task(&alice, json!({"title": "c", "status": "completed", "priority": "high", "due_date": past})).await;
    app.create_task(&alice, json!({"title": "d", "due_date": future})).await;
    app.create_task(&alice, json!({"title": "e"})).await;
    let deleted = id_of(&app.create_task(&alice, json!({"title": "f", "priority": "low", "due_date": past})).await);
    assert_eq!(delete_task(&app, &alice, &deleted).await.status, 204);
    app.create_task(&bob, json!({"title": "bob's", "priority": "high", "due_date": past})).await;

    assert_eq!(
        stats(&app, &alice).await,
        json!({
            "total": 5,
            "by_status": {"pending": 3, "in_progress": 1, "completed": 1},
            "by_priority": {"low": 1, "medium": 2, "high": 2},
            "overdue": 2
        })
    );
    // Completing an overdue task stops it being overdue; restoring brings a task back.
    patched(&app, &alice, &overdue_high, json!({"status": "completed"})).await;
    assert_eq!(restore_task(&app, &alice, &deleted).await.status, 200);
    assert_eq!(
        stats(&app, &alice).await,
        json!({
            "total": 6,
            "by_status": {"pending": 3, "in_progress": 1, "completed": 2},
            "by_priority": {"low": 2, "medium": 2, "high": 2},
            "overdue": 2
        })
    );
    assert_eq!(
        stats(&app, &bob).await,
        json!({
            "total": 1,
            "by_status": {"pending": 1, "in_progress": 0, "completed": 0},
            "by_priority": {"low": 0, "medium": 0, "high": 1},
            "overdue": 1
        })
    );
}
