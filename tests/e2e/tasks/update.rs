//! Reading a task, changing it with a JSON merge patch, and completing recurring tasks.

use super::*;

// ---------------------------------------------------------------------------------------------
// Reading a task
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn getting_a_task_answers_it_with_its_version_as_etag() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t", "tags": ["x"]})).await;
    let reply = get_task(&app, &alice, &id_of(&task)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert!(reply.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(reply.body, task);
}

#[tokio::test]
async fn getting_a_task_that_does_not_exist_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    assert_problem(&get_task(&app, &alice, &missing_id()).await, 404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Changing a task (JSON merge patch)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_patch_changes_only_the_fields_it_names() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(&alice, json!({"title": "draft", "description": "keep me", "tags": ["a"], "priority": "low"}))
        .await;
    let id = id_of(&task);
    let reply = patch_task(
        &app,
        &alice,
        &id,
        json!({
            "title": "  final ",
            "priority": "high",
            "tags": ["B", "b", "C"],
            "due_date": "2030-06-01T12:00:00+02:00",
            "recurrence": "weekly",
            "status": "in_progress"
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("etag"), Some("\"2\""));
    let changed = &reply.body;
    assert_eq!(changed["id"], task["id"]);
    assert_eq!(changed["title"], "final");
    assert_eq!(changed["description"], "keep me");
    assert_eq!(changed["priority"], "high");
    assert_eq!(changed["status"], "in_progress");
    assert_eq!(changed["tags"], json!(["b", "c"]));
    assert_eq!(instant(&changed["due_date"]), at("2030-06-01T10:00:00Z"));
    assert_eq!(changed["recurrence"], "weekly");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["created_at"], task["created_at"]);
    assert!(instant(&changed["updated_at"]) >= instant(&task["updated_at"]));
    assert_ne!(changed["updated_at"], task["updated_at"]);
    assert_eq!(fetch(&app, &alice, &id).await, *changed);
}

#[tokio::test]
async fn null_clears_description_due_date_and_recurrence() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(
            &alice,
            json!({"title": "t", "description": "d", "due_date": "2030-01-01T00:00:00Z", "recurrence": "daily"}),
        )
        .await;
    let id = id_of(&task);
    let cleared = patched(&app, &alice, &id, json!({"description": null, "due_date": null, "recurrence": null})).await;
    assert_eq!(
        (&cleared["description"], &cleared["due_date"], &cleared["recurrence"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(cleared["version"], 2);
    assert_eq!(fetch(&app, &alice, &id).await, cleared);
    // Clearing what is already clear changes nothing.
    let again = patched(&app, &alice, &id, json!({"description": null})).await;
    assert_eq!(again, cleared);
}

#[tokio::test]
async fn null_is_refused_for_title_status_priority_and_tags() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t", "tags": ["a"]})).await;
    let id = id_of(&task);
    let reply =
        patch_task(&app, &alice, &id, json!({"title": null, "status": null, "priority": null, "tags": null})).await;
    assert_invalid(&reply, &[("title", "type"), ("status", "type"), ("priority", "type"), ("tags", "type")]);
    assert_eq!(fetch(&app, &alice, &id).await, task, "nothing changed");
}

#[tokio::test]
async fn patching_read_only_or_unknown_fields_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let id = id_of(&task);
    let reply = patch_task(
        &app,
        &alice,
        &id,
        json!({
            "title": "changed",
            "id": missing_id(),
            "user_id": "someone-else",
            "version": 9,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
            "deleted_at": "2020-01-01T00:00:00Z",
            "completed_at": "2020-01-01T00:00:00Z",
            "titel": "typo"
        }),
    )
    .await;
    assert_invalid(
        &reply,
        &[
            ("id", "read_only"),
            ("user_id", "read_only"),
            ("version", "read_only"),
            ("created_at", "read_only"),
            ("updated_at", "read_only"),
            ("deleted_at", "read_only"),
            ("completed_at", "read_only"),
            ("titel", "unknown_field"),
        ],
    );
    assert_eq!(fetch(&app, &alice, &id).await, task, "nothing changed, not even the valid title");
}

#[tokio::test]
async fn patch_values_follow_the_rules_of_a_new_task() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let id = id_of(&task);
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({"title": "   "}), vec![("title", "length")]),
        (json!({"title": "ü".repeat(201)}), vec![("title", "length")]),
        (json!({"description": "é".repeat(1001)}), vec![("description", "length")]),
        (json!({"tags": eleven}), vec![("tags", "length")]),
        (json!({"tags": ["ok", "", "x".repeat(33)]}), vec![("tags[1]", "length"), ("tags[2]", "length")]),
        (
            json!({"status": "done", "priority": "urgent", "recurrence": "yearly"}),
            vec![("status", "one_of"), ("priority", "one_of"), ("recurrence", "one_of")],
        ),
        (json!({"due_date": "soon"}), vec![("due_date", "format")]),
        (
            json!({"title": 1, "description": 2, "tags": "a", "due_date": 3, "recurrence": 4}),
            vec![
                ("title", "type"),
                ("description", "type"),
                ("tags", "type"),
                ("due_date", "type"),
                ("recurrence", "type"),
            ],
        ),
    ];
    for (body, expected) in cases {
        assert_invalid(&patch_task(&app, &alice, &id, body).await, &expected);
    }
    assert_eq!(fetch(&app, &alice, &id).await, task, "nothing changed");
    let ok = patched(&app, &alice, &id, json!({"title": "ü".repeat(200), "description": "é".repeat(1000)})).await;
    assert_eq!(ok["title"], "ü".repeat(200));
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "original"})).await);
    let current = patched(&app, &alice, &id, json!({"title": "second"})).await;
    assert_eq!(current["version"], 2);
    for stale in ["\"1\"", "\"3\"", "\"99\""] {
        let reply = send(
            app.request(Method::PATCH, &task_path(&id), &alice)
                .header("if-match", stale)
                .json(&json!({"title": "lost update", "priority": "high"})),
        )
        .await;
        assert_problem(&reply, 412, "precondition_failed");
    }
    assert_eq!(fetch(&app, &alice, &id).await, current, "nothing changed");
}

