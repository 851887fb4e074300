-- Tasks of one user for the search check, rows :first to :last of one sequence, so the
-- 1,000-row and the 1,000,000-row measurements search the same kinds of text. Run with psql:
--   psql -v user_id=search-user -v first=1 -v last=1000 -f seed-search.sql
--
-- Rows are what the service writes (see seed-1m.sql): `search_text` = lower(title)
-- [U+001F lower(description)]. The terms the benchmark searches for:
--   'xylophone'       a rare word: one row at either size, trigrams no other row holds
--   '#0000777'        a rare number: one row at either size, but every one of its
--                     trigrams is in most rows (every title holds a 7-digit number)
--   'quarterly audit' 1 % of rows (every 100th description)
--   'search task'     every row
--   'no such words'   none
--   'zq'              2 characters (no trigram to look up), 1 row in 100,000: at 1,000
--                     rows none, at 1,000,000 ten
\set ON_ERROR_STOP on
SET statement_timeout = 0;
BEGIN;
WITH g AS (
    SELECT i,
           date_trunc('second', now()) - interval '1 hour'
             - make_interval(secs => i * 0.025 + floor(random() * 1000) / 1e6) AS created_at
    FROM generate_series(:first, :last) AS i
), r AS (
    SELECT g.*,
           'Search task #' || lpad(i::text, 7, '0') AS title,
           CASE WHEN i = 778 THEN 'Xylophone lessons'
                WHEN i % 100 = 0 THEN 'Quarterly audit of row ' || i
                WHEN i % 100000 = 50000 THEN 'Zq row ' || i
                WHEN i % 3 = 0 THEN NULL
                ELSE 'Notes on row ' || i END AS description
    FROM g
)
INSERT INTO tasks (id, user_id, title, description, search_text, status, priority, tags, due_date,
                   recurrence, completed_at, previous_occurrence_id, created_at, updated_at,
                   deleted_at, version)
SELECT bench_uuid7(created_at), :'user_id', title, description,
       lower(title) || coalesce(chr(31) || lower(description), ''),
       'pending', (i % 3 + 1)::smallint, '[]'::jsonb, NULL, NULL, NULL, NULL,
       created_at, created_at, NULL, 1
FROM r;
COMMIT;
