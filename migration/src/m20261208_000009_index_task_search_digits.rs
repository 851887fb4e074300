//! An index for `q` terms that hold a number: five or more digits in a row.
//!
//! The trigram index (migration 8) is weak on digits: there are only 1,000 trigrams of them,
//! so where most rows hold a number (an order or ticket number in every title) each of them
//! is in a large share of the rows, and the index walks the posting list of the rarest one.
//! At 1,000,000 rows of one user `#0000777` read 1,229 index pages (9 ms) to find one row,
//! and that grows with the table. Five digits have 100,000 values: this GIN index holds the
//! 5-digit substrings of each run of five or more digits in `search_text`
//! (`task_search_digit_grams`), and a term holding such a run is looked up by its own grams
//! (`task_search_digit_grams(search_text) @> task_search_digit_grams(term)`, which the
//! service sends for such terms only, with `strpos` in place of the `LIKE`): 34 pages,
//! 0.2 ms, for the same row. The substring test still decides what matches; the grams only
//! narrow the rows it is checked on.
//!
//! An expression index rather than a column the service fills: it agrees with `search_text`
//! whoever writes the row, an instance of the previous release during a rolling deploy
//! included. ANALYZE keeps statistics on the expression (its most common elements), so the
//! planner can tell a number most rows hold from a rare one, as `SET STATISTICS` lets it for
//! the trigrams. The function is a PL/pgSQL loop over simple expressions: an INSERT of one
//! row took 27–35 µs longer with the index (0.11 → 0.14 ms, pgbench, one client), against
//! 95–100 µs longer when the same was one SQL query (an SQL function, or a `SELECT` inside
//! PL/pgSQL), which starts an executor on each call. Rows without such a run stop at one
//! regular expression test; a 1,000-digit description costs about 1.5 ms. Numbers of other
//! scripts (`٣`, `３`) are not digits here; the `LIKE` still finds them.
//!
//! Built `CONCURRENTLY` like the other indexes of `tasks`. `down` drops the index, then the
//! function. SQLite has neither: its search stays a scan of the user's rows.

use crate::sql::{create_indexes_concurrently, run_each};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "tasks_user_search_digits_idx";

/// The 5-digit substrings of each run of five or more ASCII digits, as integers (five digits
/// map one to one onto 0..=99999; GIN keeps each key of a row once). IMMUTABLE: it reads
/// nothing but its argument, which an index expression requires. A loop rather than one
/// `SELECT … FROM unnest(…)`: measured per call, 4 µs against 23 µs for a title and
/// description holding two numbers.
const FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION task_search_digit_grams(search_text text) RETURNS int4[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    run text;
    grams int4[] := '{}';
BEGIN
    IF search_text !~ '[0-9]{5}' THEN
        RETURN grams;
    END IF;
    FOREACH run IN ARRAY regexp_split_to_array(search_text, '[^0-9]+') LOOP
        FOR k IN 1 .. length(run) - 4 LOOP
            grams := array_append(grams, substr(run, k, 5)::int4);
        END LOOP;
    END LOOP;
    RETURN grams;
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // `user_id` leads the index through `btree_gin`, which migration 8 created.
        run_each(manager, [FUNCTION]).await?;
        create_indexes_concurrently(
            manager,
            &[(INDEX, "tasks USING gin (user_id, task_search_digit_grams(search_text))")],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {INDEX}");
        run_each(manager, [drop.as_str(), "DROP FUNCTION IF EXISTS task_search_digit_grams(text)"]).await
    }

    /// `CREATE INDEX CONCURRENTLY` refuses to run inside a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}
