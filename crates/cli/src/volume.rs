//! `volume` commands and the whole-system ones built on the prune endpoints: `system df`
//! and `system prune`.

use anyhow::Result;
use serde_json::{Map, Value, json};

use crate::Exit;
use crate::args::{
    BuilderPruneArgs, DfArgs, LsArgs, ObjInspectArgs, ObjRmArgs, SystemPruneArgs, VolumeCreateArgs,
    VolumePruneArgs,
};
use crate::client::{Client, DaemonError, enc};
use crate::container::{each, filters_query, inspect_each, prune_filters_query, st};
use crate::format::{self, Format};
use crate::ops::{confirm, prune_report, reclaimed, str_list};

/// `k=v` flags → a JSON map (a bare `k` maps to "").
pub fn kv_map(flags: &[String]) -> Value {
    let mut m = Map::new();
    for f in flags {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        m.insert(k.to_owned(), json!(v));
    }
    Value::Object(m)
}

/// `k=v,k2=v2` for table cells, keys sorted.
pub fn labels_text(v: Option<&Value>) -> String {
    v.and_then(Value::as_object)
        .map(|m| {
            let mut l: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            l.sort();
            l.join(",")
        })
        .unwrap_or_default()
}

pub fn create(c: &Client, a: &VolumeCreateArgs) -> Result<()> {
    crate::run::check_labels("--label", &a.label)?;
    let name = a
        .name
        .clone()
        .or_else(|| a.name_flag.clone())
        .unwrap_or_default();
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = c.post_json("/volumes/create", Some(&body))?;
    println!("{}", st(&v, "Name"));
    Ok(())
}

pub fn ls(c: &Client, a: &LsArgs) -> Result<()> {
    let q = filters_query(&a.filter)?;
    let v = c.get_json(&format!("/volumes?{}", q.trim_start_matches('&')))?;
    let mut vols: Vec<Value> = v
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by_key(|x| st(x, "Name"));
    if format::quiet_wins(a.quiet, a.format.as_deref()) {
        for x in &vols {
            println!("{}", st(x, "Name"));
        }
        return Ok(());
    }
    let rows: Vec<Value> = vols
        .iter()
        .map(|x| {
            format::with_go(
                format::with_label_map(volume_row(x), x.get("Labels")),
                "volume",
                x,
            )
        })
        .collect();
    let headers = json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "ID": "ID",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
        "Availability": "AVAILABILITY", "Status": "STATUS",
    });
    let user = format::raw(
        a.format.as_deref(),
        a.quiet,
        "name: {{.Name}}\\ndriver: {{.Driver}}\\n",
        "name: {{.Name}}",
    );
    Format::new(user, "table {{.Driver}}\t{{.Name}}")
        .go_type("*formatter.volumeContext")
        .render(&rows, &headers)
}

/// A volume as docker's list row shows it (ls and system df -v).
fn volume_row(x: &Value) -> Value {
    let size = x
        .pointer("/UsageData/Size")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .map(|s| format::human_size(s as f64))
        .unwrap_or_else(|| "N/A".into());
    let links = x
        .pointer("/UsageData/RefCount")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "N/A".into());
    json!({
        "Name": st(x, "Name"), "Driver": st(x, "Driver"), "Scope": st(x, "Scope"),
        "Mountpoint": st(x, "Mountpoint"), "Labels": labels_text(x.get("Labels")),
        "Links": links, "Size": size, "Group": "N/A", "Availability": "N/A",
        "Status": "N/A",
    })
}

pub fn inspect(c: &Client, a: &ObjInspectArgs) -> Result<()> {
    inspect_each(c, &a.names, a.format.as_deref(), "Volume", |n| {
        format!("/volumes/{}", enc(n))
    })
}

pub fn rm(c: &Client, a: &ObjRmArgs) -> Result<()> {
    each(&a.names, |n| {
        c.delete(&format!("/volumes/{}?force={}", enc(n), a.force as u8))
    })
}

