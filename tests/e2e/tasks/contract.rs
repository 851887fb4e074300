//! The error contract every route keeps: problem details, request ids, bodies that are not
//! JSON or too large, unknown and server-owned fields, malformed ids.

use super::*;
use reqwest::header::HeaderValue;

// ---------------------------------------------------------------------------------------------
// The error contract
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn errors_are_problem_details_whose_request_id_is_the_x_request_id_header() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = get_task(&app, &alice, &missing_id()).await;
    assert_problem(&reply, 404, "not_found");
    assert_eq!(reply.body["type"].as_str().map(str::is_empty), Some(false));
    let keys: Vec<&String> = reply.body.as_object().expect("an object").keys().collect();
    for key in ["type", "title", "status", "detail", "code", "request_id"] {
        assert!(keys.iter().any(|k| *k == key), "no `{key}` in {}", reply.body);
    }
}

#[tokio::test]
async fn a_client_request_id_of_1_to_200_visible_ascii_characters_is_echoed() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let long = "r".repeat(200);
    for id in ["a", "req-123_ABC.~!#$%&'*+^`|", "{\"quoted\"}", long.as_str()] {
        let ok = send(app.request(Method::GET, TASKS, &alice).header("x-request-id", id)).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-request-id"), Some(id), "on a success");
        let error = send(app.request(Method::GET, &task_path(&missing_id()), &alice).header("x-request-id", id)).await;
        assert_problem(&error, 404, "not_found");
        assert_eq!(error.header("x-request-id"), Some(id), "on an error");
        assert_eq!(error.body["request_id"], id);
    }
}

#[tokio::test]
async fn a_request_id_that_is_too_long_empty_or_not_visible_ascii_is_replaced() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let candidates: Vec<HeaderValue> = vec![
        HeaderValue::from_str(&"r".repeat(201)).expect("header"),
        HeaderValue::from_static(""),
        HeaderValue::from_static("has space"),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_bytes("café".as_bytes()).expect("header"),
    ];
    for sent in candidates {
        let reply =
            send(app.request(Method::GET, &task_path(&missing_id()), &alice).header("x-request-id", sent.clone()))
                .await;
        assert_problem(&reply, 404, "not_found");
        let made = reply.header("x-request-id").expect("a request id");
        assert_ne!(made.as_bytes(), sent.as_bytes(), "{sent:?} should have been replaced");
        assert!(
            (1..=200).contains(&made.len()) && made.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "the server's own id {made:?} is 1–200 visible ASCII characters"
        );
    }
    // Without one, every request gets an id of its own.
    let first = send(app.request(Method::GET, TASKS, &alice)).await;
    let second = send(app.request(Method::GET, TASKS, &alice)).await;
    let (first, second) = (first.header("x-request-id"), second.header("x-request-id"));
    assert!(first.is_some_and(|id| !id.is_empty()));
    assert_ne!(first, second);
}

#[tokio::test]
async fn every_response_carries_an_x_request_id() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "x"})).await;
    let id = id_of(&task);
    let replies = [
        ("health", send(app.client.get(app.url("/health/live"))).await),
        ("list", send(app.request(Method::GET, TASKS, &alice)).await),
        ("create", create(&app, &alice, json!({"title": "y"})).await),
        ("get", get_task(&app, &alice, &id).await),
        ("delete", delete_task(&app, &alice, &id).await),
        ("unauthorized", list_with_authorization(&app, None).await),
        ("validation", create(&app, &alice, json!({})).await),
        ("unsupported media type", send(app.request(Method::POST, TASKS, &alice).body("{}")).await),
    ];
    let expected_status = [200, 200, 201, 200, 204, 401, 422, 415];
    for ((label, reply), status) in replies.iter().zip(expected_status) {
        assert_eq!(reply.status, status, "{label}: {reply:?}");
        assert!(reply.header("x-request-id").is_some_and(|v| !v.is_empty()), "{label} lacks X-Request-Id");
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem_with_a_request_id() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for reply in [
        send(app.client.get(app.url("/nope"))).await,
        send(app.client.get(app.url("/nope")).header("x-request-id", "mine")).await,
        send(app.request(Method::POST, "/nope", &alice).json(&json!({}))).await,
    ] {
        assert_problem(&reply, 404, "not_found");
    }
    let echoed = send(app.client.get(app.url("/nope")).header("x-request-id", "mine")).await;
    assert_eq!(echoed.header("x-request-id"), Some("mine"));
}

