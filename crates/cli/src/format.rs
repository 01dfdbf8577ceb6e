//! `--format`: Go templates (gotmpl) with the docker CLI's extra functions, the `table`
//! prefix laid out with Go-compatible elastic tabstops, and `json` as a shorthand.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use gotmpl::{Template, TemplateError, Value};
use serde_json::Value as Json;

use crate::Exit;
use crate::gotypes::{Shape, shape_of};
use crate::tmpl::{self, Tmpl};

fn s(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn str_val(x: String) -> Value {
    Value::String(x.into())
}

/// serde_json → template value, keeping Go's rendering of numbers (integers stay
/// integers) and maps.
pub fn to_value(j: &Json) -> Value {
    gotmpl::to_value(j).unwrap_or(Value::Nil)
}

/// A template value as docker's `json` function writes it: struct maps (see
/// [`crate::gotypes`]) in their fields' order, other maps by sorted key. Its encoder does
/// not escape HTML; a list row's own MarshalJSON does (`escape`, set for what is in one).
fn value_json(v: &Value, out: &mut String, escape: bool) {
    let escape = escape || matches!(v, Value::Map(m) if matches!(shape_of(m), Some(Shape::Row)));
    match v {
        Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Uint(n) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(&go_json(
            &serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        )),
        Value::String(x) => out.push_str(&go_str(x, escape)),
        Value::List(l) if matches!(shape_of(l), Some(Shape::Nil | Shape::NilPtr)) => {
            out.push_str("null")
        }
        Value::Map(m) if matches!(shape_of(m), Some(Shape::Map(_, true))) => out.push_str("null"),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value_json(x, out, escape);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            let mut first = true;
            let mut entry = |k: &str, x: &Value| {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&go_str(k, escape));
                out.push(':');
                value_json(x, out, escape);
            };
            match shape_of(m) {
                Some(Shape::Struct(fields)) => {
                    for spec in fields {
                        let Some(x) = m.get(crate::gotypes::name_type(spec).0) else {
                            continue;
                        };
                        let key = crate::gotypes::json_name(spec);
                        if key != "-" && !crate::gotypes::field(spec, x).1 {
                            entry(key, x);
                        }
                    }
                }
                // (a row's labels map serves `.Label "k"`; docker's rows have no such field)
                Some(Shape::Row) => m
                    .iter()
                    .filter(|(k, _)| k.as_ref() != LABEL_MAP && k.as_ref() != GO_ROW)
                    .for_each(|(k, x)| entry(k, x)),
                _ => m.iter().for_each(|(k, x)| entry(k, x)),
            }
            out.push('}');
        }
    }
}

/// A JSON string literal as Go's encoder writes it, HTML-escaped or not.
fn go_str(x: &str, escape: bool) -> String {
    let s = serde_json::to_string(x).unwrap_or_default();
    if escape {
        go_escape(s)
    } else {
        // (Go escapes these two whatever the HTML setting)
        s.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    }
}

/// Go's encoder escapes `<`, `>`, `&`, U+2028 and U+2029 (they only occur inside
/// strings, so a plain replacement is exact).
fn go_escape(s: String) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// JSON as Go's encoder writes it.
pub fn go_json(j: &Json) -> String {
    go_escape(serde_json::to_string(j).unwrap_or_default())
}

fn arg(args: &[Value], i: usize) -> Result<&Value, TemplateError> {
    args.get(i)
        .ok_or_else(|| TemplateError::Exec(format!("missing argument {}", i + 1)))
}

