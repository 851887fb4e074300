-- GET /api/v1/tasks (first page, limit 20): one SELECT of limit + 1 = 21 rows (the extra
-- row tells whether a next page exists). Variables (-D): user_id.
\set want 21
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."tags", "tasks"."due_date", "tasks"."recurrence", "tasks"."completed_at", "tasks"."previous_occurrence_id", "tasks"."created_at", "tasks"."updated_at", "tasks"."deleted_at", "tasks"."version"
FROM "tasks" WHERE "tasks"."user_id" = :user_id AND "tasks"."deleted_at" IS NULL
ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT :want;
