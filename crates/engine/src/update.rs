//! `docker update`: new resource limits (and restart policy) for a container, written to
//! its cgroup at once when it runs (through berth-cgroups, v1 or v2) and persisted in its
//! HostConfig for later starts.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::Engine;
use crate::error::{EngineError, Result};

fn num(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64).filter(|n| *n != 0)
}

impl Engine {
    /// `POST /containers/{id}/update`: returns Docker's warnings.
    pub async fn update(self: &Arc<Self>, name: &str, body: &Value) -> Result<Vec<String>> {
        crate::verify::restart_policy(body)?;
        crate::verify::resources(body, true)?;
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let mut host = c.lock().host_config.clone();
        // A memory limit set without a swap limit got twice as much memory+swap (as Docker
        // records it; berth leaves MemorySwap 0 in that case).
        if host.memory > 0 && host.memory_swap == 0 {
            host.memory_swap = host.memory * 2;
        }
        let memory = num(body, "Memory");
        let swap = num(body, "MemorySwap");
        if let Some(m) = memory {
            // dockerd's container.UpdateContainer: a new memory limit above the recorded
            // memory+swap limit (0 without one) needs a new swap limit with it.
            if swap.is_none() && m > host.memory_swap {
                return Err(EngineError::Conflict(format!(
                    "Cannot update container {}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
                    c.id
                )));
            }
            host.memory = m;
        }
        if let Some(s) = swap {
            host.memory_swap = s;
        }
        if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
            return Err(EngineError::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if let Some(r) = num(body, "MemoryReservation") {
            host.memory_reservation = r;
        }
        if let Some(n) = num(body, "CpuShares") {
            host.cpu_shares = n;
        }
        // NanoCpus stands for a period and quota: once one side is set the other cannot be
        // updated (dockerd's container.UpdateContainer, in its words).
        let new_nano = num(body, "NanoCpus").unwrap_or(0);
        let checks = [
            (new_nano, "Nano CPUs", host.cpu_period, "CPU Period"),
            (new_nano, "Nano CPUs", host.cpu_quota, "CPU Quota"),
            (
                num(body, "CpuPeriod").unwrap_or(0),
                "CPU Period",
                host.nano_cpus,
                "NanoCPUs",
            ),
            (
                num(body, "CpuQuota").unwrap_or(0),
                "CPU Quota",
                host.nano_cpus,
                "NanoCPUs",
            ),
        ];
        for (asked, what, set, had) in checks {
            if asked > 0 && set > 0 {
                return Err(EngineError::Conflict(format!(
                    "Cannot update container {}: Conflicting options: {what} cannot be updated as {had} has already been set",
                    c.id
                )));
            }
        }
        if let Some(n) = num(body, "NanoCpus") {
            host.nano_cpus = n;
        }
        if let Some(n) = num(body, "CpuPeriod") {
            host.cpu_period = n;
        }
        if let Some(n) = num(body, "CpuQuota") {
            host.cpu_quota = n;
        }
        for (k, field) in [
            ("CpusetCpus", &mut host.cpuset_cpus),
            ("CpusetMems", &mut host.cpuset_mems),
        ] {
            if let Some(s) = body
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                *field = s.to_owned();
            }
        }
        if let Some(p) = num(body, "PidsLimit") {
            // dockerd's: 0 or any negative value is "unlimited", recorded as 0.
            host.pids_limit = Some(p.max(0));
        }
        if let Some(rp) = body.get("RestartPolicy").filter(|v| !v.is_null())
            && let Some(n) = rp
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
        {
            if host.auto_remove && n != "no" {
                return Err(EngineError::InvalidArgument(format!(
                    "Cannot update container {}: Restart policy cannot be updated because AutoRemove is enabled for the container",
                    c.id
                )));
            }
            host.restart_policy.name = n.to_owned();
            host.restart_policy.maximum_retry_count = rp
                .get("MaximumRetryCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
        }

        let running = c.lock().state.running;
        if running {
            let res = resources(body, &host);
            let r: oci_spec::runtime::LinuxResources =
                serde_json::from_value(res).map_err(|e| EngineError::internal("resources", e))?;
            let cg = crate::container_ops::cgroup(&c.id)?;
            tokio::task::spawn_blocking(move || cg.apply(&r))
                .await
                .map_err(|e| EngineError::internal("update", e))?
                .map_err(|e| {
                    EngineError::InvalidArgument(format!("Cannot update container {}: {e}", c.id))
                })?;
        }
        c.lock().host_config = host;
        self.persist(&c)?;
        self.emit_container(&c, "update", &[]);
        Ok(Vec::new())
    }
}

/// The OCI `linux.resources` for just the limits the request changes.
fn resources(body: &Value, host: &crate::types::HostConfig) -> Value {
    let mut res = json!({});
    let mut mem = json!({});
    if num(body, "Memory").is_some() || num(body, "MemorySwap").is_some() {
        if host.memory > 0 {
            mem["limit"] = json!(host.memory);
        }
        if host.memory_swap != 0 {
            mem["swap"] = json!(host.memory_swap);
        }
    }
    if num(body, "MemoryReservation").is_some() {
        mem["reservation"] = json!(host.memory_reservation);
    }
    if mem.as_object().is_some_and(|o| !o.is_empty()) {
        res["memory"] = mem;
    }
    let mut cpu = json!({});
    if num(body, "CpuShares").is_some() {
        cpu["shares"] = json!(host.cpu_shares);
    }
    if num(body, "NanoCpus").is_some() {
        cpu["period"] = json!(100_000);
        cpu["quota"] = json!(host.nano_cpus * 100_000 / 1_000_000_000);
    }
    if num(body, "CpuPeriod").is_some() {
        cpu["period"] = json!(host.cpu_period);
    }
    if num(body, "CpuQuota").is_some() {
        cpu["quota"] = json!(host.cpu_quota);
    }
    if body
        .get("CpusetCpus")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        cpu["cpus"] = json!(host.cpuset_cpus);
    }
    if body
        .get("CpusetMems")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        cpu["mems"] = json!(host.cpuset_mems);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        res["cpu"] = cpu;
    }
    if let Some(p) = num(body, "PidsLimit") {
        res["pids"] = json!({ "limit": p });
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_limits_are_written() {
        let host = crate::types::HostConfig {
            memory: 64 << 20,
            memory_swap: -1,
            cpu_shares: 512,
            ..Default::default()
        };
        let r = resources(&json!({"Memory": 64 << 20, "MemorySwap": -1}), &host);
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], -1);
        assert!(r.get("cpu").is_none());
        let r = resources(&json!({"PidsLimit": 10}), &host);
        assert_eq!(r, json!({"pids": {"limit": 10}}));
    }
}