thread_local! {
    /// Set while a table's header row is rendered: docker runs the same template there
    /// with its HeaderFunctions, which leave the column titles as they are (`json`,
    /// `split`, `join`, `title`, `lower`, `upper`, `truncate`; `pad` still pads).
    static HEADER_ROW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the header functions in force.
fn as_header<T>(f: impl FnOnce() -> T) -> T {
    HEADER_ROW.with(|h| h.set(true));
    let r = f();
    HEADER_ROW.with(|h| h.set(false));
    r
}

/// Whether a table's header row is rendered now.
pub fn in_header() -> bool {
    HEADER_ROW.with(|h| h.get())
}

/// In a header row, the function's first argument as it is.
fn header_identity(a: &[Value]) -> Option<Result<Value, TemplateError>> {
    if !HEADER_ROW.with(|h| h.get()) {
        return None;
    }
    Some(arg(a, 0).map(|v| str_val(s(v))))
}

/// docker's template functions (Go's builtins are gotmpl's).
pub const DOCKER_FUNCS: &[&str] = &[
    "json", "join", "split", "lower", "upper", "title", "pad", "truncate",
];

/// `t` with docker's template functions added.
pub fn with_funcs(t: Template) -> Template {
    DOCKER_FUNCS
        .iter()
        .fold(t, |t, name| t.func(name, move |a| docker_func(name, a)))
}

/// Calls docker's template function `name`.
pub fn docker_func(name: &str, a: &[Value]) -> Result<Value, TemplateError> {
    if name != "pad"
        && let Some(r) = header_identity(a)
    {
        return r;
    }
    match name {
        "json" => {
            let mut out = String::new();
            value_json(arg(a, 0)?, &mut out, false);
            Ok(str_val(out))
        }
        "join" => {
            let sep = s(arg(a, 1)?);
            // docker's join is strings.Join: a list of strings (nil: none), nothing else.
            let items: Vec<String> = match arg(a, 0)? {
                Value::List(l) => l.iter().map(s).collect(),
                Value::Nil => Vec::new(),
                other => {
                    let got = match other {
                        Value::String(_) => "string",
                        Value::Bool(_) => "bool",
                        Value::Map(_) => "map[string]interface {}",
                        _ => "float64",
                    };
                    return Err(TemplateError::Exec(format!(
                        "wrong type for value; expected []string; got {got}"
                    )));
                }
            };
            Ok(str_val(items.join(&sep)))
        }
        "split" => {
            let (x, sep) = (s(arg(a, 0)?), s(arg(a, 1)?));
            let parts: Vec<Value> = x.split(sep.as_str()).map(|p| str_val(p.into())).collect();
            Ok(Value::List(parts.into()))
        }
        "lower" => Ok(str_val(s(arg(a, 0)?).to_lowercase())),
        "upper" => Ok(str_val(s(arg(a, 0)?).to_uppercase())),
        "title" => Ok(str_val(title(&s(arg(a, 0)?)))),
        "pad" => crate::gofuncs::pad(a).map_err(TemplateError::Exec),
        "truncate" => crate::gofuncs::truncate(a).map_err(TemplateError::Exec),
        _ => Err(TemplateError::Exec(format!(
            "function {name:?} not defined"
        ))),
    }
}

/// Go's strings.Title (docker's `title`): each letter that follows a separator in upper
/// case, the rest as it is. Separators: ASCII other than letters, digits and `_`;
/// Unicode spaces.
fn title(x: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(x.len());
    for c in x.chars() {
        if sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// The row key holding a row's labels as a map, for docker's `.Label "k"` method (see
/// [`crate::tmpl`]); `json` leaves it out.
pub const LABEL_MAP: &str = "LabelMap";

/// The row key holding the API object a list row shows (`[KIND, OBJECT]`): docker's `{{.}}`
/// of a row prints its formatter context, which holds that object.
pub const GO_ROW: &str = "\u{1}go";

/// Adds the API object `raw` a list row of `kind` (`ps`, `images`, `network`, `volume`)
/// shows, for `{{.}}`.
pub fn with_go(mut row: Json, kind: &str, raw: &Json) -> Json {
    if let Some(o) = row.as_object_mut() {
        o.insert(GO_ROW.into(), Json::Array(vec![kind.into(), raw.clone()]));
    }
    row
}

/// Adds a list row's labels (the object's `Labels` map) for `.Label "k"`.
pub fn with_label_map(mut row: Json, labels: Option<&Json>) -> Json {
    if let Some(o) = row.as_object_mut() {
        let m = labels.filter(|l| l.is_object()).cloned();
        o.insert(
            LABEL_MAP.into(),
            m.unwrap_or_else(|| Json::Object(Default::default())),
        );
    }
    row
}

/// Whether `-q` lists only IDs (or names) given this `--format`: as in docker's images,
/// history, network and volume lists, only with no format or the bare default `table`; a
/// template of the user's own wins over `-q`.
pub fn quiet_wins(quiet: bool, format: Option<&str>) -> bool {
    quiet && matches!(format, None | Some("") | Some("table"))
}

/// docker's `raw` format of a list command: its `key: value` template (`quiet` with
/// `-q`), each row followed by the blank line that the row's own newline makes.
pub fn raw<'a>(
    user: Option<&'a str>,
    quiet: bool,
    full: &'a str,
    quiet_tmpl: &'a str,
) -> Option<&'a str> {
    match user {
        Some("raw") if quiet => Some(quiet_tmpl),
        Some("raw") => Some(full),
        other => other,
    }
}

/// A user's `--format` after docker's preprocessing.
pub struct Format {
    pub table: bool,
    pub body: String,
    /// The docker CLI's Go type of a row (for errors): `*formatter.ContainerContext`.
    go_type: &'static str,
    /// `ps` words its template errors differently from the other list commands, and
    /// checks the template as the user wrote it before it lists anything.
    ps: bool,
    /// The template as given (`table` prefix and `\t` escapes kept).
    raw: String,
}

impl Format {
    /// `table` alone means the command's default table; `json` means `{{json .}}`.
    pub fn new(user: Option<&str>, default_table: &str) -> Format {
        let raw = match user {
            None | Some("") | Some("table") => default_table.to_owned(),
            Some("json") => "{{json .}}".to_owned(),
            Some(f) => f.to_owned(),
        };
        let (table, rest) = match raw.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, raw.as_str()),
        };
        // (docker trims spaces only: a template's own newlines stay)
        let body = rest
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Format {
            table,
            body,
            go_type: "",
            ps: false,
            raw,
        }
    }

    /// Names the docker CLI's Go type of a row, for errors.
    pub fn go_type(mut self, t: &'static str) -> Format {
        self.ps = t == "*formatter.ContainerContext";
        self.go_type = t;
        self
    }

    /// Prints a template error as this docker command does and ends with exit 1.
    /// (`ps` checks the template first, on an empty row: its own words for that check)
    fn fail(&self, parse: bool, msg: &str) -> anyhow::Error {
        self.fail_at(false, parse, msg)
    }

    fn fail_at(&self, precheck: bool, parse: bool, msg: &str) -> anyhow::Error {
        let prefix = match (self.ps && precheck, parse) {
            (true, true) => "failed to parse template: ",
            (true, false) => "failed to execute template: ",
            _ => "template parsing error: ",
        };
        eprintln!("{prefix}{msg}");
        Exit(1).into()
    }

    /// The rendered rows (and header line for a table).
    pub fn render_bytes(&self, rows: &[Json], headers: &Json) -> Result<Vec<u8>> {
        // Templates that are only text and `{{.Field}}` (every default table) are filled
        // in directly; gotmpl parses the rest (and rows whose fields are not strings).
        if self.ps {
            // docker ps runs the template once on an empty row first (to see whether it
            // uses .Size): its errors come before anything is listed, with positions in
            // the format as given.
            let t = tmpl::parse(&self.raw, Some(tmpl::ROW))
                .map_err(|e| self.fail_at(true, true, &e.0))?;
            let mut keys: Vec<&str> = headers
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.extend(["Platform", LABEL_MAP]);
            let mut empty: serde_json::Map<String, Json> = keys
                .iter()
                .map(|k| (k.to_string(), Json::String(String::new())))
                .collect();
            // (an empty ContainerContext: its container is empty too)
            empty.insert(GO_ROW.into(), serde_json::json!(["ps", {}]));
            let run = || crate::gotypes::with_row(&Json::Object(empty), |v| t.exec(v, false));
            let failed = match t.unknown_field(Some(&keys), self.go_type) {
                Some(e) => Err(tmpl::first_failure(e, run())),
                None => run(),
            };
            if let Err(e) = failed {
                return Err(self.fail_at(true, false, &e));
            }
        }
        let simple = simple_segments(&self.body);
        let mut tmpl: Option<Tmpl> = None;
        let mut exec = |data: &Json, strict: bool| -> Result<String> {
            if let Some(segs) = &simple
                && let Some(s) = fill(segs, data)
            {
                return Ok(s);
            }
            if tmpl.is_none() {
                let t =
                    tmpl::parse(&self.body, Some(tmpl::ROW)).map_err(|e| self.fail(true, &e.0))?;
                tmpl = Some(t);
            }
            let t = tmpl.as_ref().ok_or_else(|| anyhow!("template"))?;
            if strict && !self.go_type.is_empty() && !self.ps {
                let keys: Vec<&str> = data
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                if let Some(e) = t.unknown_field(Some(&keys), self.go_type) {
                    let e = tmpl::first_failure(
                        e,
                        crate::gotypes::with_row(data, |v| t.exec(v, false)),
                    );
                    return Err(self.fail(false, &e));
                }
            }
            match crate::gotypes::with_row(data, |v| t.exec(v, false)) {
                Ok(s) => Ok(s),
                Err(_) if !strict => Ok(String::new()),
                Err(e) => Err(self.fail(false, &e)),
            }
        };
        let mut out = Vec::new();
        if self.table {
            // Docker executes the same template on the header context.
            let mut headers = headers.clone();
            if let Some(o) = headers.as_object_mut() {
                o.insert(LABEL_MAP.into(), Json::String(tmpl::LABEL_HEADER.into()));
            }
            let h = as_header(|| exec(&headers, false))?;
            out.extend_from_slice(h.as_bytes());
            out.push(b'\n');
        }
        for r in rows {
            let line = exec(r, true)?;
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        if self.table {
            let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
            tw.write_all(&out)?;
            out = tw.into_inner().context("table layout")?;
        }
        Ok(out)
    }

    /// Runs once on a struct whose fields are lists of rows (docker's verbose `system
    /// df` context), with no newline after it.
    pub fn render_struct(
        &self,
        fields: &'static [&'static str],
        lists: &[Vec<Json>],
    ) -> Result<String> {
        let t = tmpl::parse(&self.body, None).map_err(|e| self.fail(true, &e.0))?;
        crate::gotypes::with_row_lists(fields, lists, |v| t.exec(v, false))
            .map_err(|e| self.fail(false, &e))
    }

    /// Renders rows (and a header from `headers`, a map of field name → column title)
    /// to stdout.
    pub fn render(&self, rows: &[Json], headers: &Json) -> Result<()> {
        let out = self.render_bytes(rows, headers)?;
        let mut lock = std::io::stdout().lock();
        lock.write_all(&out)?;
        lock.flush()?;
        Ok(())
    }
}

