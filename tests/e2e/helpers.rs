//! Test fixtures: per-test databases, a running service and typed request helpers.

use infrastructure::Settings;
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::database::url::DatabaseUrl;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Which database the suite runs against, read once from the environment.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant, reason = "one static value per process")]
pub enum Backend {
    Sqlite,
    Postgres { admin: DatabaseUrl, pooled: Option<DatabaseUrl>, read: Option<DatabaseUrl> },
}

impl Backend {
    pub fn from_env() -> &'static Backend {
        static BACKEND: OnceLock<Backend> = OnceLock::new();
        BACKEND.get_or_init(|| {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            match var("TEST_DATABASE_URL") {
                None => Backend::Sqlite,
                Some(admin) => Backend::Postgres {
                    admin: DatabaseUrl::parse(&admin).expect("TEST_DATABASE_URL is a valid URL"),
                    pooled: var("TEST_DATABASE_URL_POOLED")
                        .map(|p| DatabaseUrl::parse(&p).expect("TEST_DATABASE_URL_POOLED is a valid URL")),
                    read: var("TEST_DATABASE_URL_READ")
                        .map(|r| DatabaseUrl::parse(&r).expect("TEST_DATABASE_URL_READ is a valid URL")),
                },
            }
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }

    pub fn is_pooled(&self) -> bool {
        matches!(self, Backend::Postgres { pooled: Some(_), .. })
    }

    /// Whether the services the suite starts read from a replica (`TEST_DATABASE_URL_READ`).
    pub fn has_replica(&self) -> bool {
        matches!(self, Backend::Postgres { read: Some(_), .. })
    }
}

/// Prints why a test does nothing on this backend; the same test runs for real on another.
pub fn skip(reason: &str) {
    eprintln!("skipped on this backend: {reason}");
}

/// A database of this test's own, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Direct URL (PostgreSQL) or file URL (SQLite).
    pub url: DatabaseUrl,
    /// Pooled URL to the same database, when the suite runs through a pooler.
    pub pooled: Option<DatabaseUrl>,
    /// The same database on the read replica, when the suite runs with one.
    pub read: Option<DatabaseUrl>,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(PathBuf),
    Drop { admin: DatabaseUrl, name: String },
}

impl TestDatabase {
    /// A database with the current schema.
    pub async fn migrated() -> Self {
        match Backend::from_env() {
            Backend::Sqlite => {
                let db = Self::sqlite();
                migrate::run(&settings_for(&db, &[]).database, MigrateCommand::Up).await.expect("migrate");
                db
            }
            Backend::Postgres { admin, pooled, read } => {
                let template = template_database();
                Self::postgres(admin, pooled, read, Some(&template)).await
            }
        }
    }

    /// A database with no schema at all.
    pub async fn empty() -> Self {
        match Backend::from_env() {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres { admin, pooled, read } => Self::postgres(admin, pooled, read, None).await,
        }
    }

    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("tasks-e2e-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = DatabaseUrl::parse(&format!("sqlite://{}/test.sqlite3?mode=rwc", dir.display())).expect("url");
        Self { url, pooled: None, read: None, cleanup: Cleanup::File(dir) }
    }

