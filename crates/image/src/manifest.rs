//! Manifests, indexes and image configs: the JSON documents of the OCI image spec and
//! Docker's schema 2, as far as berth reads them.
//!
//! These types parse a *copy*: the bytes that were pulled are stored untouched under their
//! digest, because re-serializing would change the digest (and drop fields we do not model).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// What registries are asked for, in order of preference.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("parsing {what} {digest}: {source}")]
    Json {
        what: &'static str,
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("unsupported manifest media type {media_type:?} for {digest}")]
    MediaType { media_type: String, digest: Digest },
    #[error("no manifest for platform {platform} in index {digest} (available: {available})")]
    NoPlatform {
        platform: String,
        digest: Digest,
        available: String,
    },
    #[error("invalid platform {0:?} (want os/arch[/variant])")]
    BadPlatform(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform of this machine, in Go's names (`amd64`, `arm64`).
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
            os_version: None,
        }
    }

    /// Parses `os/arch[/variant]` as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: normalize_arch(arch),
                variant: None,
                os_version: None,
            }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: normalize_arch(arch),
                variant: Some(v.to_ascii_lowercase()),
                os_version: None,
            }),
            _ => Err(ManifestError::BadPlatform(s.to_owned())),
        }
    }

    /// How well `candidate` satisfies `self` (the wanted platform): `None` if it cannot run,
    /// higher is better. A wanted variant must match exactly; without one, a candidate
    /// with no variant (or the default for the architecture) is preferred.
    pub fn score(&self, candidate: &Platform) -> Option<u8> {
        if self.os != candidate.os || self.architecture != normalize_arch(&candidate.architecture) {
            return None;
        }
        let default_variant = match self.architecture.as_str() {
            "arm64" => Some("v8"),
            _ => None,
        };
        let cv = candidate.variant.as_deref().or(default_variant);
        match (self.variant.as_deref().or(default_variant), cv) {
            (Some(w), Some(c)) if w == c => Some(3),
            (Some(_), Some(_)) => None,
            (Some(_), None) => Some(1),
            (None, None) => Some(3),
            (None, Some(_)) => Some(2),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "i386" => "386".into(),
        other => other.into(),
    }
}

/// An image manifest (OCI or Docker schema 2; they share the shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest-ish document.
#[derive(Debug, Clone)]
pub enum AnyManifest {
    Image(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

impl AnyManifest {
    /// Parses `bytes` using the `mediaType` field, else the HTTP content type, else shape.
    pub fn parse(
        bytes: &[u8],
        content_type: Option<&str>,
        digest: &Digest,
    ) -> Result<AnyManifest, ManifestError> {
        let json = |source| ManifestError::Json {
            what: "manifest",
            digest: digest.clone(),
            source,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(json)?;
        let mt = probe
            .media_type
            .clone()
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_owned()))
            .unwrap_or_default();
        match mt.as_str() {
            OCI_INDEX | DOCKER_LIST => Ok(AnyManifest::Index(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            OCI_MANIFEST | DOCKER_MANIFEST => Ok(AnyManifest::Image(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            _ if probe.manifests.is_some() => Ok(AnyManifest::Index(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            _ if probe.config.is_some() => Ok(AnyManifest::Image(
                serde_json::from_slice(bytes).map_err(json)?,
            )),
            _ => Err(ManifestError::MediaType {
                media_type: mt,
                digest: digest.clone(),
            }),
        }
    }
}

impl Index {
    /// The best manifest for `want`, skipping attestation manifests (`unknown/unknown`).
    pub fn select(&self, want: &Platform, digest: &Digest) -> Result<&Descriptor, ManifestError> {
        let best = self
            .manifests
            .iter()
            .filter_map(|d| Some((want.score(d.platform.as_ref()?)?, d)))
            .max_by_key(|(s, _)| *s);
        match best {
            Some((_, d)) => Ok(d),
            None => Err(ManifestError::NoPlatform {
                platform: want.to_string(),
                digest: digest.clone(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// The parts of an image config berth uses, with Docker's field names. Unknown fields are
/// kept in `extra` so `inspect` can show them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The runtime defaults in an image config (`docker inspect`'s `Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<ImageConfig, ManifestError> {
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
            what: "image config",
            digest: digest.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plat(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn platform_selection_prefers_exact_variant() {
        let d = |p: &str, n: u8| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(plat(p)),
            urls: vec![],
            annotations: Default::default(),
        };
        let idx = Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                d("linux/arm/v6", 1),
                d("linux/arm/v7", 2),
                d("linux/amd64", 3),
                d("linux/arm64/v8", 4),
                Descriptor {
                    platform: Some(Platform {
                        os: "unknown".into(),
                        architecture: "unknown".into(),
                        variant: None,
                        os_version: None,
                    }),
                    ..d("linux/amd64", 5)
                },
            ],
            annotations: Default::default(),
        };
        let pick = |p: &str| {
            idx.select(&plat(p), &Digest::of(b"i"))
                .unwrap()
                .digest
                .clone()
        };
        assert_eq!(pick("linux/amd64"), Digest::of(&[3]));
        assert_eq!(pick("linux/x86_64"), Digest::of(&[3]));
        assert_eq!(pick("linux/arm/v7"), Digest::of(&[2]));
        assert_eq!(pick("linux/arm64"), Digest::of(&[4]));
        let err = idx
            .select(&plat("linux/s390x"), &Digest::of(b"i"))
            .unwrap_err();
        assert!(err.to_string().contains("linux/amd64"), "{err}");
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn manifests_are_told_apart() {
        let d = Digest::of(b"x");
        let img = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{d}","size":1}},"layers":[]}}"#
        );
        assert!(matches!(
            AnyManifest::parse(img.as_bytes(), None, &d),
            Ok(AnyManifest::Image(_))
        ));
        let idx = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            AnyManifest::parse(idx.as_bytes(), Some(DOCKER_LIST), &d),
            Ok(AnyManifest::Index(_))
        ));
        assert!(AnyManifest::parse(b"{}", None, &d).is_err());
        assert!(AnyManifest::parse(b"not json", None, &d).is_err());
    }
}
