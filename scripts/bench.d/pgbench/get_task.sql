-- GET /api/v1/tasks/{id}: one SELECT (sea-orm's .one() adds LIMIT $3 = 1).
-- Variables (-D): user_id, task_id.
\set one 1
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."tags", "tasks"."due_date", "tasks"."recurrence", "tasks"."completed_at", "tasks"."previous_occurrence_id", "tasks"."created_at", "tasks"."updated_at", "tasks"."deleted_at", "tasks"."version"
FROM "tasks" WHERE "tasks"."id" = :task_id AND "tasks"."user_id" = :user_id AND "tasks"."deleted_at" IS NULL LIMIT :one;
