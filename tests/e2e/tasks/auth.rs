//! Bearer tokens (what is accepted, what is refused and how) and isolation between users:
//! another user's task answers exactly like a missing one.

use super::*;
use crate::helpers::{JWT_SECRET, token_for};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};

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
