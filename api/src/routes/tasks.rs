//! `/api/v1/tasks`.

use crate::auth::Caller;
use crate::dto::cursor;
use crate::dto::tasks::{self as dto, TaskBatch, TaskPage, TaskResponse, TaskStatsResponse};
use crate::error::ApiError;
use crate::extract::{JsonBody, idempotency_key, if_match, path_id, request_digest};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ValidationErrors;
use domain::task::{Priority, Sort, TaskFilter, TaskListQuery, TaskService, TaskStatus};

fn with_etag(mut response: HttpResponse, version: i32) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn task_response(status: actix_web::http::StatusCode, task: &domain::task::Task) -> HttpResponse {
    with_etag(HttpResponse::build(status).json(TaskResponse::from(task)), task.version)
}

/// `POST /api/v1/tasks`
pub async fn create(
    caller: Caller,
    service: web::Data<TaskService>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let idempotency = key.map(|k| (k, request_digest(&body.0)));
    let new = dto::new_task(body.0)?;
    let created = service.create(&caller.user, new, idempotency).await?;
    let mut response = task_response(actix_web::http::StatusCode::CREATED, &created.task);
    let location = format!("/api/v1/tasks/{}", created.task.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if created.replayed {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `POST /api/v1/tasks/batch`
pub async fn create_batch(
    caller: Caller,
    service: web::Data<TaskService>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let new = dto::new_tasks(body.0)?;
    let tasks = service.create_many(&caller.user, new).await?;
    Ok(HttpResponse::Created().json(TaskBatch { items: tasks.iter().map(TaskResponse::from).collect() }))
}

/// `GET /api/v1/tasks/{id}`
pub async fn get(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = service.get(&caller.user, path_id(&id)?).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// `PATCH /api/v1/tasks/{id}`
pub async fn update(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let expected = if_match(&req)?;
    let patch = dto::task_patch(body.0)?;
    let task = service.update(&caller.user, id, patch, expected).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// `DELETE /api/v1/tasks/{id}`
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

/// `POST /api/v1/tasks/{id}/restore`
pub async fn restore(
    caller: Caller,
    service: web::Data<TaskService>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task = service.restore(&caller.user, path_id(&id)?).await?;
    Ok(task_response(actix_web::http::StatusCode::OK, &task))
}

/// `GET /api/v1/tasks/stats`
pub async fn stats(caller: Caller, service: web::Data<TaskService>) -> Result<HttpResponse, ApiError> {
    let stats = service.stats(&caller.user).await?;
    Ok(HttpResponse::Ok().json(TaskStatsResponse::from(&stats)))
}

/// `GET /api/v1/tasks`
pub async fn list(caller: Caller, service: web::Data<TaskService>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = list_query(req.query_string())?;
    let page = service.list(&caller.user, &query).await?;
    Ok(HttpResponse::Ok().json(TaskPage {
        items: page.items.iter().map(TaskResponse::from).collect(),
        next_cursor: page.next.as_ref().map(cursor::encode),
    }))
}

/// Parses the list query string; every problem is reported in one 400.
pub fn list_query(raw: &str) -> Result<TaskListQuery, ApiError> {
    let mut errors = ValidationErrors::new();
    let mut filter = TaskFilter::default();
    let mut sort = None;
    let mut limit = None;
    let mut cursor_raw: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    let flag = |name: &str, value: &str, errors: &mut ValidationErrors| match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.add(name, "one_of", "must be true or false");
            None
        }
    };
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        if name != "status" && seen.contains(&name) {
            errors.add(name.clone(), "repeated", "may be given only once");
            continue;
        }
        seen.push(name.clone());
        match name.as_str() {
            "status" => match TaskStatus::parse(&value) {
                Some(status) => filter.statuses.push(status),
                None => errors.add("status", "one_of", "must be one of pending, in_progress, completed"),
            },
            "priority" => match Priority::parse(&value) {
                Some(priority) => filter.priority = Some(priority),
                None => errors.add("priority", "one_of", "must be one of low, medium, high"),
            },
            "tag" => {
                if (1..=32).contains(&value.chars().count()) {
                    filter.tag = Some(value.to_lowercase());
                } else {
                    errors.add("tag", "length", "must have 1 to 32 characters");
                }
            }
            "q" => {
                if value.chars().count() > 200 {
                    errors.add("q", "length", "must have at most 200 characters");
                } else if !value.is_empty() {
                    filter.q = Some(value);
                }
            }
            "due_before" | "due_after" => match dto::parse_instant(&value) {
                Some(t) if name == "due_before" => filter.due_before = Some(t),
                Some(t) => filter.due_after = Some(t),
                None => errors.add(name, "format", "must be an RFC 3339 timestamp"),
            },
            "overdue" => filter.overdue = flag("overdue", &value, &mut errors),
            "include_deleted" => filter.include_deleted = flag("include_deleted", &value, &mut errors).unwrap_or(false),
            "sort" => match Sort::parse(&value) {
                Some(s) => sort = Some(s),
                None => errors.add("sort", "one_of", format!("must be one of {}", Sort::ALL.join(", "))),
            },
            "limit" => match value.parse::<u64>() {
                Ok(n @ 1..=100) => limit = Some(n),
                _ => errors.add("limit", "range", "must be an integer from 1 to 100"),
            },
            "cursor" => cursor_raw = Some(value),
            _ => errors.add(name, "unknown_parameter", "is not a parameter of this list"),
        }
    }
    let sort = sort.unwrap_or_default();
    let after = match cursor_raw {
        Some(raw) => match cursor::decode(&raw, sort) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.add("cursor", "invalid", e.to_string());
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::BadRequest { detail: "the query string is invalid".into(), errors });
    }
    Ok(TaskListQuery { filter, sort, limit: limit.unwrap_or(20), after })
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
    fn every_bad_parameter_is_a_400() {
        let Err(ApiError::BadRequest { errors, .. }) =
            list_query("limit=0&sort=title&stauts=x&cursor=abc&overdue=yes&limit=3")
        else {
            panic!("expected a 400");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "sort", "stauts", "overdue", "limit", "cursor"]);
    }
}