enum Seg<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// A template made only of text and `{{.Field}}` actions, split; None for anything else.
fn simple_segments(body: &str) -> Option<Vec<Seg<'_>>> {
    let mut segs = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        if i > 0 {
            segs.push(Seg::Text(&rest[..i]));
        }
        let after = &rest[i + 2..];
        let j = after.find("}}")?;
        let field = after[..j].trim().strip_prefix('.')?;
        if field.is_empty()
            || !field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        segs.push(Seg::Field(field));
        rest = &after[j + 2..];
    }
    if !rest.is_empty() {
        segs.push(Seg::Text(rest));
    }
    Some(segs)
}

/// The segments filled from a row whose referenced fields are all strings.
fn fill(segs: &[Seg<'_>], data: &Json) -> Option<String> {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Text(t) => s.push_str(t),
            Seg::Field(f) => s.push_str(data.get(*f)?.as_str()?),
        }
    }
    Some(s)
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = (s as f64 / 3600.0).round() as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", h / 24 / 365)
}

/// Docker's `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits.
pub fn human_size(n: f64) -> String {
    units(n, 1000.0, &DECIMAL, 3)
}

/// Docker's `units.HumanSize` (4 significant digits; `system df`).
pub fn human_size4(n: f64) -> String {
    units(n, 1000.0, &DECIMAL, 4)
}

