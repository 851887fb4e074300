//! The task service: the use cases of the tasks API, over a [`TaskRepository`].

use super::list::{Cursor, TaskListQuery, TaskStats};
use super::model::{NewTask, Task, TaskPatch};
use super::ports::{IdempotencyKey, IdempotentInsert, Replay, StoredResponse, TaskRepository};
use crate::DeleteOutcome;
use crate::clock::Clock;
use crate::error::{DomainError, Result};
use crate::page::Page;
use crate::user::UserId;
use chrono::Duration;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// How long an idempotency key keeps its first response.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// Idempotency keys deleted per statement when purging: small enough that one purge never
/// holds many row locks or a long transaction.
pub const PURGE_BATCH: u64 = 1000;
/// Batches one purge runs at most; the next purge goes on where it stopped.
const PURGE_BATCHES: usize = 100;
/// Attempts at a read-modify-write without `If-Match` before giving up with a conflict. Each
/// round at least one concurrent writer wins, so this many writers on one task all succeed.
const UPDATE_ATTEMPTS: usize = 16;

/// What a create answers: the new task, or the first result of an earlier create with the
/// same idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    New(Task),
    Replayed(Replay),
}

/// A create's idempotency key, the digest of its request, and how the caller answers a
/// created task (kept with the key, so that a retry gets exactly that answer).
pub struct Idempotency<'a> {
    pub key: String,
    pub request_hash: String,
    pub respond: &'a (dyn Fn(&Task) -> StoredResponse + Sync),
}

impl std::fmt::Debug for Idempotency<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency").field("key", &self.key).field("request_hash", &self.request_hash).finish()
    }
}

#[derive(Clone, Debug)]
pub struct TaskService {
    repo: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
    /// Whether a key was written since the last purge (see [`TaskService::purge_expired_keys`]).
    keys_written: Arc<AtomicBool>,
}

impl TaskService {
    pub fn new(repo: Arc<dyn TaskRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock, keys_written: Arc::default() }
    }

    /// Creates a task. With an idempotency key (and the request's digest), a retry within
    /// [`IDEMPOTENCY_TTL`] returns the first result and writes nothing; the same key with a
    /// different request is refused.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn create(&self, user: &UserId, new: NewTask, idempotency: Option<Idempotency<'_>>) -> Result<Created> {
        let now = self.clock.now();
        let task = new.into_task(user, Uuid::now_v7(), now);
        let Some(Idempotency { key, request_hash, respond }) = idempotency else {
            self.repo.insert(&task).await?;
            return Ok(Created::New(task));
        };
        let key = IdempotencyKey { user: user.clone(), scope: "tasks.create", key, request_hash };
        self.keys_written.store(true, Ordering::Relaxed);
        let response = respond(&task);
        match self.repo.insert_idempotent(&key, &task, &response, now - IDEMPOTENCY_TTL).await? {
            IdempotentInsert::Inserted => Ok(Created::New(task)),
            IdempotentInsert::Replay(first) => Ok(Created::Replayed(first)),
            IdempotentInsert::DifferentRequest => Err(DomainError::IdempotencyKeyReused),
        }
    }

    /// Creates every task or none.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, count = new.len()))]
    pub async fn create_many(&self, user: &UserId, new: Vec<NewTask>) -> Result<Vec<Task>> {
        let now = self.clock.now();
        let tasks: Vec<Task> = new.into_iter().map(|n| n.into_task(user, Uuid::now_v7(), now)).collect();
        self.repo.insert_many(&tasks).await?;
        Ok(tasks)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn get(&self, user: &UserId, id: Uuid) -> Result<Task> {
        self.repo.find(user, id).await?.ok_or(DomainError::NotFound)
    }

    /// Applies a merge patch. With `if_match`, a stale version is refused and nothing changes.
    /// Without it, a concurrent change makes the patch re-apply to the newer version. Either
    /// way the write is a compare-and-set on `version`, so two writers never both win.
    /// Completing a recurring task with a due date creates its next occurrence in the same
    /// transaction, at most once per task.
    #[tracing::instrument(level = "debug", skip(self, patch), fields(user = %user))]
    pub async fn update(&self, user: &UserId, id: Uuid, patch: TaskPatch, if_match: Option<i32>) -> Result<Task> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.repo.find_for_update(user, id).await?.ok_or(DomainError::NotFound)?;
            if let Some(expected) = if_match.filter(|v| *v != current.version) {
                return Err(DomainError::PreconditionFailed { expected, current: current.version });
            }
            let now = self.clock.now();
            let Some(updated) = current.apply(&patch, now) else {
                return Ok(current);
            };
            let next = if updated.completes(&current) { updated.next_occurrence(Uuid::now_v7(), now) } else { None };
            if self.repo.update(current.version, &updated, next.as_ref()).await? {
                return Ok(updated);
            }
            if let Some(expected) = if_match {
                let current = self.repo.find_for_update(user, id).await?.ok_or(DomainError::NotFound)?;
                return Err(DomainError::PreconditionFailed { expected, current: current.version });
            }
        }
        Err(DomainError::Conflict("the task kept changing while it was being updated; retry".into()))
    }

    /// Soft-deletes a task (it can be restored).
    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn delete(&self, user: &UserId, id: Uuid, if_match: Option<i32>) -> Result<()> {
        match self.repo.soft_delete(user, id, if_match, self.clock.now()).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(DomainError::NotFound),
            DeleteOutcome::VersionMismatch { current } => {
                Err(DomainError::PreconditionFailed { expected: if_match.unwrap_or_default(), current })
            }
        }
    }

    /// Restores a soft-deleted task.
    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn restore(&self, user: &UserId, id: Uuid) -> Result<Task> {
        self.repo.restore(user, id, self.clock.now()).await?.ok_or(DomainError::NotFound)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn list(&self, user: &UserId, query: &TaskListQuery) -> Result<Page<Task, Cursor>> {
        Ok(self.repo.list(user, query, self.clock.now()).await?)
    }

    /// Deletes the idempotency keys past [`IDEMPOTENCY_TTL`], [`PURGE_BATCH`] at a time, if a
    /// key was written through this service since its last purge: storage then holds only the
    /// keys of the last day (plus one purge interval), and an instance that serves no creates
    /// never touches the database for it (an idle Neon compute stays suspended). Expired keys
    /// are never answered from, purged or not. How many were deleted.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn purge_expired_keys(&self) -> Result<u64> {
        if !self.keys_written.swap(false, Ordering::Relaxed) {
            return Ok(0);
        }
        let mut purged = 0;
        for _ in 0..PURGE_BATCHES {
            let deleted = match self.repo.purge_expired_keys(self.clock.now() - IDEMPOTENCY_TTL, PURGE_BATCH).await {
                Ok(deleted) => deleted,
                Err(error) => {
                    // Try again at the next purge.
                    self.keys_written.store(true, Ordering::Relaxed);
                    return Err(error.into());
                }
            };
            purged += deleted;
            if deleted < PURGE_BATCH {
                return Ok(purged);
            }
        }
        self.keys_written.store(true, Ordering::Relaxed);
        Ok(purged)
    }

    #[tracing::instrument(level = "debug", skip(self), fields(user = %user))]
    pub async fn stats(&self, user: &UserId) -> Result<TaskStats> {
        Ok(self.repo.stats(user, self.clock.now()).await?)
    }
}
