//! `images` and `pull`.

use std::io::{BufRead, BufReader, IsTerminal, Write};

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::{ImagesArgs, PullArgs};
use crate::client::{Client, StreamError, enc};
use crate::container::filters_query;
use crate::format::{self, Format};

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn short_id(id: &str, trunc: bool) -> String {
    if !trunc {
        return id.to_owned();
    }
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

pub fn list(c: &Client, a: &ImagesArgs) -> Result<()> {
    if a.tree {
        c.require_api("--tree", "1.47")?;
    }
    let mut path = format!("/images/json?all={}", a.all as u8);
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    path.push_str(&filters_query(&filters)?);
    let list = c.get_json(&path)?;
    let items = list.as_array().cloned().unwrap_or_default();
    let trunc = !a.no_trunc;
    let mut rows = Vec::new();
    for i in &items {
        let id = short_id(i.get("Id").and_then(Value::as_str).unwrap_or(""), trunc);
        let created = i.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = format::human_size(i.get("Size").and_then(Value::as_f64).unwrap_or(0.0));
        // (docker writes this deprecated column with 4 digits)
        let virtual_size = format::human_size4(
            i.get("VirtualSize")
                .or_else(|| i.get("Size"))
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
        );
        let tags = crate::ops::str_list(i, "RepoTags");
        // -1 means "not computed" (docker prints N/A).
        let num = |k: &str| i.get(k).and_then(Value::as_i64).unwrap_or(-1);
        let containers = match num("Containers") {
            -1 => "N/A".to_owned(),
            n => n.to_string(),
        };
        let (shared, unique) = match num("SharedSize") {
            -1 => ("N/A".to_owned(), "N/A".to_owned()),
            n => (
                format::human_size(n as f64),
                format::human_size((num("Size") - n) as f64),
            ),
        };
        let digest = i
            .get("RepoDigests")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(|d| d.split_once('@').map(|(_, d)| d.to_owned()))
            .filter(|_| a.digests)
            .unwrap_or_else(|| "<none>".into());
        let pairs: Vec<(String, String)> = if tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            tags.iter()
                .map(|t| match t.rsplit_once(':') {
                    Some((r, tag)) if !tag.contains('/') => (r.to_owned(), tag.to_owned()),
                    _ => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in pairs {
            rows.push(format::with_go(json!({
                "Repository": repo, "Tag": tag, "ID": id, "Digest": digest,
                "CreatedSince": format!("{} ago", format::human_duration(format::now() - created)),
                "CreatedAt": crate::container::created_at(created), "Size": size,
                "Containers": containers, "SharedSize": shared, "UniqueSize": unique,
                "VirtualSize": virtual_size,
            }), "images", i));
        }
    }
    if format::quiet_wins(a.quiet, a.format.as_deref()) {
        // One ID per row (per repository:tag), repeated as docker repeats it.
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        IMAGES_TABLE
    };
    let headers = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "SIZE",
    });
    let raw = if a.digests {
        "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
    } else {
        "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
    };
    let user = format::raw(a.format.as_deref(), a.quiet, raw, "image_id: {{.ID}}");
    // As docker's NewImageFormat: --digests adds a DIGEST column to a table that lacks one.
    let with_digest;
    let user = match user {
        Some(f)
            if a.digests
                && f != "table"
                && f.starts_with("table")
                && !f.contains("{{.Digest}}") =>
        {
            with_digest = format!("{f}\\t{{{{.Digest}}}}");
            Some(with_digest.as_str())
        }
        other => other,
    };
    Format::new(user, default)
        .go_type("*formatter.imageContext")
        .render(&rows, &headers)
}

/// `name[:tag|@digest]` → (fromImage, tag), docker's defaulting to `latest`.
fn split_ref(r: &str) -> (String, String, bool) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_owned(), d.to_owned(), false);
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    match last.rsplit_once(':') {
        Some((_, t)) => (r[..r.len() - t.len() - 1].to_owned(), t.to_owned(), false),
        None => (r.to_owned(), "latest".into(), true),
    }
}

