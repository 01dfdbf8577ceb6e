//! Reading a container's json-file log (as the shim writes it, rotated files included)
//! for `docker logs`: since/until/tail/timestamps filters and `--follow`.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix time in nanoseconds; entries before it are skipped.
    pub since: Option<i128>,
    pub until: Option<i128>,
    pub timestamps: bool,
    /// `--details`: each line after its entry's attributes (`k=v,...`) and a space.
    pub details: bool,
    /// Only the last N entries (None: all).
    pub tail: Option<usize>,
}

/// One json-file entry; the strings are borrowed from the line where they need no unescaping.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    #[serde(default)]
    attrs: std::collections::BTreeMap<String, String>,
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses Docker's `since`/`until` query values: unix seconds with an optional fraction.
pub fn parse_unix_time(s: &str) -> Option<i128> {
    if s.is_empty() || s == "0" {
        return None;
    }
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i128 = sec.parse().ok()?;
    let mut frac = frac.to_owned();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    Some(sec * 1_000_000_000 + frac.parse::<i128>().unwrap_or(0))
}

/// RFC 3339 with optional fraction → unix nanoseconds.
pub fn rfc3339_nanos(t: &str) -> Option<i128> {
    let secs = berth_image::timefmt::parse_rfc3339(t)? as i128;
    let frac = t
        .find('.')
        .map(|i| {
            t[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut f = frac;
    f.truncate(9);
    while f.len() < 9 {
        f.push('0');
    }
    Some(secs * 1_000_000_000 + f.parse::<i128>().unwrap_or(0))
}

/// Docker's stream framing: `[stream, 0, 0, 0, len BE]` then the bytes.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

/// A file's identity (device, inode).
fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

fn path_id(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| file_id(&m))
}

/// One log file, open: it stays readable through renames and removal, so a reader that has
/// opened it loses nothing that rotation moves on or drops.
struct Open {
    r: Src,
    /// The file's identity: for a gzipped one (the `compress` option), that of the file it
    /// was compressed from, which berth-shim writes as its gzip name (`DEV:INO`), so a
    /// follower still finds its file after rotation and compression.
    id: (u64, u64),
    /// What its name names now, for [`open_set`]'s check.
    file: (u64, u64),
    /// Bytes read so far.
    pos: u64,
}

/// A log file's reader: the current or a rotated file, or a gzipped rotated one.
enum Src {
    Plain(BufReader<File>),
    Gz(Box<BufReader<flate2::read::GzDecoder<File>>>),
}

/// A rotated file `name` as `name.gz` when the `compress` option made one of it.
fn open_gz(name: &str) -> Option<Open> {
    let f = File::open(format!("{name}.gz")).ok()?;
    let file = file_id(&f.metadata().ok()?);
    let dec = flate2::read::GzDecoder::new(f);
    let id = dec
        .header()
        .and_then(|h| h.filename())
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.split_once(':'))
        .and_then(|(d, i)| Some((d.parse().ok()?, i.parse().ok()?)))
        .unwrap_or(file);
    Some(Open {
        r: Src::Gz(Box::new(BufReader::new(dec))),
        id,
        file,
        pos: 0,
    })
}

/// The log's files (`F.<n>` … `F.1`, `F`), oldest first, all opened at one moment: after
/// opening, every name still names the file opened under it (a rotation meanwhile is seen
/// and the set opened again). The last is the current file when it exists.
fn open_set(log: &Path) -> Vec<Open> {
    let mut set = Vec::new();
    for _ in 0..20 {
        set.clear();
        let mut names = Vec::new();
        let plain = |p: &Path| {
            let f = File::open(p).ok()?;
            let id = file_id(&f.metadata().ok()?);
            Some(Open {
                r: Src::Plain(BufReader::new(f)),
                id,
                file: id,
                pos: 0,
            })
        };
        for i in (1..100).rev() {
            let name = format!("{}.{i}", log.display());
            // Compressed, or not (yet, or the option is off).
            if let Some(o) = open_gz(&name) {
                set.push(o);
                names.push(PathBuf::from(format!("{name}.gz")));
            } else if let Some(o) = plain(Path::new(&name)) {
                set.push(o);
                names.push(PathBuf::from(name));
            }
        }
        if let Some(o) = plain(log) {
            set.push(o);
            names.push(log.to_owned());
        }
        let stable = names
            .iter()
            .zip(&set)
            .all(|(p, o)| path_id(p) == Some(o.file))
            && (names.last().map(PathBuf::as_path) == Some(log) || !log.exists());
        if stable {
            break;
        }
    }
    set
}

/// Reads the next whole line (an entry) of `o` into `line`: true when `line` holds one
/// (with its newline). At the end of the file, false, and an unfinished line stays in `line`
/// for the rest of it; a whole line left there from the last call is dropped first.
fn next_line(o: &mut Open, line: &mut Vec<u8>) -> bool {
    if line.ends_with(b"\n") {
        line.clear();
    }
    loop {
        let read = match &mut o.r {
            Src::Plain(r) => r.read_until(b'\n', line),
            Src::Gz(r) => r.read_until(b'\n', line),
        };
        match read {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                o.pos += n as u64;
                if line.ends_with(b"\n") {
                    return true;
                }
            }
        }
    }
}

