//! What an operator relies on: metrics, the admin route, the CLI, logs and shutdown.

use crate::helpers::{Backend, JWT_SECRET, RunningBinary, TestApp, TestDatabase, TestUser, settings_from, token_for};
use reqwest::Method;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn api_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The JSON body a request answers (the admin pool figures, in these tests).
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.expect("request").json().await.expect("json")
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_with_latency_and_pool_gauges() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let id = uuid::Uuid::now_v7();
    let missing = app.request(Method::GET, &format!("/api/v1/tasks/{id}"), &alice).send().await.expect("get");
    assert_eq!(missing.status(), 404);
    app.get("/no/such/route").await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
    let text = response.text().await.expect("text");
    assert!(text.contains(r#"http_requests_total{method="GET",route="/api/v1/tasks/{id}",status="404"}"#), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "unknown paths are one label value");
    assert!(!text.contains(&id.to_string()), "raw ids never become labels");
    assert!(!text.contains("/no/such/route"));
    assert!(
        text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/tasks/{id}",le="0.005"}"#)
    );
    assert!(text.contains(r#"db_pool_connections{pool="traffic",state="idle"}"#));
    assert!(text.contains(r#"db_pool_max_connections{pool="traffic"} 10"#));
    assert!(text.contains("db_acquire_timeouts_total"));
}

#[tokio::test]
async fn database_errors_are_counted_by_kind() {
    let settings = settings_from(&[
        ("APP_ENV", "test"),
        ("APP_PORT", "0"),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_URL", "postgres://u:pw@127.0.0.1:1/gone"),
        ("DB_CONNECT_TIMEOUT", "1"),
        ("DB_ACQUIRE_TIMEOUT", "1"),
    ]);
    let app = TestApp::start(settings, None).await;
    let user = TestUser { token: token_for("ops", &[]) };
    assert_eq!(app.request(Method::GET, "/api/v1/tasks", &user).send().await.expect("get").status(), 503);
    let text = app.get("/metrics").await.text().await.expect("text");
    assert!(
        text.lines().any(|l| l.starts_with("db_errors_total{kind=") && !l.ends_with(" 0")),
        "no database error counted:\n{text}"
    );
}

#[tokio::test]
async fn pool_stats_are_for_admins_only() {
    let app = TestApp::spawn().await;
    let anonymous = app.get("/admin/db/pool-stats").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let user = TestUser { token: token_for("just-a-user", &[]) };
    let forbidden = app.request(Method::GET, "/admin/db/pool-stats", &user).send().await.expect("get");
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.json::<Value>().await.expect("json")["code"], "forbidden");

    let admin = TestUser { token: token_for("operator", &["admin"]) };
    let response = app.request(Method::GET, "/admin/db/pool-stats", &admin).send().await.expect("get");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let pools = body["pools"].as_array().expect("pools");
    let mut expected = if Backend::from_env().is_pooled() { vec!["traffic", "direct"] } else { vec!["traffic"] };
    if Backend::from_env().has_replica() {
        expected.push("read");
    }
    assert_eq!(pools.iter().map(|p| p["name"].as_str().unwrap_or("")).collect::<Vec<_>>(), expected);
    for key in ["size", "idle", "in_use", "min", "max", "acquire_timeouts", "acquire_waits"] {
        assert!(pools[0][key].is_u64(), "{key} missing: {body}");
    }
    assert_eq!(pools[0]["max"], 10);
    assert!(body["acquire_timeouts"].is_u64() && body["acquire_waits"].is_u64());
}

#[tokio::test]
async fn requests_that_wait_for_a_busy_pool_are_counted_as_acquire_waits() {
    let db = TestDatabase::migrated().await;
    // One connection for twenty concurrent requests: most of them have to wait.
    let settings = crate::helpers::settings_for(&db, &[("DB_POOL_MAX", "1")]);
    let app = TestApp::start(settings, Some(db)).await;
    let alice = app.new_user();
    let admin = TestUser { token: token_for("operator", &["admin"]) };
    let waits = |body: &Value| body["acquire_waits"].as_u64().expect("acquire_waits");
    let before = json_of(app.request(Method::GET, "/admin/db/pool-stats", &admin)).await;
    let requests = (0..20).map(|i| {
        app.request(Method::POST, "/api/v1/tasks", &alice).json(&serde_json::json!({"title": format!("t{i}")})).send()
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.expect("request").status(), 201);
    }
    let after = json_of(app.request(Method::GET, "/admin/db/pool-stats", &admin)).await;
    assert!(waits(&after) > waits(&before), "no wait counted: {before} then {after}");
    assert_eq!(after["pools"][0]["max"], 1);
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(metrics.lines().any(|l| l.starts_with("db_acquire_waits_total ") && !l.ends_with(" 0")), "{metrics}");
}

#[tokio::test]
async fn the_token_command_mints_a_token_the_service_accepts() {
    let output = api_command()
        .args(["token", "--sub", "operator", "--admin", "--ttl", "2h"])
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .expect("run api token");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();
    let caller = api::auth::TokenKeys::new(JWT_SECRET.as_bytes()).verify(&token).expect("a valid token");
    assert_eq!(caller.user.as_ref(), "operator");
    assert!(caller.is_admin());

    let app = TestApp::spawn().await;
    let admin = TestUser { token };
    assert_eq!(app.request(Method::GET, "/admin/db/pool-stats", &admin).send().await.expect("get").status(), 200);
    assert_eq!(app.request(Method::GET, "/api/v1/tasks", &admin).send().await.expect("get").status(), 200);
}

#[test]
fn the_token_command_needs_jwt_secret_and_a_valid_subject() {
    let output = api_command().args(["token", "--sub", "x"]).output().expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET is not set"));
    let output = api_command().args(["token", "--sub", ""]).env("JWT_SECRET", JWT_SECRET).output().expect("run");
    assert!(!output.status.success());
    let output = api_command()
        .args(["token", "--sub", "x", "--ttl", "soon"])
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "clap refuses the ttl");
}

#[test]
fn help_explains_every_command_and_setting() {
    let output = api_command().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    for word in [
        "serve",
        "migrate",
        "token",
        "APP_ENV",
        "APP_HOST",
        "APP_PORT",
        "LOG_FORMAT",
        "DATABASE_URL",
        "DATABASE_URL_POOLED",
        "DB_POOL_MAX",
        "DB_POOL_MIN",
        "DB_CONNECT_TIMEOUT",
        "DB_ACQUIRE_TIMEOUT",
        "DB_STATEMENT_TIMEOUT",
        "DB_IDLE_TIMEOUT",
        "DB_MAX_LIFETIME",
        "JWT_SECRET",
    ] {
        assert!(help.contains(word), "`api --help` does not mention {word}:\n{help}");
    }
}

#[tokio::test]
async fn development_without_a_secret_prints_a_working_token_and_never_logs_it() {
    let dir = temp_dir("dev-token");
    let service = RunningBinary::start(&[("APP_ENV", "development"), ("RUST_LOG", "trace")], &dir);
    let token = service.printed_token.clone().expect("a development token is printed at start-up");
    let client = reqwest::Client::new();
    let response = client.get(service.url("/api/v1/tasks")).bearer_auth(&token).send().await.expect("list");
    assert_eq!(response.status(), 200, "the printed token works against this server at once");
    let admin = client.get(service.url("/admin/db/pool-stats")).bearer_auth(&token).send().await.expect("stats");
    assert_eq!(admin.status(), 200, "and carries the admin role");
    let (clean, log) = service.stop();
    assert!(clean, "{log}");
    for line in log.lines().filter(|l| l.starts_with('{')) {
        assert!(!line.contains(&token), "the token reached a log line: {line}");
    }
    // Another process makes another secret: the old token means nothing there.
    let other = RunningBinary::start(&[("APP_ENV", "development")], &dir);
    let refused = client.get(other.url("/api/v1/tasks")).bearer_auth(&token).send().await.expect("list");
    assert_eq!(refused.status(), 401);
    other.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn on_sigterm_readiness_fails_at_once_traffic_is_served_for_the_drain_delay_then_in_flight_requests_finish() {
    // The shipped drain delay (5 s) and shutdown timeout (30 s), production's settings.
    let db = TestDatabase::migrated().await;
    let mut vars = vec![
        ("APP_ENV", "production"),
        ("APP_HOST", "127.0.0.1"),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_URL", db.url.expose()),
    ];
    if let Some(pooled) = &db.pooled {
        vars.push(("DATABASE_URL_POOLED", pooled.expose()));
    }
    let service = RunningBinary::start(&vars, std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let token = token_for("drained", &[]);
    let client = reqwest::Client::new();
    let ready = client.get(service.url("/health/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), 200);

    // A create whose body is half sent: a request in flight across the whole drain.
    let mut in_flight = tokio::net::TcpStream::connect(("127.0.0.1", service.port)).await.expect("connect");
    let body = r#"{"title": "sent across a shutdown"}"#;
    let (first, rest) = body.split_at(10);
    let head = format!(
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut in_flight, head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    service.signal("TERM");
    // At once: as soon as the process has handled the signal, not after the drain delay nor
    // a database round trip (the bound leaves room for a machine busy with the whole suite).
    let ready = loop {
        let ready = client.get(service.url("/health/ready")).send().await.expect("ready while draining");
        if ready.status() == 503 || signalled.elapsed() > Duration::from_secs(2) {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(ready.status(), 503, "readiness fails as soon as the drain starts");
    assert!(signalled.elapsed() < Duration::from_secs(2), "readiness answered at once");
    assert_eq!(ready.headers()["connection"], "close");
    let readiness: Value = ready.json().await.expect("json");
    assert_eq!(readiness["status"], "draining");
    // Traffic is still served, on connections that close after their answer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let list = client.get(service.url("/api/v1/tasks")).bearer_auth(&token).send().await.expect("list while draining");
    assert_eq!(list.status(), 200, "the instance serves on during the drain");
    assert_eq!(list.headers()["connection"], "close");
    // After the drain delay, no new connection is accepted...
    let deadline = signalled + Duration::from_secs(8);
    let refused_at = loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", service.port)).await.is_err() {
            break signalled.elapsed();
        }
        assert!(Instant::now() < deadline, "still accepting connections 8 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused_at >= Duration::from_millis(4900), "stopped accepting before the 5 s drain delay: {refused_at:?}");
    // ...and the request in flight since before the signal still finishes.
    tokio::io::AsyncWriteExt::write_all(&mut in_flight, rest.as_bytes()).await.expect("write the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read_to_end(&mut in_flight, &mut answer))
        .await
        .expect("answered within the shutdown timeout")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "the in-flight create was served: {answer}");
    let (clean, log) = service.wait();
    assert!(clean, "the process exits cleanly after draining:\n{log}");
    assert!(log.contains("draining"), "the drain is logged:\n{log}");
}

#[tokio::test]
async fn a_request_in_flight_when_the_server_stops_accepting_runs_to_its_end() {
    // A database that accepts connections and never answers keeps a request busy until the
    // acquire timeout: a request in flight when the server stops. DRAIN_DELAY=0 stops
    // accepting at once (the drain itself is tested above).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("postgres://u:pw@127.0.0.1:{port}/db?sslmode=disable");
    let service = RunningBinary::start(
        &[
            ("APP_ENV", "production"),
            ("APP_HOST", "127.0.0.1"),
            ("JWT_SECRET", JWT_SECRET),
            ("DATABASE_URL", &url),
            ("DB_CONNECT_TIMEOUT", "2"),
            ("DB_ACQUIRE_TIMEOUT", "2"),
            ("DRAIN_DELAY", "0"),
        ],
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    let in_flight_url = service.url("/api/v1/tasks");
    let token = token_for("alice", &[]);
    let in_flight = tokio::spawn(async move {
        let started = Instant::now();
        let response = reqwest::Client::new().get(in_flight_url).bearer_auth(token).send().await;
        (response.map(|r| r.status().as_u16()), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let port_of_service = service.port;
    let stopping = tokio::task::spawn_blocking(move || service.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new().get(format!("http://127.0.0.1:{port_of_service}/health/live")).send().await;
    assert!(refused.is_err(), "a new connection after SIGTERM is refused");
    let (status, elapsed) = in_flight.await.expect("request task");
    assert_eq!(status.expect("the in-flight request got an answer"), 503);
    assert!(elapsed >= Duration::from_millis(1500), "it ran to its end: {elapsed:?}");
    let (clean, log) = stopping.await.expect("stop");
    assert!(clean, "the process exits cleanly after draining:\n{log}");
    silent.abort();
}

#[tokio::test]
async fn slow_statements_are_logged_with_their_duration() {
    let db = TestDatabase::migrated().await;
    let dir = temp_dir("slow-config");
    let defaults =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/default.toml")).expect("read");
    std::fs::write(dir.join("default.toml"), defaults.replace("slow_statement_ms = 500", "slow_statement_ms = 0"))
        .expect("write");
    let config_dir = dir.to_string_lossy().into_owned();
    let mut vars = vec![
        ("APP_ENV", "test"),
        ("JWT_SECRET", JWT_SECRET),
        ("APP_CONFIG_DIR", config_dir.as_str()),
        ("RUST_LOG", "warn,api=info"),
    ];
    let direct = db.url.expose().to_owned();
    vars.push(("DATABASE_URL", direct.as_str()));
    let service = RunningBinary::start(&vars, &dir);
    let response = reqwest::Client::new()
        .get(service.url("/api/v1/tasks"))
        .bearer_auth(token_for("alice", &[]))
        .send()
        .await
        .expect("list");
    assert_eq!(response.status(), 200);
    let (_, log) = service.stop();
    // The list query itself, not only connection set-up, is reported with its duration.
    let slow = log
        .lines()
        .find(|l| l.contains("slow statement") && l.contains("FROM \\\"tasks\\\""))
        .unwrap_or_else(|| panic!("the list query was not logged as slow:\n{log}"));
    let line: Value = serde_json::from_str(slow).expect("a JSON log line");
    assert!(line["elapsed_secs"].as_f64().is_some(), "the duration is logged: {slow}");
    assert_eq!(line["level"], "WARN");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn log_lines_carry_the_request_id_and_never_the_bearer_token() {
    let db = TestDatabase::migrated().await;
    let direct = db.url.expose().to_owned();
    let dir = temp_dir("request-log");
    let mut vars =
        vec![("APP_ENV", "test"), ("JWT_SECRET", JWT_SECRET), ("RUST_LOG", "trace"), ("DATABASE_URL", direct.as_str())];
    let pooled = db.pooled.as_ref().map(|p| p.expose().to_owned());
    if let Some(pooled) = &pooled {
        vars.push(("DATABASE_URL_POOLED", pooled.as_str()));
    }
    let service = RunningBinary::start(&vars, &dir);
    let token = token_for("alice", &[]);
    let response = reqwest::Client::new()
        .get(service.url("/api/v1/tasks?q=anything"))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("list");
    assert_eq!(response.status(), 200);
    let (_, log) = service.stop();
    let completed = log
        .lines()
        .find(|l| l.contains("request completed") && l.contains("trace-me-42"))
        .unwrap_or_else(|| panic!("no access log line with the request id:\n{log}"));
    let line: Value = serde_json::from_str(completed).expect("a JSON log line");
    assert_eq!(line["span"]["request_id"], "trace-me-42");
    assert_eq!(line["span"]["http.route"], "/api/v1/tasks");
    assert!(!log.contains(&token), "the bearer token was logged");
    assert!(!log.contains(JWT_SECRET), "the JWT secret was logged");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn serve_opens_its_first_connection_at_start_up_without_a_request() {
    let db = TestDatabase::migrated().await;
    let direct = db.url.expose().to_owned();
    let mut vars = vec![("APP_ENV", "test"), ("JWT_SECRET", JWT_SECRET), ("DATABASE_URL", direct.as_str())];
    let pooled = db.pooled.as_ref().map(|url| url.expose().to_owned());
    if let Some(pooled) = &pooled {
        vars.push(("DATABASE_URL_POOLED", pooled.as_str()));
    }
    let dir = temp_dir("warm-up");
    let service = RunningBinary::start(&vars, &dir);
    let admin = token_for("operator", &["admin"]);
    // Reading the pool figures never touches the database: only the start-up warm-up can
    // have opened a connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = json_of(reqwest::Client::new().get(service.url("/admin/db/pool-stats")).bearer_auth(&admin)).await;
        let traffic = &body["pools"][0];
        assert_eq!(traffic["name"], "traffic");
        if traffic["size"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no connection was opened at start-up: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}
