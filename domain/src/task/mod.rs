//! Tasks: the model and its rules, listing, the repository port and the service.

pub mod input;
mod list;
mod model;
mod ports;
mod service;

pub use crate::DeleteOutcome;
pub use list::{Cursor, CursorKey, Direction, Sort, SortField, TaskFilter, TaskListQuery, TaskStats};
pub use model::{
    FIRST_VERSION, NewTask, NewTaskFields, Priority, Recurrence, Task, TaskPatch, TaskPatchFields, TaskStatus,
};
pub use ports::{IdempotencyKey, IdempotentInsert, Replay, StoredResponse, TaskRepository};
pub use service::{Created, Idempotency, TaskService};