/// Rendered entries, sent in chunks of about [`Batch::SIZE`] rather than one message (and
/// one write to the client) per line.
struct Batch<'a> {
    buf: Vec<u8>,
    tx: &'a mpsc::Sender<Bytes>,
}

impl<'a> Batch<'a> {
    const SIZE: usize = 64 * 1024;

    fn new(tx: &'a mpsc::Sender<Bytes>) -> Batch<'a> {
        Batch {
            buf: Vec::new(),
            tx,
        }
    }

    /// Adds an entry; false once the receiver is gone.
    fn push(&mut self, fmt: &Formatter, line: &[u8]) -> bool {
        fmt.render_into(line, &mut self.buf);
        self.buf.len() < Self::SIZE || self.flush()
    }

    /// Sends what is gathered; false once the receiver is gone.
    fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return !self.tx.is_closed();
        }
        let b = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(Self::SIZE + 4096),
        ));
        self.tx.blocking_send(b).is_ok()
    }
}

/// Sends the entries of `o` up to its end; None once the receiver is gone, else whether
/// there were any.
fn send_rest(o: &mut Open, line: &mut Vec<u8>, fmt: &Formatter, out: &mut Batch) -> Option<bool> {
    let mut any = false;
    while next_line(o, line) {
        any = true;
        if !out.push(fmt, line) {
            return None;
        }
    }
    out.flush().then_some(any)
}

/// Writes to logs, seen through one inotify instance for the whole daemon (instances are
/// few per user, 128 by default, and shared with the host's other programs): a watch per
/// followed container directory, counted, and a counter per watch that the followers of that
/// directory wait on.
#[derive(Default)]
pub struct LogWatcher {
    inner: std::sync::OnceLock<Option<Arc<WatchInner>>>,
}

struct WatchInner {
    fd: std::os::fd::OwnedFd,
    /// Watch descriptor → (followers, bumped on every event).
    dirs:
        std::sync::Mutex<std::collections::HashMap<i32, (usize, tokio::sync::watch::Sender<u64>)>>,
}

/// One follower's watch of its log's directory; dropping it drops the watch with the last
/// follower.
struct LogSub {
    rx: tokio::sync::watch::Receiver<u64>,
    wd: i32,
    inner: Arc<WatchInner>,
}

