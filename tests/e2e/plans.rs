//! The list queries keep their index-ordered plans on a table ANALYZE has never seen.
//!
//! A freshly migrated database that takes a burst of writes (an import, a busy user) is
//! planned from guesses until autoanalyze runs: with a guessed 0.5 % for `deleted_at IS NULL`
//! a page of tasks once became a bitmap scan and a sort of all the user's rows, 22 ms a page
//! instead of 0.1 ms (the test shows that plan again without the partial indexes). Here every list statement
//! the repositories send, as they send it, is EXPLAINed on 100,000 rows of one user
//! (autovacuum off, so no ANALYZE can come in between), with PostgreSQL's default costs and
//! the role defaults `migrate` writes, with both the plan for the values at hand (`force_custom_plan`) and the one a
//! prepared statement falls back to (`force_generic_plan`): no Sort node, an index scan on
//! the index that holds the order.

use crate::helpers::{Backend, TestDatabase, settings_for, skip};
use chrono::{Duration, Utc};
use domain::UserId;
use domain::conversation::{ConversationCursor, ConversationListQuery, MessageCursor, MessageListQuery, MessageOrder};
use domain::task::{
    Cursor, CursorKey, Direction, Priority, Sort, SortField, TaskFilter, TaskListQuery, TaskRepository, TaskStatus,
};
use infrastructure::Database;
use infrastructure::database::migrate::{self, MigrateCommand};
use infrastructure::repositories::{SeaConversationRepository, SeaTaskRepository};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use serde_json::Value;
use uuid::Uuid;

const BIG: &str = "big-user";
const CONVERSATION: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

/// 100,000 tasks, conversations and messages of one user beside a few small users, written
/// after migration with autovacuum off for the three tables.
const FILL: &str = r#"
SET statement_timeout = 0;
ALTER TABLE tasks SET (autovacuum_enabled = false);
ALTER TABLE conversations SET (autovacuum_enabled = false);
ALTER TABLE messages SET (autovacuum_enabled = false);
INSERT INTO tasks (id, user_id, title, search_text, status, priority, tags, due_date, completed_at,
                   created_at, updated_at, deleted_at)
SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'small-' || (i % 50) ELSE 'big-user' END,
       'task ' || i, 'task ' || i || chr(31),
       (ARRAY['pending', 'in_progress', 'completed'])[1 + i % 3], 1 + (i / 3) % 3,
       CASE WHEN i % 7 = 0 THEN '["work"]'::jsonb ELSE '[]'::jsonb END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE now() + (i % 1000 - 500) * interval '1 hour' END,
       CASE WHEN i % 3 = 2 THEN now() END,
       now() - i * interval '1 second', now() - i * interval '1 second',
       CASE WHEN i % 20 = 1 THEN now() END
FROM generate_series(1, 111112) AS i;
INSERT INTO conversations (id, user_id, title, created_at, updated_at)
SELECT CASE WHEN i = 1 THEN '01234567-89ab-cdef-0123-456789abcdef'::uuid ELSE gen_random_uuid() END,
       CASE WHEN i % 10 = 0 THEN 'small-' || (i % 50) ELSE 'big-user' END, 'conversation ' || i,
       now() - i * interval '1 second', now() - i * interval '1 second'
FROM generate_series(1, 111112) AS i;
INSERT INTO messages (id, conversation_id, role, content, created_at)
SELECT gen_random_uuid(), '01234567-89ab-cdef-0123-456789abcdef'::uuid, 'user', 'message ' || i,
       now() - i * interval '1 second'
FROM generate_series(1, 100000) AS i;
"#;

/// Every node of a plan, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut all = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        all.extend(nodes(child));
    }
    all
}

