//! `network` commands and `events` (the daemon's event stream, printed docker's way).

use std::io::{BufRead, BufReader, Write};

use anyhow::{Result, anyhow};
use serde_json::{Map, Value, json};

use crate::Exit;
use crate::args::{
    EventsArgs, LsArgs, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    ObjInspectArgs, ObjRmArgs, PruneArgs,
};
use crate::client::{Client, DaemonError, enc};
use crate::container::{filters_query, inspect_each, prune_filters_query, st};
use crate::format::{self, Format};
use crate::ops::{confirm, prune_report, str_list};
use crate::volume::{kv_map, labels_text};

pub fn create(c: &Client, a: &NetworkCreateArgs) -> Result<()> {
    crate::run::check_labels("--label", &a.label)?;
    let configs = ipam_configs(a)?;
    let mut body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Options": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
        "IPAM": {"Driver": a.ipam_driver, "Config": configs, "Options": kv_map(&a.ipam_opt)},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": a.ingress,
        "ConfigOnly": a.config_only,
        "ConfigFrom": a.config_from.as_ref().map(|n| json!({ "Network": n })),
        "Scope": a.scope.as_deref().unwrap_or(""),
    });
    if a.ipv6 {
        body["EnableIPv6"] = json!(true);
    }
    // (sent only when given, as docker sends it)
    if let Some(v) = a.ipv4 {
        body["EnableIPv4"] = json!(v);
    }
    let v = c.post_json("/networks/create", Some(&body))?;
    if let Some(w) = v.get("Warning").and_then(Value::as_str)
        && !w.is_empty()
    {
        eprintln!("{w}");
    }
    println!("{}", st(&v, "Id"));
    Ok(())
}

/// `IPAM.Config` from `--subnet`, `--ip-range`, `--gateway` and `--aux-address` as the
/// docker CLI builds it: one entry per subnet, each range, gateway and auxiliary address
/// going to the subnet that contains it, with docker's errors.
fn ipam_configs(a: &NetworkCreateArgs) -> Result<Vec<Value>> {
    if a.subnet.len() < a.ip_range.len() || a.subnet.len() < a.gateway.len() {
        return Err(anyhow!(
            "every ip-range or gateway must have a corresponding subnet"
        ));
    }
    // A subnet is parsed only when something is compared with it (docker's
    // subnetMatches): a lone bad one goes to the daemon as it is.
    let parsed = |s: &str| -> Result<ipnet::IpNet> {
        s.parse()
            .map_err(|_| anyhow!("invalid subnet: invalid CIDR address: {s}"))
    };
    let mut subnets: Vec<(&str, Map<String, Value>)> = Vec::new();
    for s in &a.subnet {
        for (o, _) in &subnets {
            let (net, other) = (parsed(s)?, parsed(o)?);
            if net.contains(&other.network()) || other.contains(&net.network()) {
                return Err(anyhow!(
                    "multiple overlapping subnet configuration is not supported"
                ));
            }
        }
        let mut m = Map::new();
        m.insert("Subnet".into(), json!(s));
        subnets.push((s, m));
    }
    // (what docker's subnetMatches reads: an address, or the address of a CIDR)
    let addr = |v: &str| -> Result<Option<std::net::IpAddr>> {
        match v.split_once('/') {
            Some(_) => v
                .parse::<ipnet::IpNet>()
                .map(|n| Some(n.addr()))
                .map_err(|_| anyhow!("invalid CIDR address: {v}")),
            None => Ok(v.parse().ok()),
        }
    };
    let mut place = |what: &str, key: &str, v: &str, aux: Option<&str>| -> Result<()> {
        let mut matched = false;
        for (given, m) in &mut subnets {
            if key == "IPRange" && v.parse::<ipnet::IpNet>().is_err() {
                return Err(anyhow!("invalid CIDR address: {v}"));
            }
            let net = parsed(given)?;
            if !addr(v)?.is_some_and(|ip| net.contains(&ip)) {
                continue;
            }
            matched = true;
            match aux {
                Some(k) => {
                    let e = m.entry("AuxiliaryAddresses").or_insert_with(|| json!({}));
                    e[k] = json!(v);
                }
                None => {
                    if let Some(old) = m.get(key).and_then(Value::as_str) {
                        let (many, of) = if key == "IPRange" {
                            ("ranges", "on")
                        } else {
                            ("gateways", "for")
                        };
                        return Err(anyhow!(
                            "cannot configure multiple {many} ({v}, {old}) {of} the same subnet ({given})"
                        ));
                    }
                    m.insert(key.into(), json!(v));
                }
            }
        }
        if !matched {
            return Err(anyhow!("no matching subnet for {what} {v}"));
        }
        Ok(())
    };
    for r in &a.ip_range {
        place("range", "IPRange", r, None)?;
    }
    for g in &a.gateway {
        place("gateway", "Gateway", g, None)?;
    }
    for kv in &a.aux_address {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        place("aux-address", "", v, Some(k))?;
    }
    Ok(subnets.into_iter().map(|(_, m)| Value::Object(m)).collect())
}