fn prune_volumes(c: &Client, all: bool, filters: &[String]) -> Result<(String, f64)> {
    let mut f = filters.to_vec();
    if all {
        f.push("all=true".into());
    }
    let q = prune_filters_query(&f)?;
    let v = c.post_json(
        &format!("/volumes/prune?{}", q.trim_start_matches('&')),
        None,
    )?;
    Ok((
        prune_report("Volumes", &str_list(&v, "VolumesDeleted")),
        reclaimed(&v),
    ))
}

pub fn prune(c: &Client, a: &VolumePruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    crate::ops::run_prune(a.p.force, warning, || prune_volumes(c, a.all, &a.p.filter))
}

fn with_pct(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            format::human_size4(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        format::human_size4(reclaimable as f64)
    }
}

pub fn df(c: &Client, a: &DfArgs) -> Result<()> {
    let v = c.get_json("/system/df")?;
    let arr = |k: &str| -> Vec<Value> {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let n = |x: &Value, p: &str| x.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let images = arr("Images");
    let layers = v.get("LayersSize").and_then(Value::as_i64).unwrap_or(0);
    let used: i64 = images
        .iter()
        .filter(|i| n(i, "/Containers") > 0 && n(i, "/Size") >= 0 && n(i, "/SharedSize") >= 0)
        .map(|i| n(i, "/Size") - n(i, "/SharedSize"))
        .sum();
    let containers = arr("Containers");
    let active = |x: &Value| matches!(st(x, "State").as_str(), "running" | "paused" | "restarting");
    let csize: i64 = containers.iter().map(|x| n(x, "/SizeRw")).sum();
    let creclaim: i64 = containers
        .iter()
        .filter(|x| !active(x))
        .map(|x| n(x, "/SizeRw"))
        .sum();
    let vols = arr("Volumes");
    let vsize: i64 = vols.iter().map(|x| n(x, "/UsageData/Size").max(0)).sum();
    let vreclaim: i64 = vols
        .iter()
        .filter(|x| n(x, "/UsageData/RefCount") == 0)
        .map(|x| n(x, "/UsageData/Size").max(0))
        .sum();
    let cache = arr("BuildCache");
    let bsize: i64 = cache
        .iter()
        .filter(|x| !x.get("Shared").and_then(Value::as_bool).unwrap_or(false))
        .map(|x| n(x, "/Size"))
        .sum();
    let breclaim: i64 = cache
        .iter()
        .filter(|x| {
            !x.get("InUse").and_then(Value::as_bool).unwrap_or(false)
                && !x.get("Shared").and_then(Value::as_bool).unwrap_or(false)
        })
        .map(|x| n(x, "/Size"))
        .sum();
    let row = |t: &str, total: usize, act: usize, size: i64, recl: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": act.to_string(),
               "Size": format::human_size4(size as f64), "Reclaimable": recl})
    };
    // (`{{.}}` of a row: docker's context for the kind, see tmpl.rs)
    let kinds = [
        format!("df-images:{layers}:{}", images.len()),
        format!("df-containers:{}", containers.len()),
        format!("df-volumes:{}", vols.len()),
        format!("df-build:{bsize}:{}", cache.len()),
    ];
    let rows = vec![
        row(
            "Images",
            images.len(),
            images.iter().filter(|i| n(i, "/Containers") > 0).count(),
            layers,
            with_pct(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|x| active(x)).count(),
            csize,
            with_pct(creclaim, csize),
        ),
        row(
            "Local Volumes",
            vols.len(),
            vols.iter()
                .filter(|x| n(x, "/UsageData/RefCount") > 0)
                .count(),
            vsize,
            with_pct(vreclaim, vsize),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache
                .iter()
                .filter(|x| x.get("InUse").and_then(Value::as_bool).unwrap_or(false))
                .count(),
            bsize,
            format::human_size4(breclaim as f64),
        ),
    ];
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(&kinds)
        .map(|(r, k)| format::with_go(r, k, &Value::Null))
        .collect();
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                         "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    if a.verbose {
        return df_verbose(a.format.as_deref(), &images, &containers, &vols, &cache);
    }
    Format::new(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )
    .go_type("*formatter.diskUsageImagesContext")
    .render(&rows, &headers)
}

