//! Content digests (`sha256:<64 hex>`) and a hashing writer.
//!
//! Only sha256 is accepted: it is what every registry and Docker use, and refusing the
//! rest keeps the on-disk layout (`blobs/sha256/<hex>`) free of surprises.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A validated `sha256:<hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest {input:?}: missing algorithm prefix (want sha256:<hex>)")]
    NoAlgorithm { input: String },
    #[error("invalid digest {input:?}: unsupported algorithm {algorithm:?} (only sha256)")]
    Algorithm { input: String, algorithm: String },
    #[error("invalid digest {input:?}: hex part must be 64 lowercase hex characters")]
    Hex { input: String },
}

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(data).into())
    }

    pub(crate) fn from_sha256(bytes: [u8; 32]) -> Digest {
        Digest {
            hex: hex::encode(bytes),
        }
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let Some((alg, hexpart)) = input.split_once(':') else {
            return Err(DigestError::NoAlgorithm {
                input: input.to_owned(),
            });
        };
        if alg != "sha256" {
            return Err(DigestError::Algorithm {
                input: input.to_owned(),
                algorithm: alg.to_owned(),
            });
        }
        Digest::from_hex(hexpart).map_err(|_| DigestError::Hex {
            input: input.to_owned(),
        })
    }

    /// Parses a bare 64-character lowercase hex string (a sha256).
    pub fn from_hex(hexpart: &str) -> Result<Digest, DigestError> {
        if hexpart.len() != 64
            || !hexpart
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Hex {
                input: hexpart.to_owned(),
            });
        }
        Ok(Digest {
            hex: hexpart.to_owned(),
        })
    }

    /// The hex part, used as a file name in the content store.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm; always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The first 12 hex characters, as Docker shows short image IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256, also usable as a `Write` sink.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.inner.finalize().into())
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }
    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }
    pub fn into_parts(self) -> (R, Digest) {
        (self.inner, self.hasher.finish())
    }
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_is_well_known() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            Digest::parse("md5:abc"),
            Err(DigestError::Algorithm { .. })
        ));
        assert!(matches!(
            Digest::parse("sha256:ABC"),
            Err(DigestError::Hex { .. })
        ));
        assert!(matches!(
            Digest::parse("deadbeef"),
            Err(DigestError::NoAlgorithm { .. })
        ));
        let up = format!("sha256:{}", "A".repeat(64));
        assert!(Digest::parse(&up).is_err());
    }
}