pub fn pull(c: &Client, a: &PullArgs) -> Result<()> {
    crate::ops::check_reference(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let term = std::io::stdout().is_terminal();
    pull_to(c, a, &mut std::io::stdout(), term, true)
}

/// Per-layer progress bars on a terminal (indicatif); inert otherwise.
struct Bars {
    multi: Option<indicatif::MultiProgress>,
    bars: Vec<(String, indicatif::ProgressBar)>,
}

impl Bars {
    fn new(term: bool, stdout: bool) -> Bars {
        let target = || {
            if stdout {
                indicatif::ProgressDrawTarget::stdout()
            } else {
                indicatif::ProgressDrawTarget::stderr()
            }
        };
        Bars {
            multi: term.then(|| indicatif::MultiProgress::with_draw_target(target())),
            bars: Vec::new(),
        }
    }

    fn update(&mut self, id: &str, status: &str, v: &Value) {
        let Some(multi) = &self.multi else { return };
        let bar = match self.bars.iter().find(|(i, _)| i == id) {
            Some((_, b)) => b.clone(),
            None => {
                let b = multi.add(indicatif::ProgressBar::new(0));
                b.set_style(
                    indicatif::ProgressStyle::with_template("{prefix}: {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_prefix(id.to_owned());
                self.bars.push((id.to_owned(), b.clone()));
                b
            }
        };
        bar.set_message(status.to_owned());
        let cur = v.pointer("/progressDetail/current").and_then(Value::as_u64);
        let total = v.pointer("/progressDetail/total").and_then(Value::as_u64);
        if let (Some(c), Some(t)) = (cur, total) {
            if bar.length() == Some(0) {
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix}: {msg:<18} [{bar:50}] {bytes}/{total_bytes}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
            }
            bar.set_length(t);
            bar.set_position(c);
        }
        if matches!(
            status,
            "Pull complete" | "Already exists" | "Pushed" | "Layer already exists"
        ) {
            if let Some(t) = bar.length() {
                bar.set_position(t);
            }
            bar.finish();
        }
    }

    /// A line of its own. Once the layers are done (Digest, Status), the bars are
    /// finished in place and later lines go below them, as docker lays it out.
    fn println(&mut self, out: &mut dyn Write, text: &str) -> std::io::Result<()> {
        match &self.multi {
            Some(m) if self.bars.is_empty() => m.println(text),
            Some(_) => {
                self.finish();
                self.multi = None;
                writeln!(out, "{text}")
            }
            None => writeln!(out, "{text}"),
        }
    }

    fn finish(&self) {
        for (_, b) in &self.bars {
            if !b.is_finished() {
                b.finish();
            }
        }
    }
}

/// Shows a daemon's JSON progress stream (pull, push, load): per-layer bars on a
/// terminal, else docker's plain lines (one per layer event, byte counters left out);
/// `stream` text (load's "Loaded image") as it is. An `error` ends it as a StreamError.
pub fn show_progress(
    body: impl std::io::Read,
    out: &mut dyn Write,
    term: bool,
    quiet: bool,
    to_stdout: bool,
) -> Result<()> {
    show_messages(body, out, term, quiet, to_stdout, &mut |_| {})
}

/// [`show_progress`], handing each message to `on_message` first (build reads its
/// `aux` image ID and its error's code there).
pub fn show_messages(
    body: impl std::io::Read,
    out: &mut dyn Write,
    term: bool,
    quiet: bool,
    to_stdout: bool,
    on_message: &mut dyn FnMut(&Value),
) -> Result<()> {
    let mut bars = Bars::new(term, to_stdout);
    let mut last_status = String::new();
    for line in BufReader::new(body).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        on_message(&v);
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            bars.finish();
            return Err(StreamError(e.to_owned()).into());
        }
        if let Some(t) = v.get("stream").and_then(Value::as_str) {
            if !quiet || t.starts_with("Loaded image") {
                bars.finish();
                write!(out, "{t}")?;
            }
            continue;
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        if quiet || status.is_empty() {
            continue;
        }
        let id = v.get("id").and_then(Value::as_str);
        if term
            && let Some(id) = id
            && !status.starts_with("Pulling from")
            && !status.starts_with("The push refers")
        {
            bars.update(id, status, &v);
            continue;
        }
        // Byte counters are for progress bars; plain output keeps only the events.
        let progress = matches!(
            status,
            "Downloading" | "Extracting" | "Pushing" | "Loading layer"
        ) || v.pointer("/progressDetail/current").is_some();
        let text = match id {
            Some(id) if !progress => format!("{id}: {status}"),
            // (`import URL`'s `Importing` counters have no ID)
            _ if progress => continue,
            _ => status.to_owned(),
        };
        if text != last_status {
            bars.println(out, &text)?;
            last_status = text;
        }
    }
    bars.finish();
    Ok(())
}

/// Pulls, printing docker's plain progress lines to `out` (the daemon's JSON stream,
/// one line per layer event, byte counters left out).
pub fn pull_to(
    c: &Client,
    a: &PullArgs,
    out: &mut dyn Write,
    out_is_terminal: bool,
    to_stdout: bool,
) -> Result<()> {
    let (name, tag, defaulted) = split_ref(&a.image);
    if a.all_tags && !defaulted {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    // -a: no tag, every tag of the repository.
    let tag = if a.all_tags { String::new() } else { tag };
    if defaulted && !a.all_tags && !a.quiet && to_stdout {
        writeln!(out, "Using default tag: latest")?;
    }
    let mut path = format!("/images/create?fromImage={}&tag={}", enc(&name), enc(&tag));
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let auth = crate::auth::header_for(&name);
    let extra: Vec<(&str, &str)> = auth
        .iter()
        .map(|h| ("X-Registry-Auth", h.as_str()))
        .collect();
    let r = c.raw("POST", &path, None, &extra)?.check()?;
    show_progress(r.body, out, !a.quiet && out_is_terminal, a.quiet, to_stdout)?;
    let full = if name.contains('/') {
        let first = name.split('/').next().unwrap_or("");
        if first.contains('.') || first.contains(':') || first == "localhost" {
            name.clone()
        } else {
            format!("docker.io/{name}")
        }
    } else {
        format!("docker.io/library/{name}")
    };
    let sep = if tag.starts_with("sha256:") { '@' } else { ':' };
    if tag.is_empty() {
        writeln!(out, "{full}")?;
    } else {
        writeln!(out, "{full}{sep}{tag}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_like_docker() {
        assert_eq!(
            split_ref("busybox"),
            ("busybox".into(), "latest".into(), true)
        );
        assert_eq!(
            split_ref("localhost:5000/a/b:v1"),
            ("localhost:5000/a/b".into(), "v1".into(), false)
        );
        assert_eq!(
            split_ref("localhost:5000/a"),
            ("localhost:5000/a".into(), "latest".into(), true)
        );
    }
}
