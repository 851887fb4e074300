//! Serialises concurrent migrators.
//!
//! sea-orm-migration takes no lock of its own: two instances starting at once would both see
//! the same pending migrations and race. On PostgreSQL a session-level advisory lock makes the
//! second migrator wait until the first is done and then find nothing left to apply. The lock
//! belongs to a session, so the connection that holds it must be the one that migrates: build
//! the migration connection with a pool of exactly one connection.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// The advisory lock key every migrator of this schema agrees on ("migrate!" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x6d69_6772_6174_6521;

/// Proof that this session holds the migration lock; call [`MigrationLock::release`] when done.
/// Dropping it without release still frees the lock when the session ends.
#[derive(Debug)]
#[must_use = "the lock is held until released or the session ends"]
pub struct MigrationLock {
    held: bool,
}

impl MigrationLock {
    /// Prepares the session for migrating and waits for the lock.
    ///
    /// It waits by trying again (every 50 ms, backing off to 1 s), not in `pg_advisory_lock`:
    /// a session blocked in a statement holds a snapshot, which a `CREATE INDEX CONCURRENTLY`
    /// run by the lock's holder waits for, while the blocked session waits for the holder:
    /// a deadlock, seen with four migrators started at once.
    ///
    /// The session drops any role or database default `statement_timeout` (the service sets
    /// one for request traffic), so neither a long migration nor the wait for the lock is
    /// cancelled half way. On SQLite, which has a single writer anyway, this does nothing.
    pub async fn acquire(db: &DatabaseConnection) -> Result<Self, DbErr> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Self { held: false });
        }
        db.execute_unprepared("SET statement_timeout = 0").await?;
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_lock($1) AS held",
                    [MIGRATION_LOCK_KEY.into()],
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("pg_try_advisory_lock returned no row".into()))?;
            if row.try_get::<bool>("", "held")? {
                return Ok(Self { held: true });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
        }
    }

    /// Releases the lock on the same session that took it.
    pub async fn release(self, db: &DatabaseConnection) -> Result<(), DbErr> {
        if self.held {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_unlock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
        }
        Ok(())
    }
}
