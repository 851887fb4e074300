//! Route registration.
//!
//! The route table below pairs each handler with its `#[utoipa::path]` annotation and registers
//! the handler at exactly the path and method the annotation documents, so the service cannot
//! serve a route somewhere the OpenAPI document does not say. [`operations`] lists the table
//! for the tests that compare it with the document. Every `GET` is served for `HEAD` too, by
//! the same handler (actix-http sends the headers and drops the body); the document says so
//! once rather than repeating every operation.

pub mod admin;
pub mod conversations;
pub mod health;
pub mod tasks;

use actix_web::dev::Handler;
use actix_web::http::Method;
use actix_web::{FromRequest, Responder, Route, web};
use utoipa::openapi::path::HttpMethod;

/// One method of one path and the handler that serves it.
struct Endpoint {
    method: Method,
    path: String,
    route: Route,
    /// False for the `HEAD` twin of a `GET`.
    documented: bool,
}

/// The endpoints of `handler`, at the path and methods its annotation `_doc` documents.
fn endpoint<P, F, Args>(_doc: P, handler: F) -> Vec<Endpoint>
where
    P: utoipa::Path,
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let mut endpoints = Vec::new();
    for method in P::methods().iter().map(http_method) {
        if method == Method::GET {
            let route = web::method(Method::HEAD).to(handler.clone());
            endpoints.push(Endpoint { route, method: Method::HEAD, path: P::path(), documented: false });
        }
        let route = web::method(method.clone()).to(handler.clone());
        endpoints.push(Endpoint { route, method, path: P::path(), documented: true });
    }
    endpoints
}

fn http_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Every route of the service, in matching order: a fixed segment (`/tasks/batch`) comes
/// before the `{id}` that would otherwise swallow it.
fn table() -> Vec<Endpoint> {
    [
        endpoint(health::__path_live, health::live),
        endpoint(health::__path_health, health::health),
        endpoint(health::__path_ready, health::ready),
        endpoint(health::__path_database, health::database),
        endpoint(crate::metrics::__path_render, crate::metrics::render),
        endpoint(crate::openapi::__path_serve, crate::openapi::serve),
        endpoint(admin::__path_pool_stats, admin::pool_stats),
        endpoint(tasks::__path_create, tasks::create),
        endpoint(tasks::__path_list, tasks::list),
        endpoint(tasks::__path_create_batch, tasks::create_batch),
        endpoint(tasks::__path_stats, tasks::stats),
        endpoint(tasks::__path_get, tasks::get),
        endpoint(tasks::__path_update, tasks::update),
        endpoint(tasks::__path_delete, tasks::delete),
        endpoint(tasks::__path_restore, tasks::restore),
        endpoint(conversations::__path_create, conversations::create),
        endpoint(conversations::__path_list, conversations::list),
        endpoint(conversations::__path_get, conversations::get),
        endpoint(conversations::__path_update, conversations::update),
        endpoint(conversations::__path_delete, conversations::delete),
        endpoint(conversations::__path_append, conversations::append),
        endpoint(conversations::__path_messages, conversations::messages),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Registers every route of the service. Each path is one resource holding all its methods,
/// so a method the path does not support is a 405 (not a 404).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<(String, Vec<Route>)> = Vec::new();
    for Endpoint { path, route, .. } in table() {
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, routes)) => routes.push(route),
            None => paths.push((path, vec![route])),
        }
    }
    for (path, routes) in paths {
        let template = RouteTemplate(std::sync::Arc::from(path.as_str()));
        cfg.service(routes.into_iter().fold(web::resource(path).app_data(template), actix_web::Resource::route));
    }
}

/// The template of the route a request matched (`/api/v1/tasks/{id}`), as resource data: the
/// metrics middleware reads it once the handler ran instead of `HttpRequest::match_pattern`, which matches
/// the path against the whole route table again on every call.
#[derive(Clone, Debug)]
pub struct RouteTemplate(pub std::sync::Arc<str>);

impl RouteTemplate {
    /// The template of the route `req` matched, if it matched one.
    pub fn of(req: &actix_web::HttpRequest) -> Option<&Self> {
        req.app_data::<Self>()
    }
}

/// `(method, path)` of every documented route, paths as templates (`/api/v1/tasks/{id}`).
pub fn operations() -> Vec<(Method, String)> {
    table().into_iter().filter(|e| e.documented).map(|e| (e.method, e.path)).collect()
}

/// `(method, path)` of every registered route, `HEAD` twins included.
pub fn registered() -> Vec<(Method, String)> {
    table().into_iter().map(|e| (e.method, e.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_get_is_served_for_head_too() {
        let all = registered();
        for (method, path) in &all {
            if *method == Method::GET {
                assert!(all.contains(&(Method::HEAD, path.clone())), "HEAD {path}");
            }
        }
        assert!(!operations().iter().any(|(m, _)| *m == Method::HEAD), "HEAD twins are not documented one by one");
    }

    #[test]
    fn no_method_of_a_path_is_registered_twice() {
        let all = registered();
        let mut unique = all.clone();
        unique.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        unique.dedup();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn fixed_segments_come_before_the_templates_that_would_swallow_them() {
        let paths: Vec<String> = operations().into_iter().map(|(_, p)| p).collect();
        let position = |p: &str| paths.iter().position(|x| x == p).expect(p);
        for fixed in ["/api/v1/tasks/batch", "/api/v1/tasks/stats"] {
            assert!(position(fixed) < position("/api/v1/tasks/{id}"), "{fixed}");
        }
    }
}
