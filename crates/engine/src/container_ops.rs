//! The everyday container endpoints that are not lifecycle: rename, top, changes (diff),
//! export, prune and sizes. Each looks at the container's files from the host without
//! running anything from inside the container.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Paths berth mounts over or creates for every container. The init layer has them, but a
/// container made before berth had init layers (or one whose image has `/etc` as a symlink)
/// gets them in its upper dir at start: they are not the user's additions, so `docker diff`
/// leaves them out.
const INIT_PATHS: &[&str] = &[
    "/dev",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/proc",
    "/sys",
    "/.dockerenv",
];

/// `ps` output filtered to some PIDs, in Docker's `Titles`/`Processes` shape.
pub fn parse_ps(out: &str, pids: &[i32]) -> Result<Value> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles.iter().position(|t| *t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let mut procs = Vec::new();
    for l in lines {
        if l.trim().is_empty() {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut fields = Vec::new();
        let mut rest = l.trim_start();
        while fields.len() + 1 < titles.len() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
            if rest.is_empty() {
                break;
            }
        }
        if !rest.is_empty() {
            fields.push(rest.to_owned());
        }
        let pid: i32 = fields
            .get(pid_col)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| EngineError::Internal(format!("unexpected ps line: {l}")))?;
        if pids.contains(&pid) {
            procs.push(fields);
        }
    }
    Ok(json!({ "Titles": titles, "Processes": procs }))
}

/// The container's cgroup (`/berth/<id>`, as spec generation sets it).
pub(crate) fn cgroup(id: &str) -> Result<berth_cgroups::Cgroup> {
    let h = berth_cgroups::Hierarchy::detect().map_err(|e| EngineError::internal("cgroups", e))?;
    berth_cgroups::Cgroup::new(&h, &format!("/berth/{id}"))
        .map_err(|e| EngineError::internal("cgroup", e))
}

impl Engine {
    pub(crate) fn running(&self, name: &str) -> Result<(Arc<Container>, i64)> {
        let c = self.get(name)?;
        let (running, pid) = {
            let r = c.lock();
            (r.state.running, r.state.pid)
        };
        if !running || pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok((c, pid))
    }

