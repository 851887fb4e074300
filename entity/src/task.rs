//! The `tasks` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    /// Title and description case-folded by the service, for `q`.
    pub search_text: String,
    pub status: String,
    /// Rank: 1 = low, 2 = medium, 3 = high.
    pub priority: i16,
    /// A JSON array of lowercase tag strings.
    pub tags: Json,
    pub due_date: Option<DateTimeUtc>,
    pub recurrence: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub previous_occurrence_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
