//! How many round trips each request makes to the database, as the service counts them in
//! `Server-Timing` (every SQL statement, transaction control included). The hot path of a
//! read is one round trip: no `BEGIN`/`SET`/`COMMIT` around a single SELECT, no existence
//! check before it.

use crate::helpers::{TestApp, statements};
use reqwest::Method;
use serde_json::{Value, json};

async fn count(request: reqwest::RequestBuilder, expected_status: u16) -> (u64, Value) {
    let response = request.send().await.expect("request");
    assert_eq!(response.status().as_u16(), expected_status);
    let n = statements(&response);
    let body = if expected_status == 204 { Value::Null } else { response.json().await.expect("json") };
    (n, body)
}

#[tokio::test]
async fn reads_are_one_round_trip_and_writes_a_known_few() {
    if crate::helpers::Backend::from_env().has_replica() {
        // A write's tally then includes the polls for the replica's replay position, whose
        // number depends on the replica's lag (see `replica.rs`).
        return crate::helpers::skip("with a read replica, writes wait for it in a varying number of statements");
    }
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let post = |path: &str, body: Value| app.request(Method::POST, path, &alice).json(&body);
    let get = |path: &str| app.request(Method::GET, path, &alice);

    let (n, task) = count(post("/api/v1/tasks", json!({"title": "counted"})), 201).await;
    assert_eq!(n, 1, "a create is one INSERT, no transaction");
    let id = task["id"].as_str().expect("id").to_owned();

    let (n, _) =
        count(post("/api/v1/tasks", json!({"title": "keyed"})).header("idempotency-key", "count-me"), 201).await;
    assert_eq!(n, 4, "an idempotent create: BEGIN, the key, the task, COMMIT");

    let (n, _) = count(get(&format!("/api/v1/tasks/{id}")), 200).await;
    assert_eq!(n, 1, "a read by id is one SELECT");
    let (n, page) = count(get("/api/v1/tasks?limit=1"), 200).await;
    assert_eq!(n, 1, "a list page is one SELECT");
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let (n, _) = count(get(&format!("/api/v1/tasks?limit=1&cursor={cursor}")), 200).await;
    assert_eq!(n, 1, "a page after a cursor is one SELECT");
    let (n, _) = count(get("/api/v1/tasks/stats"), 200).await;
    assert_eq!(n, 1, "stats are one GROUP BY");

    let (n, _) = count(
        app.request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice).json(&json!({"priority": "high"})),
        200,
    )
    .await;
    assert_eq!(n, 2, "a patch reads, then compares-and-sets in one UPDATE");
    let (n, _) = count(
        app.request(Method::PATCH, &format!("/api/v1/tasks/{id}"), &alice).json(&json!({"priority": "high"})),
        200,
    )
    .await;
    assert_eq!(n, 1, "a patch that changes nothing writes nothing");

    let (n, conversation) = count(post("/api/v1/conversations", json!({"title": "chat"})), 201).await;
    assert_eq!(n, 1);
    let cid = conversation["id"].as_str().expect("id").to_owned();
    let (n, _) =
        count(post(&format!("/api/v1/conversations/{cid}/messages"), json!({"role": "user", "content": "hi"})), 201)
            .await;
    let expected = if crate::helpers::Backend::from_env().is_postgres() { 1 } else { 5 };
    assert_eq!(n, expected, "an append: one statement on PostgreSQL; a transaction on SQLite");
    let (n, _) = count(get(&format!("/api/v1/conversations/{cid}")), 200).await;
    assert_eq!(n, 1);
    let (n, _) = count(get("/api/v1/conversations"), 200).await;
    assert_eq!(n, 1);
    let (n, _) = count(get(&format!("/api/v1/conversations/{cid}/messages")), 200).await;
    assert_eq!(n, 1, "a page of messages is one SELECT that also checks ownership");

    let (n, _) = count(app.client.get(app.url("/health/live")), 200).await;
    assert_eq!(n, 0, "liveness never touches the database");
}

/// A read is a prepared statement that each database session parses once and then only
/// executes: after a hundred GETs by id, the session they ran on holds that SELECT once, run a
/// hundred times (PostgreSQL's own `pg_prepared_statements`). Through the pooler, the session
/// is PgBouncer's server connection, with PgBouncer's name for the statement: it prepares a
/// client's statement once per server connection (`max_prepared_statements`) and, with one
/// client doing one thing at a time, hands it the same server connection each time (LIFO).
#[tokio::test]
async fn reads_reuse_one_prepared_statement_per_session() {
    use sea_orm::ConnectionTrait;
    if !crate::helpers::Backend::from_env().is_postgres() {
        return crate::helpers::skip("pg_prepared_statements is PostgreSQL's");
    }
    if crate::helpers::Backend::from_env().has_replica() {
        return crate::helpers::skip("with a read replica the reads run on the replica's sessions");
    }
    let db = crate::helpers::TestDatabase::migrated().await;
    // One worker with one connection: every request runs on the same session.
    let settings = crate::helpers::settings_for(&db, &[("APP_WORKERS", "1"), ("DB_POOL_MAX", "1")]);
    let app = TestApp::start(settings, Some(db)).await;
    let alice = app.new_user();
    let task = app.create_task(&alice, json!({"title": "read me often"})).await;
    let path = format!("/api/v1/tasks/{}", task["id"].as_str().expect("id"));
    const READS: i64 = 100;
    for _ in 0..READS {
        let (n, _) = count(app.request(Method::GET, &path, &alice), 200).await;
        assert_eq!(n, 1);
    }

    // On the same session as the reads: the service's only connection.
    let rows = app
        .pools
        .traffic()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            r#"SELECT name, generic_plans + custom_plans AS runs FROM pg_prepared_statements
               WHERE statement LIKE '%FROM "tasks" WHERE "tasks"."id" = $1 AND "tasks"."user_id" = $2%'
                 AND statement NOT LIKE '%pg_prepared_statements%'"#,
        ))
        .await
        .expect("pg_prepared_statements");
    let found: Vec<(String, i64)> = rows
        .iter()
        .map(|row| (row.try_get::<String>("", "name").expect("name"), row.try_get::<i64>("", "runs").expect("runs")))
        .collect();
    assert_eq!(found.len(), 1, "the SELECT by id is prepared once on the session, not per request: {found:?}");
    assert!(found[0].1 >= READS, "and executed for every read: {found:?}");
}
