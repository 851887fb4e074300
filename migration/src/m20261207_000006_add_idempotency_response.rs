//! The response an idempotency key replays, as the API wrote it.
//!
//! `response` holds the bytes of the first response's body. Until now a record held the
//! created task itself (`response_body`, the domain's JSON), which tied stored records to the
//! domain type and made a replay re-render the task. This is the expand step of a rolling
//! change: the column is added, nullable and without a default (no table rewrite on
//! PostgreSQL, so it is instant under traffic), and builds from this one on write both
//! columns, so instances of the previous build can still replay keys the new ones wrote. The
//! release after the one in which every instance runs this build stops writing
//! `response_body` and drops it (contract).

use crate::sql::BackendSql;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: BackendSql = BackendSql {
    postgres: "ALTER TABLE idempotency_keys ADD COLUMN response bytea;",
    sqlite: "ALTER TABLE idempotency_keys ADD COLUMN response BLOB;",
};

const DOWN: BackendSql = BackendSql {
    postgres: "ALTER TABLE idempotency_keys DROP COLUMN response;",
    sqlite: "ALTER TABLE idempotency_keys DROP COLUMN response;",
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        UP.run(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        DOWN.run(manager).await
    }
}
