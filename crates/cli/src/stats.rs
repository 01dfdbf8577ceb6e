//! `stats`: one sample per container (`--no-stream`), or a table redrawn every half
//! second from one stats stream per container. The numbers are computed the way the
//! docker CLI computes them from the API's raw cgroup counters.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::Exit;
use crate::args::StatsArgs;
use crate::client::{Client, enc};
use crate::container::st;
use crate::format::{self, Format};

const TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn u(v: &Value, p: &str) -> f64 {
    v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0)
}

/// One row of the stats table from one API sample.
pub fn row(s: &Value, given: &str, trunc: bool) -> Value {
    let id = st(s, "id");
    let cpu_delta =
        u(s, "/cpu_stats/cpu_usage/total_usage") - u(s, "/precpu_stats/cpu_usage/total_usage");
    let sys_delta = u(s, "/cpu_stats/system_cpu_usage") - u(s, "/precpu_stats/system_cpu_usage");
    let mut online = u(s, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = u(s, "/memory_stats/usage");
    // cgroup v1 counts page cache in usage; docker subtracts the inactive file pages.
    let inactive = s
        .pointer("/memory_stats/stats/total_inactive_file")
        .or_else(|| s.pointer("/memory_stats/stats/inactive_file"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = u(s, "/memory_stats/limit");
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(n) = s.get("networks").and_then(Value::as_object) {
        for x in n.values() {
            rx += u(x, "/rx_bytes");
            tx += u(x, "/tx_bytes");
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match st(e, "op").to_lowercase().as_str() {
            "read" => rd += u(e, "/value"),
            "write" => wr += u(e, "/value"),
            _ => {}
        }
    }
    let name = st(s, "name").trim_start_matches('/').to_owned();
    json!({
        "Container": given,
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id },
        "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", format::bytes_size(mem), format::bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", format::human_size(rx), format::human_size(tx)),
        "BlockIO": format!("{} / {}", format::human_size(rd), format::human_size(wr)),
        "PIDs": format!("{}", u(s, "/pids_stats/current") as i64),
    })
}

fn headers() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

/// The containers to show: the named ones, else the running (or all) ones.
fn targets(c: &Client, a: &StatsArgs) -> Result<Vec<String>> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let list = c.get_json(&format!("/containers/json?all={}", a.all as u8))?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| st(x, "Id"))
        .collect())
}

pub fn stats(c: &Client, a: &StatsArgs) -> Result<()> {
    let names = targets(c, a)?;
    let trunc = !a.no_trunc;
    let f = Format::new(a.format.as_deref(), TABLE);
    if a.no_stream {
        let mut rows = Vec::new();
        let mut failed = false;
        for n in &names {
            match c.get_json(&format!("/containers/{}/stats?stream=false", enc(n))) {
                Ok(s) => rows.push(row(&s, n, trunc)),
                Err(e) => {
                    failed = true;
                    eprintln!("{e}");
                }
            }
        }
        if failed {
            return Err(Exit(1).into());
        }
        return f.render(&rows, &headers());
    }
    // A missing container is an error before anything is drawn, as with docker.
    for n in &names {
        c.get_json(&format!("/containers/{}/json", enc(n)))?;
    }
    let latest: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    for n in &names {
        let (c, n, latest) = (c.clone(), n.clone(), latest.clone());
        std::thread::spawn(move || {
            let Ok(r) = c.get(&format!("/containers/{}/stats?stream=true", enc(&n))) else {
                return;
            };
            for line in BufReader::new(r.body).lines() {
                let Ok(line) = line else { break };
                if let Ok(s) = serde_json::from_str::<Value>(&line)
                    && let Ok(mut m) = latest.lock()
                {
                    m.insert(n.clone(), row(&s, &n, trunc));
                }
            }
        });
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let rows: Vec<Value> = match latest.lock() {
            Ok(m) => names.iter().filter_map(|n| m.get(n).cloned()).collect(),
            Err(_) => Vec::new(),
        };
        // As docker redraws: cursor home, each line cleared to its end, the rest below
        // cleared (whether or not stdout is a terminal).
        let table = String::from_utf8_lossy(&f.render_bytes(&rows, &headers())?).into_owned();
        let mut frame = String::from("\x1b[H");
        for l in table.lines() {
            frame.push_str(l);
            frame.push_str("\x1b[K\n");
        }
        frame.push_str("\x1b[J");
        let mut o = std::io::stdout().lock();
        o.write_all(frame.as_bytes())?;
        o.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_becomes_docker_columns() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000u64}, "system_cpu_usage": 100_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000u64}, "system_cpu_usage": 0u64},
            "memory_stats": {"usage": 3_145_728u64, "limit": 1_073_741_824u64, "stats": {"inactive_file": 1_048_576u64}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "pids_stats": {"current": 3},
        });
        let r = row(&s, "web", true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "2.00%");
        assert_eq!(r["MemUsage"], "2MiB / 1GiB");
        assert_eq!(r["MemPerc"], "0.20%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "0B / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(format::bytes_size(1536.0), "1.5KiB");
    }
}
