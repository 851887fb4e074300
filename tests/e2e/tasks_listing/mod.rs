//! `GET /api/v1/tasks` and `GET /api/v1/tasks/stats` as API.md describes them: every filter,
//! every sort order, limits, opaque cursors, keyset paging while rows are inserted, isolation
//! between users and, on PostgreSQL, the plans of the list queries at a realistic size. One
//! file a feature; the helpers they share are here.

mod consistency;
mod cursors;
mod filters;
mod parameters;
mod plans;
mod sorting;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser, send_waiting_out_429, skip};
use crate::tasks::{created_batch, must_delete, patched, stats};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::task;
use reqwest::Method;
use sea_orm::sea_query::{Expr, LikeExpr, SimpleExpr};
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
/// user's burst, so this waits out a 429 as docs/operations.md tells clients to.
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
