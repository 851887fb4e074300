//! Creating tasks: one at a time, under an `Idempotency-Key`, and in a batch.

use super::*;

// ---------------------------------------------------------------------------------------------
// Creating a task
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_a_task_answers_201_with_location_etag_and_the_defaults() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = create(&app, &alice, json!({"title": "Water the plants"})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert!(reply.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{reply:?}");
    let task = &reply.body;
    let id = id_of(task);
    assert_eq!(reply.header("location"), Some(task_path(&id).as_str()));
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert!(reply.header("x-request-id").is_some());
    let keys: Vec<&str> = task.as_object().expect("an object").keys().map(String::as_str).collect();
    let mut expected_keys = [
        "id",
        "title",
        "description",
        "status",
        "priority",
        "tags",
        "due_date",
        "recurrence",
        "completed_at",
        "created_at",
        "updated_at",
        "deleted_at",
        "version",
    ];
    expected_keys.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected_keys);
    assert_eq!(task["title"], "Water the plants");
    assert_eq!(task["description"], Value::Null);
    assert_eq!(task["status"], "pending");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["tags"], json!([]));
    assert_eq!(task["due_date"], Value::Null);
    assert_eq!(task["recurrence"], Value::Null);
    assert_eq!(task["completed_at"], Value::Null);
    assert_eq!(task["deleted_at"], Value::Null);
    assert_eq!(task["version"], 1);
    let created_at = instant(&task["created_at"]);
    assert_recent(created_at);
    assert_eq!(instant(&task["updated_at"]), created_at);
    // The Location names the task, which answers as created.
    assert_eq!(fetch(&app, &alice, &id).await, *task);
}

#[tokio::test]
async fn creating_a_task_with_every_field_answers_them_back() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app
        .create_task(
            &alice,
            json!({
                "title": "Report",
                "description": "quarterly numbers",
                "status": "in_progress",
                "priority": "high",
                "tags": ["work", "finance"],
                "due_date": "2030-03-01T17:00:00Z",
                "recurrence": "monthly"
            }),
        )
        .await;
    assert_eq!(task["title"], "Report");
    assert_eq!(task["description"], "quarterly numbers");
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["tags"], json!(["work", "finance"]));
    assert_eq!(instant(&task["due_date"]), at("2030-03-01T17:00:00Z"));
    assert_eq!(task["recurrence"], "monthly");
    assert_eq!(task["completed_at"], Value::Null);
    assert_eq!(fetch(&app, &alice, &id_of(&task)).await, task);
}

#[tokio::test]
async fn ids_are_server_made_uuid_v7s() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let first = id_of(&app.create_task(&alice, json!({"title": "a"})).await);
    let second = id_of(&app.create_task(&alice, json!({"title": "b"})).await);
    for id in [&first, &second] {
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id} is not a UUID"));
        assert_eq!(uuid.get_version_num(), 7, "{id}");
    }
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_title_is_trimmed_before_it_is_stored() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": " \t Water  the plants \n "})).await;
    assert_eq!(task["title"], "Water  the plants");
    let padded = format!("   {}   ", "x".repeat(200));
    assert_eq!(app.create_task(&alice, json!({"title": padded})).await["title"], "x".repeat(200));
}

#[tokio::test]
async fn creating_a_task_with_a_blank_title_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for title in ["", "   ", "\t\n"] {
        assert_invalid(&create(&app, &alice, json!({"title": title})).await, &[("title", "length")]);
    }
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn creating_a_task_without_a_title_or_with_a_null_one_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    assert_invalid(&create(&app, &alice, json!({"priority": "high"})).await, &[("title", "required")]);
    assert_invalid(&create(&app, &alice, json!({"title": null})).await, &[("title", "type")]);
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_title_of_200_characters_is_accepted_and_201_rejected_counting_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for unit in ["x", "ü", "日", "🦀"] {
        let task = app.create_task(&alice, json!({"title": unit.repeat(200)})).await;
        assert_eq!(task["title"], unit.repeat(200));
        assert_invalid(&create(&app, &alice, json!({"title": unit.repeat(201)})).await, &[("title", "length")]);
    }
    assert_eq!(total(&app, &alice).await, 4);
}

#[tokio::test]
async fn a_description_may_be_null_or_have_up_to_1000_characters() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    assert_eq!(app.create_task(&alice, json!({"title": "t", "description": null})).await["description"], Value::Null);
    assert_eq!(app.create_task(&alice, json!({"title": "t", "description": ""})).await["description"], "");
    let long = "é".repeat(1000);
    assert_eq!(app.create_task(&alice, json!({"title": "t", "description": long})).await["description"], long);
    let reply = create(&app, &alice, json!({"title": "t", "description": "é".repeat(1001)})).await;
    assert_invalid(&reply, &[("description", "length")]);
    assert_eq!(total(&app, &alice).await, 3);
}

