//! What Go's text/template and fmt do that gotmpl leaves out, for `--format`: an action
//! prints its value as Go's fmt does (a struct as `{v1 v2 ...}` in field order, a nil
//! pointer as `<nil>`, a missing value as `<no value>`, times and durations through their
//! String methods); functions unknown to the docker CLI fail at parse time; a field that
//! the Go type does not have fails as it does in docker; and errors read as Go writes
//! them (`template: :1:2: executing "" at <.Nope>: ...`).
//!
//! The parsed tree is rewritten: every printing action gets a last command `gofmt "TYPE"`,
//! TYPE being the static [`crate::gotypes`] type of a plain field pipeline (or empty), and
//! the rewritten tree runs as the named template `main`.

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Parser, PipeNode, SmolStr};
use gotmpl::{MissingKey, Template, TemplateError, Value};

use crate::gotypes::{self, Shape};

/// The functions a docker CLI template may call: Go's builtins and docker's.
const FUNCS: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "call",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "json",
    "join",
    "split",
    "lower",
    "upper",
    "title",
    "pad",
    "truncate",
    "berthLabel",
    "berthType",
];

/// A field chain in the source: where it is, as Go prints it, and what its base is.
struct Chain {
    line: usize,
    col: usize,
    text: String,
    fields: Vec<SmolStr>,
    /// The static type of the chain's base (dot or `$`), None when unknown.
    base: Option<&'static str>,
}

/// A `--format` template ready to run on typed or raw values.
pub struct Tmpl {
    run: Template,
    strict: Template,
    chains: Vec<Chain>,
}

/// The template failed to parse: Go's message (`template: :1: unclosed action`).
#[derive(Debug)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses `src` (escapes already replaced) with `root` the static type of dot (a
/// [`crate::gotypes`] type such as `@Container`), None when it is not a Go struct.
pub fn parse(src: &str, root: Option<&'static str>) -> Result<Tmpl, ParseError> {
    let (mut tree, defines) = Parser::new(src, "{{", "}}")
        .and_then(|p| p.parse())
        .map_err(|e| ParseError(go_parse_error(&e)))?;
    let mut w = Walk {
        src,
        root,
        chains: Vec::new(),
        unknown: None,
    };
    w.list(&mut tree, root);
    let mut defs = Vec::new();
    for mut d in defines {
        w.list(&mut d.body, None);
        defs.push((d.name.to_string(), d.body));
    }
    if let Some((line, name)) = w.unknown {
        return Err(ParseError(format!(
            "template: :{line}: function \"{name}\" not defined"
        )));
    }
    let build = |mk: MissingKey| -> Result<Template, ParseError> {
        let mut t = crate::format::with_funcs(Template::new("").missing_key(mk))
            .func("gofmt", |a| {
                let ty = match a.first() {
                    Some(Value::String(s)) => s.to_string(),
                    _ => String::new(),
                };
                Ok(Value::String(
                    top(a.get(1).unwrap_or(&Value::Nil), &ty).into(),
                ))
            })
            .func("print", |a| Ok(Value::String(sprint(a).into())))
            .func("println", |a| {
                let parts: Vec<String> = a.iter().map(|v| operand(v, "")).collect();
                Ok(Value::String(format!("{}\n", parts.join(" ")).into()))
            })
            .func("index", index)
            .func("berthType", crate::typename::func)
            // Docker's `.Label "k"` method (see Walk::label_call): "" when not set.
            .func("berthLabel", |a| match a {
                [_, Value::Map(m), Value::String(k)] => Ok(m
                    .get(k.as_ref())
                    .cloned()
                    .unwrap_or_else(|| Value::String("".into()))),
                // On the header row: the key's last dotted part, `-` and `_` as spaces.
                [_, Value::String(h), Value::String(k)] if h.as_ref() == LABEL_HEADER => {
                    let last = k.rsplit('.').next().unwrap_or("");
                    Ok(Value::String(last.replace(['-', '_'], " ").into()))
                }
                [_, _, Value::String(_)] => Ok(Value::String("".into())),
                [chain, _, args @ ..] => Err(TemplateError::Exec(format!(
                    "{LABEL_ARITY}{}:{}",
                    chain.as_int().unwrap_or(0),
                    args.len()
                ))),
                _ => Err(TemplateError::Exec("berthLabel".into())),
            })
            .parse("{{template \"main\" .}}")
            .map_err(|e| ParseError(e.to_string()))?
            .add_parse_tree("main", tree.clone());
        for (name, body) in &defs {
            t = t.add_parse_tree(name, body.clone());
        }
        Ok(t)
    };
    Ok(Tmpl {
        run: build(MissingKey::Invalid)?,
        strict: build(MissingKey::Error)?,
        chains: w.chains,
    })
}

