//! `GET /api/v1/tasks` and `GET /api/v1/tasks/stats` as API.md describes them: every filter,
//! every sort order, limits, opaque cursors, keyset paging while rows are inserted, isolation
//! between users and, on PostgreSQL, the plans of the list queries at a realistic size.

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser, send_waiting_out_429, skip};
use crate::tasks::{created_batch, must_delete, patched, stats};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::task;
use reqwest::Method;
use sea_orm::sea_query::{Expr, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use uuid::Uuid;

const SORTS: [&str; 8] =
    ["created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date", "priority", "-priority"];
const PAGE_SIZES: [usize; 5] = [1, 2, 3, 7, 100];
const PAST: &str = "2020-01-01T00:00:00Z";
const FUTURE: &str = "2099-01-01T00:00:00Z";
/// More pages than any walk here needs: a cursor that does not advance fails instead of hanging.
const MAX_PAGES: usize = 400;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `value` percent-encoded for a query string (`+` in an offset must not become a space).
fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn id_of(task: &Value) -> &str {
    task["id"].as_str().expect("every task has an id")
}

fn ids(tasks: &[Value]) -> Vec<String> {
    tasks.iter().map(|t| id_of(t).to_owned()).collect()
}

fn title_of(task: &Value) -> &str {
    task["title"].as_str().expect("every task has a title")
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut titles: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
    titles.sort();
    titles
}

/// `GET /api/v1/tasks?{query}`: the status, the content type and the body (JSON when it
/// parses, else the text as a JSON string). Walking every sort page by page is more than a
/// user's burst, so this waits out a 429 as the README tells clients to.
async fn get_list(app: &TestApp, user: &TestUser, query: &str) -> (u16, String, Value) {
    let response = send_waiting_out_429(app.request(Method::GET, &format!("/api/v1/tasks?{query}"), user)).await;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.expect("list body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

/// One page of `query`, asserting 200.
async fn page(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let (status, _, body) = get_list(app, user, query).await;
    assert_eq!(status, 200, "?{query} answered {body}");
    assert!(body["items"].is_array(), "?{query} answered {body}");
    body
}

fn items(page: &Value) -> &[Value] {
    page["items"].as_array().expect("a page has items")
}

/// The sorted titles of everything `query` lists (on one page of 100).
async fn titles(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let query = if query.is_empty() { "limit=100".to_owned() } else { format!("{query}&limit=100") };
    let page = page(app, user, &query).await;
    assert!(page["next_cursor"].is_null(), "?{query} fits on one page: {page}");
    let mut titles: Vec<String> = items(&page).iter().map(|t| title_of(t).to_owned()).collect();
    titles.sort();
    titles
}

/// Every page of `query` (which names the limit), following `next_cursor` to the end.
async fn walk(app: &TestApp, user: &TestUser, query: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut path = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", enc(c)));
        }
        let page = page(app, user, &path).await;
        let got = items(&page);
        assert!(got.len() <= limit, "?{path} returned {} items", got.len());
        all.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert!(!got.is_empty(), "?{path}: an empty page with a next_cursor");
                cursor = Some(next.to_owned());
            }
            None => {
                assert!(page["next_cursor"].is_null(), "next_cursor is a string or null: {page}");
                return all;
            }
        }
    }
    panic!("?{query} with limit={limit}: no last page after {MAX_PAGES} pages; the cursor does not advance");
}

/// Where `a` stands relative to `b` in `sort` order as API.md defines it: by the key, null
/// due dates last in both directions, ties broken by id in the same direction.
fn compare(sort: &str, a: &Value, b: &Value) -> Ordering {
    let (field, descending) = match sort.strip_prefix('-') {
        Some(field) => (field, true),
        None => (sort, false),
    };
    // Timestamps come back in one fixed-width UTC format, so text order is time order.
    let key = |t: &Value| -> Option<String> {
        match field {
            "priority" => Some(
                match t["priority"].as_str() {
                    Some("low") => "1",
                    Some("medium") => "2",
                    Some("high") => "3",
                    other => panic!("unknown priority {other:?}"),
                }
                .to_owned(),
            ),
            _ => t[field].as_str().map(str::to_owned),
        }
    };
    let by_key = match (key(a), key(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    };
    let order = by_key.then_with(|| id_of(a).cmp(id_of(b)));
    if descending { order.reverse() } else { order }
}

fn expected_order(sort: &str, tasks: &[Value]) -> Vec<String> {
    let mut tasks = tasks.to_vec();
    tasks.sort_by(|a, b| compare(sort, a, b));
    ids(&tasks)
}

/// Asserts a 400 problem+json `bad_request` whose `errors` name `field`.
async fn assert_bad_request(app: &TestApp, user: &TestUser, query: &str, field: &str) {
    let (status, content_type, body) = get_list(app, user, query).await;
    assert_eq!(status, 400, "?{query} answered {status} {body}");
    assert!(content_type.starts_with("application/problem+json"), "?{query}: content type {content_type}");
    assert_eq!(body["code"], "bad_request", "?{query}: {body}");
    assert_eq!(body["status"], 400, "?{query}: {body}");
    let fields: Vec<&str> =
        body["errors"].as_array().map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect()).unwrap_or_default();
    assert!(fields.contains(&field), "?{query}: the errors should name {field}: {body}");
}

fn forged(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

// ---------------------------------------------------------------------------------------------
// Limits and parameters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_default_page_holds_the_newest_twenty_tasks_and_a_cursor_to_the_rest() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let created =
        created_batch(&app, &alice, (0..25).map(|i| json!({"title": format!("task {i:02}")})).collect::<Vec<_>>())
            .await;
    let expected = expected_order("-created_at", &created);

    let first = page(&app, &alice, "").await;
    assert_eq!(ids(items(&first)), expected[..20], "the default sort is -created_at, the default limit 20");
    let cursor = first["next_cursor"].as_str().expect("a cursor to the rest");
    assert!(!cursor.is_empty());

    let second = page(&app, &alice, &format!("cursor={}", enc(cursor))).await;
    assert_eq!(ids(items(&second)), expected[20..]);
    assert_eq!(second["next_cursor"], Value::Null, "the last page has no cursor");
}

#[tokio::test]
async fn limit_accepts_every_value_from_one_to_one_hundred() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let created =
        created_batch(&app, &alice, (0..101).map(|i| json!({"title": format!("task {i:03}")})).collect::<Vec<_>>())
            .await;
    let expected = expected_order("-created_at", &created);

    let one = page(&app, &alice, "limit=1").await;
    assert_eq!(ids(items(&one)), expected[..1]);
    assert!(one["next_cursor"].is_string());

    let hundred = page(&app, &alice, "limit=100").await;
    assert_eq!(ids(items(&hundred)), expected[..100]);
    let cursor = hundred["next_cursor"].as_str().expect("a 101st task follows");
    let rest = page(&app, &alice, &format!("limit=100&cursor={}", enc(cursor))).await;
    assert_eq!(ids(items(&rest)), expected[100..]);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_last_page_that_is_exactly_full_has_a_null_next_cursor() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    created_batch(&app, &alice, (0..6).map(|i| json!({"title": format!("task {i}")})).collect::<Vec<_>>()).await;
    for sort in SORTS {
        let full = page(&app, &alice, &format!("sort={sort}&limit=6")).await;
        assert_eq!(items(&full).len(), 6);
        assert_eq!(full["next_cursor"], Value::Null, "sort={sort}: nothing follows the sixth of six");
        let first = page(&app, &alice, &format!("sort={sort}&limit=3")).await;
        let cursor = first["next_cursor"].as_str().expect("a second page");
        let last = page(&app, &alice, &format!("sort={sort}&limit=3&cursor={}", enc(cursor))).await;
        assert_eq!(items(&last).len(), 3);
        assert_eq!(last["next_cursor"], Value::Null, "sort={sort}: the second of two full pages is the last");
    }
    let nobody = app.new_user();
    let empty = page(&app, &nobody, "").await;
    assert_eq!((items(&empty).len(), &empty["next_cursor"]), (0, &Value::Null));
}