#[tokio::test]
async fn status_priority_and_recurrence_accept_only_their_documented_values() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply =
        create(&app, &alice, json!({"title": "t", "status": "done", "priority": "urgent", "recurrence": "yearly"}))
            .await;
    assert_invalid(&reply, &[("status", "one_of"), ("priority", "one_of"), ("recurrence", "one_of")]);
    let reply =
        create(&app, &alice, json!({"title": "t", "status": "Pending", "priority": "HIGH", "recurrence": "Daily"}))
            .await;
    assert_invalid(&reply, &[("status", "one_of"), ("priority", "one_of"), ("recurrence", "one_of")]);
    let reply = create(&app, &alice, json!({"title": "t", "status": null, "priority": null})).await;
    assert_invalid(&reply, &[("status", "type"), ("priority", "type")]);
    for status in ["pending", "in_progress", "completed"] {
        assert_eq!(app.create_task(&alice, json!({"title": "t", "status": status})).await["status"], status);
    }
    for priority in ["low", "medium", "high"] {
        assert_eq!(app.create_task(&alice, json!({"title": "t", "priority": priority})).await["priority"], priority);
    }
    for recurrence in ["daily", "weekly", "monthly"] {
        let task = app.create_task(&alice, json!({"title": "t", "recurrence": recurrence})).await;
        assert_eq!(task["recurrence"], recurrence);
    }
    let task = app.create_task(&alice, json!({"title": "t", "recurrence": null, "due_date": null})).await;
    assert_eq!((&task["recurrence"], &task["due_date"]), (&Value::Null, &Value::Null));
    assert_eq!(total(&app, &alice).await, 10);
}

#[tokio::test]
async fn tags_are_lowercased_deduplicated_and_keep_their_order() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task =
        app.create_task(&alice, json!({"title": "t", "tags": ["Home", "work", "HOME", "Ärger", "ärger", "a"]})).await;
    assert_eq!(task["tags"], json!(["home", "work", "ärger", "a"]));
    assert_eq!(fetch(&app, &alice, &id_of(&task)).await["tags"], json!(["home", "work", "ärger", "a"]));
    let task = app.create_task(&alice, json!({"title": "t", "tags": ["zeta", "Alpha", "mid"]})).await;
    assert_eq!(task["tags"], json!(["zeta", "alpha", "mid"]), "kept in the order given, not sorted");
}

#[tokio::test]
async fn a_task_may_have_up_to_ten_tags() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    assert_eq!(app.create_task(&alice, json!({"title": "t", "tags": ten})).await["tags"], json!(ten));
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    assert_invalid(&create(&app, &alice, json!({"title": "t", "tags": eleven})).await, &[("tags", "length")]);
    assert_eq!(total(&app, &alice).await, 1);
}

#[tokio::test]
async fn each_tag_must_have_1_to_32_characters() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply =
        create(&app, &alice, json!({"title": "t", "tags": ["ok", "", "x".repeat(33), "fine", "é".repeat(33)]})).await;
    assert_invalid(&reply, &[("tags[1]", "length"), ("tags[2]", "length"), ("tags[4]", "length")]);
    let task = app.create_task(&alice, json!({"title": "t", "tags": ["x".repeat(32), "é".repeat(32), "q"]})).await;
    assert_eq!(task["tags"], json!(["x".repeat(32), "é".repeat(32), "q"]));
    assert_invalid(&create(&app, &alice, json!({"title": "t", "tags": ["ok", 7]})).await, &[("tags", "type")]);
    assert_invalid(&create(&app, &alice, json!({"title": "t", "tags": null})).await, &[("tags", "type")]);
    assert_eq!(total(&app, &alice).await, 1);
}

#[tokio::test]
async fn every_invalid_field_of_a_task_is_reported_not_only_the_first() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = create(
        &app,
        &alice,
        json!({
            "title": "   ",
            "description": "d".repeat(1001),
            "status": "done",
            "priority": 3,
            "tags": ["ok", ""],
            "due_date": "tomorrow",
            "version": 4,
            "colour": "red"
        }),
    )
    .await;
    assert_invalid(
        &reply,
        &[
            ("title", "length"),
            ("description", "length"),
            ("status", "one_of"),
            ("priority", "type"),
            ("tags[1]", "length"),
            ("due_date", "format"),
            ("version", "read_only"),
            ("colour", "unknown_field"),
        ],
    );
    assert_eq!(reply.body["errors"].as_array().map(Vec::len), Some(8), "each field once: {}", reply.body);
}

