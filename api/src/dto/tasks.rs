//! Task requests and responses.

use super::body::{self, Field};
use super::{domain_enum_schema, serialize_optional_timestamp, serialize_timestamp};
use chrono::{DateTime, Utc};
use domain::ValidationErrors;
use domain::task::{
    NewTask, NewTaskFields, Priority, Recurrence, Sort, Task, TaskPatch, TaskPatchFields, TaskStats, TaskStatus, input,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, Type};

/// Fields the server owns: writing one is a 422, not a silent no-op.
const SERVER_OWNED: &[&str] = &["id", "user_id", "version", "created_at", "updated_at", "deleted_at", "completed_at"];
const STATUSES: &[&str] = &["pending", "in_progress", "completed"];
const PRIORITIES: &[&str] = &["low", "medium", "high"];
const RECURRENCES: &[&str] = &["daily", "weekly", "monthly"];

/// The body of `POST /api/v1/tasks` (and each item of a batch) as a checked [`NewTask`].
pub fn new_task(body: Value) -> Result<NewTask, ValidationErrors> {
    body::parse::<CreateTaskRequest, NewTask>(body, SERVER_OWNED)
}

/// The body of `POST /api/v1/tasks/batch`: `{"tasks": [...]}` with 1–1000 items, every
/// problem of every item reported as `tasks[i].field`.
pub fn new_tasks(body: Value) -> Result<Vec<NewTask>, ValidationErrors> {
    body::parse::<BatchRequest, Vec<NewTask>>(body, &[])
}

/// The body of `PATCH /api/v1/tasks/{id}`: a JSON merge patch of the writable fields.
pub fn task_patch(body: Value) -> Result<TaskPatch, ValidationErrors> {
    body::parse::<TaskPatchRequest, TaskPatch>(body, SERVER_OWNED)
}

impl TryFrom<CreateTaskRequest> for NewTask {
    type Error = ValidationErrors;

    fn try_from(request: CreateTaskRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let e = &mut errors;
        let title = request.title.required("title", "a string", e);
        let description = request.description.nullable("description", "a string", e);
        let status = request.status.optional("status", "a string", e);
        let status = body::one_of("status", status, TaskStatus::parse, STATUSES, e);
        let priority = request.priority.optional("priority", "a string", e);
        let priority = body::one_of("priority", priority, Priority::parse, PRIORITIES, e);
        let tags = request.tags.optional("tags", "an array of strings", e);
        let due_date = request.due_date.nullable("due_date", "an RFC 3339 timestamp", e);
        let due_date = body::timestamp("due_date", due_date.flatten(), e);
        let recurrence = request.recurrence.nullable("recurrence", "a string", e).flatten();
        let recurrence = body::one_of("recurrence", recurrence, Recurrence::parse, RECURRENCES, e);
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
}

impl TryFrom<BatchRequest> for Vec<NewTask> {
    type Error = ValidationErrors;

