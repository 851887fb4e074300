//! Hostile clients (API.md, "Limits and abuse"): whatever a client sends, at any rate, it gets
//! a documented 4xx or 503 at a bounded cost, and the holes these tests close stay closed.
//! Each promise is tested with the settings that ship; where a test lowers one, the reason is
//! given, and the default is exercised beside it.

use crate::helpers::{JWT_SECRET, TestApp, TestUser, token_for};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn codes(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| format!("{}:{}", e["field"].as_str().unwrap_or(""), e["code"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `request` on a new connection and reads until the server closes it or `wait` passes:
/// what came back, and whether the server closed the connection.
async fn raw(app: &TestApp, request: &[u8], wait: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port())).await.expect("connect");
    // The server may answer and close before it read everything; what it answered still counts.
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8192];
    let deadline = Instant::now() + wait;
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

// ------------------------------------------------------------------------------ rate limits

#[tokio::test]
async fn a_user_past_the_default_burst_gets_429_with_retry_after_and_others_are_unaffected() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let mut statuses = Vec::new();
    let mut refused = None;
    // The default bucket holds 200 and refills at 100 a second: 300 at once must overflow it.
    // A malformed id answers without the database, so the burst takes a few milliseconds.
    let started = Instant::now();
    let responses =
        futures::future::join_all((0..300).map(|_| app.request(Method::GET, "/api/v1/tasks/x", &alice).send())).await;
    // What the bucket refilled while the burst lasted (a loaded machine stretches it).
    let refilled = (started.elapsed().as_secs_f64() * 100.0).ceil() as usize;
    for response in responses {
        let response = response.expect("request");
        statuses.push(response.status().as_u16());
        assert_eq!(response.headers()["ratelimit-policy"], "\"user\";q=200;w=2");
        let state = response.headers()["ratelimit"].to_str().expect("ascii").to_owned();
        assert!(state.starts_with("\"user\";r="), "{state}");
        if response.status() == 429 && refused.is_none() {
            refused = Some((response.headers().clone(), response.json::<Value>().await.expect("json")));
        }
    }
    let ok = statuses.iter().filter(|s| **s == 404).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + limited, 300, "{statuses:?}");
    assert!((200..=201 + refilled).contains(&ok), "the burst and what refilled meanwhile ({refilled}) pass: {ok}");
    assert!(limited > 0, "300 at once overflow the bucket");
    let (headers, problem) = refused.expect("a 429");
    let retry_after: u64 = headers["retry-after"].to_str().expect("ascii").parse().expect("whole seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(headers["ratelimit"].to_str().expect("ascii").starts_with("\"user\";r=0;t="));
    let (status, _) = app.call(Method::GET, "/api/v1/tasks/stats", &bob, None).await.parts();
    assert_eq!(status, 200, "buckets are per user");
    // Health, metrics and the document are never limited.
    for path in ["/health/live", "/metrics", "/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().get("ratelimit").is_none(), "{path} is not limited");
    }
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, _) = app.call(Method::GET, "/api/v1/tasks/stats", &alice, None).await.parts();
    assert_eq!(status, 200, "after Retry-After the user may go on");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let rejected = metrics
        .lines()
        .find(|l| l.starts_with("http_requests_rejected_total{reason=\"rate_limited_user\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .expect("the rejection counter");
    assert!(rejected >= limited as u64, "{rejected} < {limited}");
}

#[tokio::test]
async fn requests_without_a_valid_token_are_limited_per_address_and_health_never() {
    let app = TestApp::spawn().await;
    let client = &app.client;
    // 60 at once against the address's burst of 40, refilled at 20 a second.
    let started = Instant::now();
    let responses = futures::future::join_all(
        (0..60).map(|_| client.get(app.url("/api/v1/tasks")).bearer_auth("not-a-token").send()),
    )
    .await;
    let refilled = (started.elapsed().as_secs_f64() * 20.0).ceil() as usize;
    let mut statuses = Vec::new();
    for response in responses {
        let response = response.expect("request");
        assert_eq!(response.headers()["ratelimit-policy"], "\"address\";q=40;w=2");
        statuses.push(response.status().as_u16());
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        (40..=41 + refilled).contains(&unauthorized),
        "the address's burst of 40 and what refilled meanwhile ({refilled}), then 429s: {statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    // A path that only starts like an open route is limited like any other: it meets a 429.
    let mut limited = false;
    for _ in 0..100 {
        if app.get("/health/live/x").await.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "only the open routes themselves are unlimited");
    for _ in 0..100 {
        assert_eq!(app.get("/health/live").await.status(), 200);
    }
    for open in ["/health", "/health/ready", "/health/db", "/metrics", "/openapi.json"] {
        assert_ne!(app.get(open).await.status(), 429, "{open} is never limited");
    }
    let alice = app.new_user();
    let (status, _) = app.call(Method::GET, "/api/v1/tasks", &alice, None).await.parts();
    assert_eq!(status, 200, "a valid token draws from the user's bucket, not the address's");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_limited_and_elsewhere_it_is_ignored() {
    // A bucket of one request makes the test short; the defaults are exercised above.
    let limits = [("RATE_LIMIT_ADDRESS", "1"), ("RATE_LIMIT_ADDRESS_BURST", "1")];
    let behind = TestApp::spawn_with(&[limits[0], limits[1], ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let from = |app: &TestApp, address: &str| {
        app.client.get(app.url("/api/v1/tasks")).header("x-forwarded-for", address).send()
    };
    assert_eq!(from(&behind, "198.51.100.1").await.expect("request").status(), 401);
    assert_eq!(from(&behind, "198.51.100.1").await.expect("request").status(), 429);
    assert_eq!(from(&behind, "198.51.100.2").await.expect("request").status(), 401, "another client's bucket");
    assert_eq!(
        from(&behind, "6.6.6.6, 198.51.100.1").await.expect("request").status(),
        429,
        "a client cannot pick its address by prepending one"
    );
    let direct = TestApp::spawn_with(&limits).await;
    assert_eq!(from(&direct, "198.51.100.1").await.expect("request").status(), 401);
    assert_eq!(
        from(&direct, "198.51.100.2").await.expect("request").status(),
        429,
        "without a trusted proxy the header is ignored: one peer, one bucket"
    );
}

#[tokio::test]
async fn a_limit_of_zero_turns_it_off() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_USER", "0")]).await;
    let alice = app.new_user();
    let responses =
        futures::future::join_all((0..300).map(|_| app.request(Method::GET, "/api/v1/tasks/stats", &alice).send()))
            .await;
    for response in responses {
        let response = response.expect("request");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none(), "no limit, no header");
    }
}

// ------------------------------------------------------------------------------ load shedding

/// A POST whose headers promise a body that never comes: a request in flight until the
/// body timeout.
async fn stalled_post(app: &TestApp, user: &TestUser) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port())).await.expect("connect");
    let head = format!(
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ti",
        user.token
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

async fn wait_for_in_flight(app: &TestApp, user: &TestUser, expected_status: u16) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.request(Method::GET, "/api/v1/tasks/stats", user).send().await.expect("request");
        if response.status() == expected_status || Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn past_the_default_in_flight_bound_requests_get_503_overloaded_at_once_and_liveness_never() {
    // The stalled requests below must outlast the test even on a loaded machine: a longer body
    // timeout (its default is tested on its own) keeps them in flight; the bound is the default.
    let app = TestApp::spawn_with(&[("BODY_TIMEOUT", "120")]).await;
    let users: Vec<TestUser> = (0..8).map(|_| app.new_user()).collect();
    // The shipped bound is 512: hold that many requests in flight (the users spread them over
    // their buckets' bursts), and a few more, which are refused.
    let mut stalled = Vec::new();
    for i in 0..520 {
        stalled.push(stalled_post(&app, &users[i % users.len()]).await);
    }
    let probe = app.new_user();
    // A stalled request that arrived while a probe was in flight was refused in its place:
    // top the stalled ones up until the bound is full of them.
    let mut response = app.request(Method::GET, "/api/v1/tasks/stats", &probe).send().await.expect("probe");
    for i in 0..100 {
        if response.status() == 503 {
            break;
        }
        stalled.push(stalled_post(&app, &users[i % users.len()]).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        response = app.request(Method::GET, "/api/v1/tasks/stats", &probe).send().await.expect("probe");
    }
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["ratelimit-policy"], "\"user\";q=200;w=2", "a shed answer is limited too");
    assert!(response.headers().contains_key("ratelimit"));
    let started = Instant::now();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "overloaded");
    let (status, _) = app.call(Method::GET, "/api/v1/tasks", &probe, None).await.parts();
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_secs(1), "answered at once");
    assert_eq!(app.get("/health/live").await.status(), 200, "liveness is never refused");
    drop(stalled);
    let response = wait_for_in_flight(&app, &probe, 200).await;
    assert_eq!(response.status(), 200, "the bound frees up as requests end");
}