#[tokio::test]
async fn timestamps_are_answered_in_utc_with_z_and_at_least_millisecond_precision() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let cases = [
        ("2030-01-31T10:00:00+01:00", "2030-01-31T09:00:00"),
        ("2030-01-31T03:30:00-05:30", "2030-01-31T09:00:00"),
        ("2030-01-01T00:30:00+02:00", "2029-12-31T22:30:00"),
        ("2030-01-31T09:00:00Z", "2030-01-31T09:00:00"),
        ("2030-01-31T09:00:00.123Z", "2030-01-31T09:00:00.123"),
        ("2030-01-31T10:00:00.456+01:00", "2030-01-31T09:00:00.456"),
    ];
    for (sent, utc_prefix) in cases {
        let task = app.create_task(&alice, json!({"title": "t", "due_date": sent})).await;
        let answered = task["due_date"].as_str().expect("due_date");
        assert!(answered.starts_with(utc_prefix), "{sent} answered as {answered}");
        assert_eq!(instant(&task["due_date"]), at(sent), "{sent} keeps its instant");
        assert_eq!(fetch(&app, &alice, &id_of(&task)).await["due_date"], task["due_date"], "stored as answered");
        for field in ["created_at", "updated_at"] {
            instant(&task[field]);
        }
    }
}

#[tokio::test]
async fn a_due_date_that_is_not_an_rfc_3339_timestamp_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for due in ["tomorrow", "2030-01-31", "2030-01-31 09:00:00", "2030-01-31T09:00:00", "2030-02-30T09:00:00Z", ""] {
        let reply = create(&app, &alice, json!({"title": "t", "due_date": due})).await;
        assert_invalid(&reply, &[("due_date", "format")]);
    }
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_task_created_completed_has_completed_at() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t", "status": "completed"})).await;
    assert_recent(instant(&task["completed_at"]));
    assert_eq!(fetch(&app, &alice, &id_of(&task)).await["completed_at"], task["completed_at"]);
    for status in ["pending", "in_progress"] {
        let task = app.create_task(&alice, json!({"title": "t", "status": status})).await;
        assert_eq!(task["completed_at"], Value::Null, "{status}");
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency-Key
// ---------------------------------------------------------------------------------------------

async fn create_with_key(app: &TestApp, user: &TestUser, key: &str, body: &Value) -> Reply {
    send(app.request(Method::POST, TASKS, user).header("idempotency-key", key).json(body)).await
}

#[tokio::test]
async fn replaying_a_create_with_the_same_idempotency_key_answers_the_first_response_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body =
        json!({"title": "pay the rent", "priority": "high", "tags": ["Home"], "due_date": "2030-02-01T00:00:00Z"});
    let first = create_with_key(&app, &alice, "rent-2030-02", &body).await;
    assert_eq!(first.status, 201, "{first:?}");
    for _ in 0..3 {
        let again = create_with_key(&app, &alice, "rent-2030-02", &body).await;
        assert_eq!(again.status, 201, "{again:?}");
        assert_eq!(again.body, first.body, "the first response, same id");
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("etag"), Some("\"1\""));
    }
    // The same document spelled differently is the same request.
    let respelled =
        r#"{ "due_date":"2030-02-01T00:00:00Z", "tags":["Home"],  "priority":"high","title":"pay the rent" }"#;
    let again = send(
        app.request(Method::POST, TASKS, &alice)
            .header("idempotency-key", "rent-2030-02")
            .header("content-type", "application/json")
            .body(respelled),
    )
    .await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(total(&app, &alice).await, 1);
    assert_eq!(all_tasks(&app, &alice).await.len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_with_a_different_body_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let first = create_with_key(&app, &alice, "k-1", &json!({"title": "pay the rent"})).await;
    assert_eq!(first.status, 201);
    let other = create_with_key(&app, &alice, "k-1", &json!({"title": "pay the rent", "priority": "high"})).await;
    assert_problem(&other, 422, "validation_failed");
    let other = create_with_key(&app, &alice, "k-1", &json!({"title": "something else"})).await;
    assert_problem(&other, 422, "validation_failed");
    assert_eq!(total(&app, &alice).await, 1);
    // The original request still replays.
    let again = create_with_key(&app, &alice, "k-1", &json!({"title": "pay the rent"})).await;
    assert_eq!((again.status, &again.body), (201, &first.body));
}