    fn try_from(request: BatchRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let Some(items) = request.tasks.required("tasks", "an array of tasks", &mut errors) else {
            return Err(errors);
        };
        if !(1..=input::BATCH_MAX).contains(&items.len()) {
            errors.add("tasks", "length", format!("must hold 1 to {} tasks", input::BATCH_MAX));
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
}

impl TryFrom<TaskPatchRequest> for TaskPatch {
    type Error = ValidationErrors;

    fn try_from(request: TaskPatchRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let e = &mut errors;
        let title = request.title.optional("title", "a string", e);
        let description = request.description.nullable("description", "a string", e);
        let status = request.status.optional("status", "a string", e);
        let status = body::one_of("status", status, TaskStatus::parse, STATUSES, e);
        let priority = request.priority.optional("priority", "a string", e);
        let priority = body::one_of("priority", priority, Priority::parse, PRIORITIES, e);
        let tags = request.tags.optional("tags", "an array of strings", e);
        let due_date = match request.due_date.nullable("due_date", "an RFC 3339 timestamp", e) {
            Some(Some(raw)) => body::timestamp("due_date", Some(raw), e).map(Some),
            other => other.map(|_| None),
        };
        let recurrence = match request.recurrence.nullable("recurrence", "a string", e) {
            Some(Some(raw)) => body::one_of("recurrence", Some(raw), Recurrence::parse, RECURRENCES, e).map(Some),
            other => other.map(|_| None),
        };
        let fields = TaskPatchFields { title, description, status, priority, tags, due_date, recurrence };
        TaskPatch::parse(errors.into_result(fields)?)
    }
}

domain_enum_schema!(
    /// `TaskStatus` in the document, from [`TaskStatus::ALL`].
    TaskStatusSchema as "TaskStatus" = TaskStatus::ALL.map(TaskStatus::as_str),
    "A task's status. `completed_at` is set when the status becomes `completed` and cleared when it leaves it."
);
domain_enum_schema!(
    /// `Priority` in the document, from [`Priority::ALL`].
    PrioritySchema as "Priority" = Priority::ALL.map(Priority::as_str),
    "A task's priority; sorts by rank: low < medium < high."
);
domain_enum_schema!(
    /// `Recurrence` in the document, from [`Recurrence::ALL`].
    RecurrenceSchema as "Recurrence" = Recurrence::ALL.map(Recurrence::as_str),
    "How a task repeats. Completing a recurring task that has a due date creates the next occurrence (same \
     title, description, priority, tags and recurrence; pending; due one period later, computed in UTC; a \
     monthly step from the 29th-31st clamps to the month's last day). Completing an already completed task, \
     or creating a task that is already completed, creates nothing more."
);
domain_enum_schema!(
    /// The `sort` values of the task list, from [`Sort::ALL`].
    TaskSortSchema as "TaskSort" = Sort::ALL,
    "List order; a leading `-` sorts descending. `priority` sorts by rank (low < medium < high). Tasks \
     without a due date sort last in both directions; ties are broken by id, so pages of any size agree."
);

/// A tag: 1-32 characters, stored and returned lowercased.
#[derive(Debug)]
pub struct TagSchema;

impl utoipa::PartialSchema for TagSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(input::TAG_MAX_CHARS))
            .pattern(Some(super::patterns::TAG))
            .description(Some(
                "1-32 characters (not bytes), at least one of them visible, no U+0000; stored and returned lowercased.",
            ))
            .into()
    }
}

impl ToSchema for TagSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Tag")
    }
}

fn create_title() -> utoipa::openapi::schema::Object {
    super::title_schema("1-200 characters after trimming; surrounding white space is removed. No U+0000.", false)
}

fn patch_title() -> utoipa::openapi::schema::Object {
    super::title_schema("1-200 characters after trimming. No U+0000.", false)
}

/// The body of `POST /api/v1/tasks`, and each item of `POST /api/v1/tasks/batch`.
///
/// Unknown fields (code `unknown_field`), server-owned fields such as `id`, `version`,
/// `created_at`, `user_id` (code `read_only`) and wrong JSON types (code `type`) are 422s.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    #[serde(default)]
    #[schema(schema_with = create_title, required = true)]
    pub title: Field<String>,
    /// At most 1000 characters, or `null`. No U+0000.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Field<String>,
    /// Defaults to `pending`.
    #[serde(default)]
    #[schema(value_type = TaskStatusSchema, required = false, default = "pending")]
    pub status: Field<String>,
    /// Defaults to `medium`.
    #[serde(default)]
    #[schema(value_type = PrioritySchema, required = false, default = "medium")]
    pub priority: Field<String>,
    /// Up to 10 tags as sent, lowercased; duplicates (after lowercasing) are stored once, in the order given.
    #[serde(default)]
    #[schema(value_type = Vec<TagSchema>, required = false, max_items = 10)]
    pub tags: Field<Vec<String>>,
    /// An RFC 3339 timestamp with any offset (stored as the instant), or `null`; the instant must
    /// lie within 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z (else code `range`).
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_date: Field<String>,
    /// `null` for a task that does not repeat.
    #[serde(default)]
    #[schema(value_type = Option<RecurrenceSchema>)]
    pub recurrence: Field<String>,
}