// ------------------------------------------------------------------------------ bounded work

#[tokio::test]
async fn a_body_that_does_not_arrive_within_the_default_timeout_is_a_408_and_the_connection_closes() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let started = Instant::now();
    let head = format!(
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        alice.token
    );
    let (answer, closed) = raw(&app, head.as_bytes(), Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id:"), "{answer}");
    assert!(closed, "the connection is closed");
    assert!((Duration::from_secs(9)..Duration::from_secs(13)).contains(&took), "the default is 10 s: {took:?}");
    let (status, page) = app.call(Method::GET, "/api/v1/tasks", &alice, None).await.parts();
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(0)), "nothing was written");
}

#[tokio::test]
async fn a_422_lists_at_most_100_errors_and_counts_the_rest() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    // Two-letter keys, so that 1,000 items of 140 of them stay under the 1 MiB body limit.
    let letters: Vec<char> = ('a'..='z').collect();
    let item: serde_json::Map<String, Value> =
        (0..140).map(|i| (format!("{}{}", letters[i / 26], letters[i % 26]), json!(1))).collect();
    let tasks: Vec<Value> = (0..1000).map(|_| Value::Object(item.clone())).collect();
    let response = app
        .request(Method::POST, "/api/v1/tasks/batch", &alice)
        .json(&json!({ "tasks": tasks }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let text = response.text().await.expect("body");
    assert!(text.len() < 32 * 1024, "the answer is small: {} bytes", text.len());
    let problem: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(100));
    // 140 unknown fields and a missing title per item.
    assert_eq!(problem["errors_omitted"], 1000 * 141 - 100);
    assert_eq!(problem["errors"][0]["field"], "tasks[0].title");
}