/// gotmpl's parse error as Go's parser words it: `template: :LINE: message`.
fn go_parse_error(e: &TemplateError) -> String {
    match e {
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            format!("template: :{line}: {message}")
        }
        other => format!("template: {other}"),
    }
}

impl Tmpl {
    /// The first field chain (in source order) that the Go type of dot does not have:
    /// docker's typed run fails on it. The message names `go_type` (e.g.
    /// `*formatter.ContainerContext`) as the type.
    pub fn unknown_field(&self, keys: Option<&[&str]>, go_type: &str) -> Option<String> {
        for c in &self.chains {
            let Some(base) = c.base else { continue };
            let bad = match keys {
                // A row context: its methods are the row's keys.
                // (`.Label` is a method of the rows that carry their labels as LabelMap,
                // which no template can name)
                Some(k) if base == ROW => c
                    .fields
                    .first()
                    .filter(|f| match f.as_str() {
                        "Label" => !k.contains(&"LabelMap"),
                        "LabelMap" => true,
                        f => !k.contains(&f),
                    })
                    .map(|f| (f.to_string(), go_type.to_owned())),
                Some(_) => None,
                None => resolve(base, &c.fields).err().map(|(f, ty)| {
                    // The root is named by the caller; nested structs by their Go names.
                    let name = ty.trim_start_matches(['*', '@']);
                    let go = GO_NAMED
                        .contains(&name)
                        .then(|| crate::typename::struct_go_name(name))
                        .flatten();
                    match go {
                        Some(go) if ty != base => {
                            let ptr = if ty.starts_with('*') { "*" } else { "" };
                            (f, format!("{ptr}{go}"))
                        }
                        _ => (f, go_type.to_owned()),
                    }
                }),
            };
            if let Some((f, ty)) = bad {
                return Some(format!(
                    "template: :{}:{}: executing \"\" at <{}>: can't evaluate field {f} in type {ty}",
                    c.line, c.col, c.text
                ));
            }
        }
        None
    }

    /// Runs on `v`; `strict` is docker's raw-JSON fallback (`missingkey=error`). The
    /// error is Go's message.
    pub fn exec(&self, v: &Value, strict: bool) -> Result<String, String> {
        let t = if strict { &self.strict } else { &self.run };
        t.execute_to_string(v).map_err(|e| self.go_exec_error(&e))
    }

    fn go_exec_error(&self, e: &TemplateError) -> String {
        let (key, msg) = match e {
            TemplateError::MissingKey { key } => {
                (key.clone(), format!("map has no entry for key \"{key}\""))
            }
            TemplateError::Exec(m) if m.contains(LABEL_ARITY) => {
                // (a method of Go takes exactly its arguments)
                let rest = &m[m.find(LABEL_ARITY).unwrap_or(0) + LABEL_ARITY.len()..];
                let (chain, got) = rest.split_once(':').unwrap_or(("0", "0"));
                let c = chain.parse::<usize>().ok().and_then(|i| self.chains.get(i));
                let msg = format!("wrong number of args for Label: want 1 got {got}");
                return match c {
                    Some(c) => format!(
                        "template: :{}:{}: executing \"\" at <{}>: {msg}",
                        c.line, c.col, c.text
                    ),
                    None => format!("template: :1:0: executing \"\" {msg}"),
                };
            }
            TemplateError::Exec(m) => {
                let m = m.strip_prefix("execution error: ").unwrap_or(m);
                let key = m
                    .strip_prefix("can't evaluate field ")
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or("")
                    .to_owned();
                (key, m.to_owned())
            }
            other => (String::new(), other.to_string()),
        };
        match self
            .chains
            .iter()
            .find(|c| c.fields.iter().any(|f| f.as_str() == key))
        {
            Some(c) => format!(
                "template: :{}:{}: executing \"\" at <{}>: {msg}",
                c.line, c.col, c.text
            ),
            None => format!("template: :1:0: executing \"\" {msg}"),
        }
    }
}

