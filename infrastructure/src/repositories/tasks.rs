//! Tasks in the `tasks` table, idempotency records in `idempotency_keys`.

use super::rows::{self, Rows, TASK_COLUMNS};
use super::{begin_write, commit, corrupt, corrupt_because, fence, is_duplicate, read, rollback};
use crate::Database;
use crate::database::replica::Replica;
use crate::database::resilience::{Guard, Safety};
use chrono::{DateTime, Utc};
use domain::task::{
    Cursor, CursorKey, DeleteOutcome, Direction, IdempotencyKey, IdempotentInsert, Priority, Recurrence, Replay,
    SortField, StoredResponse, Task, TaskFilter, TaskListQuery, TaskRepository, TaskStats, TaskStatus,
};
use domain::{Page, RepositoryError, UserId};
use entity::{idempotency_key, task};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement, TryInsertResult,
};
use std::sync::Arc;
use uuid::Uuid;

/// The task repository on sea-orm, over the traffic pool, reading from the read replica
/// where it may (see `database::replica`).
#[derive(Clone, Debug)]
pub struct SeaTaskRepository {
    db: DatabaseConnection,
    guard: Arc<Guard>,
    replica: Option<Replica>,
}

impl SeaTaskRepository {
    pub fn new(database: &Database) -> Self {
        Self { db: database.traffic().clone(), guard: database.guard().clone(), replica: database.replica() }
    }
}