#[tokio::test]
async fn a_page_is_cut_before_its_json_passes_a_mebibyte_and_the_rest_follows() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let (_, conversation) = app.call(Method::POST, "/api/v1/conversations", &alice, Some(json!({}))).await.parts();
    let id = conversation["id"].as_str().expect("id").to_owned();
    // 100,000 control characters: 600,000 bytes of JSON once escaped.
    let content = "\u{1}".repeat(100_000);
    for _ in 0..3 {
        let (status, _) = app
            .call(
                Method::POST,
                &format!("/api/v1/conversations/{id}/messages"),
                &alice,
                Some(json!({"role": "tool", "content": content})),
            )
            .await
            .parts();
        assert_eq!(status, 201);
    }
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            &alice,
            Some(json!({"role": "user", "content": "small"})),
        )
        .await
        .parts();
    assert_eq!(status, 201);
    let mut path = format!("/api/v1/conversations/{id}/messages?limit=100");
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let response = app.request(Method::GET, &path, &alice).send().await.expect("page");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        assert!(text.len() <= 1024 * 1024, "a page of {} bytes", text.len());
        let page: Value = serde_json::from_str(&text).expect("json");
        let items = page["items"].as_array().expect("items").len();
        assert!(items >= 1, "a page holds at least one item");
        seen += items;
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/conversations/{id}/messages?limit=100&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, 4, "every message, once");
    assert!(pages >= 3, "{pages} pages");
}

// ------------------------------------------------------------------------------ text