/// docker's `system df -v` template context.
const DF_VERBOSE: &[&str] = &["Images:a", "Containers:a", "Volumes:a", "BuildCache:a"];

/// `system df -v`: a table per kind, as docker lays them out; a template of the user's
/// runs once, on docker's `{Images, Containers, Volumes, BuildCache}` (IDs whole unless
/// it is a table).
fn df_verbose(
    format: Option<&str>,
    images: &[Value],
    containers: &[Value],
    vols: &[Value],
    cache: &[Value],
) -> Result<()> {
    let n = |x: &Value, p: &str| x.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let ago = |t: i64| format!("{} ago", format::human_duration(format::now() - t));
    let table_only = matches!(format, None | Some("table"));
    let trunc = format.is_none_or(|f| f.starts_with("table"));
    let mut img_rows = Vec::new();
    for i in images {
        let id = st(i, "Id");
        let id: String = if trunc {
            id.trim_start_matches("sha256:").chars().take(12).collect()
        } else {
            id
        };
        // Only an image's first tag is shown.
        let tags = crate::ops::str_list(i, "RepoTags");
        let (repo, tag) = match tags.first().map(|t| (t, t.rsplit_once(':'))) {
            None => ("<none>".to_owned(), "<none>".to_owned()),
            Some((_, Some((r, tag)))) if !tag.contains('/') => (r.to_owned(), tag.to_owned()),
            Some((t, _)) => (t.clone(), "<none>".into()),
        };
        let (size, shared) = (n(i, "/Size"), n(i, "/SharedSize"));
        let human4 = |x: i64| format::human_size4(x as f64);
        let created = n(i, "/Created");
        img_rows.push(json!({
            "Repository": repo, "Tag": tag, "ID": id, "CreatedSince": ago(created),
            "CreatedAt": crate::container::created_at(created), "Digest": "",
            "Size": format::human_size(size as f64),
            "SharedSize": if shared < 0 { "N/A".into() } else { human4(shared) },
            "UniqueSize": if shared < 0 { "N/A".into() } else { human4(size - shared) },
            "VirtualSize": human4(i.get("VirtualSize").and_then(Value::as_i64).unwrap_or(size)),
            "Containers": n(i, "/Containers").to_string(),
        }));
    }
    let ctr_rows: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut r = crate::container::ps_row(c, trunc);
            // (df shows the writable layer only, without docker ps's "(virtual …)")
            r["Size"] = json!(format::human_size(n(c, "/SizeRw") as f64));
            r
        })
        .collect();
    let vol_rows: Vec<Value> = vols
        .iter()
        .map(|x| {
            json!({"Name": st(x, "Name"), "Links": n(x, "/UsageData/RefCount").to_string(),
                   "Size": format::human_size(n(x, "/UsageData/Size").max(0) as f64)})
        })
        .collect();
    let cache_rows: Vec<Value> = cache
        .iter()
        .map(|x| {
            json!({"ID": st(x, "ID"), "CacheType": st(x, "Type"),
                   "Size": format::human_size(n(x, "/Size") as f64),
                   "CreatedSince": st(x, "CreatedAt"), "LastUsedSince": st(x, "LastUsedAt"),
                   "UsageCount": n(x, "/UsageCount").to_string(),
                   "Shared": x.get("Shared").and_then(Value::as_bool).unwrap_or(false).to_string()})
        })
        .collect();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    if !table_only {
        let f = Format::new(format, "");
        let vols: Vec<Value> = vols.iter().map(volume_row).collect();
        let lists = [img_rows, ctr_rows, vols, cache_rows];
        out.write_all(f.render_struct(DF_VERBOSE, &lists)?.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let table = |t: &str, rows: &[Value], h: Value| Format::new(Some(t), "").render_bytes(rows, &h);
    out.write_all(b"Images space usage:\n\n")?;
    out.write_all(&table(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &img_rows,
        json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
               "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
               "Containers": "CONTAINERS"}),
    )?)?;
    out.write_all(b"\nContainers space usage:\n\n")?;
    out.write_all(&table(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &ctr_rows,
        json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
               "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
               "Status": "STATUS", "Names": "NAMES"}),
    )?)?;
    out.write_all(b"\nLocal Volumes space usage:\n\n")?;
    out.write_all(&table(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &vol_rows,
        json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}),
    )?)?;
    let build: i64 = cache.iter().map(|x| n(x, "/Size")).sum();
    writeln!(
        out,
        "\nBuild cache usage: {}\n",
        format::human_size(build as f64)
    )?;
    out.write_all(&table(
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        &cache_rows,
        json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
               "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE",
               "Shared": "SHARED"}),
    )?)?;
    out.flush()?;
    Ok(())
}

