//! Task requests and responses.

use super::{optional_timestamp, timestamp};
use crate::extract::ObjectReader;
use chrono::{DateTime, Utc};
use domain::ValidationErrors;
use domain::task::{NewTask, NewTaskFields, Priority, Recurrence, Task, TaskPatch, TaskStats, TaskStatus};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields the server owns: writing one is a 422, not a silent no-op.
const SERVER_OWNED: &[&str] = &["id", "user_id", "version", "created_at", "updated_at", "deleted_at", "completed_at"];
const STATUSES: &[&str] = &["pending", "in_progress", "completed"];
const PRIORITIES: &[&str] = &["low", "medium", "high"];
const RECURRENCES: &[&str] = &["daily", "weekly", "monthly"];

/// The body of `POST /api/v1/tasks` (and each item of a batch) as a checked [`NewTask`].
pub fn new_task(body: Value) -> Result<NewTask, ValidationErrors> {
    let mut reader = ObjectReader::new(body)?;
    let title: Option<String> = reader.required("title", "a string");
    let description: Option<Option<String>> = reader.nullable("description", "a string");
    let status = reader.optional::<String>("status", "a string");
    let status = reader.parse_with("status", status, TaskStatus::parse, STATUSES);
    let priority = reader.optional::<String>("priority", "a string");
    let priority = reader.parse_with("priority", priority, Priority::parse, PRIORITIES);
    let tags: Option<Vec<String>> = reader.optional("tags", "an array of strings");
    let due_date = reader.nullable::<String>("due_date", "an RFC 3339 timestamp");
    let due_date = due_date.and_then(|d| reader.timestamp("due_date", d));
    let recurrence = reader.nullable::<String>("recurrence", "a string");
    let recurrence = recurrence.flatten();
    let recurrence = reader.parse_with("recurrence", recurrence, Recurrence::parse, RECURRENCES);
    let mut errors = reader.finish(SERVER_OWNED);
    let fields = NewTaskFields {
        title: title.unwrap_or_default(),
        description: description.flatten(),
        status,
        priority,
        tags,
        due_date,
        recurrence,
    };
    match NewTask::parse(fields) {
        // Rule errors on a field already reported as missing or mistyped would only repeat it.
        Err(rules) => {
            let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
            for e in rules
                .iter()
                .filter(|e| !reported.iter().any(|r| e.field == *r || e.field.starts_with(&format!("{r}["))))
            {
                errors.add(e.field.clone(), e.code.clone(), e.message.clone());
            }
            Err(errors)
        }
        Ok(task) => errors.into_result(task),
    }
}

/// The body of `POST /api/v1/tasks/batch`: `{"tasks": [...]}` with 1–1000 items, every
/// problem of every item reported as `tasks[i].field`.
pub fn new_tasks(body: Value) -> Result<Vec<NewTask>, ValidationErrors> {
    let mut reader = ObjectReader::new(body)?;
    let items: Option<Vec<Value>> = reader.required("tasks", "an array of tasks");
    let mut errors = reader.finish(&[]);
    let Some(items) = items else { return Err(errors) };
    if !(1..=1000).contains(&items.len()) {
        errors.add("tasks", "length", "must hold 1 to 1000 tasks");
        return Err(errors);
    }
    let mut tasks = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match new_task(item) {
            Ok(task) => tasks.push(task),
            Err(item_errors) => errors.extend_prefixed(&format!("tasks[{index}]."), item_errors),
        }
    }
    errors.into_result(tasks)
}

/// The body of `PATCH /api/v1/tasks/{id}`: a JSON merge patch of the writable fields.
pub fn task_patch(body: Value) -> Result<TaskPatch, ValidationErrors> {
    let mut reader = ObjectReader::new(body)?;
    let title = reader.optional::<String>("title", "a string");
    let description = reader.nullable::<String>("description", "a string");
    let status = reader.optional::<String>("status", "a string");
    let status = reader.parse_with("status", status, TaskStatus::parse, STATUSES);
    let priority = reader.optional::<String>("priority", "a string");
    let priority = reader.parse_with("priority", priority, Priority::parse, PRIORITIES);
    let tags = reader.optional::<Vec<String>>("tags", "an array of strings");
    let due_date = match reader.nullable::<String>("due_date", "an RFC 3339 timestamp") {
        Some(Some(raw)) => reader.timestamp("due_date", Some(raw)).map(Some),
        other => other.map(|_| None),
    };
    let recurrence = match reader.nullable::<String>("recurrence", "a string") {
        Some(Some(raw)) => reader.parse_with("recurrence", Some(raw), Recurrence::parse, RECURRENCES).map(Some),
        other => other.map(|_| None),
    };
    let errors = reader.finish(SERVER_OWNED);
    let patch = TaskPatch { title, description, status, priority, tags, due_date, recurrence };
    let patch = errors.into_result(patch)?;
    TaskPatch::parse(patch)
}

