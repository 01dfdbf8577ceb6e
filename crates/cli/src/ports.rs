//! `run -p`/`create -p`: docker's publish syntax, `[ip:][hostPort:]containerPort[/proto]`
//! with port ranges, and its `target=,published=,protocol=` form, checked before the
//! daemon is asked, with the docker CLI's messages (the caller adds the usage hint and
//! exit 125).

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// `strconv.ParseUint(s, 10, 16)`: digits only, at most 65535.
fn port(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().map(u64::from)
}

/// A port or `start-end` range (what follows a second `-` is ignored, as docker's parser
/// ignores it).
fn range(s: &str) -> Option<(u64, u64)> {
    match s.split_once('-') {
        None => port(s).map(|p| (p, p)),
        Some((a, rest)) => {
            let (start, end) = (port(a)?, port(rest.split('-').next().unwrap_or(""))?);
            (end >= start).then_some((start, end))
        }
    }
}

/// The long form `target=80,published=8080,protocol=udp` in the short one.
fn standard(spec: &str) -> Result<String> {
    if !spec.contains('=') {
        return Ok(spec.to_owned());
    }
    let (mut target, mut published, mut proto) = ("", "", "tcp");
    for p in spec.split(',') {
        match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => match k {
                "target" => target = v,
                "published" => published = v,
                "protocol" => proto = v,
                _ => {}
            },
            _ => bail!("invalid publish opts format (should be name=value but got '{p}')"),
        }
    }
    Ok(format!("{published}:{target}/{proto}"))
}

/// One `-p` value → (port key such as `80/tcp`, host IP, host port) per container port.
fn parse(raw: &str) -> Result<Vec<(String, String, String)>> {
    let spec = standard(raw)?;
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container) = match container.split('/').collect::<Vec<_>>().as_slice() {
        [""] | ["", ..] => ("", ""),
        [c] => ("tcp", *c),
        [c, "", ..] => ("tcp", *c),
        [c, p, ..] => (*p, *c),
        [] => ("", ""),
    };
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(inner) => inner.to_owned(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    if container.is_empty() {
        bail!("no port specified: {spec}<empty>");
    }
    let Some((start, end)) = range(container) else {
        bail!("invalid containerPort: {container}");
    };
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        match range(host) {
            Some(r) => r,
            None => bail!("invalid hostPort: {host}"),
        }
    };
    // A host range for a single container port is the range to pick a host port from.
    if !host.is_empty() && end - start != hend - hstart && end != start {
        bail!("invalid ranges specified for container and host Ports: {container} and {host}");
    }
    let lower = proto.to_lowercase();
    if !matches!(lower.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    let proto = lower;
    Ok((0..=end - start)
        .map(|i| {
            let hp = match host {
                "" => String::new(),
                _ if start == end && hstart != hend => format!("{hstart}-{hend}"),
                _ => (hstart + i).to_string(),
            };
            (format!("{}/{proto}", start + i), ip.clone(), hp)
        })
        .collect())
}

/// `-p` values → (ExposedPorts, PortBindings) of the create request.
pub fn publish(specs: &[String]) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for s in specs {
        for (key, ip, host) in parse(s)? {
            exposed.insert(key.clone(), json!({}));
            let e = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = e.as_array_mut() {
                a.push(json!({"HostIp": ip, "HostPort": host}));
            }
        }
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn ports_become_bindings() {
        let (e, b) = publish(&["127.0.0.1:8080:80".into(), "53/udp".into()]).unwrap();
        assert!(e.contains_key("80/tcp") && e.contains_key("53/udp"));
        assert_eq!(b["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["80/tcp"][0]["HostIp"], "127.0.0.1");
        let (_, b) = publish(&["8000-8001:80-81/UDP".into(), "[::1]:9000-9009:90".into()]).unwrap();
        assert_eq!(b["81/udp"][0]["HostPort"], "8001");
        assert_eq!(b["90/tcp"][0]["HostPort"], "9000-9009");
        assert_eq!(b["90/tcp"][0]["HostIp"], "::1");
        let (_, b) = publish(&["published=8080,target=80,protocol=udp".into()]).unwrap();
        assert_eq!(b["80/udp"][0]["HostPort"], "8080");
    }

    #[test]
    fn bad_specs_fail_in_docker_words() {
        assert_eq!(err("99999:80"), "invalid hostPort: 99999");
        assert_eq!(err("80:abc"), "invalid containerPort: abc");
        assert_eq!(err("8000-7000:80"), "invalid hostPort: 8000-7000");
        assert_eq!(
            err("80-82:90-91"),
            "invalid ranges specified for container and host Ports: 90-91 and 80-82"
        );
        assert_eq!(err("80:80/xyz"), "invalid proto: xyz");
        assert_eq!(err("80:"), "no port specified: 80:<empty>");
        assert_eq!(err("a:b:c:d"), "invalid IP address: a:b");
        assert!(parse("1-2-3:80").is_ok() && parse("80:80/udp/").is_ok());
    }
}