#[tokio::test]
async fn a_matching_if_match_applies_the_patch_and_the_etag_follows_the_version() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "v1"})).await);
    for version in 1..=3 {
        let etag = get_task(&app, &alice, &id).await.header("etag").map(str::to_owned);
        assert_eq!(etag, Some(format!("\"{version}\"")));
        let reply = send(
            app.request(Method::PATCH, &task_path(&id), &alice)
                .header("if-match", format!("\"{version}\""))
                .json(&json!({"title": format!("v{}", version + 1)})),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["version"], version + 1);
        assert_eq!(reply.header("etag"), Some(format!("\"{}\"", version + 1)).as_deref());
    }
    let task = fetch(&app, &alice, &id).await;
    assert_eq!((&task["title"], &task["version"]), (&json!("v4"), &json!(4)));
}

#[tokio::test]
async fn a_patch_that_changes_nothing_leaves_version_and_updated_at_as_they_were() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(
            &alice,
            json!({"title": "same", "priority": "high", "tags": ["a", "b"], "due_date": "2030-01-31T09:00:00Z"}),
        )
        .await;
    let id = id_of(&task);
    let no_ops = [
        json!({}),
        json!({"title": "  same  "}),
        json!({"priority": "high", "status": "pending"}),
        json!({"tags": ["A", "b", "a"]}),
        json!({"due_date": "2030-01-31T10:00:00+01:00", "description": null, "recurrence": null}),
    ];
    for body in no_ops {
        let reply = patch_task(&app, &alice, &id, body.clone()).await;
        assert_eq!(reply.status, 200, "{body}: {reply:?}");
        assert_eq!(reply.header("etag"), Some("\"1\""), "{body}");
        assert_eq!(reply.body, task, "{body} changed the task");
    }
    assert_eq!(fetch(&app, &alice, &id).await, task);
}

