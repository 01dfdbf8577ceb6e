//! `--log FILE --log-format text|json`: containerd and Docker read the runtime's log file and
//! take the last `error` line as the failure message, so JSON lines follow runc's shape:
//! `{"level":"error","msg":"...","time":"..."}`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

/// A whole subscriber of its own (no tracing-subscriber registry): berth-runtime logs a few
/// events per run and keeps no spans, and every byte of code it does not load is a page it
/// does not fault in at each container start.
struct FileLog {
    out: Mutex<Box<dyn Write + Send>>,
    format: Format,
    max: Level,
}

#[derive(Default)]
struct Fields {
    msg: String,
    rest: Vec<(String, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.msg = format!("{v:?}");
        } else {
            self.rest.push((f.name().to_string(), format!("{v:?}")));
        }
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "message" {
            self.msg = v.to_string();
        } else {
            self.rest.push((f.name().to_string(), v.to_string()));
        }
    }
}

impl Subscriber for FileLog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
    fn event(&self, ev: &Event<'_>) {
        let mut f = Fields::default();
        ev.record(&mut f);
        let level = match *ev.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let time = crate::state::now_rfc3339();
        let line = match self.format {
            Format::Json => {
                let mut m = serde_json::Map::new();
                m.insert("level".into(), level.into());
                let mut msg = f.msg.clone();
                for (k, v) in &f.rest {
                    msg.push_str(&format!(" {k}={v}"));
                }
                m.insert("msg".into(), msg.into());
                m.insert("time".into(), time.into());
                format!("{}\n", serde_json::Value::Object(m))
            }
            Format::Text => {
                let mut s = format!("time=\"{time}\" level={level} msg={:?}", f.msg);
                for (k, v) in &f.rest {
                    s.push_str(&format!(" {k}={v:?}"));
                }
                s.push('\n');
                s
            }
        };
        if let Ok(mut o) = self.out.lock() {
            let _ = o.write_all(line.as_bytes());
        }
    }
}

/// Installs the global subscriber: to `file` if given, else stderr; debug level with `debug`.
pub fn init(file: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let out: Box<dyn Write + Send> = match file {
        Some(p) => Box::new(OpenOptions::new().create(true).append(true).open(p)?),
        None => Box::new(std::io::stderr()),
    };
    let max = if debug { Level::DEBUG } else { Level::WARN };
    let _ = tracing::subscriber::set_global_default(FileLog {
        out: Mutex::new(out),
        format,
        max,
    });
    Ok(())
}