/// The LabelMap of a table's header row: `.Label "k"` names its column there.
pub const LABEL_HEADER: &str = "\u{1}header";

/// Marks berthLabel's arity error (chain index and argument count follow).
const LABEL_ARITY: &str = "\u{1}label-arity:";

/// The base type of a row context (its fields are checked against the row's keys).
pub const ROW: &str = "row";

struct Walk<'a> {
    src: &'a str,
    root: Option<&'static str>,
    chains: Vec<Chain>,
    unknown: Option<(usize, String)>,
}

impl Walk<'_> {
    fn list(&mut self, l: &mut ListNode, dot: Option<&'static str>) {
        for n in &mut l.nodes {
            self.node(n, dot);
        }
    }

    fn node(&mut self, n: &mut Node, dot: Option<&'static str>) {
        match n {
            Node::List(l) => self.list(l, dot),
            Node::Action(a) => {
                self.pipe(&mut a.pipe, dot);
                if a.pipe.decl.is_empty() {
                    let ty = self.pipe_type(&a.pipe, dot).unwrap_or("");
                    let pos = a.pipe.pos;
                    a.pipe.commands.push(CommandNode {
                        pos,
                        args: vec![
                            Expr::Identifier(pos, "gofmt".into()),
                            Expr::String(pos, ty.into()),
                        ],
                    });
                }
            }
            Node::If(b) => {
                self.pipe(&mut b.pipe, dot);
                self.list(&mut b.body, dot);
                if let Some(e) = &mut b.else_body {
                    self.list(e, dot);
                }
            }
            Node::Range(_) | Node::With(_) => {
                let is_range = matches!(n, Node::Range(_));
                let (Node::Range(b) | Node::With(b)) = n else {
                    return;
                };
                self.pipe(&mut b.pipe, dot);
                let t = self.pipe_type(&b.pipe, dot);
                let inner = if is_range {
                    t.and_then(|t| {
                        let t = t.trim_start_matches('*');
                        t.strip_prefix('[').or_else(|| t.strip_prefix('{'))
                    })
                } else {
                    t
                };
                self.list(&mut b.body, inner);
                if let Some(e) = &mut b.else_body {
                    self.list(e, dot);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &mut t.pipe {
                    self.pipe(p, dot);
                }
            }
            Node::Define(d) => self.list(&mut d.body, None),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }

    fn pipe(&mut self, p: &mut PipeNode, dot: Option<&'static str>) {
        let mut i = 0;
        while i < p.commands.len() {
            let piped_t =
                crate::typename::rewrite_printf(&mut p.commands[i], |e| self.static_name(e, dot));
            if piped_t && i > 0 {
                // `X | printf "%T"`: `X | berthType "TYPE OF X" | printf "%s"`.
                let ty = match p.commands[i - 1].args.as_slice() {
                    [e] => self.static_name(e, dot),
                    _ => String::new(),
                };
                let pos = p.commands[i].pos;
                p.commands
                    .insert(i, crate::typename::type_of(pos, ty, None));
                i += 1;
            }
            i += 1;
        }
        for c in &mut p.commands {
            if let Some(Expr::Field(pos, f)) = c.args.first()
                && dot == Some(ROW)
                && f.len() == 1
                && f[0] == "Label"
            {
                // Called with the command's arguments (and the piped value after a `|`).
                let call = self.label_call(*pos);
                c.args.splice(0..1, call);
                for e in c.args.iter_mut().skip(3) {
                    self.expr(e, dot);
                }
                continue;
            }
            for (i, e) in c.args.iter_mut().enumerate() {
                if i == 0
                    && let Expr::Identifier(pos, name) = e
                    && !FUNCS.contains(&name.as_str())
                    && self.unknown.is_none()
                {
                    self.unknown = Some((pos.line, name.to_string()));
                }
                self.expr(e, dot);
            }
        }
    }

    /// The Go name of an expression's static type, for `%T` (empty when unknown).
    fn static_name(&self, e: &Expr, dot: Option<&'static str>) -> String {
        let at = |base: Option<&'static str>, f: &[SmolStr]| match base {
            Some(b) => match resolve(b, f) {
                Ok(Some(t)) => crate::typename::go_name(t, f.last().map_or("", |x| x.as_str())),
                _ => String::new(),
            },
            None => String::new(),
        };
        match e {
            // (the document itself, not a pointer to it)
            Expr::Dot(_) if dot.is_some() && dot == self.root => {
                gotypes::go_name(dot.unwrap_or("").trim_start_matches('@'))
                    .trim_start_matches('*')
                    .to_owned()
            }
            Expr::Variable(_, n, f) if n == "$" && f.is_empty() => self
                .root
                .map(|r| gotypes::go_name(r.trim_start_matches('@')).trim_start_matches('*'))
                .unwrap_or("")
                .to_owned(),
            Expr::Dot(_) => dot.map_or(String::new(), |t| crate::typename::go_name(t, "")),
            Expr::Field(_, f) => at(dot, f),
            Expr::Variable(_, n, f) if n == "$" && !f.is_empty() => at(self.root, f),
            Expr::String(..) => "string".into(),
            Expr::Bool(..) => "bool".into(),
            Expr::Nil(_) => "<nil>".into(),
            Expr::Number(_, n) => match n {
                gotmpl::parse::Number::Int(_) => "int".into(),
                gotmpl::parse::Number::Uint(_) => "uint64".into(),
                _ => "float64".into(),
            },
            _ => String::new(),
        }
    }

    /// Docker's row method `.Label "key"` (gotmpl has no methods with arguments) as
    /// `berthLabel CHAIN .LabelMap ARGS...`: the row's labels as a map, and which chain to
    /// name if the method gets other than one argument.
    fn label_call(&mut self, pos: gotmpl::parse::Pos) -> [Expr; 3] {
        self.chain(pos.offset, ".Label".into(), &["Label".into()], Some(ROW));
        let idx = (self.chains.len() - 1) as i64;
        [
            Expr::Identifier(pos, "berthLabel".into()),
            Expr::Number(pos, gotmpl::parse::Number::Int(idx)),
            Expr::Field(pos, vec!["LabelMap".into()]),
        ]
    }

    fn expr(&mut self, e: &mut Expr, dot: Option<&'static str>) {
        if let Expr::Field(pos, f) = e
            && dot == Some(ROW)
            && f.len() == 1
            && f[0] == "Label"
        {
            // As an argument the method gets none.
            let pos = *pos;
            let call = self.label_call(pos);
            *e = Expr::Pipe(
                pos,
                PipeNode {
                    pos,
                    decl: Vec::new(),
                    commands: vec![CommandNode {
                        pos,
                        args: call.into(),
                    }],
                    is_assign: false,
                },
            );
            return;
        }
        match e {
            Expr::Field(pos, fields) => {
                let first = fields.first().map_or(0, |f| f.len() + 1);
                let off = if fields.len() > 1 {
                    pos.offset + first
                } else {
                    pos.offset
                };
                self.chain(off, format!(".{}", fields.join(".")), fields, dot);
            }
            Expr::Variable(pos, name, fields) if !fields.is_empty() => {
                let base = if name == "$" { self.root } else { None };
                self.chain(
                    pos.offset + name.len(),
                    format!("{name}.{}", fields.join(".")),
                    fields,
                    base,
                );
            }
            Expr::Pipe(_, p) => self.pipe(p, dot),
            Expr::Chain(_, inner, _) => self.expr(inner, dot),
            _ => {}
        }
    }

    fn chain(&mut self, off: usize, text: String, fields: &[SmolStr], base: Option<&'static str>) {
        let before = &self.src[..off.min(self.src.len())];
        let (line, col) = match before.rfind('\n') {
            Some(i) => (before.matches('\n').count() + 1, off - i - 1),
            None => (1, off),
        };
        self.chains.push(Chain {
            line,
            col,
            text,
            fields: fields.to_vec(),
            base,
        });
    }

    /// The static type of a pipeline that is one field chain (or dot).
    fn pipe_type(&self, p: &PipeNode, dot: Option<&'static str>) -> Option<&'static str> {
        let [c] = p.commands.as_slice() else {
            return None;
        };
        match c.args.as_slice() {
            [Expr::Dot(_)] => dot,
            [Expr::Field(_, f)] => resolve(dot?, f).ok().flatten(),
            [Expr::Variable(_, n, f)] if n == "$" => resolve(self.root?, f).ok().flatten(),
            _ => None,
        }
    }
}

/// The nested structs whose Go names (see [`crate::typename::struct_go_name`]) appear in
/// "can't evaluate field" errors (those of inspected objects without docker's raw
/// fallback, and of events).
const GO_NAMED: &[&str] = &[
    "EventActor",
    "UsageData",
    "PluginsInfo",
    "SwarmInfo",
    "Peer",
    "Commit",
    "RuntimeWithStatus",
    "ClientInfo",
    "PlatformInfo",
    "ClientVersion",
    "ServerVersion",
    "ComponentVersion",
];

/// The type reached from `ty` through `fields` (None once it is unknown), or the first
/// field Go cannot evaluate there and the type it was looked up in.
fn resolve(
    ty: &'static str,
    fields: &[SmolStr],
) -> Result<Option<&'static str>, (String, &'static str)> {
    let mut ty = ty;
    for f in fields {
        let here = ty;
        ty = ty.trim_start_matches('*');
        if ty == ROW || ty.starts_with('a') {
            return Ok(None);
        }
        if let Some(name) = ty.strip_prefix('@') {
            match gotypes::field_type(name, f) {
                Some(t) => ty = t,
                None => return Err((f.to_string(), here)),
            }
        } else if let Some(elem) = ty.strip_prefix('{') {
            ty = elem;
        } else {
            return Err((f.to_string(), here));
        }
    }
    Ok(Some(ty))
}

