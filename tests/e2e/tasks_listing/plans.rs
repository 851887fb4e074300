//! The plans of the list queries on PostgreSQL at a realistic size.

use super::*;

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

/// The repository's `q` filter (a term without `%`, `_` or `\\`).
fn search(q: &str) -> SimpleExpr {
    task::Column::SearchText.like(LikeExpr::new(format!("%{}%", q.to_lowercase())).escape('\\'))
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
