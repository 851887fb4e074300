//! What the schema itself guarantees, whoever writes to it.

use crate::helpers::TestDatabase;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::{conversation, message, task};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn new_task(user: &str) -> task::ActiveModel {
    let at = now() - Duration::hours(1);
    task::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.to_owned()),
        title: Set("write the schema tests".to_owned()),
        description: Set(None),
        search_text: sea_orm::ActiveValue::NotSet,
        status: Set("pending".to_owned()),
        priority: Set(2),
        tags: Set(serde_json::json!(["db"])),
        due_date: Set(None),
        recurrence: Set(None),
        completed_at: Set(None),
        previous_occurrence_id: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        deleted_at: Set(None),
        version: Set(1),
    }
}

fn new_conversation(user: &str) -> conversation::ActiveModel {
    let at = now();
    conversation::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.to_owned()),
        title: Set(Some("chat".to_owned())),
        message_count: Set(0),
        last_message_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        version: Set(1),
    }
}

fn new_message(conversation_id: Uuid) -> message::ActiveModel {
    message::ActiveModel {
        id: Set(Uuid::now_v7()),
        conversation_id: Set(conversation_id),
        role: Set("user".to_owned()),
        content: Set("hello".to_owned()),
        metadata: Set(None),
        created_at: Set(now()),
    }
}

async fn reload(conn: &DatabaseConnection, id: Uuid) -> task::Model {
    task::Entity::find_by_id(id).one(conn).await.expect("find").expect("exists")
}

#[tokio::test]
async fn the_trigger_moves_updated_at_when_a_writer_leaves_it_alone() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let inserted = new_task("alice").insert(&conn).await.expect("insert");

    task::Entity::update_many()
        .col_expr(task::Column::Title, Expr::value("renamed"))
        .filter(task::Column::Id.eq(inserted.id))
        .exec(&conn)
        .await
        .expect("update");
    let renamed = reload(&conn, inserted.id).await;
    assert_eq!(renamed.title, "renamed");
    assert!(renamed.updated_at > inserted.updated_at, "{} !> {}", renamed.updated_at, inserted.updated_at);
    assert!(renamed.updated_at > now() - Duration::minutes(1));
}

#[tokio::test]
async fn the_trigger_keeps_an_updated_at_the_writer_sets() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let inserted = new_task("alice").insert(&conn).await.expect("insert");
    let chosen = inserted.updated_at + Duration::seconds(5);

    task::Entity::update_many()
        .col_expr(task::Column::Title, Expr::value("renamed"))
        .col_expr(task::Column::UpdatedAt, Expr::value(chosen))
        .filter(task::Column::Id.eq(inserted.id))
        .exec(&conn)
        .await
        .expect("update");
    assert_eq!(reload(&conn, inserted.id).await.updated_at, chosen);
}

#[tokio::test]
async fn the_trigger_keeps_conversations_current_too() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let mut old = new_conversation("alice");
    let before = now() - Duration::hours(2);
    old.created_at = Set(before);
    old.updated_at = Set(before);
    let inserted = old.insert(&conn).await.expect("insert");
    conversation::Entity::update_many()
        .col_expr(conversation::Column::Title, Expr::value("renamed"))
        .filter(conversation::Column::Id.eq(inserted.id))
        .exec(&conn)
        .await
        .expect("update");
    let after = conversation::Entity::find_by_id(inserted.id).one(&conn).await.expect("find").expect("row");
    assert!(after.updated_at > before);
}

#[tokio::test]
async fn an_update_that_changes_nothing_leaves_updated_at_alone_on_postgres() {
    let db = TestDatabase::migrated().await;
    if db.backend() != DbBackend::Postgres {
        return crate::helpers::skip("SQLite's trigger cannot compare whole rows");
    }
    let conn = db.connect().await;
    let inserted = new_task("alice").insert(&conn).await.expect("insert");
    task::Entity::update_many()
        .col_expr(task::Column::Title, Expr::col(task::Column::Title))
        .filter(task::Column::Id.eq(inserted.id))
        .exec(&conn)
        .await
        .expect("update");
    assert_eq!(reload(&conn, inserted.id).await.updated_at, inserted.updated_at);
}