#[tokio::test]
async fn a_replay_after_the_task_was_deleted_answers_the_first_response_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "pay the rent"});
    let first = create_with_key(&app, &alice, "rent", &body).await;
    assert_eq!(first.status, 201);
    let id = id_of(&first.body);
    let deleted = send(app.request(Method::DELETE, &format!("{TASKS}/{id}"), &alice)).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    // The retry of a create that already happened is not a new create.
    let again = create_with_key(&app, &alice, "rent", &body).await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(get_task(&app, &alice, &id).await.status, 404);
    assert_eq!(total(&app, &alice).await, 0);
}

/// The `n` column of the one row `sql` reads on the test's database.
async fn query_one(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.database().expect("test database");
    let conn = db.connect().await;
    let row = conn.query_one_raw(Statement::from_string(db.backend(), sql)).await.expect("sql").expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// Runs `sql` on the test's database behind the service's back.
async fn behind_the_back(app: &TestApp, postgres: &str, sqlite: &str) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = app.database().expect("test database");
    let conn = db.connect().await;
    let sql = if db.backend() == DbBackend::Postgres { postgres } else { sqlite };
    conn.execute_raw(Statement::from_string(db.backend(), sql)).await.expect("sql");
}

#[tokio::test]
async fn a_replay_answers_the_stored_response_byte_for_byte() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "pay the rent"});
    let first = create_with_key(&app, &alice, "stored", &body).await;
    assert_eq!(first.status, 201);
    // What the key keeps is what the API answered, not a task to render again.
    let stored = r#"{"kept":"as answered"}"#;
    behind_the_back(
        &app,
        &format!("UPDATE idempotency_keys SET response = convert_to('{stored}', 'UTF8') WHERE key = 'stored'"),
        &format!("UPDATE idempotency_keys SET response = CAST('{stored}' AS BLOB) WHERE key = 'stored'"),
    )
    .await;
    let again = create_with_key(&app, &alice, "stored", &body).await;
    assert_eq!((again.status, &again.body), (201, &json!({"kept": "as answered"})));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), Some("\"1\""));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_key_stored_by_a_build_before_responses_were_kept_still_replays() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "pay the rent", "tags": ["home"], "due_date": "2030-02-01T00:00:00Z"});
    let first = create_with_key(&app, &alice, "older", &body).await;
    assert_eq!(first.status, 201);
    let written = query_one(&app, "SELECT count(*) AS n FROM idempotency_keys WHERE response_body IS NOT NULL").await;
    assert_eq!(written, 0, "this build writes the response only");
    // Builds before migration 6 kept the task alone, as the domain's JSON, in `response_body`
    // (one of them may still be serving during a rolling upgrade, or have written a key that
    // has not expired yet): the record such a build wrote, to the letter.
    let field = |name: &str| first.body[name].clone();
    let legacy = json!({
        "id": field("id"), "user_id": "USER", "title": field("title"), "description": field("description"),
        "status": field("status"), "priority": field("priority"), "tags": field("tags"),
        "due_date": field("due_date"), "recurrence": field("recurrence"), "completed_at": field("completed_at"),
        "created_at": field("created_at"), "updated_at": field("updated_at"), "deleted_at": field("deleted_at"),
        "version": field("version"),
    });
    let older = format!(
        "UPDATE idempotency_keys SET response = NULL, \
         response_body = replace('{legacy}', '\"USER\"', '\"' || user_id || '\"') WHERE key = 'older'"
    );
    behind_the_back(&app, &older, &older).await;
    let again = create_with_key(&app, &alice, "older", &body).await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), Some("\"1\""));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(total(&app, &alice).await, 1);
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_user() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let body = json!({"title": "pay the rent"});
    let theirs = create_with_key(&app, &alice, "shared-key", &body).await;
    let mine = create_with_key(&app, &bob, "shared-key", &body).await;
    assert_eq!((theirs.status, mine.status), (201, 201));
    assert_ne!(id_of(&theirs.body), id_of(&mine.body));
    // A different body from another user under the same key is no conflict either.
    let different = create_with_key(&app, &bob, "other-key", &body).await;
    assert_eq!(different.status, 201);
    let reused = create_with_key(&app, &alice, "other-key", &json!({"title": "not the same"})).await;
    assert_eq!(reused.status, 201, "{reused:?}");
    assert_eq!((total(&app, &alice).await, total(&app, &bob).await), (2, 2));
    assert_eq!(get_task(&app, &bob, &id_of(&theirs.body)).await.status, 404);
}

