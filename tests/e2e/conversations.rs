//! Conversations and messages (API.md, "Conversations and messages").

use crate::helpers::{TestApp, TestUser, statements};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

async fn create_conversation(app: &TestApp, user: &TestUser, title: &str) -> Value {
    let reply = app.post_as(user, "/api/v1/conversations", json!({"title": title})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn append(app: &TestApp, user: &TestUser, conversation: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, &format!("/api/v1/conversations/{conversation}/messages"), user)
        .json(&body)
        .send()
        .await
        .expect("append")
}

async fn json_of(app: &TestApp, user: &TestUser, path: &str) -> Value {
    app.get_as(user, path).await.good()
}

/// Every message of a conversation, walking pages of `limit` in `order`.
async fn walk_messages(app: &TestApp, user: &TestUser, conversation: &str, order: &str, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/conversations/{conversation}/messages?order={order}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = json_of(app, user, &path).await;
        all.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn a_conversation_can_be_created_with_or_without_a_title() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let created = create_conversation(&app, &alice, "  Trip planning ").await;
    assert_eq!(created["title"], "Trip planning");
    assert_eq!((created["message_count"].as_i64(), created["last_message_at"].is_null()), (Some(0), true));
    for key in ["id", "title", "created_at", "updated_at", "message_count", "last_message_at"] {
        assert!(created.get(key).is_some(), "{key} missing from {created}");
    }
    let untitled = app.request(Method::POST, "/api/v1/conversations", &alice).send().await.expect("create");
    assert_eq!(untitled.status(), 201);
    let location = untitled.headers()["location"].to_str().expect("location").to_owned();
    let untitled: Value = untitled.json().await.expect("json");
    assert_eq!(untitled["title"], Value::Null);
    assert_eq!(location, format!("/api/v1/conversations/{}", untitled["id"].as_str().expect("id")));
    let bad = app
        .request(Method::POST, "/api/v1/conversations", &alice)
        .json(&json!({"title": ""}))
        .send()
        .await
        .expect("create");
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn appending_a_message_moves_the_conversation_to_the_message_time() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let older = create_conversation(&app, &alice, "older").await;
    let newer = create_conversation(&app, &alice, "newer").await;
    let older_id = older["id"].as_str().expect("id");
    let response =
        append(&app, &alice, older_id, json!({"role": "user", "content": "hello", "metadata": {"lang": "en"}})).await;
    assert_eq!(response.status(), 201);
    let message: Value = response.json().await.expect("json");
    assert_eq!((message["role"].as_str(), message["content"].as_str()), (Some("user"), Some("hello")));
    assert_eq!(message["metadata"], json!({"lang": "en"}));
    assert_eq!(message["conversation_id"], older["id"]);

    let conversation = json_of(&app, &alice, &format!("/api/v1/conversations/{older_id}")).await;
    assert_eq!(conversation["updated_at"], message["created_at"]);
    assert_eq!(conversation["last_message_at"], message["created_at"]);
    assert_eq!(conversation["message_count"], 1);

    let list = json_of(&app, &alice, "/api/v1/conversations").await;
    let order: Vec<&str> =
        list["items"].as_array().expect("items").iter().map(|c| c["title"].as_str().unwrap_or("")).collect();
    assert_eq!(order, ["older", "newer"], "most recent activity first");
    assert_eq!(list["items"][1]["id"], newer["id"]);
}

#[tokio::test]
async fn message_rules_are_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "rules").await["id"].as_str().expect("id").to_owned();
    let cases = [
        (json!({"role": "robot", "content": "x"}), vec!["role"]),
        (json!({"role": "user", "content": ""}), vec!["content"]),
        (json!({"role": "user", "content": "x".repeat(100_001)}), vec!["content"]),
        (json!({"role": "user", "content": "x", "metadata": [1, 2]}), vec!["metadata"]),
        (json!({"role": "user", "content": "x", "metadata": "note"}), vec!["metadata"]),
        (json!({"role": "user", "content": "x", "metadata": {"blob": "y".repeat(16 * 1024)}}), vec!["metadata"]),
        (json!({"content": 5, "id": "mine"}), vec!["role", "content", "id"]),
    ];
    for (body, fields) in cases {
        let response = append(&app, &alice, &id, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["code"], "validation_failed");
        let reported: Vec<&str> =
            problem["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().unwrap_or("")).collect();
        assert_eq!(reported, fields, "{body}");
    }
    let longest =
        append(&app, &alice, &id, json!({"role": "assistant", "content": "ü".repeat(100_000), "metadata": null})).await;
    assert_eq!(longest.status(), 201, "100,000 characters are allowed");
    let conversation = json_of(&app, &alice, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(conversation["message_count"], 1, "rejected messages were not written");
}

#[tokio::test]
async fn metadata_numbers_at_the_edges_of_a_double_come_back_as_they_were_sent() {
    // PostgreSQL's jsonb keeps numbers as exact decimals and writes f64::MAX back as 309
    // digits, which a parser that rounds loosely takes for infinity: the page became a 500.
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "numbers").await["id"].as_str().expect("id").to_owned();
    let body = r#"{"role": "user", "content": "edges", "metadata": {"max": 1.7976931348623157e308,
        "min": -1.7976931348623157e308, "tiny": 5e-324, "normal": 2.2250738585072014e-308,
        "big": 123456789012345678901234567890, "tenth": 0.1, "int": -9223372036854775808}}"#;
    let response = app
        .request(Method::POST, &format!("/api/v1/conversations/{id}/messages"), &alice)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("append");
    assert_eq!(response.status(), 201);
    let sent: Value = serde_json::from_str::<Value>(body).expect("json")["metadata"].clone();
    let page = json_of(&app, &alice, &format!("/api/v1/conversations/{id}/messages")).await;
    assert_eq!(page["items"][0]["metadata"], sent);
}