#[tokio::test]
async fn a_method_a_route_does_not_support_is_a_405_problem_with_a_request_id() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (method, path) in
        [(Method::PUT, TASKS.to_owned()), (Method::DELETE, TASKS.to_owned()), (Method::PUT, task_path(&missing_id()))]
    {
        let reply = send(app.request(method.clone(), &path, &alice).json(&json!({"title": "x"}))).await;
        assert_eq!(reply.status, 405, "{method} {path}: {reply:?}");
        assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON), "{method} {path}");
        let request_id = reply.header("x-request-id").expect("an X-Request-Id header");
        assert_eq!(reply.body["request_id"], request_id);
        assert_eq!(reply.body["status"], 405);
    }
}

#[tokio::test]
async fn json_that_does_not_parse_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "x"})).await);
    for (method, path) in
        [(Method::POST, TASKS.to_owned()), (Method::POST, format!("{TASKS}/batch")), (Method::PATCH, task_path(&id))]
    {
        for raw in ["{\"title\": ", "{'title': 'x'}", "{\"title\": \"x\"} trailing", "", "{\"title\": \"x\",}"] {
            let reply =
                send(app.request(method.clone(), &path, &alice).header("content-type", "application/json").body(raw))
                    .await;
            assert_eq!(reply.status, 400, "{method} {path} with {raw:?}");
            assert_problem(&reply, 400, "bad_request");
        }
    }
    assert_eq!(total(&app, &alice).await, 1);
    assert_eq!(fetch(&app, &alice, &id).await["version"], 1);
}

#[tokio::test]
async fn a_body_that_is_not_declared_as_json_is_an_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "x"})).await);
    let body = r#"{"title": "valid json"}"#;
    for (method, path) in
        [(Method::POST, TASKS.to_owned()), (Method::POST, format!("{TASKS}/batch")), (Method::PATCH, task_path(&id))]
    {
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("text/json")] {
            let mut request = app.request(method.clone(), &path, &alice).body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let reply = send(request).await;
            assert_eq!(reply.status, 415, "{method} {path} as {content_type:?}");
            assert_problem(&reply, 415, "unsupported_media_type");
        }
    }
    // A charset parameter is fine.
    let reply = send(
        app.request(Method::POST, TASKS, &alice).header("content-type", "application/json; charset=utf-8").body(body),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(total(&app, &alice).await, 2);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_too_large() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "x"})).await);
    let huge = json!({"title": "x", "description": "a".repeat(1024 * 1024)}).to_string();
    assert!(huge.len() > 1024 * 1024);
    for (method, path) in [(Method::POST, TASKS.to_owned()), (Method::PATCH, task_path(&id))] {
        let reply = send(
            app.request(method.clone(), &path, &alice).header("content-type", "application/json").body(huge.clone()),
        )
        .await;
        assert_problem(&reply, 413, "payload_too_large");
    }
    let batch = json!({"tasks": [{"title": "x", "description": "a".repeat(1024 * 1024)}]}).to_string();
    let reply = send(
        app.request(Method::POST, &format!("{TASKS}/batch"), &alice)
            .header("content-type", "application/json")
            .body(batch),
    )
    .await;
    assert_problem(&reply, 413, "payload_too_large");
    assert_eq!(total(&app, &alice).await, 1);
    assert_eq!(fetch(&app, &alice, &id).await["version"], 1);
}