/// Docker's `units.BytesSize`: binary units, 4 significant digits (`stats`).
pub fn bytes_size(n: f64) -> String {
    const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    units(n, 1024.0, &BINARY, 4)
}

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units' CustomSize with `%.{sig}g`.
fn units(n: f64, base: f64, names: &[&str], sig: usize) -> String {
    let mut v = n;
    let mut i = 0;
    while v >= base && i < names.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig_digits(v, sig), names[i])
}

/// `%.{sig}g` for 0 <= v < 10^sig, trailing zeros dropped as Go's %g does.
fn sig_digits(v: f64, sig: usize) -> String {
    let trim = |t: String| {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            t
        }
    };
    let exp = if v.abs() >= 1.0 {
        v.abs().log10().floor() as usize
    } else {
        0
    };
    if exp >= sig {
        // Go switches to exponent form (only negative sizes get here: go-units never
        // divides them down).
        let m = v / 10f64.powi(exp as i32);
        let decimals = sig - 1;
        return format!("{}e+{exp:02}", trim(format!("{m:.decimals$}")));
    }
    let decimals = sig.saturating_sub(exp + 1);
    trim(format!("{v:.decimals$}"))
}

/// Docker's `Ellipsis`: cut to `max` characters, the last one an ellipsis.
pub fn ellipsis(x: &str, max: usize) -> String {
    if x.chars().count() <= max {
        return x.to_owned();
    }
    let mut t: String = x.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// JSON without the whitespace between tokens (Go's json.Compact).
pub fn compact_json(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let (mut in_str, mut esc) = (false, false);
    for &c in src {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// Go's `json.Indent` with a four-space indent: the tokens kept as they are (key order,
/// escapes, number spelling), whitespace between them replaced, `[]` and `{}` left whole.
pub fn indent_json(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let (mut in_str, mut esc, mut opened) = (false, false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 4));
    };
    for &c in src {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if opened && c != b']' && c != b'}' {
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_str = true;
                out.push(c);
            }
            b'{' | b'[' => {
                out.push(c);
                depth += 1;
                opened = true;
                continue;
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if !opened {
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        opened = false;
    }
    out
}

/// `YYYY-MM-DD hh:mm:ss` of a unix time (UTC; add an offset for local time).
pub fn civil(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The host's time zone at a unix time, as Go's `time.Local` has it (from `TZ`, else
/// /etc/localtime): seconds east of UTC and the zone's abbreviation.
pub fn local_zone(t: i64) -> (i64, String) {
    // SAFETY: localtime_r writes only into the tm we pass; the time_t is a plain value;
    // tm_zone, when set, points at a NUL-terminated name in libc's static zone data.
    unsafe {
        let t: libc::time_t = t as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return (0, "UTC".into());
        }
        let name = if tm.tm_zone.is_null() {
            "UTC".to_owned()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (tm.tm_gmtoff, name)
    }
}

/// Go's `time.RFC3339` of a unix time at a zone offset (`Z` for offset 0).
pub fn rfc3339_local(t: i64, off: i64) -> String {
    let c = civil(t + off);
    format!("{}T{}{}", &c[..10], &c[11..19], zone_suffix(off))
}

/// An RFC 3339 zone: `Z` or `±hh:mm`.
pub fn zone_suffix(off: i64) -> String {
    if off == 0 {
        return "Z".into();
    }
    let a = off.abs();
    format!(
        "{}{:02}:{:02}",
        if off < 0 { '-' } else { '+' },
        a / 3600,
        a / 60 % 60
    )
}

/// Renders an inspect document (inspect -f) as docker does: shaped first as the docker
/// CLI's Go struct `root` (a [`crate::gotypes`] name); where that run fails and
/// `raw_fallback`, again on the document as plain JSON with `missingkey=error`. The
/// error is Go's message.
pub fn render_typed(
    src: &str,
    data: &Json,
    root: &'static str,
    raw_fallback: bool,
) -> Result<String, String> {
    // (inspect templates are given as typed: no escapes)
    let t = tmpl::parse(src, crate::gotypes::type_name(root)).map_err(|e| e.0)?;
    let typed = match t.unknown_field(None, crate::gotypes::go_name(root)) {
        Some(e) => Err(e),
        None => crate::gotypes::with_typed(data, Some(root), |v| t.exec(v, false)),
    };
    match typed {
        Err(_) if raw_fallback => crate::gotypes::with_typed(data, None, |v| t.exec(v, true)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render_one(src: &str, d: &Json) -> Result<String, String> {
        let t = tmpl::parse(src, None).map_err(|e| e.0)?;
        crate::gotypes::with_row(d, |v| t.exec(v, false))
    }

    #[test]
    fn docker_functions_render() {
        let d =
            json!({"Names": ["a", "b"], "Name": "Web", "Config": {"Labels": {"x": "y"}}, "N": 3});
        assert_eq!(render_one("{{join .Names \",\"}}", &d).unwrap(), "a,b");
        assert_eq!(
            render_one("{{lower .Name}}{{upper .Name}}", &d).unwrap(),
            "webWEB"
        );
        assert_eq!(
            render_one("{{index .Config.Labels \"x\"}}", &d).unwrap(),
            "y"
        );
        assert_eq!(
            render_one("{{json .Config}}", &d).unwrap(),
            r#"{"Labels":{"x":"y"}}"#
        );
        assert_eq!(
            render_one("{{truncate .Name 2}}|{{pad .Name 1 1}}|", &d).unwrap(),
            "We| Web |"
        );
        assert_eq!(render_one("{{.N}}", &d).unwrap(), "3");
        assert_eq!(
            render_one("{{range .Names}}[{{.}}]{{end}}", &d).unwrap(),
            "[a][b]"
        );
    }

    #[test]
    fn indent_matches_go() {
        let raw = br#" {"b":[],"a":{"x":[1, "y\"]"]},"c":{}}
"#;
        let want = "{\n    \"b\": [],\n    \"a\": {\n        \"x\": [\n            1,\n            \"y\\\"]\"\n        ]\n    },\n    \"c\": {}\n}";
        assert_eq!(String::from_utf8(indent_json(raw)).unwrap(), want);
    }

    #[test]
    fn json_keeps_struct_field_order() {
        let d = json!({"Config": {"Labels": {"b": "2", "a": "1"}, "Hostname": "h", "Tty": true}});
        assert_eq!(
            render_typed("{{json .Config}}", &d, "Container", true).unwrap(),
            r#"{"Hostname":"h","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":true,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"a":"1","b":"2"}}"#
        );
    }

    #[test]
    fn plain_field_templates_are_filled_directly() {
        let segs = simple_segments("{{.ID}}\t{{ .Names }}!").unwrap();
        let row = json!({"ID": "a", "Names": "b"});
        assert_eq!(fill(&segs, &row).unwrap(), "a\tb!");
        assert!(fill(&segs, &json!({"ID": 1, "Names": "b"})).is_none());
        assert!(simple_segments("{{json .}}").is_none());
        assert!(simple_segments("{{.State.Running}}").is_none());
        assert!(simple_segments("{{- .ID}}").is_none());
    }

    #[test]
    fn table_prefix_and_escapes() {
        let f = Format::new(Some("table {{.ID}}\\t{{.Names}}"), "");
        assert!(f.table);
        assert_eq!(f.body, "{{.ID}}\t{{.Names}}");
        let f = Format::new(Some("json"), "");
        assert_eq!(f.body, "{{json .}}");
    }

    #[test]
    fn sizes_and_durations_match_go_units() {
        assert_eq!(human_size(4_263_000.0), "4.26MB");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(12_340.0), "12.3kB");
        assert_eq!(human_size4(-135_168.0), "-1.352e+05B");
        assert_eq!(human_size4(1_995_000.0), "1.995MB");
        assert_eq!(bytes_size(1023.0), "1023B");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20),
            "abcdefghijklmnopqrs…"
        );
    }
}