/// Go's `index`, with the zero value of a typed map's element for a missing key.
fn index(a: &[Value]) -> gotmpl::Result<Value> {
    // (`index x` alone is x, as in Go)
    if a.is_empty() {
        return Err(TemplateError::Exec(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    }
    let mut v = a[0].clone();
    for k in &a[1..] {
        v = match (&v, k) {
            (Value::Map(m), Value::String(key)) if !m.contains_key(key.as_ref()) => {
                match gotypes::shape_of(m) {
                    Some(Shape::Map(elem, _)) => gotypes::zero(elem),
                    _ => Value::Nil,
                }
            }
            _ => v.index(k)?,
        };
    }
    Ok(v)
}

/// What an action prints for `v` whose static type is `ty` ("" when unknown): Go's
/// template printer indirects a pointer once and prints `<no value>` for nothing.
fn top(v: &Value, ty: &str) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::String(s) if ty.is_empty() || ty == "s" || ty == "a" => s.to_string(),
        _ => fmt(v, ty.trim_start_matches('*')),
    }
}

/// `fmt.Sprint`: operands separated by a space when neither side is a string.
fn sprint(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_str = |x: &Value| matches!(x, Value::String(_));
        if i > 0 && !is_str(v) && !is_str(&a[i - 1]) {
            out.push(' ');
        }
        out.push_str(&operand(v, ""));
    }
    out
}