fn to_active(t: &Task) -> task::ActiveModel {
    task::ActiveModel {
        id: Set(t.id),
        user_id: Set(t.user_id.clone()),
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

pub(super) fn from_model(m: task::Model) -> Result<Task, RepositoryError> {
    let tags = match m.tags {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(corrupt(format!("task {} has tag {other}", m.id))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(corrupt(format!("task {} has tags {other}", m.id))),
    };
    Ok(Task {
        status: TaskStatus::parse(&m.status)
            .ok_or_else(|| corrupt(format!("task {} has status {}", m.id, m.status)))?,
        priority: Priority::from_rank(m.priority)
            .ok_or_else(|| corrupt(format!("task {} has priority {}", m.id, m.priority)))?,
        recurrence: match m.recurrence.as_deref() {
            None => None,
            Some(r) => Some(Recurrence::parse(r).ok_or_else(|| corrupt(format!("task {} has recurrence {r}", m.id)))?),
        },
        id: m.id,
        user_id: m.user_id,
        title: m.title,
        description: m.description,
        tags,
        due_date: m.due_date,
        completed_at: m.completed_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
        version: m.version,
        previous_occurrence_id: m.previous_occurrence_id,
    })
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

/// A SELECT of [`TASK_COLUMNS`] from `tasks`, the shape every read path decodes.
fn task_columns() -> Select<task::Entity> {
    task::Entity::find().select_only().columns(TASK_COLUMNS)
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

impl SeaTaskRepository {
    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The user's tasks matching the filter, unordered, as [`TASK_COLUMNS`].
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
            select = select.filter(task::Column::SearchText.like(LikeExpr::new(contains_pattern(q)).escape('\\')));
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

    /// One page of rows in the query's order: one statement, two at the dated/undated seam of
    /// the due-date order. The statements are built before anything is awaited, so the
    /// future of a page stays small (it is moved into the guard's retry and a box per call).
    async fn page_rows(
        &self,
        db: &DatabaseConnection,
        user: &UserId,
        query: &TaskListQuery,
        now: DateTime<Utc>,
    ) -> Result<Rows, DbErr> {
        let select = self.filtered(user, &query.filter, now);
        let direction = query.sort.direction;
        // One row more than the page tells whether another page follows.
        let want = query.limit + 1;
        let statement = match query.sort.field {
            SortField::DueDate => match query.after.map(|c| (c.key, c.id)) {
                // Past the dated rows already: only undated ones remain.
                Some((CursorKey::NoDueDate, id)) => self.undated_page(select, direction, Some(id), want),
                after => {
                    let after = match after {
                        Some((CursorKey::Time(t), id)) => Some((Expr::val(t), id)),
                        _ => None,
                    };
                    let dated = select.clone().filter(task::Column::DueDate.is_not_null());
                    let dated = self.keyset_page(dated, task::Column::DueDate, direction, after, want);
                    return Box::pin(self.dated_then_undated(db, dated, select, direction, want)).await;
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
                self.keyset_page(select, column, direction, after, want)
            }
        };
        rows::fetch_all(db, statement).await
    }

    /// The dated rows of a due-date page, then as many undated ones as the page has room for.
    async fn dated_then_undated(
        &self,
        db: &DatabaseConnection,
        dated: Statement,
        select: Select<task::Entity>,
        direction: Direction,
        want: u64,
    ) -> Result<Rows, DbErr> {
        let mut rows = rows::fetch_all(db, dated).await?;
        let missing = want - rows.len() as u64;
        if missing > 0 {
            rows.extend(rows::fetch_all(db, self.undated_page(select, direction, None, missing)).await?);
        }
        Ok(rows)
    }

    /// The compare-and-set UPDATE of `update`.
    fn compare_and_set(expected_version: i32, updated: &Task) -> sea_orm::UpdateMany<task::Entity> {
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
            .filter(task::Column::UserId.eq(updated.user_id.clone()))
            .filter(task::Column::Version.eq(expected_version))
            .filter(task::Column::DeletedAt.is_null())
    }

    /// Whether the stored row already is `updated` (its version and its unique `updated_at`):
    /// on a retry, proof that the first attempt's compare-and-set committed.
    async fn holds(&self, updated: &Task) -> Result<bool, DbErr> {
        let stored = task::Entity::find_by_id(updated.id).one(&self.db).await?;
        Ok(stored.is_some_and(|s| s.version == updated.version && s.updated_at == updated.updated_at))
    }
}

#[derive(Debug, FromQueryResult)]
struct StatsRow {
    status: String,
    priority: i16,
    tasks: i64,
    overdue: i64,
}

#[async_trait::async_trait]
impl TaskRepository for SeaTaskRepository {
    #[tracing::instrument(level = "debug", skip_all, fields(task = %task.id))]
    async fn insert(&self, task: &Task) -> Result<(), RepositoryError> {
        self.guard
            .run(Safety::Idempotent, |attempt| async move {
                match task::Entity::insert(to_active(task)).exec_without_returning(&self.db).await {
                    // The id is ours: a duplicate on a retry means the first attempt committed.
                    Err(error) if attempt > 1 && is_duplicate(&error) => Ok(()),
                    other => other.map(|_| ()),
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
        let replay = match (record.resource_id, record.response_status, record.response, record.response_body) {
            (Some(task_id), Some(status), Some(body), _) => {
                let status = u16::try_from(status).map_err(|_| corrupt(format!("idempotency status {status}")))?;
                Replay::Response { task_id, response: StoredResponse { status, body } }
            }
            // Written by a build that stored the task itself (see the migration that added
            // `response`).
            (_, _, None, Some(body)) => {
                let first: Task =
                    serde_json::from_str(&body).map_err(|e| corrupt_because("idempotency response", e))?;
                Replay::Task(first)
            }
            _ => return Err(corrupt("idempotency record without a response")),
        };
        Ok(IdempotentInsert::Replay(replay))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(count = tasks.len()))]
    async fn insert_many(&self, tasks: &[Task]) -> Result<(), RepositoryError> {
        if tasks.is_empty() {
            return Ok(());
        }
        self.guard
            .run(Safety::Idempotent, |attempt| async move {
                let txn = begin_write(&self.db).await?;
                // 16 parameters a row: 1,000 rows stay under both PostgreSQL's and SQLite's limits.
                for chunk in tasks.chunks(1000) {
                    if let Err(error) =
                        task::Entity::insert_many(chunk.iter().map(to_active)).exec_without_returning(&txn).await
                    {
                        // All or nothing: a duplicate of our own ids on a retry means it all committed.
                        return if attempt > 1 && is_duplicate(&error) { Ok(()) } else { Err(error) };
                    }
                }
                commit(txn).await
            })
            .await?;
        fence(self.replica.as_ref()).await;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError> {
        let found = read(&self.guard, &self.db, self.replica.as_ref(), |db| {
            let statement = find_statement(self.backend(), id, user.as_ref());
            async move { rows::fetch_all(&db, statement).await }
        })
        .await?;
        Ok(found.tasks()?.pop())
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError> {
        let found = self
            .guard
            .run(Safety::Read, |_| rows::fetch_all(&self.db, find_statement(self.backend(), id, user.as_ref())))
            .await?;
        Ok(found.tasks()?.pop())
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
                    let result = Self::compare_and_set(expected_version, updated).exec(&self.db).await?;
                    return if result.rows_affected == 1 {
                        Ok(true)
                    } else {
                        self.retried_and_held(attempt, updated).await
                    };
                };
                let txn = begin_write(&self.db).await?;
                if Self::compare_and_set(expected_version, updated).exec(&txn).await?.rows_affected != 1 {
                    rollback(txn).await?;
                    return self.retried_and_held(attempt, updated).await;
                }
                // At most one successor per task, even if it is completed again later.
                task::Entity::insert(to_active(next))
                    .on_conflict_do_nothing_on([task::Column::PreviousOccurrenceId])
                    .exec_without_returning(&txn)
                    .await?;
                commit(txn).await?;
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
                update.exec(&self.db)
            })
            .await?;
        if deleted.rows_affected == 1 {
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
                task::Entity::update_many()
                    .col_expr(task::Column::DeletedAt, Expr::val(Option::<DateTime<Utc>>::None))
                    .col_expr(task::Column::UpdatedAt, Expr::val(now))
                    .col_expr(task::Column::Version, Expr::col(task::Column::Version).add(1))
                    .filter(task::Column::Id.eq(id))
                    .filter(task::Column::UserId.eq(user.as_ref()))
                    .filter(task::Column::DeletedAt.is_not_null())
                    .exec_with_returning(&self.db)
            })
            .await?;
        if !rows.is_empty() {
            fence(self.replica.as_ref()).await;
        }
        rows.into_iter().next().map(from_model).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self, query), fields(user = %user, sort = query.sort.as_str(), limit = query.limit))]
    async fn list(
        &self,
        user: &UserId,
        query: &TaskListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Task, Cursor>, RepositoryError> {
        let rows = read(&self.guard, &self.db, self.replica.as_ref(), |db| async move {
            self.page_rows(&db, user, query, now).await
        })
        .await?;
        let sort = query.sort;
        Ok(Page::from_overfetch(rows.tasks()?, query.limit, |last| Cursor::after(last, sort)))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    async fn stats(&self, user: &UserId, now: DateTime<Utc>) -> Result<TaskStats, RepositoryError> {
        let rows = read(&self.guard, &self.db, self.replica.as_ref(), |db| {
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
                .into_model::<StatsRow>();
            async move { select.all(&db).await }
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
                idempotency_key::Entity::delete_many().filter(key.clone().in_subquery(expired.clone())).exec(&self.db)
            })
            .await?;
        Ok(deleted.rows_affected)
    }
}

/// What one attempt of an idempotent create found.
enum Stored {
    Inserted,
    Replay(idempotency_key::Model),
    DifferentRequest,
}

impl SeaTaskRepository {
    /// A compare-and-set matched nothing: on a retry, our first attempt may have committed.
    async fn retried_and_held(&self, attempt: u32, updated: &Task) -> Result<bool, DbErr> {
        if attempt > 1 { self.holds(updated).await } else { Ok(false) }
    }

    async fn insert_idempotent_once(
        &self,
        key: &IdempotencyKey,
        task: &Task,
        response: &StoredResponse,
        expired_before: DateTime<Utc>,
    ) -> Result<Stored, DbErr> {
        let txn = begin_write(&self.db).await?;
        let pk = (key.user.as_ref().to_owned(), key.scope.to_owned(), key.key.clone());
        // An expired key may be taken over once; a second conflict means another request
        // took it over at the same moment, and its record answers this one.
        // The response is known before anything is written (the task is complete), so the key
        // row carries it from the start: the create is the key, the task and a commit. The task
        // itself goes in `response_body` too, for instances of the build before `response`
        // existed, which replay from it (see the migration that added `response`).
        let legacy_body = serde_json::to_string(task).map_err(|e| DbErr::Custom(e.to_string()))?;
        let status = i16::try_from(response.status).map_err(|e| DbErr::Custom(e.to_string()))?;
        for attempt in 0..2 {
            let record = idempotency_key::ActiveModel {
                user_id: Set(pk.0.clone()),
                scope: Set(pk.1.clone()),
                key: Set(pk.2.clone()),
                request_hash: Set(key.request_hash.clone()),
                response_status: Set(Some(status)),
                response_body: Set(Some(legacy_body.clone())),
                response: Set(Some(response.body.clone())),
                resource_id: Set(Some(task.id)),
                created_at: Set(task.created_at),
            };
            // Concurrent requests with this key wait here on the primary key until the first
            // commits; then they see a conflict and replay its record.
            let inserted = idempotency_key::Entity::insert(record)
                .on_conflict_do_nothing_on([
                    idempotency_key::Column::UserId,
                    idempotency_key::Column::Scope,
                    idempotency_key::Column::Key,
                ])
                .exec_without_returning(&txn)
                .await?;
            if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                task::Entity::insert(to_active(task)).exec_without_returning(&txn).await?;
                commit(txn).await?;
                return Ok(Stored::Inserted);
            }
            let existing = idempotency_key::Entity::find_by_id(pk.clone())
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("idempotency record vanished".into()))?;
            if existing.created_at < expired_before && attempt == 0 {
                idempotency_key::Entity::delete_by_id(pk.clone()).exec(&txn).await?;
                continue;
            }
            rollback(txn).await?;
            if existing.request_hash != key.request_hash {
                return Ok(Stored::DifferentRequest);
            }
            return Ok(Stored::Replay(existing));
        }
        Err(DbErr::Custom("idempotency key could not be taken over".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

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
}
