//! Legacy container links (`--link NAME[:ALIAS]`), as dockerd 20.10 has them. On the
//! default bridge the target must exist at create and run at start; the linking container
//! gets `/etc/hosts` lines for the alias, the target's hostname and name, and Docker's link
//! environment (`ALIAS_PORT_80_TCP=tcp://IP:80`, `ALIAS_NAME=/me/alias`, `ALIAS_ENV_*`),
//! and inspect shows `HostConfig.Links` as `/other:/me/alias`. On a user-defined network a
//! link is only a name that the linking container alone resolves by the embedded DNS
//! (`EndpointSettings.Links`); nothing is checked, as with dockerd.

use super::*;
use crate::container::Container;

/// `NAME[:ALIAS]` → (name, alias): the alias defaults to the name, and is the last path
/// element of what was given (`/me/alias` → `alias`), as in Docker's `ParseLink`.
pub(super) fn parse_link(l: &str) -> (String, String) {
    let (name, alias) = l.split_once(':').unwrap_or((l, l));
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    (name.to_owned(), alias.to_owned())
}

/// Puts the link environment before the container's own, whose variables win.
pub(crate) fn add_link_env(links: Vec<String>, env: &mut Vec<String>) {
    if links.is_empty() {
        return;
    }
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_owned();
    let own: HashSet<String> = env.iter().map(|e| key(e)).collect();
    let mut seen = HashSet::new();
    let mut out: Vec<String> = links
        .into_iter()
        .filter(|e| !own.contains(&key(e)) && seen.insert(key(e)))
        .collect();
    out.append(env);
    *env = out;
}

/// The first index after `index` where the port numbers of `ports` stop going up by one
/// from `value`, minus one (dockerd's `nextContiguous`, which ignores the protocols).
fn next_contiguous(ports: &[(u16, Proto)], value: u16, index: usize) -> usize {
    let values = (u32::from(value)..).zip(ports.iter().enumerate().skip(index + 1));
    for (value, (i, p)) in values {
        if u32::from(p.0) > value + 1 {
            return i - 1;
        }
    }
    ports.len().saturating_sub(1).max(index)
}

