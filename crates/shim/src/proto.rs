//! Requests on `shim.sock` (PROTOCOL.md): one JSON object on one line per connection.

use oci_spec::runtime::Process;
use serde::{Deserialize, Deserializer};

/// The longest request line accepted (an exec's process with a large environment fits).
pub const MAX_REQUEST: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Start,
    State,
    Wait,
    Kill {
        #[serde(deserialize_with = "signal")]
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    Resize {
        width: u16,
        height: u16,
        #[serde(default)]
        exec_id: Option<String>,
    },
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
        #[serde(default)]
        exec_id: Option<String>,
        /// The stream goes to the descriptor passed with this request (SCM_RIGHTS), not
        /// back on this connection: berthd hands over its client's own connection.
        #[serde(default)]
        handoff: bool,
    },
    Exec {
        exec_id: String,
        process: Box<Process>,
        #[serde(default)]
        tty: bool,
        #[serde(default)]
        stdin: bool,
    },
    ExecStart {
        exec_id: String,
    },
    ExecWait {
        exec_id: String,
    },
    /// Extension: freeze / thaw the container's cgroup.
    Pause,
    Resume,
    Shutdown,
}

/// A signal number, or (extension) a name such as `"SIGTERM"` / `"TERM"`.
fn signal<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sig {
        N(i32),
        S(String),
    }
    match Sig::deserialize(d)? {
        Sig::N(n) if (1..=64).contains(&n) => Ok(n),
        Sig::N(n) => Err(serde::de::Error::custom(format!("bad signal {n}"))),
        Sig::S(s) => berth_runtime::signals::parse(&s).map_err(serde::de::Error::custom),
    }
}

/// Parses a request line; the error text goes back to the client.
pub fn parse(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))
}

/// `{"error": msg}` as a line.
pub fn error_line(msg: &str) -> Vec<u8> {
    let mut v = serde_json::to_vec(&serde_json::json!({ "error": msg })).unwrap_or_default();
    v.push(b'\n');
    v
}

/// Any serializable value as a line.
pub fn line(v: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

pub const OK: &[u8] = b"{\"ok\":true}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_op() {
        assert!(matches!(parse(br#"{"op":"start"}"#), Ok(Request::Start)));
        assert!(matches!(
            parse(br#"{"op":"kill","signal":9,"all":true}"#),
            Ok(Request::Kill {
                signal: 9,
                all: true
            })
        ));
        assert!(matches!(
            parse(br#"{"op":"kill","signal":"SIGTERM"}"#),
            Ok(Request::Kill {
                signal: 15,
                all: false
            })
        ));
        assert!(matches!(
            parse(br#"{"op":"attach","stdout":true,"exec_id":"e"}"#),
            Ok(Request::Attach {
                stdin: false,
                stdout: true,
                stderr: false,
                exec_id: Some(_),
                handoff: false,
            })
        ));
        let r = parse(
            br#"{"op":"exec","exec_id":"e1","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"tty":true}"#,
        );
        assert!(
            matches!(
                r,
                Ok(Request::Exec {
                    tty: true,
                    stdin: false,
                    ..
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"op\":\"fly\"}",
            b"{\"op\":\"kill\"}",
            b"{\"op\":\"kill\",\"signal\":0}",
            b"{\"op\":\"kill\",\"signal\":\"SIGNOPE\"}",
            b"{\"op\":\"resize\",\"width\":-1,\"height\":2}",
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
