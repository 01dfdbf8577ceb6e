//! `stats`: one sample per container (`--no-stream`), or a table redrawn every half
//! second from one stats stream per container. The numbers are computed the way the
//! docker CLI computes them from the API's raw cgroup counters.

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
    // (docker's StatsEntry, which `{{.}}` prints)
    let entry = json!({
        "Container": given, "Name": st(s, "name"), "ID": id, "CPUPercentage": cpu,
        "Memory": mem, "MemoryLimit": limit, "MemoryPercentage": mem_pct, "NetworkRx": rx,
        "NetworkTx": tx, "BlockRead": rd, "BlockWrite": wr,
        "PidsCurrent": u(s, "/pids_stats/current") as u64, "IsInvalid": false,
    });
    let name = st(s, "name").trim_start_matches('/').to_owned();
    let row = json!({
        "Container": given,
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id },
        "Name": name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", format::bytes_size(mem), format::bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", format::human_size(rx), format::human_size(tx)),
        "BlockIO": format!("{} / {}", format::human_size(rd), format::human_size(wr)),
        "PIDs": format!("{}", u(s, "/pids_stats/current") as i64),
    });
    format::with_go(row, &format!("stats:{trunc}"), &entry)
}

fn headers() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

/// The running (or all) containers' short IDs, newest first: docker 28 watches the
/// containers it finds itself by the first 12 characters of their IDs (its
/// `.Container`).
fn listed(c: &Client, all: bool) -> Result<Vec<String>> {
    let list = c.get_json(&format!("/containers/json?all={}", all as u8))?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| short(&st(x, "Id")).to_owned())
        .collect())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub fn stats(c: &Client, a: &StatsArgs) -> Result<()> {
    let trunc = !a.no_trunc;
    let f = Format::new(a.format.as_deref(), TABLE).go_type("*container.statsContext");
    if a.no_stream {
        let names = if a.containers.is_empty() {
            listed(c, a.all)?
        } else {
            a.containers.clone()
        };
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
    let board = Board::new(c.clone(), trunc);
    if a.containers.is_empty() {
        // As docker: follow container events (subscribed before listing, so that none
        // is missed) to add containers that start (or, with --all, are created) and to
        // drop those that are destroyed (or, without --all, die).
        let events = c.get(&format!(
            "/events?filters={}",
            enc(r#"{"type":["container"]}"#)
        ))?;
        for id in listed(c, a.all)? {
            board.track(&id);
        }
        let (board, all) = (board.clone(), a.all);
        std::thread::spawn(move || {
            for line in BufReader::new(events.body).lines() {
                let Ok(line) = line else { break };
                let Ok(e) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let id = short(e.pointer("/Actor/ID").and_then(Value::as_str).unwrap_or(""));
                match e.get("Action").and_then(Value::as_str).unwrap_or("") {
                    "start" => board.track(id),
                    "create" if all => board.track(id),
                    "die" if !all => board.untrack(id),
                    "destroy" => board.untrack(id),
                    _ => {}
                }
            }
        });
    } else {
        // A missing container is an error before anything is drawn, as with docker.
        for n in &a.containers {
            c.get_json(&format!("/containers/{}/json", enc(n)))?;
        }
        for n in &a.containers {
            board.track(n);
        }
    }
    // Docker waits (up to two seconds) for the first sample of each container.
    let t0 = std::time::Instant::now();
    while !board.all_sampled() && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        let rows = board.rows();
        let table = String::from_utf8_lossy(&f.render_bytes(&rows, &headers())?).into_owned();
        let mut o = std::io::stdout().lock();
        o.write_all(frame(&table).as_bytes())?;
        o.flush()?;
        drop(o);
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One redraw, byte for byte as docker 28 writes it (terminal or not): its buffer holds
/// cursor-home and the table, then the same text again line by line, each line with a
/// space and erase-to-end-of-line, then erase-below. On a terminal the second copy
/// overwrites the first.
fn frame(table: &str) -> String {
    let mut out = format!("\x1b[H{table}");
    let first = out.clone();
    for line in first.split('\n') {
        out.push_str(line);
        out.push_str(" \x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

/// The containers being watched, in the order they were added, each with its latest
/// row; one thread per container reads its stats stream.
#[derive(Clone)]
struct Board {
    c: Client,
    trunc: bool,
    inner: Arc<Mutex<(Vec<Watched>, u64)>>,
}

struct Watched {
    key: String,
    /// Which reader thread may update this entry (a re-added container gets a new one).
    token: u64,
    row: Option<Value>,
    /// The stream ended or failed: docker shows `--` in every measured column.
    invalid: bool,
}

impl Board {
    fn new(c: Client, trunc: bool) -> Board {
        Board {
            c,
            trunc,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<Watched>, u64)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching `key` (an ID or a name) unless it is watched already.
    fn track(&self, key: &str) {
        let token = {
            let mut g = self.lock();
            if key.is_empty() || g.0.iter().any(|w| w.key == key) {
                return;
            }
            g.1 += 1;
            let token = g.1;
            g.0.push(Watched {
                key: key.to_owned(),
                token,
                row: None,
                invalid: false,
            });
            token
        };
        let (board, key) = (self.clone(), key.to_owned());
        std::thread::spawn(move || {
            let path = format!("/containers/{}/stats?stream=true", enc(&key));
            if let Ok(r) = board.c.get(&path) {
                for line in BufReader::new(r.body).lines() {
                    let Ok(line) = line else { break };
                    let Ok(s) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    let row = row(&s, &key, board.trunc);
                    if !board.update(token, |w| w.row = Some(row)) {
                        return;
                    }
                }
            }
            board.update(token, |w| w.invalid = true);
        });
    }

    /// Applies `f` to the entry of `token`; false once that entry is gone.
    fn update(&self, token: u64, f: impl FnOnce(&mut Watched)) -> bool {
        let mut g = self.lock();
        match g.0.iter_mut().find(|w| w.token == token) {
            Some(w) => {
                f(w);
                true
            }
            None => false,
        }
    }

    fn untrack(&self, id: &str) {
        self.lock().0.retain(|w| w.key != id);
    }

    fn all_sampled(&self) -> bool {
        self.lock().0.iter().all(|w| w.row.is_some() || w.invalid)
    }

    fn rows(&self) -> Vec<Value> {
        self.lock()
            .0
            .iter()
            .map(|w| {
                let mut r = w
                    .row
                    .clone()
                    .unwrap_or_else(|| row(&json!({}), &w.key, self.trunc));
                if w.invalid {
                    for k in ["CPUPerc", "MemPerc", "NetIO", "BlockIO", "PIDs"] {
                        r[k] = json!("--");
                    }
                    r["MemUsage"] = json!("-- / --");
                }
                r
            })
            .collect()
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

    #[test]
    fn frames_repeat_the_table_as_docker_does() {
        assert_eq!(
            frame("A\nB\n"),
            "\x1b[HA\nB\n\x1b[HA \x1b[K\nB \x1b[K\n \x1b[K\n\x1b[J"
        );
    }
}