#[tokio::test]
async fn limits_outside_one_to_one_hundred_are_bad_requests() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "one"})).await;
    for limit in ["0", "101", "abc", "-1", "1.5", "", "1e2", "99999999999999999999999"] {
        assert_bad_request(&app, &alice, &format!("limit={}", enc(limit)), "limit").await;
    }
}

#[tokio::test]
async fn unknown_parameters_and_bad_values_are_bad_requests() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "one"})).await;
    let cases = [
        ("stauts=pending", "stauts"),
        ("page=2", "page"),
        ("sort=title", "sort"),
        ("sort=-title", "sort"),
        ("sort=--created_at", "sort"),
        ("sort=created", "sort"),
        ("sort=", "sort"),
        ("status=done", "status"),
        ("status=pending&status=done", "status"),
        ("priority=urgent", "priority"),
        ("priority=2", "priority"),
        ("overdue=yes", "overdue"),
        ("include_deleted=1", "include_deleted"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2030-01-01", "due_after"),
        ("tag=", "tag"),
    ];
    for (query, field) in cases {
        assert_bad_request(&app, &alice, query, field).await;
    }
    let long_tag = "t".repeat(33);
    assert_bad_request(&app, &alice, &format!("tag={long_tag}"), "tag").await;
    // Every problem of one query string is reported, not only the first.
    let (status, _, body) = get_list(&app, &alice, "limit=0&sort=title&stauts=x").await;
    assert_eq!(status, 400);
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    for field in ["limit", "sort", "stauts"] {
        assert!(fields.contains(&field), "{field} is reported: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn status_filters_by_one_or_several_statuses() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, status) in
        [("p1", "pending"), ("p2", "pending"), ("i1", "in_progress"), ("c1", "completed"), ("c2", "completed")]
    {
        app.create_task(&alice, json!({"title": title, "status": status})).await;
    }
    assert_eq!(titles(&app, &alice, "status=pending").await, sorted(&["p1", "p2"]));
    assert_eq!(titles(&app, &alice, "status=in_progress").await, sorted(&["i1"]));
    assert_eq!(titles(&app, &alice, "status=completed").await, sorted(&["c1", "c2"]));
    assert_eq!(titles(&app, &alice, "status=pending&status=completed").await, sorted(&["p1", "p2", "c1", "c2"]));
    assert_eq!(
        titles(&app, &alice, "status=in_progress&status=completed&status=pending").await,
        sorted(&["p1", "p2", "i1", "c1", "c2"])
    );
    assert_eq!(titles(&app, &alice, "").await, sorted(&["p1", "p2", "i1", "c1", "c2"]));
}

#[tokio::test]
async fn priority_filters_by_one_priority() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, priority) in [("l1", "low"), ("m1", "medium"), ("m2", "medium"), ("h1", "high")] {
        app.create_task(&alice, json!({"title": title, "priority": priority})).await;
    }
    app.create_task(&alice, json!({"title": "m-default"})).await;
    assert_eq!(titles(&app, &alice, "priority=low").await, sorted(&["l1"]));
    assert_eq!(titles(&app, &alice, "priority=medium").await, sorted(&["m1", "m2", "m-default"]));
    assert_eq!(titles(&app, &alice, "priority=high").await, sorted(&["h1"]));
}

#[tokio::test]
async fn tag_filters_ignore_case_and_match_whole_tags() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "both", "tags": ["Home", "Work"]})).await;
    app.create_task(&alice, json!({"title": "home", "tags": ["HOME"]})).await;
    app.create_task(&alice, json!({"title": "homework", "tags": ["homework"]})).await;
    app.create_task(&alice, json!({"title": "garden", "tags": ["garden"]})).await;
    app.create_task(&alice, json!({"title": "umlaut", "tags": ["Ärger"]})).await;
    app.create_task(&alice, json!({"title": "untagged"})).await;
    for tag in ["home", "HOME", "Home", "hOmE"] {
        assert_eq!(titles(&app, &alice, &format!("tag={tag}")).await, sorted(&["both", "home"]), "tag={tag}");
    }
    assert_eq!(titles(&app, &alice, "tag=WORK").await, sorted(&["both"]));
    assert_eq!(titles(&app, &alice, "tag=HomeWork").await, sorted(&["homework"]));
    assert_eq!(titles(&app, &alice, "tag=hom").await, Vec::<String>::new(), "a tag is matched whole");
    assert_eq!(titles(&app, &alice, "tag=ome").await, Vec::<String>::new(), "a tag is matched whole");
    assert_eq!(titles(&app, &alice, &format!("tag={}", enc("ÄRGER"))).await, sorted(&["umlaut"]));
    assert_eq!(titles(&app, &alice, "tag=nothing").await, Vec::<String>::new());
}

#[tokio::test]
async fn search_matches_a_substring_of_the_title_or_the_description_ignoring_case() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "Buy MILK"})).await;
    app.create_task(&alice, json!({"title": "Groceries", "description": "Oat Milk and bread"})).await;
    app.create_task(&alice, json!({"title": "milkshake recipe", "description": null})).await;
    app.create_task(&alice, json!({"title": "Bread", "description": "wholegrain"})).await;
    app.create_task(&alice, json!({"title": "Nothing here"})).await;
    for q in ["milk", "MILK", "Milk", "mIlK"] {
        assert_eq!(
            titles(&app, &alice, &format!("q={q}")).await,
            sorted(&["Buy MILK", "Groceries", "milkshake recipe"]),
            "q={q}"
        );
    }
    assert_eq!(titles(&app, &alice, &format!("q={}", enc("oat m"))).await, sorted(&["Groceries"]));
    assert_eq!(titles(&app, &alice, "q=BREAD").await, sorted(&["Groceries", "Bread"]));
    assert_eq!(titles(&app, &alice, "q=GRAIN").await, sorted(&["Bread"]), "the description is searched");
    assert_eq!(titles(&app, &alice, "q=xyz").await, Vec::<String>::new());
    assert_eq!(titles(&app, &alice, &format!("q={}", enc("milk bread"))).await, Vec::<String>::new(), "literal");
}

