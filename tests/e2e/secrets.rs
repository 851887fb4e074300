use crate::helpers::{Backend, RunningBinary, TestDatabase};
use std::process::Command;

const PASSWORD: &str = "never-log-this-pw-5f3a";
const JWT: &str = "never-log-this-jwt-secret-9c1d-0123456789";

fn api() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .env("JWT_SECRET", JWT)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn a_failed_start_up_prints_no_password() {
    let output = api()
        .env("APP_ENV", "development")
        .env("DATABASE_URL", format!("postgres://app:{PASSWORD}@127.0.0.1:1/db"))
        .env("DB_CONNECT_TIMEOUT", "1")
        .env("DB_ACQUIRE_TIMEOUT", "1")
        .output()
        .expect("run api");
    assert!(!output.status.success(), "auto-migration against no database must fail");
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(all.contains("app:***@127.0.0.1:1"), "the redacted URL is shown: {all}");
    assert!(!all.contains(PASSWORD) && !all.contains(JWT), "a secret leaked:\n{all}");
}

#[test]
fn a_bad_setting_is_reported_by_name_without_its_secret_value() {
    let output = api().env("DATABASE_URL", format!("mysql://app:{PASSWORD}@db/x")).output().expect("run api");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL has scheme `mysql`"), "{stderr}");
    assert!(!stderr.contains(PASSWORD));
}

#[tokio::test]
async fn serving_with_trace_logging_prints_no_secret() {
    let Backend::Postgres { .. } = Backend::from_env() else {
        return crate::helpers::skip("needs a database with a password");
    };
    let db = TestDatabase::migrated().await;
    // The real test database, logged in with a password the log must not show.
    let direct = db.url.expose().to_owned();
    let password = url::Url::parse(&direct).expect("url").password().unwrap_or_default().to_owned();
    assert!(!password.is_empty(), "the test database URL carries a password");
    let mut vars =
        vec![("APP_ENV", "test"), ("RUST_LOG", "trace"), ("JWT_SECRET", JWT), ("DATABASE_URL", direct.as_str())];
    if let Some(pooled) = &db.pooled {
        vars.push(("DATABASE_URL_POOLED", pooled.expose()));
    }
    let service = RunningBinary::start(&vars, std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let response = reqwest::get(service.url("/health/live")).await.expect("request");
    assert_eq!(response.status(), 200);
    let (clean, log) = service.stop();
    assert!(clean, "graceful exit on SIGTERM:\n{log}");
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains(&password), "the database password leaked:\n{log}");
    assert!(!log.contains(JWT), "the JWT secret leaked:\n{log}");
}
