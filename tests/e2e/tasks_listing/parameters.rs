//! `limit` and the parameters a list takes, and what a bad one answers.

use super::*;

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