/// `builder prune`: berthd's build cache records (`POST /build/prune`).
pub fn builder_prune(c: &Client, a: &BuilderPruneArgs) -> Result<()> {
    // The values are checked before the question, as pflag checks them.
    let mut q = format!("/build/prune?all={}", a.all as u8);
    if let Some(k) = &a.keep_storage {
        let n = crate::run::flag_bytes("--keep-storage", k)?;
        q.push_str(&format!("&keep-storage={n}"));
    }
    q.push_str(&prune_filters_query(&a.filter)?);
    if !a.force {
        use std::io::{BufRead, Write};
        // docker asks on one line here (its other prunes list what goes first).
        print!(
            "WARNING! This will remove all {}build cache. Are you sure you want to continue? [y/N] ",
            if a.all { "" } else { "dangling " }
        );
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
            return Err(Exit(0).into());
        }
    }
    let v = c.post_json(&q, None)?;
    print!(
        "{}",
        prune_report("build cache objects", &str_list(&v, "CachesDeleted"))
    );
    println!(
        "Total reclaimed space: {}",
        format::human_size(reclaimed(&v))
    );
    Ok(())
}

pub fn system_prune(c: &Client, a: &SystemPruneArgs) -> Result<()> {
    if !a.p.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        w.push_str(if a.all {
            "  - all images without at least one container associated to them\n  - all build cache\n"
        } else {
            "  - all dangling images\n  - unused build cache\n"
        });
        if !confirm(&w)? {
            return Err(Exit(0).into());
        }
    }
    let (t, mut space) = crate::ops::prune_containers(c, &a.p.filter)?;
    print!("{t}");
    print!("{}", crate::network::prune_networks(c, &a.p.filter)?);
    if a.volumes {
        let (t, s) = prune_volumes(c, false, &a.p.filter)?;
        print!("{t}");
        space += s;
    }
    let (t, s) = crate::imgops::prune_images(c, a.all, &a.p.filter)?;
    print!("{t}");
    space += s;
    // Build cache: only where the daemon has the endpoint.
    match c.post_json(&format!("/build/prune?all={}", a.all as u8), None) {
        Ok(v) => {
            print!(
                "{}",
                prune_report("build cache objects", &str_list(&v, "CachesDeleted"))
            );
            space += reclaimed(&v);
        }
        Err(e)
            if e.downcast_ref::<DaemonError>()
                .is_some_and(|d| d.status == 404) => {}
        Err(e) => return Err(e),
    }
    println!("Total reclaimed space: {}", format::human_size(space));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_sizes_have_four_digits() {
        assert_eq!(format::human_size4(4_263_123.0), "4.263MB");
        assert_eq!(format::human_size4(0.0), "0B");
        assert_eq!(with_pct(50, 100), "50B (50%)");
    }
}