#[tokio::test]
async fn completed_at_is_set_on_entering_completed_and_cleared_on_leaving_it() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let id = id_of(&task);
    let done = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    let completed_at = instant(&done["completed_at"]);
    assert_recent(completed_at);
    assert!(completed_at >= instant(&task["created_at"]));
    let retitled = patched(&app, &alice, &id, json!({"title": "renamed while done"})).await;
    assert_eq!(retitled["completed_at"], done["completed_at"], "staying completed keeps completed_at");
    let still = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!(still, retitled, "completing a completed task changes nothing");
    let reopened = patched(&app, &alice, &id, json!({"status": "in_progress"})).await;
    assert_eq!(reopened["completed_at"], Value::Null);
    let recompleted = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert!(instant(&recompleted["completed_at"]) >= completed_at);
    let back = patched(&app, &alice, &id, json!({"status": "pending"})).await;
    assert_eq!(back["completed_at"], Value::Null);
    assert_eq!(fetch(&app, &alice, &id).await, back);
}

#[tokio::test]
async fn a_patch_may_be_sent_as_application_merge_patch_json() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "t", "description": "d"})).await);
    let reply = send(
        app.request(Method::PATCH, &task_path(&id), &alice)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"title": "merged", "description": null}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!((&reply.body["title"], &reply.body["description"]), (&json!("merged"), &Value::Null));
}

#[tokio::test]
async fn patching_a_deleted_task_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "t"})).await);
    assert_eq!(delete_task(&app, &alice, &id).await.status, 204);
    assert_problem(&patch_task(&app, &alice, &id, json!({"title": "x"})).await, 404, "not_found");
    let restored = restore_task(&app, &alice, &id).await;
    assert_eq!(restored.body["title"], "t", "the patch did not apply");
}

// ---------------------------------------------------------------------------------------------
// Recurrence
// ---------------------------------------------------------------------------------------------

/// Every task of `user` other than `id`.
async fn others(app: &TestApp, user: &TestUser, id: &str) -> Vec<Value> {
    all_tasks(app, user).await.into_iter().filter(|t| t["id"] != id).collect()
}

#[tokio::test]
async fn completing_a_recurring_task_with_a_due_date_creates_its_next_occurrence() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(
            &alice,
            json!({
                "title": "Water the plants",
                "description": "the ones on the balcony",
                "priority": "high",
                "tags": ["home", "garden"],
                "due_date": "2031-01-10T09:30:00Z",
                "recurrence": "daily"
            }),
        )
        .await;
    let id = id_of(&task);
    let done = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!((&done["status"], &done["recurrence"]), (&json!("completed"), &json!("daily")));
    assert_eq!(instant(&done["due_date"]), at("2031-01-10T09:30:00Z"), "the completed task keeps its due date");
    let next = others(&app, &alice, &id).await;
    assert_eq!(next.len(), 1, "exactly one next occurrence: {next:?}");
    let next = &next[0];
    assert_ne!(next["id"], task["id"]);
    assert_eq!(next["title"], "Water the plants");
    assert_eq!(next["description"], "the ones on the balcony");
    assert_eq!(next["priority"], "high");
    assert_eq!(next["tags"], json!(["home", "garden"]));
    assert_eq!(next["recurrence"], "daily");
    assert_eq!(next["status"], "pending");
    assert_eq!(next["completed_at"], Value::Null);
    assert_eq!(next["deleted_at"], Value::Null);
    assert_eq!(next["version"], 1);
    assert_eq!(instant(&next["due_date"]), at("2031-01-11T09:30:00Z"));
    assert_eq!(uuid::Uuid::parse_str(&id_of(next)).map(|u| u.get_version_num()).ok(), Some(7));
    assert_eq!(fetch(&app, &alice, &id_of(next)).await, *next);
    assert_eq!(total(&app, &alice).await, 2);
}

#[tokio::test]
async fn a_weekly_task_advances_by_seven_days() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(
        &app.create_task(&alice, json!({"title": "t", "due_date": "2031-02-25T08:00:00Z", "recurrence": "weekly"}))
            .await,
    );
    patched(&app, &alice, &id, json!({"status": "completed"})).await;
    let next = others(&app, &alice, &id).await;
    assert_eq!(next.len(), 1);
    assert_eq!(instant(&next[0]["due_date"]), at("2031-03-04T08:00:00Z"));
}

