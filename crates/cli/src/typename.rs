//! Go's `%T` in `printf`: the docker CLI's templates run on Go values, and `%T` prints
//! their Go type (`int`, `string`, `*container.State`, `map[string]string`). gotmpl has
//! no such types, so the template is rewritten when it is parsed: each `%T` of a literal
//! format becomes `%s` of `berthType "STATIC" ARG`, STATIC being the Go name of the
//! argument's static type where [`crate::gotypes`] knows it, else empty (the name is
//! then told from the value, as Go's fmt sees a plain decoded JSON value).

use gotmpl::Value;
use gotmpl::parse::{CommandNode, Expr, PipeNode, Pos};

/// Package-qualified Go names of the [`crate::gotypes`] structs that templates meet.
const STRUCTS: &[(&str, &str)] = &[
    ("Container", "container.InspectResponse"),
    ("State", "container.State"),
    ("Health", "container.Health"),
    ("HealthcheckResult", "container.HealthcheckResult"),
    ("HostConfig", "container.HostConfig"),
    ("LogConfig", "container.LogConfig"),
    ("RestartPolicy", "container.RestartPolicy"),
    ("PortBinding", "nat.PortBinding"),
    ("MountPoint", "container.MountPoint"),
    ("Config", "container.Config"),
    ("HealthConfig", "v1.HealthcheckConfig"),
    ("NetworkSettings", "container.NetworkSettings"),
    ("EndpointSettings", "network.EndpointSettings"),
    ("DriverData", "storage.DriverData"),
    ("Mount", "mount.Mount"),
    ("Image", "image.InspectResponse"),
    ("RootFS", "image.RootFS"),
    ("Volume", "volume.Volume"),
    ("UsageData", "volume.UsageData"),
    ("Network", "network.Inspect"),
    ("IPAM", "network.IPAM"),
    ("IPAMConfig", "network.IPAMConfig"),
    ("EndpointResource", "network.EndpointResource"),
    ("EndpointIPAMConfig", "network.EndpointIPAMConfig"),
    ("ConfigReference", "network.ConfigReference"),
    ("PeerInfo", "network.PeerInfo"),
    ("Address", "network.Address"),
    ("ImageConfig", "v1.DockerOCIImageConfig"),
    ("ImageMetadata", "image.Metadata"),
    ("Descriptor", "v1.Descriptor"),
    ("Platform", "v1.Platform"),
    ("DeviceMapping", "container.DeviceMapping"),
    ("WeightDevice", "blkiodev.WeightDevice"),
    ("ThrottleDevice", "blkiodev.ThrottleDevice"),
    ("Event", "events.Message"),
    ("EventActor", "events.Actor"),
    ("Info", "system.dockerInfo"),
    ("PluginsInfo", "system.PluginsInfo"),
    ("SwarmInfo", "swarm.Info"),
    ("Peer", "swarm.Peer"),
    ("Commit", "system.Commit"),
    ("RuntimeWithStatus", "system.RuntimeWithStatus"),
    ("ClientInfo", "system.clientInfo"),
    ("PlatformInfo", "system.platformInfo"),
    ("VersionInfo", "system.versionInfo"),
    ("ClientVersion", "system.clientVersion"),
    ("ServerVersion", "types.Version"),
    ("ComponentVersion", "types.ComponentVersion"),
];

/// Number fields that are Go `int` (the others the API declares `int64`).
const INTS: &[&str] = &[
    "Pid",
    "ExitCode",
    "RestartCount",
    "FailingStreak",
    "MaximumRetryCount",
    "OomScoreAdj",
    "Retries",
    "PrefixLen",
    // system.Info's counts
    "Containers",
    "ContainersRunning",
    "ContainersPaused",
    "ContainersStopped",
    "Images",
    "NFd",
    "NGoroutines",
    "NEventsListener",
    "NCPU",
];

/// Fields whose Go type is a named slice or map.
const NAMED: &[(&str, &str)] = &[
    ("Cmd", "strslice.StrSlice"),
    ("Entrypoint", "strslice.StrSlice"),
    ("Shell", "strslice.StrSlice"),
    ("Ports", "nat.PortMap"),
    ("PortBindings", "nat.PortMap"),
    ("ExposedPorts", "nat.PortSet"),
    ("Volumes", "map[string]struct {}"),
];

