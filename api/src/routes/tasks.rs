//! `/api/v1/tasks`.

use crate::auth::Caller;
use crate::dto::cursor;
use crate::dto::tasks::{
    self as dto, BatchRequest, CreateTaskRequest, PrioritySchema, TaskBatch, TaskPage, TaskPatchRequest, TaskResponse,
    TaskSortSchema, TaskStatsResponse, TaskStatusSchema,
};
use crate::error::ApiError;
use crate::extract::{
    JsonBody, QueryParams, flag, idempotency_key, if_match, limit, parse_query, path_id, request_digest,
};
use crate::openapi::responses::{
    BadRequest, Conflict, DatabaseUnavailable, Internal, NotFound, PayloadTooLarge, PreconditionFailed, Unauthorized,
    UnsupportedMediaType, ValidationFailed,
};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ValidationErrors;
use domain::task::{
    Created, Cursor, FIRST_VERSION, Idempotency, Priority, Replay, Sort, StoredResponse, Task, TaskFilter,
    TaskListQuery, TaskService, TaskStatus, input,
};
use utoipa::IntoParams;

fn with_etag(mut response: HttpResponse, version: i32) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A task's JSON, as every response for one task carries it.
fn task_body(task: &Task) -> Vec<u8> {
    serde_json::to_vec(&TaskResponse::from(task)).unwrap_or_default()
}

fn task_response(status: actix_web::http::StatusCode, task: &domain::task::Task) -> HttpResponse {
    with_etag(HttpResponse::build(status).json(TaskResponse::from(task)), task.version)
}