#[tokio::test]
async fn search_treats_percent_underscore_and_backslash_literally() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, description) in [
        ("Save 50% today", None),
        ("Order 500 screws", None),
        ("Coupon", Some("discount 50% off")),
        ("Coupon 5000", Some("discount 5000 off")),
        ("100% done", None),
        ("Move a_b.txt", None),
        ("Move axb.txt", None),
        ("Move ab.txt", None),
        (r"Path C:\temp", None),
        ("Path C:temp", None),
        ("Path C:/temp", None),
    ] {
        app.create_task(&alice, json!({"title": title, "description": description})).await;
    }
    let search = |q: &str| format!("q={}", enc(q));
    assert_eq!(titles(&app, &alice, &search("50%")).await, sorted(&["Save 50% today", "Coupon"]));
    assert_eq!(titles(&app, &alice, &search("%")).await, sorted(&["Save 50% today", "Coupon", "100% done"]));
    assert_eq!(titles(&app, &alice, &search("0% ")).await, sorted(&["Save 50% today", "Coupon", "100% done"]));
    assert_eq!(titles(&app, &alice, &search("a_b")).await, sorted(&["Move a_b.txt"]));
    assert_eq!(titles(&app, &alice, &search("_")).await, sorted(&["Move a_b.txt"]));
    assert_eq!(titles(&app, &alice, &search("A_B.TXT")).await, sorted(&["Move a_b.txt"]));
    assert_eq!(titles(&app, &alice, &search(r"C:\t")).await, sorted(&[r"Path C:\temp"]));
    assert_eq!(titles(&app, &alice, &search(r"\")).await, sorted(&[r"Path C:\temp"]));
    assert_eq!(titles(&app, &alice, &search(r"\%")).await, Vec::<String>::new());
    assert_eq!(titles(&app, &alice, &search("%_%")).await, Vec::<String>::new());
}

#[tokio::test]
async fn search_ignores_case_beyond_ascii() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    app.create_task(&alice, json!({"title": "ÄRGER mit Ämtern"})).await;
    app.create_task(&alice, json!({"title": "Sport", "description": "ÜBUNG macht den Meister"})).await;
    app.create_task(&alice, json!({"title": "ΣΟΦΙΑ"})).await;
    app.create_task(&alice, json!({"title": "plain"})).await;
    let search = |q: &str| format!("q={}", enc(q));
    assert_eq!(titles(&app, &alice, &search("ärger")).await, sorted(&["ÄRGER mit Ämtern"]));
    assert_eq!(titles(&app, &alice, &search("ämtern")).await, sorted(&["ÄRGER mit Ämtern"]));
    assert_eq!(titles(&app, &alice, &search("übung")).await, sorted(&["Sport"]));
    assert_eq!(titles(&app, &alice, &search("σοφ")).await, sorted(&["ΣΟΦΙΑ"]));
}

#[tokio::test]
async fn due_before_and_due_after_compare_instants_whatever_the_offset() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, due) in [
        ("09:00Z", json!("2030-01-01T09:00:00Z")),
        ("10:00Z", json!("2030-01-01T11:00:00+01:00")),
        ("10:30Z", json!("2030-01-01T12:30:00+02:00")),
        ("16:00Z", json!("2030-01-01T11:00:00-05:00")),
        ("next day", json!("2030-01-02T00:00:00Z")),
        ("undated", Value::Null),
    ] {
        app.create_task(&alice, json!({"title": title, "due_date": due})).await;
    }
    let at = |name: &str, instant: &str| format!("{name}={}", enc(instant));
    // 12:15+02:00 is 10:15Z: an offset-blind comparison would also take 16:00Z (11:00-05:00).
    assert_eq!(
        titles(&app, &alice, &at("due_before", "2030-01-01T12:15:00+02:00")).await,
        sorted(&["09:00Z", "10:00Z"])
    );
    assert_eq!(
        titles(&app, &alice, &at("due_after", "2030-01-01T05:15:00-05:00")).await,
        sorted(&["10:30Z", "16:00Z", "next day"])
    );
    assert_eq!(
        titles(&app, &alice, &at("due_after", "2030-01-01T09:30:00Z")).await,
        sorted(&["10:00Z", "10:30Z", "16:00Z", "next day"])
    );
    let window =
        format!("{}&{}", at("due_after", "2030-01-01T10:30:00+01:00"), at("due_before", "2030-01-01T11:00:00Z"));
    assert_eq!(titles(&app, &alice, &window).await, sorted(&["10:00Z", "10:30Z"]));
    assert_eq!(
        titles(&app, &alice, &at("due_before", "2031-01-01T00:00:00.000001Z")).await,
        sorted(&["09:00Z", "10:00Z", "10:30Z", "16:00Z", "next day"]),
        "tasks without a due date are neither before nor after anything"
    );
    assert_eq!(titles(&app, &alice, &at("due_after", "2000-01-01T00:00:00+14:00")).await.len(), 5);
    assert_eq!(titles(&app, &alice, &at("due_before", "2000-01-01T00:00:00Z")).await, Vec::<String>::new());
}

/// Tasks whose overdue-ness differs in every way the contract names.
async fn overdue_fixture(app: &TestApp, user: &TestUser) {
    for (title, status, due) in [
        ("past pending", "pending", json!(PAST)),
        ("past in progress", "in_progress", json!(PAST)),
        ("past completed", "completed", json!(PAST)),
        ("future pending", "pending", json!(FUTURE)),
        ("future completed", "completed", json!(FUTURE)),
        ("undated pending", "pending", Value::Null),
        ("undated completed", "completed", Value::Null),
    ] {
        app.create_task(user, json!({"title": title, "status": status, "due_date": due})).await;
    }
    let deleted = app.create_task(user, json!({"title": "past deleted", "due_date": PAST})).await;
    must_delete(app, user, id_of(&deleted)).await;
}

#[tokio::test]
async fn overdue_true_lists_past_due_tasks_that_are_neither_completed_nor_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    overdue_fixture(&app, &alice).await;
    assert_eq!(titles(&app, &alice, "overdue=true").await, sorted(&["past pending", "past in progress"]));
    assert_eq!(
        titles(&app, &alice, "overdue=true&include_deleted=true").await,
        sorted(&["past pending", "past in progress"]),
        "a deleted task is not overdue"
    );
    // A task whose due date has just passed is overdue at once.
    let just = (Utc::now() - chrono::Duration::seconds(2)).to_rfc3339();
    app.create_task(&alice, json!({"title": "just passed", "due_date": just})).await;
    assert_eq!(
        titles(&app, &alice, "overdue=true").await,
        sorted(&["past pending", "past in progress", "just passed"])
    );
}

#[tokio::test]
async fn overdue_false_lists_every_task_that_is_not_overdue_including_undated_ones() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    overdue_fixture(&app, &alice).await;
    assert_eq!(
        titles(&app, &alice, "overdue=false").await,
        sorted(&["past completed", "future pending", "future completed", "undated pending", "undated completed"])
    );
    let all = titles(&app, &alice, "").await;
    let mut split = titles(&app, &alice, "overdue=true").await;
    split.extend(titles(&app, &alice, "overdue=false").await);
    split.sort();
    assert_eq!(split, all, "overdue=true and overdue=false partition the list");
}

#[tokio::test]
async fn deleted_tasks_are_listed_only_with_include_deleted_true() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let kept = app.create_task(&alice, json!({"title": "kept"})).await;
    let gone = app.create_task(&alice, json!({"title": "gone", "priority": "high"})).await;
    must_delete(&app, &alice, id_of(&gone)).await;

    assert_eq!(titles(&app, &alice, "").await, sorted(&["kept"]));
    assert_eq!(titles(&app, &alice, "include_deleted=false").await, sorted(&["kept"]));
    let with_deleted = page(&app, &alice, "include_deleted=true").await;
    let by_title: HashMap<&str, &Value> = items(&with_deleted).iter().map(|t| (title_of(t), t)).collect();
    assert_eq!(by_title.len(), 2, "{with_deleted}");
    assert!(by_title["gone"]["deleted_at"].is_string(), "a deleted task shows when: {with_deleted}");
    assert_eq!(by_title["gone"]["id"], gone["id"]);
    assert_eq!(by_title["kept"]["deleted_at"], Value::Null);
    assert_eq!(by_title["kept"]["id"], kept["id"]);
    // Combined with other filters and with every sort order.
    assert_eq!(titles(&app, &alice, "include_deleted=true&priority=high").await, sorted(&["gone"]));
    for sort in SORTS {
        assert_eq!(walk(&app, &alice, &format!("include_deleted=true&sort={sort}"), 1).await.len(), 2, "{sort}");
        assert_eq!(walk(&app, &alice, &format!("sort={sort}"), 1).await.len(), 1, "{sort}");
    }
    // Restored, it is listed again.
    let restored =
        app.request(Method::POST, &format!("/api/v1/tasks/{}/restore", id_of(&gone)), &alice).send().await.expect("r");
    assert_eq!(restored.status(), 200);
    assert_eq!(titles(&app, &alice, "").await, sorted(&["gone", "kept"]));
}