/// A task as the API returns it.
#[derive(Debug, Serialize)]
pub struct TaskResponse {
    pub id: uuid::Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_date: Option<String>,
    pub recurrence: Option<Recurrence>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub version: i32,
}

impl From<&Task> for TaskResponse {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id,
            title: t.title.clone(),
            description: t.description.clone(),
            status: t.status,
            priority: t.priority,
            tags: t.tags.clone(),
            due_date: optional_timestamp(&t.due_date),
            recurrence: t.recurrence,
            completed_at: optional_timestamp(&t.completed_at),
            created_at: timestamp(&t.created_at),
            updated_at: timestamp(&t.updated_at),
            deleted_at: optional_timestamp(&t.deleted_at),
            version: t.version,
        }
    }
}

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize)]
pub struct TaskPage {
    pub items: Vec<TaskResponse>,
    pub next_cursor: Option<String>,
}

/// `{"items": [...]}` for a batch.
#[derive(Debug, Serialize)]
pub struct TaskBatch {
    pub items: Vec<TaskResponse>,
}

/// `GET /api/v1/tasks/stats`.
#[derive(Debug, Serialize)]
pub struct TaskStatsResponse {
    pub total: u64,
    pub by_status: BTreeMap<&'static str, u64>,
    pub by_priority: BTreeMap<&'static str, u64>,
    pub overdue: u64,
}

impl From<&TaskStats> for TaskStatsResponse {
    fn from(s: &TaskStats) -> Self {
        Self {
            total: s.total,
            by_status: s.by_status.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            by_priority: s.by_priority.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            overdue: s.overdue,
        }
    }
}

/// Parses `?due_before=` style instants.
pub fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &ValidationErrors) -> Vec<String> {
        errors.iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn a_minimal_task_parses() {
        assert!(new_task(json!({"title": "x"})).is_ok());
    }

    #[test]
    fn every_problem_of_a_task_body_is_reported_once() {
        let errors = new_task(json!({
            "title": "   ", "status": "done", "priority": 3, "tags": ["ok", ""], "due_date": "tomorrow",
            "version": 4, "colour": "red"
        }))
        .expect_err("invalid");
        assert_eq!(
            fields(&errors),
            [
                "status:one_of",
                "priority:type",
                "due_date:format",
                "colour:unknown_field",
                "version:read_only",
                "title:length",
                "tags[1]:length"
            ]
        );
        let errors = new_task(json!({"title": 7})).expect_err("invalid");
        assert_eq!(fields(&errors), ["title:type"], "no second error for the same field");
    }

    #[test]
    fn batch_items_are_reported_with_their_index() {
        let errors = new_tasks(json!({"tasks": [{"title": "ok"}, {"title": ""}, {"nope": 1}]})).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            ["tasks[1].title:length", "tasks[2].title:required", "tasks[2].nope:unknown_field"]
        );
        assert_eq!(fields(&new_tasks(json!({"tasks": []})).expect_err("empty")), ["tasks:length"]);
        assert_eq!(fields(&new_tasks(json!([])).expect_err("not an object")), ["$:type"]);
    }

    #[test]
    fn a_patch_distinguishes_absent_null_and_values() {
        let patch = task_patch(json!({"description": null, "due_date": "2025-01-01T10:00:00+02:00"})).expect("valid");
        assert_eq!(patch.description, Some(None));
        assert_eq!(patch.due_date.flatten().map(|d| d.to_rfc3339()), Some("2025-01-01T08:00:00+00:00".into()));
        assert_eq!(patch.title, None);
        let errors = task_patch(json!({"title": null, "status": null, "tags": null, "id": "x"})).expect_err("invalid");
        assert_eq!(fields(&errors), ["title:type", "status:type", "tags:type", "id:read_only"]);
    }
}
