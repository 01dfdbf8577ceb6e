//! The engine's side of the image endpoints: what only the engine knows (which containers
//! use an image, a container's writable layer) joined with the image store's operations.
//! `rmi`, `image prune`, `commit` and the per-container sizes `system df` reports.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_image::commit::{CommitOptions, ContainerFs};
use berth_image::digest::Digest;
use berth_image::images::{ImageSummary, RemoveAction};
use berth_image::manifest::ContainerConfig;
use berth_image::reference::Reference;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::Config;

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    /// `repo[:tag]` to tag the new image with (None: untagged).
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Pause a running container while its layer is read (Docker's default).
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: config fields that override the container's.
    pub config: Option<Config>,
}

/// `filters` of `GET /images/json` and `POST /images/prune`.
pub type Filters = HashMap<String, Vec<String>>;

impl Engine {
    /// An image event as Docker sends it: the actor is the image ID (a reference for
    /// pull and push), attributes its labels and `name`.
    pub fn emit_image(&self, action: &str, actor: &str, name: &str) {
        let mut attrs = self
            .images
            .inspect(actor)
            .ok()
            .and_then(|i| i.config.labels)
            .unwrap_or_default();
        attrs.insert("name".into(), name.to_owned());
        self.emit("image", action, actor, attrs);
    }

    /// Events for the steps of a removal (`untag`, `delete`) of image `id`: dockerd names
    /// the image by its ID in both, not by the tag removed.
    pub fn emit_removal(&self, id: &str, actions: &[RemoveAction]) {
        for a in actions {
            match a {
                RemoveAction::Untagged(_) => self.emit_image("untag", id, id),
                RemoveAction::Deleted(d) => {
                    self.emit_image("delete", &d.to_string(), &d.to_string())
                }
                RemoveAction::DeletedLayer(_) => {}
            }
        }
    }

    /// IDs of containers (any state) created from image `id`.
    pub fn image_users(&self, id: &Digest) -> Vec<String> {
        let id = id.to_string();
        self.all()
            .iter()
            .filter(|c| c.rec().image == id)
            .map(|c| c.id.clone())
            .collect()
    }