    async fn postgres(
        admin: &DatabaseUrl,
        pooled: &Option<DatabaseUrl>,
        read: &Option<DatabaseUrl>,
        template: Option<&str>,
    ) -> Self {
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let sql = match template {
            Some(template) => format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#),
            None => format!(r#"CREATE DATABASE "{name}""#),
        };
        let conn = admin_connection(admin).await;
        conn.execute_unprepared(&sql).await.expect("create the test database");
        conn.close().await.ok();
        Self {
            url: admin.with_database(&name),
            pooled: pooled.as_ref().map(|p| p.with_database(&name)),
            read: read.as_ref().map(|r| r.with_database(&name)),
            cleanup: Cleanup::Drop { admin: admin.clone(), name },
        }
    }

    /// A connection over the direct URL, for inspecting what the service wrote.
    pub async fn connect(&self) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url.expose().to_owned());
        options.max_connections(2).sqlx_logging(false);
        Database::connect(options).await.expect("connect to the test database")
    }

    pub fn backend(&self) -> DbBackend {
        match self.url.backend() {
            infrastructure::database::url::Backend::Postgres => DbBackend::Postgres,
            infrastructure::database::url::Backend::Sqlite => DbBackend::Sqlite,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Drop { admin, name } => {
                let (admin, name) = (admin.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot block on itself.
                let _ = std::thread::spawn(move || {
                    block_on(async move {
                        let conn = admin_connection(&admin).await;
                        let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                        if let Err(error) = conn.execute_unprepared(&sql).await {
                            eprintln!("could not drop test database {name}: {error}");
                        }
                        conn.close().await.ok();
                    })
                })
                .join();
            }
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
}

async fn admin_connection(admin: &DatabaseUrl) -> DatabaseConnection {
    let mut options = ConnectOptions::new(admin.expose().to_owned());
    options.max_connections(1).sqlx_logging(false).acquire_timeout(Duration::from_secs(30));
    Database::connect(options).await.expect("connect with TEST_DATABASE_URL")
}

/// The name of a migrated template database, made once per schema version and shared by
/// every test process: creating a database from a template is much faster than migrating.
fn template_database() -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let Backend::Postgres { admin, .. } = Backend::from_env() else { unreachable!("PostgreSQL only") };
            let admin = admin.clone();
            std::thread::spawn(move || block_on(create_template(admin))).join().expect("template thread")
        })
        .clone()
}

async fn create_template(admin: DatabaseUrl) -> String {
    let name = format!("tmpl_{:016x}", schema_fingerprint());
    let conn = admin_connection(&admin).await;
    // Test processes started at once agree on who builds the template.
    let lock_key = i64::from_ne_bytes(schema_fingerprint().to_ne_bytes()) ^ 0x7465_6d70;
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_lock($1)",
        [lock_key.into()],
    ))
    .await
    .expect("template lock");
    let exists = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await
        .expect("look up template")
        .is_some();
    if !exists {
        let building = format!("{name}_build");
        conn.execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#)).await.expect("drop");
        conn.execute_unprepared(&format!(r#"CREATE DATABASE "{building}""#)).await.expect("create template");
        let url = admin.with_database(&building);
        let vars = HashMap::from([
            ("APP_ENV".to_owned(), "test".to_owned()),
            ("DATABASE_URL".to_owned(), url.expose().to_owned()),
        ]);
        let settings = Settings::from_vars(&vars).expect("settings");
        migrate::run(&settings.database, MigrateCommand::Up).await.expect("migrate the template");
        conn.execute_unprepared(&format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#)).await.expect("rename");
        // Templates of older schema versions are of no further use.
        let stale = conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT datname FROM pg_database WHERE datname LIKE 'tmpl\\_%' AND datname <> $1",
                [name.clone().into()],
            ))
            .await
            .unwrap_or_default();
        for row in stale {
            if let Ok(old) = row.try_get::<String>("", "datname") {
                let _ = conn.execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{old}" WITH (FORCE)"#)).await;
            }
        }
    }
    let _ = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_unlock($1)",
            [lock_key.into()],
        ))
        .await;
    conn.close().await.ok();
    name
}

/// Changes whenever a migration's source changes, so a stale template is never used.
fn schema_fingerprint() -> u64 {
    use std::hash::{Hash, Hasher};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migration/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("migration sources")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file).expect("read migration").hash(&mut hasher);
    }
    hasher.finish()
}

/// Settings from exactly these variables (no database made for the test). Auto-migration is
/// off, so the service starts whatever state the database is in.
pub fn settings_from(pairs: &[(&str, &str)]) -> Settings {
    let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let mut settings = Settings::from_vars(&vars).expect("settings");
    settings.database.auto_migrate = false;
    settings
}

/// The `JWT_SECRET` every test service is started with.
pub const JWT_SECRET: &str = "e2e-test-secret-0123456789abcdef0123456789";

