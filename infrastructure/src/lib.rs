//! Infrastructure: settings, connection pools, the migration runner and (later) the sea-orm
//! repositories that implement the domain's ports.
//!
//! It owns everything that talks to the outside world except HTTP. It must not know about
//! actix-web or HTTP status codes; `api` maps its errors.

pub mod database;
pub mod error;
pub mod observe;
pub mod repositories;
pub mod settings;

pub use database::Database;
pub use error::{Error, Result};
pub use settings::Settings;
