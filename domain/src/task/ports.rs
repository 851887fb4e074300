//! What the task service needs from storage. Implemented in `infrastructure`.

use super::list::{Cursor, TaskListQuery, TaskStats};
use super::model::Task;
use crate::DeleteOutcome;
use crate::error::RepositoryError;
use crate::page::Page;
use crate::user::UserId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An idempotency key as stored: unique per user and operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub user: UserId,
    /// The operation, e.g. `tasks.create`.
    pub scope: &'static str,
    pub key: String,
    /// A digest of the request, to tell a retry from a different request.
    pub request_hash: String,
}

/// What the caller answered to the first request under an idempotency key, kept with the key
/// so that a retry gets the same answer. Opaque to the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The first result a key replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// The response as the caller stored it, and the task it created.
    Response { task_id: Uuid, response: StoredResponse },
    /// The task itself, from a record written by a build that did not store responses yet
    /// (during a rolling upgrade from one); the caller renders it as it renders a new task.
    Task(Task),
}

/// What happened to a create under an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotentInsert {
    /// The key was new (or expired): the task was inserted and the key now points at it.
    Inserted,
    /// The key was used for the same request within its lifetime: the first result.
    Replay(Replay),
    /// The key was used for a different request.
    DifferentRequest,
}

/// Storage of tasks. Every method is scoped to one user; another user's task behaves exactly
/// like a missing one. Methods that must be atomic run one transaction.
#[async_trait::async_trait]
pub trait TaskRepository: Send + Sync + std::fmt::Debug {
    /// Inserts one task (one statement).
    async fn insert(&self, task: &Task) -> Result<(), RepositoryError>;

    /// Inserts the task unless `key` was already used within `ttl`, in one transaction, and
    /// keeps `response` with the key; the database's unique key decides between concurrent
    /// requests.
    async fn insert_idempotent(
        &self,
        key: &IdempotencyKey,
        task: &Task,
        response: &StoredResponse,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotentInsert, RepositoryError>;

    /// Inserts all tasks in one transaction, or none.
    async fn insert_many(&self, tasks: &[Task]) -> Result<(), RepositoryError>;

    /// A task that is not deleted, for a client to read: it may come from a read replica that
    /// holds every write acknowledged so far.
    async fn find(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError>;

    /// A task that is not deleted, as the primary holds it now: for a write that depends on it.
    async fn find_for_update(&self, user: &UserId, id: Uuid) -> Result<Option<Task>, RepositoryError>;

    /// Writes `updated` if the stored version is still `expected_version` (compare-and-set in
    /// the UPDATE itself) and, in the same transaction, inserts `next_occurrence` unless one
    /// already exists for this task. `false`: the task changed or vanished meanwhile.
    async fn update(
        &self,
        expected_version: i32,
        updated: &Task,
        next_occurrence: Option<&Task>,
    ) -> Result<bool, RepositoryError>;

    /// Soft-deletes a task that is not deleted, bumping its version.
    async fn soft_delete(
        &self,
        user: &UserId,
        id: Uuid,
        expected_version: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<DeleteOutcome, RepositoryError>;

    /// Restores a soft-deleted task, bumping its version; `None` when it is not deleted.
    async fn restore(&self, user: &UserId, id: Uuid, now: DateTime<Utc>) -> Result<Option<Task>, RepositoryError>;

    /// One page in the query's order, starting after its cursor.
    async fn list(
        &self,
        user: &UserId,
        query: &TaskListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Task, Cursor>, RepositoryError>;

    /// Counts computed by the database.
    async fn stats(&self, user: &UserId, now: DateTime<Utc>) -> Result<TaskStats, RepositoryError>;

    /// Deletes at most `limit` idempotency keys created before `expired_before`, in one
    /// statement; how many it deleted.
    async fn purge_expired_keys(&self, expired_before: DateTime<Utc>, limit: u64) -> Result<u64, RepositoryError>;
}
