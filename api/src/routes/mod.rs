//! Route registration.

pub mod conversations;
pub mod health;
pub mod tasks;

use actix_web::web;

/// Registers every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live)).service(
        web::scope("/api/v1")
            .service(
                web::scope("/tasks")
                    .route("", web::post().to(tasks::create))
                    .route("", web::get().to(tasks::list))
                    // Fixed segments before `{id}`, which would otherwise swallow them.
                    .route("/batch", web::post().to(tasks::create_batch))
                    .route("/stats", web::get().to(tasks::stats))
                    .route("/{id}", web::get().to(tasks::get))
                    .route("/{id}", web::patch().to(tasks::update))
                    .route("/{id}", web::delete().to(tasks::delete))
                    .route("/{id}/restore", web::post().to(tasks::restore)),
            )
            .service(
                web::scope("/conversations")
                    .route("", web::post().to(conversations::create))
                    .route("", web::get().to(conversations::list))
                    .route("/{id}", web::get().to(conversations::get))
                    .route("/{id}", web::patch().to(conversations::update))
                    .route("/{id}", web::delete().to(conversations::delete))
                    .route("/{id}/messages", web::post().to(conversations::append))
                    .route("/{id}/messages", web::get().to(conversations::messages)),
            ),
    );
}
