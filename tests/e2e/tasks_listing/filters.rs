//! Every filter of the task list, alone and combined.

use super::*;

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

/// A term with five digits in a row is also looked up by its numbers on PostgreSQL (the
/// digits' index, migration 9): what it finds must be what the substring match finds, for
/// runs inside longer runs, beside letters and punctuation, in a 1,000-digit description,
/// with `%`, `_` and `\` taken literally, and not across the seam between title and
/// description.
#[tokio::test]
async fn search_finds_numbers_wherever_they_stand_in_longer_runs() {
    let app = TestApp::spawn().await;
    let alice = app.new_user();
    let digits = "0123456789".repeat(100);
    for (title, description) in [
        ("Invoice #0000777", None),
        ("Invoice #0007770", None),
        ("Ticket 12345-67890", None),
        ("Serial", Some("SN9876543210X")),
        ("Digits", Some(digits.as_str())),
        ("Split 1234", Some("56789")),
        ("Full width １２３４５６", None),
        ("Rate 12345% up", Some(r"path 12345\x")),
    ] {
        app.create_task(&alice, json!({"title": title, "description": description})).await;
    }
    let search = |q: &str| format!("q={}", enc(q));
    for (q, expected) in [
        ("#0000777", &["Invoice #0000777"][..]),
        ("0000777", &["Invoice #0000777"]),
        ("00777", &["Invoice #0000777", "Invoice #0007770"]),
        ("000777", &["Invoice #0000777", "Invoice #0007770"]),
        ("7770", &["Invoice #0007770"]),
        ("12345-67890", &["Ticket 12345-67890"]),
        ("2345-6", &["Ticket 12345-67890"]),
        ("67890", &["Digits", "Ticket 12345-67890"]),
        ("567890", &["Digits"]),
        ("SN98765", &["Serial"]),
        ("9876543210x", &["Serial"]),
        ("89012345678901234567", &["Digits"]),
        ("123456789", &["Digits"]),
        ("１２３４５", &["Full width １２３４５６"]),
        ("99999", &[]),
        ("#00007770", &[]),
        ("12345%", &["Rate 12345% up"]),
        ("12345_", &[]),
        ("2345%", &["Rate 12345% up"]),
        (r"12345\x", &["Rate 12345% up"]),
        (r"12345\", &["Rate 12345% up"]),
        ("12345", &["Digits", "Rate 12345% up", "Ticket 12345-67890"]),
    ] {
        assert_eq!(titles(&app, &alice, &search(q)).await, sorted(expected), "q={q}");
    }
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
