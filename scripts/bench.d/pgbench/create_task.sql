-- POST /api/v1/tasks without Idempotency-Key: one INSERT (autocommit, no BEGIN/COMMIT).
-- The service binds all 16 values; here the new id comes from bench_uuid7() (time-ordered
-- like the service's v7 ids), the NULLs are literals (pgbench cannot bind NULL), the rest
-- are parameters with the values of the wrk body. Variables (-D): writer_id, title,
-- description, search_text, tags, at.
\set priority 3
\set version 1
INSERT INTO "tasks" ("id", "user_id", "title", "description", "search_text", "status", "priority", "tags", "due_date", "recurrence", "completed_at", "previous_occurrence_id", "created_at", "updated_at", "deleted_at", "version")
VALUES (bench_uuid7(), :writer_id, :title, :description, :search_text, 'pending', :priority, :tags, NULL, NULL, NULL, NULL, :at, :at, NULL, :version);
