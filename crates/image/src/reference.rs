//! Docker-style image references.
//!
//! Users type `busybox`, `myreg:5000/team/app:v1` or `alpine@sha256:…`; everything inside
//! berth works on the fully qualified form (`docker.io/library/busybox:latest`) so that two
//! spellings of one image are one key. [`Reference::familiar`] gives the short form back for
//! display, exactly as `docker images` prints it.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Namespace added to single-component Docker Hub names.
pub const OFFICIAL_NAMESPACE: &str = "library";
/// Tag used when a reference has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalized image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// An invalid reference; `part` names the piece that is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference {input:?}: {part}")]
pub struct ReferenceError {
    pub input: String,
    pub part: ReferencePart,
}

/// Which part of a reference failed to parse, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferencePart {
    #[error("reference is empty")]
    Empty,
    #[error("repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error(
        "path component {0:?} must be lowercase letters, digits and single '.', '_', '__' or '-' separators"
    )]
    Component(String),
    #[error("domain {0:?} is not a valid host[:port]")]
    Domain(String),
    #[error("tag {0:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")]
    Tag(String),
    #[error("digest {0:?}: {1}")]
    Digest(String, crate::digest::DigestError),
    #[error("repository name is longer than 255 characters")]
    TooLong,
    #[error("repository name {0:?} is a 64-character hex string, which is reserved for image IDs")]
    HexName(String),
}

impl Reference {
    /// Parses and normalizes a reference the way `docker pull` does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let err = |part| ReferenceError {
            input: input.to_owned(),
            part,
        };
        if input.is_empty() {
            return Err(err(ReferencePart::Empty));
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                let digest =
                    Digest::parse(d).map_err(|e| err(ReferencePart::Digest(d.to_owned(), e)))?;
                (n, Some(digest))
            }
            None => (input, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to a host:port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(err(ReferencePart::Empty));
        }
        if let Some(tag) = tag {
            validate_tag(tag).map_err(err)?;
        }
        let (domain, path) = split_domain(name);
        let domain = if domain == LEGACY_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        if domain != DEFAULT_DOMAIN {
            validate_domain(domain).map_err(err)?;
        }
        if path.is_empty() {
            return Err(err(ReferencePart::Empty));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err(ReferencePart::Uppercase(path.to_owned())));
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') && Digest::from_hex(path).is_ok() {
            return Err(err(ReferencePart::HexName(path.to_owned())));
        }
        for comp in path.split('/') {
            validate_component(comp).map_err(err)?;
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}/{path}")
        } else {
            path.to_owned()
        };
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(err(ReferencePart::TooLong));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag,
            digest,
        })
    }

    /// Registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// `domain/path`, the key tags and digests hang off.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag).map_err(|part| ReferenceError {
            input: tag.to_owned(),
            part,
        })?;
        Ok(Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to a digest, without a tag (a "RepoDigest").
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What a manifest request names: the digest when pinned, else the tag.
    pub fn manifest_key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The short form Docker prints: `busybox:latest`, `user/app:v1`, `host:5000/x:y`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(&d.to_string());
        }
        out
    }

    /// The familiar repository name without tag or digest.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Docker's rule: the first component is a domain if it has a '.' or ':' or is `localhost`,
/// or contains an uppercase letter (hosts may, paths may not).
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_DOMAIN, name),
    }
}