/// Fields of a named string type, by struct and field: their Go type's name.
const NAMED_FIELDS: &[(&str, &str, &str)] = &[
    ("HostConfig", "NetworkMode", "container.NetworkMode"),
    ("HostConfig", "IpcMode", "container.IpcMode"),
    ("HostConfig", "PidMode", "container.PidMode"),
    ("HostConfig", "UTSMode", "container.UTSMode"),
    ("HostConfig", "UsernsMode", "container.UsernsMode"),
    ("HostConfig", "CgroupnsMode", "container.CgroupnsMode"),
    ("HostConfig", "Cgroup", "container.CgroupSpec"),
    ("HostConfig", "Isolation", "container.Isolation"),
    ("RestartPolicy", "Name", "container.RestartPolicyMode"),
    ("MountPoint", "Type", "mount.Type"),
    ("MountPoint", "Propagation", "mount.Propagation"),
    ("Mount", "Type", "mount.Type"),
    ("Mount", "Consistency", "mount.Consistency"),
    ("Event", "Type", "events.Type"),
    ("Event", "Action", "events.Action"),
];

/// The Go type of the field `field` of the [`crate::gotypes`] struct `parent` when it is
/// a named string type.
pub fn named_field(parent: &str, field: &str) -> Option<&'static str> {
    NAMED_FIELDS
        .iter()
        .find(|(p, f, _)| *p == parent && *f == field)
        .map(|(_, _, n)| *n)
}

/// The package-qualified Go name of a [`crate::gotypes`] struct (`swarm.Peer`).
pub fn struct_go_name(name: &str) -> Option<&'static str> {
    STRUCTS.iter().find(|(n, _)| *n == name).map(|(_, go)| *go)
}

/// The Go name of a [`crate::gotypes`] type reached through the field `field`; empty
/// when unknown.
pub fn go_name(ty: &str, field: &str) -> String {
    if matches!(ty.as_bytes().first(), Some(b'[' | b'{'))
        && let Some((_, n)) = NAMED.iter().find(|(f, _)| *f == field)
    {
        return (*n).to_owned();
    }
    let inner = |t: &str, prefix: &str| match go_name(t, field) {
        n if n.is_empty() => n,
        n => format!("{prefix}{n}"),
    };
    match ty.as_bytes().first() {
        Some(b's') => "string".into(),
        Some(b'b') => "bool".into(),
        Some(b't') => "time.Time".into(),
        Some(b'd') => "time.Duration".into(),
        Some(b'n') if INTS.contains(&field) => "int".into(),
        Some(b'n') => "int64".into(),
        Some(b'*') => inner(&ty[1..], "*"),
        Some(b'[') => inner(&ty[1..], "[]"),
        Some(b'{') => inner(&ty[1..], "map[string]"),
        Some(b'@') => STRUCTS
            .iter()
            .find(|(n, _)| *n == &ty[1..])
            .map_or(String::new(), |(_, g)| (*g).to_owned()),
        _ => String::new(),
    }
}

/// What Go's `%T` prints for a value decoded from JSON into `interface{}` (or a
/// template literal).
pub fn dynamic(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

/// `berthType STATIC VALUE`: the static name when known, else the value's own.
pub fn func(a: &[Value]) -> gotmpl::Result<Value> {
    let name = match a {
        [Value::String(s), _] if !s.is_empty() => s.to_string(),
        [_, v] => dynamic(v).to_owned(),
        _ => "<nil>".to_owned(),
    };
    Ok(Value::String(name.into()))
}

/// The verb (with a `+` flag kept, as `+v`) that prints each argument after the format;
/// None when the format uses explicit indexes.
pub fn arg_verbs(f: &str) -> Option<Vec<String>> {
    let mut verbs = Vec::new();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        let mut plus = false;
        while let Some(&n) = chars.peek() {
            match n {
                '[' => return None,
                '*' => verbs.push("*".to_owned()),
                '+' => plus = true,
                '-' | '#' | ' ' | '0'..='9' | '.' => {}
                _ => break,
            }
            chars.next();
        }
        match chars.next() {
            Some('%') | None => {}
            Some(v) => verbs.push(if plus { format!("+{v}") } else { v.to_string() }),
        }
    }
    Some(verbs)
}

