//! Paging while tasks are inserted, isolation between users, and the stats.

use super::*;

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
