//! The event bus behind `GET /events`: every part of the engine reports what happened with
//! [`Engine::emit`] (Docker's types and action names), live subscribers get it through a
//! tokio broadcast channel, and a bounded ring of recent events answers `since`/`until`.
//!
//! Subscribing takes the ring snapshot and the live receiver under one lock, so a
//! subscriber sees every event exactly once: old ones from the ring, newer ones live.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::container::Container;
use crate::engine::Engine;

/// How many recent events `since` can reach back to (Docker keeps 256).
pub const RING_LEN: usize = 1024;

/// One event, as Docker's `events.Message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`, `daemon`, `plugin`...
    pub kind: String,
    /// `create`, `start`, `die`, `health_status: healthy`, `exec_start: sh -c ...`
    pub action: String,
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i64,
}

impl Event {
    /// Docker's JSON shape, with the legacy `status`/`id`/`from` that Docker still fills
    /// for container and image events.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Action": self.action,
            "Actor": { "ID": self.actor_id, "Attributes": self.attributes },
            "scope": "local",
            "time": self.time_nano.div_euclid(1_000_000_000),
            "timeNano": self.time_nano,
        });
        if matches!(self.kind.as_str(), "container" | "image") {
            v["status"] = json!(self.action);
            v["id"] = json!(self.actor_id);
            if self.kind == "container"
                && let Some(img) = self.attributes.get("image")
            {
                v["from"] = json!(img);
            }
        }
        v
    }
}

/// The broadcast channel plus the ring of recent events.
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    ring: Mutex<VecDeque<Arc<Event>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(RING_LEN);
        EventBus {
            tx,
            ring: Mutex::new(VecDeque::with_capacity(RING_LEN)),
        }
    }

    /// Records an event and hands it to every live subscriber.
    pub fn publish(&self, ev: Event) {
        let ev = Arc::new(ev);
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == RING_LEN {
            ring.pop_front();
        }
        ring.push_back(ev.clone());
        // No receivers is not an error: nobody is listening.
        let _ = self.tx.send(ev);
    }

    /// The recorded events at or after `since` and not after `until` (both in
    /// nanoseconds; `None` is open) plus a receiver for what comes next. As Docker does,
    /// no past events are replayed when neither bound is given.
    pub fn subscribe(
        &self,
        since: Option<i64>,
        until: Option<i64>,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        if since.is_none() && until.is_none() {
            return (Vec::new(), rx);
        }
        let past = ring
            .iter()
            .filter(|e| since.is_none_or(|s| e.time_nano >= s))
            .filter(|e| until.is_none_or(|u| e.time_nano <= u))
            .cloned()
            .collect();
        (past, rx)
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Parses the `since`/`until` values clients send: Unix seconds with an optional
/// fraction (`1700000000.123456789`, what the docker CLI sends for timestamps and
/// relative durations alike) or RFC 3339. Returns nanoseconds.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(ns) = parse_unix_fraction(s) {
        return Some(ns);
    }
    berth_image::timefmt::parse_rfc3339(s).map(|secs| secs.saturating_mul(1_000_000_000))
}

fn parse_unix_fraction(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = secs.starts_with('-');
    let secs: i64 = secs.parse().ok()?;
    if !frac.is_empty() && !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: i64 = digits.parse().ok()?;
    let nanos = if neg { -nanos } else { nanos };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A filter time as Docker's `GetTimestamp` takes it: a Go duration (`24h`, `1h30m`,
/// `90s`) back from now, or an absolute time as [`parse_event_time`]. Nanoseconds.
pub fn parse_until(s: &str) -> Option<i64> {
    berth_build::gofmt::parse_duration(s)
        .map(|d| now_nanos() - d)
        .or_else(|| parse_event_time(s))
}

/// Docker's `label` (each `k` or `k=v` must hold) and `label!` (none may) filters
/// against a set of labels.
pub fn labels_match(
    filters: &HashMap<String, Vec<String>>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let holds = |l: &String| match l.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(l.as_str()),
    };
    filters.get("label").is_none_or(|v| v.iter().all(holds))
        && filters.get("label!").is_none_or(|v| !v.iter().any(holds))
}

/// Docker's event filters (`type`, `event`, `container`, `image`, `label`, `volume`,
/// `network`, `daemon`, `scope`): values of one key are alternatives, keys all apply.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    f: HashMap<String, Vec<String>>,
}

impl EventFilter {
    pub fn new(f: HashMap<String, Vec<String>>) -> EventFilter {
        EventFilter {
            f: f.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        }
    }