impl LogWatcher {
    /// The instance and its reader task, made at the first follow (in a tokio runtime).
    fn inner(&self) -> Option<Arc<WatchInner>> {
        self.inner
            .get_or_init(|| {
                use rustix::fs::inotify;
                let fd =
                    inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                        .map_err(|e| tracing::warn!(error = %e, "no inotify for logs -f: polling"))
                        .ok()?;
                // The reader task owns a duplicate registered with the reactor; the watches
                // are added and removed through `fd`.
                let dup = rustix::io::fcntl_dupfd_cloexec(&fd, 3).ok()?;
                // SAFETY: an OwnedFd keeps its descriptor open and the same until it is
                // dropped, which the AsyncFd owning it does last.
                let afd = unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        dup,
                        tokio::io::Interest::READABLE,
                    )
                }
                .ok()?;
                let inner = Arc::new(WatchInner {
                    fd,
                    dirs: Default::default(),
                });
                let weak = Arc::downgrade(&inner);
                tokio::spawn(async move {
                    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
                    loop {
                        let Ok(mut ready) = afd.readable().await else {
                            return;
                        };
                        let Some(inner) = weak.upgrade() else { return };
                        let mut r = inotify::Reader::new(afd.get_ref(), &mut buf);
                        let mut bumped = Vec::new();
                        while let Ok(ev) = r.next() {
                            if !bumped.contains(&ev.wd()) {
                                bumped.push(ev.wd());
                            }
                        }
                        ready.clear_ready();
                        let dirs = inner.dirs.lock().unwrap_or_else(|p| p.into_inner());
                        for (wd, (_, tx)) in dirs.iter() {
                            // (-1: the queue overflowed, events were lost: wake everyone)
                            if bumped.contains(wd) || bumped.contains(&-1) {
                                tx.send_modify(|n| *n += 1);
                            }
                        }
                    }
                });
                Some(inner)
            })
            .clone()
    }

    /// Watches the directory of `log` for its follower; None when inotify is not to be had.
    fn subscribe(&self, log: &Path) -> Option<LogSub> {
        use rustix::fs::inotify;
        let inner = self.inner()?;
        let what = inotify::WatchFlags::MODIFY
            | inotify::WatchFlags::CREATE
            | inotify::WatchFlags::MOVED_TO
            | inotify::WatchFlags::CLOSE_WRITE;
        let mut dirs = inner.dirs.lock().unwrap_or_else(|p| p.into_inner());
        // The same directory gives the same descriptor: one watch, counted.
        let wd = inotify::add_watch(&inner.fd, log.parent()?, what).ok()?;
        let e = dirs
            .entry(wd)
            .or_insert_with(|| (0, tokio::sync::watch::channel(0).0));
        e.0 += 1;
        let rx = e.1.subscribe();
        drop(dirs);
        Some(LogSub { rx, wd, inner })
    }
}

impl LogSub {
    /// Marks what was seen so far: a later [`LogSub::changed`] returns at the next write.
    fn seen(&mut self) {
        self.rx.borrow_and_update();
    }

    /// Returns once the directory had an event since [`LogSub::seen`] (never without a
    /// watch).
    async fn changed(s: Option<&mut LogSub>) {
        let Some(s) = s else {
            return std::future::pending().await;
        };
        if s.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for LogSub {
    fn drop(&mut self) {
        let mut dirs = self.inner.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = dirs.get_mut(&self.wd) {
            e.0 -= 1;
            if e.0 == 0 {
                dirs.remove(&self.wd);
                let _ = rustix::fs::inotify::remove_watch(&self.inner.fd, self.wd);
            }
        }
    }
}

/// Reads a file at given offsets without moving its position.
struct At<'a>(&'a File, u64);

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.0, buf, self.1)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// Where the last `want` whole lines of a plain file begin, scanning back from its end (an
/// unfinished last line does not count): (offset, lines found), fewer lines than wanted
/// when the file has fewer (the offset is then 0).
fn scan_back(f: &File, want: u64) -> (u64, u64) {
    let mut end = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = vec![0u8; 64 * 1024];
    // Newlines seen; the (want + 1)-th from the end closes the line before the first wanted.
    let mut seen = 0u64;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        if std::os::unix::fs::FileExt::read_exact_at(f, chunk, start).is_err() {
            break;
        }
        for i in memchr::memrchr_iter(b'\n', chunk) {
            seen += 1;
            if seen == want + 1 {
                return (start + i as u64 + 1, want);
            }
        }
        end = start;
    }
    (0, seen)
}

/// Where `docker logs --tail N` starts in the set (oldest first): the file, and the bytes
/// (plain file) or lines (gzipped one) of it to skip.
fn tail_start(files: &[Open], n: u64) -> (usize, u64) {
    let mut want = n;
    for (i, o) in files.iter().enumerate().rev() {
        match &o.r {
            Src::Plain(r) => {
                let (off, found) = scan_back(r.get_ref(), want);
                if found >= want {
                    return (i, off);
                }
                want -= found;
            }
            Src::Gz(r) => {
                // Counted from a decoder of its own: `r` has not been read yet.
                let count =
                    BufReader::new(flate2::read::GzDecoder::new(At(r.get_ref().get_ref(), 0)))
                        .split(b'\n')
                        .count() as u64;
                if count >= want {
                    return (i, count - want);
                }
                want -= count;
            }
        }
    }
    (0, 0)
}