/// EXPLAINs `statement` as the prepared statement `name` under `mode`.
async fn explain(txn: &DatabaseTransaction, name: &str, statement: &Statement, mode: &str) -> Value {
    let values = statement.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
    // The values as literals, in the order of the statement's parameters.
    let placeholders = (1..=values.0.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let arguments = Statement { sql: placeholders, values: Some(values), db_backend: DbBackend::Postgres }.to_string();
    txn.execute_unprepared(&format!("SET LOCAL plan_cache_mode = {mode}")).await.expect("plan_cache_mode");
    let sql = if arguments.is_empty() {
        format!("EXPLAIN (FORMAT JSON) EXECUTE {name}")
    } else {
        format!("EXPLAIN (FORMAT JSON) EXECUTE {name}({arguments})")
    };
    let row =
        txn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.expect("explain").expect("a plan");
    let plan: Value = row.try_get("", "QUERY PLAN").expect("plan json");
    plan[0]["Plan"].clone()
}

/// Holds each statement's plans to an ordered scan of one of `indexes`, without a Sort.
async fn assert_index_ordered(txn: &DatabaseTransaction, case: &str, statements: &[Statement], indexes: &[&str]) {
    for (n, statement) in statements.iter().enumerate() {
        let name = format!("plan_{}", Uuid::new_v4().simple());
        txn.execute_unprepared(&format!("PREPARE {name} AS {}", statement.sql)).await.expect("prepare");
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let plan = explain(txn, &name, statement, mode).await;
            let all = nodes(&plan);
            let summary = || {
                all.iter()
                    .map(|n| {
                        format!("{} {}", n["Node Type"].as_str().unwrap_or("?"), n["Index Name"].as_str().unwrap_or(""))
                    })
                    .collect::<Vec<_>>()
                    .join(" > ")
            };
            assert!(
                !all.iter().any(|n| n["Node Type"].as_str().is_some_and(|t| t.ends_with("Sort"))),
                "{case} (statement {n}, {mode}) sorts: {}\n{}",
                summary(),
                statement.sql
            );
            assert!(
                all.iter().any(|n| {
                    matches!(n["Node Type"].as_str(), Some("Index Scan" | "Index Only Scan"))
                        && n["Index Name"].as_str().is_some_and(|i| indexes.contains(&i))
                }),
                "{case} (statement {n}, {mode}) walks none of {indexes:?}: {}\n{}",
                summary(),
                statement.sql
            );
        }
        txn.execute_unprepared(&format!("DEALLOCATE {name}")).await.expect("deallocate");
    }
}

fn live_index(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "tasks_user_created_at_live_idx",
        SortField::UpdatedAt => "tasks_user_updated_at_live_idx",
        SortField::DueDate => "tasks_user_due_date_live_idx",
        SortField::Priority => "tasks_user_priority_live_idx",
    }
}

fn full_index(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "tasks_user_created_at_idx",
        SortField::UpdatedAt => "tasks_user_updated_at_idx",
        SortField::DueDate => "tasks_user_due_date_idx",
        SortField::Priority => "tasks_user_priority_idx",
    }
}

