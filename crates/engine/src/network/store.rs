//! The network tables of `berth.db` and the IPAM lease store on them.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_net::ipam::{IpamError, Lease, LeaseStore};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Active, EndpointConfig, NetworkRecord};
use crate::db::execute_reserved;
use crate::error::{EngineError, Result};
use crate::reserve::Reserve;

/// berth.db tables of this module, on a connection of their own (WAL lets it share the
/// file with the engine's): leases are written from blocking threads of the bridge driver.
pub struct NetDb {
    conn: Mutex<Connection>,
    reserve: Arc<Reserve>,
}

impl NetDb {
    pub(super) fn open(path: &Path, reserve: Arc<Reserve>) -> Result<Self> {
        let conn = Connection::open(path).map_err(internal("open berth.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(internal("open berth.db"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            reserve,
        })
    }

    /// One write statement, with the space reserve behind it (see `crate::reserve`).
    fn execute(&self, sql: &str, p: impl rusqlite::Params + Clone) -> rusqlite::Result<usize> {
        execute_reserved(&self.lock(), &self.reserve, sql, p)
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let c = self.lock();
        let mut st = c
            .prepare("SELECT record FROM networks ORDER BY rowid")
            .map_err(internal("networks"))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(internal("networks"))?;
        Ok(rows
            .filter_map(|r| r.ok())
            .filter_map(|j| serde_json::from_str(&j).ok())
            .collect())
    }

    pub(super) fn put_network(&self, n: &NetworkRecord, insert: bool) -> Result<()> {
        let j = serde_json::to_string(n).map_err(|e| EngineError::internal("encode", e))?;
        let sql = if insert {
            "INSERT INTO networks (id, name, record) VALUES (?1, ?2, ?3)"
        } else {
            "UPDATE networks SET name = ?2, record = ?3 WHERE id = ?1"
        };
        let p = params![n.id, n.name, j];
        // A new network is not made with the reserve (kept for what frees space).
        let r = if insert {
            self.lock().execute(sql, p)
        } else {
            self.execute(sql, p)
        };
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(EngineError::Conflict(format!(
                    "network with name {} already exists",
                    n.name
                )))
            }
            Err(e) => Err(EngineError::internal("store network", e)),
        }
    }

    pub(super) fn delete_network(&self, id: &str) -> Result<()> {
        self.execute("DELETE FROM networks WHERE id = ?1", params![id])
            .map_err(internal("delete network"))?;
        Ok(())
    }

    /// (container, network, config, active) rows, in attach order.
    #[allow(clippy::type_complexity)]
    pub(super) fn endpoints(
        &self,
        container: Option<&str>,
    ) -> Result<Vec<(String, String, EndpointConfig, Option<Active>)>> {
        let c = self.lock();
        let mut st = c
            .prepare(
                "SELECT container, network, config, active FROM endpoints
                 WHERE ?1 IS NULL OR container = ?1 ORDER BY rowid",
            )
            .map_err(internal("endpoints"))?;
        let rows = st
            .query_map(params![container], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(internal("endpoints"))?;
        Ok(rows
            .filter_map(|r| r.ok())
            .map(|(c, n, cfg, act)| {
                (
                    c,
                    n,
                    serde_json::from_str(&cfg).unwrap_or_default(),
                    act.and_then(|a| serde_json::from_str(&a).ok()),
                )
            })
            .collect())
    }

    pub(super) fn add_endpoint(
        &self,
        container: &str,
        network: &str,
        cfg: &EndpointConfig,
    ) -> Result<()> {
        let j = serde_json::to_string(cfg).map_err(|e| EngineError::internal("encode", e))?;
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO endpoints (container, network, config) VALUES (?1, ?2, ?3)",
                params![container, network, j],
            )
            .map_err(internal("store endpoint"))?;
        Ok(())
    }

    pub(super) fn set_active(
        &self,
        container: &str,
        network: &str,
        a: Option<&Active>,
    ) -> Result<()> {
        let j = a
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| EngineError::internal("encode", e))?;
        self.execute(
            "UPDATE endpoints SET active = ?3 WHERE container = ?1 AND network = ?2",
            params![container, network, j],
        )
        .map_err(internal("store endpoint"))?;
        Ok(())
    }

    pub(super) fn remove_endpoints(&self, container: &str, network: Option<&str>) -> Result<()> {
        self.execute(
            "DELETE FROM endpoints WHERE container = ?1 AND (?2 IS NULL OR network = ?2)",
            params![container, network],
        )
        .map_err(internal("remove endpoint"))?;
        Ok(())
    }

    pub(super) fn lease_owners(&self) -> Result<Vec<(String, String)>> {
        let c = self.lock();
        let mut st = c
            .prepare("SELECT DISTINCT network, owner FROM leases")
            .map_err(internal("leases"))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(internal("leases"))?;
        Ok(rows.filter_map(|r| r.ok()).collect())
    }
}

/// IPAM leases in `berth.db`: the UNIQUE(network, address) constraint is what refuses a
/// second holder, as [`LeaseStore::insert`] requires.
pub struct DbLeases(pub(super) Arc<NetDb>);

fn internal(what: &str) -> impl FnOnce(rusqlite::Error) -> EngineError + '_ {
    move |e| EngineError::internal(what, e)
}

fn backend(e: rusqlite::Error) -> IpamError {
    IpamError::Backend(e.to_string())
}

impl LeaseStore for DbLeases {
    fn load(&self, network: &str) -> std::result::Result<Vec<Lease>, IpamError> {
        let c = self.0.lock();
        let mut st = c
            .prepare("SELECT address, owner FROM leases WHERE network = ?1")
            .map_err(backend)?;
        let rows = st
            .query_map(params![network], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        Ok(rows
            .filter_map(|r| r.ok())
            .filter_map(|(a, owner)| {
                Some(Lease {
                    address: a.parse().ok()?,
                    owner,
                })
            })
            .collect())
    }

    fn insert(&self, network: &str, lease: &Lease) -> std::result::Result<(), IpamError> {
        let c = self.0.lock();
        match c.execute(
            "INSERT INTO leases (network, address, owner) VALUES (?1, ?2, ?3)",
            params![network, lease.address.to_string(), lease.owner],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let owner: Option<String> = c
                    .query_row(
                        "SELECT owner FROM leases WHERE network = ?1 AND address = ?2",
                        params![network, lease.address.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(backend)?;
                Err(IpamError::InUse {
                    network: network.into(),
                    address: lease.address,
                    owner: owner.unwrap_or_default(),
                })
            }
            Err(e) => Err(backend(e)),
        }
    }

    fn remove_owner(
        &self,
        network: &str,
        owner: &str,
    ) -> std::result::Result<Vec<IpAddr>, IpamError> {
        let freed = self
            .load(network)?
            .into_iter()
            .filter(|l| l.owner == owner)
            .map(|l| l.address)
            .collect();
        self.0
            .execute(
                "DELETE FROM leases WHERE network = ?1 AND owner = ?2",
                params![network, owner],
            )
            .map_err(backend)?;
        Ok(freed)
    }

    fn remove_network(&self, network: &str) -> std::result::Result<(), IpamError> {
        self.0
            .execute("DELETE FROM leases WHERE network = ?1", params![network])
            .map_err(backend)?;
        Ok(())
    }
}
