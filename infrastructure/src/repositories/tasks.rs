//! Tasks in the `tasks` table, idempotency records in `idempotency_keys`.

use super::records::{self, IdempotencyRow, StatsRow, TaskRow};
use super::{corrupt, fence, read};
use crate::Database;
use crate::database::executor::{DbError, Pool, Query};
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use chrono::{DateTime, Utc};
use domain::task::{
    Cursor, CursorKey, DeleteOutcome, Direction, IdempotencyKey, IdempotentInsert, Priority, SortField, StoredResponse,
    Task, TaskFilter, TaskListQuery, TaskRepository, TaskStats, TaskStatus,
};
use domain::{Page, RepositoryError, UserId};
use entity::{idempotency_key, task};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, Statement,
};
use std::sync::Arc;
use uuid::Uuid;

/// The task repository, over the traffic pool, reading from the read replica where it may
/// (see `database::replica`).
#[derive(Clone, Debug)]
pub struct SeaTaskRepository {
    pool: Pool,
    guard: Arc<Guard>,
    replica: Option<Replica>,
}

impl SeaTaskRepository {
    pub fn new(database: &Database) -> Self {
        Self { pool: database.pool().clone(), guard: database.guard().clone(), replica: database.replica() }
    }
}

fn to_active(t: &Task) -> task::ActiveModel {
    task::ActiveModel {
        id: Set(t.id),
        user_id: Set(t.user_id.as_ref().to_owned()),
        title: Set(t.title.clone()),
        description: Set(t.description.clone()),
        search_text: Set(t.search_text()),
        status: Set(t.status.as_str().to_owned()),
        priority: Set(t.priority.rank()),
        tags: Set(serde_json::Value::from(t.tags.clone())),
        due_date: Set(t.due_date),
        recurrence: Set(t.recurrence.map(|r| r.as_str().to_owned())),
        completed_at: Set(t.completed_at),
        previous_occurrence_id: Set(t.previous_occurrence_id),
        created_at: Set(t.created_at),
        updated_at: Set(t.updated_at),
        deleted_at: Set(t.deleted_at),
        version: Set(t.version),
    }
}

/// `LIKE` pattern for a literal, case-folded substring: `%`, `_` and `\` match themselves.
fn contains_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Whether `q` holds a run of [`DIGIT_GRAM`] or more ASCII digits, which the digits' index
/// (migration 9) can look up. Only a hint: with none, `task_search_digit_grams` of the term
/// is empty and the condition would hold for every row.
fn holds_digit_run(q: &str) -> bool {
    let mut run = 0;
    q.bytes().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= DIGIT_GRAM
    })
}

/// The length of the digit substrings `task_search_digit_grams` indexes (migration 9).
const DIGIT_GRAM: usize = 5;

/// A SELECT of [`TaskRow`]'s columns from `tasks`, the shape every read path decodes.
fn task_columns() -> Select<task::Entity> {
    records::select::<task::Entity, TaskRow>()
}

/// `find`'s SELECT: the user's live task with this id.
fn find_select(id: Uuid, user: &str) -> Select<task::Entity> {
    task_columns()
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::UserId.eq(user))
        .filter(task::Column::DeletedAt.is_null())
        .limit(1)
}

