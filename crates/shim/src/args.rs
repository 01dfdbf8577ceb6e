//! The command line (see PROTOCOL.md). Hand-parsed: a dozen flags do not justify clap's
//! code and start-up cost in a process that runs once per container.

use std::path::PathBuf;

use crate::error::Error;

/// Docker's json-file defaults are "no rotation"; berth rotates by default (`20m` × 5; sizes
/// are decimal, as dockerd's `max-size`: 20 000 000 bytes).
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20_000_000;
pub const DEFAULT_LOG_MAX_FILE: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDriver {
    JsonFile,
    None,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime_root: PathBuf,
    pub state_dir: PathBuf,
    /// None with `--log-driver none`: nothing is written.
    pub log_path: Option<PathBuf>,
    /// 0: never rotate.
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// The `attrs` JSON object written into every log entry, as given (one line).
    pub log_attrs: Option<String>,
    /// Rotated log files are gzipped (`--log-compress`).
    pub log_compress: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub console_size: Option<(u16, u16)>,
    /// Extension: berth-runtime's compiled-seccomp cache, so a shim does not recompile the
    /// same profile for every container and exec.
    pub seccomp_cache: Option<PathBuf>,
    /// Extension: once the container has exited, exit after this long without clients.
    pub idle_exit: std::time::Duration,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

impl Args {
    /// Parses `--flag VALUE` and `--flag=VALUE` forms.
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, Error> {
        let mut id = None;
        let mut bundle = None;
        let mut runtime_root = None;
        let mut state_dir = None;
        let mut log_path = None;
        let mut log_max_size = DEFAULT_LOG_MAX_SIZE;
        let mut log_max_file = DEFAULT_LOG_MAX_FILE;
        let mut log_driver = LogDriver::JsonFile;
        let mut log_attrs = None;
        let (mut tty, mut open_stdin, mut stdin_once) = (false, false, false);
        let mut log_compress = false;
        let (mut width, mut height) = (None, None);
        let mut seccomp_cache = None;
        let mut idle_exit = std::time::Duration::from_secs(60);

        let mut it = argv.into_iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            match name.as_str() {
                "--tty" => tty = true,
                "--open-stdin" => open_stdin = true,
                "--stdin-once" => stdin_once = true,
                "--log-compress" => log_compress = true,
                _ => {
                    let value = match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .ok_or_else(|| usage(format!("{name} needs a value")))?,
                    };
                    match name.as_str() {
                        "--id" => id = Some(value),
                        "--bundle" => bundle = Some(PathBuf::from(value)),
                        "--runtime-root" => runtime_root = Some(PathBuf::from(value)),
                        "--state-dir" => state_dir = Some(PathBuf::from(value)),
                        "--log-path" => log_path = Some(PathBuf::from(value)),
                        "--log-max-size" => log_max_size = parse_size(&value)?,
                        "--log-max-file" => {
                            log_max_file = value
                                .parse()
                                .ok()
                                .filter(|n| *n >= 1)
                                .ok_or_else(|| usage(format!("bad --log-max-file {value:?}")))?
                        }
                        "--log-attrs" => {
                            let one_object = !value.contains('\n')
                                && serde_json::from_str::<serde_json::Value>(&value)
                                    .is_ok_and(|v| v.is_object());
                            if !one_object {
                                return Err(usage(format!(
                                    "bad --log-attrs {value:?}: not a one-line JSON object"
                                )));
                            }
                            log_attrs = Some(value)
                        }
                        "--log-driver" => {
                            log_driver = match value.as_str() {
                                "json-file" => LogDriver::JsonFile,
                                "none" => LogDriver::None,
                                _ => return Err(usage(format!("unknown --log-driver {value:?}"))),
                            }
                        }
                        "--console-width" => width = Some(parse_u16(&name, &value)?),
                        "--console-height" => height = Some(parse_u16(&name, &value)?),
                        "--seccomp-cache" => seccomp_cache = Some(PathBuf::from(value)),
                        "--idle-exit" => {
                            let secs: f64 = value
                                .parse()
                                .ok()
                                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e9)
                                .ok_or_else(|| usage(format!("bad --idle-exit {value:?}")))?;
                            idle_exit = std::time::Duration::from_secs_f64(secs);
                        }
                        _ => return Err(usage(format!("unknown argument {name:?}"))),
                    }
                }
            }
        }
        let id = id.ok_or_else(|| usage("--id is required"))?;
        berth_runtime::state::validate_id(&id).map_err(|e| usage(e.to_string()))?;
        let log_path = if log_driver == LogDriver::JsonFile {
            log_path
        } else {
            None
        };
        Ok(Args {
            id,
            bundle: bundle.ok_or_else(|| usage("--bundle is required"))?,
            runtime_root: runtime_root.ok_or_else(|| usage("--runtime-root is required"))?,
            state_dir: state_dir.ok_or_else(|| usage("--state-dir is required"))?,
            log_path,
            log_max_size,
            log_max_file,
            log_attrs,
            log_compress,
            tty,
            open_stdin,
            stdin_once,
            console_size: match (width, height) {
                (Some(w), Some(h)) => Some((w, h)),
                _ => None,
            },
            seccomp_cache,
            idle_exit,
        })
    }
}