#[tokio::test]
async fn messages_page_both_ways_and_agree() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "paging").await["id"].as_str().expect("id").to_owned();
    for i in 0..11 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        assert_eq!(append(&app, &alice, &id, json!({"role": role, "content": format!("m{i}")})).await.status(), 201);
    }
    let ascending = walk_messages(&app, &alice, &id, "asc", 3).await;
    let contents: Vec<&str> = ascending.iter().map(|m| m["content"].as_str().unwrap_or("")).collect();
    assert_eq!(contents, (0..11).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let mut descending = walk_messages(&app, &alice, &id, "desc", 4).await;
    descending.reverse();
    assert_eq!(descending, ascending);
    let default = json_of(&app, &alice, &format!("/api/v1/conversations/{id}/messages")).await;
    assert_eq!(default["items"][0]["content"], "m0", "ascending by default");
}

#[tokio::test]
async fn bad_message_list_parameters_are_400() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "params").await["id"].as_str().expect("id").to_owned();
    for _ in 0..3 {
        append(&app, &alice, &id, json!({"role": "user", "content": "x"})).await;
    }
    let page = json_of(&app, &alice, &format!("/api/v1/conversations/{id}/messages?limit=1&order=asc")).await;
    let asc_cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    for query in [
        "order=sideways".to_owned(),
        "limit=0".to_owned(),
        "limit=101".to_owned(),
        "cursor=garbage".to_owned(),
        format!("order=desc&cursor={asc_cursor}"),
        "page=2".to_owned(),
    ] {
        let response = app
            .request(Method::GET, &format!("/api/v1/conversations/{id}/messages?{query}"), &alice)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.json::<Value>().await.expect("json")["code"], "bad_request");
    }
    let response = app.request(Method::GET, "/api/v1/conversations?cursor=%%%", &alice).send().await.expect("get");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_title_can_be_changed_and_cleared_with_if_match_honoured() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "draft").await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/conversations/{id}");
    let renamed = app
        .request(Method::PATCH, &path, &alice)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "final"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(renamed.status(), 200);
    assert_eq!(renamed.headers()["etag"], "\"2\"");
    assert_eq!(renamed.json::<Value>().await.expect("json")["title"], "final");
    let stale = app
        .request(Method::PATCH, &path, &alice)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "lost"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(stale.status(), 412);
    let cleared = app.request(Method::PATCH, &path, &alice).json(&json!({"title": null})).send().await.expect("patch");
    assert_eq!(cleared.json::<Value>().await.expect("json")["title"], Value::Null);
    let bad = app
        .request(Method::PATCH, &path, &alice)
        .json(&json!({"message_count": 9, "topic": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn deleting_a_conversation_removes_its_messages() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "doomed").await["id"].as_str().expect("id").to_owned();
    for _ in 0..3 {
        append(&app, &alice, &id, json!({"role": "user", "content": "x"})).await;
    }
    let deleted =
        app.request(Method::DELETE, &format!("/api/v1/conversations/{id}"), &alice).send().await.expect("delete");
    assert_eq!(deleted.status(), 204);
    for path in [format!("/api/v1/conversations/{id}"), format!("/api/v1/conversations/{id}/messages")] {
        assert_eq!(app.request(Method::GET, &path, &alice).send().await.expect("get").status(), 404);
    }
    let db = app.database().expect("database");
    let conn = db.connect().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::message::Entity::find().count(&conn).await.expect("count"),
        0,
        "the cascade removed the messages"
    );
    let again =
        app.request(Method::DELETE, &format!("/api/v1/conversations/{id}"), &alice).send().await.expect("delete");
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn another_users_conversation_answers_like_a_missing_one_on_every_route() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let id = create_conversation(&app, &alice, "private").await["id"].as_str().expect("id").to_owned();
    append(&app, &alice, &id, json!({"role": "user", "content": "secret"})).await;
    let missing = uuid::Uuid::now_v7();
    let routes = |target: &str| {
        vec![
            (Method::GET, format!("/api/v1/conversations/{target}"), None),
            (Method::PATCH, format!("/api/v1/conversations/{target}"), Some(json!({"title": "mine"}))),
            (Method::DELETE, format!("/api/v1/conversations/{target}"), None),
            (Method::GET, format!("/api/v1/conversations/{target}/messages"), None),
            (
                Method::POST,
                format!("/api/v1/conversations/{target}/messages"),
                Some(json!({"role": "user", "content": "hi"})),
            ),
        ]
    };
    for ((method, theirs, body), (_, absent, _)) in routes(&id).into_iter().zip(routes(&missing.to_string())) {
        let mut answers = Vec::new();
        for path in [theirs, absent] {
            let mut request = app.request(method.clone(), &path, &bob);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request");
            let status = response.status();
            let mut problem: Value = response.json().await.expect("json");
            problem["request_id"] = Value::Null;
            answers.push((status, problem));
        }
        assert_eq!(answers[0], answers[1], "{method}");
        assert_eq!(answers[0].0, 404);
    }
    let listed = json_of(&app, &bob, "/api/v1/conversations").await;
    assert_eq!(listed["items"], json!([]));
    let theirs = json_of(&app, &alice, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!((theirs["title"].as_str(), theirs["message_count"].as_i64()), (Some("private"), Some(1)), "untouched");
}

#[tokio::test]
async fn fifty_concurrent_appends_to_one_conversation_lose_none_and_keep_a_total_order() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = create_conversation(&app, &alice, "busy").await["id"].as_str().expect("id").to_owned();
    let appends =
        (0..50).map(|i| append(&app, &alice, &id, json!({"role": "user", "content": format!("message {i}")})));
    for response in join_all(appends).await {
        assert_eq!(response.status(), 201);
    }
    let messages = walk_messages(&app, &alice, &id, "asc", 7).await;
    assert_eq!(messages.len(), 50);
    let mut contents: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap_or("")).collect();
    contents.sort_unstable();
    contents.dedup();
    assert_eq!(contents.len(), 50, "every message is there once");
    for pair in messages.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ta, tb) = (a["created_at"].as_str().unwrap_or(""), b["created_at"].as_str().unwrap_or(""));
        assert!(ta < tb || (ta == tb && a["id"].as_str() < b["id"].as_str()), "out of order: {a} then {b}");
    }
    let conversation = json_of(&app, &alice, &format!("/api/v1/conversations/{id}")).await;
    assert_eq!(conversation["message_count"], 50);
    assert_eq!(conversation["last_message_at"], messages[49]["created_at"]);
    assert_eq!(conversation["updated_at"], messages[49]["created_at"]);
}