struct Formatter {
    opts: LogOptions,
    tty: bool,
    /// The attributes of the container's `labels`/`env` log options, for entries
    /// written without their own (dockerd records them in each entry).
    attrs: std::collections::BTreeMap<String, String>,
}

/// The `attrs` object dockerd's json-file writer puts in every entry when the `labels` or
/// `env` log options name something the container has: the shim writes it as given, so it is
/// encoded here as Go's encoding/json does (sorted keys, `<`, `>`, `&`, U+2028 and U+2029
/// escaped). None when there are no attributes.
pub fn json_file_attrs(rec: &crate::container::ContainerRecord) -> Option<String> {
    let attrs = extra_attrs(rec);
    if attrs.is_empty() {
        return None;
    }
    let json = serde_json::to_string(&attrs).ok()?;
    Some(
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029"),
    )
}

/// The `--details` attributes dockerd's log drivers attach: the container's labels named
/// by the `labels` log option or matching `labels-regex`, its environment variables named
/// by `env` or matching `env-regex`, and the `tag` template's result (json-file writes them
/// into every entry). Options that do not parse were refused at create ([`check_opts`]).
fn extra_attrs(
    rec: &crate::container::ContainerRecord,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let opts = &rec.host_config.log_config.config;
    // Every container start asks: most set none of these options.
    const ATTR_OPTS: [&str; 5] = ["labels", "env", "labels-regex", "env-regex", "tag"];
    if !ATTR_OPTS.iter().any(|k| opts.contains_key(*k)) {
        return out;
    }
    let keys = |k: &str| -> Vec<String> {
        opts.get(k)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let regex = |k: &str| opts.get(k).and_then(|r| regex::Regex::new(r).ok());
    let no_labels = std::collections::BTreeMap::new();
    let labels = rec.config.labels.as_ref().unwrap_or(&no_labels);
    for k in keys("labels") {
        if let Some(v) = labels.get(&k) {
            out.insert(k, v.clone());
        }
    }
    // The environment as a map: a later definition wins, as in the process's environment.
    let env: std::collections::BTreeMap<&str, &str> = rec
        .config
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.split_once('='))
        .collect();
    for k in keys("env") {
        if let Some(v) = env.get(k.as_str()) {
            out.insert(k, (*v).to_owned());
        }
    }
    if let Some(re) = regex("labels-regex") {
        for (k, v) in labels.iter().filter(|(k, _)| re.is_match(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(re) = regex("env-regex") {
        for (k, v) in env.iter().filter(|(k, _)| re.is_match(k)) {
            out.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    if let Some(t) = opts.get("tag").filter(|t| !t.is_empty())
        && let Ok(tag) = render_tag(t, rec)
    {
        out.insert("tag".into(), tag);
    }
    out
}

/// The `tag` log option: a Go template over dockerd's logger info, of which the fields are
/// supported (`{{.Name}}`, `{{.ID}}`, …), not pipelines or functions.
fn render_tag(
    tpl: &str,
    rec: &crate::container::ContainerRecord,
) -> std::result::Result<String, String> {
    let image = rec.image.strip_prefix("sha256:").unwrap_or(&rec.image);
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("template: log-tag: unclosed action in {tpl:?}"))?;
        let field = after[..close].trim();
        let value = match field {
            ".ID" => rec.id.chars().take(12).collect(),
            ".FullID" => rec.id.clone(),
            ".Name" => rec.name.trim_start_matches('/').to_owned(),
            ".ImageID" => image.chars().take(12).collect(),
            ".ImageFullID" => rec.image.clone(),
            ".ImageName" => rec.config.image.clone(),
            ".Command" => std::iter::once(rec.path.as_str())
                .chain(rec.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            ".DaemonName" => "docker".into(),
            ".Hostname" => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            _ => {
                return Err(format!(
                    "template: log-tag: {{{{{field}}}}} is not supported (the fields of \
                     dockerd's logger info are: .ID .FullID .Name .ImageID .ImageFullID \
                     .ImageName .Command .DaemonName .Hostname)"
                ));
            }
        };
        out.push_str(&value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Go's `strconv.ParseBool`, as dockerd reads the `compress` log option.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The log options' values that dockerd's json-file driver would refuse when it starts:
/// the regexes, the tag template and `compress`.
pub fn check_opts(
    opts: &std::collections::BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    for k in ["labels-regex", "env-regex"] {
        if let Some(r) = opts.get(k) {
            regex::Regex::new(r).map_err(|e| {
                // The regex crate explains over several lines; its last says what is wrong.
                let e = e.to_string();
                let why = e.lines().last().unwrap_or("").trim_start_matches("error: ");
                format!("error parsing regexp in {k} {r:?}: {why}")
            })?;
        }
    }
    if let Some(t) = opts.get("tag") {
        render_tag(t, &crate::container::ContainerRecord::default())?;
    }
    if let Some(v) = opts.get("compress") {
        let on = parse_bool(v)
            .ok_or_else(|| format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))?;
        if on && opts.get("max-file").is_some_and(|n| n.trim() == "1") {
            return Err("compress cannot be true when max-file is less than 2".into());
        }
    }
    Ok(())
}

/// A log entry's time as `docker logs --timestamps` prints it: always nine fraction digits
/// (Go's RFC3339NanoFixed), where the file has RFC3339Nano's trimmed ones.
fn fixed_nanos(t: &str) -> std::borrow::Cow<'_, str> {
    let Some(body) = t.strip_suffix('Z') else {
        return t.into();
    };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return t.into();
    }
    format!("{secs}.{frac:0<9}Z").into()
}

impl Formatter {
    /// Appends the entry `line` as the client gets it: a frame, or the bare text with a
    /// terminal; nothing when it is filtered out (or not an entry).
    fn render_into(&self, line: &[u8], out: &mut Vec<u8>) {
        let Ok(e) = serde_json::from_slice::<Entry>(line.trim_ascii_end()) else {
            return;
        };
        let stream = match &*e.stream {
            "stdout" if self.opts.stdout => 1,
            "stderr" if self.opts.stderr => 2,
            _ => return,
        };
        if self.opts.since.is_some() || self.opts.until.is_some() {
            let t = rfc3339_nanos(&e.time);
            if let (Some(s), Some(t)) = (self.opts.since, t)
                && t < s
            {
                return;
            }
            if let (Some(u), Some(t)) = (self.opts.until, t)
                && t > u
            {
                return;
            }
        }
        let head = out.len();
        if !self.tty {
            out.extend_from_slice(&[stream, 0, 0, 0, 0, 0, 0, 0]);
        }
        let body = out.len();
        if self.opts.timestamps {
            out.extend_from_slice(fixed_nanos(&e.time).as_bytes());
            out.push(b' ');
        }
        if self.opts.details {
            // dockerd's attrsByteSlice: `k=v` pairs, query-escaped, comma-separated.
            let own = if e.attrs.is_empty() {
                &self.attrs
            } else {
                &e.attrs
            };
            let attrs: Vec<String> = own
                .iter()
                .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
                .collect();
            out.extend_from_slice(attrs.join(",").as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(e.log.as_bytes());
        if !self.tty {
            let n = (out.len() - body) as u32;
            out[head + 4..head + 8].copy_from_slice(&n.to_be_bytes());
        }
    }
}

impl Engine {
    /// `GET /containers/{id}/logs`: a channel of ready-to-send chunks.
    pub fn logs(
        self: &Arc<Self>,
        name: &str,
        opts: LogOptions,
    ) -> Result<(mpsc::Receiver<Bytes>, bool)> {
        let c = self.get(name)?;
        let (log_path, tty, kind, attrs) = {
            let r = c.lock();
            (
                r.log_path.clone(),
                r.config.tty,
                r.host_config.log_config.kind.clone(),
                if opts.details {
                    extra_attrs(&r)
                } else {
                    Default::default()
                },
            )
        };
        if kind == "none" || log_path.is_empty() {
            return Err(EngineError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(64);
        let mut life = c.life.subscribe();
        let fmt = Formatter {
            opts: opts.clone(),
            tty,
            attrs,
        };
        let log = PathBuf::from(log_path);
        let rt = tokio::runtime::Handle::current();
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            // History first, streamed file by file (oldest first) from where the last
            // `tail` entries begin.
            let mut files = open_set(&log);
            let mut line = Vec::new();
            let mut out = Batch::new(&tx);
            let last = files.len().saturating_sub(1);
            let (first, mut skip) = match fmt.opts.tail {
                Some(n) => tail_start(&files, n as u64),
                None => (0, 0),
            };
            for (i, o) in files.iter_mut().enumerate().skip(first) {
                if i == first && skip > 0 {
                    match &mut o.r {
                        Src::Plain(r) => {
                            if r.seek(SeekFrom::Start(skip)).is_ok() {
                                o.pos = skip;
                            }
                        }
                        Src::Gz(_) => {
                            while skip > 0 && next_line(o, &mut line) {
                                skip -= 1;
                            }
                        }
                    }
                }
                while next_line(o, &mut line) {
                    if !out.push(&fmt, &line) {
                        return;
                    }
                }
                // A rotated file is complete; the current one's unfinished line is followed.
                if i != last {
                    line.clear();
                }
            }
            if !out.flush() {
                return;
            }
            if !fmt.opts.follow {
                return;
            }
            // Follow the current file through its descriptor. When the name no longer names
            // it (rotated), its rest is read, then every newer file still on disk, in order.
            // Woken by the log's writes (inotify on its directory, whose entries are the
            // log's files and the container's few others), with a poll every 100 ms when
            // inotify cannot be had.
            let mut watch = rt.block_on(async { engine.log_watch.subscribe(&log) });
            let mut cur = files.pop();
            drop(files);
            loop {
                if let Some(w) = watch.as_mut() {
                    w.seen();
                }
                let until_passed = fmt
                    .opts
                    .until
                    .is_some_and(|u| i128::from(crate::events::now_nanos()) > u);
                let running = life.borrow_and_update().running;
                let mut progressed = false;
                if let Some(o) = cur.as_mut() {
                    let Some(sent) = send_rest(o, &mut line, &fmt, &mut out) else {
                        return;
                    };
                    progressed = sent;
                }
                let now = path_id(&log);
                match cur.as_mut() {
                    Some(o) if now == Some(o.id) => {
                        // Truncated in place (max-file 1): start again at its beginning.
                        // The length is our descriptor's: by the log's name it could be that
                        // of a file a rotation made since the check above, and a whole file
                        // would be sent again.
                        if let Src::Plain(r) = &mut o.r
                            && r.get_ref().metadata().is_ok_and(|m| m.len() < o.pos)
                            && r.seek(SeekFrom::Start(0)).is_ok()
                        {
                            o.pos = 0;
                            line.clear();
                            progressed = true;
                        }
                    }
                    _ if now.is_none() => {}
                    _ => {
                        // Rotated: what was written to our file before the rename is read
                        // above (a rename comes after the writer's last write to it); read
                        // once more for bytes that landed between that read and the check.
                        if let Some(o) = cur.as_mut()
                            && send_rest(o, &mut line, &fmt, &mut out).is_none()
                        {
                            return;
                        }
                        line.clear();
                        let mut set = open_set(&log);
                        // The newest file with our identity: ours is held open, so its
                        // inode is not reused while we read it, but an older gzipped file
                        // may name one it had before (its source is long deleted).
                        let from = cur
                            .as_ref()
                            .and_then(|o| set.iter().rposition(|n| n.id == o.id))
                            .map_or(0, |i| i + 1);
                        let mut newer = set.split_off(from.min(set.len()));
                        cur = newer.pop();
                        for mut o in newer {
                            if send_rest(&mut o, &mut line, &fmt, &mut out).is_none() {
                                return;
                            }
                            line.clear();
                        }
                        progressed = true;
                    }
                }
                if tx.is_closed() {
                    return;
                }
                // `--until` ends a follow once its time has come (at once when it is past,
                // as `--until 10m` is), after one more read of what was written before it.
                if until_passed {
                    return;
                }
                let left = fmt
                    .opts
                    .until
                    .map(|u| u - i128::from(crate::events::now_nanos()));
                if !running && !progressed {
                    // Drained after the container stopped: one last look, then done.
                    if !life.borrow().running {
                        return;
                    }
                }
                if !progressed {
                    // Nothing new: look again when the log is written to, or as soon as the
                    // container's state changes (its exit ends the follow at once).
                    let gone = rt.block_on(async {
                        let mut every =
                            Duration::from_millis(if watch.is_some() { 1000 } else { 100 });
                        if let Some(l) = left {
                            every = every.min(Duration::from_nanos(l.max(0) as u64 + 1));
                        }
                        tokio::select! {
                            r = life.changed() => r.is_err(),
                            _ = LogSub::changed(watch.as_mut()) => false,
                            _ = tokio::time::sleep(every) => false,
                        }
                    });
                    if gone {
                        // (the container is gone: no change will come)
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        Ok((rx, tty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(opts: &[(&str, &str)]) -> crate::container::ContainerRecord {
        let mut r = crate::container::ContainerRecord {
            id: "0123456789abcdef0123".into(),
            name: "/web".into(),
            image: "sha256:fedcba9876543210aa".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            ..Default::default()
        };
        r.config.image = "busybox:1".into();
        r.config.labels = Some(
            [("team", "core"), ("other", "x"), ("more", "y")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        r.config.env = Some(vec!["APP=v0".into(), "APX=v2".into(), "APP=v1".into()]);
        r.host_config.log_config.config = opts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        r
    }

    #[test]
    fn attrs_come_from_the_label_env_regex_and_tag_options() {
        let r = record(&[
            ("labels", "team,nope"),
            ("labels-regex", "^oth"),
            ("env", "APP"),
            ("env-regex", "X$"),
            (
                "tag",
                "{{.Name}}/{{ .ID }}/{{.ImageName}}/{{.ImageID}}/{{.Command}}/{{.DaemonName}}",
            ),
        ]);
        let attrs = extra_attrs(&r);
        let got: Vec<(&str, &str)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("APP", "v1"),
                ("APX", "v2"),
                ("other", "x"),
                (
                    "tag",
                    "web/0123456789ab/busybox:1/fedcba987654/sh -c true/docker"
                ),
                ("team", "core"),
            ]
        );
        assert_eq!(
            json_file_attrs(&record(&[("labels", "team")])).as_deref(),
            Some(r#"{"team":"core"}"#)
        );
        assert_eq!(json_file_attrs(&record(&[])), None);
    }

    #[test]
    fn bad_regexes_and_tags_are_refused() {
        let check = |k: &str, v: &str| check_opts(&[(k.to_owned(), v.to_owned())].into());
        assert!(
            check("env-regex", "(")
                .unwrap_err()
                .contains("error parsing regexp")
        );
        assert!(check("labels-regex", "[a-").is_err());
        assert!(
            check("tag", "{{.Nope}}")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(check("tag", "{{.Name").unwrap_err().contains("unclosed"));
        assert!(check("tag", "app-{{.Name}}").is_ok());
    }

    #[test]
    fn timestamps_print_with_nine_fraction_digits() {
        assert_eq!(
            fixed_nanos("2026-12-05T12:00:00.12Z"),
            "2026-12-05T12:00:00.120000000Z"
        );
        assert_eq!(
            fixed_nanos("2026-12-05T12:00:00Z"),
            "2026-12-05T12:00:00.000000000Z"
        );
        assert_eq!(
            fixed_nanos("2026-12-05T12:00:00.123456789Z"),
            "2026-12-05T12:00:00.123456789Z"
        );
        assert_eq!(
            fixed_nanos("2026-12-05T12:00:00+01:00"),
            "2026-12-05T12:00:00+01:00"
        );
    }

    #[test]
    fn times_parse_to_nanoseconds() {
        assert_eq!(
            parse_unix_time("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(parse_unix_time("0"), None);
        let t = rfc3339_nanos("2023-11-14T22:13:20.000000123Z").unwrap();
        assert_eq!(t, 1_700_000_000_000_000_123);
    }

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        let f = frame(2, b"abc");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