#[tokio::test]
async fn a_body_just_under_one_mebibyte_is_read_and_validated() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let body = json!({"title": "x", "description": "a".repeat(1024 * 1024 - 64)});
    assert!(body.to_string().len() <= 1024 * 1024);
    assert_invalid(&create(&app, &alice, body).await, &[("description", "length")]);
}

#[tokio::test]
async fn unknown_fields_server_owned_fields_and_wrong_types_are_all_reported() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let reply = create(
        &app,
        &alice,
        json!({
            "title": 5,
            "description": 6,
            "status": true,
            "priority": 3,
            "tags": "home",
            "due_date": 20300131,
            "recurrence": ["daily"],
            "id": "0190b2a4-0000-7000-8000-000000000000",
            "user_id": "someone-else",
            "version": 2,
            "created_at": "2030-01-01T00:00:00Z",
            "updated_at": "2030-01-01T00:00:00Z",
            "deleted_at": null,
            "completed_at": "2030-01-01T00:00:00Z",
            "colour": "red",
            "titel": "typo"
        }),
    )
    .await;
    assert_invalid(
        &reply,
        &[
            ("title", "type"),
            ("description", "type"),
            ("status", "type"),
            ("priority", "type"),
            ("tags", "type"),
            ("due_date", "type"),
            ("recurrence", "type"),
            ("id", "read_only"),
            ("user_id", "read_only"),
            ("version", "read_only"),
            ("created_at", "read_only"),
            ("updated_at", "read_only"),
            ("deleted_at", "read_only"),
            ("completed_at", "read_only"),
            ("colour", "unknown_field"),
            ("titel", "unknown_field"),
        ],
    );
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_single_server_owned_field_on_an_otherwise_valid_task_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for field in ["id", "version", "created_at", "updated_at", "user_id", "deleted_at", "completed_at"] {
        let value = if field == "version" { json!(1) } else { json!("2030-01-01T00:00:00Z") };
        let reply = create(&app, &alice, json!({"title": "x", field: value})).await;
        assert_invalid(&reply, &[(field, "read_only")]);
    }
    assert_eq!(total(&app, &alice).await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_a_validation_error() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = id_of(&app.create_task(&alice, json!({"title": "x"})).await);
    for body in [json!([{"title": "x"}]), json!([]), json!("x"), json!(1), Value::Null] {
        for (method, path) in [
            (Method::POST, TASKS.to_owned()),
            (Method::POST, format!("{TASKS}/batch")),
            (Method::PATCH, task_path(&id)),
        ] {
            let reply = send(app.request(method.clone(), &path, &alice).json(&body)).await;
            assert_problem(&reply, 422, "validation_failed");
            assert!(!field_errors(&reply).is_empty(), "{method} {path} {body}: {}", reply.body);
        }
    }
    assert_eq!(total(&app, &alice).await, 1);
}

#[tokio::test]
async fn a_malformed_id_in_a_path_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "x"})).await;
    let missing = missing_id();
    for bad in ["not-a-uuid", "123", "0190b2a4-0000-7000-8000-00000000000g"] {
        let cases = [
            (Method::GET, task_path(bad), task_path(&missing), None),
            (Method::PATCH, task_path(bad), task_path(&missing), Some(json!({"title": "y"}))),
            (Method::DELETE, task_path(bad), task_path(&missing), None),
            (Method::POST, format!("{TASKS}/{bad}/restore"), format!("{TASKS}/{missing}/restore"), None),
        ];
        for (method, malformed, absent, body) in cases {
            let build = |path: &str| {
                let request = app.request(method.clone(), path, &alice);
                match &body {
                    Some(body) => request.json(body),
                    None => request,
                }
            };
            let malformed_reply = send(build(&malformed)).await;
            assert_problem(&malformed_reply, 404, "not_found");
            assert_eq!(observable(&malformed_reply), observable(&send(build(&absent)).await), "{method} {malformed}");
        }
    }
}