#[tokio::test]
async fn nul_in_any_string_is_a_422_on_that_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let cases = [
        (json!({"title": "a\u{0}b"}), "title:format"),
        (json!({"title": "t", "description": "\u{0}"}), "description:format"),
        (json!({"title": "t", "tags": ["ok", "x\u{0}"]}), "tags[1]:format"),
    ];
    for (body, expected) in cases {
        let (status, problem) = app.call(Method::POST, "/api/v1/tasks", &alice, Some(body.clone())).await.parts();
        assert_eq!((status, codes(&problem)), (422, vec![expected.to_owned()]), "{body}");
    }
    let task = app.create_task(&alice, json!({"title": "clean"})).await;
    let id = task["id"].as_str().expect("id");
    let (status, problem) = app
        .call(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice, Some(json!({"description": "x\u{0}"})))
        .await
        .parts();
    assert_eq!((status, codes(&problem)), (422, vec!["description:format".to_owned()]));
    let (status, problem) =
        app.call(Method::POST, "/api/v1/conversations", &alice, Some(json!({"title": "\u{0}"}))).await.parts();
    assert_eq!((status, codes(&problem)), (422, vec!["title:format".to_owned()]));
    let (_, conversation) = app.call(Method::POST, "/api/v1/conversations", &alice, Some(json!({}))).await.parts();
    let messages = format!("/api/v1/conversations/{}/messages", conversation["id"].as_str().expect("id"));
    let (status, problem) =
        app.call(Method::POST, &messages, &alice, Some(json!({"role": "user", "content": "hi\u{0}"}))).await.parts();
    assert_eq!((status, codes(&problem)), (422, vec!["content:format".to_owned()]));
    let (status, problem) = app
        .call(Method::POST, &messages, &alice, Some(json!({"role": "tool", "content": "x", "metadata": {"k\u{0}": 1}})))
        .await
        .parts();
    assert_eq!((status, codes(&problem)), (422, vec!["metadata:format".to_owned()]));
    let (status, problem) = app
        .call(
            Method::POST,
            &messages,
            &alice,
            Some(json!({"role": "tool", "content": "x", "metadata": {"args": ["\u{0}"]}})),
        )
        .await
        .parts();
    assert_eq!((status, codes(&problem)), (422, vec!["metadata:format".to_owned()]));
    let (_, page) = app.call(Method::GET, "/api/v1/tasks", &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "only the clean task exists");
    let (_, page) = app.call(Method::GET, &messages, &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn nul_and_the_search_separator_in_a_query_are_400s_and_q_matches_only_real_text() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "milk", "description": "and bread"})).await;
    for (query, expected) in
        [("q=%00", "q:format"), ("q=%1F", "q:format"), ("q=k%1Fa", "q:format"), ("tag=a%00", "tag:format")]
    {
        let (status, problem) = app.call(Method::GET, &format!("/api/v1/tasks?{query}"), &alice, None).await.parts();
        assert_eq!((status, codes(&problem)), (400, vec![expected.to_owned()]), "{query}");
    }
    let (status, _) = app.call(Method::GET, "/api/v1/conversations?limit=%00", &alice, None).await.parts();
    assert_eq!(status, 400);
    let (_, page) = app.call(Method::GET, "/api/v1/tasks?q=milkand", &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "a search never spans title and description");
    let (_, page) = app.call(Method::GET, "/api/v1/tasks?q=BREAD", &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_tag_needs_a_visible_character_and_duplicate_json_keys_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for tag in [" ", "\t", "\u{1f}", "\u{200b}"] {
        let (status, problem) =
            app.call(Method::POST, "/api/v1/tasks", &alice, Some(json!({"title": "t", "tags": [tag]}))).await.parts();
        assert_eq!((status, codes(&problem)), (422, vec!["tags[0]:format".to_owned()]), "{tag:?}");
    }
    let response = app
        .request(Method::POST, "/api/v1/tasks", &alice)
        .header("content-type", "application/json")
        .body(r#"{"title": "first", "title": "second"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "bad_request");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("duplicate key `title`"), "{problem}");
}

// ------------------------------------------------------------------------------ dates

#[tokio::test]
async fn dates_stay_within_years_one_to_9999_and_a_series_ends_there() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let (status, problem) = app
        .call(
            Method::POST,
            "/api/v1/tasks",
            &alice,
            Some(json!({"title": "t", "due_date": "9999-12-31T23:59:59-05:00"})),
        )
        .await
        .parts();
    assert_eq!((status, codes(&problem)), (422, vec!["due_date:range".to_owned()]));
    let last = app
        .create_task(&alice, json!({"title": "last", "due_date": "9999-12-31T12:00:00Z", "recurrence": "daily"}))
        .await;
    app.create_task(&alice, json!({"title": "first", "due_date": "0001-01-01T00:00:00Z"})).await;
    let id = last["id"].as_str().expect("id");
    let (status, done) = app
        .call(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice, Some(json!({"status": "completed"})))
        .await
        .parts();
    assert_eq!((status, done["status"].as_str()), (200, Some("completed")), "the completion succeeds");
    let (_, page) = app.call(Method::GET, "/api/v1/tasks?sort=due_date&limit=1", &alice, None).await.parts();
    assert_eq!(page["items"][0]["due_date"], "0001-01-01T00:00:00.000000Z");
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_owned();
    let (status, next) = app
        .call(Method::GET, &format!("/api/v1/tasks?sort=due_date&limit=5&cursor={cursor}"), &alice, None)
        .await
        .parts();
    assert_eq!(status, 200, "the server's own cursor is accepted: {next}");
    let due: Vec<&str> =
        next["items"].as_array().expect("items").iter().filter_map(|t| t["due_date"].as_str()).collect();
    assert_eq!(due, ["9999-12-31T12:00:00.000000Z"], "no next occurrence past the end");
    for query in ["due_before=9999-12-31T23:59:59-05:00", "due_after=0001-01-01T00:00:00%2B00:01"] {
        let (status, problem) = app.call(Method::GET, &format!("/api/v1/tasks?{query}"), &alice, None).await.parts();
        assert_eq!(status, 400, "{query}: {problem}");
        assert!(codes(&problem)[0].ends_with(":range"), "{problem}");
    }
    let (_, page) =
        app.call(Method::GET, "/api/v1/tasks?due_before=9999-12-31T23:59:59.999999Z", &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "the last instant works as a bound");
}

