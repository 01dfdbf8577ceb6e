//! The `/networks` API of the engine: list, inspect, create, remove, prune, connect,
//! disconnect, and network events.

use super::*;

impl Engine {
    /// A `network` event (Docker's attributes: name, type, and the container if any).
    pub(super) fn emit_network(&self, action: &str, n: &NetworkRecord, container: Option<&str>) {
        let mut attrs = vec![("name", n.name.clone()), ("type", n.driver.clone())];
        if let Some(c) = container {
            attrs.push(("container", c.to_owned()));
        }
        self.emit("network", action, &n.id, attrs);
    }

    /// `GET /networks/{id}` shape of `n`.
    fn network_json(&self, net: &Networks, n: &NetworkRecord) -> Value {
        let mut containers = serde_json::Map::new();
        for (cid, nid, _, a) in net.db.endpoints(None).unwrap_or_default() {
            let Some(a) = a.filter(|_| nid == n.id) else {
                continue;
            };
            let name = self.get(&cid).map(|c| c.name()).unwrap_or_default();
            containers.insert(
                cid,
                json!({
                    "Name": name,
                    "EndpointID": a.endpoint_id,
                    "MacAddress": a.mac,
                    "IPv4Address": a.address.map(|x| x.to_string()).unwrap_or_default(),
                    "IPv6Address": a.address6.map(|x| x.to_string()).unwrap_or_default(),
                }),
            );
        }
        let mut configs = Vec::new();
        let v6 = (n.subnet6, n.gateway6, n.ip_range6);
        for (v6, (subnet, gateway, range)) in
            [(false, (n.subnet, n.gateway, n.ip_range)), (true, v6)]
        {
            let mut cfg = serde_json::Map::new();
            if let Some(s) = subnet {
                cfg.insert("Subnet".into(), json!(s.to_string()));
            }
            if let Some(g) = gateway {
                cfg.insert("Gateway".into(), json!(g.to_string()));
            }
            if let Some(r) = range {
                cfg.insert("IPRange".into(), json!(r.to_string()));
            }
            let aux: BTreeMap<_, _> = n
                .aux
                .iter()
                .filter(|(_, a)| a.is_ipv6() == v6)
                .map(|(k, a)| (k.clone(), a.to_string()))
                .collect();
            if !aux.is_empty() && !cfg.is_empty() {
                cfg.insert("AuxiliaryAddresses".into(), json!(aux));
            }
            if !cfg.is_empty() {
                configs.push(Value::Object(cfg));
            }
        }
        let mut options = json!(n.options);
        if n.default && n.driver == "bridge" {
            // The default bridge's options as dockerd lists them (berth's defaults: ICC and
            // masquerading on, published ports on every address, the standard MTU).
            for (k, v) in [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                ("com.docker.network.driver.mtu", "1500"),
            ] {
                if options.get(k).is_none() {
                    options[k] = json!(v);
                }
            }
        }
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": n.enable_ipv6,
            "IPAM": {
                "Driver": "default",
                // What the docker CLI sends for a network it creates; none for the default.
                "Options": if n.default { Value::Null } else { json!({}) },
                "Config": configs,
            },
            "Internal": n.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": { "Network": "" },
            "ConfigOnly": false,
            "Containers": containers,
            "Options": options,
            "Labels": n.labels,
        })
    }

    /// The pre-defined `host` and `none` networks (drivers `host` and `null`), as dockerd
    /// lists them: not stored, their IDs derived from the default bridge network's, and the
    /// running containers in that mode as their members.
    pub(super) fn builtin_networks(&self, net: &Networks) -> Vec<NetworkRecord> {
        use sha2::Digest;
        let Some(bridge) = net.all().into_iter().find(|n| n.name == "bridge") else {
            return Vec::new();
        };
        [("host", "host"), ("none", "null")]
            .into_iter()
            .map(|(name, driver)| {
                let id = hex::encode(sha2::Sha256::digest(format!("{}/{name}", bridge.id)));
                NetworkRecord {
                    id,
                    name: name.into(),
                    driver: driver.into(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    internal: false,
                    default: true,
                    options: Default::default(),
                    labels: Default::default(),
                    bridge: String::new(),
                    state: Default::default(),
                    enable_ipv6: false,
                    subnet6: None,
                    gateway6: None,
                    ip_range6: None,
                    aux: BTreeMap::new(),
                    ..bridge.clone()
                }
            })
            .collect()
    }

    fn builtin_json(&self, net: &Networks, n: &NetworkRecord) -> Value {
        let mut v = self.network_json(net, n);
        let mut members = serde_json::Map::new();
        for c in self.all() {
            let r = c.rec();
            if r.state.running && r.host_config.network_mode == n.name {
                members.insert(
                    r.id.clone(),
                    json!({"Name": c.name(), "EndpointID": "", "MacAddress": "",
                           "IPv4Address": "", "IPv6Address": ""}),
                );
            }
        }
        v["Containers"] = Value::Object(members);
        v["EnableIPv4"] = json!(n.name == "host");
        v
    }

    /// A pre-defined `host`/`none` network by name, full ID or ID prefix.
    fn find_builtin(&self, net: &Networks, key: &str) -> Option<NetworkRecord> {
        self.builtin_networks(net)
            .into_iter()
            .find(|n| n.name == key || (key.len() >= 3 && n.id.starts_with(key)))
    }

    /// `GET /networks` with Docker's filters (name, id, driver, label, type).
    pub fn network_list(&self, filters: &HashMap<String, Vec<String>>) -> Result<Vec<Value>> {
        let net = self.networks()?;
        let has = |k: &str| filters.get(k).filter(|v| !v.is_empty());
        // The values dockerd checks, in its words.
        if let Some(t) = has("type")
            .into_iter()
            .flatten()
            .find(|t| !matches!(t.as_str(), "builtin" | "custom"))
        {
            return Err(EngineError::InvalidArgument(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
        if has("dangling")
            .into_iter()
            .flatten()
            .any(|d| !matches!(d.as_str(), "true" | "1" | "false" | "0"))
        {
            return Err(EngineError::InvalidArgument(
                "invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")".into(),
            ));
        }
        let mut out = Vec::new();
        let builtins = self.builtin_networks(net);
        let names: Vec<String> = builtins.iter().map(|n| n.name.clone()).collect();
        for n in net.all().into_iter().chain(builtins) {
            if let Some(v) = has("name")
                && !v.iter().any(|x| n.name.contains(x.as_str()))
            {
                continue;
            }
            if let Some(v) = has("id")
                && !v.iter().any(|x| n.id.starts_with(x.as_str()))
            {
                continue;
            }
            if let Some(v) = has("driver")
                && !v.contains(&n.driver)
            {
                continue;
            }
            if let Some(v) = has("type") {
                let t = if n.default { "builtin" } else { "custom" };
                if !v.iter().any(|x| x == t) {
                    continue;
                }
            }
            if let Some(v) = has("label") {
                let ok = v.iter().all(|l| match l.split_once('=') {
                    Some((k, val)) => n.labels.get(k).map(String::as_str) == Some(val),
                    None => n.labels.contains_key(l.as_str()),
                });
                if !ok {
                    continue;
                }
            }
            out.push(if names.contains(&n.name) && n.default {
                self.builtin_json(net, &n)
            } else {
                self.network_json(net, &n)
            });
        }
        Ok(out)
    }

    pub fn network_inspect(&self, key: &str) -> Result<Value> {
        let net = self.networks()?;
        match net.find(key) {
            Ok(n) => Ok(self.network_json(net, &n)),
            Err(e) => match self.find_builtin(net, key) {
                Some(n) => Ok(self.builtin_json(net, &n)),
                None => Err(e),
            },
        }
    }

    /// `POST /networks/create`: returns the new ID.
    pub async fn network_create(&self, body: &Value) -> Result<String> {
        let net = self.networks()?.clone();
        let _op = net.op.lock().await;
        let name = body["Name"].as_str().unwrap_or("").to_owned();
        // A one-letter name is fine for a network (dockerd takes it; containers need two).
        let valid = name.len() == 1 && name.bytes().all(|b| b.is_ascii_alphanumeric())
            || crate::ids::valid_name(&name);
        if !valid {
            return Err(EngineError::InvalidArgument(format!(
                "invalid network name {name:?}"
            )));
        }
        if matches!(name.as_str(), "bridge" | "host" | "none" | "default") {
            return Err(EngineError::Forbidden(format!(
                "operation is not permitted on predefined {name} network"
            )));
        }
        if net.all().iter().any(|n| n.name == name) {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let driver = match body["Driver"].as_str().unwrap_or("") {
            "" | "bridge" => "bridge",
            "cni" => "cni",
            d @ ("host" | "null") => {
                return Err(EngineError::Forbidden(format!(
                    "only one instance of \"{d}\" network is allowed"
                )));
            }
            d => {
                return Err(EngineError::NotFound(format!("plugin \"{d}\" not found")));
            }
        };
        // What only swarm or other drivers give meaning to: refused, not dropped.
        let unsupported = if body["Ingress"].as_bool() == Some(true) {
            Some("ingress networks (--ingress) are swarm's routing mesh: berth has no swarm")
        } else if !matches!(body["Scope"].as_str().unwrap_or(""), "" | "local") {
            Some("berth networks are local: --scope swarm and global are not supported")
        } else if body["ConfigOnly"].as_bool() == Some(true)
            || !body["ConfigFrom"]["Network"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        {
            Some(
                "configuration-only networks (--config-only, --config-from) are not supported by berth",
            )
        } else if body["EnableIPv4"].as_bool() == Some(false) {
            Some("IPv6-only networks (--ipv4=false) are not supported by berth")
        } else {
            None
        };
        if let Some(m) = unsupported {
            return Err(EngineError::InvalidArgument(m.into()));
        }
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        // The built-in IPAM driver only (there are no IPAM plugins), by either name.
        match body["IPAM"]["Driver"].as_str().unwrap_or("") {
            "" | "default" => {}
            d => return Err(EngineError::NotFound(format!("plugin \"{d}\" not found"))),
        }
        let options = map(&body["Options"]);
        let labels = map(&body["Labels"]);
        // One IPAM config per family, as dockerd's bridge driver; an entry's family is its
        // subnet's (or gateway's).
        let enable_ipv6 = body["EnableIPv6"].as_bool().unwrap_or(false);
        let (mut cfg4, mut cfg6) = (Value::Null, Value::Null);
        for c in body["IPAM"]["Config"].as_array().into_iter().flatten() {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            let is_v6 = text("Subnet").contains(':')
                || (text("Subnet").is_empty() && text("Gateway").contains(':'));
            let slot = if is_v6 { &mut cfg6 } else { &mut cfg4 };
            if !slot.is_null() {
                return Err(EngineError::Forbidden(
                    "bridge driver doesn't support multiple subnets".into(),
                ));
            }
            *slot = c.clone();
        }
        if !cfg6.is_null() && !enable_ipv6 {
            return Err(bad(
                "an IPv6 subnet needs an IPv6 network: use network create --ipv6",
            ));
        }
        let parse_net = |cfg: &Value, k: &str| -> Result<Option<IpNet>> {
            cfg[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    // dockerd's (libnetwork's) words.
                    s.parse().map_err(|_| {
                        bad(if k == "Subnet" {
                            format!("Invalid subnet {s} : invalid CIDR address: {s}")
                        } else {
                            format!("invalid CIDR address: {s}")
                        })
                    })
                })
                .transpose()
        };
        let parse_ip = |cfg: &Value, k: &str| -> Result<Option<IpAddr>> {
            cfg[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map_err(|_| bad(format!("invalid {k} {s}"))))
                .transpose()
        };
        let subnet = parse_net(&cfg4, "Subnet")?;
        let ip_range = parse_net(&cfg4, "IPRange")?;
        let gateway = parse_ip(&cfg4, "Gateway")?;
        let subnet6 = parse_net(&cfg6, "Subnet")?;
        let ip_range6 = parse_net(&cfg6, "IPRange")?;
        let gateway6 = parse_ip(&cfg6, "Gateway")?;
        let id = crate::ids::random_hex(32);
        let internal = body["Internal"].as_bool().unwrap_or(false);
        let mut n = NetworkRecord {
            id: id.clone(),
            name: name.clone(),
            driver: driver.into(),
            created: crate::now_rfc3339(),
            bridge: String::new(),
            subnet: None,
            gateway: None,
            ip_range,
            internal,
            labels,
            options,
            state: NetworkState::default(),
            default: false,
            enable_ipv6,
            subnet6: None,
            gateway6: None,
            ip_range6: None,
            aux: BTreeMap::new(),
            cni_aux_leases: Vec::new(),
        };
        if driver == "cni" {
            if enable_ipv6 {
                return Err(bad(
                    "--ipv6 is for bridge networks (a cni network's addresses come from its plugins)",
                ));
            }
            let conf = n.cni_conf()?;
            tracing::info!(network = %name, cni = %conf.name, plugins = conf.plugins.len(), "cni network");
            let host_local = conf.host_local();
            // `--subnet` and `--gateway` (which the docker CLI needs for `--aux-address`)
            // may name what the conflist has, not change it.
            if n.ip_range.is_some() {
                return Err(bad(
                    "--ip-range is not supported on cni networks: set rangeStart and rangeEnd in the CNI config",
                ));
            }
            if let Some(s) = subnet {
                let hl = host_local.as_ref().map_err(|_| {
                    bad(format!(
                        "--subnet {s}: a cni network's addresses come from its plugins, and its CNI config has no host-local IPAM"
                    ))
                })?;
                let Some((_, g)) = hl.ranges.iter().find(|(r, _)| *r == s.trunc()) else {
                    return Err(bad(format!(
                        "--subnet {s} is not a subnet of the cni network's host-local IPAM ({})",
                        hl.ranges
                            .iter()
                            .map(|(r, _)| r.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                if let Some(gw) = gateway.filter(|gw| gw != g) {
                    return Err(bad(format!(
                        "--gateway {gw} is not the gateway of {s} in the cni network's host-local IPAM ({g})"
                    )));
                }
            } else if gateway.is_some() {
                return Err(bad("--gateway on a cni network needs --subnet"));
            }
            // The subnets and gateways host-local hands out, for inspect's IPAM.Config.
            if let Ok(hl) = &host_local {
                for (v6, subnet, gateway) in [
                    (false, &mut n.subnet, &mut n.gateway),
                    (true, &mut n.subnet6, &mut n.gateway6),
                ] {
                    if let Some((s, g)) = hl.ranges.iter().find(|(s, _)| s.addr().is_ipv6() == v6) {
                        *subnet = Some(*s);
                        *gateway = Some(*g);
                    }
                }
            }
            let aux = aux_addresses(&cfg4, &cfg6)?;
            if !aux.is_empty() {
                if let Some(k) = [DEFAULT_GW4, DEFAULT_GW6]
                    .into_iter()
                    .find(|k| aux.contains_key(*k))
                {
                    return Err(bad(format!(
                        "auxiliary address {k} is not supported on cni networks: their routes come from the CNI plugins"
                    )));
                }
                let hl = host_local.map_err(|ty| {
                    bad(format!(
                        "auxiliary addresses on a cni network need host-local IPAM in its CNI config, which has IPAM {ty}"
                    ))
                })?;
                for (k, a) in &aux {
                    if !hl.ranges.iter().any(|(s, _)| s.contains(a)) {
                        return Err(bad(format!("no matching subnet for aux-address {a} ({k})")));
                    }
                }
                let addrs: Vec<IpAddr> = aux.values().copied().collect();
                n.aux = aux;
                let owner = n.cni_aux_owner();
                let made = blocking(move || {
                    let mut made = Vec::new();
                    for a in addrs {
                        match hl.reserve(a, &owner) {
                            Ok(p) => made.push(p),
                            Err(e) => {
                                for p in &made {
                                    let _ = hl.release(p, &owner);
                                }
                                return Err(e);
                            }
                        }
                    }
                    Ok(made)
                })
                .await?
                .map_err(|e| match &e {
                    berth_net::cni::CniError::Lease { source, .. }
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        EngineError::Conflict(format!("auxiliary address: {e}: already leased"))
                    }
                    _ => EngineError::internal("auxiliary address", e),
                })?;
                n.cni_aux_leases = made;
            }
        } else {
            let taken: Vec<IpNet> = net.all().iter().filter_map(|n| n.subnet).collect();
            let subnet = match subnet {
                Some(s) => {
                    if taken.iter().any(|t| ipam::overlaps(t, &s)) {
                        return Err(EngineError::Conflict(format!(
                            "Pool overlaps with other one on this address space: {s}"
                        )));
                    }
                    s.trunc()
                }
                None => {
                    let mut avoid = ipam::host_ipv4_routes();
                    avoid.extend(taken);
                    ipam::pick_subnet(&ipam::default_pools(), &avoid).ok_or_else(|| {
                        EngineError::Internal("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into())
                    })?
                }
            };
            let pool = Pool::new(&id, subnet, gateway, ip_range).map_err(bad)?;
            n.subnet = Some(pool.subnet);
            n.gateway = Some(pool.gateway);
            if enable_ipv6 {
                let taken6: Vec<IpNet> = net.all().iter().filter_map(|n| n.subnet6).collect();
                let overlaps = |s: &IpNet| taken6.iter().any(|t| ipam::overlaps(t, s));
                let subnet6 = match subnet6 {
                    Some(s) if overlaps(&s) => {
                        return Err(EngineError::Conflict(format!(
                            "Pool overlaps with other one on this address space: {s}"
                        )));
                    }
                    Some(s) => {
                        ipam::check_ipv6_subnet(&s).map_err(bad)?;
                        s.trunc()
                    }
                    None => ula_subnet(&id, overlaps)?,
                };
                n.set_pool6(subnet6, gateway6, ip_range6)?;
            }
            n.aux = aux_addresses(&cfg4, &cfg6)?;
            // Each in its family's subnet, and usable there.
            n.bridge_network()?;
            n.bridge = n
                .options
                .get("com.docker.network.bridge.name")
                .cloned()
                .unwrap_or_else(|| format!("br-{}", &id[..12]));
        }
        if let Err(e) = net.db.put_network(&n, true) {
            net.release_cni_aux(&n).await;
            return Err(e);
        }
        // Brought up and recorded as done, or undone whole (record, bridge, aux leases).
        let done = match net.bring_up(&mut n).await {
            Ok(()) => net.db.put_network(&n, false),
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            let _ = net.db.delete_network(&id);
            if n.driver == "bridge"
                && let Ok(bn) = n.bridge_network()
            {
                let _ = net.driver.remove_network(&bn, &n.state).await;
            }
            net.release_cni_aux(&n).await;
            return Err(e);
        }
        net.nets.write().unwrap_or_else(|p| p.into_inner()).push(n);
        tracing::info!(network = %name, id = %id, "network created");
        if let Some(n) = net.by_id(&id) {
            self.emit_network("create", &n, None);
        }
        Ok(id)
    }

    /// `DELETE /networks/{id}`: 409 while containers use it.
    pub async fn network_remove(&self, key: &str) -> Result<()> {
        let net = self.networks()?.clone();
        let _op = net.op.lock().await;
        // `default` names the bridge network only in a container's network mode.
        if key == "default" {
            return Err(EngineError::NotFound(format!("network {key} not found")));
        }
        if let Some(b) = self.find_builtin(&net, key) {
            return Err(EngineError::InvalidArgument(format!(
                "{} is a pre-defined network and cannot be removed",
                b.name
            )));
        }
        let n = net.find(key)?;
        if n.default {
            return Err(EngineError::InvalidArgument(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let users: Vec<String> = net
            .db
            .endpoints(None)?
            .into_iter()
            .filter(|(_, nid, ..)| *nid == n.id)
            .map(|(c, ..)| c)
            .collect();
        if !users.is_empty() {
            let active = users
                .iter()
                .filter_map(|c| self.get(c).ok())
                .filter(|c| c.lock().state.running)
                .count();
            if active > 0 {
                return Err(EngineError::Conflict(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
        }
        net.settle(None).await;
        net.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n.id);
        if n.driver == "bridge" {
            let bn = n.bridge_network()?;
            net.driver
                .remove_network(&bn, &n.state)
                .await
                .map_err(|e| EngineError::internal(format!("remove network {}", n.name), e))?;
        }
        for c in users {
            let _ = net.db.remove_endpoints(&c, Some(&n.id));
        }
        net.db.delete_network(&n.id)?;
        net.release_cni_aux(&n).await;
        net.nets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|x| x.id != n.id);
        tracing::info!(network = %n.name, "network removed");
        self.emit_network("destroy", &n, None);
        Ok(())
    }

    /// `POST /networks/prune`: removes unused user-defined networks, returns their names.
    pub async fn network_prune(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let net = self.networks()?.clone();
        let used: HashSet<String> = net
            .db
            .endpoints(None)?
            .into_iter()
            .map(|(_, n, ..)| n)
            .collect();
        // `until` (created before) and `label`/`label!`, as container prune takes them.
        let until = match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(crate::events::parse_until(u).ok_or_else(|| {
                EngineError::InvalidArgument(format!(
                    "failed to parse value as time or duration: {u:?}"
                ))
            })?),
            None => None,
        };
        let label_ok = |n: &NetworkRecord| {
            crate::events::labels_match(filters, &n.labels)
                && until.is_none_or(|u| {
                    berth_image::timefmt::parse_rfc3339(&n.created)
                        .unwrap_or(0)
                        .saturating_mul(1_000_000_000)
                        < u
                })
        };
        let mut out = Vec::new();
        for n in net.all() {
            if n.default || used.contains(&n.id) || !label_ok(&n) {
                continue;
            }
            if self.network_remove(&n.id).await.is_ok() {
                out.push(n.name);
            }
        }
        // As dockerd: one `prune` event per prune, networks free no space.
        self.emit("network", "prune", "", [("reclaimed", "0".to_owned())]);
        Ok(out)
    }

    /// `POST /networks/{id}/connect`: recorded, and attached now if the container runs.
    pub async fn network_connect(&self, key: &str, container: &str, cfg: &Value) -> Result<()> {
        let net = self.networks()?.clone();
        // The container first, as dockerd looks it up before the network.
        self.get(container)?;
        let builtin = self
            .builtin_networks(&net)
            .into_iter()
            .find(|n| n.name == key || n.id == key);
        let n = match &builtin {
            Some(b) => b.clone(),
            None => net.find(key)?,
        };
        let c = self.get(container)?;
        let ecfg = EndpointConfig::from_api(cfg)?;
        let rec = c.rec();
        let mode = rec.host_config.network_mode.as_str();
        // dockerd's updateNetworkSettings checks, in its order and words.
        let conflict = if n.driver == "host" && mode != "host" {
            Some("container cannot be disconnected from host network or connected to host network")
        } else if mode == "host" || mode.starts_with("container:") {
            Some(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            )
        } else if mode == "none" || n.driver == "null" {
            Some(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            )
        } else {
            None
        };
        if let Some(m) = conflict {
            return Err(EngineError::InvalidArgument(m.into()));
        }
        let eps = net.db.endpoints(Some(&rec.id))?;
        if eps.iter().any(|(_, nid, ..)| *nid == n.id) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            )));
        }
        check_default_endpoint(&n, &ecfg)?;
        let _op = c.op.lock().await;
        net.db.add_endpoint(&rec.id, &n.id, &ecfg)?;
        if !c.lock().state.running {
            return Ok(());
        }
        let path = berth_net::netns::path_for(&self.cfg.exec_root, &rec.id);
        let p2 = path.clone();
        let ns = blocking(move || NetNs::open(p2))
            .await?
            .map_err(|e| EngineError::internal("network namespace", e))?;
        let index = eps.len();
        let default_route = !eps.iter().any(|e| e.3.is_some()) && !n.internal;
        let r = self
            .connect_one(
                &net,
                &n,
                &rec.id,
                &ns,
                index,
                &ecfg,
                default_route,
                Vec::new(),
            )
            .await;
        let a = match r {
            Ok(a) => a,
            Err(e) => {
                let _ = net.db.remove_endpoints(&rec.id, Some(&n.id));
                return Err(e);
            }
        };
        net.db.set_active(&rec.id, &n.id, Some(&a))?;
        self.emit_network("connect", &n, Some(&rec.id));
        net.dns_add(&n.id, &rec.name, &ecfg, &a, &self.link_targets(&ecfg.links));
        self.reselect_gateways(&net, &rec.id, &ns).await?;
        self.write_net_files(&rec, &self.container_dir(&rec.id))
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, key: &str, container: &str) -> Result<()> {
        let net = self.networks()?.clone();
        let c = self.get(container)?;
        if let Some(b) = self
            .builtin_networks(&net)
            .into_iter()
            .find(|n| n.driver == "host" && (n.name == key || n.id == key))
        {
            let rec = c.rec();
            return Err(if rec.host_config.network_mode == "host" {
                EngineError::InvalidArgument(
                    "container cannot be disconnected from host network or connected to host network"
                        .into(),
                )
            } else {
                EngineError::Conflict(format!(
                    "container {} is not connected to network {}",
                    c.id, b.name
                ))
            });
        }
        let n = net.find(key)?;
        let _op = c.op.lock().await;
        let eps = net.db.endpoints(Some(&c.id))?;
        let Some((_, _, _, active)) = eps.into_iter().find(|(_, nid, ..)| *nid == n.id) else {
            return Err(EngineError::Conflict(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        };
        if let Some(a) = active {
            net.dns_remove(&n.id, &a);
            net.stop_proxies(&c.id, Some(&n.id));
            if let Some(st) = &a.bridge {
                net.driver
                    .disconnect(st)
                    .await
                    .map_err(|e| EngineError::internal("disconnect", e))?;
            } else if let Ok(conf) = n.cni_conf() {
                let att = Attachment {
                    container_id: c.id.clone(),
                    netns: berth_net::netns::path_for(&self.cfg.exec_root, &c.id),
                    ifname: a.ifname.clone(),
                    args: vec![("IgnoreUnknown".into(), "1".into())],
                    port_mappings: Vec::new(),
                    capability_args: Default::default(),
                };
                let drv = net.cni.clone();
                blocking(move || drv.del(&conf, &att))
                    .await?
                    .map_err(|e| EngineError::internal("disconnect", e))?;
            }
        }
        net.db.remove_endpoints(&c.id, Some(&n.id))?;
        self.emit_network("disconnect", &n, Some(&c.id));
        if c.lock().state.running {
            // The default route may have gone with the interface: another network's.
            let path = berth_net::netns::path_for(&self.cfg.exec_root, &c.id);
            if let Ok(Ok(ns)) = blocking(move || NetNs::open(path)).await {
                self.reselect_gateways(&net, &c.id, &ns).await?;
            }
        }
        Ok(())
    }

    /// Each family's default route goes to the network of the highest `--gw-priority`
    /// that has a gateway of that family (the first attached on a tie), as dockerd 28
    /// chooses it: after a start on several networks, a connect and a disconnect. cni
    /// attachments and internal networks make their own routes or none.
    pub(super) async fn reselect_gateways(
        &self,
        net: &Networks,
        cid: &str,
        ns: &NetNs,
    ) -> Result<()> {
        let eps = net.db.endpoints(Some(cid))?;
        for v6 in [false, true] {
            let best = eps
                .iter()
                .filter_map(|(_, nid, cfg, a)| {
                    let a = a.as_ref().filter(|a| a.bridge.is_some())?;
                    if net.by_id(nid)?.internal {
                        return None;
                    }
                    let gw = if v6 {
                        a.gateway6.filter(|_| a.address6.is_some())
                    } else {
                        a.gateway
                    };
                    Some((cfg.gw_priority, &a.ifname, gw?))
                })
                .rev()
                .max_by_key(|(p, ..)| *p);
            if let Some((_, ifname, gw)) = best {
                berth_net::veth::replace_default_route(ns, ifname, gw)
                    .await
                    .map_err(|e| EngineError::internal("default route", e))?;
            }
        }
        Ok(())
    }
}

/// A unique-local IPv6 /64 for `network create --ipv6` without an IPv6 subnet: `fd` and a
/// 40-bit global ID taken from the network's random ID (RFC 4193's random global ID), the
/// next 40 bits tried when one overlaps a network in use.
pub(super) fn ula_subnet(id: &str, overlaps: impl Fn(&IpNet) -> bool) -> Result<IpNet> {
    let hex = id.as_bytes();
    for chunk in hex.chunks(10).filter(|c| c.len() == 10) {
        let Ok(gid) = u64::from_str_radix(std::str::from_utf8(chunk).unwrap_or("x"), 16) else {
            continue;
        };
        let addr = (0xfd_u128 << 120) | (u128::from(gid) << 80);
        let s = IpNet::V6(
            ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(addr), 64).expect("a /64 is valid"),
        );
        if !overlaps(&s) {
            return Ok(s);
        }
    }
    Err(EngineError::Internal(
        "could not find an available, non-overlapping IPv6 address pool for the network".into(),
    ))
}

/// `AuxiliaryAddresses` of the IPv4 and IPv6 `IPAM.Config`, each of its config's family.
fn aux_addresses(cfg4: &Value, cfg6: &Value) -> Result<BTreeMap<String, IpAddr>> {
    let mut aux = BTreeMap::new();
    for (cfg, v6) in [(cfg4, false), (cfg6, true)] {
        for (k, v) in cfg["AuxiliaryAddresses"].as_object().into_iter().flatten() {
            let a: IpAddr = v
                .as_str()
                .and_then(|s| s.parse().ok())
                .filter(|a: &IpAddr| a.is_ipv6() == v6)
                .ok_or_else(|| bad(format!("invalid auxiliary address {k}={v}")))?;
            aux.insert(k.clone(), a);
        }
    }
    Ok(aux)
}