/// [`find_select`] as a statement. Its SQL depends on nothing but the backend, so it is built
/// once per backend and only the values are bound per call, in the order the builder puts
/// them (a unit test holds the two to each other): building it per call was a large share
/// of a GET by id's work (docs/performance.md).
fn find_statement(backend: DbBackend, id: Uuid, user: &str) -> Statement {
    static SQL: [std::sync::OnceLock<String>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let sql = SQL[usize::from(backend == DbBackend::Postgres)]
        .get_or_init(|| find_select(Uuid::nil(), "").build(backend).sql);
    let values = sea_orm::sea_query::Values(vec![id.into(), user.into(), 1_u64.into()]);
    Statement { sql: sql.clone(), values: Some(values), db_backend: backend }
}

fn not_completed() -> SimpleExpr {
    task::Column::Status.ne(TaskStatus::Completed.as_str())
}

/// Due in the past, not completed, not deleted. Never NULL, so `NOT overdue` keeps the tasks
/// without a due date (SQL's three-valued logic would drop them).
fn overdue(now: DateTime<Utc>) -> SimpleExpr {
    task::Column::DueDate
        .is_not_null()
        .and(task::Column::DueDate.lt(now))
        .and(not_completed())
        .and(task::Column::DeletedAt.is_null())
}

/// What a page of tasks sends: see [`SeaTaskRepository::page_statement`].
enum PageStatement {
    One(Statement),
    DatedThenUndated { dated: Statement, undated: Box<Select<task::Entity>> },
}

impl SeaTaskRepository {
    fn backend(&self) -> DbBackend {
        self.pool.backend()
    }

    /// The user's tasks matching the filter, unordered, as [`TaskRow`]s.
    fn filtered(&self, user: &UserId, filter: &TaskFilter, now: DateTime<Utc>) -> Select<task::Entity> {
        let mut select = task_columns().filter(task::Column::UserId.eq(user.as_ref()));
        if !filter.include_deleted {
            select = select.filter(task::Column::DeletedAt.is_null());
        }
        if !filter.statuses.is_empty() {
            select = select.filter(task::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(priority) = filter.priority {
            select = select.filter(task::Column::Priority.eq(priority.rank()));
        }
        if let Some(tag) = &filter.tag {
            select = select.filter(match self.backend() {
                DbBackend::Postgres => {
                    Expr::cust_with_values("\"tasks\".\"tags\" @> jsonb_build_array($1::text)", [tag.clone()])
                }
                // sea-query's SQLite writer binds `?` placeholders only.
                _ => Expr::cust_with_values(
                    "EXISTS (SELECT 1 FROM json_each(\"tasks\".\"tags\") WHERE json_each.value = ?)",
                    [tag.clone()],
                ),
            });
        }
        if let Some(q) = &filter.q {
            select = select.filter(if self.backend() == DbBackend::Postgres && holds_digit_run(q) {
                // Looked up by its numbers in their own index (migration 9): digits' trigrams
                // are each in too many rows. `strpos` rather than a second `LIKE`: the planner
                // multiplies the two conditions' selectivities as if they were independent,
                // and a number most of a user's rows hold was then taken for rare and its
                // rows fetched and sorted (12 ms against 0.1 ms for the walk). `strpos … <> 0`
                // it takes for true of nearly every row, so the grams' statistics decide.
                let folded = q.to_lowercase();
                Expr::cust_with_values(
                    "task_search_digit_grams(\"tasks\".\"search_text\") @> task_search_digit_grams($1) \
                     AND strpos(\"tasks\".\"search_text\", $2) <> 0",
                    [folded.clone(), folded],
                )
            } else {
                task::Column::SearchText.like(LikeExpr::new(contains_pattern(q)).escape('\\'))
            });
        }
        if let Some(before) = filter.due_before {
            select = select.filter(task::Column::DueDate.lt(before));
        }
        if let Some(after) = filter.due_after {
            select = select.filter(task::Column::DueDate.gt(after));
        }
        match filter.overdue {
            Some(true) => select = select.filter(overdue(now)),
            Some(false) => select = select.filter(overdue(now).not()),
            None => {}
        }
        select
    }

    /// The statement of the rows after `after` in `(column, id)` order, `column` never null
    /// here.
    fn keyset_page(
        &self,
        select: Select<task::Entity>,
        column: task::Column,
        direction: Direction,
        after: Option<(SimpleExpr, Uuid)>,
        limit: u64,
    ) -> Statement {
        let order = if direction == Direction::Asc { Order::Asc } else { Order::Desc };
        let mut select = select;
        if let Some((key, id)) = after {
            let row = Expr::tuple([Expr::col((task::Entity, column)), Expr::col((task::Entity, task::Column::Id))]);
            let position = Expr::tuple([key, Expr::val(id)]);
            select = select.filter(if direction == Direction::Asc { row.gt(position) } else { row.lt(position) });
        }
        self.ordered(select, column, order, limit)
    }

    /// The statement of up to `limit` rows in `(column, id)` order.
    fn ordered(&self, select: Select<task::Entity>, column: task::Column, order: Order, limit: u64) -> Statement {
        select.order_by(column, order.clone()).order_by(task::Column::Id, order).limit(limit).build(self.backend())
    }

    /// The statement of the rows without a due date after `after_id`, in id order (they sort
    /// last either way). Ordered by `(due_date, id)` although `due_date` is NULL throughout:
    /// that is the order of `tasks_user_due_date_idx`, so PostgreSQL walks the index instead
    /// of sorting.
    fn undated_page(
        &self,
        select: Select<task::Entity>,
        direction: Direction,
        after_id: Option<Uuid>,
        limit: u64,
    ) -> Statement {
        let mut select = select.filter(task::Column::DueDate.is_null());
        if let Some(id) = after_id {
            select = select.filter(if direction == Direction::Asc {
                task::Column::Id.gt(id)
            } else {
                task::Column::Id.lt(id)
            });
        }
        let order = if direction == Direction::Asc { Order::Asc } else { Order::Desc };
        self.ordered(select, task::Column::DueDate, order, limit)
    }

    /// The statement of one page in the query's order; at the dated/undated seam of the
    /// due-date order, the statement of the dated rows and the query of the undated ones that
    /// may follow them.
    fn page_statement(&self, user: &UserId, query: &TaskListQuery, now: DateTime<Utc>) -> PageStatement {
        let select = self.filtered(user, &query.filter, now);
        let direction = query.sort.direction;
        // One row more than the page tells whether another page follows.
        let want = query.limit + 1;
        match query.sort.field {
            SortField::DueDate => match query.after.map(|c| (c.key, c.id)) {
                // Past the dated rows already: only undated ones remain.
                Some((CursorKey::NoDueDate, id)) => {
                    PageStatement::One(self.undated_page(select, direction, Some(id), want))
                }
                after => {
                    let after = match after {
                        Some((CursorKey::Time(t), id)) => Some((Expr::val(t), id)),
                        _ => None,
                    };
                    let dated = select.clone().filter(task::Column::DueDate.is_not_null());
                    let dated = self.keyset_page(dated, task::Column::DueDate, direction, after, want);
                    PageStatement::DatedThenUndated { dated, undated: Box::new(select) }
                }
            },
            field => {
                let column = match field {
                    SortField::CreatedAt => task::Column::CreatedAt,
                    SortField::UpdatedAt => task::Column::UpdatedAt,
                    _ => task::Column::Priority,
                };
                let after = query.after.and_then(|c| match c.key {
                    CursorKey::Time(t) => Some((Expr::val(t), c.id)),
                    CursorKey::Rank(r) => Some((Expr::val(r), c.id)),
                    CursorKey::NoDueDate => None,
                });
                PageStatement::One(self.keyset_page(select, column, direction, after, want))
            }
        }
    }

    /// Every statement a page of `query` may send, as sent (the undated rows' for a whole
    /// page): what a test runs `EXPLAIN` on to hold the list queries to their indexes.
    #[doc(hidden)]
    pub fn page_statements(&self, user: &UserId, query: &TaskListQuery, now: DateTime<Utc>) -> Vec<Statement> {
        match self.page_statement(user, query, now) {
            PageStatement::One(statement) => vec![statement],
            PageStatement::DatedThenUndated { dated, undated } => {
                vec![dated, self.undated_page(*undated, query.sort.direction, None, query.limit + 1)]
            }
        }
    }

    /// Whether a page of `query` is sent as statements the connection keeps prepared: all
    /// but a search, which is planned for its term every time (see [`Query`]; a generic plan
    /// of it took 0.4–0.6 s where the term's own took under a millisecond).
    #[doc(hidden)]
    pub fn page_plan_cached(&self, query: &TaskListQuery) -> bool {
        query.filter.q.is_none()
    }

    /// A page's statement as [`Self::page_plan_cached`] says to send it.
    fn page_query(&self, query: &TaskListQuery, statement: Statement) -> Query {
        let sent = if self.page_plan_cached(query) { statement.into() } else { Query::planned_per_call(statement) };
        sent.expecting(query.limit + 1)
    }

    /// One page of rows in the query's order: one statement, two at the dated/undated seam of
    /// the due-date order. The statements are built before anything is awaited, so the
    /// future of a page stays small (it is moved into the guard's retry and a box per call).
    async fn page_rows(
        &self,
        db: &Pool,
        user: &UserId,
        query: &TaskListQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskRow>, DbError> {
        let statement = match self.page_statement(user, query, now) {
            PageStatement::One(statement) => statement,
            PageStatement::DatedThenUndated { dated, undated } => {
                let want = query.limit + 1;
                return Box::pin(self.dated_then_undated(db, query, dated, *undated, want)).await;
            }
        };
        db.fetch_all(self.page_query(query, statement)).await
    }

    /// The dated rows of a due-date page, then as many undated ones as the page has room for.
    async fn dated_then_undated(
        &self,
        db: &Pool,
        query: &TaskListQuery,
        dated: Statement,
        select: Select<task::Entity>,
        want: u64,
    ) -> Result<Vec<TaskRow>, DbError> {
        let mut rows = db.fetch_all(self.page_query(query, dated)).await?;
        let missing = want - rows.len() as u64;
        if missing > 0 {
            let undated = self.undated_page(select, query.sort.direction, None, missing);
            rows.extend(db.fetch_all::<TaskRow>(self.page_query(query, undated)).await?);
        }
        Ok(rows)
    }

    /// The compare-and-set UPDATE of `update`.
    fn compare_and_set(&self, expected_version: i32, updated: &Task) -> Statement {
        task::Entity::update_many()
            .col_expr(task::Column::Title, Expr::val(updated.title.clone()))
            .col_expr(task::Column::Description, Expr::val(updated.description.clone()))
            .col_expr(task::Column::SearchText, Expr::val(updated.search_text()))
            .col_expr(task::Column::Status, Expr::val(updated.status.as_str()))
            .col_expr(task::Column::Priority, Expr::val(updated.priority.rank()))
            .col_expr(task::Column::Tags, Expr::val(serde_json::Value::from(updated.tags.clone())))
            .col_expr(task::Column::DueDate, Expr::val(updated.due_date))
            .col_expr(task::Column::Recurrence, Expr::val(updated.recurrence.map(|r| r.as_str())))
            .col_expr(task::Column::CompletedAt, Expr::val(updated.completed_at))
            .col_expr(task::Column::UpdatedAt, Expr::val(updated.updated_at))
            .col_expr(task::Column::Version, Expr::val(updated.version))
            .filter(task::Column::Id.eq(updated.id))
            .filter(task::Column::UserId.eq(updated.user_id.as_ref()))
            .filter(task::Column::Version.eq(expected_version))
            .filter(task::Column::DeletedAt.is_null())
            .build(self.backend())
    }

    /// Whether the stored row already is `updated` (its version and its unique `updated_at`):
    /// on a retry, proof that the first attempt's compare-and-set committed.
    async fn holds(&self, updated: &Task) -> Result<bool, DbError> {
        let select = task_columns().filter(task::Column::Id.eq(updated.id)).limit(1);
        let stored: Option<TaskRow> = self.pool.fetch_optional(select.build(self.backend())).await?;
        Ok(stored.is_some_and(|s| s.version == updated.version && s.updated_at == updated.updated_at))
    }
}

#[async_trait::async_trait]
impl TaskRepository for SeaTaskRepository {
    #[tracing::instrument(level = "debug", skip_all, fields(task = %task.id))]
    async fn insert(&self, task: &Task) -> Result<(), RepositoryError> {
        self.guard
            .run(Safety::Idempotent, |attempt| async move {
                match self.pool.execute(task::Entity::insert(to_active(task)).build(self.backend())).await {
                    // The id is ours: a duplicate on a retry means the first attempt committed.
                    Err(error) if attempt > 1 && error.is_unique_violation() => Ok(()),
                    other => other.map(drop),
                }
            })
            .await?;
        fence(self.replica.as_ref()).await;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %task.id))]
    async fn insert_idempotent(
        &self,
        key: &IdempotencyKey,
        task: &Task,
        response: &StoredResponse,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotentInsert, RepositoryError> {
        // A retry finds the key it wrote itself and replays it, so the whole transaction is
        // safe to repeat; the replay of our own task is reported as inserted.
        let stored = self
            .guard
            .run(Safety::Idempotent, |_| self.insert_idempotent_once(key, task, response, expired_before))
            .await?;
        // A replay too: the first request may still be waiting for the replica.
        fence(self.replica.as_ref()).await;
        let record = match stored {
            Stored::Inserted => return Ok(IdempotentInsert::Inserted),
            Stored::DifferentRequest => return Ok(IdempotentInsert::DifferentRequest),
            Stored::Replay(record) => record,
        };
        // Our own record: a retry of this very request after its first attempt committed.
        if record.resource_id == Some(task.id) {
            return Ok(IdempotentInsert::Inserted);
        }
        Ok(IdempotentInsert::Replay(record.replay()?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(count = tasks.len()))]
    async fn insert_many(&self, tasks: &[Task]) -> Result<(), RepositoryError> {
        if tasks.is_empty() {
            return Ok(());
        }
        self.guard
            .run(Safety::Idempotent, |attempt| async move {
                let mut txn = self.pool.begin_write().await?;
                // 16 parameters a row: 1,000 rows stay under both PostgreSQL's and SQLite's limits.
                for chunk in tasks.chunks(1000) {
                    let insert = task::Entity::insert_many(chunk.iter().map(to_active)).build(self.backend());
                    if let Err(error) = txn.execute(insert).await {
                        // All or nothing: a duplicate of our own ids on a retry means it all committed.
                        return if attempt > 1 && error.is_unique_violation() { Ok(()) } else { Err(error) };
                    }
                }
                txn.commit().await
            })
            .await?;
        fence(self.replica.as_ref()).await;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError> {
        let found = read(&self.guard, &self.pool, self.replica.as_ref(), |db| {
            let statement = find_statement(self.backend(), id, user.as_ref());
            async move { db.fetch_optional::<TaskRow>(statement).await }
        })
        .await?;
        found.map(Task::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError> {
        let found = self
            .guard
            .run(Safety::Read, |_| {
                self.pool.fetch_optional::<TaskRow>(find_statement(self.backend(), id, user.as_ref()))
            })
            .await?;
        found.map(Task::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %updated.id, expected_version))]
    async fn update(
        &self,
        expected_version: i32,
        updated: &Task,
        next_occurrence: Option<&Task>,
    ) -> Result<bool, RepositoryError> {
        let written = self
            .guard
            .run(Safety::Idempotent, |attempt| async move {
                let Some(next) = next_occurrence else {
                    return if self.pool.execute(self.compare_and_set(expected_version, updated)).await? == 1 {
                        Ok(true)
                    } else {
                        self.retried_and_held(attempt, updated).await
                    };
                };
                let mut txn = self.pool.begin_write().await?;
                if txn.execute(self.compare_and_set(expected_version, updated)).await? != 1 {
                    txn.rollback().await?;
                    return self.retried_and_held(attempt, updated).await;
                }
                // At most one successor per task, even if it is completed again later.
                let successor = task::Entity::insert(to_active(next))
                    .on_conflict(OnConflict::column(task::Column::PreviousOccurrenceId).do_nothing().to_owned())
                    .build(self.backend());
                txn.execute(successor).await?;
                txn.commit().await?;
                Ok(true)
            })
            .await?;
        if written {
            fence(self.replica.as_ref()).await;
        }
        Ok(written)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn soft_delete(
        &self,
        user: &UserId,
        id: Uuid,
        expected_version: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<DeleteOutcome, RepositoryError> {
        let deleted = self
            .guard
            .run(Safety::Write, |_| {
                let mut update = task::Entity::update_many()
                    .col_expr(task::Column::DeletedAt, Expr::val(now))
                    .col_expr(task::Column::UpdatedAt, Expr::val(now))
                    .col_expr(task::Column::Version, Expr::col(task::Column::Version).add(1))
                    .filter(task::Column::Id.eq(id))
                    .filter(task::Column::UserId.eq(user.as_ref()))
                    .filter(task::Column::DeletedAt.is_null());
                if let Some(version) = expected_version {
                    update = update.filter(task::Column::Version.eq(version));
                }
                self.pool.execute(update.build(self.backend()))
            })
            .await?;
        if deleted == 1 {
            fence(self.replica.as_ref()).await;
            return Ok(DeleteOutcome::Deleted);
        }
        if expected_version.is_some()
            && let Some(current) = self.find_for_update(user, id).await?
        {
            return Ok(DeleteOutcome::VersionMismatch { current: current.version });
        }
        Ok(DeleteOutcome::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn restore(&self, user: &UserId, id: Uuid, now: DateTime<Utc>) -> Result<Option<Task>, RepositoryError> {
        let rows = self
            .guard
            .run(Safety::Write, |_| {
                let restore = task::Entity::update_many()
                    .col_expr(task::Column::DeletedAt, Expr::val(Option::<DateTime<Utc>>::None))
                    .col_expr(task::Column::UpdatedAt, Expr::val(now))
                    .col_expr(task::Column::Version, Expr::col(task::Column::Version).add(1))
                    .filter(task::Column::Id.eq(id))
                    .filter(task::Column::UserId.eq(user.as_ref()))
                    .filter(task::Column::DeletedAt.is_not_null())
                    .into_query()
                    .returning(records::returning::<TaskRow>())
                    .to_owned();
                self.pool.fetch_optional::<TaskRow>(self.backend().build(&restore))
            })
            .await?;
        if rows.is_some() {
            fence(self.replica.as_ref()).await;
        }
        rows.map(Task::try_from).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, sort = query.sort.as_str(), limit = query.limit))]
    async fn list(
        &self,
        user: &UserId,
        query: &TaskListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Task, Cursor>, RepositoryError> {
        let rows = read(&self.guard, &self.pool, self.replica.as_ref(), |db| async move {
            self.page_rows(&db, user, query, now).await
        })
        .await?;
        let sort = query.sort;
        Ok(Page::from_overfetch(records::tasks(rows)?, query.limit, |last| Cursor::after(last, sort)))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn stats(&self, user: &UserId, now: DateTime<Utc>) -> Result<TaskStats, RepositoryError> {
        let rows = read(&self.guard, &self.pool, self.replica.as_ref(), |db| {
            let overdue_flag = Expr::case(overdue(now), 1).finally(0);
            let select = task::Entity::find()
                .select_only()
                .column(task::Column::Status)
                .column(task::Column::Priority)
                .column_as(Expr::col(sea_orm::sea_query::Asterisk).count(), "tasks")
                .column_as(SimpleExpr::from(Func::cast_as(Func::sum(overdue_flag), Alias::new("bigint"))), "overdue")
                .filter(task::Column::UserId.eq(user.as_ref()))
                .filter(task::Column::DeletedAt.is_null())
                .group_by(task::Column::Status)
                .group_by(task::Column::Priority)
                .build(self.backend());
            async move { db.fetch_all::<StatsRow>(select).await }
        })
        .await?;
        let mut stats = TaskStats::empty();
        for row in rows {
            let status = TaskStatus::parse(&row.status).ok_or_else(|| corrupt(format!("status {}", row.status)))?;
            let priority =
                Priority::from_rank(row.priority).ok_or_else(|| corrupt(format!("priority {}", row.priority)))?;
            let count = u64::try_from(row.tasks).unwrap_or_default();
            stats.total += count;
            *stats.by_status.entry(status).or_default() += count;
            *stats.by_priority.entry(priority).or_default() += count;
            stats.overdue += u64::try_from(row.overdue).unwrap_or_default();
        }
        Ok(stats)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn purge_expired_keys(&self, expired_before: DateTime<Utc>, limit: u64) -> Result<u64, RepositoryError> {
        use idempotency_key::Column;
        let expired = sea_orm::sea_query::Query::select()
            .columns([Column::UserId, Column::Scope, Column::Key])
            .from(idempotency_key::Entity)
            .and_where(Column::CreatedAt.lt(expired_before))
            .limit(limit)
            .to_owned();
        let key = Expr::tuple([Expr::col(Column::UserId), Expr::col(Column::Scope), Expr::col(Column::Key)]);
        let deleted = self
            .guard
            .run(Safety::Idempotent, |_| {
                let delete = idempotency_key::Entity::delete_many().filter(key.clone().in_subquery(expired.clone()));
                self.pool.execute(delete.build(self.backend()))
            })
            .await?;
        Ok(deleted)
    }
}

/// What one attempt of an idempotent create found.
enum Stored {
    Inserted,
    Replay(IdempotencyRow),
    DifferentRequest,
}

impl SeaTaskRepository {
    /// A compare-and-set matched nothing: on a retry, our first attempt may have committed.
    async fn retried_and_held(&self, attempt: u32, updated: &Task) -> Result<bool, DbError> {
        if attempt > 1 { self.holds(updated).await } else { Ok(false) }
    }

    async fn insert_idempotent_once(
        &self,
        key: &IdempotencyKey,
        task: &Task,
        response: &StoredResponse,
        expired_before: DateTime<Utc>,
    ) -> Result<Stored, DbError> {
        use idempotency_key::Column;
        let backend = self.backend();
        let mut txn = self.pool.begin_write().await?;
        let user = key.user.as_ref();
        let owned = || {
            sea_orm::Condition::all()
                .add(Column::UserId.eq(user))
                .add(Column::Scope.eq(key.scope))
                .add(Column::Key.eq(key.key.as_str()))
        };
        // An expired key may be taken over once; a second conflict means another request
        // took it over at the same moment, and its record answers this one.
        // The response is known before anything is written (the task is complete), so the key
        // row carries it from the start: the create is the key, the task and a commit.
        // `response_body` (the task itself, which builds before `response` existed wrote and
        // replayed) is no longer written: the release before this one already replays
        // `response` (see the migration that added it).
        let status = i16::try_from(response.status).map_err(|e| DbError::Encode(Box::new(e)))?;
        for attempt in 0..2 {
            let record = idempotency_key::ActiveModel {
                user_id: Set(user.to_owned()),
                scope: Set(key.scope.to_owned()),
                key: Set(key.key.clone()),
                request_hash: Set(key.request_hash.clone()),
                response_status: Set(Some(status)),
                response_body: Set(None),
                response: Set(Some(response.body.clone())),
                resource_id: Set(Some(task.id)),
                created_at: Set(task.created_at),
            };
            // Concurrent requests with this key wait here on the primary key until the first
            // commits; then they see a conflict and replay its record.
            let insert = idempotency_key::Entity::insert(record)
                .on_conflict(OnConflict::columns([Column::UserId, Column::Scope, Column::Key]).do_nothing().to_owned())
                .build(backend);
            if txn.execute(insert).await? > 0 {
                txn.execute(task::Entity::insert(to_active(task)).build(backend)).await?;
                txn.commit().await?;
                return Ok(Stored::Inserted);
            }
            let existing = records::select::<idempotency_key::Entity, IdempotencyRow>().filter(owned()).limit(1);
            let Some(existing) = txn.fetch_optional::<IdempotencyRow>(existing.build(backend)).await? else {
                // The conflicting row was deleted (purged) before this read: take the key now.
                continue;
            };
            if existing.created_at < expired_before && attempt == 0 {
                txn.execute(idempotency_key::Entity::delete_many().filter(owned()).build(backend)).await?;
                continue;
            }
            txn.rollback().await?;
            if existing.request_hash != key.request_hash {
                return Ok(Stored::DifferentRequest);
            }
            return Ok(Stored::Replay(existing));
        }
        Err(DbError::Contended("the idempotency key could not be taken over"))
    }
}

#[cfg(test)]
mod tests {
    use super::{contains_pattern, holds_digit_run};

    #[test]
    fn the_prebuilt_find_statement_is_what_the_builder_makes() {
        use sea_orm::{DbBackend, QueryTrait};
        let id = uuid::Uuid::now_v7();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for user in ["alice", "bob"] {
                let built = super::find_select(id, user).build(backend);
                let prebuilt = super::find_statement(backend, id, user);
                assert_eq!(prebuilt.sql, built.sql, "{backend:?}");
                assert_eq!(prebuilt.values, built.values, "{backend:?}");
            }
        }
    }

    #[test]
    fn search_patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("Buy"), "%buy%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn a_term_is_looked_up_by_its_digits_only_with_five_in_a_row() {
        for q in ["12345", "#0000777", "order 123456789", "a12345b", "1234 56789"] {
            assert!(holds_digit_run(q), "{q}");
        }
        for q in ["", "1234", "12 345", "1234a5678", "１２３４５", "٣٣٣٣٣", "1234٥"] {
            assert!(!holds_digit_run(q), "{q}");
        }
    }
}