/// The body of `PATCH /api/v1/tasks/{id}`: a JSON merge patch (RFC 7396) of the writable fields.
///
/// An absent field is left as it is; `null` clears a nullable field (and is a 422 on one that
/// is not). A patch that changes nothing leaves `version` and `updated_at` as they were.
/// Unknown and server-owned fields are 422s, as on create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatchRequest {
    #[serde(default)]
    #[schema(schema_with = patch_title, required = false)]
    pub title: Field<String>,
    /// At most 1000 characters; `null` clears it. No U+0000.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Field<String>,
    #[serde(default)]
    #[schema(value_type = TaskStatusSchema, required = false)]
    pub status: Field<String>,
    #[serde(default)]
    #[schema(value_type = PrioritySchema, required = false)]
    pub priority: Field<String>,
    /// Replaces the tags: up to 10 as sent, lowercased, duplicates stored once.
    #[serde(default)]
    #[schema(value_type = Vec<TagSchema>, required = false, max_items = 10)]
    pub tags: Field<Vec<String>>,
    /// An RFC 3339 timestamp with any offset; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_date: Field<String>,
    /// `null` stops the repetition.
    #[serde(default)]
    #[schema(value_type = Option<RecurrenceSchema>)]
    pub recurrence: Field<String>,
}

/// The body of `POST /api/v1/tasks/batch`. All or nothing: one invalid item is a 422 naming
/// fields like `tasks[3].title` (every invalid item is listed) and nothing is written.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1-1000 tasks, each shaped like the body of `POST /api/v1/tasks`.
    #[serde(default)]
    #[schema(value_type = Vec<CreateTaskRequest>, required = true, min_items = 1, max_items = 1000)]
    pub tasks: Field<Vec<Value>>,
}

/// A task as the API returns it. Every field is always present; nullable ones are `null`
/// when unset.
// It borrows the task: a page of them serialises without copying a string.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse<'a> {
    /// A UUID v7 made by the server.
    pub id: uuid::Uuid,
    pub title: &'a str,
    /// `null` when there is none.
    #[schema(required = true, value_type = Option<String>)]
    pub description: Option<&'a str>,
    #[schema(value_type = TaskStatusSchema)]
    pub status: TaskStatus,
    #[schema(value_type = PrioritySchema)]
    pub priority: Priority,
    /// Lowercased, in the order given, without duplicates.
    #[schema(value_type = Vec<TagSchema>)]
    pub tags: &'a [String],
    /// The due instant, or `null`.
    #[serde(serialize_with = "serialize_optional_timestamp")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub due_date: Option<DateTime<Utc>>,
    #[schema(required = true, value_type = Option<RecurrenceSchema>)]
    pub recurrence: Option<Recurrence>,
    /// Set when the status became `completed`; `null` otherwise.
    #[serde(serialize_with = "serialize_optional_timestamp")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
    /// RFC 3339 in UTC with a `Z` suffix and microsecond precision, like every timestamp the API returns.
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Moves on every change; a patch that changes nothing leaves it as it was.
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Set while the task is soft-deleted (seen only with `include_deleted=true`).
    #[serde(serialize_with = "serialize_optional_timestamp")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// 1 on create, +1 on every change (soft delete and restore included). Sent as the `ETag`
    /// `"<version>"` and compared with `If-Match`.
    #[schema(minimum = 1)]
    pub version: i32,
}

impl<'a> From<&'a Task> for TaskResponse<'a> {
    fn from(t: &'a Task) -> Self {
        Self {
            id: t.id,
            title: &t.title,
            description: t.description.as_deref(),
            status: t.status,
            priority: t.priority,
            tags: &t.tags,
            due_date: t.due_date,
            recurrence: t.recurrence,
            completed_at: t.completed_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
            deleted_at: t.deleted_at,
            version: t.version,
        }
    }
}

/// A page of tasks: `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage<'a> {
    pub items: Vec<TaskResponse<'a>>,
    /// Opaque; pass it as `cursor` (with the same `sort`) for the next page. `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `{"items": [...]}` for a batch, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskBatch<'a> {
    pub items: Vec<TaskResponse<'a>>,
}

/// `GET /api/v1/tasks/stats`: counts over the caller's tasks that are not deleted, computed
/// in the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskStatsResponse {
    pub total: u64,
    #[schema(schema_with = status_counts)]
    pub by_status: BTreeMap<&'static str, u64>,
    #[schema(schema_with = priority_counts)]
    pub by_priority: BTreeMap<&'static str, u64>,
    /// Tasks due in the past that are not completed.
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