    /// `DELETE /images/{name}`, with dockerd's rules: a tag of an image that keeps other
    /// tags is only untagged; the last tag, or an ID, deletes the image. A container using
    /// the image is a conflict (409) unless `force`; a running one even then, when the
    /// image itself would go (a forced removal of its tag only untags it). An image other
    /// images were committed on cannot be deleted at all (its tag can be removed). Unless
    /// `noprune`, deleting an image also deletes its untagged parents that nothing else
    /// needs.
    pub async fn image_remove(
        self: &Arc<Self>,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<RemoveAction>> {
        let e = self.clone();
        let id = self
            .images
            .resolve(name)
            .map(|r| r.id.to_string())
            .unwrap_or_default();
        let name = name.to_owned();
        let actions =
            tokio::task::spawn_blocking(move || e.image_remove_sync(&name, force, !noprune))
                .await
                .map_err(|err| EngineError::internal("image remove", err))??;
        self.emit_removal(&id, &actions);
        Ok(actions)
    }

    fn image_remove_sync(&self, name: &str, force: bool, prune: bool) -> Result<Vec<RemoveAction>> {
        let rec = self.images.resolve(name).map_err(|err| match err {
            berth_image::images::ImageError::NotFound(_) => {
                EngineError::NotFound(format!("No such image: {}", familiar_or(name)))
            }
            other => other.into(),
        })?;
        let id = rec.id.clone();
        let (tags, digests) = self.images.references(&id);
        // One repository's references, with at most one tag (dockerd's isSingleReference).
        let single = tags.len() <= 1
            && tags
                .iter()
                .chain(&digests)
                .map(|r| r.name())
                .collect::<std::collections::HashSet<_>>()
                .len()
                <= 1;
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let by_id = !hex.is_empty() && id.hex().starts_with(hex);
        let mut actions = Vec::new();
        let quiet = if !by_id {
            if !force
                && single
                && let Some(c) = self.image_users(&id).first()
            {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    &c[..12],
                    &id.hex()[..12]
                )));
            }
            actions.push(RemoveAction::Untagged(self.images.untag(name)?));
            if !self.images.references(&id).0.is_empty() {
                return Ok(actions);
            }
            true
        } else {
            if single {
                if let Some(c) = self.delete_conflict(&id, false, !force) {
                    return Err(c.error(&id));
                }
                for t in &tags {
                    actions.push(RemoveAction::Untagged(self.images.untag(&t.to_string())?));
                }
            }
            false
        };
        self.delete_with_parents(&id, force, prune, quiet, &mut actions)?;
        Ok(actions)
    }

    /// dockerd's imageDeleteHelper: deletes `id` unless a conflict stands (soft ones only
    /// without `force`), then with `prune` its parent, unforced and quietly, and so on up
    /// the chain. `quiet` swallows a conflict while the image is still tagged, has
    /// children or a container uses it (the caller only meant to untag it).
    fn delete_with_parents(
        &self,
        id: &Digest,
        force: bool,
        prune: bool,
        quiet: bool,
        actions: &mut Vec<RemoveAction>,
    ) -> Result<()> {
        let (mut id, mut force, mut quiet) = (id.clone(), force, quiet);
        loop {
            if let Some(c) = self.delete_conflict(&id, !force, !force) {
                let dangling = self.images.references(&id).0.is_empty()
                    && self.images.children(&id).is_empty();
                if quiet && (!dangling || c.used) {
                    return Ok(());
                }
                return Err(c.error(&id));
            }
            let parent = self.images.resolve(&id.to_string())?.parent;
            actions.extend(self.images.delete(&id, &self.container_chains())?);
            match parent {
                Some(p) if prune && self.images.resolve(&p.to_string()).is_ok() => {
                    (id, force, quiet) = (p, false, true);
                }
                _ => return Ok(()),
            }
        }
    }

    /// dockerd's checkImageDeleteConflict: child images and running containers are hard
    /// conflicts; remaining tags (`refs`) and stopped containers (`stopped`) soft ones,
    /// checked only when asked.
    fn delete_conflict(&self, id: &Digest, refs: bool, stopped: bool) -> Option<DeleteConflict> {
        if !self.images.children(id).is_empty() {
            return Some(DeleteConflict::new(
                true,
                false,
                "image has dependent child images".into(),
            ));
        }
        let users: Vec<(String, bool)> = self
            .all()
            .iter()
            .map(|c| c.rec())
            .filter(|r| r.image == id.to_string())
            .map(|r| (r.id[..12].to_owned(), r.state.running))
            .collect();
        if let Some((c, _)) = users.iter().find(|u| u.1) {
            return Some(DeleteConflict::new(
                true,
                true,
                format!("image is being used by running container {c}"),
            ));
        }
        if refs && !self.images.references(id).0.is_empty() {
            return Some(DeleteConflict::new(
                false,
                false,
                "image is referenced in multiple repositories".into(),
            ));
        }
        if stopped && let Some((c, _)) = users.first() {
            return Some(DeleteConflict::new(
                false,
                true,
                format!("image is being used by stopped container {c}"),
            ));
        }
        None
    }

    /// Chain IDs containers sit on: their snapshots outlive a forced image removal.
    pub(crate) fn container_chains(&self) -> std::collections::HashSet<Digest> {
        self.all()
            .iter()
            .filter_map(|c| c.rec().chain_id)
            .filter_map(|c| Digest::parse(&c).ok())
            .collect()
    }

    /// `POST /images/prune`: dangling images (or, with `dangling=false`, every image no
    /// container uses), narrowed by `until` and `label`, each with its untagged parents.
    /// Returns what was done and the bytes freed.
    pub async fn image_prune(self: &Arc<Self>, f: &Filters) -> Result<(Vec<RemoveAction>, u64)> {
        let all = f
            .get("dangling")
            .is_some_and(|v| v.iter().any(|d| d == "false" || d == "0"));
        let until = match f.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_time_filter(u)?),
            None => None,
        };
        let e = self.clone();
        let f = f.clone();
        tokio::task::spawn_blocking(move || {
            // Reclaimed as dockerd counts it: the sizes of the layers that went.
            let sizes: HashMap<Digest, u64> = e
                .images
                .snapshots()
                .list()
                .map_err(berth_image::images::ImageError::from)?
                .into_iter()
                .map(|s| (s.chain_id, s.size))
                .collect();
            let images = e.images.list()?;
            let parents: std::collections::HashSet<&str> =
                images.iter().map(|i| i.parent_id.as_str()).collect();
            let mut actions = Vec::new();
            // Newest first: children go before the parents they would otherwise pin.
            for img in &images {
                let id = Digest::parse(&img.id).map_err(|err| EngineError::internal("id", err))?;
                if (!all && (!img.repo_tags.is_empty() || parents.contains(img.id.as_str())))
                    || !e.image_users(&id).is_empty()
                    || until.is_some_and(|t| img.created >= t)
                    || !labels_match(&img.labels, &f)
                {
                    continue;
                }
                match e.image_remove_sync(&img.id, true, true) {
                    Ok(a) => {
                        e.emit_removal(&img.id.to_string(), &a);
                        actions.extend(a);
                    }
                    // Gone with a child pruned before it, or still some image's parent.
                    Err(EngineError::NotFound(_) | EngineError::Conflict(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            let freed = actions
                .iter()
                .filter_map(|a| match a {
                    RemoveAction::DeletedLayer(c) => sizes.get(c).copied(),
                    _ => None,
                })
                .sum::<u64>();
            e.emit("image", "prune", "", [("reclaimed", freed.to_string())]);
            Ok((actions, freed))
        })
        .await
        .map_err(|err| EngineError::internal("image prune", err))?
    }

    /// `GET /images/json` with Docker's filters: `dangling`, `reference` (glob on the
    /// familiar name), `label`, `before`, `since`, `until`. Untagged images that others
    /// were committed on (intermediate images) only with `all`, and never as dangling.
    pub fn image_list(&self, f: &Filters, all: bool) -> Result<Vec<ImageSummary>> {
        let anchor = |key: &str| -> Result<Option<i128>> {
            match f.get(key).and_then(|v| v.first()) {
                Some(name) => {
                    let i = self.images.inspect(name).map_err(|e| match e {
                        berth_image::images::ImageError::NotFound(_) => {
                            EngineError::NotFound(format!("No such image: {}", familiar_or(name)))
                        }
                        other => other.into(),
                    })?;
                    Ok(berth_image::timefmt::parse_rfc3339_nanos(&i.created))
                }
                None => Ok(None),
            }
        };
        let before = anchor("before")?;
        let since = anchor("since")?;
        let until = match f.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_time_filter(u)?),
            None => None,
        };
        // dockerd takes the words of Go's ParseBool (and refuses the rest, as a list).
        let dangling = match f.get("dangling").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => match v[0].as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid filter 'dangling=[{}]'",
                        v.join(" ")
                    )));
                }
            },
        };
        let images = self.images.list()?;
        let parents: std::collections::HashSet<String> =
            images.iter().map(|i| i.parent_id.clone()).collect();
        let mut out = Vec::new();
        for mut img in images {
            if let Some(d) = dangling
                && d != img.repo_tags.is_empty()
            {
                continue;
            }
            if img.repo_tags.is_empty() && parents.contains(&img.id) && (!all || dangling.is_some())
            {
                continue;
            }
            if before.is_some_and(|t| img.created_nanos >= t)
                || since.is_some_and(|t| img.created_nanos <= t)
                || until.is_some_and(|t| img.created >= t)
                || !labels_match(&img.labels, f)
            {
                continue;
            }
            if let Some(pats) = f.get("reference").filter(|p| !p.is_empty()) {
                img.repo_tags
                    .retain(|t| pats.iter().any(|p| reference_matches(p, t)));
                if img.repo_tags.is_empty() {
                    continue;
                }
            }
            out.push(img);
        }
        Ok(out)
    }

    /// `POST /commit`: the container's writable layer (its overlay upper dir) on top of its
    /// image, with the container's config (overridden by the request's and `changes`).
    /// Returns the new image ID.
    pub async fn commit(self: &Arc<Self>, req: CommitRequest) -> Result<String> {
        let c = self.get(&req.container)?;
        let rec = c.rec();
        let mut config = to_image_config(&rec.config)?;
        if let Some(over) = &req.config {
            let o = to_image_config(over)?;
            macro_rules! take {
                ($($f:ident),*) => { $( if o.$f.is_some() { config.$f = o.$f.clone(); } )* };
            }
            take!(
                user,
                exposed_ports,
                env,
                entrypoint,
                cmd,
                volumes,
                working_dir,
                labels,
                stop_signal,
                healthcheck
            );
        }
        let reference = match req.reference.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => {
                let p = Reference::parse(r).map_err(|err| {
                    EngineError::InvalidArgument(format!("invalid reference format: {err}"))
                })?;
                Some(if p.tag().is_some() {
                    p
                } else {
                    p.with_tag("latest")
                        .map_err(|err| EngineError::InvalidArgument(err.to_string()))?
                })
            }
            None => None,
        };
        let chain_id = match &rec.chain_id {
            Some(s) => {
                Some(Digest::parse(s).map_err(|err| EngineError::internal("chain id", err))?)
            }
            None => None,
        };
        let fs = ContainerFs::new(chain_id, &self.container_dir(&rec.id));
        let created_by = std::iter::once(rec.path.as_str())
            .chain(rec.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let tag_name = reference.as_ref().map(|r| r.familiar());
        let opts = CommitOptions {
            changes: req.changes.clone(),
            comment: req.comment.clone().filter(|s| !s.is_empty()),
            author: req.author.clone().filter(|s| !s.is_empty()),
            created_by: Some(created_by),
            reference,
            config: Some(config),
        };
        let paused = req.pause && {
            let r = c.lock();
            r.state.running && !r.state.paused
        };
        if paused {
            self.pause(&rec.id).await?;
        }
        let images = self.images.clone();
        let parent = rec.image.clone();
        let res = tokio::task::spawn_blocking(move || images.commit(&parent, &fs, &opts)).await;
        // dockerd's order: pause, the image's tag, commit, unpause.
        let unpause = async {
            if paused && let Err(err) = self.unpause(&rec.id).await {
                tracing::warn!(container = %rec.id, error = %err, "unpause after commit failed");
            }
        };
        let res = res
            .map_err(|err| EngineError::internal("commit", err))
            .and_then(|r| {
                r.map_err(|err| match err {
                    berth_image::archive::ArchiveError::Change { .. }
                    | berth_image::archive::ArchiveError::UnknownChange(_)
                    | berth_image::archive::ArchiveError::InvalidPort(_)
                    | berth_image::archive::ArchiveError::InvalidProto(_)
                    | berth_image::archive::ArchiveError::ChangeArgs(_) => {
                        EngineError::InvalidArgument(err.to_string())
                    }
                    berth_image::archive::ArchiveError::Image(i) => i.into(),
                    other => EngineError::internal("commit", other),
                })
            });
        let (img, _) = match res {
            Ok(v) => v,
            Err(e) => {
                unpause.await;
                return Err(e);
            }
        };
        tracing::info!(container = %rec.id, image = %img.id, "committed");
        if let Some(t) = &tag_name {
            self.emit_image("tag", &img.id.to_string(), t);
        }
        self.emit_container(
            &c,
            "commit",
            &[
                ("comment", req.comment.as_deref().unwrap_or("")),
                ("imageID", &img.id.to_string()),
                ("imageRef", req.reference.as_deref().unwrap_or("")),
            ],
        );
        unpause.await;
        Ok(img.id.to_string())
    }

    /// A container's writable layer (`SizeRw`) and that plus its image (`SizeRootFs`).
    pub fn container_sizes(&self, id: &str) -> (u64, u64) {
        let Ok(c) = self.get(id) else {
            return (0, 0);
        };
        let rec = c.rec();
        let rw = berth_image::fsutil::apparent_size(&self.container_dir(&rec.id).join("upper"))
            .unwrap_or(0);
        let image = self.images.inspect(&rec.image).map(|i| i.size).unwrap_or(0);
        (rw, rw + image)
    }
}

