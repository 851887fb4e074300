use crate::helpers::{Backend, TestDatabase, settings_for, skip};
use infrastructure::database::migrate::{self, MigrateCommand};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sea_orm_migration::SchemaManager;
use std::process::Command;

/// The schema as text: `pg_dump --schema-only` on PostgreSQL, `sqlite_master` on SQLite.
async fn schema_of(db: &TestDatabase) -> String {
    match db.backend() {
        DbBackend::Postgres => {
            let pg_dump = std::env::var("PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
            // The password goes in PGPASSWORD: a command line shows in `ps` to every user.
            let mut url = url::Url::parse(db.url.expose()).expect("a database URL");
            let password =
                url.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
            url.set_password(None).expect("a URL with a host");
            let mut command = Command::new(&pg_dump);
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            let output = command
                .args(["--schema-only", "--no-owner", "--no-privileges", "--dbname"])
                .arg(url.as_str())
                .output()
                .expect("run pg_dump (set PG_DUMP to its path if it is not on PATH)");
            assert!(output.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout)
                .expect("utf-8 dump")
                .lines()
                // pg_dump 15.14+ brackets the dump with a random \restrict key.
                .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => {
            let conn = db.connect().await;
            let rows = conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT type, name, tbl_name, sql FROM sqlite_master \
                     WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
                ))
                .await
                .expect("read sqlite_master");
            conn.close().await.ok();
            rows.iter()
                .map(|row| {
                    let col = |c: &str| row.try_get::<Option<String>>("", c).expect(c).unwrap_or_default();
                    format!("{} {} {} {}", col("type"), col("name"), col("tbl_name"), col("sql"))
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

const TABLES: [&str; 4] = ["tasks", "conversations", "messages", "idempotency_keys"];

async fn tables_present(db: &TestDatabase) -> Vec<&'static str> {
    let conn = db.connect().await;
    let manager = SchemaManager::new(&conn);
    let mut present = Vec::new();
    for table in TABLES {
        if manager.has_table(table).await.expect("has_table") {
            present.push(table);
        }
    }
    conn.close().await.ok();
    present
}

#[tokio::test]
async fn migrating_down_to_base_and_up_again_restores_the_identical_schema() {
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    let before = schema_of(&db).await;
    assert_eq!(tables_present(&db).await, TABLES);
    if db.backend() == DbBackend::Postgres {
        assert!(before.contains("FUNCTION public.set_updated_at()"), "{before}");
    }

    let states = migrate::run(&settings.database, MigrateCommand::Down { steps: None }).await.expect("down");
    assert_eq!(states.len(), Migrator::migrations().len());
    assert!(states.iter().all(|s| !s.applied), "{states:?}");
    assert_eq!(tables_present(&db).await, Vec::<&str>::new(), "tables survived migrating down to base");
    let base = schema_of(&db).await;
    assert!(!base.contains("set_updated_at"), "the trigger function survived:\n{base}");

    let states = migrate::run(&settings.database, MigrateCommand::Up).await.expect("up again");
    assert!(states.iter().all(|s| s.applied), "{states:?}");
    let after = schema_of(&db).await;
    assert_eq!(before, after, "the schema after down and up differs from the one before");
}

#[tokio::test]
async fn every_migration_can_be_rolled_back_one_step_at_a_time() {
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    let total = Migrator::migrations().len();
    for remaining in (0..total).rev() {
        let states = migrate::run(&settings.database, MigrateCommand::Down { steps: Some(1) }).await.expect("down 1");
        assert_eq!(states.iter().filter(|s| s.applied).count(), remaining);
    }
    let states = migrate::run(&settings.database, MigrateCommand::Fresh).await.expect("fresh");
    assert!(states.iter().all(|s| s.applied));
    let states = migrate::run(&settings.database, MigrateCommand::Fresh).await.expect("fresh on a full schema");
    assert!(states.iter().all(|s| s.applied));
}

#[tokio::test]
async fn migrators_started_at_once_all_succeed_and_apply_each_migration_once() {
    if !Backend::from_env().is_postgres() {
        return skip("the advisory lock is PostgreSQL's; SQLite serialises writers by itself");
    }
    let db = TestDatabase::empty().await;
    let settings = settings_for(&db, &[]);
    let run = || migrate::run(&settings.database, MigrateCommand::Up);
    let (a, b, c, d) = tokio::join!(run(), run(), run(), run());
    for outcome in [a, b, c, d] {
        let states = outcome.expect("every concurrent migrator succeeds");
        assert!(states.iter().all(|s| s.applied));
    }
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS applied, count(DISTINCT version) AS distinct_versions FROM seaql_migrations",
        ))
        .await
        .expect("query")
        .expect("row");
    let applied: i64 = row.try_get("", "applied").expect("applied");
    let distinct: i64 = row.try_get("", "distinct_versions").expect("distinct");
    let expected = i64::try_from(Migrator::migrations().len()).expect("small");
    assert_eq!((applied, distinct), (expected, expected));
    conn.close().await.ok();
}

#[tokio::test]
async fn the_api_binary_migrates_down_up_fresh_and_reports_status() {
    let db = TestDatabase::empty().await;
    let api = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_api"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_ENV", "test")
            .env("DATABASE_URL", db.url.expose())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run api");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "api {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let total = Migrator::migrations().len();
    let count = |out: &str, word: &str| out.lines().filter(|l| l.starts_with(word)).count();

    let out = api(&["migrate", "status"]);
    assert_eq!(count(&out, "pending"), total, "{out}");
    let out = api(&["migrate", "up"]);
    assert_eq!(count(&out, "applied"), total, "{out}");
    let out = api(&["migrate", "down"]);
    assert_eq!(count(&out, "pending"), 1, "{out}");
    let out = api(&["migrate", "down", "--all"]);
    assert_eq!(count(&out, "pending"), total, "{out}");
    let out = api(&["migrate", "fresh"]);
    assert_eq!(count(&out, "applied"), total, "{out}");
    let out = api(&["migrate", "status"]);
    assert_eq!(count(&out, "applied"), total, "{out}");
}

/// A `CREATE INDEX CONCURRENTLY` that is interrupted (a deploy killed, a timeout) leaves an
/// invalid index behind, which `IF NOT EXISTS` would take for a finished one. Migrations 7, 8
/// and 9 drop such an index and build it again.
#[tokio::test]
async fn an_index_build_interrupted_midway_is_built_again() {
    if !Backend::from_env().is_postgres() {
        return skip("SQLite builds its indexes inside the migration's transaction");
    }
    let db = TestDatabase::migrated().await;
    let settings = settings_for(&db, &[]);
    let holder = db.connect().await;
    // Migration 9's index needs its function, which its `down` drops: an interrupted build of
    // it had created the function first, as this does again from the catalog's own copy.
    let function = holder
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_get_functiondef('task_search_digit_grams(text)'::regprocedure) AS sql",
        ))
        .await
        .expect("function")
        .expect("a row")
        .try_get::<String>("", "sql")
        .expect("definition");
    migrate::run(&settings.database, MigrateCommand::Down { steps: Some(3) }).await.expect("down 3");
    holder.execute_unprepared(&function).await.expect("the function, as migration 9 creates it first");
    // One connection, so the timeout set below is the build's session's.
    let mut options = ConnectOptions::new(db.url.expose().to_owned());
    options.max_connections(1).sqlx_logging(false);
    let builder = sea_orm::Database::connect(options).await.expect("connect");
    // Interrupted builds of one index of each migration: the build commits its catalog entry,
    // then waits for the transaction that holds a lock on `tasks`, and times out there.
    for (name, definition) in [
        ("tasks_user_created_at_live_idx", "tasks (user_id, created_at, id) WHERE deleted_at IS NULL"),
        ("tasks_user_search_idx", "tasks USING gin (user_id, search_text gin_trgm_ops)"),
        ("tasks_user_search_digits_idx", "tasks USING gin (user_id, task_search_digit_grams(search_text))"),
    ] {
        let txn = holder.begin().await.expect("begin");
        txn.execute_unprepared("LOCK TABLE tasks IN ROW EXCLUSIVE MODE").await.expect("lock");
        builder.execute_unprepared("SET statement_timeout = '300ms'").await.expect("timeout");
        let build = builder.execute_unprepared(&format!("CREATE INDEX CONCURRENTLY {name} ON {definition}")).await;
        assert!(build.is_err(), "the build of {name} was expected to time out");
        builder.execute_unprepared("RESET statement_timeout").await.expect("reset");
        txn.rollback().await.expect("rollback");
    }
    let indexes = "SELECT c.relname::text AS name, i.indisvalid AS valid FROM pg_index i \
                   JOIN pg_class c ON c.oid = i.indexrelid \
                   WHERE c.relname IN ('tasks_user_created_at_live_idx', 'tasks_user_search_idx', \
                   'tasks_user_search_digits_idx') ORDER BY 1";
    let states = |rows: Vec<sea_orm::QueryResult>| {
        rows.iter()
            .map(|r| (r.try_get::<String>("", "name").expect("name"), r.try_get::<bool>("", "valid").expect("valid")))
            .collect::<Vec<_>>()
    };
    let before = states(builder.query_all_raw(Statement::from_string(DbBackend::Postgres, indexes)).await.expect("q"));
    assert_eq!(
        before,
        [
            ("tasks_user_created_at_live_idx".to_owned(), false),
            ("tasks_user_search_digits_idx".to_owned(), false),
            ("tasks_user_search_idx".to_owned(), false)
        ],
        "the interrupted builds leave invalid indexes"
    );
    holder.close().await.ok();

    let states_after = migrate::run(&settings.database, MigrateCommand::Up).await.expect("up");
    assert!(states_after.iter().all(|s| s.applied));
    let after = states(builder.query_all_raw(Statement::from_string(DbBackend::Postgres, indexes)).await.expect("q"));
    assert_eq!(
        after,
        [
            ("tasks_user_created_at_live_idx".to_owned(), true),
            ("tasks_user_search_digits_idx".to_owned(), true),
            ("tasks_user_search_idx".to_owned(), true)
        ],
        "up drops the invalid indexes and builds them again"
    );
    builder.close().await.ok();
}