// ------------------------------------------------------------------------------ HTTP details

#[tokio::test]
async fn head_works_on_every_get_route() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let (_, conversation) = app.call(Method::POST, "/api/v1/conversations", &alice, Some(json!({}))).await.parts();
    let (task_id, conversation_id) = (task["id"].as_str().expect("id"), conversation["id"].as_str().expect("id"));
    let mut checked = 0;
    for (method, template) in api::routes::operations() {
        if method != actix_web::http::Method::GET {
            continue;
        }
        let path = template
            .replace("/tasks/{id}", &format!("/tasks/{task_id}"))
            .replace("/conversations/{id}", &format!("/conversations/{conversation_id}"));
        let token = if path.starts_with("/admin") { token_for("root", &["admin"]) } else { alice.token.clone() };
        let get = app.client.get(app.url(&path)).bearer_auth(&token).send().await.expect("get");
        let head = app.client.head(app.url(&path)).bearer_auth(&token).send().await.expect("head");
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(head.headers().get("etag"), get.headers().get("etag"), "HEAD {path}");
        assert_eq!(head.headers().get("content-type"), get.headers().get("content-type"), "HEAD {path}");
        assert!(head.bytes().await.expect("body").is_empty(), "HEAD {path} has no body");
        checked += 1;
    }
    assert!(checked >= 10, "{checked} GET routes");
}

#[tokio::test]
async fn only_the_canonical_spelling_of_an_id_names_a_resource() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "t"})).await;
    let id: uuid::Uuid = task["id"].as_str().expect("id").parse().expect("uuid");
    let (status, _) =
        app.call(Method::GET, &format!("/api/v1/tasks/{}", id.to_string().to_uppercase()), &alice, None).await.parts();
    assert_eq!(status, 200, "either case");
    for spelling in [format!("%7B{id}%7D"), format!("urn:uuid:{id}"), id.simple().to_string(), format!("{id}%20")] {
        let (status, problem) = app.call(Method::GET, &format!("/api/v1/tasks/{spelling}"), &alice, None).await.parts();
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")), "{spelling}");
    }
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let token = |nbf: i64| {
        let claims = json!({"sub": "alice", "exp": now + 3600, "nbf": nbf});
        let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
    };
    let future = app.client.get(app.url("/api/v1/tasks")).bearer_auth(token(now + 600)).send().await.expect("get");
    assert_eq!(future.status(), 401);
    assert_eq!(future.headers()["www-authenticate"], "Bearer");
    let skewed = app.client.get(app.url("/api/v1/tasks")).bearer_auth(token(now + 10)).send().await.expect("get");
    assert_eq!(skewed.status(), 200, "within the 30 s of clock skew");
}