/// A value as a `fmt.Print` operand.
fn operand(v: &Value, ty: &str) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        _ => fmt(v, ty),
    }
}

/// A pointer inside a struct, slice or map prints as its address, which only Go knows.
const ADDRESS: &str = "0xc000010000";

/// `%v` of `v` as the Go type `ty` (a [`crate::gotypes`] type; "" when unknown).
fn fmt(v: &Value, ty: &str) -> String {
    if let Some(inner) = ty.strip_prefix('*') {
        return if is_nil_ptr(v) || matches!(v, Value::Nil) {
            "<nil>".into()
        } else if inner.starts_with('@') {
            ADDRESS.into()
        } else {
            // A pointer to a scalar is an address too; Go prints no value behind it.
            ADDRESS.into()
        };
    }
    match (v, ty.as_bytes().first()) {
        (Value::String(s), Some(b't')) => gotypes::go_time_string(s),
        (Value::Int(n), Some(b'd')) => go_duration(*n),
        (Value::Uint(n), Some(b'd')) => go_duration(*n as i64),
        (Value::Nil, _) => "<nil>".into(),
        (Value::List(l), _) => {
            if is_nil_ptr(v) {
                return "<nil>".into();
            }
            let elem = ty.strip_prefix('[').unwrap_or("");
            let items: Vec<String> = l.iter().map(|x| fmt(x, elem)).collect();
            format!("[{}]", items.join(" "))
        }
        (Value::Map(m), _) => match gotypes::shape_of(m) {
            Some(Shape::Struct(fields)) => {
                // Embedded structs (between `(` and `)`) print as structs of their own.
                let mut out = String::from("{");
                let mut sep = false;
                for spec in fields {
                    match *spec {
                        "(" => {
                            if sep {
                                out.push(' ');
                            }
                            out.push('{');
                            sep = false;
                        }
                        ")" => {
                            out.push('}');
                            sep = true;
                        }
                        _ => {
                            let (name, fty) = gotypes::name_type(spec);
                            if sep {
                                out.push(' ');
                            }
                            out.push_str(&fmt(m.get(name).unwrap_or(&Value::Nil), fty));
                            sep = true;
                        }
                    }
                }
                out.push('}');
                out
            }
            _ => {
                let elem = ty.strip_prefix('{').unwrap_or("");
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, x)| format!("{k}:{}", fmt(x, elem)))
                    .collect();
                format!("map[{}]", items.join(" "))
            }
        },
        (other, _) => other.to_string(),
    }
}