#[tokio::test]
async fn a_monthly_step_from_the_end_of_a_month_clamps_to_the_last_day_of_the_next() {
    let app = TestApp::spawn().await;
    let cases = [
        ("2031-01-31T12:00:00Z", "2031-02-28T12:00:00Z"),
        ("2031-01-29T12:00:00Z", "2031-02-28T12:00:00Z"),
        ("2031-03-31T12:00:00Z", "2031-04-30T12:00:00Z"),
        ("2031-12-15T12:00:00Z", "2032-01-15T12:00:00Z"),
        ("2032-01-30T12:00:00Z", "2032-02-29T12:00:00Z"),
    ];
    for (due, expected) in cases {
        let user = app.new_user();
        let id =
            id_of(&app.create_task(&user, json!({"title": "rent", "due_date": due, "recurrence": "monthly"})).await);
        patched(&app, &user, &id, json!({"status": "completed"})).await;
        let next = others(&app, &user, &id).await;
        assert_eq!(next.len(), 1, "{due}");
        assert_eq!(instant(&next[0]["due_date"]), at(expected), "monthly from {due}");
        assert_eq!(next[0]["recurrence"], "monthly");
    }
}

#[tokio::test]
async fn completing_a_recurring_task_again_creates_no_further_occurrence() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(
        &app.create_task(&alice, json!({"title": "t", "due_date": "2031-01-10T09:30:00Z", "recurrence": "daily"}))
            .await,
    );
    patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!(total(&app, &alice).await, 2);
    // Completing the already completed task, or changing it while completed.
    patched(&app, &alice, &id, json!({"status": "completed"})).await;
    patched(&app, &alice, &id, json!({"status": "completed", "title": "renamed"})).await;
    assert_eq!(total(&app, &alice).await, 2);
    // Reopening and completing it again.
    patched(&app, &alice, &id, json!({"status": "pending"})).await;
    let done = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!(done["status"], "completed");
    patched(&app, &alice, &id, json!({"status": "in_progress"})).await;
    patched(&app, &alice, &id, json!({"status": "completed"})).await;
    let next = others(&app, &alice, &id).await;
    assert_eq!(next.len(), 1, "still exactly one next occurrence: {next:?}");
    assert_eq!(instant(&next[0]["due_date"]), at("2031-01-11T09:30:00Z"));
    assert_eq!(total(&app, &alice).await, 2);
}

#[tokio::test]
async fn a_recurring_task_created_completed_creates_no_occurrence() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(
            &alice,
            json!({"title": "t", "status": "completed", "due_date": "2031-01-10T09:30:00Z", "recurrence": "daily"}),
        )
        .await;
    let id = id_of(&task);
    assert_eq!(total(&app, &alice).await, 1);
    let again = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!(again, task);
    patched(&app, &alice, &id, json!({"title": "renamed"})).await;
    assert_eq!(total(&app, &alice).await, 1);
    let batch = create_batch(
        &app,
        &alice,
        vec![json!({"title": "b", "status": "completed", "due_date": "2031-01-10T09:30:00Z", "recurrence": "weekly"})],
    )
    .await;
    assert_eq!(batch.status, 201);
    assert_eq!(total(&app, &alice).await, 2);
}

#[tokio::test]
async fn completing_a_recurring_task_without_a_due_date_creates_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "t", "recurrence": "daily"})).await);
    let done = patched(&app, &alice, &id, json!({"status": "completed"})).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(total(&app, &alice).await, 1);
    // Nor does completing a task with a due date that does not recur.
    let plain = id_of(&app.create_task(&alice, json!({"title": "once", "due_date": "2031-01-10T09:30:00Z"})).await);
    patched(&app, &alice, &plain, json!({"status": "completed"})).await;
    assert_eq!(total(&app, &alice).await, 2);
}
