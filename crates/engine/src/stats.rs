//! `docker stats`: one sample of a container's cgroup (v1, hybrid or v2, through
//! berth-cgroups) and network namespace, in Docker's JSON shape. The previous sample of a
//! stream becomes `precpu_stats`, from which the CLI computes CPU percentages.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::container::Container;
use crate::engine::Engine;
use crate::error::Result;

/// Host CPU time in nanoseconds (`/proc/stat`'s first line), Docker's `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let ticks: u64 = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    let hz = rustix::param::clock_ticks_per_second().max(1);
    ticks.saturating_mul(1_000_000_000) / hz
}

/// The host's memory (`MemTotal`), in bytes.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Interfaces of a network namespace from `/proc/PID/net/dev`, loopback left out (as
/// Docker reports only the container's endpoints).
pub fn parse_net_dev(s: &str) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for l in s.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if n.len() < 16 {
            continue;
        }
        out.insert(
            name.to_owned(),
            json!({
                "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11],
            }),
        );
    }
    out
}

fn blkio(entries: &[berth_cgroups::BlkioEntry], v2: bool, ops: [&str; 2]) -> Value {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| ops.contains(&e.op.as_str())) {
        let read = e.op == ops[0];
        let op = match (read, v2) {
            (true, true) => "read",
            (false, true) => "write",
            (true, false) => "Read",
            (false, false) => "Write",
        };
        out.push(json!({ "major": e.major, "minor": e.minor, "op": op, "value": e.value }));
    }
    // dockerd's: on cgroup v1 a list even when empty, on v2 null then.
    if out.is_empty() && v2 {
        Value::Null
    } else {
        json!(out)
    }
}

/// A zeroed `cpu_stats` (Docker's shape for "no previous sample").
fn empty_cpu() -> Value {
    json!({
        "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
    })
}

impl Engine {
    /// One sample; `pre` is the previous sample's `cpu_stats` and `read` time.
    pub fn stats_sample(&self, c: &Container, pre: Option<(&Value, &str)>) -> Result<Value> {
        let rec = c.rec();
        let (cpu_pre, preread) = match pre {
            Some((v, t)) => (v.clone(), t.to_owned()),
            None => (empty_cpu(), "0001-01-01T00:00:00Z".to_owned()),
        };
        let base = json!({
            "name": format!("/{}", rec.name),
            "id": rec.id,
            "preread": preread,
            "precpu_stats": cpu_pre,
            "num_procs": 0,
            "storage_stats": {},
        });
        if !rec.state.running {
            let mut v = base;
            v["read"] = json!("0001-01-01T00:00:00Z");
            v["cpu_stats"] = empty_cpu();
            v["memory_stats"] = json!({});
            v["pids_stats"] = json!({});
            v["blkio_stats"] = json!({
                "io_service_bytes_recursive": null, "io_serviced_recursive": null,
            });
            return Ok(v);
        }
        let cg = crate::container_ops::cgroup(&rec.id)?;
        let v2 = cg.mode() == berth_cgroups::Mode::V2;
        let s = cg
            .stats()
            .map_err(|e| crate::EngineError::internal("cgroup stats", e))?;
        let mut cpu_usage = json!({
            "total_usage": s.cpu.usage_total_ns,
            "usage_in_kernelmode": s.cpu.usage_system_ns,
            "usage_in_usermode": s.cpu.usage_user_ns,
        });
        if !s.cpu.per_cpu_ns.is_empty() {
            cpu_usage["percpu_usage"] = json!(s.cpu.per_cpu_ns);
        }
        let cpu = json!({
            "cpu_usage": cpu_usage,
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": online_cpus(),
            "throttling_data": {
                "periods": s.cpu.nr_periods,
                "throttled_periods": s.cpu.throttled_periods,
                "throttled_time": s.cpu.throttled_time_ns,
            },
        });
        let limit = s.memory.limit.min(host_memory());
        let mut memory = json!({
            "usage": s.memory.usage,
            "stats": s.memory.raw,
            "limit": limit,
        });
        if !v2 {
            memory["max_usage"] = json!(s.memory.max_usage);
            // (omitempty in dockerd's types)
            if s.memory.failcnt > 0 {
                memory["failcnt"] = json!(s.memory.failcnt);
            }
        }
        let mut pids = json!({ "current": s.pids.current });
        if let Some(l) = s.pids.limit {
            pids["limit"] = json!(l);
        }
        let mut v = base;
        v["read"] = json!(crate::now_rfc3339());
        v["cpu_stats"] = cpu;
        v["memory_stats"] = memory;
        v["pids_stats"] = pids;
        v["blkio_stats"] = json!({
            "io_service_bytes_recursive": blkio(&s.blkio.entries, v2, ["rbytes", "wbytes"]),
            "io_serviced_recursive": blkio(&s.blkio.entries, v2, ["rios", "wios"]),
        });
        // The CFQ-era v1 figures: dockerd copies them as lists (empty with today's
        // schedulers); v2 has none.
        for k in [
            "io_queue_recursive",
            "io_service_time_recursive",
            "io_wait_time_recursive",
            "io_merged_recursive",
            "io_time_recursive",
            "sectors_recursive",
        ] {
            v["blkio_stats"][k] = if v2 { Value::Null } else { json!([]) };
        }
        if let Ok(dev) = std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid)) {
            let nets = parse_net_dev(&dev);
            if !nets.is_empty() {
                v["networks"] = Value::Object(nets);
            }
        }
        Ok(v)
    }

    /// `GET /containers/{id}/stats`: JSON lines on `tx` every second while the container
    /// runs (`stream`), or one sample (`one_shot`: without a previous one; otherwise a
    /// second sample half a second later so the CPU figures mean something).
    pub async fn stats(
        self: &Arc<Self>,
        name: &str,
        stream: bool,
        one_shot: bool,
        tx: tokio::sync::mpsc::Sender<Value>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let first = self.stats_sample(&c, None)?;
        if !stream {
            let v = if one_shot || !c.lock().state.running {
                first
            } else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let pre = first["cpu_stats"].clone();
                let t = first["read"].as_str().unwrap_or("").to_owned();
                self.stats_sample(&c, Some((&pre, &t)))?
            };
            let _ = tx.send(v).await;
            return Ok(());
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let mut prev = first;
            if tx.send(prev.clone()).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if engine.get(&c.id).is_err() {
                    return;
                }
                let pre = prev["cpu_stats"].clone();
                let t = prev["read"].as_str().unwrap_or("").to_owned();
                let Ok(v) = engine.stats_sample(&c, Some((&pre, &t))) else {
                    return;
                };
                if tx.send(v.clone()).await.is_err() {
                    return;
                }
                prev = v;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_loopback() {
        let s = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1500 12 1 2 0 0 0 0 900 7 3 4 0 0 0 0\n";
        let m = parse_net_dev(s);
        assert_eq!(m.len(), 1);
        assert_eq!(m["eth0"]["rx_bytes"], 1500);
        assert_eq!(m["eth0"]["tx_packets"], 7);
        assert_eq!(m["eth0"]["tx_dropped"], 4);
    }

    #[test]
    fn system_cpu_counts_up() {
        let a = system_cpu_ns();
        assert!(a > 0);
    }
}
