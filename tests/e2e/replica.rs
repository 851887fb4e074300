//! A read replica (`DATABASE_URL_READ`): reads go to it, and still every client reads its own
//! acknowledged writes, whichever instance answers. These run when the suite has a replica
//! (`TEST_DATABASE_URL_READ`: the local stack's standby); the rest of the suite then runs with
//! it too. Two run alone, one at a time (`scripts/test`): the fault test, which stops the
//! standby under load, and the count of the reads the replica takes, which needs the process's
//! counters and the stack to itself.

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser, settings_for, skip};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The `db_reads_total` counter for `target`, summed over what the process recorded so far.
async fn reads(app: &TestApp, target: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let prefix = format!("db_reads_total{{target=\"{target}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Two instances of the service on one database (and its replica), as behind a load balancer.
async fn two_instances() -> (TestApp, TestApp) {
    let db = TestDatabase::migrated().await;
    let second = TestApp::start(settings_for(&db, &[]), None).await;
    let first = TestApp::start(settings_for(&db, &[]), Some(db)).await;
    (first, second)
}

async fn json(response: reqwest::Response, expected: u16, what: &str) -> Value {
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    assert_eq!(status, expected, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Creates a task on `writer` and reads it back at once on `reader`; returns its id.
async fn create_then_read(writer: &TestApp, reader: &TestApp, user: &TestUser, title: &str) -> String {
    let created = json(
        writer
            .request(Method::POST, "/api/v1/tasks", user)
            .json(&json!({"title": title}))
            .send()
            .await
            .expect("create"),
        201,
        "create",
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let read = json(
        reader.request(Method::GET, &format!("/api/v1/tasks/{id}"), user).send().await.expect("get"),
        200,
        "read a task just created, on the other instance",
    )
    .await;
    assert_eq!(read["title"], title);
    id
}

/// Reads of the load that may go to the replica: per round a task by id, the first page and the
/// newest message, and each user's stats at the end.
const LOAD_READS: u64 = 20 * 100 * 3 + 20;

/// 20 users at once, 100 rounds each: write on one instance, read it back at once on the other
/// ([`LOAD_READS`] reads that may go to the replica). Each user stays under the shipped rate
/// limit.
/// Panics on the first read that misses a write acknowledged before it.
async fn read_your_writes_under_load(a: &TestApp, b: &TestApp) {
    let users: Vec<TestUser> = (0..20).map(|_| a.new_user()).collect();
    let rounds = users.iter().enumerate().map(|(u, user)| async move {
        let conversation = json(
            a.request(Method::POST, "/api/v1/conversations", user)
                .json(&json!({"title": "ryw"}))
                .send()
                .await
                .expect("create"),
            201,
            "create a conversation",
        )
        .await;
        let conversation = conversation["id"].as_str().expect("id").to_owned();
        for round in 0..100 {
            let (writer, reader) = if (u + round) % 2 == 0 { (a, b) } else { (b, a) };
            let title = format!("user {u} round {round}");
            let id = create_then_read(writer, reader, user, &title).await;
            let patched = json(
                reader
                    .request(Method::PATCH, &format!("/api/v1/tasks/{id}"), user)
                    .json(&json!({"status": "completed"}))
                    .send()
                    .await
                    .expect("patch"),
                200,
                "patch",
            )
            .await;
            let page = json(
                writer.request(Method::GET, "/api/v1/tasks?limit=1", user).send().await.expect("list"),
                200,
                "list",
            )
            .await;
            assert_eq!(page["items"][0]["version"], patched["version"], "the newest version is listed");
            let message = json(
                writer
                    .request(Method::POST, &format!("/api/v1/conversations/{conversation}/messages"), user)
                    .json(&json!({"role": "user", "content": title}))
                    .send()
                    .await
                    .expect("append"),
                201,
                "append",
            )
            .await;
            let messages = json(
                reader
                    .request(
                        Method::GET,
                        &format!("/api/v1/conversations/{conversation}/messages?order=desc&limit=1"),
                        user,
                    )
                    .send()
                    .await
                    .expect("messages"),
                200,
                "messages",
            )
            .await;
            assert_eq!(messages["items"][0]["id"], message["id"], "the message just appended is read back");
        }
        let stats =
            json(a.request(Method::GET, "/api/v1/tasks/stats", user).send().await.expect("stats"), 200, "stats").await;
        assert_eq!(stats["total"], 100);
    });
    futures::future::join_all(rounds).await;
}

/// The reads that could go to the replica, as (served there, served by the primary), counted
/// over the process so far.
async fn routed(app: &TestApp) -> (u64, u64) {
    (reads(app, "replica").await, reads(app, "primary").await)
}

/// The load of [`read_your_writes_under_load`], and how its reads were routed.
async fn routed_under_load(a: &TestApp, b: &TestApp) -> (u64, u64) {
    let before = routed(a).await;
    read_your_writes_under_load(a, b).await;
    let after = routed(a).await;
    (after.0 - before.0, after.1 - before.1)
}

#[tokio::test]
async fn with_a_replica_every_client_reads_its_own_writes_through_either_instance() {
    if !Backend::from_env().has_replica() {
        return skip("needs TEST_DATABASE_URL_READ");
    }
    let (a, b) = two_instances().await;
    // How many of the reads the replica takes depends on its lag, and here the rest of the
    // suite drives that (the standby replays every other test's writes too), while the
    // counters are the process's, shared with the tests alongside. The share is asserted where
    // this load runs alone: `a_replica_that_keeps_up_serves_most_reads`.
    let (replica, primary) = routed_under_load(&a, &b).await;
    eprintln!("read your writes under load: {replica} reads on the replica, {primary} on the primary (whole process)");
    let health: Value = a.get("/health/db").await.json().await.expect("health");
    assert!(health["replica"]["state"].is_string(), "{health}");
    assert!(health["pools"].as_array().expect("pools").iter().any(|p| p["name"] == "read"), "{health}");
}

#[tokio::test]
#[ignore = "counts the reads the replica serves, which needs the process and the stack to itself; scripts/test runs it alone"]
async fn a_replica_that_keeps_up_serves_most_reads() {
    if !Backend::from_env().has_replica() {
        return skip("needs TEST_DATABASE_URL_READ");
    }
    let (a, b) = two_instances().await;
    // A replica that keeps up: the one this run's earlier steps left may still be replaying
    // their writes, so first wait until both instances have seen it caught up.
    let user = a.new_user();
    let caught_up = Instant::now();
    for app in [&a, &b] {
        loop {
            app.create_task(&user, json!({"title": "is the replica caught up?"})).await;
            let health: Value = app.get("/health/db").await.json().await.expect("health");
            if health["replica"]["state"] == "serving" {
                break;
            }
            assert!(caught_up.elapsed() < Duration::from_secs(60), "the replica never caught up: {health}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (replica, primary) = routed_under_load(&a, &b).await;
    let health: Value = a.get("/health/db").await.json().await.expect("health");
    eprintln!("alone: {replica} reads on the replica, {primary} on the primary; {}", health["replica"]);
    assert_eq!(replica + primary, LOAD_READS, "each read of the load was counted once, and nothing else ran");
    // Reads leave the replica only while no fact younger than DB_REPLICA_WAIT is at hand; alone
    // on this stack it took 99.8 % (6,010).
    assert!(replica * 10 >= LOAD_READS * 9, "the replica served only {replica} of the {LOAD_READS} reads: {health}");
}

#[tokio::test]
#[ignore = "stops the shared local stack's standby; scripts/test runs it alone"]
async fn stopping_the_replica_under_load_fails_no_read_and_reads_return_to_it() {
    let script = std::env::var("TEST_FAULTS").ok().filter(|s| !s.is_empty());
    let (Some(script), true) = (script, Backend::from_env().has_replica()) else {
        return skip("needs TEST_FAULTS and TEST_DATABASE_URL_READ");
    };
    let inject = |fault: &str| {
        let output = std::process::Command::new(&script).arg(fault).output().expect("run the fault script");
        assert!(output.status.success(), "{fault} failed: {}", String::from_utf8_lossy(&output.stderr));
    };
    let (a, b) = two_instances().await;
    let users: Vec<TestUser> = (0..8).map(|_| a.new_user()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = users.iter().enumerate().map(|(u, user)| {
        let (a, b, stop) = (&a, &b, stop.clone());
        async move {
            let mut done = 0_u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (writer, reader) = if done.is_multiple_of(2) { (a, b) } else { (b, a) };
                create_then_read(writer, reader, user, &format!("user {u} task {done}")).await;
                json(reader.request(Method::GET, "/api/v1/tasks", user).send().await.expect("list"), 200, "list").await;
                done += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        }
    });
    let load = futures::future::join_all(clients);
    let faults = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = (reads(&a, "replica").await, reads(&a, "primary").await);
        inject("standby-stop");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let health: Value = a.get("/health/db").await.json().await.expect("health");
        assert_ne!(health["replica"]["state"], "serving", "{health}");
        assert_eq!(health["status"], "healthy", "the primary is fine: {health}");
        let during = (reads(&a, "replica").await, reads(&a, "primary").await);
        assert!(during.1 > before.1, "reads went to the primary while the replica was away");
        inject("standby-start");
        // Back to the replica within a few seconds of its return.
        let back = Instant::now();
        loop {
            let health: Value = a.get("/health/db").await.json().await.expect("health");
            if health["replica"]["state"] == "serving" {
                break;
            }
            assert!(back.elapsed() < Duration::from_secs(15), "the replica never served again: {health}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let returned = reads(&a, "replica").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(reads(&a, "replica").await > returned, "reads went back to the replica");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!("replica stop: back to serving {:?} after it returned", back.elapsed());
    };
    let (done, ()) = tokio::join!(load, faults);
    let total: u32 = done.iter().sum();
    eprintln!("replica stop: {total} create-then-read rounds, none failed");
    assert!(total > 50, "the load made only {total} rounds");
}

#[tokio::test]
async fn a_read_url_that_is_not_a_replica_keeps_every_read_on_the_primary() {
    if !Backend::from_env().is_postgres() {
        return skip("DATABASE_URL_READ is PostgreSQL's");
    }
    // A misconfiguration: the primary itself as the replica. It replays nothing, so it can
    // never be proven to hold a write: reads stay on the primary and nothing is stale.
    let db = TestDatabase::migrated().await;
    let primary = db.url.expose().to_owned();
    let app = TestApp::start(settings_for(&db, &[("DATABASE_URL_READ", &primary)]), Some(db)).await;
    let user = app.new_user();
    let task = app.create_task(&user, json!({"title": "on the primary"})).await;
    let read = json(
        app.request(Method::GET, &format!("/api/v1/tasks/{}", task["id"].as_str().expect("id")), &user)
            .send()
            .await
            .expect("get"),
        200,
        "read",
    )
    .await;
    assert_eq!(read["title"], "on the primary");
    let health: Value = app.get("/health/db").await.json().await.expect("health");
    assert_eq!(health["replica"]["state"], "unreachable", "{health}");
}