#[tokio::test]
async fn deleting_a_conversation_deletes_its_messages() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let kept = new_conversation("alice").insert(&conn).await.expect("insert");
    let doomed = new_conversation("alice").insert(&conn).await.expect("insert");
    for conversation in [kept.id, doomed.id] {
        for _ in 0..3 {
            new_message(conversation).insert(&conn).await.expect("message");
        }
    }
    conversation::Entity::delete_by_id(doomed.id).exec(&conn).await.expect("delete");
    let left = message::Entity::find().all(&conn).await.expect("messages");
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|m| m.conversation_id == kept.id));
}

#[tokio::test]
async fn a_message_needs_an_existing_conversation() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    new_message(Uuid::now_v7()).insert(&conn).await.expect_err("foreign key");
}

#[tokio::test]
async fn check_constraints_refuse_invalid_rows() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let invalid_tasks: Vec<(&str, task::ActiveModel)> = vec![
        ("unknown status", task::ActiveModel { status: Set("done".into()), ..new_task("alice") }),
        ("priority rank 4", task::ActiveModel { priority: Set(4), ..new_task("alice") }),
        ("empty title", task::ActiveModel { title: Set(String::new()), ..new_task("alice") }),
        ("201-character title", task::ActiveModel { title: Set("é".repeat(201)), ..new_task("alice") }),
        (
            "1001-character description",
            task::ActiveModel { description: Set(Some("x".repeat(1001))), ..new_task("alice") },
        ),
        ("tags not an array", task::ActiveModel { tags: Set(serde_json::json!({"a": 1})), ..new_task("alice") }),
        ("eleven tags", task::ActiveModel { tags: Set(serde_json::Value::from(vec!["t"; 11])), ..new_task("alice") }),
        ("unknown recurrence", task::ActiveModel { recurrence: Set(Some("hourly".into())), ..new_task("alice") }),
        ("completed without completed_at", task::ActiveModel { status: Set("completed".into()), ..new_task("alice") }),
        ("completed_at while pending", task::ActiveModel { completed_at: Set(Some(now())), ..new_task("alice") }),
        ("version 0", task::ActiveModel { version: Set(0), ..new_task("alice") }),
        ("empty user id", new_task("")),
    ];
    for (what, row) in invalid_tasks {
        assert!(row.insert(&conn).await.is_err(), "a task with {what} was accepted");
    }
    // Lengths count characters, not bytes: 200 two-byte characters fit.
    task::ActiveModel { title: Set("é".repeat(200)), ..new_task("alice") }.insert(&conn).await.expect("200 chars");

    let conversation = new_conversation("alice").insert(&conn).await.expect("conversation");
    let invalid_messages: Vec<(&str, message::ActiveModel)> = vec![
        ("unknown role", message::ActiveModel { role: Set("robot".into()), ..new_message(conversation.id) }),
        ("empty content", message::ActiveModel { content: Set(String::new()), ..new_message(conversation.id) }),
        (
            "metadata array",
            message::ActiveModel { metadata: Set(Some(serde_json::json!([1]))), ..new_message(conversation.id) },
        ),
    ];
    for (what, row) in invalid_messages {
        assert!(row.insert(&conn).await.is_err(), "a message with {what} was accepted");
    }
    message::ActiveModel { metadata: Set(Some(serde_json::json!({"k": "v"}))), ..new_message(conversation.id) }
        .insert(&conn)
        .await
        .expect("object metadata");
}

#[tokio::test]
async fn a_task_has_at_most_one_next_occurrence() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    let first = new_task("alice").insert(&conn).await.expect("insert");
    task::ActiveModel { previous_occurrence_id: Set(Some(first.id)), ..new_task("alice") }
        .insert(&conn)
        .await
        .expect("next occurrence");
    task::ActiveModel { previous_occurrence_id: Set(Some(first.id)), ..new_task("alice") }
        .insert(&conn)
        .await
        .expect_err("a second next occurrence");
}
