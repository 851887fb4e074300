-- GET /api/v1/tasks?cursor=... (a deep page): the keyset SELECT after the cursor's
-- (created_at, id). Variables (-D): user_id, cur_at, cur_id (the row the cursor points at).
\set want 21
SELECT "tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."tags", "tasks"."due_date", "tasks"."recurrence", "tasks"."completed_at", "tasks"."previous_occurrence_id", "tasks"."created_at", "tasks"."updated_at", "tasks"."deleted_at", "tasks"."version"
FROM "tasks" WHERE "tasks"."user_id" = :user_id AND "tasks"."deleted_at" IS NULL
AND ("tasks"."created_at", "tasks"."id") < (:cur_at, :cur_id)
ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT :want;