/// Create a task
///
/// Answers 201 with the task, `Location: /api/v1/tasks/{id}` and its `ETag`. With an
/// `Idempotency-Key` the create is safe to retry: the same key from the same user within 24
/// hours answers with the first response (same id, `Idempotent-Replayed: true`) and writes
/// nothing new; concurrent requests with one key create exactly one task (later ones wait for
/// the first and replay it); the same key with a different body is a 422 (`reused` on
/// `Idempotency-Key`); a key outside 1-255 characters is a 400. Creating a task that is
/// already `completed` sets `completed_at` and creates no next occurrence.
#[utoipa::path(
    post,
    path = "/api/v1/tasks",
    operation_id = "create_task",
    tag = "tasks",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
            pattern = r"^[\t -~]+$",
            description = "1-255 characters; makes the create safe to retry for 24 hours (per user)."),
    ),
    request_body(content((CreateTaskRequest = "application/json")),
        description = "The task. Any `application/*+json` media type is accepted too."),
    responses(
        (status = 201, description = "Created (or, with a replayed `Idempotency-Key`, the first response again).",
            body = TaskResponse, headers(
                ("Location" = String, description = "`/api/v1/tasks/{id}`"),
                ("ETag" = String, description = "`\"<version>\"`"),
                ("Idempotent-Replayed" = String, description = "`true` when this is a replay of an earlier create with the same `Idempotency-Key`; absent otherwise."),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn create(
    caller: Caller,
    service: web::Data<TaskService>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body = body.into_value();
    let keyed = key.map(|key| (key, request_digest(&body)));
    let new = dto::new_task(body)?;
    // What a keyed create answers is kept with its key, byte for byte, for its retries.
    let respond = |task: &Task| StoredResponse { status: StatusCode::CREATED.as_u16(), body: task_body(task) };
    let idempotency = keyed.map(|(key, request_hash)| Idempotency { key, request_hash, respond: &respond });
    let (status, id, version, body, replayed) = match service.create(&caller.user, new, idempotency).await? {
        Created::New(task) => (StatusCode::CREATED, task.id, task.version, task_body(&task), false),
        Created::Replayed(Replay::Response { task_id, response }) => {
            let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::CREATED);
            (status, task_id, FIRST_VERSION, response.body, true)
        }
        Created::Replayed(Replay::Task(task)) => (StatusCode::CREATED, task.id, task.version, task_body(&task), true),
    };
    let mut response = with_etag(HttpResponse::build(status).content_type("application/json").body(body), version);
    if let Ok(value) = HeaderValue::from_str(&format!("/api/v1/tasks/{id}")) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Create up to 1000 tasks at once
///
/// All or nothing: one invalid item is a 422 whose `errors` name fields like
/// `tasks[3].title` (every invalid item is listed) and nothing is written. Answers 201 with
/// the tasks in the order given.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/batch",
    operation_id = "create_tasks",
    tag = "tasks",
    security(("bearer" = [])),
    request_body(content((BatchRequest = "application/json")),
        description = "`{\"tasks\": [...]}` with 1-1000 tasks. Any `application/*+json` media type is accepted too."),
    responses(
        (status = 201, description = "Every task was created.", body = TaskBatch),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn create_batch(
    caller: Caller,
    service: web::Data<TaskService>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // Checking a thousand items is heavy work, like parsing them was: on the parse's turn.
    let new = body.check(dto::new_tasks).await??;
    let tasks = service.create_many(&caller.user, new).await?;
    Ok(HttpResponse::Created().json(TaskBatch { items: tasks.iter().map(TaskResponse::from).collect() }))
}

/// Get a task
///
/// A soft-deleted task is 404 here (list with `include_deleted=true` to see it).
#[utoipa::path(
    get,
    path = "/api/v1/tasks/{id}",
    operation_id = "get_task",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id. A malformed id answers 404, like a missing task or another user's.")),
    responses(
        (status = 200, description = "The task.", body = TaskResponse,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn get(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = service.get(&caller.user, path_id(&id)?).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// Update a task (JSON merge patch)
///
/// A JSON merge patch (RFC 7396) of the writable fields: an absent field is left as it is,
/// `null` clears a nullable field. A patch that changes nothing leaves `version` and
/// `updated_at` as they were; any change adds 1 to `version`. Entering `completed` sets
/// `completed_at` (and, for a recurring task with a due date, creates the next occurrence);
/// leaving it clears it. With `If-Match`, a stale version is a 412 and nothing changes;
/// without it, a patch that races another writer is re-applied to the newer version (409 only
/// if the task keeps changing). A soft-deleted task is 404.
#[utoipa::path(
    patch,
    path = "/api/v1/tasks/{id}",
    operation_id = "update_task",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id. A malformed id answers 404, like a missing task or another user's."), ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"",
            description = "`\"<version>\"` (the task's `ETag`): the request applies only to that version, else 412 and nothing changes. `*` or no header: no condition. Anything else is a 400.")),
    request_body(content(
        (TaskPatchRequest = "application/merge-patch+json"),
        (TaskPatchRequest = "application/json"),
    ), description = "The merge patch. Any `application/*+json` media type is accepted."),
    responses(
        (status = 200, description = "The task after the patch.", body = TaskResponse,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn update(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    // A body that could never apply is a 422 whatever version If-Match names.
    let patch = dto::task_patch(body.into_value())?;
    let expected = if_match(&req)?;
    let task = service.update(&caller.user, id, patch, expected).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// Delete a task (soft)
///
/// Sets `deleted_at` and adds 1 to `version`; the task can be restored. Deleting it again
/// is a 404.
#[utoipa::path(
    delete,
    path = "/api/v1/tasks/{id}",
    operation_id = "delete_task",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id. A malformed id answers 404, like a missing task or another user's."), ("If-Match" = Option<String>, Header, nullable = false, example = "\"3\"",
            description = "`\"<version>\"` (the task's `ETag`): the request applies only to that version, else 412 and nothing changes. `*` or no header: no condition. Anything else is a 400.")),
    responses(
        (status = 204, description = "Soft-deleted."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn delete(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    service.delete(&caller.user, id, if_match(&req)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a soft-deleted task
///
/// Clears `deleted_at` and adds 1 to `version`. A task that is not soft-deleted is a 404.
/// Takes no body.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/{id}/restore",
    operation_id = "restore_task",
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id. A malformed id answers 404, like a missing task or another user's.")),
    responses(
        (status = 200, description = "The restored task.", body = TaskResponse,
            headers(("ETag" = String, description = "`\"<version>\"`"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn restore(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = service.restore(&caller.user, path_id(&id)?).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// Task statistics
///
/// Counts over the caller's tasks, deleted ones excluded, computed in the database (GROUP BY):
/// the total, per status, per priority (every status and priority present, 0 when none) and
/// overdue (due in the past, not completed).
#[utoipa::path(
    get,
    path = "/api/v1/tasks/stats",
    operation_id = "task_stats",
    tag = "tasks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts.", body = TaskStatsResponse),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn stats(caller: Caller, service: web::Data<TaskService>) -> Result<HttpResponse, ApiError> {
    let stats = service.stats(&caller.user).await?;
    Ok(HttpResponse::Ok().json(TaskStatsResponse::from(&stats)))
}

/// List tasks
///
/// A page of the caller's tasks, filtered and sorted. Paging is keyset-based: walking all
/// pages with `next_cursor` while rows are inserted never repeats or skips a row that existed
/// when the walk began. Parameters are strict: an unknown or repeated parameter (other than
/// `status`), a bad value or a bad cursor is a 400 listing every problem.
#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    operation_id = "list_tasks",
    tag = "tasks",
    security(("bearer" = [])),
    params(TaskListParams),
    responses(
        (status = 200, description = "A page of tasks.", body = TaskPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub async fn list(caller: Caller, service: web::Data<TaskService>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = list_query(req.query_string())?;
    let page = service.list(&caller.user, &query).await?;
    let sort = query.sort;
    let body = crate::dto::page_json(&page, TaskResponse::from, |t| Cursor::after(t, sort), cursor::encode);
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

/// The query parameters of `GET /api/v1/tasks`, as the document shows them and the route
/// reads them ([`list_query`]).
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// Tasks with any of these statuses; repeat the parameter for several
    /// (`status=pending&status=in_progress`). Absent: any status.
    #[param(value_type = Vec<TaskStatusSchema>, required = false, explode, style = Form)]
    pub status: Vec<TaskStatus>,
    /// Tasks with this priority.
    #[param(value_type = PrioritySchema, required = false)]
    pub priority: Option<Priority>,
    /// Tasks carrying this tag (1-32 characters, matched lowercased; no U+0000).
    #[param(value_type = String, required = false, min_length = 1, max_length = 32, pattern = r"^[^\u0000]*$")]
    pub tag: Option<String>,
    /// A case-insensitive literal substring of the title or description (`%` and `_` match
    /// themselves; case is folded by Unicode's lowercase mapping, on every database); at most
    /// 200 characters; empty means no filter. On PostgreSQL a term of three characters or more
    /// is looked up in a trigram index, and one holding five digits in a row also by its
    /// numbers; a shorter one (and any on SQLite) is matched by reading
    /// the caller's tasks in list order until the page is full, which is slow for a rare term
    /// among very many tasks.
    #[param(
        value_type = String,
        required = false,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    pub q: Option<String>,
    /// Tasks due before this instant (RFC 3339; exclusive; within 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z,
    /// else a 400 `range`).
    #[param(value_type = chrono::DateTime<chrono::Utc>, required = false)]
    pub due_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Tasks due after this instant (RFC 3339; exclusive; within the same range).
    #[param(value_type = chrono::DateTime<chrono::Utc>, required = false)]
    pub due_after: Option<chrono::DateTime<chrono::Utc>>,
    /// `true`: only overdue tasks (due date in the past, not completed); `false`: only tasks that
    /// are not overdue.
    #[param(value_type = bool, required = false)]
    pub overdue: Option<bool>,
    /// `true` includes soft-deleted tasks (default `false`).
    #[param(value_type = bool, required = false, default = false)]
    pub include_deleted: Option<bool>,
    /// The order; default `-created_at`.
    #[param(value_type = TaskSortSchema, required = false, default = "-created_at")]
    pub sort: Option<Sort>,
    /// Page size, 1-100.
    #[param(value_type = u8, required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u64>,
    /// Opaque: the `next_cursor` of the previous page, with the same `sort`.
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

impl QueryParams for TaskListParams {
    const REPEATABLE: &'static [&'static str] = &["status"];

    fn take(&mut self, name: &str, value: String, errors: &mut ValidationErrors) -> bool {
        match name {
            "status" => match TaskStatus::parse(&value) {
                Some(status) => self.status.push(status),
                None => errors.add("status", "one_of", "must be one of pending, in_progress, completed"),
            },
            "priority" => match Priority::parse(&value) {
                Some(priority) => self.priority = Some(priority),
                None => errors.add("priority", "one_of", "must be one of low, medium, high"),
            },
            "tag" => self.tag = input::tag_filter(&value).map_err(|b| b.report("tag", errors)).ok(),
            "q" => self.q = input::search(value).map_err(|b| b.report("q", errors)).ok().flatten(),
            "due_before" | "due_after" => {
                let instant = match crate::dto::body::instant(&value) {
                    Some(t) if !domain::clock::range::contains(&t) => {
                        errors.add(name, "range", format!("must be between {}", domain::clock::range::DESCRIPTION));
                        None
                    }
                    Some(t) => Some(t),
                    None => {
                        errors.add(name, "format", "must be an RFC 3339 timestamp");
                        None
                    }
                };
                if name == "due_before" {
                    self.due_before = instant;
                } else {
                    self.due_after = instant;
                }
            }
            "overdue" => self.overdue = flag("overdue", &value, errors),
            "include_deleted" => self.include_deleted = flag("include_deleted", &value, errors),
            "sort" => match Sort::parse(&value) {
                Some(sort) => self.sort = Some(sort),
                None => errors.add("sort", "one_of", format!("must be one of {}", Sort::ALL.join(", "))),
            },
            "limit" => self.limit = limit(&value, errors),
            "cursor" => self.cursor = Some(value),
            _ => return false,
        }
        true
    }
}

impl TaskListParams {
    /// The domain's query; `errors` are the parameters' own, to which a cursor that does not
    /// decode (or belongs to another sort) is added.
    pub fn into_query(self, mut errors: ValidationErrors) -> Result<TaskListQuery, ValidationErrors> {
        let sort = self.sort.unwrap_or_default();
        let after = self.cursor.and_then(|raw| {
            cursor::decode(&raw, sort).map_err(|e| errors.add("cursor", "invalid", e.to_string())).ok()
        });
        let filter = TaskFilter {
            statuses: self.status,
            priority: self.priority,
            tag: self.tag,
            q: self.q,
            due_before: self.due_before,
            due_after: self.due_after,
            overdue: self.overdue,
            include_deleted: self.include_deleted.unwrap_or(false),
        };
        errors.into_result(TaskListQuery {
            filter,
            sort,
            limit: self.limit.unwrap_or(domain::page::LIMIT_DEFAULT),
            after,
        })
    }
}

/// Parses the list query string; every problem is reported in one 400.
pub fn list_query(raw: &str) -> Result<TaskListQuery, ApiError> {
    let (params, errors) = parse_query::<TaskListParams>(raw);
    params
        .into_query(errors)
        .map_err(|errors| ApiError::BadRequest { detail: "the query string is invalid".into(), errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_lists_the_newest_twenty() {
        let q = list_query("").expect("valid");
        assert_eq!((q.sort.as_str(), q.limit, q.after), ("-created_at", 20, None));
        assert_eq!(q.filter, TaskFilter::default());
    }

    #[test]
    fn status_repeats_and_everything_else_parses() {
        let q = list_query("status=pending&status=completed&priority=high&tag=Home&q=50%25&overdue=true&include_deleted=true&sort=-due_date&limit=5&due_before=2025-01-01T00:00:00Z")
            .expect("valid");
        assert_eq!(q.filter.statuses, [TaskStatus::Pending, TaskStatus::Completed]);
        assert_eq!(q.filter.tag.as_deref(), Some("home"));
        assert_eq!(q.filter.q.as_deref(), Some("50%"));
        assert_eq!((q.filter.overdue, q.filter.include_deleted, q.limit), (Some(true), true, 5));
        assert_eq!(q.sort.as_str(), "-due_date");
    }

    #[test]
    fn nul_control_characters_and_dates_out_of_range_are_400s() {
        let codes = |raw: &str| match list_query(raw) {
            Err(ApiError::BadRequest { errors, .. }) => {
                errors.iter().map(|e| format!("{}:{}", e.field, e.code)).collect::<Vec<_>>()
            }
            other => panic!("{raw}: expected a 400, got {other:?}"),
        };
        assert_eq!(codes("q=%00"), ["q:format"]);
        assert_eq!(codes("q=a%1Fb"), ["q:format"]);
        assert_eq!(codes("tag=x%00"), ["tag:format"]);
        assert_eq!(codes("x%00=1"), ["x\u{fffd}:format"]);
        assert_eq!(codes("due_before=9999-12-31T23:59:59-05:00"), ["due_before:range"]);
        assert_eq!(codes("due_after=0001-01-01T00:00:00%2B01:00"), ["due_after:range"]);
        assert!(list_query("q=line%0Abreak%09tab").is_ok());
        assert!(list_query("due_before=9999-12-31T23:59:59.999999Z&due_after=0001-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn every_bad_parameter_is_a_400() {
        let Err(ApiError::BadRequest { errors, .. }) =
            list_query("limit=0&sort=title&stauts=x&cursor=abc&overdue=yes&limit=3")
        else {
            panic!("expected a 400");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "sort", "stauts", "overdue", "limit", "cursor"]);
    }

    #[test]
    fn every_documented_parameter_is_one_the_parser_accepts() {
        let documented: Vec<String> =
            <TaskListParams as IntoParams>::into_params(|| None).into_iter().map(|p| p.name).collect();
        assert!(documented.iter().any(|n| n == "cursor"));
        let sample = |name: &str| match name {
            "status" => "pending&status=completed",
            "priority" => "high",
            "tag" => "home",
            "q" => "milk",
            "due_before" | "due_after" => "2025-01-01T00:00:00Z",
            "overdue" | "include_deleted" => "true",
            "sort" => "-due_date",
            "limit" => "5",
            other => panic!("no sample value for the documented parameter {other}"),
        };
        let query: Vec<String> =
            documented.iter().filter(|n| *n != "cursor").map(|n| format!("{n}={}", sample(n))).collect();
        list_query(&query.join("&")).expect("every documented parameter at once");
        // A cursor is checked against the sort; a foreign one is refused as invalid, not unknown.
        let Err(ApiError::BadRequest { errors, .. }) = list_query("cursor=abc") else { panic!("a bad cursor") };
        assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["invalid"]);
        let sorts = serde_json::to_value(<TaskSortSchema as utoipa::PartialSchema>::schema()).expect("json");
        for sort in sorts["enum"].as_array().expect("sorts") {
            list_query(&format!("sort={}", sort.as_str().expect("a string"))).expect("a documented sort");
        }
    }
}
