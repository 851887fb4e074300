//! Tasks: the model and its rules, listing, the repository port and the service.

mod list;
mod model;
mod ports;
mod service;

pub use crate::DeleteOutcome;
pub use list::{Cursor, CursorKey, Direction, Sort, SortField, TaskFilter, TaskListQuery, TaskStats};
pub use model::{NewTask, NewTaskFields, Priority, Recurrence, Task, TaskPatch, TaskStatus};
pub use ports::{IdempotencyKey, IdempotentInsert, TaskRepository};
pub use service::{Created, TaskService};