    fn exact(&self, key: &str, candidates: &[&str]) -> bool {
        match self.f.get(key) {
            None => true,
            Some(vals) => vals
                .iter()
                .any(|v| candidates.iter().any(|c| !c.is_empty() && v == c)),
        }
    }

    /// Prefix match on the actor ID or its `name` attribute, for events of `kind`.
    fn fuzzy_name(&self, key: &str, ev: &Event) -> bool {
        let Some(vals) = self.f.get(key) else {
            return true;
        };
        if ev.kind != key {
            return false;
        }
        let name = ev.attributes.get("name").map(String::as_str).unwrap_or("");
        vals.iter().any(|v| {
            let v = if key == "container" {
                v.strip_prefix('/').unwrap_or(v)
            } else {
                v.as_str()
            };
            (!ev.actor_id.is_empty() && ev.actor_id.starts_with(v))
                || (!name.is_empty() && (name == v || name.starts_with(v)))
        })
    }

    fn action(&self, ev: &Event) -> bool {
        let Some(vals) = self.f.get("event") else {
            return true;
        };
        // Actions with a detail after a colon (`health_status: healthy`,
        // `exec_start: sh`) also match their bare name, as in Docker.
        let base = ev.action.split(':').next().unwrap_or("");
        vals.iter().any(|v| {
            v == &ev.action
                || (matches!(v.as_str(), "health_status" | "exec_create" | "exec_start")
                    && base == v)
        })
    }

    fn image(&self, ev: &Event) -> bool {
        if !self.f.contains_key("image") {
            return true;
        }
        let attr = if ev.kind == "image" { "name" } else { "image" };
        let name = ev.attributes.get(attr).map(String::as_str).unwrap_or("");
        self.exact(
            "image",
            &[&ev.actor_id, name, strip_tag(&ev.actor_id), strip_tag(name)],
        )
    }

    fn labels(&self, ev: &Event) -> bool {
        labels_match(&self.f, &ev.attributes)
    }

    /// Whether `ev` passes every filter.
    pub fn matches(&self, ev: &Event) -> bool {
        self.action(ev)
            && self.exact("type", &[&ev.kind])
            && self.exact("scope", &["local"])
            && self.fuzzy_name("daemon", ev)
            && self.fuzzy_name("container", ev)
            && self.fuzzy_name("volume", ev)
            && self.fuzzy_name("network", ev)
            && self.fuzzy_name("plugin", ev)
            && self.image(ev)
            && self.labels(ev)
    }
}

/// `busybox:latest` → `busybox` (a digest or port colon before the last `/` stays).
fn strip_tag(r: &str) -> &str {
    let r = r.split('@').next().unwrap_or(r);
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => &r[..i],
        _ => r,
    }
}

impl Engine {
    /// Publishes an event: `kind` is Docker's type (`container`, `image`, `volume`,
    /// `network`, `daemon`), `action` its action name, `actor_id` the object's ID.
    pub fn emit<K, V>(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) where
        K: Into<String>,
        V: Into<String>,
    {
        let ev = Event {
            kind: kind.to_owned(),
            action: action.to_owned(),
            actor_id: actor_id.to_owned(),
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            time_nano: now_nanos(),
        };
        tracing::debug!(kind, action, actor = actor_id, "event");
        self.events.publish(ev);
    }