fn validate_tag(tag: &str) -> Result<(), ReferencePart> {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let ok = !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferencePart::Tag(tag.to_owned()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_component(comp: &str) -> Result<(), ReferencePart> {
    let bad = || ReferencePart::Component(comp.to_owned());
    let b = comp.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// host labels separated by '.', or a bracketed IPv6 address, then an optional `:port`.
fn validate_domain(domain: &str) -> Result<(), ReferencePart> {
    let bad = || ReferencePart::Domain(domain.to_owned());
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return Err(bad());
        }
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    if let Some(host) = host {
        for label in host.split('.') {
            let b = label.as_bytes();
            let ok = !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
            if !ok {
                return Err(bad());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            norm("index.docker.io/library/x"),
            "docker.io/library/x:latest"
        );
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/a/b:c"), "localhost:5000/a/b:c");
        assert_eq!(norm("127.0.0.1:5000/app:v1"), "127.0.0.1:5000/app:v1");
        assert_eq!(norm("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(
            norm(&format!("busybox@{D}")),
            format!("docker.io/library/busybox@{D}")
        );
        assert_eq!(
            norm(&format!("quay.io/x/y:t@{D}")),
            format!("quay.io/x/y:t@{D}")
        );
        assert_eq!(
            norm("a__b-c---e/f_g.h"),
            "docker.io/a__b-c---e/f_g.h:latest"
        );
    }

    #[test]
    fn familiar_strips_defaults() {
        let f = |s: &str| Reference::parse(s).unwrap().familiar();
        assert_eq!(f("busybox"), "busybox:latest");
        assert_eq!(f("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(f("user/app:v"), "user/app:v");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(f("host:5000/app:v"), "host:5000/app:v");
        assert_eq!(f(&format!("busybox@{D}")), format!("busybox@{D}"));
    }

    #[test]
    fn errors_name_the_bad_part() {
        let e = |s: &str| Reference::parse(s).unwrap_err().part;
        assert_eq!(e(""), ReferencePart::Empty);
        assert_eq!(e("Busybox"), ReferencePart::Uppercase("Busybox".into()));
        assert_eq!(
            e("busy--box_"),
            ReferencePart::Component("busy--box_".into())
        );
        assert_eq!(e("a..b/c"), ReferencePart::Domain("a..b".into()));
        assert_eq!(e("host:port/x"), ReferencePart::Domain("host:port".into()));
        assert_eq!(e("busybox:-x"), ReferencePart::Tag("-x".into()));
        assert_eq!(e("busybox:"), ReferencePart::Tag(String::new()));
        assert!(matches!(e("busybox@sha256:xyz"), ReferencePart::Digest(..)));
        assert!(matches!(e("busybox@md5:00"), ReferencePart::Digest(..)));
        assert!(matches!(e(&"a".repeat(64)), ReferencePart::HexName(_)));
        assert_eq!(
            e("a/".repeat(200).trim_end_matches('/')),
            ReferencePart::TooLong
        );
        assert_eq!(e("a//b"), ReferencePart::Component(String::new()));
        assert!(Reference::parse("busybox:1.36").is_ok());
        let msg = Reference::parse("Busybox").unwrap_err().to_string();
        assert!(msg.contains("must be lowercase"), "{msg}");
    }

    #[test]
    fn manifest_key_prefers_digest() {
        let r = Reference::parse(&format!("x:t@{D}")).unwrap();
        assert_eq!(r.manifest_key(), D);
        assert_eq!(Reference::parse("x").unwrap().manifest_key(), "latest");
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,2}"
    }
    fn domain() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("localhost".to_owned())),
            "[a-z0-9]{1,6}\\.[a-z]{2,4}".prop_map(Some),
            ("[a-z0-9]{1,6}\\.[a-z]{2,4}", 1u16..65535).prop_map(|(h, p)| Some(format!("{h}:{p}"))),
            (1u16..65535).prop_map(|p| Some(format!("127.0.0.1:{p}"))),
        ]
    }
    fn tag() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}")
    }
    fn digest() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")))
    }

    proptest! {
        #[test]
        fn display_round_trips(d in domain(), comps in proptest::collection::vec(component(), 1..4),
                               t in tag(), g in digest()) {
            // Without a domain, a first component with a '.' would be read as a host.
            prop_assume!(d.is_some() || comps.len() == 1 || !comps[0].contains('.'));
            let mut s = String::new();
            if let Some(d) = &d { s.push_str(d); s.push('/'); }
            s.push_str(&comps.join("/"));
            if let Some(t) = &t { s.push(':'); s.push_str(t); }
            if let Some(g) = &g { s.push('@'); s.push_str(g); }
            let r = Reference::parse(&s).unwrap();
            // Canonical form and familiar form both parse back to the same reference.
            prop_assert_eq!(&Reference::parse(&r.to_string()).unwrap(), &r);
            prop_assert_eq!(&Reference::parse(&r.familiar()).unwrap(), &r);
            if let Some(t) = &t { prop_assert_eq!(r.tag(), Some(t.as_str())); }
            if t.is_none() && g.is_none() { prop_assert_eq!(r.tag(), Some("latest")); }
            prop_assert_eq!(r.digest().map(|x| x.to_string()), g);
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Reference::parse(&s);
        }
    }
}