pub fn ls(c: &Client, a: &LsArgs) -> Result<()> {
    let q = filters_query(&a.filter)?;
    let v = c.get_json(&format!("/networks?{}", q.trim_start_matches('&')))?;
    let mut nets: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    nets.sort_by_key(|x| st(x, "Name"));
    let id = |x: &Value| {
        let id = st(x, "Id");
        if a.no_trunc {
            id
        } else {
            id.chars().take(12).collect()
        }
    };
    if format::quiet_wins(a.quiet, a.format.as_deref()) {
        for x in &nets {
            println!("{}", id(x));
        }
        return Ok(());
    }
    let rows: Vec<Value> = nets
        .iter()
        .map(|x| {
            let b = |k: &str| {
                x.get(k)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string()
            };
            let created = crate::gotypes::go_time_string(&st(x, "Created"));
            let row = json!({
                "ID": id(x), "Name": st(x, "Name"), "Driver": st(x, "Driver"),
                "Scope": st(x, "Scope"), "IPv6": b("EnableIPv6"), "IPv4": b("EnableIPv4"),
                "Internal": b("Internal"), "Labels": labels_text(x.get("Labels")),
                "CreatedAt": created,
            });
            format::with_go(format::with_label_map(row, x.get("Labels")), "network", x)
        })
        .collect();
    let headers = json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "IPv4": "IPV4", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    });
    let user = format::raw(
        a.format.as_deref(),
        a.quiet,
        "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n",
        "network_id: {{.ID}}",
    );
    Format::new(user, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}")
        .go_type("*network.networkContext")
        .render(&rows, &headers)
}

pub fn inspect(c: &Client, a: &ObjInspectArgs) -> Result<()> {
    let verbose = if a.verbose { "?verbose=true" } else { "" };
    inspect_each(c, &a.names, a.format.as_deref(), "Network", |n| {
        format!("/networks/{}{verbose}", enc(n))
    })
}