    /// A container event with Docker's standard attributes (the container's labels,
    /// `image` and `name`) plus `extra` (`exitCode`, `signal`, `execID`...).
    pub fn emit_container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        let rec = c.rec();
        let mut attrs: BTreeMap<String, String> = rec
            .config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        attrs.insert("image".into(), rec.config.image.clone());
        attrs.insert("name".into(), rec.name.clone());
        for (k, v) in extra {
            attrs.insert((*k).into(), (*v).into());
        }
        self.emit("container", action, &rec.id, attrs);
    }

    /// `oom` (when the kernel killed it for memory) and `die` with `exitCode` and
    /// `execDuration` (whole seconds since the start), as Docker reports an exit.
    pub(crate) fn emit_exit(&self, c: &Container, exit: &crate::shim::Exit, started_at: &str) {
        if exit.oom_killed {
            self.emit_container(c, "oom", &[]);
        }
        let ran = berth_image::timefmt::parse_rfc3339(started_at)
            .map(|s| (berth_image::timefmt::now() - s).max(0))
            .unwrap_or(0);
        self.emit_container(
            c,
            "die",
            &[
                ("exitCode", &exit.exit_code.to_string()),
                ("execDuration", &ran.to_string()),
            ],
        );
    }

    /// The exec events: Docker names them `exec_create: CMD ARGS` and
    /// `exec_start: CMD ARGS` (the program, a space, the arguments: `exec_start: true `
    /// for a command without arguments, as dockerd writes it), with the exec's ID as
    /// `execID`.
    pub(crate) fn emit_exec(&self, e: &crate::exec::Exec, action: &str, exit_code: Option<i64>) {
        let Ok(c) = self.get(&e.container) else {
            return;
        };
        let action = if action == "exec_die" {
            action.to_owned()
        } else {
            let (prog, args) = match e.config.cmd.split_first() {
                Some((p, a)) => (p.as_str(), a.join(" ")),
                None => ("", String::new()),
            };
            format!("{action}: {prog} {args}")
        };
        let code = exit_code.map(|n| n.to_string());
        let mut extra = vec![("execID", e.id.as_str())];
        if let Some(code) = &code {
            extra.push(("exitCode", code));
        }
        self.emit_container(&c, &action, &extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            kind: kind.into(),
            action: action.into(),
            actor_id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            time_nano: 0,
        }
    }

    fn filter(pairs: &[(&str, &str)]) -> EventFilter {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry((*k).into()).or_default().push((*v).into());
        }
        EventFilter::new(m)
    }

    #[test]
    fn unix_fraction_times_parse_to_nanoseconds() {
        assert_eq!(parse_event_time("12.5"), Some(12_500_000_000));
        assert_eq!(
            parse_event_time("1700000000.000000001"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(parse_event_time("7"), Some(7_000_000_000));
        assert_eq!(parse_event_time("x"), None);
        assert_eq!(
            berth_build::gofmt::parse_duration("1h30m"),
            Some(5_400_000_000_000)
        );
        assert_eq!(
            berth_build::gofmt::parse_duration("1.5s"),
            Some(1_500_000_000)
        );
        assert_eq!(berth_build::gofmt::parse_duration("10"), None);
        assert!(parse_until("10m").unwrap() < now_nanos() - 590_000_000_000);
        assert_eq!(
            parse_event_time("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000_000_000)
        );
    }

    #[test]
    fn filters_follow_dockers_rules() {
        let start = ev(
            "container",
            "start",
            "abc123",
            &[("name", "web"), ("image", "busybox:latest"), ("k", "v")],
        );
        let health = ev(
            "container",
            "health_status: healthy",
            "abc123",
            &[("name", "web")],
        );
        let pull = ev("image", "pull", "busybox:latest", &[("name", "busybox")]);
        assert!(filter(&[]).matches(&start));
        assert!(filter(&[("type", "container")]).matches(&start));
        assert!(!filter(&[("type", "container")]).matches(&pull));
        assert!(filter(&[("event", "start"), ("event", "die")]).matches(&start));
        assert!(!filter(&[("event", "die")]).matches(&start));
        assert!(filter(&[("event", "health_status")]).matches(&health));
        assert!(filter(&[("container", "web")]).matches(&start));
        assert!(filter(&[("container", "abc")]).matches(&start));
        assert!(!filter(&[("container", "web")]).matches(&pull));
        assert!(filter(&[("image", "busybox")]).matches(&start));
        assert!(filter(&[("image", "busybox")]).matches(&pull));
        assert!(filter(&[("label", "k=v")]).matches(&start));
        assert!(filter(&[("label", "k")]).matches(&start));
        assert!(!filter(&[("label", "k=w")]).matches(&start));
        assert!(!filter(&[("volume", "x")]).matches(&start));
    }

    #[test]
    fn subscribers_get_the_past_by_time_then_live_events() {
        let bus = EventBus::new();
        for t in [10, 20, 30] {
            let mut e = ev("container", "create", "a", &[]);
            e.time_nano = t;
            bus.publish(e);
        }
        let (past, _) = bus.subscribe(None, None);
        assert!(past.is_empty());
        let (past, mut rx) = bus.subscribe(Some(15), Some(30));
        assert_eq!(
            past.iter().map(|e| e.time_nano).collect::<Vec<_>>(),
            [20, 30]
        );
        bus.publish(ev("container", "start", "a", &[]));
        assert_eq!(
            rx.try_recv().map(|e| e.action.clone()).ok().as_deref(),
            Some("start")
        );
    }

    #[test]
    fn json_has_legacy_fields_for_containers() {
        let v = ev(
            "container",
            "die",
            "abc",
            &[("image", "busybox"), ("exitCode", "3")],
        )
        .to_json();
        assert_eq!(v["status"], "die");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        let v = ev("volume", "create", "v", &[]).to_json();
        assert!(v.get("status").is_none());
    }
}