#[tokio::test]
async fn every_list_query_walks_its_index_on_a_table_never_analysed() {
    if !Backend::from_env().is_postgres() {
        return skip("SQLite has no planner statistics to miss");
    }
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    // What a deployment runs: the migrations (none pending here) and the role defaults.
    migrate::run(&settings.database, MigrateCommand::Up).await.expect("migrate");
    let conn = db.connect().await;
    conn.execute_unprepared(FILL).await.expect("fill the tables");
    let analysed = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_user_tables WHERE relname IN ('tasks', 'conversations', 'messages') \
             AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
        ))
        .await
        .expect("statistics")
        .expect("row");
    assert_eq!(analysed.try_get::<i64>("", "n").expect("n"), 0, "no table may have been analysed");

    let database = Database::connect_lazy(&settings.database).await.expect("pools");
    let tasks = SeaTaskRepository::new(&database);
    let conversations = SeaConversationRepository::new(&database);
    let user = UserId::parse(BIG).expect("user");
    let now = Utc::now();
    let txn = conn.begin().await.expect("begin");

    let filters: Vec<(&str, TaskFilter)> = vec![
        ("no filter", TaskFilter::default()),
        ("status", TaskFilter { statuses: vec![TaskStatus::Pending, TaskStatus::InProgress], ..Default::default() }),
        ("priority", TaskFilter { priority: Some(Priority::High), ..Default::default() }),
        ("tag", TaskFilter { tag: Some("work".into()), ..Default::default() }),
        (
            "due window",
            TaskFilter {
                due_after: Some(now - Duration::days(3)),
                due_before: Some(now + Duration::days(3)),
                ..Default::default()
            },
        ),
        ("overdue", TaskFilter { overdue: Some(true), ..Default::default() }),
        ("not overdue", TaskFilter { overdue: Some(false), ..Default::default() }),
        ("include_deleted", TaskFilter { include_deleted: true, ..Default::default() }),
    ];
    for field in [SortField::CreatedAt, SortField::UpdatedAt, SortField::DueDate, SortField::Priority] {
        for direction in [Direction::Asc, Direction::Desc] {
            let sort = Sort { field, direction };
            let key = match field {
                SortField::Priority => CursorKey::Rank(2),
                _ => CursorKey::Time(now - Duration::hours(1)),
            };
            let cursors = [None, Some(Cursor { sort, key, id: Uuid::from_u128(7) })];
            for (label, filter) in &filters {
                let index = if filter.include_deleted { full_index(field) } else { live_index(field) };
                for after in cursors {
                    let query = TaskListQuery { filter: filter.clone(), sort, limit: 20, after };
                    let case = format!("tasks by {field:?} {direction:?}, {label}, cursor: {}", after.is_some());
                    let statements = tasks.page_statements(&user, &query, now);
                    assert_index_ordered(&txn, &case, &statements, &[index]).await;
                }
            }
        }
    }

    let at = now - Duration::hours(1);
    let pages = [
        (None, None),
        (
            Some(ConversationCursor { updated_at: at, id: Uuid::from_u128(7) }),
            Some(MessageCursor { order: MessageOrder::Asc, created_at: at, id: Uuid::from_u128(7) }),
        ),
    ];
    for (after_conversation, after_message) in pages {
        for order in [MessageOrder::Asc, MessageOrder::Desc] {
            let after_message = after_message.map(|c| MessageCursor { order, ..c });
            let [list, messages] = conversations.page_statements(
                &user,
                &ConversationListQuery { limit: 20, after: after_conversation },
                CONVERSATION,
                &MessageListQuery { order, limit: 50, after: after_message },
            );
            let case = format!("cursor: {}", after_message.is_some());
            assert_index_ordered(
                &txn,
                &format!("conversations, {case}"),
                &[list],
                &["conversations_user_updated_at_idx"],
            )
            .await;
            assert_index_ordered(
                &txn,
                &format!("messages {order:?}, {case}"),
                &[messages],
                &["messages_conversation_created_at_idx"],
            )
            .await;
        }
    }

    // The control: without the partial indexes the same table is planned as it was before
    // them, so the data above does reproduce the failure.
    txn.execute_unprepared(
        "DROP INDEX tasks_user_created_at_live_idx, tasks_user_updated_at_live_idx, \
         tasks_user_due_date_live_idx, tasks_user_priority_live_idx",
    )
    .await
    .expect("drop the partial indexes for this transaction");
    let query = TaskListQuery { filter: TaskFilter::default(), sort: Sort::default(), limit: 20, after: None };
    let statement = tasks.page_statements(&user, &query, now).remove(0);
    txn.execute_unprepared(&format!("PREPARE control AS {}", statement.sql)).await.expect("prepare");
    let plan = explain(&txn, "control", &statement, "force_custom_plan").await;
    assert!(
        nodes(&plan).iter().any(|n| n["Node Type"] == "Sort"),
        "without the partial indexes the first page was expected to sort: {plan}"
    );
    txn.rollback().await.expect("rollback");
    database.close().await;
    conn.close().await.ok();
}

/// 100,000 live tasks of one user, each titled `task <i>`, one in 18 of them with a description
/// that cites `ref 55555`, beside ~11,000 of 50 small users.
const FILL_SEARCH: &str = r#"
SET statement_timeout = 0;
INSERT INTO tasks (id, user_id, title, search_text, status, priority, tags, created_at, updated_at)
SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'small-' || (i % 50) ELSE 'big-user' END,
       'task ' || i, 'task ' || i || CASE WHEN i % 20 = 1 THEN chr(31) || 'ref 55555' ELSE '' END,
       'pending', 2, '[]'::jsonb,
       now() - i * interval '1 second', now() - i * interval '1 second'
FROM generate_series(1, 111112) AS i;
ANALYZE tasks;
"#;