/// The argument indexes (after the format) that the format's `%T` verbs print, and the
/// format with those verbs as `%s`; None when the format uses explicit indexes.
fn t_verbs(f: &str) -> Option<(Vec<usize>, String)> {
    let mut out = String::with_capacity(f.len());
    let (mut arg, mut ts) = (0usize, Vec::new());
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '%' {
            continue;
        }
        // Flags, width and precision; `*` takes an argument.
        while let Some(&n) = chars.peek() {
            match n {
                '[' => return None,
                '*' => arg += 1,
                '+' | '-' | '#' | ' ' | '0'..='9' | '.' => {}
                _ => break,
            }
            out.push(n);
            chars.next();
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('T') => {
                ts.push(arg);
                arg += 1;
                out.push('s');
            }
            Some(v) => {
                arg += 1;
                out.push(v);
            }
            None => {}
        }
    }
    Some((ts, out))
}

/// Rewrites a `printf` command whose literal format has `%T` verbs; `static_of` gives
/// the Go name of an argument's static type (empty when unknown). True when a `%T`
/// prints the value piped into the command (the caller puts a `berthType` before it).
pub fn rewrite_printf(c: &mut CommandNode, mut static_of: impl FnMut(&Expr) -> String) -> bool {
    let (Some(Expr::Identifier(_, name)), Some(Expr::String(fpos, f))) =
        (c.args.first(), c.args.get(1))
    else {
        return false;
    };
    if name != "printf" || !f.contains('%') {
        return false;
    }
    let Some((ts, format)) = t_verbs(f) else {
        return false;
    };
    if ts.is_empty() {
        return false;
    }
    let given = c.args.len() - 2;
    let fpos = *fpos;
    c.args[1] = Expr::String(fpos, format.into());
    for &i in &ts {
        let Some(e) = c.args.get_mut(2 + i) else {
            continue;
        };
        let ty = static_of(e);
        let pos = pos_of(e).unwrap_or(fpos);
        let arg = std::mem::replace(e, Expr::Nil(pos));
        *e = Expr::Pipe(
            pos,
            PipeNode {
                pos,
                decl: Vec::new(),
                commands: vec![type_of(pos, ty, Some(arg))],
                is_assign: false,
            },
        );
    }
    ts.contains(&given)
}

/// The command `berthType "STATIC" [ARG]` (the piped value is its last argument when
/// ARG is None).
pub fn type_of(pos: Pos, ty: String, arg: Option<Expr>) -> CommandNode {
    let mut args = vec![
        Expr::Identifier(pos, "berthType".into()),
        Expr::String(pos, ty.into()),
    ];
    args.extend(arg);
    CommandNode { pos, args }
}

fn pos_of(e: &Expr) -> Option<Pos> {
    Some(match e {
        Expr::Dot(p)
        | Expr::Field(p, _)
        | Expr::Variable(p, _, _)
        | Expr::Identifier(p, _)
        | Expr::String(p, _)
        | Expr::Number(p, _)
        | Expr::Bool(p, _)
        | Expr::Nil(p)
        | Expr::Pipe(p, _) => *p,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_verbs_are_found_with_their_arguments() {
        assert_eq!(t_verbs("%T").unwrap(), (vec![0], "%s".into()));
        assert_eq!(
            t_verbs("%d%% %-6T|%*d %T").unwrap(),
            (vec![1, 4], "%d%% %-6s|%*d %s".into())
        );
        assert!(t_verbs("%[1]T").is_none());
    }

    #[test]
    fn static_types_take_go_names() {
        assert_eq!(go_name("n", "Pid"), "int");
        assert_eq!(go_name("*n", "SizeRw"), "*int64");
        assert_eq!(go_name("*@State", "State"), "*container.State");
        assert_eq!(go_name("{s", "Labels"), "map[string]string");
        assert_eq!(go_name("[s", "Env"), "[]string");
        assert_eq!(go_name("a", "X"), "");
    }
}
