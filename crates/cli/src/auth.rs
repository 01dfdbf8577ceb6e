//! login/logout and registry credentials, kept where docker keeps them
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, `auths.<server>.auth` =
//! base64 of `user:password`), so both CLIs share one login. Pull and push send them as
//! `X-Registry-Auth` (base64url JSON), as docker does.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::args::{LoginArgs, LogoutArgs};
use crate::client::Client;

/// Docker Hub's key in config.json.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

pub fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".docker")
        });
    dir.join("config.json")
}

pub fn load_config() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if !b.is_empty() => match serde_json::from_slice(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => bail!("loading config file: {}: invalid JSON", p.display()),
        },
        _ => Ok(Map::new()),
    }
}

/// Written like docker writes it (tab indent), through a temp file and a rename.
pub fn save_config(m: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let p = config_path();
    if let Some(dir) = p.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(m, &mut ser)?;
    let tmp = p.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&buf)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p)?;
    Ok(())
}

/// `https://host/v2/` → `host` (docker's ConvertToHostname).
fn hostname(s: &str) -> &str {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s)
}

/// The registry an image reference lives on, as config.json keys it.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            if first == "docker.io" || first == "index.docker.io" {
                INDEX_SERVER.to_owned()
            } else {
                first.to_owned()
            }
        }
        _ => INDEX_SERVER.to_owned(),
    }
}

/// Stored credentials for a registry: (username, password).
fn credentials(server: &str) -> Option<(String, String)> {
    let cfg = load_config().ok()?;
    let auths = cfg.get("auths")?.as_object()?;
    let entry = auths.get(server).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| hostname(k) == hostname(server))
            .map(|(_, v)| v)
    })?;
    let raw = entry.get("auth")?.as_str()?;
    let dec = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let text = String::from_utf8(dec).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The `X-Registry-Auth` value for pulling/pushing `image`, when we hold credentials.
pub fn header_for(image: &str) -> Option<String> {
    let server = registry_of(image);
    let (u, p) = credentials(&server)?;
    let j = json!({"username": u, "password": p, "serveraddress": server});
    Some(base64::engine::general_purpose::URL_SAFE.encode(j.to_string()))
}

/// The `X-Registry-Config` value docker's `build` sends: every credential config.json
/// holds, by server, as Go's AuthConfig marshals (user and password decoded from
/// `auth`, the server's key as `serveraddress`), base64 (URL alphabet) of the JSON;
/// `e30=` (`{}`) when there are none.
pub fn registry_config() -> String {
    let cfg = load_config().unwrap_or_default();
    let mut out = Map::new();
    for (server, e) in cfg
        .get("auths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let (user, password) = credentials(server).unwrap_or_default();
        let mut entry = Map::new();
        for (k, v) in [
            ("username", user),
            ("password", password),
            ("email", field("email")),
            ("serveraddress", server.clone()),
            ("identitytoken", field("identitytoken")),
            ("registrytoken", field("registrytoken")),
        ] {
            if !v.is_empty() {
                entry.insert(k.to_owned(), Value::String(v));
            }
        }
        out.insert(server.clone(), Value::Object(entry));
    }
    base64::engine::general_purpose::URL_SAFE.encode(Value::Object(out).to_string())
}

/// The build arguments config.json's `proxies` add (docker's ParseProxyConfig): the
/// entry for `host`, else `default`; each proxy set under its upper- and lower-case name
/// unless the user set that name.
pub fn proxy_build_args(host: &str) -> Vec<(String, String)> {
    let cfg = load_config().unwrap_or_default();
    let Some(proxies) = cfg.get("proxies").and_then(Value::as_object) else {
        return Vec::new();
    };
    let Some(p) = proxies.get(host).or_else(|| proxies.get("default")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, name) in [
        ("httpProxy", "HTTP_PROXY"),
        ("httpsProxy", "HTTPS_PROXY"),
        ("noProxy", "NO_PROXY"),
        ("ftpProxy", "FTP_PROXY"),
        ("allProxy", "ALL_PROXY"),
    ] {
        if let Some(v) = p.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()) {
            out.push((name.to_owned(), v.to_owned()));
            out.push((name.to_lowercase(), v.to_owned()));
        }
    }
    out
}

fn prompt(text: &str) -> Result<String> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads a password from the terminal with echo off.
fn prompt_password() -> Result<String> {
    use rustix::termios::{self, LocalModes, OptionalActions};
    let fd = rustix::stdio::stdin();
    let saved = termios::tcgetattr(fd).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = termios::tcsetattr(fd, OptionalActions::Now, &quiet);
    }
    let r = prompt("Password: ");
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(fd, OptionalActions::Now, t);
        eprintln!();
    }
    r
}

pub fn login(c: &Client, a: &LoginArgs) -> Result<()> {
    let server = match a.server.as_deref() {
        None | Some("") | Some("docker.io") | Some("index.docker.io") => INDEX_SERVER.to_owned(),
        Some(s) => s.to_owned(),
    };
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password_stdin && a.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        String::new()
    };
    let username = match &a.username {
        Some(u) => u.clone(),
        None => {
            if !std::io::stdin().is_terminal() {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            prompt("Username: ")?
        }
    };
    let password = if password.is_empty() && !a.password_stdin {
        if !std::io::stdin().is_terminal() {
            bail!("Cannot perform an interactive login from a non TTY device");
        }
        prompt_password()?
    } else {
        password
    };
    if username.trim().is_empty() {
        bail!("Username is required");
    }
    if password.is_empty() {
        bail!("Password is required");
    }
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let v = c.post_json("/auth", Some(&body))?;
    let mut cfg = load_config()?;
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("config.json: auths is not an object")?;
    let mut entry = Map::new();
    match v.get("IdentityToken").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => {
            entry.insert("identitytoken".into(), json!(t));
        }
        _ => {
            let raw = format!("{username}:{password}");
            entry.insert(
                "auth".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(raw)),
            );
        }
    }
    auths.insert(server, Value::Object(entry));
    save_config(&cfg)?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.\n\
         Configure a credential helper to remove this warning. See\n\
         https://docs.docker.com/go/credential-store/\n",
        config_path().display()
    );
    let status = v
        .get("Status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("Login Succeeded");
    println!("{status}");
    Ok(())
}