#[tokio::test]
async fn a_page_of_conversations_or_messages_is_one_query_whatever_its_size() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let mut last = String::new();
    for i in 0..30 {
        last = create_conversation(&app, &alice, &format!("c{i}")).await["id"].as_str().expect("id").to_owned();
        for _ in 0..(i % 3) {
            append(&app, &alice, &last, json!({"role": "user", "content": "x"})).await;
        }
    }
    for limit in [1, 5, 25, 100] {
        let response = app
            .request(Method::GET, &format!("/api/v1/conversations?limit={limit}"), &alice)
            .send()
            .await
            .expect("list");
        assert_eq!(statements(&response), 1, "limit={limit}");
        let page: Value = response.json().await.expect("json");
        let counted: i64 =
            page["items"].as_array().expect("items").iter().map(|c| c["message_count"].as_i64().unwrap_or(0)).sum();
        assert!(counted >= 0);
    }
    let page = json_of(&app, &alice, "/api/v1/conversations?limit=2").await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let next = app
        .request(Method::GET, &format!("/api/v1/conversations?limit=2&cursor={cursor}"), &alice)
        .send()
        .await
        .expect("list");
    assert_eq!(statements(&next), 1, "a page after a cursor");
    for _ in 0..5 {
        append(&app, &alice, &last, json!({"role": "user", "content": "x"})).await;
    }
    let messages = app
        .request(Method::GET, &format!("/api/v1/conversations/{last}/messages?limit=50"), &alice)
        .send()
        .await
        .expect("list");
    assert_eq!(statements(&messages), 1, "a page of messages");
}