#[tokio::test]
async fn a_different_idempotency_key_creates_a_new_task() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "pay the rent"});
    let first = create_with_key(&app, &alice, "key-a", &body).await;
    let second = create_with_key(&app, &alice, "key-b", &body).await;
    let unkeyed = create(&app, &alice, body.clone()).await;
    assert_eq!((first.status, second.status, unkeyed.status), (201, 201, 201));
    assert_ne!(id_of(&first.body), id_of(&second.body));
    assert_eq!(total(&app, &alice).await, 3);
}

#[tokio::test]
async fn an_idempotency_key_must_have_1_to_255_characters() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "t"});
    assert_problem(&create_with_key(&app, &alice, &"k".repeat(256), &body).await, 400, "bad_request");
    assert_problem(&create_with_key(&app, &alice, "", &body).await, 400, "bad_request");
    assert_eq!(total(&app, &alice).await, 0);
    assert_eq!(create_with_key(&app, &alice, &"k".repeat(255), &body).await.status, 201);
    assert_eq!(create_with_key(&app, &alice, "k", &body).await.status, 201);
    assert_eq!(total(&app, &alice).await, 2);
}

// ---------------------------------------------------------------------------------------------
// Batch create
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_batch_creates_every_task_and_answers_them_in_order() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = create_batch(
        &app,
        &alice,
        vec![
            json!({"title": "first"}),
            json!({"title": "  second ", "priority": "high", "tags": ["A", "a", "B"]}),
            json!({"title": "third", "status": "completed", "due_date": "2030-01-31T10:00:00+01:00"}),
        ],
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let keys: Vec<&String> = reply.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["items"]);
    let items = reply.body["items"].as_array().expect("items");
    let titles: Vec<&str> = items.iter().map(|t| t["title"].as_str().expect("title")).collect();
    assert_eq!(titles, ["first", "second", "third"]);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["priority"], "medium");
    assert_eq!(items[1]["tags"], json!(["a", "b"]));
    assert_eq!(instant(&items[2]["due_date"]), at("2030-01-31T09:00:00Z"));
    assert_recent(instant(&items[2]["completed_at"]));
    for item in items {
        assert_eq!(item["version"], 1);
        assert_eq!(fetch(&app, &alice, &id_of(item)).await, *item);
    }
    assert_eq!(total(&app, &alice).await, 3);
}

#[tokio::test]
async fn a_batch_must_hold_1_to_1000_tasks() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    assert_invalid(&create_batch(&app, &alice, vec![]).await, &[("tasks", "length")]);
    let too_many: Vec<Value> = (0..1001).map(|i| json!({"title": format!("t{i}")})).collect();
    assert_invalid(&create_batch(&app, &alice, too_many).await, &[("tasks", "length")]);
    assert_eq!(total(&app, &alice).await, 0);
    let most: Vec<Value> = (0..1000).map(|i| json!({"title": format!("t{i}")})).collect();
    let reply = create_batch(&app, &alice, most).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(1000));
    assert_eq!(reply.body["items"][999]["title"], "t999");
    assert_eq!(total(&app, &alice).await, 1000);
}

#[tokio::test]
async fn a_batch_body_needs_a_tasks_array() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let path = format!("{TASKS}/batch");
    let reply = send(app.request(Method::POST, &path, &alice).json(&json!({}))).await;
    assert_invalid(&reply, &[("tasks", "required")]);
    let reply = send(app.request(Method::POST, &path, &alice).json(&json!({"tasks": {"title": "x"}}))).await;
    assert_invalid(&reply, &[("tasks", "type")]);
    let reply =
        send(app.request(Method::POST, &path, &alice).json(&json!({"tasks": [{"title": "x"}], "extra": 1}))).await;
    assert_invalid(&reply, &[("extra", "unknown_field")]);
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn one_invalid_batch_item_rejects_the_whole_batch_and_every_bad_item_is_listed() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = create_batch(
        &app,
        &alice,
        vec![
            json!({"title": "ok 0"}),
            json!({"title": "ok 1"}),
            json!({"title": "ok 2"}),
            json!({"title": ""}),
            json!({"title": "ok 4"}),
            json!({"title": "x", "priority": "urgent", "colour": 1, "id": "x"}),
            json!({"description": "no title", "tags": ["", "ok"]}),
        ],
    )
    .await;
    assert_invalid(
        &reply,
        &[
            ("tasks[3].title", "length"),
            ("tasks[5].priority", "one_of"),
            ("tasks[5].colour", "unknown_field"),
            ("tasks[5].id", "read_only"),
            ("tasks[6].title", "required"),
            ("tasks[6].tags[0]", "length"),
        ],
    );
    assert_eq!(total(&app, &alice).await, 0, "nothing was written");
    assert!(all_tasks(&app, &alice).await.is_empty());
}
