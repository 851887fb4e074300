//! `GET /openapi.json`: an OpenAPI 3.1 document whose operations are exactly the routes the
//! service registers, each answering only what the document says it can.

use crate::helpers::{TestApp, token_for};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn fetch_document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    response.json().await.expect("the document is JSON")
}

/// Every operation: `(METHOD, path template)` → the operation object.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(METHODS.contains(&method.to_uppercase().as_str()), "unexpected {method} {path}");
            found.insert((method.to_uppercase(), path.clone()), operation.clone());
        }
    }
    found
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(target) => doc.pointer(target.trim_start_matches('#')).unwrap_or_else(|| panic!("{target} is dangling")),
        None => value,
    }
}

/// The documented status codes of an operation.
fn statuses(operation: &Value) -> BTreeSet<u16> {
    operation["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|code| code.parse().unwrap_or_else(|_| panic!("status {code}")))
        .collect()
}

/// The template with every `{param}` replaced by a fresh UUID.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { segment.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_secured(path: &str) -> bool {
    path.starts_with("/api/v1/") || path.starts_with("/admin/")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_a_bearer_scheme_and_is_open() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(bearer["bearerFormat"], "JWT");
    assert!(doc["info"]["description"].as_str().is_some_and(|d| d.contains("Server-Timing")));
    // An open route ignores any Authorization header, even an invalid one.
    let response = app.client.get(app.url("/openapi.json")).bearer_auth("not-a-token").send().await.expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn its_operations_are_exactly_the_registered_routes() {
    let app = TestApp::spawn().await;
    let documented: BTreeSet<(String, String)> = operations(&fetch_document(&app).await).into_keys().collect();
    let registered: BTreeSet<(String, String)> =
        api::routes::operations().into_iter().map(|(method, path)| (method.to_string(), path)).collect();
    assert_eq!(documented, registered);
    assert!(documented.contains(&("GET".to_owned(), "/openapi.json".to_owned())));
}

#[tokio::test]
async fn every_operation_documents_its_security_bodies_and_problems() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    for ((method, path), operation) in operations(&doc) {
        let name = format!("{method} {path}");
        let codes = statuses(&operation);
        if is_secured(&path) {
            assert_eq!(operation["security"], json!([{"bearer": []}]), "{name}");
            assert!(codes.contains(&401), "{name} does not document 401");
        } else {
            assert!(operation.get("security").is_none(), "{name} is open");
            assert!(!codes.contains(&401), "{name} is open");
        }
        if path.contains("{id}") {
            assert!(codes.contains(&404), "{name} does not document 404");
        }
        if let Some(body) = operation.get("requestBody") {
            for code in [400, 413, 415, 422] {
                assert!(codes.contains(&code), "{name} takes a body but does not document {code}");
            }
            let content = body["content"].as_object().expect("content");
            assert!(content.contains_key("application/json"), "{name}");
            for (media_type, media) in content {
                let schema = resolve(&doc, &media["schema"]);
                assert_eq!(schema["additionalProperties"], false, "{name} {media_type}");
            }
            if method == "PATCH" {
                assert!(content.contains_key("application/merge-patch+json"), "{name}");
            }
        }
        for (code, response) in operation["responses"].as_object().expect("responses") {
            let response = resolve(&doc, response);
            for header in ["X-Request-Id", "Server-Timing"] {
                assert!(response["headers"].get(header).is_some(), "{name} {code} lacks {header}");
            }
            if is_secured(&path) && code.starts_with(['4', '5']) {
                let media = &response["content"]["application/problem+json"];
                assert_eq!(media["schema"]["$ref"], "#/components/schemas/Problem", "{name} {code}");
                assert_eq!(media["example"]["status"].to_string(), *code, "{name} {code}");
            }
            match code.as_str() {
                "401" => assert!(response["headers"].get("WWW-Authenticate").is_some(), "{name}"),
                "503" if is_secured(&path) => {
                    assert!(response["headers"].get("Retry-After").is_some(), "{name}");
                }
                "201" if method == "POST" && !path.ends_with("/batch") && !path.ends_with("/messages") => {
                    assert!(response["headers"].get("Location").is_some(), "{name}");
                }
                _ => {}
            }
        }
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code", "request_id", "errors"] {
        assert!(problem["properties"].get(field).is_some(), "Problem.{field}");
    }
    let field_error = resolve(&doc, &problem["properties"]["errors"]["items"]);
    let keys: BTreeSet<&str> =
        field_error["properties"].as_object().expect("FieldError").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["field", "code", "message"]));
}

/// Every documented path is registered (a method it does not document answers 405, which only a
/// registered path can), and every documented operation answers only statuses it documents.
#[tokio::test]
async fn every_operation_is_served_and_answers_only_what_it_documents() {
    let app = TestApp::spawn().await;
    let doc = fetch_document(&app).await;
    let admin = token_for("openapi-admin", &["admin"]);
    let by_path: BTreeMap<String, Vec<String>> =
        operations(&doc).into_keys().fold(BTreeMap::new(), |mut acc, (method, path)| {
            acc.entry(path).or_default().push(method);
            acc
        });
    for (path, methods) in &by_path {
        for method in METHODS.iter().filter(|m| !methods.iter().any(|d| d == *m)) {
            let response = app
                .client
                .request(Method::from_bytes(method.as_bytes()).expect("method"), app.url(&concrete(path)))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 405, "{method} {path}");
            let body: Value = response.json().await.expect("a problem");
            assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
        }
    }

    for ((method, path), operation) in operations(&doc) {
        let name = format!("{method} {path}");
        let documented = statuses(&operation);
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let url = app.url(&concrete(&path));
        let check = |response: &reqwest::Response, what: &str| {
            let status = response.status().as_u16();
            assert!(documented.contains(&status), "{name} {what} answered {status}, documented {documented:?}");
            for header in ["x-request-id", "server-timing"] {
                assert!(response.headers().contains_key(header), "{name} {what}: no {header}");
            }
            if status >= 400 && is_secured(&path) {
                assert_eq!(response.headers()["content-type"], "application/problem+json", "{name} {what}");
            }
            status
        };

        // With an admin token, and `{}` where a body is documented.
        let mut request = app.client.request(method.clone(), &url).bearer_auth(&admin);
        if operation.get("requestBody").is_some() {
            request = request.json(&json!({}));
        }
        let response = request.send().await.expect("request");
        check(&response, "with a token");

        if is_secured(&path) {
            let response = app.client.request(method.clone(), &url).send().await.expect("request");
            assert_eq!(check(&response, "without a token"), 401, "{name}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
        }
        if path.starts_with("/admin/") {
            let user = token_for("openapi-user", &[]);
            let response = app.client.request(method.clone(), &url).bearer_auth(user).send().await.expect("request");
            assert_eq!(check(&response, "without the admin role"), 403, "{name}");
        }
        if operation.get("requestBody").is_some() {
            let response = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&admin)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .expect("request");
            assert_eq!(check(&response, "with a text/plain body"), 415, "{name}");
            let response = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await
                .expect("request");
            assert_eq!(check(&response, "with malformed JSON"), 400, "{name}");
        }
    }
}
