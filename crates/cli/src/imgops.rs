//! Image commands beyond pull/images: push, rmi, tag, save, load, history, import and
//! image prune.

use std::io::{IsTerminal, Read, Write};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use crate::Exit;
use crate::args::{
    HistoryArgs, ImagePruneArgs, ImportArgs, LoadArgs, PushArgs, RmiArgs, SaveArgs, TagArgs,
};
use crate::client::{Client, enc};
use crate::container::{prune_filters_query, st};
use crate::format::{self, Format};
use crate::image::show_progress;
use crate::ops::{TarSink, add_query, prune_report, reclaimed, repo_tag, run_prune};

/// Docker's full reference for messages: `docker.io/library/x:tag`.
fn full_name(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name.to_owned()
        }
        Some(_) => format!("docker.io/{name}"),
        None => format!("docker.io/library/{name}"),
    }
}

pub fn push(c: &Client, a: &PushArgs) -> Result<()> {
    // As docker: the name is checked before anything is printed or asked.
    crate::ops::check_reference(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (name, mut tag) = repo_tag(&a.image);
    if a.all_tags && (!tag.is_empty() || a.image.contains('@')) {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    let stdout = std::io::stdout();
    let term = stdout.is_terminal();
    let mut out = stdout.lock();
    if tag.is_empty() && !a.all_tags && !a.image.contains('@') {
        if !a.quiet {
            writeln!(out, "Using default tag: latest")?;
        }
        tag = "latest".into();
    }
    let mut path = format!("/images/{}/push", enc(&name));
    if !a.all_tags {
        path.push_str(&format!("?tag={}", enc(&tag)));
    }
    if let Some(p) = &a.platform {
        path.push_str(if a.all_tags { "?" } else { "&" });
        path.push_str(&format!("platform={}", enc(p)));
    }
    // Docker always sends the header; `{}` when it holds no credentials.
    let auth = crate::auth::header_for(&name).unwrap_or_else(|| "e30=".into());
    let r = c
        .raw("POST", &path, None, &[("X-Registry-Auth", &auth)])?
        .check()?;
    if a.quiet {
        show_progress(r.body, &mut std::io::sink(), false, true, true)?;
        writeln!(out, "{}:{tag}", full_name(&name))?;
        return Ok(());
    }
    show_progress(r.body, &mut out, term, false, true)
}

pub fn rmi(c: &Client, a: &RmiArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            enc(n),
            a.force as u8,
            a.no_prune as u8
        );
        let r = c
            .raw("DELETE", &path, None, &[])
            .and_then(|r| r.check())
            .and_then(|r| r.json());
        match r {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                // With -f a missing image is reported but is no failure, as in docker.
                let missing = e
                    .downcast_ref::<crate::client::DaemonError>()
                    .is_some_and(|d| d.status == 404);
                failed |= !(a.force && missing);
                eprintln!("{e}");
            }
        }
    }
    if failed { Err(Exit(1).into()) } else { Ok(()) }
}

pub fn tag(c: &Client, a: &TagArgs) -> Result<()> {
    // docker's client checks the source (ParseAnyReference), then the target.
    let source_ok = a.source.len() == 64 && a.source.bytes().all(|b| b.is_ascii_hexdigit());
    if !source_ok && let Err(e) = crate::ops::check_reference(&a.source) {
        eprintln!(
            "Error parsing reference: \"{}\" is not a valid repository/tag: {e}",
            a.source
        );
        return Err(crate::Exit(1).into());
    }
    if let Err(e) = crate::ops::check_reference(&a.target) {
        eprintln!(
            "Error parsing reference: \"{}\" is not a valid repository/tag: {e}",
            a.target
        );
        return Err(crate::Exit(1).into());
    }
    let (repo, tag) = repo_tag(&a.target);
    let tag = if tag.is_empty() { "latest".into() } else { tag };
    c.post(
        &format!(
            "/images/{}/tag?repo={}&tag={}",
            enc(&a.source),
            enc(&repo),
            enc(&tag)
        ),
        None,
    )?
    .bytes()?;
    Ok(())
}

pub fn save(c: &Client, a: &SaveArgs) -> Result<()> {
    let out = TarSink::open(a.output.as_deref(), "failed to save image")?;
    let mut q: Vec<String> = a
        .images
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    if let Some(p) = &a.platform {
        q.push(format!("platform={}", enc(p)));
    }
    let mut r = c.get(&format!("/images/get?{}", q.join("&")))?;
    out.copy_from(&mut r.body)
}

/// A file's bytes, or stdin's for `-`/none (refusing an interactive terminal).
fn read_input(path: Option<&str>, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p != "-" => {
            std::fs::File::open(p)
                .map_err(|e| anyhow!("open {p}: {}", crate::cp::io_text(&e)))?
                .read_to_end(&mut buf)?;
        }
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("{what}");
            }
            std::io::stdin().lock().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

