//! The tasks API over HTTP, rule by rule (API.md, Conventions and Tasks): authentication,
//! isolation between users, the error contract, and creating, reading, changing, completing,
//! deleting, restoring and counting tasks. List filters, sorting and paging, and concurrency
//! have suites of their own (`tasks_listing`, `tasks_concurrency`).

use crate::helpers::{JWT_SECRET, TestApp, TestUser, token_for};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::header::{HeaderMap, HeaderValue};
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
async fn patched(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Value {
    let reply = patch_task(app, user, id, body.clone()).await;
    assert_eq!(reply.status, 200, "PATCH {body}: {}", reply.body);
    reply.body
}

async fn delete_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    send(app.request(Method::DELETE, &task_path(id), user)).await
}

async fn restore_task(app: &TestApp, user: &TestUser, id: &str) -> Reply {
    send(app.request(Method::POST, &format!("{TASKS}/{id}/restore"), user)).await
}

async fn stats(app: &TestApp, user: &TestUser) -> Value {
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

/// A JWT with this header and these claims, signed with `secret` using `algorithm`.
fn signed_token(header: &Value, claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = EncodingKey::from_secret(secret);
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, algorithm).expect("sign");
    format!("{signing_input}.{signature}")
}

/// An HS256 token with these claims, signed with the service's secret.
fn hs256(claims: &Value) -> String {
    signed_token(&json!({"alg": "HS256", "typ": "JWT"}), claims, JWT_SECRET.as_bytes(), Algorithm::HS256)
}

fn in_an_hour() -> i64 {
    Utc::now().timestamp() + 3600
}

/// `GET /api/v1/tasks` with this `Authorization` header (or none).
async fn list_with_authorization(app: &TestApp, authorization: Option<&str>) -> Reply {
    let mut request = app.client.get(app.url(TASKS));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request).await
}

/// Asserts a 401 `unauthorized` problem with `WWW-Authenticate: Bearer`.
fn assert_unauthorized(reply: &Reply) {
    assert_problem(reply, 401, "unauthorized");
    let challenge = reply.header("www-authenticate").expect("a WWW-Authenticate header");
    assert!(challenge.starts_with("Bearer"), "WWW-Authenticate: {challenge}");
}

async fn assert_token_refused(app: &TestApp, token: &str) {
    assert_unauthorized(&list_with_authorization(app, Some(&format!("Bearer {token}"))).await);
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_hand_built_hs256_token_with_sub_and_exp_is_accepted() {
    let app = TestApp::spawn().await;
    let token = hs256(&json!({"sub": "hand-built", "exp": in_an_hour()}));
    let reply = list_with_authorization(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let with_roles = hs256(&json!({"sub": "hand-built", "exp": in_an_hour(), "roles": ["admin"]}));
    assert_eq!(list_with_authorization(&app, Some(&format!("Bearer {with_roles}"))).await.status, 200);
}

#[tokio::test]
async fn a_sub_of_128_characters_is_accepted_counting_characters_not_bytes() {
    let app = TestApp::spawn().await;
    for sub in ["x".repeat(128), "é".repeat(128)] {
        let token = hs256(&json!({"sub": sub, "exp": in_an_hour()}));
        let reply = list_with_authorization(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(reply.status, 200, "sub of {} bytes: {reply:?}", sub.len());
    }
}

#[tokio::test]
async fn every_task_route_needs_a_bearer_token() {
    let app = TestApp::spawn().await;
    let id = missing_id();
    let routes = [
        (Method::GET, TASKS.to_owned()),
        (Method::POST, TASKS.to_owned()),
        (Method::POST, format!("{TASKS}/batch")),
        (Method::GET, format!("{TASKS}/stats")),
        (Method::GET, task_path(&id)),
        (Method::PATCH, task_path(&id)),
        (Method::DELETE, task_path(&id)),
        (Method::POST, format!("{TASKS}/{id}/restore")),
    ];
    for (method, path) in routes {
        let reply = send(app.client.request(method.clone(), app.url(&path)).json(&json!({"title": "x"}))).await;
        assert_eq!(reply.status, 401, "{method} {path}");
        assert_unauthorized(&reply);
    }
}

#[tokio::test]
async fn a_request_without_an_authorization_header_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_unauthorized(&list_with_authorization(&app, None).await);
}

#[tokio::test]
async fn an_authorization_scheme_other_than_bearer_is_unauthorized() {
    let app = TestApp::spawn().await;
    let valid = token_for("alice", &[]);
    for header in [
        "Basic YWxpY2U6c2VjcmV0".to_owned(),
        format!("Token {valid}"),
        format!("Bearer{valid}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        valid.clone(),
    ] {
        let reply = list_with_authorization(&app, Some(&header)).await;
        assert_eq!(reply.status, 401, "Authorization: {header}");
        assert_unauthorized(&reply);
    }
}

#[tokio::test]
async fn a_malformed_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    for token in ["not-a-token", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        assert_token_refused(&app, token).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    let token = signed_token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({"sub": "alice", "exp": in_an_hour()}),
        b"another-secret-entirely-0123456789abcdef",
        Algorithm::HS256,
    );
    assert_token_refused(&app, &token).await;
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let token = hs256(&json!({"sub": "alice", "exp": Utc::now().timestamp() - 3600}));
    assert_token_refused(&app, &token).await;
}

#[tokio::test]
async fn an_alg_none_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "alice", "exp": in_an_hour()}).to_string());
    for alg in ["none", "None", "NONE"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        assert_token_refused(&app, &format!("{header}.{claims}.")).await;
        // With an HMAC signature attached, `none` must still not be honoured.
        let signed = signed_token(
            &json!({"alg": alg, "typ": "JWT"}),
            &json!({"sub": "alice", "exp": in_an_hour()}),
            JWT_SECRET.as_bytes(),
            Algorithm::HS256,
        );
        assert_token_refused(&app, &signed).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_algorithm_is_unauthorized() {
    let app = TestApp::spawn().await;
    let token = signed_token(
        &json!({"alg": "HS512", "typ": "JWT"}),
        &json!({"sub": "alice", "exp": in_an_hour()}),
        JWT_SECRET.as_bytes(),
        Algorithm::HS512,
    );
    assert_token_refused(&app, &token).await;
}

#[tokio::test]
async fn a_token_without_exp_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_token_refused(&app, &hs256(&json!({"sub": "alice"}))).await;
    assert_token_refused(&app, &hs256(&json!({"sub": "alice", "exp": null}))).await;
}

