//! The `idempotency_keys` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The operation the key belongs to, e.g. `tasks.create`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// A digest of the request body, to tell a retry from a different request.
    pub request_hash: String,
    /// The status of the first response.
    pub response_status: Option<i16>,
    /// The task the first request created, as the domain serialised it: what builds before
    /// `response` existed stored and replay. Written beside `response` until every instance
    /// reads `response`; then dropped.
    #[sea_orm(column_type = "Text", nullable)]
    pub response_body: Option<String>,
    /// The body of the first response, as the API wrote it.
    pub response: Option<Vec<u8>>,
    pub resource_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