fn parse_u16(name: &str, v: &str) -> Result<u16, Error> {
    v.parse()
        .map_err(|_| usage(format!("bad {name} {v:?}: want 0..65535")))
}

/// Bytes, with Docker's optional k/m/g suffix (decimal, as dockerd's `max-size`: `20m` is
/// 20 000 000); 0 or negative means unlimited.
pub fn parse_size(v: &str) -> Result<u64, Error> {
    let bad = || usage(format!("bad --log-max-size {v:?}"));
    let t = v.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1_000u64),
        Some('m') => (&t[..t.len() - 1], 1_000_000),
        Some('g') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let n: i64 = num.trim().parse().map_err(|_| bad())?;
    if n <= 0 {
        return Ok(0);
    }
    (n as u64).checked_mul(mul).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_required_and_defaults() {
        let a = Args::parse(argv("--id c1 --bundle /b --runtime-root /r --state-dir /s")).unwrap();
        assert_eq!(a.id, "c1");
        assert_eq!(a.log_max_size, DEFAULT_LOG_MAX_SIZE);
        assert_eq!(a.log_max_file, 5);
        assert!(!a.tty && a.console_size.is_none() && a.log_path.is_none());
    }

    #[test]
    fn parses_inline_values_and_switches() {
        let a = Args::parse(argv(
            "--id=c --bundle=/b --runtime-root /r --state-dir /s --log-path /l --log-max-size 10k \
             --log-max-file=2 --tty --open-stdin --stdin-once --console-width 80 --console-height 24",
        ))
        .unwrap();
        assert_eq!(a.log_max_size, 10_000);
        assert_eq!(a.log_max_file, 2);
        assert!(a.tty && a.open_stdin && a.stdin_once);
        assert_eq!(a.console_size, Some((80, 24)));
        assert_eq!(a.log_path.as_deref(), Some(std::path::Path::new("/l")));
    }

    #[test]
    fn log_driver_none_drops_the_path() {
        let a = Args::parse(argv(
            "--id c --bundle /b --runtime-root /r --state-dir /s --log-path /l --log-driver none",
        ))
        .unwrap();
        assert!(a.log_path.is_none());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "--bundle /b --runtime-root /r --state-dir /s",
            "--id ../x --bundle /b --runtime-root /r --state-dir /s",
            "--id c --bundle /b --runtime-root /r --state-dir /s --log-max-size lots",
            "--id c --bundle /b --runtime-root /r --state-dir /s --what",
            "--id c --bundle",
        ] {
            assert!(Args::parse(argv(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20m").unwrap(), 20_000_000);
        assert_eq!(parse_size("1g").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("-1").unwrap(), 0);
        assert_eq!(parse_size("4096").unwrap(), 4096);
    }
}
