//! Healthchecks: `Config.Healthcheck` (or the image's), probed on schedule through the
//! exec machinery (so the probe is a child of the container's shim, like `docker exec`),
//! with Docker's rules: failures during the start period do not count, `Retries`
//! consecutive failures make the container unhealthy, one success makes it healthy, the
//! last five results are kept. The state is part of the container record (persisted), and
//! a restarted berthd resumes probing the containers it finds running.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::container::{Container, ContainerRecord};
use crate::engine::Engine;
use crate::types::ExecConfig;

/// Probe output kept per result (Docker's limit).
const MAX_OUTPUT: usize = 4096;
/// Results kept in `State.Health.Log`.
const MAX_LOG: usize = 5;

/// `State.Health` of `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `Config.Healthcheck`: durations in nanoseconds, zero meaning "the default".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl HealthConfig {
    /// A field sent as null (docker-py sends every field it was not given) is a zero.
    fn from_value(v: Option<&Value>) -> Option<HealthConfig> {
        let mut v = v.filter(|v| !v.is_null())?.clone();
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, f| !f.is_null());
        }
        serde_json::from_value(v).ok()
    }

    /// The command to run, or None when the check is disabled (`NONE`) or absent.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => Some(self.test[1..].to_vec()),
            Some("CMD-SHELL") if self.test.len() > 1 => Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                self.test[1..].join(" "),
            ]),
            _ => None,
        }
    }

    fn dur(ns: i64, default: Duration) -> Duration {
        if ns > 0 {
            Duration::from_nanos(ns as u64)
        } else {
            default
        }
    }

    fn interval(&self) -> Duration {
        Self::dur(self.interval, Duration::from_secs(30))
    }
    fn timeout(&self) -> Duration {
        Self::dur(self.timeout, Duration::from_secs(30))
    }
    fn start_interval(&self) -> Duration {
        Self::dur(self.start_interval, Duration::from_secs(5))
    }
    fn retries(&self) -> i64 {
        if self.retries > 0 { self.retries } else { 3 }
    }
}

/// Fills the container's `Config.Healthcheck` from the image's, field by field as Docker
/// does (the container's own values win; no test inherits the image's).
pub fn merge_image_healthcheck(config: &mut crate::types::Config, image: Option<&Value>) {
    let Some(img) = HealthConfig::from_value(image) else {
        return;
    };
    let mut own = HealthConfig::from_value(config.extra.get("Healthcheck")).unwrap_or_default();
    if own.test.is_empty() {
        own.test = img.test;
    }
    for (mine, theirs) in [
        (&mut own.interval, img.interval),
        (&mut own.timeout, img.timeout),
        (&mut own.start_period, img.start_period),
        (&mut own.start_interval, img.start_interval),
        (&mut own.retries, img.retries),
    ] {
        if *mine == 0 {
            *mine = theirs;
        }
    }
    if let Ok(v) = serde_json::to_value(&own) {
        config.extra.insert("Healthcheck".into(), v);
    }
}

/// The check configured for a container, if it has one that runs.
fn config_of(rec: &ContainerRecord) -> Option<HealthConfig> {
    HealthConfig::from_value(rec.config.extra.get("Healthcheck")).filter(|h| h.command().is_some())
}

/// ` (healthy)`, ` (unhealthy)`, ` (health: starting)` or nothing, for `docker ps`.
pub fn ps_suffix(rec: &ContainerRecord) -> String {
    match rec.state.health.as_ref().map(|h| h.status.as_str()) {
        Some("starting") => " (health: starting)".into(),
        Some(s @ ("healthy" | "unhealthy")) => format!(" ({s})"),
        _ => String::new(),
    }
}

/// Decodes the shim's multiplexed frames (8-byte headers) into one text, capped.
fn demux(raw: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = raw;
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.truncate(MAX_OUTPUT);
    String::from_utf8_lossy(&out).into_owned()
}

impl Engine {
    /// `none`, `starting`, `healthy` or `unhealthy` (the `health` list filter).
    pub fn health_status(&self, c: &Container) -> String {
        let r = c.lock();
        match (&r.state.health, config_of(&r)) {
            (Some(h), Some(_)) if r.state.running => h.status.clone(),
            (_, Some(_)) if r.state.running => "starting".into(),
            _ => "none".into(),
        }
    }

