//! Listing tasks: filters, sort orders, keyset positions and pages, and the stats summary.

use super::model::{Priority, Task, TaskStatus};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a list can be sorted by. Ties are always broken by `id` in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Asc,
    Desc,
}

/// A sort order as the API spells it: `created_at`, `-created_at`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sort {
    pub field: SortField,
    pub direction: Direction,
}

impl Default for Sort {
    fn default() -> Self {
        Self { field: SortField::CreatedAt, direction: Direction::Desc }
    }
}

impl Sort {
    pub const ALL: [&'static str; 8] =
        ["created_at", "-created_at", "updated_at", "-updated_at", "due_date", "-due_date", "priority", "-priority"];

    pub fn parse(value: &str) -> Option<Self> {
        let (direction, name) = match value.strip_prefix('-') {
            Some(name) => (Direction::Desc, name),
            None => (Direction::Asc, value),
        };
        let field = match name {
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            "due_date" => SortField::DueDate,
            "priority" => SortField::Priority,
            _ => return None,
        };
        Some(Self { field, direction })
    }

    pub fn as_str(self) -> &'static str {
        let index = match self.field {
            SortField::CreatedAt => 0,
            SortField::UpdatedAt => 2,
            SortField::DueDate => 4,
            SortField::Priority => 6,
        };
        Self::ALL[index + usize::from(self.direction == Direction::Desc)]
    }
}

/// Which tasks a list includes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<TaskStatus>,
    pub priority: Option<Priority>,
    /// Tasks carrying this (lowercased) tag.
    pub tag: Option<String>,
    /// A case-insensitive literal substring of the title or description.
    pub q: Option<String>,
    /// Due strictly before / after these instants.
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    /// `Some(true)`: only overdue tasks; `Some(false)`: only tasks that are not overdue.
    pub overdue: Option<bool>,
    pub include_deleted: bool,
}

/// The sort key of the last row of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorKey {
    Time(DateTime<Utc>),
    Rank(i16),
    /// The row had no due date (those sort last in both directions).
    NoDueDate,
}

/// A keyset position: the next page starts strictly after this row in this sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub sort: Sort,
    pub key: CursorKey,
    pub id: Uuid,
}

impl Cursor {
    /// The position right after `task` in `sort` order.
    pub fn after(task: &Task, sort: Sort) -> Self {
        let key = match sort.field {
            SortField::CreatedAt => CursorKey::Time(task.created_at),
            SortField::UpdatedAt => CursorKey::Time(task.updated_at),
            SortField::DueDate => task.due_date.map_or(CursorKey::NoDueDate, CursorKey::Time),
            SortField::Priority => CursorKey::Rank(task.priority.rank()),
        };
        Self { sort, key, id: task.id }
    }

    /// Whether the key has the type the sort field needs (a decoded cursor may not).
    pub fn is_consistent(&self) -> bool {
        matches!(
            (self.sort.field, self.key),
            (SortField::CreatedAt | SortField::UpdatedAt, CursorKey::Time(_))
                | (SortField::DueDate, CursorKey::Time(_) | CursorKey::NoDueDate)
                | (SortField::Priority, CursorKey::Rank(1..=3))
        )
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskListQuery {
    pub filter: TaskFilter,
    pub sort: Sort,
    /// 1–100.
    pub limit: u64,
    pub after: Option<Cursor>,
}

/// Counts over a user's tasks that are not deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStats {
    pub total: u64,
    /// Every status, zero included.
    pub by_status: BTreeMap<TaskStatus, u64>,
    /// Every priority, zero included.
    pub by_priority: BTreeMap<Priority, u64>,
    pub overdue: u64,
}

impl TaskStats {
    /// All counts zero, every key present.
    pub fn empty() -> Self {
        Self {
            total: 0,
            by_status: TaskStatus::ALL.into_iter().map(|s| (s, 0)).collect(),
            by_priority: Priority::ALL.into_iter().map(|p| (p, 0)).collect(),
            overdue: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_and_print_as_the_api_spells_them() {
        for name in Sort::ALL {
            assert_eq!(Sort::parse(name).map(Sort::as_str), Some(name));
        }
        assert_eq!(Sort::default().as_str(), "-created_at");
        assert_eq!(Sort::parse("title"), None);
        assert_eq!(Sort::parse("--created_at"), None);
    }

    #[test]
    fn a_cursor_key_must_fit_its_sort_field() {
        let id = Uuid::now_v7();
        let sort = |s| Sort::parse(s).expect("sort");
        assert!(Cursor { sort: sort("priority"), key: CursorKey::Rank(2), id }.is_consistent());
        assert!(!Cursor { sort: sort("priority"), key: CursorKey::Rank(7), id }.is_consistent());
        assert!(!Cursor { sort: sort("created_at"), key: CursorKey::NoDueDate, id }.is_consistent());
        assert!(Cursor { sort: sort("-due_date"), key: CursorKey::NoDueDate, id }.is_consistent());
    }
}
