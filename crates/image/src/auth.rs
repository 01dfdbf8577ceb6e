//! Registry credentials: Docker's `~/.docker/config.json` `auths`, plus berth's own login
//! store (same format, so `berth login` and `docker login` entries read alike).
//!
//! Credential helpers (`credsStore`, `credHelpers`) are run as Docker runs them:
//! `docker-credential-<name> get` with the registry on stdin, a `{"Username","Secret"}`
//! JSON answer on stdout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A user name and secret for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Credential({:?}, ***)", self.username)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading credentials {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing credentials {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(
        default,
        rename = "credsStore",
        skip_serializing_if = "Option::is_none"
    )]
    creds_store: Option<String>,
    #[serde(
        default,
        rename = "credHelpers",
        skip_serializing_if = "HashMap::is_empty"
    )]
    cred_helpers: HashMap<String, String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "identitytoken"
    )]
    identity_token: Option<String>,
}

/// Credentials by registry host (`docker.io`, `127.0.0.1:5000`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
    /// `credHelpers`: helper name by host.
    helpers: HashMap<String, String>,
    /// `credsStore`: the helper for every host without an entry.
    default_helper: Option<String>,
    /// Where `docker-credential-*` programs are looked for (`None`: `$PATH`).
    pub helper_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Docker keys its Hub entry by the old index URL; everything else by `host[:port]`, with or
/// without a scheme and path.
fn normalize_host(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), then berth's store at
    /// `berth_store` (entries there win). Missing files are not errors.
    pub fn load_default(berth_store: Option<&Path>) -> Result<Credentials, AuthError> {
        let mut c = Credentials::new();
        let docker = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) => Some(PathBuf::from(d).join("config.json")),
            None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
        };
        if let Some(p) = docker {
            c.merge_file(&p)?;
        }
        if let Some(p) = berth_store {
            c.merge_file(p)?;
        }
        Ok(c)
    }

    /// Adds the `auths` of a Docker-format config file.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), AuthError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(AuthError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: ConfigFile = serde_json::from_slice(&data).map_err(|source| AuthError::Json {
            path: path.to_owned(),
            source,
        })?;
        if file.creds_store.is_some() {
            self.default_helper = file.creds_store.clone();
        }
        for (host, helper) in &file.cred_helpers {
            self.helpers.insert(normalize_host(host), helper.clone());
        }
        for (key, e) in file.auths {
            let cred = match (&e.auth, &e.username, &e.password) {
                (Some(a), _, _) if !a.is_empty() => {
                    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(a.trim()) else {
                        tracing::warn!(registry = key.as_str(), "ignoring undecodable auth entry");
                        continue;
                    };
                    let raw = String::from_utf8_lossy(&raw).into_owned();
                    let Some((u, p)) = raw.split_once(':') else {
                        continue;
                    };
                    Credential {
                        username: u.to_owned(),
                        password: p.to_owned(),
                    }
                }
                (_, Some(u), Some(p)) => Credential {
                    username: u.clone(),
                    password: p.clone(),
                },
                _ => continue,
            };
            self.by_host.insert(normalize_host(&key), cred);
        }
        Ok(())
    }

    pub fn insert(&mut self, host: &str, cred: Credential) {
        self.by_host.insert(normalize_host(host), cred);
    }

    /// The credential for `host`: a stored one, else what its credential helper answers.
    pub fn get(&self, host: &str) -> Option<Credential> {
        let host = normalize_host(host);
        if let Some(c) = self.by_host.get(&host) {
            return Some(c.clone());
        }
        let helper = self.helpers.get(&host).or(self.default_helper.as_ref())?;
        self.run_helper(helper, &host)
    }

    fn run_helper(&self, helper: &str, host: &str) -> Option<Credential> {
        use std::io::Write;
        let prog = format!("docker-credential-{helper}");
        let prog = match &self.helper_dir {
            Some(d) => d.join(prog),
            None => PathBuf::from(prog),
        };
        // Docker Hub's entry is keyed by the old index URL in every helper.
        let key = if host == "docker.io" {
            "https://index.docker.io/v1/"
        } else {
            host
        };
        let mut child = std::process::Command::new(&prog)
            .arg("get")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .inspect_err(|e| tracing::warn!(helper = %prog.display(), error = %e, "credential helper failed to start"))
            .ok()?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(key.as_bytes());
        }
        let out = child.wait_with_output().ok()?;
        if !out.status.success() {
            // "credentials not found": anonymous access.
            return None;
        }
        let a: HelperAnswer = serde_json::from_slice(&out.stdout)
            .inspect_err(|e| tracing::warn!(helper = %prog.display(), error = %e, "credential helper answered garbage"))
            .ok()?;
        Some(Credential {
            username: a.username,
            password: a.secret,
        })
    }
}

/// The Docker API's `X-Registry-Auth` header (and `POST /auth` body): base64url JSON with
/// `username`/`password`, or `auth` (base64 `user:password`), and `serveraddress`.
#[derive(Debug, Default, Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub serveraddress: String,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
}