#[tokio::test]
async fn filters_combine_and_page_together() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let mut specs = Vec::new();
    let statuses = ["pending", "in_progress", "completed"];
    let priorities = ["low", "medium", "high"];
    for i in 0..36_usize {
        let due = match i % 4 {
            0 => Value::Null,
            1 => json!(PAST),
            2 => json!(format!("2030-0{}-15T12:00:00Z", 1 + i % 6)),
            _ => json!(FUTURE),
        };
        let tags = if i.is_multiple_of(2) { json!(["Work"]) } else { json!(["home"]) };
        let title = if i.is_multiple_of(3) { format!("Quarterly REPORT {i}") } else { format!("chore {i}") };
        specs.push(json!({
            "title": title, "status": statuses[i % 3], "priority": priorities[(i / 3) % 3],
            "tags": tags, "due_date": due,
        }));
    }
    let created = created_batch(&app, &alice, specs).await;
    let deleted: Vec<String> = created.iter().step_by(5).map(|t| id_of(t).to_owned()).collect();
    for id in &deleted {
        must_delete(&app, &alice, id).await;
    }
    let live: Vec<&Value> = created.iter().filter(|t| !deleted.contains(&id_of(t).to_owned())).collect();
    let all: Vec<&Value> = created.iter().collect();

    let check = |name: &'static str, pool: &Vec<&Value>, keep: &dyn Fn(&Value) -> bool| {
        let mut expected: Vec<String> = pool.iter().filter(|t| keep(t)).map(|t| title_of(t).to_owned()).collect();
        expected.sort();
        (name, expected)
    };
    let cases = [
        (
            "overdue=true&priority=low",
            check("overdue+p", &live, &|t| {
                t["due_date"] == PAST.replace('Z', ".000000Z") && t["status"] != "completed" && t["priority"] == "low"
            }),
        ),
        (
            "include_deleted=true&status=completed&due_after=2029-12-31T00:00:00Z",
            check("deleted+s+due", &all, &|t| {
                t["status"] == "completed" && !t["due_date"].is_null() && t["due_date"].as_str() > Some("2029-12-31")
            }),
        ),
        (
            "q=REPORT&status=pending&status=in_progress&due_before=2031-01-01T00:00:00Z",
            check("q+s+due", &live, &|t| {
                title_of(t).contains("REPORT")
                    && t["status"] != "completed"
                    && !t["due_date"].is_null()
                    && t["due_date"].as_str() < Some("2031")
            }),
        ),
        (
            "status=pending&status=in_progress&priority=high&tag=WORK",
            check("s+p+t", &live, &|t| {
                t["status"] != "completed" && t["priority"] == "high" && t["tags"] == json!(["work"])
            }),
        ),
        (
            "q=report&tag=work&due_before=2031-01-01T00:00:00Z",
            check("q+t+due", &live, &|t| {
                title_of(t).contains("REPORT")
                    && t["tags"] == json!(["work"])
                    && t["due_date"].as_str() < Some("2031")
                    && !t["due_date"].is_null()
            }),
        ),
    ];
    for (query, (name, expected)) in cases {
        assert!(!expected.is_empty(), "{name}: the fixture exercises this combination");
        assert_eq!(titles(&app, &alice, query).await, expected, "?{query}");
        for sort in ["due_date", "-priority"] {
            let walked = walk(&app, &alice, &format!("{query}&sort={sort}"), 2).await;
            let mut walked_titles: Vec<String> = walked.iter().map(|t| title_of(t).to_owned()).collect();
            assert_eq!(ids(&walked), expected_order(sort, &walked), "?{query}&sort={sort} is in order");
            walked_titles.sort();
            assert_eq!(walked_titles, expected, "?{query}&sort={sort} pages through the same tasks");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sort orders
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_sort_orders_by_its_key_then_id_and_pages_of_any_size_agree() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let priorities = ["low", "medium", "high"];
    // Equal due dates, one of them written with another offset, and undated tasks.
    let dues = [
        json!("2030-01-01T08:00:00Z"),
        json!("2030-01-01T10:00:00+02:00"),
        Value::Null,
        json!("2030-06-15T12:00:00Z"),
        json!("2029-12-31T23:59:59.999999Z"),
        json!("2030-01-01T08:00:00.000001Z"),
        Value::Null,
    ];
    let spec =
        |i: usize| json!({"title": format!("task {i:02}"), "priority": priorities[i % 3], "due_date": dues[i % 7]});
    // Two batches: each shares one created_at and updated_at, so every key has ties.
    created_batch(&app, &alice, (0..14).map(spec).collect()).await;
    for i in 14..20 {
        app.create_task(&alice, spec(i)).await;
    }
    let second = created_batch(&app, &alice, (20..32).map(spec).collect()).await;
    // Later changes move updated_at (and priority) away from created_at order.
    for task in second.iter().take(4) {
        patched(&app, &alice, id_of(task), json!({"priority": "high"})).await;
    }
    let all = walk(&app, &alice, "sort=-created_at", 100).await;
    assert_eq!(all.len(), 32);

    for sort in SORTS {
        let expected = expected_order(sort, &all);
        for size in PAGE_SIZES {
            let walked = walk(&app, &alice, &format!("sort={sort}"), size).await;
            assert_eq!(ids(&walked), expected, "sort={sort} walked {size} at a time");
        }
    }
}

#[tokio::test]
async fn priority_sorts_by_rank_not_alphabetically() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, priority) in [("m", "medium"), ("h", "high"), ("l", "low"), ("m2", "medium"), ("l2", "low")] {
        app.create_task(&alice, json!({"title": title, "priority": priority})).await;
    }
    let ranks = |tasks: Vec<Value>| -> Vec<String> {
        tasks.iter().map(|t| t["priority"].as_str().expect("priority").to_owned()).collect()
    };
    assert_eq!(ranks(walk(&app, &alice, "sort=priority", 2).await), ["low", "low", "medium", "medium", "high"]);
    assert_eq!(ranks(walk(&app, &alice, "sort=-priority", 2).await), ["high", "medium", "medium", "low", "low"]);
}

#[tokio::test]
async fn tasks_without_a_due_date_come_last_in_both_directions() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    for (title, due) in [
        ("undated 1", Value::Null),
        ("2030", json!("2030-01-01T00:00:00Z")),
        ("undated 2", Value::Null),
        ("2031", json!("2031-01-01T00:00:00Z")),
        ("2029", json!("2029-01-01T00:00:00Z")),
        ("undated 3", Value::Null),
    ] {
        app.create_task(&alice, json!({"title": title, "due_date": due})).await;
    }
    for size in [1, 2, 4, 100] {
        let ascending: Vec<String> =
            walk(&app, &alice, "sort=due_date", size).await.iter().map(|t| title_of(t).to_owned()).collect();
        assert_eq!(ascending, ["2029", "2030", "2031", "undated 1", "undated 2", "undated 3"], "limit={size}");
        let descending: Vec<String> =
            walk(&app, &alice, "sort=-due_date", size).await.iter().map(|t| title_of(t).to_owned()).collect();
        assert_eq!(descending, ["2031", "2030", "2029", "undated 3", "undated 2", "undated 1"], "limit={size}");
    }
}

