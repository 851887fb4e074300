//! Route registration.

pub mod admin;
pub mod conversations;
pub mod health;
pub mod tasks;

use actix_web::web;

/// Registers every route of the service. Each path is one resource holding all its methods,
/// so a method the path does not support is a 405 (not a 404).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(health::live)))
        .service(web::resource("/health").route(web::get().to(health::ready)))
        .service(web::resource("/health/ready").route(web::get().to(health::ready)))
        .service(web::resource("/health/db").route(web::get().to(health::database)))
        .service(web::resource("/metrics").route(web::get().to(crate::metrics::render)))
        .service(web::resource("/admin/db/pool-stats").route(web::get().to(admin::pool_stats)))
        .service(
            web::scope("/api/v1")
                .service(web::resource("/tasks").route(web::post().to(tasks::create)).route(web::get().to(tasks::list)))
                // Fixed segments before `{id}`, which would otherwise swallow them.
                .service(web::resource("/tasks/batch").route(web::post().to(tasks::create_batch)))
                .service(web::resource("/tasks/stats").route(web::get().to(tasks::stats)))
                .service(
                    web::resource("/tasks/{id}")
                        .route(web::get().to(tasks::get))
                        .route(web::patch().to(tasks::update))
                        .route(web::delete().to(tasks::delete)),
                )
                .service(web::resource("/tasks/{id}/restore").route(web::post().to(tasks::restore)))
                .service(
                    web::resource("/conversations")
                        .route(web::post().to(conversations::create))
                        .route(web::get().to(conversations::list)),
                )
                .service(
                    web::resource("/conversations/{id}")
                        .route(web::get().to(conversations::get))
                        .route(web::patch().to(conversations::update))
                        .route(web::delete().to(conversations::delete)),
                )
                .service(
                    web::resource("/conversations/{id}/messages")
                        .route(web::post().to(conversations::append))
                        .route(web::get().to(conversations::messages)),
                ),
        );
}