/// Settings for a service on `db`, in the test environment, on a free port.
pub fn settings_for(db: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let mut vars = HashMap::from([
        ("APP_ENV".to_owned(), "test".to_owned()),
        ("APP_PORT".to_owned(), "0".to_owned()),
        ("JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        ("DATABASE_URL".to_owned(), db.url.expose().to_owned()),
    ]);
    if let Some(pooled) = &db.pooled {
        vars.insert("DATABASE_URL_POOLED".to_owned(), pooled.expose().to_owned());
    }
    if let Some(read) = &db.read {
        vars.insert("DATABASE_URL_READ".to_owned(), read.expose().to_owned());
    }
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_vars(&vars).expect("test settings")
}

/// Logs go to the test harness's captured output, so only failing tests show them.
/// `RUST_LOG` filters (default `warn`).
fn init_test_logging() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let output = tracing_subscriber::fmt::layer().with_test_writer().with_filter(filter);
    // As in the service: the pool-wait counter sees its events whatever the log filter says.
    let _ = tracing_subscriber::registry().with(output).with(infrastructure::observe::wait_counter()).try_init();
}

/// A running service and an HTTP client for it.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The service's own pools (its traffic pool holds the connections requests ran on).
    pub pools: infrastructure::Database,
    /// Kept so the database outlives the server and is dropped with it.
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// Starts the service on a fresh, migrated database of its own.
    pub async fn spawn() -> Self {
        let db = TestDatabase::migrated().await;
        let settings = settings_for(&db, &[]);
        Self::start(settings, Some(db)).await
    }

    /// Starts the service on a fresh, migrated database with `extra` variables over the test
    /// settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let db = TestDatabase::migrated().await;
        let settings = settings_for(&db, extra);
        Self::start(settings, Some(db)).await
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
    }

    /// Starts the service with the given settings.
    pub async fn start(settings: Settings, db: Option<TestDatabase>) -> Self {
        init_test_logging();
        let application = api::Application::build(settings).await.expect("the service starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let pools = application.database().clone();
        tokio::spawn(application.run_until_stopped());
        // The server closes a keep-alive connection idle for 5 s (actix-web's default); a client
        // that reuses one at that moment sees it closed under its request. A suite that loads
        // two cores waits that long between two requests of one test at times, so the client
        // lets idle connections go first.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .expect("client");
        Self { address, client, pools, _database: db }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// The service's own database, when the test made one.
    pub fn database(&self) -> Option<&TestDatabase> {
        self._database.as_ref()
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A new user nobody else in the database has, with a valid token.
    pub fn new_user(&self) -> TestUser {
        let id = format!("user-{}", uuid::Uuid::now_v7().simple());
        TestUser { token: token_for(&id, &[]) }
    }

    /// A request of `method` to `path` as `user`.
    pub fn request(&self, method: reqwest::Method, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&user.token)
    }

    /// Creates a task for `user` from `body`, asserting 201, and returns its JSON.
    pub async fn create_task(&self, user: &TestUser, body: serde_json::Value) -> serde_json::Value {
        let response =
            self.request(reqwest::Method::POST, "/api/v1/tasks", user).json(&body).send().await.expect("request");
        let status = response.status();
        let json: serde_json::Value = response.json().await.expect("json");
        assert_eq!(status, 201, "creating {body} answered {json}");
        json
    }
}

/// A user of the service.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub token: String,
}

/// A valid token for `sub` signed with [`JWT_SECRET`], valid for an hour.
pub fn token_for(sub: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    api::auth::TokenKeys::new(JWT_SECRET.as_bytes()).issue(sub, &roles, Duration::from_secs(3600))
}

/// The `api` binary running as a separate process, as an operator starts it.
#[derive(Debug)]
pub struct RunningBinary {
    child: std::process::Child,
    log: Option<std::thread::JoinHandle<String>>,
    pub port: u16,
    /// The development token the service printed at start-up, if it printed one.
    pub printed_token: Option<String>,
}

