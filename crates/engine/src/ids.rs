//! Container and exec IDs, and Docker-style generated names.

use std::io::Read;

/// `n` random bytes as hex, from the kernel's CSPRNG.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        // No /dev/urandom (not expected on Linux): fall back to time and pid mixing.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 ^ (std::process::id() as u8).wrapping_add(i as u8);
        }
    }
    hex::encode(b)
}

const LEFT: &[&str] = &[
    "admiring", "brave", "calm", "clever", "dazzling", "eager", "festive", "gentle", "happy",
    "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant",
    "wizardly", "zealous",
];
const RIGHT: &[&str] = &[
    "albattani",
    "bohr",
    "curie",
    "darwin",
    "euler",
    "fermat",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "lovelace",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "tesla",
    "turing",
    "wozniak",
];

/// A `adjective_surname` name, as Docker generates; the caller retries on collision.
pub fn random_name(attempt: usize) -> String {
    let b = random_hex(4);
    let n = u32::from_str_radix(&b, 16).unwrap_or(0) as usize;
    let base = format!(
        "{}_{}",
        LEFT[n % LEFT.len()],
        RIGHT[(n / LEFT.len()) % RIGHT.len()]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{}", n % 100)
    }
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let mut it = n.chars();
    n.len() >= 2
        && matches!(it.next(), Some(c) if c.is_ascii_alphanumeric())
        && it.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}