#[tokio::test]
async fn created_and_updated_orders_follow_the_timestamps() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let mut created = Vec::new();
    for title in ["first", "second", "third"] {
        created.push(app.create_task(&alice, json!({"title": title})).await);
    }
    patched(&app, &alice, id_of(&created[0]), json!({"title": "first, changed last"})).await;
    let order = |tasks: Vec<Value>| -> Vec<String> { tasks.iter().map(|t| title_of(t).to_owned()).collect() };
    assert_eq!(order(walk(&app, &alice, "sort=created_at", 1).await), ["first, changed last", "second", "third"]);
    assert_eq!(order(walk(&app, &alice, "sort=-created_at", 1).await), ["third", "second", "first, changed last"]);
    assert_eq!(order(walk(&app, &alice, "sort=updated_at", 1).await), ["second", "third", "first, changed last"]);
    assert_eq!(order(walk(&app, &alice, "sort=-updated_at", 1).await), ["first, changed last", "third", "second"]);
    assert_eq!(order(walk(&app, &alice, "", 1).await), ["third", "second", "first, changed last"], "the default");
}

#[tokio::test]
async fn due_dates_finer_than_a_microsecond_page_without_repeats_or_skips() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let dues = ["2030-01-01T00:00:00.123456789Z", "2030-01-01T00:00:00.123456Z", "2030-01-01T00:00:00.1234567Z"];
    created_batch(&app, &alice, (0..9).map(|i| json!({"title": format!("t{i}"), "due_date": dues[i % 3]})).collect())
        .await;
    let all = walk(&app, &alice, "sort=created_at", 100).await;
    for sort in ["due_date", "-due_date"] {
        for size in [1, 2, 4] {
            let walked = walk(&app, &alice, &format!("sort={sort}"), size).await;
            let mut seen = ids(&walked);
            assert_eq!(seen.len(), 9, "sort={sort} limit={size}: every task once, no repeats: {seen:?}");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 9, "sort={sort} limit={size}: no repeats");
            assert_eq!(ids(&walked), expected_order(sort, &all), "sort={sort} limit={size}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn garbage_empty_and_truncated_cursors_are_bad_requests() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    created_batch(&app, &alice, (0..5).map(|i| json!({"title": format!("t{i}")})).collect()).await;
    let first = page(&app, &alice, "limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    assert!(page(&app, &alice, &format!("limit=2&cursor={}", enc(&cursor))).await["items"].is_array());

    let mut bad = vec![
        "garbage".to_owned(),
        "!!!".to_owned(),
        String::new(),
        "%%%".to_owned(),
        "A".repeat(2000),
        "eyJ".to_owned(),
        "null".to_owned(),
        "0".to_owned(),
    ];
    for cut in [1, 2, 3, 4, 5, 8] {
        bad.push(cursor[..cursor.len() - cut].to_owned());
    }
    bad.push(cursor[..cursor.len() / 2].to_owned());
    bad.push(cursor[1..].to_owned());
    bad.push(format!("{cursor}x"));
    bad.push(cursor.chars().rev().collect());
    for raw in bad {
        assert_bad_request(&app, &alice, &format!("limit=2&cursor={}", enc(&raw)), "cursor").await;
    }
}

#[tokio::test]
async fn a_cursor_from_another_sort_order_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    created_batch(
        &app,
        &alice,
        (0..5)
            .map(|i| json!({"title": format!("t{i}"), "due_date": if i < 3 { Value::Null } else { json!(FUTURE) }}))
            .collect(),
    )
    .await;
    for sort in SORTS {
        let first = page(&app, &alice, &format!("sort={sort}&limit=2")).await;
        let cursor = enc(first["next_cursor"].as_str().expect("a cursor"));
        for other in SORTS.iter().filter(|s| **s != sort) {
            assert_bad_request(&app, &alice, &format!("sort={other}&limit=2&cursor={cursor}"), "cursor").await;
        }
        if sort != "-created_at" {
            // Without `sort`, the default order -created_at applies.
            assert_bad_request(&app, &alice, &format!("limit=2&cursor={cursor}"), "cursor").await;
        }
    }
    // An undated position of a due-date walk is also refused by the other due-date order.
    let undated = page(&app, &alice, "sort=due_date&limit=3").await;
    let cursor = enc(undated["next_cursor"].as_str().expect("a cursor"));
    assert_bad_request(&app, &alice, &format!("sort=-due_date&cursor={cursor}"), "cursor").await;
}

#[tokio::test]
async fn forged_cursors_are_bad_requests_and_never_server_errors() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    created_batch(&app, &alice, (0..3).map(|i| json!({"title": format!("t{i}"), "due_date": FUTURE})).collect()).await;
    let id = Uuid::now_v7();
    let refused: Vec<(&str, String)> = vec![
        ("", forged("{}")),
        ("", forged("[]")),
        ("", forged("null")),
        ("", forged("42")),
        ("", forged(r#""-created_at""#)),
        ("", forged(r#"{"s":"-created_at"}"#)),
        ("", forged(&format!(r#"{{"s":"-created_at","k":"yesterday","i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":null,"i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":3,"i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":{{"t":1}},"i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":["2030-01-01T00:00:00Z"],"i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":true,"i":"{id}"}}"#))),
        ("", forged(r#"{"s":"-created_at","k":"2030-01-01T00:00:00Z","i":"not-a-uuid"}"#)),
        ("", forged(r#"{"s":"-created_at","k":"2030-01-01T00:00:00Z","i":42}"#)),
        ("", forged(r#"{"s":"-created_at","k":"2030-01-01T00:00:00Z"}"#)),
        ("", forged(&format!(r#"{{"s":"-created_at","k":"2030-01-01T00:00:00Z","i":"{id}","x":1}}"#))),
        ("", forged(&format!(r#"{{"s":"-title","k":"2030-01-01T00:00:00Z","i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":null,"k":"2030-01-01T00:00:00Z","i":"{id}"}}"#))),
        ("", forged(&format!(r#"{{"s":"-created_at","k":"2030-01-01T00:00:00Z","i":"{id}"}}trailing"#))),
        ("", URL_SAFE_NO_PAD.encode([0xff_u8, 0xfe, 0x00, 0x7b])),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":9,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":0,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":-1,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":2.5,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":"2","i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":1e300,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":99999999999999999999,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":65538,"i":"{id}"}}"#))),
        ("sort=priority", forged(&format!(r#"{{"s":"priority","k":"2030-01-01T00:00:00Z","i":"{id}"}}"#))),
        ("sort=due_date", forged(&format!(r#"{{"s":"due_date","k":false,"i":"{id}"}}"#))),
        ("sort=due_date", forged(&format!(r#"{{"s":"due_date","k":2,"i":"{id}"}}"#))),
        ("sort=updated_at", forged(&format!(r#"{{"s":"updated_at","k":null,"i":"{id}"}}"#))),
    ];
    for (sort, cursor) in refused {
        let query = format!("{sort}&cursor={}", enc(&cursor));
        assert_bad_request(&app, &alice, query.trim_start_matches('&'), "cursor").await;
    }
    // Well-formed positions nobody issued are harmless: a page (or a 400), never a 500.
    let harmless = [
        ("", format!(r#"{{"s":"-created_at","k":"9999-12-31T23:59:59-23:59","i":"{id}"}}"#)),
        ("", format!(r#"{{"s":"-created_at","k":"0001-01-01T00:00:00Z","i":"{}"}}"#, Uuid::nil())),
        ("", format!(r#"{{"s":"-created_at","k":"2030-01-01T00:00:00.123456789+14:00","i":"{}"}}"#, Uuid::max())),
        ("sort=due_date", format!(r#"{{"s":"due_date","k":null,"i":"{}"}}"#, Uuid::nil())),
        ("sort=-due_date", format!(r#"{{"s":"-due_date","k":"1970-01-01T00:00:00Z","i":"{id}"}}"#)),
        ("sort=priority", format!(r#"{{"s":"priority","k":1,"i":"{}"}}"#, Uuid::nil())),
    ];
    for (sort, json) in harmless {
        let query = format!("{sort}&cursor={}", enc(&forged(&json)));
        let (status, content_type, body) = get_list(&app, &alice, query.trim_start_matches('&')).await;
        assert!(status == 200 || status == 400, "cursor {json} answered {status} {body}");
        if status == 400 {
            assert!(content_type.starts_with("application/problem+json"), "{content_type}");
        }
    }
}

#[tokio::test]
async fn a_cursor_from_another_user_pages_only_the_callers_own_tasks() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let bobs =
        created_batch(&app, &bob, (0..4).map(|i| json!({"title": format!("bob {i}"), "priority": "high"})).collect())
            .await;
    let alices = created_batch(
        &app,
        &alice,
        (0..6).map(|i| json!({"title": format!("alice {i}"), "priority": "high"})).collect(),
    )
    .await;
    let alice_ids: HashSet<String> = ids(&alices).into_iter().collect();
    let bob_ids: HashSet<String> = ids(&bobs).into_iter().collect();
    for sort in ["-created_at", "created_at", "priority", "-priority", "due_date"] {
        let first = page(&app, &alice, &format!("sort={sort}&limit=2")).await;
        let cursor = enc(first["next_cursor"].as_str().expect("alice has more"));
        let (status, _, body) = get_list(&app, &bob, &format!("sort={sort}&limit=100&cursor={cursor}")).await;
        assert_eq!(status, 200, "{body}");
        let seen: HashSet<String> = ids(items(&body)).into_iter().collect();
        assert!(seen.is_disjoint(&alice_ids), "sort={sort}: Alice's cursor showed Bob her tasks: {body}");
        assert!(seen.is_subset(&bob_ids), "sort={sort}: {body}");
    }
    // Bob's tasks are all older than Alice's, so her newest-first cursor lies before all of them.
    let first = page(&app, &alice, "limit=2").await;
    let cursor = enc(first["next_cursor"].as_str().expect("alice has more"));
    let bobs_page = page(&app, &bob, &format!("limit=100&cursor={cursor}")).await;
    let seen: HashSet<String> = ids(items(&bobs_page)).into_iter().collect();
    assert_eq!(seen, bob_ids, "Bob pages his own tasks from Alice's position");
}

// ---------------------------------------------------------------------------------------------
// Keyset stability
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn walking_pages_while_tasks_are_inserted_sees_every_existing_task_exactly_once() {
    let app = TestApp::spawn().await;
    let dues =
        [json!("2030-03-01T00:00:00Z"), Value::Null, json!("2030-01-01T00:00:00Z"), json!("2030-02-01T00:00:00Z")];
    for sort in ["-created_at", "created_at", "-due_date", "due_date"] {
        let alice = app.new_user();
        let spec = |i: usize| json!({"title": format!("existing {i}"), "due_date": dues[i % 4]});
        let mut existing = created_batch(&app, &alice, (0..10).map(spec).collect()).await;
        for i in 10..16 {
            existing.push(app.create_task(&alice, spec(i)).await);
        }
        existing.extend(created_batch(&app, &alice, (16..24).map(spec).collect()).await);
        let existing: HashSet<String> = ids(&existing).into_iter().collect();

        let mut walked: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        for pages in 0.. {
            assert!(pages < MAX_PAGES, "sort={sort}: the walk does not end");
            let mut query = format!("sort={sort}&limit=3");
            if let Some(c) = &cursor {
                query.push_str(&format!("&cursor={}", enc(c)));
            }
            let got = page(&app, &alice, &query).await;
            walked.extend(items(&got).iter().cloned());
            let Some(next) = got["next_cursor"].as_str() else { break };
            cursor = Some(next.to_owned());
            // Another client of the same user inserts before, at and after the position.
            if pages < 8 {
                let new_dues = [json!("2000-01-01T00:00:00Z"), json!("2100-01-01T00:00:00Z"), Value::Null];
                let mut fresh: Vec<Value> = new_dues
                    .iter()
                    .map(|due| json!({"title": format!("inserted {inserted}"), "due_date": due}))
                    .collect();
                if let Some(last) = items(&got).last() {
                    fresh.push(json!({"title": format!("inserted {inserted} tie"), "due_date": last["due_date"]}));
                }
                inserted += 1;
                created_batch(&app, &alice, fresh.clone()).await;
                app.create_task(&alice, fresh[0].clone()).await;
            }
        }
        let seen = ids(&walked);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &seen {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        let repeated: Vec<&&str> = counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
        assert!(repeated.is_empty(), "sort={sort}: tasks seen more than once: {repeated:?}");
        let missed: Vec<&String> = existing.iter().filter(|id| !counts.contains_key(id.as_str())).collect();
        assert!(missed.is_empty(), "sort={sort}: existing tasks skipped: {missed:?}");
        assert_eq!(seen, expected_order(sort, &walked), "sort={sort}: the walk is in order");
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation and stats
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lists_only_ever_contain_the_callers_tasks() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let spec = |owner: &str, i: usize| {
        let priority = ["low", "medium", "high"][i % 3];
        json!({
            "title": format!("shared words {owner} {i}"), "description": "shared description",
            "tags": ["shared"], "due_date": if i.is_multiple_of(2) { json!(PAST) } else { Value::Null },
            "priority": priority,
        })
    };
    let alices = created_batch(&app, &alice, (0..5).map(|i| spec("alice", i)).collect()).await;
    let bobs = created_batch(&app, &bob, (0..7).map(|i| spec("bob", i)).collect()).await;
    must_delete(&app, &alice, id_of(&alices[0])).await;
    must_delete(&app, &bob, id_of(&bobs[0])).await;
    for (user, own, count_all) in [(&alice, &alices, 5), (&bob, &bobs, 7)] {
        let own: HashSet<String> = ids(own).into_iter().collect();
        let mut queries: Vec<String> = SORTS.iter().map(|s| format!("sort={s}")).collect();
        queries.extend(
            [
                "include_deleted=true",
                "q=shared",
                "tag=shared",
                "overdue=true",
                "overdue=false",
                "status=pending",
                "priority=high",
                "due_before=2100-01-01T00:00:00Z",
                "include_deleted=true&sort=-due_date",
            ]
            .map(str::to_owned),
        );
        for query in queries {
            let walked = walk(&app, user, &query, 2).await;
            let seen: HashSet<String> = ids(&walked).into_iter().collect();
            assert!(seen.is_subset(&own), "?{query} listed another user's tasks");
            assert_eq!(seen.len(), walked.len(), "?{query}: no repeats");
        }
        assert_eq!(walk(&app, user, "include_deleted=true", 3).await.len(), count_all);
        assert_eq!(walk(&app, user, "", 3).await.len(), count_all - 1);
    }
}

#[tokio::test]
async fn stats_count_the_callers_live_tasks_by_status_priority_and_overdue() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_user(), app.new_user());
    let empty = stats(&app, &alice).await;
    assert_eq!(
        empty,
        json!({
            "total": 0, "by_status": {"pending": 0, "in_progress": 0, "completed": 0},
            "by_priority": {"low": 0, "medium": 0, "high": 0}, "overdue": 0,
        })
    );
    for (title, status, priority, due) in [
        ("a", "pending", "high", json!(PAST)),
        ("b", "in_progress", "low", json!(PAST)),
        ("c", "completed", "medium", json!(PAST)),
        ("d", "pending", "medium", json!(FUTURE)),
        ("e", "pending", "low", Value::Null),
    ] {
        app.create_task(&alice, json!({"title": title, "status": status, "priority": priority, "due_date": due})).await;
    }
    let deleted = app
        .create_task(&alice, json!({"title": "gone", "priority": "high", "due_date": PAST, "status": "in_progress"}))
        .await;
    must_delete(&app, &alice, id_of(&deleted)).await;
    created_batch(
        &app,
        &bob,
        (0..4)
            .map(|i| json!({"title": format!("bob {i}"), "status": "completed", "priority": "high", "due_date": PAST}))
            .collect(),
    )
    .await;
    app.create_task(&bob, json!({"title": "bob overdue", "priority": "low", "due_date": PAST})).await;

    assert_eq!(
        stats(&app, &alice).await,
        json!({
            "total": 5, "by_status": {"pending": 3, "in_progress": 1, "completed": 1},
            "by_priority": {"low": 2, "medium": 2, "high": 1}, "overdue": 2,
        })
    );
    assert_eq!(
        stats(&app, &bob).await,
        json!({
            "total": 5, "by_status": {"pending": 1, "in_progress": 0, "completed": 4},
            "by_priority": {"low": 1, "medium": 0, "high": 4}, "overdue": 1,
        })
    );
    // The overdue count agrees with the overdue list.
    assert_eq!(walk(&app, &alice, "overdue=true", 10).await.len(), 2);
    let nobody = app.new_user();
    assert_eq!(stats(&app, &nobody).await, empty);
}

// ---------------------------------------------------------------------------------------------
// Query plans (PostgreSQL)
// ---------------------------------------------------------------------------------------------

const BIG_USER: &str = "explain-big-user";
const TYPICAL_USER: &str = "explain-user-7";

/// 200,000 tasks: every fourth (50,000) for one user, the rest for 1,499 users (~100 each).
/// Creation times span a year (truncated to the second, so some tie), updates follow, due dates
/// spread around creation (a fifth undated, truncated to the hour), 5% are soft-deleted.
const SEED: &str = r#"
INSERT INTO tasks (id, user_id, title, description, status, priority, tags, due_date, completed_at,
                   created_at, updated_at, deleted_at, version)
SELECT gen_random_uuid(), user_id, 'task ' || i, description, status, priority, tags, due_date,
       CASE WHEN status = 'completed' THEN updated_at END, created_at, updated_at,
       CASE WHEN i % 20 = 7 THEN updated_at END, 1
FROM (
    SELECT i, user_id, description, status, priority, tags, created_at,
           created_at + random() * (now() - created_at) AS updated_at,
           CASE WHEN random() < 0.2 THEN NULL
                ELSE date_trunc('hour', created_at + (random() * 90 - 30) * interval '1 day') END AS due_date
    FROM (
        SELECT i,
               CASE WHEN i % 4 = 0 THEN 'explain-big-user' ELSE 'explain-user-' || (i % 1499) END AS user_id,
               CASE WHEN i % 3 = 0 THEN 'notes for task ' || i END AS description,
               (ARRAY['pending', 'in_progress', 'completed'])[1 + (i / 4 + i / 7) % 3] AS status,
               (1 + floor(random() * 3))::smallint AS priority,
               CASE WHEN i % 10 < 3 THEN '["work"]'::jsonb ELSE '[]'::jsonb END AS tags,
               date_trunc('second', now() - random() * interval '365 days') AS created_at
        FROM generate_series(1, 200000) AS i
        OFFSET 0
    ) AS base
    OFFSET 0
) AS seeded
"#;

/// What `SeaTaskRepository::filtered` builds for the default filter (not deleted).
fn live(user: &str) -> Select<task::Entity> {
    task::Entity::find().filter(task::Column::UserId.eq(user)).filter(task::Column::DeletedAt.is_null())
}

/// `overdue(now)` of the repository.
fn overdue(now: DateTime<Utc>) -> SimpleExpr {
    // Imported here only: its `is_null` would shadow `serde_json::Value::is_null` elsewhere.
    use sea_orm::sea_query::ExprTrait;
    task::Column::DueDate.lt(now).and(task::Column::Status.ne("completed")).and(task::Column::DeletedAt.is_null())
}

/// `SeaTaskRepository::keyset_page`'s query.
fn keyset(
    select: Select<task::Entity>,
    column: task::Column,
    descending: bool,
    after: Option<(SimpleExpr, Uuid)>,
    limit: u64,
) -> Select<task::Entity> {
    use sea_orm::sea_query::ExprTrait;
    let order = if descending { Order::Desc } else { Order::Asc };
    let mut select = select;
    if let Some((key, id)) = after {
        let row = Expr::tuple([Expr::col((task::Entity, column)), Expr::col((task::Entity, task::Column::Id))]);
        let position = Expr::tuple([key, Expr::val(id)]);
        select = select.filter(if descending { row.lt(position) } else { row.gt(position) });
    }
    select.order_by(column, order.clone()).order_by(task::Column::Id, order).limit(limit)
}

/// `SeaTaskRepository::undated_page`'s query.
fn undated(select: Select<task::Entity>, descending: bool, after: Option<Uuid>, limit: u64) -> Select<task::Entity> {
    let mut select = select.filter(task::Column::DueDate.is_null());
    if let Some(id) = after {
        select = select.filter(if descending { task::Column::Id.lt(id) } else { task::Column::Id.gt(id) });
    }
    let order = if descending { Order::Desc } else { Order::Asc };
    select.order_by(task::Column::DueDate, order.clone()).order_by(task::Column::Id, order).limit(limit)
}

/// The repository's `q` filter.
fn search(q: &str) -> SimpleExpr {
    use sea_orm::sea_query::ExprTrait;
    let pattern = format!("%{}%", q.to_lowercase());
    let like = |column: task::Column| {
        Func::lower(Func::coalesce([Expr::col((task::Entity, column)), Expr::val("")]))
            .like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    like(task::Column::Title).or(like(task::Column::Description))
}

/// The row `offset` rows into `select` in (`column`, id) order.
async fn row_at(
    db: &DatabaseConnection,
    select: Select<task::Entity>,
    column: task::Column,
    descending: bool,
    offset: u64,
) -> task::Model {
    let order = if descending { Order::Desc } else { Order::Asc };
    select
        .order_by(column, order.clone())
        .order_by(task::Column::Id, order)
        .offset(offset)
        .one(db)
        .await
        .expect("position query")
        .expect("the data set reaches this offset")
}

async fn explain(db: &DatabaseConnection, select: &Select<task::Entity>) -> Value {
    let statement = select.build(DbBackend::Postgres);
    let values = statement.values.map(|v| v.0).unwrap_or_default();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) {}", statement.sql),
            values,
        ))
        .await
        .expect("explain")
        .expect("a plan");
    row.try_get::<Value>("", "QUERY PLAN").expect("the plan as JSON")
}

/// Every node of a plan: (node type, index name, relation name, scan direction).
fn plan_nodes(node: &Value, out: &mut Vec<(String, String, String, String)>) {
    if let Some(list) = node.as_array() {
        for n in list {
            plan_nodes(n, out);
        }
        return;
    }
    if let Some(plan) = node.get("Plan") {
        plan_nodes(plan, out);
        return;
    }
    let text = |key: &str| node[key].as_str().unwrap_or_default().to_owned();
    out.push((text("Node Type"), text("Index Name"), text("Relation Name"), text("Scan Direction")));
    if let Some(children) = node.get("Plans") {
        plan_nodes(children, out);
    }
}

fn summary(nodes: &[(String, String, String, String)]) -> String {
    nodes
        .iter()
        .map(|(kind, index, _, direction)| match (index.is_empty(), direction.as_str()) {
            (true, _) => kind.clone(),
            (false, "Backward") => format!("{kind} Backward using {index}"),
            (false, _) => format!("{kind} using {index}"),
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

#[tokio::test]
async fn every_list_query_uses_a_per_user_index_without_sorting_at_realistic_size() {
    if !Backend::from_env().is_postgres() {
        skip("EXPLAIN plans are PostgreSQL's");
        return;
    }
    let database = TestDatabase::migrated().await;
    let db = database.connect().await;
    let started = Instant::now();
    db.execute_unprepared(SEED).await.expect("seed 200,000 tasks");
    db.execute_unprepared("ANALYZE tasks").await.expect("analyze");
    eprintln!("seeded and analyzed 200,000 tasks in {:?}", started.elapsed());
    let big = live(BIG_USER).count(&db).await.expect("count");
    assert!((45_000..=50_000).contains(&big), "the big user has ~47,500 live tasks, not {big}");

    let now = Utc::now();
    let limit = 21;
    // (name, query, whether it must also avoid a Sort)
    let mut shapes: Vec<(String, Select<task::Entity>, bool)> = Vec::new();
    for (sort, column) in [
        ("created_at", task::Column::CreatedAt),
        ("updated_at", task::Column::UpdatedAt),
        ("priority", task::Column::Priority),
    ] {
        for descending in [false, true] {
            let name = if descending { format!("-{sort}") } else { sort.to_owned() };
            shapes.push((format!("{name} first page"), keyset(live(BIG_USER), column, descending, None, limit), true));
            let mid = row_at(&db, live(BIG_USER), column, descending, 25_000).await;
            let key: SimpleExpr = match column {
                task::Column::CreatedAt => Expr::val(mid.created_at),
                task::Column::UpdatedAt => Expr::val(mid.updated_at),
                _ => Expr::val(mid.priority),
            };
            shapes.push((
                format!("{name} after a cursor"),
                keyset(live(BIG_USER), column, descending, Some((key, mid.id)), limit),
                true,
            ));
        }
    }
    for descending in [false, true] {
        let name = if descending { "-due_date" } else { "due_date" };
        let dated = || live(BIG_USER).filter(task::Column::DueDate.is_not_null());
        shapes.push((
            format!("{name} first page"),
            keyset(dated(), task::Column::DueDate, descending, None, limit),
            true,
        ));
        let mid = row_at(&db, dated(), task::Column::DueDate, descending, 20_000).await;
        let due = mid.due_date.expect("a dated row");
        shapes.push((
            format!("{name} after a cursor"),
            keyset(dated(), task::Column::DueDate, descending, Some((Expr::val(due), mid.id)), limit),
            true,
        ));
        shapes.push((
            format!("{name} undated rows after the dated ones"),
            undated(live(BIG_USER), descending, None, limit),
            true,
        ));
        let undated_mid =
            row_at(&db, live(BIG_USER).filter(task::Column::DueDate.is_null()), task::Column::Id, descending, 4_000)
                .await;
        shapes.push((
            format!("{name} undated rows after an undated cursor"),
            undated(live(BIG_USER), descending, Some(undated_mid.id), limit),
            true,
        ));
    }
    // Realistic filters: these must at least never read the whole table.
    let statuses = || task::Column::Status.is_in(["pending", "in_progress"]);
    let mid = row_at(&db, live(BIG_USER), task::Column::Priority, true, 10_000).await;
    shapes.extend([
        (
            "status=pending&status=in_progress, -created_at".to_owned(),
            keyset(live(BIG_USER).filter(statuses()), task::Column::CreatedAt, true, None, limit),
            false,
        ),
        (
            "status=completed, -priority after a cursor".to_owned(),
            keyset(
                live(BIG_USER).filter(task::Column::Status.is_in(["completed"])),
                task::Column::Priority,
                true,
                Some((Expr::val(mid.priority), mid.id)),
                limit,
            ),
            false,
        ),
        (
            "overdue=true, -created_at".to_owned(),
            keyset(live(BIG_USER).filter(overdue(now)), task::Column::CreatedAt, true, None, limit),
            false,
        ),
        (
            "overdue=true, due_date".to_owned(),
            keyset(
                live(BIG_USER).filter(overdue(now)).filter(task::Column::DueDate.is_not_null()),
                task::Column::DueDate,
                false,
                None,
                limit,
            ),
            false,
        ),
        (
            "overdue=false, -updated_at".to_owned(),
            keyset(
                live(BIG_USER).filter(sea_orm::sea_query::ExprTrait::not(overdue(now))),
                task::Column::UpdatedAt,
                true,
                None,
                limit,
            ),
            false,
        ),
        (
            "priority=high&status=pending&status=in_progress, -created_at".to_owned(),
            keyset(
                live(BIG_USER).filter(task::Column::Priority.eq(3_i16)).filter(statuses()),
                task::Column::CreatedAt,
                true,
                None,
                limit,
            ),
            false,
        ),
        (
            "include_deleted=true, -due_date".to_owned(),
            keyset(
                task::Entity::find()
                    .filter(task::Column::UserId.eq(BIG_USER))
                    .filter(task::Column::DueDate.is_not_null()),
                task::Column::DueDate,
                true,
                None,
                limit,
            ),
            false,
        ),
    ]);

    // A typical user (~100 tasks): a small Sort on top of an index read is the right plan there,
    // but the table is never read whole.
    for (sort, column) in [
        ("-created_at", task::Column::CreatedAt),
        ("-updated_at", task::Column::UpdatedAt),
        ("priority", task::Column::Priority),
        ("due_date", task::Column::DueDate),
    ] {
        let mut select = live(TYPICAL_USER).filter(search("task 1"));
        if matches!(column, task::Column::DueDate) {
            select = select.filter(task::Column::DueDate.is_not_null());
        }
        shapes.push((
            format!("typical user, q=task 1, {sort}"),
            keyset(select, column, sort.starts_with('-'), None, limit),
            false,
        ));
    }
    shapes.push((
        "typical user, overdue=true, -created_at".to_owned(),
        keyset(live(TYPICAL_USER).filter(overdue(now)), task::Column::CreatedAt, true, None, limit),
        false,
    ));
    shapes.push((
        "typical user, due_date undated rows".to_owned(),
        undated(live(TYPICAL_USER), false, None, limit),
        false,
    ));

    let mut failures = Vec::new();
    for (name, select, no_sort) in &shapes {
        let plan = explain(&db, select).await;
        let mut nodes = Vec::new();
        plan_nodes(&plan, &mut nodes);
        let line = summary(&nodes);
        eprintln!("{name}: {line}");
        let scans_tasks_user_index = nodes.iter().any(|(kind, index, _, _)| {
            matches!(kind.as_str(), "Index Scan" | "Index Only Scan" | "Bitmap Index Scan")
                && index.starts_with("tasks_user_")
        });
        let index_scan = nodes.iter().any(|(kind, index, _, _)| {
            matches!(kind.as_str(), "Index Scan" | "Index Only Scan") && index.starts_with("tasks_user_")
        });
        let seq_scan = nodes.iter().any(|(kind, _, relation, _)| kind == "Seq Scan" && relation == "tasks");
        let sort = nodes.iter().any(|(kind, _, _, _)| kind.contains("Sort"));
        if seq_scan || !scans_tasks_user_index {
            failures.push(format!("{name}: reads tasks without a tasks_user_* index: {line}"));
        } else if *no_sort && (sort || !index_scan) {
            failures.push(format!("{name}: needs a Sort or does not scan a tasks_user_* index in order: {line}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} list query shapes are not served by a per-user index in order:\n{}",
        failures.len(),
        shapes.len(),
        failures.join("\n")
    );
}