impl RunningBinary {
    /// Starts `api` with only `vars` in its environment (plus PATH) and `LOG_FORMAT=json`,
    /// and waits until it reports the port it listens on.
    pub fn start(vars: &[(&str, &str)], dir: &std::path::Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_api"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_PORT", "0")
            .env("LOG_FORMAT", "json")
            .envs(vars.iter().copied())
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("spawn api");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut token = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(t) = line.trim().strip_prefix("export TOKEN=") {
                    token = Some(t.to_owned());
                }
                if let Some(rest) = line.split("\"address\":\"127.0.0.1:").nth(1) {
                    let port = rest.split('"').next().unwrap_or_default().parse::<u16>().unwrap_or(0);
                    let _ = tx.send((port, token.clone()));
                }
                lines.push(line);
            }
            lines.join("\n")
        });
        let Ok((port, printed_token)) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let log = log.join().unwrap_or_default();
            panic!("the service did not report a port:\n{log}");
        };
        Self { child, log: Some(log), port, printed_token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends SIGTERM, waits for the exit and returns whether it was clean, with the log.
    pub fn stop(self) -> (bool, String) {
        self.signal("TERM");
        self.wait()
    }

    /// Sends the signal (`TERM`, `INT`, `KILL`) without waiting.
    pub fn signal(&self, name: &str) {
        let _ = std::process::Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
    }

    /// Waits for the exit; returns whether it was clean, with the log.
    pub fn wait(mut self) -> (bool, String) {
        let status = self.child.wait().expect("wait for api");
        let log = self.log.take().map(|l| l.join().unwrap_or_default()).unwrap_or_default();
        (status.success(), log)
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        if self.log.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The statement count the service reported in `Server-Timing` for this response.
pub fn statements(response: &reqwest::Response) -> u64 {
    let header = response.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or_default();
    header
        .split("statements=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no statement count in Server-Timing: {header:?}"))
}

/// Sends `request` as a well-behaved client does: a `429` is waited out for its `Retry-After`
/// seconds and sent again (up to ten times), so a test that makes more requests than a user's
/// burst still runs with the shipped rate limits. Any other answer is returned as it is.
pub async fn send_waiting_out_429(request: reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..10 {
        let attempt = request.try_clone().expect("a request without a streaming body");
        let response = attempt.send().await.expect("request");
        if response.status() != 429 {
            return response;
        }
        tokio::time::sleep(Duration::from_secs(retry_after(&response))).await;
    }
    panic!("still rate limited after ten waits");
}

/// The `Retry-After` seconds of a response, which must carry one.
pub fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or_else(|| panic!("a {} without a Retry-After in seconds", response.status()))
}

// ---------------------------------------------------------------------------------------------
// Requests and replies, shared by every suite
// ---------------------------------------------------------------------------------------------

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A response read whole: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body without `request_id`, which differs from request to request.
    pub fn body_without_request_id(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove("request_id");
        }
        body
    }

    /// The status and the body, for tests that look at nothing else.
    pub fn parts(self) -> (u16, Value) {
        (self.status, self.body)
    }

    /// The body of a success (2xx), read as `T`; any other answer fails the test.
    pub fn good<T: serde::de::DeserializeOwned>(self) -> T {
        assert!((200..300).contains(&self.status), "expected a success, got {} {}", self.status, self.body);
        serde_json::from_value(self.body).expect("the body has the expected shape")
    }
}

/// Sends `request` and reads the whole reply.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
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

impl TestApp {
    /// `method path` as `user`, with `body` as JSON when there is one: the whole reply.
    pub async fn call(&self, method: reqwest::Method, path: &str, user: &TestUser, body: Option<Value>) -> Reply {
        let mut request = self.request(method, path, user);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn get_as(&self, user: &TestUser, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, user, None).await
    }

    pub async fn post_as(&self, user: &TestUser, path: &str, body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, user, Some(body)).await
    }

    pub async fn patch_as(&self, user: &TestUser, path: &str, body: Value) -> Reply {
        self.call(reqwest::Method::PATCH, path, user, Some(body)).await
    }

    pub async fn delete_as(&self, user: &TestUser, path: &str) -> Reply {
        self.call(reqwest::Method::DELETE, path, user, None).await
    }
}

/// Asserts that `reply` is an RFC 9457 problem with this status and code, whose
/// `request_id` is the response's `X-Request-Id`.
pub fn assert_problem(reply: &Reply, status: u16, code: &str) {
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
pub fn field_errors(reply: &Reply) -> Vec<(String, String)> {
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
pub fn assert_invalid(reply: &Reply, expected: &[(&str, &str)]) {
    assert_problem(reply, 422, "validation_failed");
    let mut expected: Vec<(String, String)> =
        expected.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
    expected.sort();
    assert_eq!(field_errors(reply), expected, "{}", reply.body);
}