#[tokio::test]
async fn deleting_a_conversation_honours_if_match() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let (_, conversation) =
        app.call(Method::POST, "/api/v1/conversations", &alice, Some(json!({"title": "a"}))).await.parts();
    let path = format!("/api/v1/conversations/{}", conversation["id"].as_str().expect("id"));
    let (status, _) = app.call(Method::PATCH, &path, &alice, Some(json!({"title": "b"}))).await.parts();
    assert_eq!(status, 200);
    let stale = app.request(Method::DELETE, &path, &alice).header("if-match", "\"1\"").send().await.expect("delete");
    assert_eq!(stale.status(), 412);
    let (status, _) = app.call(Method::GET, &path, &alice, None).await.parts();
    assert_eq!(status, 200, "a stale If-Match deletes nothing");
    let current = app.request(Method::DELETE, &path, &alice).header("if-match", "\"2\"").send().await.expect("delete");
    assert_eq!(current.status(), 204);
    let (status, _) = app.call(Method::GET, &path, &alice, None).await.parts();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn requests_the_http_layer_refuses_itself_get_the_documented_answers() {
    let app = TestApp::spawn().await;
    // A header value with a bad byte: actix-http answers 400 itself and closes.
    let (answer, closed) =
        raw(&app, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(closed);
    // More than 96 headers: 431 (as is a head over 128 KiB).
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let head = format!("GET /health/live HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let (answer, closed) = raw(&app, head.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 431, "{answer}");
    assert!(closed);
    // The service itself still answers in its own shape right after.
    assert_eq!(app.get("/health/live").await.status(), 200);
}

// ------------------------------------------------------------------------------ metrics

#[tokio::test]
async fn metrics_stay_small_whatever_methods_clients_invent_and_every_family_starts_at_zero() {
    let app = TestApp::spawn().await;
    let before = app.get("/metrics").await.text().await.expect("metrics");
    for family in ["http_requests_rejected_total", "db_errors_total", "db_circuit_breaker_state", "db_retries_total"] {
        assert!(before.contains(&format!("# HELP {family} ")), "{family} has no HELP");
    }
    for kind in infrastructure::observe::ERROR_KINDS {
        assert!(before.contains(&format!("db_errors_total{{kind=\"{kind}\"}}")), "db_errors_total{{kind={kind}}}");
    }
    for reason in api::limits::REJECTION_REASONS {
        assert!(before.contains(&format!("http_requests_rejected_total{{reason=\"{reason}\"}}")), "{reason}");
    }
    for i in 0..1000_u32 {
        let method =
            Method::from_bytes(format!("M{i:04}{}", "X".repeat((i % 50) as usize)).as_bytes()).expect("method");
        let path = if i % 2 == 0 { "/health/live" } else { "/api/v1/tasks" };
        app.client.request(method, app.url(path)).send().await.expect("request");
    }
    let after = app.get("/metrics").await.text().await.expect("metrics");
    assert!(!after.contains("M0001"), "an invented method is never a label");
    assert!(after.contains("method=\"OTHER\""));
    // Other tests share the process's recorder, so the bound leaves room for their routes.
    assert!(after.len() < 256 * 1024, "/metrics is {} bytes", after.len());
}

// ------------------------------------------------------------------------------ browsers

#[tokio::test]
async fn with_allowed_origins_preflights_are_answered_and_scripts_can_read_the_headers() {
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let alice = app.new_user();
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/tasks/0192e0c4-8a40-7d52-9f3e-0123456789ab"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type, if-match, idempotency-key, x-request-id",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 200);
    let allowed = |name: &str| preflight.headers()[name].to_str().expect("ascii").to_ascii_lowercase();
    assert_eq!(allowed("access-control-allow-origin"), "https://app.example.com");
    for method in ["get", "post", "patch", "delete"] {
        assert!(allowed("access-control-allow-methods").contains(method), "{method}");
    }
    for header in ["authorization", "content-type", "if-match", "idempotency-key", "x-request-id"] {
        assert!(allowed("access-control-allow-headers").contains(header), "{header}");
    }
    let response = app
        .request(Method::GET, "/api/v1/tasks", &alice)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
    let exposed = response.headers()["access-control-expose-headers"].to_str().expect("ascii").to_ascii_lowercase();
    for header in ["etag", "location", "x-request-id", "retry-after", "ratelimit", "ratelimit-policy"] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }
    let other = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(other.status(), 400);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn by_default_no_origin_is_allowed_and_every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/tasks"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    for (path, private) in
        [("/api/v1/tasks", true), ("/api/v1/nowhere", true), ("/health/live", false), ("/metrics", false)]
    {
        let response = app.request(Method::GET, path, &alice).send().await.expect("request");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(response.headers()["content-security-policy"], "frame-ancestors 'none'", "{path}");
        assert_eq!(response.headers().get("cache-control").is_some_and(|v| v == "no-store"), private, "{path}");
    }
}

