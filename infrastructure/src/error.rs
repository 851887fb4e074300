//! Errors of the infrastructure layer.
//!
//! - [`Error::Settings`]: configuration could not be loaded; fatal at start-up.
//! - [`Error::Database`]: a statement or connection failed; the cause (its source) is
//!   sea-orm's, which never contains the connection string because URLs are validated before
//!   they reach it.
//! - [`Error::Migration`]: a migration command failed; the cause is in the message.

use crate::settings::SettingsError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    #[error("migration failed: {0}")]
    Migration(String),
}