    /// Starts the probe loop of a container that just started (or was found running by a
    /// restarted berthd: `resume` keeps its status and streak).
    pub fn health_start(self: &Arc<Self>, c: &Arc<Container>, resume: bool) {
        let Some(cfg) = config_of(&c.lock()) else {
            return;
        };
        {
            let mut r = c.lock();
            if !resume || r.state.health.is_none() {
                r.state.health = Some(Health {
                    status: "starting".into(),
                    ..Default::default()
                });
            }
        }
        let _ = self.persist(c);
        let engine = self.clone();
        let c = c.clone();
        let generation = c.life.borrow().exits;
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut life = c.life.subscribe();
            loop {
                let in_start =
                    started.elapsed() < Duration::from_nanos(cfg.start_period.max(0) as u64);
                let wait = if in_start && cfg.start_period > 0 {
                    cfg.start_interval()
                } else {
                    cfg.interval()
                };
                let stopped = tokio::time::timeout(
                    wait,
                    life.wait_for(|l| l.exits != generation || l.removed || !l.running),
                )
                .await
                .is_ok();
                if stopped {
                    engine.health_stopped(&c);
                    return;
                }
                // A frozen container cannot run a probe; its status waits for the thaw.
                if c.lock().state.paused {
                    continue;
                }
                let in_start =
                    started.elapsed() < Duration::from_nanos(cfg.start_period.max(0) as u64);
                let result = engine.probe(&c, &cfg).await;
                if c.life.borrow().exits != generation {
                    return;
                }
                engine.record_health(&c, &cfg, result, in_start);
            }
        });
    }

    /// Runs one probe: an exec with stdout and stderr captured, bounded by the timeout.
    async fn probe(self: &Arc<Self>, c: &Container, cfg: &HealthConfig) -> HealthResult {
        let start = crate::now_rfc3339();
        let fail = |code: i64, output: String| HealthResult {
            start: start.clone(),
            end: crate::now_rfc3339(),
            exit_code: code,
            output,
        };
        let Some(cmd) = cfg.command() else {
            return fail(-1, "no healthcheck command".into());
        };
        let exec_cfg = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd,
            ..Default::default()
        };
        let id = match self.exec_create_probe(&c.id, exec_cfg) {
            Ok(id) => id,
            Err(e) => return fail(-1, e.to_string()),
        };
        let timeout = cfg.timeout();
        let run = async {
            let stream = self.exec_start(&id, true).await?;
            let mut raw = Vec::new();
            if let Some(mut s) = stream {
                let _ = (&mut s).take(64 << 10).read_to_end(&mut raw).await;
            }
            self.exec_wait(&id, Duration::from_secs(5)).await;
            let code = self
                .exec_get(&id)
                .ok()
                .and_then(|e| e.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code)
                .unwrap_or(-1);
            Ok::<_, crate::EngineError>((code, demux(&raw)))
        };
        let res = match tokio::time::timeout(timeout, run).await {
            Ok(Ok((code, output))) => fail(code, output),
            Ok(Err(e)) => fail(-1, e.to_string()),
            Err(_) => fail(
                -1,
                format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
            ),
        };
        // Probe execs are not the user's: they do not show up in ExecIDs.
        self.execs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        res
    }

    /// Docker reports a container whose monitor stopped (it exited) as unhealthy.
    fn health_stopped(&self, c: &Container) {
        {
            let mut r = c.lock();
            if r.state.running {
                return; // already started again, with a new monitor
            }
            match r.state.health.as_mut() {
                Some(h) => h.status = "unhealthy".into(),
                None => return,
            }
        }
        let _ = self.persist(c);
    }

    fn record_health(&self, c: &Container, cfg: &HealthConfig, res: HealthResult, in_start: bool) {
        let (old, new) = {
            let mut r = c.lock();
            let h = r.state.health.get_or_insert_with(|| Health {
                status: "starting".into(),
                ..Default::default()
            });
            let old = h.status.clone();
            if res.exit_code == 0 {
                h.failing_streak = 0;
                h.status = "healthy".into();
            } else if !(in_start && h.status == "starting") {
                h.failing_streak += 1;
                if h.failing_streak >= cfg.retries() {
                    h.status = "unhealthy".into();
                }
            }
            h.log.push(res);
            if h.log.len() > MAX_LOG {
                let n = h.log.len() - MAX_LOG;
                h.log.drain(..n);
            }
            (old, h.status.clone())
        };
        let _ = self.persist(c);
        if old != new {
            tracing::info!(container = %c.id, status = %new, "health changed");
            self.emit_container(c, &format!("health_status: {new}"), &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_become_commands() {
        let h = |t: &[&str]| HealthConfig {
            test: t.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(h(&["CMD", "true"]).command().unwrap(), ["true"]);
        assert_eq!(
            h(&["CMD-SHELL", "exit 1"]).command().unwrap(),
            ["/bin/sh", "-c", "exit 1"]
        );
        assert!(h(&["NONE"]).command().is_none());
        assert!(h(&[]).command().is_none());
    }

    #[test]
    fn image_check_fills_what_the_container_leaves_out() {
        let mut cfg = crate::types::Config::default();
        cfg.extra.insert(
            "Healthcheck".into(),
            serde_json::json!({"Interval": 1_000_000_000i64}),
        );
        let img = serde_json::json!({"Test": ["CMD", "true"], "Interval": 5, "Retries": 2});
        merge_image_healthcheck(&mut cfg, Some(&img));
        let m = HealthConfig::from_value(cfg.extra.get("Healthcheck")).unwrap();
        assert_eq!(m.test, ["CMD", "true"]);
        assert_eq!(m.interval, 1_000_000_000);
        assert_eq!(m.retries, 2);
    }

    #[test]
    fn null_fields_are_defaults() {
        let v = serde_json::json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000i64,
            "Timeout": null, "Retries": null, "StartPeriod": null});
        let h = HealthConfig::from_value(Some(&v)).unwrap();
        assert_eq!(h.command().unwrap(), ["true"]);
        assert_eq!((h.interval, h.timeout, h.retries), (1_000_000_000, 0, 0));
    }

    #[test]
    fn frames_are_demultiplexed() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"ok\n");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        raw.extend_from_slice(b"e\n");
        assert_eq!(demux(&raw), "ok\ne\n");
    }
}