/// Why an image cannot be deleted: `hard` ones not even by force; `used` when a container
/// is the reason.
struct DeleteConflict {
    hard: bool,
    used: bool,
    reason: String,
}

impl DeleteConflict {
    fn new(hard: bool, used: bool, reason: String) -> DeleteConflict {
        DeleteConflict { hard, used, reason }
    }

    /// The 409 with dockerd's wording.
    fn error(&self, id: &Digest) -> EngineError {
        let how = if self.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        EngineError::Conflict(format!(
            "conflict: unable to delete {} ({how}) - {}",
            &id.hex()[..12],
            self.reason
        ))
    }
}

/// `name` as dockerd names a missing image: with `:latest` when it has no tag or digest.
pub fn familiar_or(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if Reference::parse(name).is_ok() && !last.contains(':') && !name.contains('@') {
        format!("{name}:latest")
    } else {
        name.to_owned()
    }
}

/// The container's `Config` as an image's runtime config (same Docker field names).
fn to_image_config(c: &Config) -> Result<ContainerConfig> {
    let v = serde_json::to_value(c).map_err(|e| EngineError::internal("encode config", e))?;
    serde_json::from_value(v).map_err(|e| EngineError::internal("convert config", e))
}

/// `label=k` / `label=k=v` (all must hold) and `label!=…` (none may).
pub fn labels_match(labels: &BTreeMap<String, String>, f: &Filters) -> bool {
    let hit = |l: &String| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(l),
    };
    f.get("label").is_none_or(|v| v.iter().all(hit))
        && f.get("label!").is_none_or(|v| !v.iter().any(hit))
}