/// An object with one count per name, every name always present.
fn counts(names: &[&str], description: &str) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for name in names {
        object = object
            .property(
                *name,
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0)),
            )
            .required(*name);
    }
    object
}

fn status_counts() -> ObjectBuilder {
    counts(&TaskStatus::ALL.map(TaskStatus::as_str), "Tasks per status; every status is present.")
}

fn priority_counts() -> ObjectBuilder {
    counts(&Priority::ALL.map(Priority::as_str), "Tasks per priority; every priority is present.")
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
                "title:length",
                "tags[1]:length",
                "colour:unknown_field",
                "version:read_only"
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
        let due = DateTime::parse_from_rfc3339("2025-01-01T08:00:00Z").expect("instant").with_timezone(&Utc);
        let expected =
            TaskPatchFields { description: Some(None), due_date: Some(Some(due)), ..TaskPatchFields::default() };
        assert_eq!(patch, TaskPatch::parse(expected).expect("valid"), "title absent, description null, due date set");
        let errors = task_patch(json!({"title": null, "status": null, "tags": null, "id": "x"})).expect_err("invalid");
        assert_eq!(fields(&errors), ["title:type", "status:type", "tags:type", "id:read_only"]);
    }

    mod documented_schemas {
        use super::*;
        use crate::dto::doc_tests::{assert_schema_matches_parser, schema_of};

        fn full_task() -> Value {
            json!({
                "title": "t", "description": "d", "status": "in_progress", "priority": "high", "tags": ["a"],
                "due_date": "2025-01-01T00:00:00+02:00", "recurrence": "weekly"
            })
        }

        #[test]
        fn the_create_schema_is_what_the_parser_accepts() {
            assert_schema_matches_parser(
                &schema_of::<CreateTaskRequest>(),
                body::declared_fields::<CreateTaskRequest>(),
                new_task,
                |e| e,
                json!({"title": "t"}),
                full_task(),
            );
        }

        #[test]
        fn the_patch_schema_is_what_the_parser_accepts() {
            assert_schema_matches_parser(
                &schema_of::<TaskPatchRequest>(),
                body::declared_fields::<TaskPatchRequest>(),
                task_patch,
                |e| e,
                json!({}),
                full_task(),
            );
        }

        #[test]
        fn the_batch_schema_is_what_the_parser_accepts() {
            let schema = schema_of::<BatchRequest>();
            assert_eq!(schema["properties"]["tasks"]["items"]["$ref"], "#/components/schemas/CreateTaskRequest");
            assert_schema_matches_parser(
                &schema,
                body::declared_fields::<BatchRequest>(),
                new_tasks,
                |e| e,
                json!({"tasks": [{"title": "t"}]}),
                json!({"tasks": [full_task()]}),
            );
        }

        #[test]
        fn every_documented_enum_value_is_accepted() {
            for (field, values) in [
                ("status", schema_of::<TaskStatusSchema>()),
                ("priority", schema_of::<PrioritySchema>()),
                ("recurrence", schema_of::<RecurrenceSchema>()),
            ] {
                let values = values["enum"].as_array().expect("enum values").clone();
                assert!(!values.is_empty());
                for value in values {
                    assert!(new_task(json!({"title": "t", field: value})).is_ok(), "{field}={value}");
                }
            }
        }

        #[test]
        fn a_response_serialises_to_its_documented_properties() {
            let task = new_task(full_task()).expect("valid").into_task(
                &domain::UserId::parse("u".to_owned()).expect("user"),
                uuid::Uuid::now_v7(),
                Utc::now(),
            );
            let value = serde_json::to_value(TaskResponse::from(&task)).expect("json");
            let schema = schema_of::<TaskResponse<'_>>();
            let keys: std::collections::BTreeSet<String> = value.as_object().expect("object").keys().cloned().collect();
            assert_eq!(keys, crate::dto::doc_tests::properties(&schema));
            assert_eq!(keys, crate::dto::doc_tests::required(&schema), "every field is always present");
        }
    }
}