/// `q` is planned for its term: the trigram index finds a rare term's few rows, the digits'
/// index a rare number's, and a common term walks the list's own index until the page is
/// full. One generic plan cannot be both, so a search is sent to be planned per call, as the
/// repository says and the executor does.
#[tokio::test]
async fn a_search_is_planned_for_its_term_and_a_rare_one_reads_a_search_index() {
    if !Backend::from_env().is_postgres() {
        return skip("SQLite has no trigram index: its search is a scan of the user's rows");
    }
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    let conn = db.connect().await;
    conn.execute_unprepared(FILL_SEARCH).await.expect("fill and analyse");
    let database = Database::connect_lazy(&settings.database).await.expect("pools");
    let tasks = SeaTaskRepository::new(&database);
    let user = UserId::parse(BIG).expect("user");
    let now = Utc::now();
    let search = |term: &str| TaskListQuery {
        filter: TaskFilter { q: Some(term.to_owned()), ..Default::default() },
        sort: Sort::default(),
        limit: 20,
        after: None,
    };
    assert!(!tasks.page_plan_cached(&search("task")), "a search must be planned for its term");
    assert!(tasks.page_plan_cached(&TaskListQuery { filter: TaskFilter::default(), ..search("") }));

    let txn = conn.begin().await.expect("begin");
    let plan_of = |term: &'static str| {
        let statement = tasks.page_statements(&user, &search(term), now).remove(0);
        let txn = &txn;
        async move {
            let name = format!("plan_{}", Uuid::new_v4().simple());
            txn.execute_unprepared(&format!("PREPARE {name} AS {}", statement.sql)).await.expect("prepare");
            let plan = explain(txn, &name, &statement, "force_custom_plan").await;
            nodes(&plan)
                .iter()
                .map(|n| {
                    format!("{} {}", n["Node Type"].as_str().unwrap_or("?"), n["Index Name"].as_str().unwrap_or(""))
                })
                .collect::<Vec<_>>()
                .join(" > ")
        }
    };
    // Ten of the big user's rows hold "task 5432" (5432 and 54321 to 54329).
    let rare = plan_of("TASK 5432").await;
    assert!(rare.contains("Bitmap Index Scan tasks_user_search_idx"), "a rare term: {rare}");
    // One row holds "task 54321" (no other title does: the largest number is 111112). Its
    // digits' trigrams are each in thousands of rows; its five digits are in one.
    let number = plan_of("TASK 54321").await;
    assert!(number.contains("Bitmap Index Scan tasks_user_search_digits_idx"), "a rare number: {number}");
    let common = plan_of("task").await;
    assert!(
        common.contains("Index Scan tasks_user_created_at_live_idx") && !common.contains("Sort"),
        "a term every row holds: {common}"
    );
    // A number in one of 18 of the big user's rows (5 % of the table): looked up by its digits,
    // it must still be taken for common. With a `LIKE` beside the digits' condition the
    // planner multiplied the two estimates (0.05 × 0.05) and fetched and sorted its rows.
    let common_number = plan_of("REF 55555").await;
    assert!(
        common_number.contains("Index Scan tasks_user_created_at_live_idx") && !common_number.contains("Sort"),
        "a number in 5 % of the rows: {common_number}"
    );
    txn.rollback().await.expect("rollback");

    // The page itself, through the executor's per-call planning.
    let page = tasks.list(&user, &search("TASK 54321"), now).await.expect("a page");
    assert_eq!(page.items.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["task 54321"]);
    let page = tasks.list(&user, &search("ref 55555"), now).await.expect("a page");
    assert_eq!(page.items.len(), 20, "5,556 of the big user's rows cite ref 55555: a full page");
    let page = tasks.list(&user, &search("TASK 5432"), now).await.expect("a page");
    assert_eq!(page.items.len(), 10, "{:?}", page.items.iter().map(|t| t.title.as_str()).collect::<Vec<_>>());
    let page = tasks.list(&user, &search("task 1111"), now).await.expect("a page");
    assert_eq!(page.items.len(), 20, "21 of the big user's titles hold \"task 1111\": a full page");
    database.close().await;
    conn.close().await.ok();
}