/// Docker's `reference` filter: a glob on `name` or `name:tag` (familiar form).
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let name = tag
        .rsplit_once(':')
        .map_or(tag, |(n, t)| if t.contains('/') { tag } else { n });
    glob(pattern, tag) || glob(pattern, name)
}

/// `*` (not crossing `/`) and `?` glob, as Go's path.Match.
fn glob(p: &str, s: &str) -> bool {
    let (p, s) = (p.as_bytes(), s.as_bytes());
    fn m(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| m(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && s[0] != b'/' && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    m(p, s)
}

/// `until`/`since` values: RFC 3339, Unix seconds (with optional fraction), or a Go
/// duration (`10m`, `1h30m`) before now. Returns Unix seconds.
pub fn parse_time_filter(v: &str) -> Result<i64> {
    if let Some(t) = berth_image::timefmt::parse_rfc3339(v) {
        return Ok(t);
    }
    if let Ok(f) = v.parse::<f64>() {
        return Ok(f as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = v.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| bad_time(v))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad_time(v)),
        };
        any = true;
    }
    if !any || !num.is_empty() {
        return Err(bad_time(v));
    }
    Ok(berth_image::timefmt::now() - total as i64)
}

fn bad_time(v: &str) -> EngineError {
    EngineError::InvalidArgument(format!("failed to parse value as time or duration: {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_docker() {
        assert!(reference_matches("bbtest", "bbtest:latest"));
        assert!(reference_matches("bb*", "bbtest:latest"));
        assert!(reference_matches("bbtest:l*", "bbtest:latest"));
        assert!(!reference_matches("bb", "bbtest:latest"));
        assert!(!reference_matches("*", "127.0.0.1:5000/x/y:1"));
        assert!(
            reference_matches("*/x/y", "127.0.0.1:5000/x/y:1")
                || reference_matches("127.0.0.1:5000/x/*", "127.0.0.1:5000/x/y:1")
        );
    }

    #[test]
    fn time_filters_take_timestamps_and_durations() {
        let now = berth_image::timefmt::now();
        assert_eq!(parse_time_filter("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(
            parse_time_filter("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000
        );
        let t = parse_time_filter("1h30m").unwrap();
        assert!((now - 5400 - t).abs() <= 1);
        assert!(parse_time_filter("soon").is_err());
        assert!(parse_time_filter("10").is_ok());
    }

    #[test]
    fn label_filters_need_all_and_refuse_negated() {
        let l: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "".into())].into();
        let f = |k: &str, v: &[&str]| -> Filters {
            [(k.to_owned(), v.iter().map(|s| s.to_string()).collect())].into()
        };
        assert!(labels_match(&l, &f("label", &["a", "b"])));
        assert!(labels_match(&l, &f("label", &["a=1"])));
        assert!(!labels_match(&l, &f("label", &["a=2"])));
        assert!(!labels_match(&l, &f("label!", &["a"])));
        assert!(labels_match(&l, &Filters::new()));
    }
}