// ------------------------------------------------------------------------------ idempotency keys

#[tokio::test]
async fn expired_idempotency_keys_are_purged_and_an_expired_key_can_be_used_again() {
    use sea_orm::{ConnectionTrait, Statement};
    let db = crate::helpers::TestDatabase::migrated().await;
    let mut settings = crate::helpers::settings_for(&db, &[]);
    // The shipped interval is ten minutes; the purge itself is what is under test.
    settings.limits.idempotency_purge_interval = Duration::from_millis(300);
    let app = TestApp::start(settings, Some(db)).await;
    let alice = app.new_user();
    let db = app.database().expect("database");
    let conn = db.connect().await;
    let old = (chrono::Utc::now() - chrono::Duration::hours(25)).to_rfc3339();
    let user = "someone-else";
    // More than two purge batches of old keys, another user's.
    for batch in 0..5 {
        let rows: Vec<String> = (0..500)
            .map(|i| format!("('{user}', 'tasks.create', 'old-{batch}-{i}', 'h', 201, '{{}}', NULL, '{old}')"))
            .collect();
        let sql = format!(
            "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, response_status, response_body, resource_id, created_at) VALUES {}",
            rows.join(", ")
        );
        conn.execute_raw(Statement::from_string(db.backend(), sql)).await.expect("old keys");
    }
    let count = |conn: &sea_orm::DatabaseConnection| {
        let conn = conn.clone();
        let backend = db.backend();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(backend, "SELECT COUNT(*) AS n FROM idempotency_keys"))
                .await
                .expect("count")
                .expect("a row");
            row.try_get::<i64>("", "n").expect("n")
        }
    };
    assert_eq!(count(&conn).await, 2500);
    // A create with a key: the service wrote a key, so its next purge runs.
    let first = app
        .request(Method::POST, "/api/v1/tasks", &alice)
        .header("idempotency-key", "fresh")
        .json(&json!({"title": "kept"}))
        .send()
        .await
        .expect("create");
    assert_eq!(first.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&conn).await > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&conn).await, 1, "every expired key is gone, the fresh one kept");

    // A key whose record is past its 24 hours answers as if it were new.
    let sql = format!("UPDATE idempotency_keys SET created_at = '{old}' WHERE key = 'fresh'");
    conn.execute_raw(Statement::from_string(db.backend(), sql)).await.expect("age the key");
    let again = app
        .request(Method::POST, "/api/v1/tasks", &alice)
        .header("idempotency-key", "fresh")
        .json(&json!({"title": "another body"}))
        .send()
        .await
        .expect("create");
    assert_eq!(again.status(), 201, "not a 422: the old use has expired");
    assert!(again.headers().get("idempotent-replayed").is_none());
    let (_, page) = app.call(Method::GET, "/api/v1/tasks", &alice, None).await.parts();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
}

// ------------------------------------------------------------------------------ secrets

#[test]
fn production_refuses_a_short_jwt_secret_and_says_how_to_make_one() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "production")
        .env("DATABASE_URL", "postgres://app:pw@127.0.0.1:1/db")
        .env("JWT_SECRET", "abc")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run api");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET has 3 bytes"), "{stderr}");
    assert!(stderr.contains("openssl rand -base64 48"), "{stderr}");
}