#[tokio::test]
async fn a_token_without_a_sub_or_with_an_empty_sub_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_token_refused(&app, &hs256(&json!({"exp": in_an_hour()}))).await;
    assert_token_refused(&app, &hs256(&json!({"sub": "", "exp": in_an_hour()}))).await;
}

#[tokio::test]
async fn a_token_with_a_129_character_sub_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_token_refused(&app, &hs256(&json!({"sub": "x".repeat(129), "exp": in_an_hour()}))).await;
    assert_token_refused(&app, &hs256(&json!({"sub": "é".repeat(129), "exp": in_an_hour()}))).await;
}

#[tokio::test]
async fn open_routes_ignore_an_invalid_authorization_header() {
    let app = TestApp::spawn().await;
    let expired = hs256(&json!({"sub": "alice", "exp": Utc::now().timestamp() - 3600}));
    for header in ["Bearer garbage".to_owned(), "Basic YWxpY2U6c2VjcmV0".to_owned(), format!("Bearer {expired}")] {
        let reply = send(app.client.get(app.url("/health/live")).header("authorization", &header)).await;
        assert_eq!(reply.status, 200, "Authorization: {header}");
        assert_eq!(reply.body, json!({"status": "alive"}));
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation between users
// ---------------------------------------------------------------------------------------------

/// What a client can tell apart: status, content type and the body apart from its request id.
fn observable(reply: &Reply) -> (u16, Option<String>, Value) {
    (reply.status, reply.header("content-type").map(str::to_owned), reply.body_without_request_id())
}

/// One request against a task id, made the same way for different ids.
#[derive(Debug)]
struct Probe<'a> {
    label: &'static str,
    method: Method,
    target: &'a str,
    /// After the task's path, e.g. `/restore`.
    suffix: &'static str,
    body: Option<Value>,
    if_match: Option<&'static str>,
}

impl Probe<'_> {
    async fn send(&self, app: &TestApp, user: &TestUser, id: &str) -> Reply {
        let mut request = app.request(self.method.clone(), &format!("{}{}", task_path(id), self.suffix), user);
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(version) = self.if_match {
            request = request.header("if-match", version);
        }
        send(request).await
    }
}

#[tokio::test]
async fn another_users_task_answers_exactly_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let live = app.create_task(&alice, json!({"title": "alice's secret"})).await;
    let live_id = id_of(&live);
    let deleted_id = id_of(&app.create_task(&alice, json!({"title": "alice's deleted"})).await);
    assert_eq!(delete_task(&app, &alice, &deleted_id).await.status, 204);
    let missing = missing_id();

    let patch = Some(json!({"title": "bob's now"}));
    let cases = [
        Probe { label: "GET", method: Method::GET, target: &live_id, suffix: "", body: None, if_match: None },
        Probe {
            label: "PATCH",
            method: Method::PATCH,
            target: &live_id,
            suffix: "",
            body: patch.clone(),
            if_match: None,
        },
        Probe {
            label: "PATCH with If-Match",
            method: Method::PATCH,
            target: &live_id,
            suffix: "",
            body: patch,
            if_match: Some("\"7\""),
        },
        Probe { label: "DELETE", method: Method::DELETE, target: &live_id, suffix: "", body: None, if_match: None },
        Probe {
            label: "DELETE with If-Match",
            method: Method::DELETE,
            target: &live_id,
            suffix: "",
            body: None,
            if_match: Some("\"7\""),
        },
        Probe {
            label: "restore of a deleted task",
            method: Method::POST,
            target: &deleted_id,
            suffix: "/restore",
            body: None,
            if_match: None,
        },
        Probe {
            label: "restore of a live task",
            method: Method::POST,
            target: &live_id,
            suffix: "/restore",
            body: None,
            if_match: None,
        },
    ];
    for probe in cases {
        let foreign = probe.send(&app, &bob, probe.target).await;
        let absent = probe.send(&app, &bob, &missing).await;
        assert_problem(&foreign, 404, "not_found");
        assert_eq!(observable(&foreign), observable(&absent), "{}", probe.label);
    }

    // Nothing bob did reached alice's tasks.
    assert_eq!(fetch(&app, &alice, &live_id).await, live);
    assert_eq!(get_task(&app, &alice, &deleted_id).await.status, 404, "still deleted");
    assert_eq!(restore_task(&app, &alice, &deleted_id).await.status, 200);
    assert_eq!(total(&app, &bob).await, 0);
    assert!(all_tasks(&app, &bob).await.is_empty());
}

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
    // The previous build wrote the task alone (`response_body`); a rolling upgrade mixes both.
    behind_the_back(
        &app,
        "UPDATE idempotency_keys SET response = NULL WHERE key = 'older'",
        "UPDATE idempotency_keys SET response = NULL WHERE key = 'older'",
    )
    .await;
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
