//! The SQLite metadata store (`<data-root>/berth.db`): containers and volumes.
//!
//! One connection behind a mutex: every state change is one short transaction, so there
//! is never a second writer to wait for. WAL keeps readers (the API) off the writer's
//! path, and `synchronous=NORMAL` in WAL mode still never loses a committed transaction
//! to a berthd crash (only to power loss, where /run is gone anyway). The schema version is
//! `PRAGMA user_version`; each migration runs in its own transaction with the bump.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::container::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::reserve::Reserve;

/// Schema migrations, in order; index + 1 is the `user_version` after applying.
const MIGRATIONS: &[&str] = &[
    // v1: containers (the whole record as JSON; name unique) and named volumes.
    "CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
     );
     CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}'
     );",
    // v2: volume driver and driver options (labels exist since v1; see volumes.rs).
    "ALTER TABLE volumes ADD COLUMN driver TEXT NOT NULL DEFAULT 'local';
     ALTER TABLE volumes ADD COLUMN options TEXT NOT NULL DEFAULT '{}';",
    // v3: networks, IPAM leases, and container endpoints (see network.rs).
    "CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL
     );
     CREATE TABLE leases (
        network TEXT NOT NULL,
        address TEXT NOT NULL,
        owner TEXT NOT NULL,
        PRIMARY KEY (network, address)
     );
     CREATE TABLE endpoints (
        container TEXT NOT NULL,
        network TEXT NOT NULL,
        config TEXT NOT NULL,
        active TEXT,
        PRIMARY KEY (container, network)
     );",
    // v4: exec sessions (see exec.rs), so that inspect finds them after a berthd restart.
    "CREATE TABLE execs (
        id TEXT PRIMARY KEY,
        container TEXT NOT NULL,
        record TEXT NOT NULL
     );
     CREATE INDEX execs_container ON execs (container);",
];

pub struct Db {
    conn: Mutex<Connection>,
    /// Room kept on the data root so that a write (a removal first) works on a full disk.
    pub(crate) reserve: Arc<Reserve>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Db {
            conn: Mutex::new(conn),
            reserve: Arc::new(Reserve::new(path.with_extension("reserve"))),
        })
    }

    /// Runs one write statement; see [`execute_reserved`].
    pub(crate) fn execute(
        &self,
        sql: &str,
        p: impl rusqlite::Params + Clone,
    ) -> rusqlite::Result<usize> {
        execute_reserved(&self.lock(), &self.reserve, sql, p)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half transaction: SQLite rolls
        // back an uncommitted transaction when the next one begins.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts a new container; a taken name is a conflict, as in Docker.
    pub fn insert(&self, rec: &ContainerRecord) -> Result<()> {
        let json = serde_json::to_string(rec).map_err(|e| EngineError::internal("encode", e))?;
        // Not behind the reserve: that is kept for what frees space (see crate::reserve).
        let inserted = self.lock().execute(
            "INSERT INTO containers (id, name, record) VALUES (?1, ?2, ?3)",
            params![rec.id, rec.name, json],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let holder: String = self
                    .lock()
                    .query_row(
                        "SELECT id FROM containers WHERE name = ?1",
                        params![rec.name],
                        |r| r.get(0),
                    )
                    .unwrap_or_default();
                Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name.",
                    rec.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a container's record (one transaction).
    pub fn update(&self, rec: &ContainerRecord) -> Result<()> {
        let json = serde_json::to_string(rec).map_err(|e| EngineError::internal("encode", e))?;
        self.execute(
            "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
            params![rec.id, rec.name, json],
        )?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.execute("DELETE FROM containers WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn all(&self) -> Result<Vec<ContainerRecord>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT id, record FROM containers")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            match serde_json::from_str(&json) {
                Ok(rec) => out.push(rec),
                Err(e) => tracing::error!(container = %id, error = %e, "unreadable record skipped"),
            }
        }
        Ok(out)
    }

    /// Records a named volume if new; returns whether it was created.
    pub fn ensure_volume(&self, name: &str, created: &str) -> Result<bool> {
        let n = self.lock().execute(
            "INSERT OR IGNORE INTO volumes (name, created) VALUES (?1, ?2)",
            params![name, created],
        )?;
        Ok(n > 0)
    }

    pub fn volume_exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .lock()
            .query_row(
                "SELECT 1 FROM volumes WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Stores an exec session's record (new or changed).
    pub(crate) fn put_exec(&self, id: &str, container: &str, record: &str) -> Result<()> {
        self.execute(
            "INSERT OR REPLACE INTO execs (id, container, record) VALUES (?1, ?2, ?3)",
            params![id, container, record],
        )?;
        Ok(())
    }

    /// Removes exec sessions: one, or all of a container's.
    pub(crate) fn delete_execs(&self, id: Option<&str>, container: Option<&str>) -> Result<()> {
        self.execute(
            "DELETE FROM execs WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR container = ?2)",
            params![id, container],
        )?;
        Ok(())
    }

    /// Every stored exec session as (id, container, record), oldest first.
    pub(crate) fn execs(&self) -> Result<Vec<(String, String, String)>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT id, container, record FROM execs ORDER BY rowid")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn delete_volume(&self, name: &str) -> Result<()> {
        self.execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
        Ok(())
    }
}

/// Runs one write statement on `conn`. When the disk is full, the space reserve is
/// released and the statement tried once more: SQLite rolls a failed statement back whole.
pub(crate) fn execute_reserved(
    conn: &Connection,
    reserve: &Reserve,
    sql: &str,
    p: impl rusqlite::Params + Clone,
) -> rusqlite::Result<usize> {
    match conn.execute(sql, p.clone()) {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DiskFull && reserve.release() =>
        {
            conn.execute(sql, p)
        }
        r => r,
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "metadata schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_applied_once_and_names_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("berth.db");
        let db = Db::open(&p).unwrap();
        let mut rec = ContainerRecord::test_record("a1", "web");
        db.insert(&rec).unwrap();
        rec.id = "b2".into();
        assert!(matches!(db.insert(&rec), Err(EngineError::Conflict(_))));
        drop(db);
        let db = Db::open(&p).unwrap();
        assert_eq!(db.all().unwrap().len(), 1);
        let v: i64 = db
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }
}