pub fn load(c: &Client, a: &LoadArgs) -> Result<()> {
    let body = read_input(
        a.input.as_deref(),
        "requested load from stdin, but stdin is empty",
    )?;
    let stdout = std::io::stdout();
    // Docker loads quietly when its output is not a terminal.
    let term = stdout.is_terminal();
    let quiet = a.quiet || !term;
    let mut path = format!("/images/load?quiet={}", quiet as u8);
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", enc(p)));
    }
    let r = c
        .raw(
            "POST",
            &path,
            Some(&body),
            &[("Content-Type", "application/x-tar")],
        )?
        .check()?;
    let mut out = stdout.lock();
    show_progress(r.body, &mut out, term && !quiet, false, true)
}

/// Go's `time.RFC3339` for a unix time, in the local time zone.
fn rfc3339(t: i64) -> String {
    format::rfc3339_local(t, format::local_zone(t).0)
}

pub fn history(c: &Client, a: &HistoryArgs) -> Result<()> {
    let mut path = format!("/images/{}/history", enc(&a.image));
    if let Some(p) = &a.platform {
        path.push_str(&format!("?platform={}", enc(p)));
    }
    let v = c.get_json(&path)?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = st(h, "Id");
            let id = if trunc && id != "<missing>" {
                id.trim_start_matches("sha256:").chars().take(12).collect()
            } else {
                id
            };
            let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
            let by = st(h, "CreatedBy").replace('\t', " ");
            let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
            let row = json!({
                "ID": id,
                "CreatedSince": if a.human {
                    format!("{} ago", format::human_duration(format::now() - created))
                } else {
                    rfc3339(created)
                },
                "CreatedAt": rfc3339(created),
                "CreatedBy": if trunc { format::ellipsis(&by, 45) } else { by },
                "Size": if a.human { format::human_size(size as f64) } else { size.to_string() },
                "Comment": st(h, "Comment"),
            });
            crate::format::with_go(row, &format!("history:{trunc}:{}", a.human), h)
        })
        .collect();
    let headers = json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    });
    let fmt = if crate::format::quiet_wins(a.quiet, a.format.as_deref()) {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    // Without --human docker's default table shows the creation time, not the age.
    let default = if a.human {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    } else {
        "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    Format::new(fmt, default)
        .go_type("*image.historyContext")
        .render(&rows, &headers)
}

pub fn import(c: &Client, a: &ImportArgs) -> Result<()> {
    let is_url = a.file.starts_with("http://") || a.file.starts_with("https://");
    let mut path = format!(
        "/images/create?fromSrc={}",
        enc(if is_url { &a.file } else { "-" })
    );
    let mut pairs = vec![
        ("message", a.message.as_deref()),
        ("platform", a.platform.as_deref()),
    ];
    pairs.extend(a.change.iter().map(|c| ("changes", Some(c.as_str()))));
    add_query(&mut path, a.repository.as_deref(), &pairs);
    let body = if is_url {
        Vec::new()
    } else {
        read_input(Some(&a.file), "")?
    };
    // As docker's client: the name is checked (once the source is open) before the
    // daemon is asked.
    if let Some(r) = a.repository.as_deref().filter(|r| !r.is_empty()) {
        crate::ops::check_reference(r).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let r = c
        .raw(
            "POST",
            &path,
            if is_url { None } else { Some(&body) },
            &[("Content-Type", "application/x-tar")],
        )?
        .check()?;
    let stdout = std::io::stdout();
    let term = stdout.is_terminal();
    show_progress(r.body, &mut stdout.lock(), term, false, true)
}

/// `POST /images/prune`: (report text, bytes reclaimed).
pub fn prune_images(c: &Client, all: bool, filters: &[String]) -> Result<(String, f64)> {
    let mut f = filters.to_vec();
    f.push(format!("dangling={}", !all));
    let q = prune_filters_query(&f)?;
    let v = c.post_json(
        &format!("/images/prune?{}", q.trim_start_matches('&')),
        None,
    )?;
    let items: Vec<String> = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|i| {
            let mut o = Vec::new();
            if let Some(u) = i.get("Untagged").and_then(Value::as_str) {
                o.push(format!("untagged: {u}"));
            }
            if let Some(d) = i.get("Deleted").and_then(Value::as_str) {
                o.push(format!("deleted: {d}"));
            }
            o
        })
        .collect();
    Ok((prune_report("Images", &items), reclaimed(&v)))
}

pub fn prune(c: &Client, a: &ImagePruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    run_prune(a.p.force, warning, || prune_images(c, a.all, &a.p.filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_out_like_docker() {
        assert_eq!(full_name("x"), "docker.io/library/x");
        assert_eq!(full_name("a/x"), "docker.io/a/x");
        assert_eq!(full_name("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