    /// `GET /containers/{id}/top`: the host's `ps` with the caller's arguments, keeping the
    /// processes of the container's cgroup.
    pub async fn top(&self, name: &str, ps_args: &str) -> Result<Value> {
        let (c, _) = self.running(name)?;
        let pids = cgroup(&c.id)?
            .procs()
            .map_err(|e| EngineError::internal("cgroup processes", e))?;
        let args: Vec<&str> = ps_args.split_whitespace().collect();
        let args = if args.is_empty() { vec!["-ef"] } else { args };
        let ps = |extra: Option<String>| {
            tokio::process::Command::new("ps")
                .args(&args)
                .args(extra)
                .env("LC_ALL", "C")
                .output()
        };
        // Only the container's processes (`-q`), as dockerd asks: whatever the other
        // options select (`-o pid,args` alone would list this session's). Some options
        // cannot go with -q (`f`): then everything, filtered below.
        let only: Vec<String> = pids.iter().map(i32::to_string).collect();
        let mut out = None;
        if !only.is_empty() {
            out = Some(
                ps(Some(format!("-q{}", only.join(","))))
                    .await
                    .map_err(|e| EngineError::internal("run ps", e))?,
            )
            .filter(|o| o.status.success());
        }
        let out = match out {
            Some(o) => o,
            None => ps(None)
                .await
                .map_err(|e| EngineError::internal("run ps", e))?,
        };
        if !out.status.success() {
            // ps's first line, without the usage it prints after (dockerd shows that).
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(EngineError::Internal(format!("ps: {}", first.trim())));
        }
        let v = parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)?;
        self.emit_container(&c, "top", &[]);
        Ok(v)
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, name: &str, new: &str) -> Result<()> {
        if new.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let c = self.get(name)?;
        let new = new.strip_prefix('/').unwrap_or(new);
        if !crate::ids::valid_name(new) {
            return Err(EngineError::InvalidArgument(format!(
                "Error when allocating new name: Invalid container name (/{new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let old = c.name();
        if old == new {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self.all().into_iter().find(|o| o.name() == new) {
            return Err(EngineError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        c.lock().name = new.to_owned();
        if let Err(e) = self.persist(&c) {
            c.lock().name = old;
            return Err(match e {
                EngineError::Internal(m) if m.contains("UNIQUE") => EngineError::Conflict(format!(
                    "Error when allocating new name: the name \"/{new}\" is in use"
                )),
                e => e,
            });
        }
        self.renamed(&c.id, &old, new);
        self.emit_container(&c, "rename", &[("oldName", &format!("/{old}"))]);
        Ok(())
    }

    /// The chain ID of the container's image (None for an image without layers).
    pub(crate) fn chain_of(&self, c: &Container) -> Result<Option<berth_image::digest::Digest>> {
        let chain = c.lock().chain_id.clone();
        chain
            .map(|s| {
                berth_image::digest::Digest::parse(&s)
                    .map_err(|e| EngineError::internal("chain id", e))
            })
            .transpose()
    }

    /// The container's read-only layer directories, top-most first: its init layer
    /// (when it has one: containers made before berth had them do not) and the image's.
    pub(crate) fn lower_dirs(&self, c: &Container) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let init = crate::initlayer::path(&self.container_dir(&c.id));
        if init.is_dir() {
            out.push(init);
        }
        if let Some(d) = self.chain_of(c)? {
            out.extend(
                self.images
                    .snapshots()
                    .lower_dirs(&d)
                    .map_err(|e| EngineError::internal("image layers", e))?,
            );
        }
        Ok(out)
    }

    /// Mounts the container's layers read-write at its rootfs (`merged`), its upper dir on
    /// top; `volatile` for `--rm` containers (see `Snapshotter::mount_with`).
    pub(crate) fn mount_rootfs(&self, c: &Container, volatile: bool) -> Result<()> {
        let dir = self.container_dir(&c.id);
        let lowers = self.lower_dirs(c)?;
        berth_image::snapshot::mount_rw(
            &lowers,
            &dir.join("upper"),
            &dir.join("work"),
            &self.rootfs(&c.id),
            volatile,
        )
        .map_err(|e| EngineError::internal("mount rootfs", e))?
        .leak();
        Ok(())
    }

    /// `GET /containers/{id}/changes`: the upper dir against the init and image layers.
    pub async fn changes(&self, name: &str) -> Result<Value> {
        let c = self.get(name)?;
        let lowers = self.lower_dirs(&c)?;
        let upper = self.container_dir(&c.id).join("upper");
        let list = tokio::task::spawn_blocking(move || berth_image::diff::changes(&lowers, &upper))
            .await
            .map_err(|e| EngineError::internal("changes", e))?
            .map_err(|e| EngineError::internal("changes", e))?;
        // Mount points the runtime had to make in the upper dir (a container without an
        // init layer, or an image whose `/etc` is a symlink) are not the user's additions.
        let (init, kept): (Vec<_>, Vec<_>) = list.iter().partition(|ch| {
            ch.kind == berth_image::diff::ChangeKind::Added
                && INIT_PATHS.contains(&ch.path.as_str())
        });
        // The directories holding those files (`/etc`, `/dev`) changed only for them: in
        // dockerd they are the init layer's, not the container's.
        let under = |dir: &str, p: &str| {
            p.strip_prefix(dir)
                .is_some_and(|r| r.len() > 1 && r.starts_with('/'))
        };
        let out: Vec<Value> = kept
            .iter()
            .filter(|ch| {
                let d = ch.path.as_str();
                !(ch.kind as u8 != 2
                    && init.iter().any(|i| under(d, &i.path))
                    && !kept.iter().any(|o| under(d, &o.path)))
            })
            .map(|ch| json!({ "Path": ch.path, "Kind": ch.kind as u8 }))
            .collect();
        Ok(if out.is_empty() {
            Value::Null
        } else {
            json!(out)
        })
    }

    /// `GET /containers/{id}/export`: the container's filesystem (image layers plus its
    /// changes) as one tar, written to `out` from a blocking thread. The layers are
    /// mounted read-only on a private scratch dir; nothing of the container is executed.
    pub async fn export(&self, name: &str, out: impl Write + Send + 'static) -> Result<()> {
        let c = self.get(name)?;
        // The upper dir over the init layer over the image's layers.
        let mut layers = vec![self.container_dir(&c.id).join("upper")];
        layers.extend(self.lower_dirs(&c)?);
        let scratch = self.scratch_dir()?;
        self.emit_container(&c, "export", &[]);
        let s2 = scratch.clone();
        let r = tokio::task::spawn_blocking(move || {
            berth_image::archive::export_dirs(&layers, &s2, out).map(|_| ())
        })
        .await;
        let _ = std::fs::remove_dir(&scratch);
        r.map_err(|e| EngineError::internal("export", e))?
            .map_err(|e| EngineError::internal("export", e))
    }

    /// A fresh empty directory under the exec root for temporary read-only mounts.
    pub(crate) fn scratch_dir(&self) -> Result<PathBuf> {
        let d = self
            .cfg
            .exec_root
            .join("scratch")
            .join(crate::ids::random_hex(16));
        std::fs::create_dir_all(&d)
            .map_err(|e| EngineError::internal(format!("create {}", d.display()), e))?;
        Ok(d)
    }

    /// `SizeRw` (the container's upper dir) and `SizeRootFs` (that plus its image layers),
    /// counted as Docker counts them: file sizes, directories not counted, hard links once.
    pub fn sizes(&self, c: &Container) -> (u64, u64) {
        let du = |p: &std::path::Path| berth_image::fsutil::apparent_size(p).unwrap_or(0);
        let rw = du(&self.container_dir(&c.id).join("upper"));
        let lower: u64 = self
            .lower_dirs(c)
            .unwrap_or_default()
            .iter()
            .map(|p| du(p))
            .sum();
        (rw, rw + lower)
    }

    /// `POST /containers/prune`: removes stopped containers matching `until` (created
    /// before) and `label` / `label!` filters. Returns (IDs, bytes reclaimed).
    pub async fn prune_containers(
        self: &Arc<Self>,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<(Vec<String>, u64)> {
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(crate::events::parse_until(u).ok_or_else(|| {
                EngineError::InvalidArgument(format!(
                    "failed to parse value as time or duration: {u:?}"
                ))
            })?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for c in self.all() {
            let rec = c.rec();
            if rec.state.running || rec.state.paused || rec.state.restarting {
                continue;
            }
            if let Some(u) = until {
                let created = berth_image::timefmt::parse_rfc3339(&rec.created).unwrap_or(0);
                if created.saturating_mul(1_000_000_000) >= u {
                    continue;
                }
            }
            let labels = rec.config.labels.clone().unwrap_or_default();
            if !crate::events::labels_match(filters, &labels) {
                continue;
            }
            let (rw, _) = self.sizes(&c);
            match self.remove(&c.id, false, false).await {
                Ok(()) => {
                    deleted.push(c.id.clone());
                    reclaimed += rw;
                }
                Err(e) => tracing::warn!(container = %c.id, error = %e, "prune: not removed"),
            }
        }
        self.emit(
            "container",
            "prune",
            "",
            [("reclaimed", reclaimed.to_string())],
        );
        Ok((deleted, reclaimed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_filtered_by_pid_and_keeps_command_spaces() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init splash\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let v = parse_ps(out, &[42]).unwrap();
        assert_eq!(v["Titles"][7], "CMD");
        assert_eq!(v["Processes"].as_array().unwrap().len(), 1);
        assert_eq!(v["Processes"][0][7], "sleep 100");
        assert_eq!(v["Processes"][0][1], "42");
        assert!(parse_ps("USER COMMAND\n", &[]).is_err());
    }
}