pub fn rm(c: &Client, a: &ObjRmArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.names {
        match c.delete(&format!("/networks/{}", enc(n))) {
            Ok(()) => println!("{n}"),
            Err(e)
                if a.force
                    && e.downcast_ref::<DaemonError>()
                        .is_some_and(|d| d.status == 404) => {}
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    if failed {
        // docker's network rm ends with its status error printed as well.
        eprintln!("{}", Exit(1));
        return Err(Exit(1).into());
    }
    Ok(())
}

pub fn connect(c: &Client, a: &NetworkConnectArgs) -> Result<()> {
    let mut ipam = Map::new();
    if let Some(ip) = &a.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &a.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    let mut opts = Map::new();
    for o in &a.driver_opt {
        let Some((k, v)) = o.split_once('=') else {
            return Err(anyhow!("invalid key/value pair format in driver options"));
        };
        opts.insert(k.trim().to_owned(), json!(v.trim()));
    }
    // Every EndpointSettings field, as the docker CLI sends them.
    let ep = json!({
        "Aliases": a.alias,
        "DNSNames": null,
        "DriverOpts": opts,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "GwPriority": a.gw_priority.unwrap_or(0),
        "IPAMConfig": ipam,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "Links": if a.link.is_empty() { Value::Null } else { json!(a.link) },
        "MacAddress": "",
        "NetworkID": "",
    });
    crate::client::check_name("container", &a.container)?;
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    c.post(
        &format!("/networks/{}/connect", enc(&a.network)),
        Some(&body),
    )?
    .bytes()?;
    Ok(())
}

pub fn disconnect(c: &Client, a: &NetworkDisconnectArgs) -> Result<()> {
    crate::client::check_name("container", &a.container)?;
    let body = json!({"Container": a.container, "Force": a.force});
    c.post(
        &format!("/networks/{}/disconnect", enc(&a.network)),
        Some(&body),
    )?
    .bytes()?;
    Ok(())
}

/// `POST /networks/prune`: the report (docker prints no reclaimed space for networks).
pub fn prune_networks(c: &Client, filters: &[String]) -> Result<String> {
    let q = prune_filters_query(filters)?;
    let q = q.trim_start_matches('&');
    let path = if q.is_empty() {
        "/networks/prune".to_owned()
    } else {
        format!("/networks/prune?{q}")
    };
    let v = c.post_json(&path, None)?;
    Ok(prune_report("Networks", &str_list(&v, "NetworksDeleted")))
}

pub fn prune(c: &Client, a: &PruneArgs) -> Result<()> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Err(Exit(0).into());
    }
    print!("{}", prune_networks(c, &a.filter)?);
    Ok(())
}

/// Go's RFC3339NanoFixed in local time.
fn nano_fixed(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let ns = nanos.rem_euclid(1_000_000_000);
    let off = format::local_zone(secs).0;
    let civil = format::civil(secs + off);
    format!(
        "{}T{}.{ns:09}{}",
        &civil[..10],
        &civil[11..19],
        format::zone_suffix(off)
    )
}

/// One event the way docker prints it without --format.
fn event_line(v: &Value) -> String {
    let nanos = v
        .get("timeNano")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| v.get("time").and_then(Value::as_i64).unwrap_or(0) * 1_000_000_000);
    let mut line = format!(
        "{} {} {} {}",
        nano_fixed(nanos),
        st(v, "Type"),
        st(v, "Action"),
        v.pointer("/Actor/ID").and_then(Value::as_str).unwrap_or("")
    );
    if let Some(attrs) = v.pointer("/Actor/Attributes").and_then(Value::as_object)
        && !attrs.is_empty()
    {
        let mut kv: Vec<String> = attrs
            .iter()
            .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        line.push_str(&format!(" ({})", kv.join(", ")));
    }
    line
}

/// `{{json .}}` of an event: Go's field order for events.Message (omitempty where Go has it).
fn event_json(v: &Value) -> String {
    let mut parts = Vec::new();
    for k in ["status", "id", "from"] {
        if let Some(x) = v
            .get(k)
            .filter(|x| x.as_str().is_some_and(|s| !s.is_empty()))
        {
            parts.push(format!("\"{k}\":{}", format::go_json(x)));
        }
    }
    for k in ["Type", "Action"] {
        let x = v.get(k).cloned().unwrap_or(json!(""));
        parts.push(format!("\"{k}\":{}", format::go_json(&x)));
    }
    let id = v.pointer("/Actor/ID").cloned().unwrap_or(json!(""));
    let attrs = v
        .pointer("/Actor/Attributes")
        .cloned()
        .unwrap_or(Value::Null);
    parts.push(format!(
        "\"Actor\":{{\"ID\":{},\"Attributes\":{}}}",
        format::go_json(&id),
        format::go_json(&attrs)
    ));
    for k in ["scope", "time", "timeNano"] {
        let x = v.get(k).cloned().unwrap_or(json!(0));
        parts.push(format!("\"{k}\":{}", format::go_json(&x)));
    }
    format!("{{{}}}", parts.join(","))
}