fn is_nil_ptr(v: &Value) -> bool {
    matches!(v, Value::List(l) if matches!(gotypes::shape_of(l), Some(Shape::NilPtr)))
}

/// Go's `time.Duration.String` of nanoseconds.
pub fn go_duration(ns: i64) -> String {
    // (the build crate's, which formats HEALTHCHECK history text the same way)
    berth_build::gofmt::duration(ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(src: &str, j: &serde_json::Value, root: &'static str) -> String {
        let t = parse(src, Some(root)).unwrap();
        gotypes::with_typed(j, Some(&root[1..]), |v| t.exec(v, false)).unwrap()
    }

    #[test]
    fn structs_print_as_go_does() {
        let j = json!({"State": {"Status": "running", "Running": true, "Pid": 7},
            "HostConfig": {"RestartPolicy": {"Name": "no"}},
            "Config": {"Healthcheck": {"Test": ["CMD", "x"], "Interval": 3_600_000_000_000i64}}});
        assert_eq!(
            typed("{{.State}}", &j, "@Container"),
            "{running true false false false false 7 0    <nil>}"
        );
        assert_eq!(
            typed("{{.HostConfig.RestartPolicy}}", &j, "@Container"),
            "{no 0}"
        );
        assert_eq!(
            typed("{{.Config.Healthcheck}}", &j, "@Container"),
            "{[CMD x] 1h0m0s 0s 0s 0s 0}"
        );
        assert_eq!(
            typed("{{.Config.Healthcheck.Interval}}", &j, "@Container"),
            "1h0m0s"
        );
        assert_eq!(typed("{{.State.Health}}", &j, "@Container"), "<nil>");
        assert_eq!(typed("{{.SizeRw}}", &j, "@Container"), "<nil>");
        assert_eq!(
            typed(
                "{{index .Config.Labels \"x\"}}|{{.Config.Labels.x}}",
                &j,
                "@Container"
            ),
            "|<no value>"
        );
        assert_eq!(
            typed(
                "{{with .State.Health}}h{{else}}none{{end}} {{json .State.Health}}",
                &j,
                "@Container"
            ),
            "none null"
        );
    }

    #[test]
    fn unknown_fields_and_functions_fail_as_in_go() {
        let t = parse("{{.Config.Nope}}", Some("@Container")).unwrap();
        assert_eq!(
            t.unknown_field(None, "x").unwrap(),
            "template: :1:9: executing \"\" at <.Config.Nope>: can't evaluate field Nope in type x"
        );
        let t = parse("{{.Config.Labels.nope}}", Some("@Container")).unwrap();
        assert!(t.unknown_field(None, "x").is_none());
        assert_eq!(
            parse("{{nope .}}", None).err().unwrap().0,
            "template: :1: function \"nope\" not defined"
        );
        assert_eq!(
            parse("{{.Names", None).err().unwrap().0,
            "template: :1: unclosed action"
        );
    }

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    }
}