/// The environment variables of one link, in dockerd's order.
fn link_env(alias: &str, link_name: &str, ip: IpAddr, target: &ContainerRecord) -> Vec<String> {
    let prefix = alias.to_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, Proto)> = target
        .config
        .extra
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| parse_port_key(k))
        .collect();
    // By number, TCP first on a tie.
    ports.sort_by_key(|&(p, proto)| (p, proto != Proto::Tcp));
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{prefix}_PORT={}://{ip}:{p}", proto.as_str()));
    }
    let mut i = 0;
    while i < ports.len() {
        let (p, proto) = ports[i];
        let j = next_contiguous(&ports, p, i);
        if j > i + 1 {
            let (pr, up) = (proto.as_str(), proto.as_str().to_uppercase());
            let (qp, qproto) = ports[j];
            let (qr, qup) = (qproto.as_str(), qproto.as_str().to_uppercase());
            env.push(format!("{prefix}_PORT_{p}_{up}_START={pr}://{ip}:{p}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_ADDR={ip}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_PROTO={pr}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_PORT_START={p}"));
            env.push(format!("{prefix}_PORT_{p}_{qup}_END={qr}://{ip}:{qp}"));
            env.push(format!("{prefix}_PORT_{p}_{qup}_PORT_END={qp}"));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for (p, proto) in &ports {
        let (pr, up) = (proto.as_str(), proto.as_str().to_uppercase());
        env.push(format!("{prefix}_PORT_{p}_{up}={pr}://{ip}:{p}"));
        env.push(format!("{prefix}_PORT_{p}_{up}_ADDR={ip}"));
        env.push(format!("{prefix}_PORT_{p}_{up}_PORT={p}"));
        env.push(format!("{prefix}_PORT_{p}_{up}_PROTO={pr}"));
    }
    env.push(format!("{prefix}_NAME={link_name}"));
    for e in target.config.env.iter().flatten() {
        if let Some((k, v)) = e.split_once('=')
            && k != "HOME"
            && k != "PATH"
        {
            env.push(format!("{prefix}_ENV_{k}={v}"));
        }
    }
    env
}

fn on_default_bridge(rec: &ContainerRecord) -> bool {
    matches!(
        rec.host_config.network_mode.as_str(),
        "" | "bridge" | "default"
    )
}

impl Engine {
    /// The container a default-bridge link names, following `container:` network modes as
    /// dockerd does; a missing one is a 400 in dockerd's words.
    pub(super) fn link_target(&self, name: &str) -> Result<Arc<Container>> {
        fn missing(n: &str) -> impl FnOnce(EngineError) -> EngineError + '_ {
            move |e| match e {
                EngineError::NotFound(_) => EngineError::InvalidArgument(format!(
                    "could not get container for {n}: No such container: {n}"
                )),
                e => e,
            }
        }
        let mut c = self.get(name).map_err(missing(name))?;
        for _ in 0..16 {
            let mode = c.lock().host_config.network_mode.clone();
            if mode == "host" {
                return Err(EngineError::InvalidArgument(
                    "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
                ));
            }
            match mode.strip_prefix("container:") {
                Some(other) => c = self.get(other).map_err(missing(other))?,
                None => break,
            }
        }
        Ok(c)
    }

    /// (target name, alias) of user-defined-network links, for the DNS responder: a
    /// target given by ID resolves by its name.
    pub(super) fn link_targets(&self, links: &[String]) -> Vec<(String, String)> {
        links
            .iter()
            .map(|l| {
                let (name, alias) = parse_link(l);
                let name = self.get(&name).map(|c| c.name()).unwrap_or(name);
                (name, alias)
            })
            .collect()
    }

    /// The environment and `/etc/hosts` lines of a default-bridge container's links. A
    /// target that is gone is skipped (dockerd drops the link); one that is not running
    /// fails the start with dockerd's message.
    #[allow(clippy::type_complexity)]
    pub(super) fn legacy_links(
        &self,
        rec: &ContainerRecord,
    ) -> Result<(Vec<String>, Vec<(String, IpAddr)>)> {
        let links = strings(rec.host_config.extra.get("Links"));
        if links.is_empty() || !on_default_bridge(rec) {
            return Ok(Default::default());
        }
        let net = self.networks()?;
        let Some(dflt) = net.all().into_iter().find(|n| n.default) else {
            return Ok(Default::default());
        };
        let (mut env, mut hosts) = (Vec::new(), Vec::new());
        for l in links {
            let (name, alias) = parse_link(&l);
            let Ok(c) = self.link_target(&name) else {
                continue;
            };
            let t = c.rec();
            let link_name = format!("/{}/{alias}", rec.name);
            if !t.state.running {
                return Err(EngineError::Internal(format!(
                    "Cannot link to a non running container: /{} AS {link_name}",
                    t.name
                )));
            }
            let ip = net
                .db
                .endpoints(Some(&t.id))?
                .into_iter()
                .find(|e| e.1 == dflt.id)
                .and_then(|e| e.3?.address)
                .map(|a| a.addr())
                .ok_or_else(|| {
                    EngineError::Internal(format!(
                        "container {} not attached to default bridge network",
                        t.id
                    ))
                })?;
            env.extend(link_env(&alias, &link_name, ip, &t));
            let mut names = format!("{alias} {}", t.hostname);
            if alias != t.name {
                names = format!("{names} {}", t.name);
            }
            hosts.push((names, ip));
        }
        Ok((env, hosts))
    }

    /// The target of the default-bridge link named `parent/alias` (the parent may itself be
    /// such a name, as in dockerd's name index).
    pub(crate) fn link_named(&self, name: &str) -> Option<Arc<Container>> {
        let (parent, alias) = name.rsplit_once('/')?;
        if parent.is_empty() {
            return None;
        }
        let rec = self.get(parent).ok()?.rec();
        if !on_default_bridge(&rec) {
            return None;
        }
        strings(rec.host_config.extra.get("Links"))
            .iter()
            .map(|l| parse_link(l))
            .find(|(_, a)| a == alias)
            .and_then(|(target, _)| self.get(&target).ok())
    }

    /// `DELETE /containers/{parent/alias}?link=1` (`docker rm --link`): the parent loses the
    /// link (kept so across restarts); both containers stay, and a running parent keeps the
    /// `/etc/hosts` lines and environment it started with. Errors are dockerd's.
    pub async fn remove_link(self: &Arc<Self>, name: &str) -> Result<()> {
        let target = self.get(name)?;
        let full = format!("/{}", name.trim_start_matches('/'));
        let (parent, alias) = full.rsplit_once('/').unwrap_or_default();
        if parent.is_empty() {
            return Err(EngineError::Internal(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        }
        let p = self.get(parent).map_err(|_| {
            EngineError::Internal(format!("Cannot get parent {parent} for link name {full}"))
        })?;
        let _op = p.op.lock().await;
        // Decided before the record is locked: finding a target locks other records.
        let links = strings(p.rec().host_config.extra.get("Links"));
        let kept: Vec<String> = links
            .into_iter()
            .filter(|l| {
                let (t, a) = parse_link(l);
                a != alias || !self.get(&t).is_ok_and(|c| c.id == target.id)
            })
            .collect();
        {
            let mut rec = p.lock();
            if kept.is_empty() {
                rec.host_config.extra.remove("Links");
            } else {
                rec.host_config.extra.insert("Links".into(), json!(kept));
            }
        }
        self.persist(&p)
    }

    /// The link names (`/parent/alias`) each container is known by besides its own, by
    /// container ID, as dockerd lists them in `Names`.
    pub(crate) fn link_names(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for p in self.all() {
            let rec = p.rec();
            if !on_default_bridge(&rec) {
                continue;
            }
            for l in strings(rec.host_config.extra.get("Links")) {
                let (name, alias) = parse_link(&l);
                if let Ok(t) = self.get(&name) {
                    out.entry(t.id.clone())
                        .or_default()
                        .push(format!("/{}/{alias}", rec.name));
                }
            }
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }

    /// `HostConfig.Links` of inspect: `/other:/me/alias` for the default bridge's links
    /// whose target exists, null otherwise (dockerd shows its link graph, not the request).
    pub(crate) fn inspect_links(&self, rec: &ContainerRecord) -> Value {
        if !on_default_bridge(rec) {
            return Value::Null;
        }
        let v: Vec<String> = strings(rec.host_config.extra.get("Links"))
            .iter()
            .filter_map(|l| {
                let (name, alias) = parse_link(l);
                let t = self.get(&name).ok()?;
                Some(format!("/{}:/{}/{alias}", t.name(), rec.name))
            })
            .collect();
        if v.is_empty() { Value::Null } else { json!(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_like_docker() {
        assert_eq!(parse_link("db:store"), ("db".into(), "store".into()));
        assert_eq!(parse_link("db"), ("db".into(), "db".into()));
        assert_eq!(parse_link("/db:/me/store"), ("db".into(), "store".into()));
    }

    #[test]
    fn link_env_ranges_follow_dockerd() {
        let t = ContainerRecord {
            name: "rng".into(),
            config: serde_json::from_value(json!({
                "Env": ["HOME=/x", "PATH=/bin", "FOO=a=b"],
                "ExposedPorts": {"7000/tcp": {}, "7001/tcp": {}, "7001/udp": {}, "7002/tcp": {}}
            }))
            .unwrap(),
            ..Default::default()
        };
        let env = link_env("r-1", "/me/r-1", "10.0.0.3".parse().unwrap(), &t);
        let has = |e: &str| env.iter().any(|x| x == e);
        assert_eq!(env[0], "R_1_PORT=tcp://10.0.0.3:7000");
        // dockerd's range runs over the protocols: 7000/tcp to 7002/tcp.
        assert!(
            has("R_1_PORT_7000_TCP_START=tcp://10.0.0.3:7000"),
            "{env:?}"
        );
        assert!(has("R_1_PORT_7000_TCP_END=tcp://10.0.0.3:7002"), "{env:?}");
        assert!(has("R_1_PORT_7000_TCP_PORT_END=7002"), "{env:?}");
        assert!(has("R_1_PORT_7001_UDP=udp://10.0.0.3:7001"), "{env:?}");
        assert!(has("R_1_PORT_7001_UDP_PROTO=udp"), "{env:?}");
        assert!(has("R_1_NAME=/me/r-1"), "{env:?}");
        assert!(has("R_1_ENV_FOO=a=b"), "{env:?}");
        assert!(
            !env.iter().any(|e| e.starts_with("R_1_ENV_HOME")),
            "{env:?}"
        );
        let mut own = vec!["R_1_NAME=mine".to_string(), "A=1".to_string()];
        add_link_env(env, &mut own);
        assert_eq!(own.iter().filter(|e| e.starts_with("R_1_NAME=")).count(), 1);
        assert!(own.contains(&"R_1_NAME=mine".to_string()));
        assert_eq!(own.last().unwrap(), "A=1");
    }
}