pub fn logout(a: &LogoutArgs) -> Result<()> {
    let server = match a.server.as_deref() {
        None | Some("") | Some("docker.io") | Some("index.docker.io") => INDEX_SERVER.to_owned(),
        Some(s) => hostname(s).to_owned(),
    };
    println!("Removing login credentials for {server}");
    let mut cfg = load_config()?;
    let mut changed = false;
    if let Some(auths) = cfg.get_mut("auths").and_then(Value::as_object_mut) {
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| *k == &server || hostname(k) == server)
            .cloned()
            .collect();
        for k in keys {
            auths.remove(&k);
            changed = true;
        }
    }
    if changed {
        save_config(&cfg)?;
    }
    Ok(())
}

/// The config.json `run/create --use-api-socket` copies into the container: the
/// registry credentials this client holds (those of `DOCKER_AUTH_CONFIG` when it names
/// any, else config.json's), written as docker writes them there — `auths` alone, each
/// entry's `auth` re-encoded from its user and password, `email`, `identitytoken` and
/// `registrytoken` kept, keys sorted, tab-indented. None when there are none.
/// (Credential helpers are not consulted: berth reads none.)
pub fn api_socket_config() -> Result<Option<String>> {
    let from_env = match std::env::var("DOCKER_AUTH_CONFIG") {
        Ok(v) if !v.is_empty() => {
            let cfg: Value = serde_json::from_str(&v)
                .map_err(|e| anyhow::anyhow!("parsing DOCKER_AUTH_CONFIG: {e}"))?;
            auth_entries(&cfg)
        }
        _ => Vec::new(),
    };
    let entries = if from_env.is_empty() {
        auth_entries(&Value::Object(load_config()?))
    } else {
        from_env
    };
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(auths_json(&entries)))
}

/// `{"auths": ...}` of `entries` as Go's json.MarshalIndent with a tab prints it.
fn auths_json(entries: &[(String, Vec<(&'static str, String)>)]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = String::from("{\n\t\"auths\": {");
    for (i, (server, fields)) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&format!("\t\t{}: {{", q(server)));
        for (j, (k, v)) in fields.iter().enumerate() {
            out.push_str(if j == 0 { "\n" } else { ",\n" });
            out.push_str(&format!("\t\t\t{}: {}", q(k), q(v)));
        }
        out.push_str(if fields.is_empty() { "}" } else { "\n\t\t}" });
    }
    out.push_str("\n\t}\n}");
    out
}

/// A config's `auths`, sorted by server, each with its non-empty fields in docker's
/// order (`auth` from the decoded user and password).
fn auth_entries(cfg: &Value) -> Vec<(String, Vec<(&'static str, String)>)> {
    let Some(auths) = cfg.get("auths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<(&'static str, String)>)> = auths
        .iter()
        .map(|(server, e)| {
            let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let auth = base64::engine::general_purpose::STANDARD
                .decode(field("auth"))
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .filter(|t| t.contains(':') && t != ":")
                .map(|t| base64::engine::general_purpose::STANDARD.encode(t))
                .unwrap_or_default();
            let fields = [
                ("auth", auth),
                ("email", field("email")),
                ("identitytoken", field("identitytoken")),
                ("registrytoken", field("registrytoken")),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
            (server.clone(), fields)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_socket_config_is_written_as_docker_writes_it() {
        let cfg = json!({"auths": {
            "reg.example:5000": {"auth": "dTpw"},
            "a.io": {},
            "b.io": {"auth": "YTpi", "email": "e@x", "identitytoken": "tok"},
        }, "detachKeys": "ctrl-x"});
        let entries = auth_entries(&cfg);
        assert_eq!(
            entries.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["a.io", "b.io", "reg.example:5000"]
        );
        assert_eq!(
            entries[1].1,
            [
                ("auth", "YTpi".to_owned()),
                ("email", "e@x".to_owned()),
                ("identitytoken", "tok".to_owned())
            ]
        );
        assert!(entries[0].1.is_empty());
        // (the bytes docker 28 copies into the container for these credentials)
        assert_eq!(
            auths_json(&entries),
            "{\n\t\"auths\": {\n\t\t\"a.io\": {},\n\t\t\"b.io\": {\n\t\t\t\"auth\": \"YTpi\",\n\t\t\t\"email\": \"e@x\",\n\t\t\t\"identitytoken\": \"tok\"\n\t\t},\n\t\t\"reg.example:5000\": {\n\t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t}\n}"
        );
    }

    #[test]
    fn registries_are_keyed_like_docker() {
        assert_eq!(registry_of("busybox"), INDEX_SERVER);
        assert_eq!(registry_of("library/busybox:1"), INDEX_SERVER);
        assert_eq!(registry_of("docker.io/x/y"), INDEX_SERVER);
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_of("reg.example/x"), "reg.example");
        assert_eq!(hostname("https://reg.example/v2/"), "reg.example");
    }
}
