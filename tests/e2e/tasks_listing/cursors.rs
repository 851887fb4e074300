//! Opaque cursors: garbage, forged ones, another order's, another user's.

use super::*;

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