impl RegistryAuth {
    /// Decodes the header value (URL-safe or standard base64, padded or not). None when it
    /// is empty or not valid; Docker then proceeds anonymously, and so do we.
    pub fn decode_header(value: &str) -> Option<RegistryAuth> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        let raw = URL_SAFE
            .decode(v)
            .or_else(|_| URL_SAFE_NO_PAD.decode(v))
            .or_else(|_| STANDARD.decode(v))
            .ok()?;
        serde_json::from_slice(&raw).ok()
    }

    /// The user name and password, from the fields or from `auth`.
    pub fn credential(&self) -> Option<Credential> {
        if !self.username.is_empty() {
            return Some(Credential {
                username: self.username.clone(),
                password: self.password.clone(),
            });
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        (!u.is_empty()).then(|| Credential {
            username: u.to_owned(),
            password: p.to_owned(),
        })
    }

    /// The registry host the credentials are for (`docker.io` when none is named).
    pub fn registry_host(&self) -> String {
        if self.serveraddress.is_empty() {
            "docker.io".to_owned()
        } else {
            normalize_host(&self.serveraddress)
        }
    }
}

/// Records a login in a Docker-format file (berth's own store), keeping other keys.
pub fn store_login(path: &Path, host: &str, cred: &Credential) -> Result<(), AuthError> {
    let mut file: ConfigFile = match std::fs::read(path) {
        Ok(d) => serde_json::from_slice(&d).map_err(|source| AuthError::Json {
            path: path.to_owned(),
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
        Err(source) => {
            return Err(AuthError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", cred.username, cred.password));
    file.auths.insert(
        normalize_host(host),
        AuthEntry {
            auth: Some(auth),
            ..Default::default()
        },
    );
    let data = serde_json::to_vec_pretty(&file).map_err(|source| AuthError::Json {
        path: path.to_owned(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| AuthError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    crate::snapshot::write_atomic(path, &data).map_err(|source| AuthError::Io {
        path: path.to_owned(),
        source,
    })?;
    // Secrets: owner-only.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(())
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic {
                realm: get("realm").unwrap_or_default(),
            }),
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            }),
            _ => None,
        }
    }
}

/// `k="v", k2=v2` with quoted values that may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(' ' | ',')) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), val));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic {
                realm: "basic-realm".into()
            })
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn docker_config_auths_are_read_and_written() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "127.0.0.1:5000":{"username":"a","password":"b:c"},
                "broken":{"auth":"***"}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let mut c = Credentials::new();
        c.merge_file(&p).unwrap();
        assert_eq!(c.get("docker.io").unwrap().username, "user");
        assert_eq!(c.get("docker.io").unwrap().password, "pass");
        assert_eq!(c.get("127.0.0.1:5000").unwrap().password, "b:c");
        assert!(c.get("broken").is_none());
        assert!(!format!("{:?}", c.get("docker.io").unwrap()).contains("pass"));

        let store = t.path().join("berth/auth.json");
        store_login(
            &store,
            "localhost:5000",
            &Credential {
                username: "u".into(),
                password: "p".into(),
            },
        )
        .unwrap();
        let mut c2 = Credentials::new();
        c2.merge_file(&store).unwrap();
        assert_eq!(c2.get("localhost:5000").unwrap().username, "u");
        assert!(c2.get("nowhere").is_none());
    }

    #[test]
    fn x_registry_auth_headers_decode_in_every_form_docker_clients_send() {
        use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
        let json = r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        for enc in [URL_SAFE.encode(json), URL_SAFE_NO_PAD.encode(json)] {
            let a = RegistryAuth::decode_header(&enc).unwrap();
            assert_eq!(a.credential().unwrap().password, "p?>");
            assert_eq!(a.registry_host(), "127.0.0.1:5000");
        }
        let a = RegistryAuth::decode_header(&URL_SAFE.encode(r#"{"auth":"dTpwOnc="}"#)).unwrap();
        assert_eq!(a.credential().unwrap().password, "p:w");
        assert_eq!(a.registry_host(), "docker.io");
        assert!(
            RegistryAuth::decode_header(&URL_SAFE.encode("{}"))
                .unwrap()
                .credential()
                .is_none()
        );
        assert!(RegistryAuth::decode_header("").is_none());
        assert!(RegistryAuth::decode_header("%%%").is_none());
    }

    #[test]
    fn credential_helpers_are_asked() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let helper = t.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\ncase \"$host\" in\n  https://index.docker.io/v1/) echo '{\"Username\":\"hub\",\"Secret\":\"s1\"}' ;;\n  reg.example:5000) echo '{\"Username\":\"me\",\"Secret\":\"s2\"}' ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = t.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"auths":{"plain.example":{"auth":"dTpw"}},"credsStore":"fake","credHelpers":{"other.example":"missing"}}"#,
        )
        .unwrap();
        let mut c = Credentials::new();
        c.helper_dir = Some(t.path().to_owned());
        c.merge_file(&cfg).unwrap();
        assert_eq!(c.get("docker.io").unwrap().username, "hub");
        assert_eq!(c.get("reg.example:5000").unwrap().password, "s2");
        assert_eq!(
            c.get("plain.example").unwrap().username,
            "u",
            "stored entries win"
        );
        assert!(c.get("unknown.example").is_none(), "helper says not found");
        assert!(c.get("other.example").is_none(), "helper program missing");
    }
}
