-- Grows `tasks` for the list-latency check: :user_rows more tasks for :'user_id' and
-- :other_rows for 1,000 other users, interleaved in time, all older than the tasks the
-- API made (so the user's first page stays the same rows). Run with psql:
--   psql -v user_id=scale-user -v user_rows=99000 -v other_rows=900000 -f seed-1m.sql
--
-- Every row is what the service itself would have written (see `to_active` in
-- infrastructure/src/repositories/tasks.rs): a v7 id for its creation instant,
-- `search_text` = lower(title) [U+001F lower(description)], `priority` as its rank 1-3,
-- `tags` a JSON array of lowercase strings, `completed_at` set exactly when completed,
-- `version` counting the changes, timestamps in UTC with microseconds. Some rows are
-- completed, overdue-capable (due_date) or soft-deleted, as in real use.
\set ON_ERROR_STOP on
-- The role's default statement timeout (DB_STATEMENT_TIMEOUT, set by `api migrate`) is for
-- requests; one bulk insert of a million rows may take longer.
SET statement_timeout = 0;
BEGIN;
WITH g AS (
    SELECT i,
           -- every 10th row (up to :user_rows of them) is the measured user's
           CASE WHEN i % 10 = 0 AND i / 10 <= :user_rows THEN :'user_id'
                ELSE 'bulk-user-' || lpad((i % 1000)::text, 4, '0') END AS user_id,
           -- one row every ~25 ms going back from an hour ago, with microsecond jitter
           date_trunc('second', now()) - interval '1 hour'
             - make_interval(secs => i * 0.025 + floor(random() * 1000) / 1e6) AS created_at
    FROM generate_series(1, :user_rows + :other_rows) AS i
), r AS (
    SELECT g.*,
           'Bulk task ' || i AS title,
           CASE WHEN i % 3 = 0 THEN NULL ELSE 'Generated row ' || i || ' for the list-latency check' END AS description,
           CASE WHEN i % 5 = 0 THEN 'completed' WHEN i % 5 = 1 THEN 'in_progress' ELSE 'pending' END AS status,
           (i % 3 + 1)::smallint AS priority,
           (ARRAY['[]', '["work"]', '["home", "errand"]', '["bulk", "seed", "x"]'])[i % 4 + 1]::jsonb AS tags,
           CASE WHEN i % 7 = 0 THEN created_at + interval '3 days' END AS due_date,
           i % 97 = 0 AS deleted
    FROM g
)
INSERT INTO tasks (id, user_id, title, description, search_text, status, priority, tags, due_date,
                   recurrence, completed_at, previous_occurrence_id, created_at, updated_at,
                   deleted_at, version)
SELECT bench_uuid7(created_at), user_id, title, description,
       lower(title) || coalesce(chr(31) || lower(description), ''),
       status, priority, tags, due_date,
       NULL,
       CASE WHEN status = 'completed' THEN created_at + interval '1 minute' END,
       NULL,
       created_at,
       created_at + CASE WHEN deleted THEN interval '2 minutes'
                         WHEN status <> 'pending' THEN interval '1 minute'
                         ELSE interval '0' END,
       CASE WHEN deleted THEN created_at + interval '2 minutes' END,
       1 + (status <> 'pending')::int + deleted::int
FROM r;
COMMIT;