/// The event as docker's template sees it: Go field names.
fn event_ctx(v: &Value) -> Value {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for (from, to) in [
        ("status", "Status"),
        ("id", "ID"),
        ("from", "From"),
        ("scope", "Scope"),
        ("time", "Time"),
        ("timeNano", "TimeNano"),
    ] {
        let x = m.remove(from);
        m.insert(to.into(), x.unwrap_or(json!("")));
    }
    // A struct in Go: absent fields are zero values, not "<no value>".
    for k in ["Type", "Action"] {
        m.entry(k).or_insert(json!(""));
    }
    let actor = m.entry("Actor").or_insert(json!({}));
    if let Some(a) = actor.as_object_mut() {
        a.entry("ID").or_insert(json!(""));
        a.entry("Attributes").or_insert(json!({}));
    }
    Value::Object(m)
}

pub fn events(c: &Client, a: &EventsArgs) -> Result<()> {
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(format!(
            "since={}",
            enc(&crate::timestamp::get_timestamp(s)?)
        ));
    }
    if let Some(u) = &a.until {
        q.push(format!(
            "until={}",
            enc(&crate::timestamp::get_timestamp(u)?)
        ));
    }
    let f = filters_query(&a.filter)?;
    if !f.is_empty() {
        q.push(f.trim_start_matches('&').to_owned());
    }
    let path = if q.is_empty() {
        "/events".to_owned()
    } else {
        format!("/events?{}", q.join("&"))
    };
    let r = c.get(&path)?;
    let raw_json = matches!(a.format.as_deref(), Some("json") | Some("{{json .}}"));
    let tmpl = match a.format.as_deref() {
        Some(f) if !raw_json && !f.is_empty() => {
            // docker checks the template on an empty events.Message first.
            let bad = |e: String| -> anyhow::Error {
                eprintln!("Error parsing format: {e}");
                crate::Exit(64).into()
            };
            // (no escapes: docker gives events templates as typed)
            let t =
                crate::tmpl::parse(f, crate::gotypes::type_name("Event")).map_err(|e| bad(e.0))?;
            // (run on an empty message: what fails there fails before any event)
            let empty = serde_json::json!({});
            let run = || crate::gotypes::with_typed(&empty, Some("Event"), |v| t.exec(v, false));
            match t.unknown_field(None, crate::gotypes::go_name("Event")) {
                Some(e) => return Err(bad(crate::tmpl::first_failure(e, run()))),
                None => run().map_err(bad)?,
            };
            Some(t)
        }
        _ => None,
    };
    let stdout = std::io::stdout();
    for line in BufReader::new(r.body).lines() {
        let line = match line {
            Ok(l) => l,
            Err(_) => break,
        };
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let text = if raw_json {
            event_json(&v)
        } else if let Some(t) = &tmpl {
            crate::gotypes::with_typed(&event_ctx(&v), Some("Event"), |x| t.exec(x, false))
                .map_err(|e| anyhow!("{e}"))?
        } else {
            event_line(&v)
        };
        let mut o = stdout.lock();
        writeln!(o, "{text}")?;
        o.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_like_docker() {
        let v = json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc",
            "Attributes": {"name": "x", "image": "i"}}, "timeNano": 0i64});
        let l = event_line(&v);
        assert!(l.ends_with(" container start abc (image=i, name=x)"), "{l}");
        assert!(l.starts_with("19"), "{l}");
        assert_eq!(event_ctx(&json!({"id": "a"}))["ID"], "a");
    }
}
