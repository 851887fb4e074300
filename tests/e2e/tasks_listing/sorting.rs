//! Every sort order, ties and tasks without a due date.

use super::*;

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
