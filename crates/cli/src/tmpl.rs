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

use std::sync::Arc;

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
    src: String,
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
    if let Some(e) = newline_in_quote(src).or_else(|| missing_value(src)) {
        return Err(ParseError(e));
    }
    let (mut tree, defines) = Parser::new(src, "{{", "}}")
        .and_then(|p| p.parse())
        .map_err(|e| ParseError(go_parse_error(&e)))?;
    let mut w = Walk {
        src,
        root,
        chains: Vec::new(),
        unknown: None,
        calls: Vec::new(),
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
    let calls: Arc<[CallSite]> = w.calls.into();
    let build = |mk: MissingKey| -> Result<Template, ParseError> {
        let (c1, c2) = (calls.clone(), calls.clone());
        let mut t = crate::format::with_funcs(Template::new("").missing_key(mk))
            .func("berthFail", |a| {
                Err(TemplateError::Exec(format!(
                    "{FULL}{}",
                    a.first().map(|v| v.to_string()).unwrap_or_default()
                )))
            })
            .func("berthArg", move |a| check_arg(&c1, a))
            // `printf "%v"` of a typed struct, list or map: Go's fmt of it (a pointer to a
            // struct with `&`), the rest as it is.
            .func("berthV", |a| match a {
                // (%s of anything but strings prints Go's %!s(...) forms: left to printf)
                [
                    Value::String(verb),
                    Value::String(spec),
                    v @ (Value::Map(_) | Value::List(_)),
                ] if verb.as_ref() == "v" || all_strings(v) => {
                    let text = match (v, spec.strip_prefix('*')) {
                        // (a list row is a pointer to docker's formatter context)
                        (Value::Map(m), _) if let Some((kind, raw)) = gotypes::row_go(m) => {
                            format!("&{}", go_row(m, &kind, &raw))
                        }
                        (_, Some(inner)) if inner.starts_with('@') && !is_nil_ptr(v) => {
                            format!("&{}", fmt(v, inner))
                        }
                        _ => fmt(v, spec),
                    };
                    Ok(Value::String(text.into()))
                }
                [_, _, v] => Ok(v.clone()),
                _ => Ok(Value::Nil),
            })
            .func("berthNoRange", |a| match a {
                // (a typed struct, or a nil pointer to one; the plain JSON's maps range)
                [Value::String(msg), v]
                    if is_nil_ptr(v)
                        || matches!(v, Value::Map(m)
                            if matches!(gotypes::shape_of(m), Some(Shape::Struct(_)))) =>
                {
                    Err(TemplateError::Exec(format!("{FULL}{msg}{}", fmt(v, ""))))
                }
                [_, v] => Ok(v.clone()),
                _ => Ok(Value::Nil),
            })
            .func("berthCall", move |a| call(&c2, a))
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
            .func("index", |a| {
                crate::gofuncs::index(a, &[]).map_err(TemplateError::Exec)
            })
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
        src: src.to_owned(),
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
        self.exec_partial(v, strict).map_err(|(_, e)| e)
    }

    /// As [`Self::exec`], with what was written before an error (Go's template writes
    /// as it goes: `info` and `version` show that part).
    pub fn exec_partial(&self, v: &Value, strict: bool) -> Result<String, (String, String)> {
        let t = if strict { &self.strict } else { &self.run };
        RAW.with(|r| r.set(strict));
        let mut out = String::new();
        // (the error is worded while RAW still tells which run it was)
        let r = t
            .execute_fmt(&mut out, v)
            .map_err(|e| self.go_exec_error(&e));
        RAW.with(|r| r.set(false));
        match r {
            Ok(()) => Ok(out),
            Err(e) => Err((out, e)),
        }
    }

    fn go_exec_error(&self, e: &TemplateError) -> String {
        let (key, msg) = match e {
            TemplateError::MissingKey { key } => {
                (key.clone(), format!("map has no entry for key \"{key}\""))
            }
            TemplateError::Exec(m) if m.contains(FULL) => {
                return m[m.find(FULL).unwrap_or(0) + FULL.len()..].to_owned();
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
                // (on the plain JSON every value a field is asked of is an interface {})
                let m = match m.find(" in type ") {
                    Some(i) if raw() && !key.is_empty() => {
                        format!("{} in type interface {{}}", &m[..i])
                    }
                    _ => m.to_owned(),
                };
                (key, m)
            }
            TemplateError::UndefinedTemplate(name) => {
                // (Go names the {{template}} action, at its name)
                let quoted = format!("{name:?}");
                let src = &self.src;
                let at = src.match_indices("template").find_map(|(i, _)| {
                    let rest = src[i + 8..].trim_start();
                    rest.starts_with(&quoted).then(|| src.len() - rest.len())
                });
                let msg = format!("template {quoted} not defined");
                return match at {
                    Some(off) => {
                        let before = &src[..off];
                        let line = before.matches('\n').count() + 1;
                        let col = off - before.rfind('\n').map_or(0, |i| i + 1);
                        let after = &src[off + quoted.len()..];
                        let pipe = after[..after.find("}}").unwrap_or(after.len())]
                            .trim_end_matches([' ', '-'])
                            .trim();
                        let pipe = if pipe.is_empty() {
                            String::new()
                        } else {
                            format!(" {pipe}")
                        };
                        format!(
                            "template: :{line}:{col}: executing \"\" at <{{{{template {quoted}{pipe}}}}}>: {msg}"
                        )
                    }
                    None => format!("template: :1:0: executing \"\" {msg}"),
                };
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

/// Where an execution error of Go's is (`template: NAME:LINE:COL: ...`): line and column.
pub fn error_at(e: &str) -> Option<(usize, usize)> {
    let rest = e.strip_prefix("template: ")?;
    let rest = &rest[rest.find(':')? + 1..];
    let mut it = rest.splitn(3, ':');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// The source before the action holding the place of error `e` (what Go had written by
/// then is that part's output); None when `e` has no place.
pub fn source_before<'a>(src: &'a str, e: &str) -> Option<&'a str> {
    let (line, col) = error_at(e)?;
    let start = if line <= 1 {
        0
    } else {
        src.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let off = (start + col).min(src.len());
    let open = src.get(..off)?.rfind("{{")?;
    src.get(..open)
}

/// Of a field the Go type lacks (`unknown`, found before running) and what running the
/// template gave, the error Go meets first: the one earlier in the source.
pub fn first_failure(unknown: String, run: Result<String, String>) -> String {
    let at = error_at;
    match run {
        // (a call fails after its arguments are evaluated, wherever it starts)
        Err(e) if e.contains(": error calling ") => unknown,
        Err(e) if at(&e).zip(at(&unknown)).is_some_and(|(a, b)| a < b) => e,
        _ => unknown,
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
    calls: Vec<CallSite>,
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
                if is_range
                    && t.is_some_and(|t| t.trim_start_matches('*').starts_with('@'))
                    && let Some(last) = b.pipe.commands.last()
                    && let Some(first) = last.args.first()
                {
                    // Go cannot range over a struct.
                    let at = self.last_loc(first);
                    let pos = b.pipe.pos;
                    b.pipe.commands.push(CommandNode {
                        pos,
                        args: vec![
                            Expr::Identifier(pos, "berthNoRange".into()),
                            Expr::String(pos, at.error("range can't iterate over ").into()),
                        ],
                    });
                }
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
        // (the calls as written, before anything below rewrites them)
        let sites: Vec<Option<Site>> = (0..p.commands.len())
            .map(|i| {
                let prev = i.checked_sub(1).map(|j| &p.commands[j]);
                self.site(&p.commands[i], prev, dot)
            })
            .collect();
        self.pipe_inner(p, dot);
        // (`X | printf "%T"` got a `berthType` command before the printf: where each
        // command as written is now)
        let at: Vec<usize> = (0..p.commands.len())
            .filter(|&j| {
                !matches!(p.commands[j].args.as_slice(),
                    [Expr::Identifier(_, n), Expr::String(..)] if n == "berthType")
            })
            .collect();
        // Back to front: a check of a piped value goes in before its command.
        for (i, site) in sites.into_iter().enumerate().rev() {
            if let (Some(site), Some(&j)) = (site, at.get(i)) {
                self.apply(p, j, site, dot);
            }
        }
    }

    fn pipe_inner(&mut self, p: &mut PipeNode, dot: Option<&'static str>) {
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
                Ok(Some(t)) => {
                    let last = f.last().map_or("", |x| x.as_str());
                    // (a field of a named string type in its struct)
                    let parent = match resolve(b, &f[..f.len().saturating_sub(1)]) {
                        Ok(Some(p)) => p.trim_start_matches(['*', '@']),
                        _ => "",
                    };
                    match crate::typename::named_field(parent, last) {
                        Some(n) => n.to_owned(),
                        None => crate::typename::go_name(t, last),
                    }
                }
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

    /// The static [`crate::gotypes`] type of an expression that is a field chain (or dot).
    fn static_spec(&self, e: &Expr, dot: Option<&'static str>) -> Option<&'static str> {
        match e {
            Expr::Dot(_) => dot,
            Expr::Field(_, f) => resolve(dot?, f).ok().flatten(),
            Expr::Variable(_, n, f) if n == "$" => resolve(self.root?, f).ok().flatten(),
            _ => None,
        }
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

/// What an action prints for `v` whose static type is `ty` ("" when unknown): Go's
/// template printer indirects a pointer once and prints `<no value>` for nothing.
fn top(v: &Value, ty: &str) -> String {
    if let Value::Map(m) = v
        && matches!(gotypes::shape_of(m), Some(Shape::Row))
    {
        if let Some((kind, raw)) = gotypes::row_go(m) {
            return go_row(m, &kind, &raw);
        }
        if matches!(m.get(crate::format::LABEL_MAP), Some(Value::String(h)) if h.as_ref() == LABEL_HEADER)
        {
            // A header row is docker's map of column titles.
            let items: Vec<String> = m
                .iter()
                .filter(|(k, _)| k.as_ref() != crate::format::LABEL_MAP)
                .map(|(k, x)| format!("{k}:{}", fmt(x, "")))
                .collect();
            return format!("map[{}]", items.join(" "));
        }
    }
    match v {
        Value::Nil => "<no value>".into(),
        Value::String(s) if ty.is_empty() || ty == "s" || ty == "a" => s.to_string(),
        _ => fmt(v, ty.trim_start_matches('*')),
    }
}

thread_local! {
    /// Set while a value reached through an unexported field prints: Go's fmt calls no
    /// String method there (a time.Time shows its fields).
    static NO_METHODS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `{{.}}` of a list row: docker's formatter context, the API object `raw` inside it (see
/// [`crate::format::with_go`]).
fn go_row(
    row: &std::collections::BTreeMap<Arc<str>, Value>,
    kind: &str,
    raw: &serde_json::Value,
) -> String {
    let field = |k: &str| match row.get(k) {
        Some(Value::String(s)) => s.to_string(),
        _ => String::new(),
    };
    // (the IDs are cut to 12 unless --no-trunc)
    let trunc = field("ID").len() <= 12;
    let object = |name: &'static str| {
        NO_METHODS.with(|n| n.set(true));
        let out = fmt(&gotypes::typed_value(raw, name), &format!("@{name}"));
        NO_METHODS.with(|n| n.set(false));
        out
    };
    let mut parts = kind.split(':');
    let kind = parts.next().unwrap_or("");
    let args: Vec<&str> = parts.collect();
    let arg = |i: usize| args.get(i).copied().unwrap_or("");
    // (system df's contexts hold pointers to the objects they count)
    let addresses = |n: &str| {
        let n: usize = n.parse().unwrap_or(0);
        format!("[{}]", vec![ADDRESS; n].join(" "))
    };
    match kind {
        "history" => format!(
            "{{{{<nil>}} {} {} {}}}",
            arg(0),
            arg(1),
            object("HistoryItem")
        ),
        "df-images" | "df-build" => {
            format!("{{{{<nil>}} {} {}}}", arg(0), addresses(arg(1)))
        }
        "df-containers" | "df-volumes" => format!("{{{{<nil>}} {}}}", addresses(arg(0))),
        "stats" => format!("{{{{<nil>}} {} linux {}}}", object("StatsEntry"), arg(0)),
        "ps" => format!("{{{{<nil>}} {trunc} {} map[]}}", object("ContainerSummary")),
        "images" => format!(
            "{{{{<nil>}} {trunc} {} {} {} {}}}",
            object("ImageSummary"),
            field("Repository"),
            field("Tag"),
            field("Digest")
        ),
        "network" => format!("{{{{<nil>}} {trunc} {}}}", object("Network")),
        "volume" => format!("{{{{<nil>}} {}}}", object("Volume")),
        // (docker's context row is an error value: fmt prints its Error method)
        "context" => field("Error"),
        _ => String::new(),
    }
}

/// Whether a list's or map's values are all strings (and it is no struct).
fn all_strings(v: &Value) -> bool {
    match v {
        Value::List(l) => !is_nil_ptr(v) && l.iter().all(|x| matches!(x, Value::String(_))),
        Value::Map(m) => {
            !matches!(
                gotypes::shape_of(m),
                Some(Shape::Struct(_)) | Some(Shape::Row)
            ) && m.values().all(|x| matches!(x, Value::String(_)))
        }
        _ => false,
    }
}

/// A time.Time's fields as fmt prints them without its String method: `{wall ext loc}`
/// (no monotonic reading: wall holds the nanoseconds, ext the seconds since year 1; a
/// UTC time has no location).
fn time_fields(s: &str) -> String {
    let b = s.as_bytes();
    let num =
        |r: std::ops::Range<usize>| -> i64 { s.get(r).and_then(|x| x.parse().ok()).unwrap_or(0) };
    if b.len() < 19 {
        return "{0 0 <nil>}".into();
    }
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, se) = (num(11..13), num(14..16), num(17..19));
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i.min(start + 9)];
        nanos = format!("{digits:0<9}").parse().unwrap_or(0);
    }
    let rest = &s[i..];
    let (off, utc) = match rest.as_bytes().first() {
        Some(sign @ (b'+' | b'-')) if rest.len() >= 6 => {
            let o = num(i + 1..i + 3) * 3600 + num(i + 4..i + 6) * 60;
            (if *sign == b'-' { -o } else { o }, false)
        }
        _ => (0, true),
    };
    // Days since 1970-01-01 of the civil date (Howard Hinnant's algorithm).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let unix = days * 86_400 + h * 3600 + mi * 60 + se - off;
    let loc = if utc { "<nil>" } else { ADDRESS };
    format!("{{{nanos} {} {loc}}}", unix + 62_135_596_800)
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
    let methods = !NO_METHODS.with(|n| n.get());
    match (v, ty.as_bytes().first()) {
        (Value::String(s), Some(b't')) if !methods => time_fields(s),
        (Value::String(s), Some(b't')) => gotypes::go_time_string(s),
        (Value::Int(n), Some(b'd')) if methods => go_duration(*n),
        (Value::Uint(n), Some(b'd')) if methods => go_duration(*n as i64),
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
                let mut skip = false;
                for spec in fields {
                    match *spec {
                        ")" if skip => skip = false,
                        _ if skip => {}
                        "(*" => {
                            if sep {
                                out.push(' ');
                            }
                            out.push_str(ADDRESS);
                            sep = true;
                            skip = true;
                        }
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
        (Value::Float(f), _) => go_float(*f),
        (other, _) => other.to_string(),
    }
}

/// A float64 as Go's `%v` prints it: the shortest digits that read back the same, with
/// an exponent (`e+06`, `e-05`) when it is below -4 or at least 6.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

fn is_nil_ptr(v: &Value) -> bool {
    matches!(v, Value::List(l) if matches!(gotypes::shape_of(l), Some(Shape::NilPtr)))
}

/// Go's `time.Duration.String` of nanoseconds.
pub fn go_duration(ns: i64) -> String {
    // (the build crate's, which formats HEALTHCHECK history text the same way)
    berth_build::gofmt::duration(ns)
}

/// Marks an error message that is complete (location and all).
const FULL: &str = "\u{1}full:";

thread_local! {
    /// Set while the template runs on a document as plain JSON (docker's raw fallback),
    /// where numbers are json.Number and objects map[string]interface {}.
    static RAW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the template runs on plain JSON now (see [`RAW`]).
pub fn raw() -> bool {
    RAW.with(|r| r.get())
}

/// A place in the source as Go's errors name it: `LINE:COL` and the node's text.
#[derive(Clone)]
struct Loc {
    line: usize,
    col: usize,
    text: String,
    /// The Go type of the value there when it is known statically ("" if not).
    go: String,
}

impl Loc {
    fn error(&self, msg: &str) -> String {
        format!(
            "template: :{}:{}: executing \"\" at <{}>: {msg}",
            self.line, self.col, self.text
        )
    }
}

/// The Go type of a docker template function's parameter.
#[derive(Clone, Copy, PartialEq)]
enum Param {
    Any,
    Str,
    Int,
    Strs,
    /// Any value, but a string in a table's header row (docker's header `json`).
    Json,
}

impl Param {
    fn go(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str | Param::Json => "string",
            Param::Int => "int",
            Param::Strs => "[]string",
        }
    }
}

/// The functions whose arguments Go checks: fixed parameters, the variadic one, and
/// whether berth runs them itself (to word their errors as Go's `error calling`).
fn signature(name: &str) -> Option<(&'static [Param], Option<Param>, bool)> {
    use Param::*;
    Some(match name {
        "json" => (&[Json], None, false),
        "join" => (&[Strs, Str], None, false),
        "split" => (&[Str, Str], None, false),
        "lower" | "upper" | "title" => (&[Str], None, false),
        "pad" => (&[Str, Int, Int], None, true),
        "truncate" => (&[Str, Int], None, true),
        "index" | "slice" => (&[Any], Some(Any), true),
        "len" => (&[Any], None, true),
        "printf" => (&[Str], Some(Any), false),
        "eq" => (&[Any], Some(Any), true),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None, true),
        "not" => (&[Any], None, false),
        "and" | "or" | "call" => (&[Any], Some(Any), false),
        _ => return None,
    })
}

/// A checked call at run time: the command (for `error calling`) and the checks of
/// its arguments (explicit ones by position, then the piped value).
struct CallSite {
    name: &'static str,
    cmd: Loc,
    checks: Vec<(Param, Loc, bool)>,
    /// The piped value's check, made when the function is called.
    piped: Option<(Param, Loc)>,
    /// Per argument (the piped one last): whether its value comes from the data, where
    /// the raw fallback's numbers are json.Number (a template's own are int).
    data: Vec<bool>,
    /// The static Go type of the first argument ("" when unknown).
    item_go: String,
}

/// What a checked call becomes, worked out on the command as written.
struct Site {
    name: &'static str,
    data: Vec<bool>,
    item_go: String,
    /// Go's error for a wrong number of arguments.
    arity: Option<String>,
    /// Per explicit argument: Err(Go's error) for a constant of the wrong kind.
    args: Vec<Result<(Param, Loc), String>>,
    piped: Option<(Param, Loc)>,
    cmd: Loc,
    own: bool,
}

fn pipe_of(pos: gotmpl::parse::Pos, args: Vec<Expr>) -> Expr {
    Expr::Pipe(
        pos,
        PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![CommandNode { pos, args }],
            is_assign: false,
        },
    )
}

fn fail_expr(pos: gotmpl::parse::Pos, msg: String) -> Vec<Expr> {
    vec![
        Expr::Identifier(pos, "berthFail".into()),
        Expr::String(pos, msg.into()),
    ]
}

impl Walk<'_> {
    fn loc(&self, off: usize, text: String) -> Loc {
        let before = &self.src[..off.min(self.src.len())];
        match before.rfind('\n') {
            Some(i) => Loc {
                line: before.matches('\n').count() + 1,
                col: off - i - 1,
                text,
                go: String::new(),
            },
            None => Loc {
                line: 1,
                col: off,
                text,
                go: String::new(),
            },
        }
    }

    /// A constant's text as written (Go prints constants as they were typed).
    fn literal(&self, off: usize) -> String {
        let rest = &self.src[off.min(self.src.len())..];
        let mut chars = rest.char_indices();
        let end = match chars.next() {
            Some((_, q @ ('"' | '\'' | '`'))) => {
                let mut esc = false;
                let mut end = rest.len();
                for (i, c) in chars {
                    if esc {
                        esc = false;
                    } else if c == '\\' && q != '`' {
                        esc = true;
                    } else if c == q {
                        end = i + c.len_utf8();
                        break;
                    }
                }
                end
            }
            _ => rest
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '+' | '-' | '_')))
                .unwrap_or(rest.len()),
        };
        rest[..end].to_owned()
    }

    /// Go's String of a node.
    fn text(&self, e: &Expr) -> String {
        match e {
            Expr::Dot(_) => ".".into(),
            Expr::Field(_, f) => format!(".{}", f.join(".")),
            Expr::Variable(_, n, f) if f.is_empty() => n.to_string(),
            Expr::Variable(_, n, f) => format!("{n}.{}", f.join(".")),
            Expr::Identifier(_, n) => n.to_string(),
            Expr::Bool(_, b) => b.to_string(),
            Expr::Nil(_) => "nil".into(),
            Expr::String(p, _) | Expr::Number(p, _) => self.literal(p.offset),
            Expr::Pipe(_, p) => format!("({})", self.pipe_text(p)),
            Expr::Chain(_, inner, f) => format!("{}.{}", self.text(inner), f.join(".")),
        }
    }

    fn pipe_text(&self, p: &PipeNode) -> String {
        let mut out = String::new();
        if !p.decl.is_empty() {
            out.push_str(&p.decl.join(", "));
            out.push_str(if p.is_assign { " = " } else { " := " });
        }
        let cmds: Vec<String> = p.commands.iter().map(|c| self.cmd_text(c)).collect();
        out.push_str(&cmds.join(" | "));
        out
    }

    fn cmd_text(&self, c: &CommandNode) -> String {
        let a: Vec<String> = c.args.iter().map(|e| self.text(e)).collect();
        a.join(" ")
    }

    /// Where Go's position is for a node: a field chain at its second field.
    fn node_loc(&self, e: &Expr) -> Loc {
        let off = match e {
            Expr::Field(p, f) if f.len() > 1 => p.offset + f[0].len() + 1,
            Expr::Variable(p, n, f) if !f.is_empty() => p.offset + n.len(),
            other => other.pos().offset,
        };
        self.loc(off, self.text(e))
    }

    /// The node Go visited last while evaluating `e` (its errors about the value name it).
    fn last_loc(&self, e: &Expr) -> Loc {
        match e {
            Expr::Pipe(_, p) => match p.commands.last() {
                Some(c) => self.last_in_cmd(c),
                None => self.node_loc(e),
            },
            Expr::Chain(_, inner, _) => self.last_loc(inner),
            other => self.node_loc(other),
        }
    }

    fn last_in_cmd(&self, c: &CommandNode) -> Loc {
        match c.args.as_slice() {
            [Expr::Identifier(..), .., last] => self.last_loc(last),
            [first, ..] => self.last_loc(first),
            [] => self.loc(c.pos.offset, String::new()),
        }
    }

    /// The checks Go makes on a call of a docker or builtin function.
    fn site(
        &self,
        c: &CommandNode,
        prev: Option<&CommandNode>,
        dot: Option<&'static str>,
    ) -> Option<Site> {
        let piped = prev.is_some();
        let Some(Expr::Identifier(ipos, name)) = c.args.first() else {
            return None;
        };
        let (fixed, variadic, own) = signature(name)?;
        let name: &'static str = FUNCS.iter().find(|f| **f == name.as_str())?;
        let id = self.loc(ipos.offset, name.to_owned());
        let explicit = &c.args[1..];
        let n_in = explicit.len() + usize::from(piped);
        let arity = match variadic {
            Some(_) if n_in < fixed.len() => Some(format!(
                "wrong number of args for {name}: want at least {} got {}",
                fixed.len(),
                explicit.len()
            )),
            None if n_in != fixed.len() => Some(format!(
                "wrong number of args for {name}: want {} got {n_in}",
                fixed.len()
            )),
            _ => None,
        }
        .map(|m| id.error(&m));
        let param = |i: usize| fixed.get(i).copied().or(variadic).unwrap_or(Param::Any);
        let args = explicit
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let p = param(i);
                let here = || self.node_loc(e);
                let bad = |what: &str| Err(here().error(what));
                use gotmpl::parse::Number;
                match (p, e) {
                    (Param::Any, _) => Ok((p, here())),
                    (Param::Json, Expr::String(..) | Expr::Number(..) | Expr::Bool(..)) => {
                        Ok((p, here()))
                    }
                    (Param::Str | Param::Int, Expr::Nil(_)) => {
                        bad(&format!("cannot assign nil to {}", p.go()))
                    }
                    (Param::Str, Expr::String(..)) => Ok((p, here())),
                    (Param::Str, Expr::Number(..) | Expr::Bool(..)) => {
                        bad(&format!("expected string; found {}", self.text(e)))
                    }
                    (Param::Int, Expr::Number(_, Number::Int(_))) => Ok((p, here())),
                    (Param::Int, Expr::Number(_, Number::Float(f))) if f.fract() == 0.0 => {
                        Ok((p, here()))
                    }
                    (Param::Int, Expr::Number(..) | Expr::String(..) | Expr::Bool(..)) => {
                        bad(&format!("expected integer; found {}", self.text(e)))
                    }
                    (Param::Strs, Expr::Nil(_)) => Ok((Param::Any, here())),
                    (Param::Strs, Expr::Number(..) | Expr::String(..) | Expr::Bool(..)) => bad(
                        &format!("can't handle {} for arg of type []string", self.text(e)),
                    ),
                    _ => {
                        let mut at = self.last_loc(e);
                        at.go = self.static_name(e, dot);
                        Ok((p, at))
                    }
                }
            })
            .collect();
        let piped = piped.then(|| {
            let at = match explicit.last() {
                Some(e) => self.last_loc(e),
                None => id.clone(),
            };
            let p = if fixed.len() >= n_in {
                fixed[n_in - 1]
            } else {
                variadic.unwrap_or(Param::Any)
            };
            let mut at = at;
            if let Some([e]) = prev.map(|c| c.args.as_slice())
                && !matches!(e, Expr::Identifier(..))
            {
                at.go = self.static_name(e, dot);
            }
            (p, at)
        });
        let mut data: Vec<bool> = explicit.iter().map(from_data).collect();
        if piped.is_some() {
            data.push(prev.is_some_and(|c| match c.args.as_slice() {
                [Expr::Identifier(..), ..] => false,
                [first, ..] => from_data(first),
                [] => false,
            }));
        }
        Some(Site {
            name,
            data,
            item_go: explicit
                .first()
                .map(|e| self.static_name(e, dot))
                .unwrap_or_default(),
            arity,
            args,
            piped,
            cmd: self.loc(c.pos.offset, self.cmd_text(c)),
            own,
        })
    }

    /// Rewrites command `i` of `p` to make Go's checks of `site`.
    fn apply(&mut self, p: &mut PipeNode, i: usize, site: Site, dot: Option<&'static str>) {
        let c = &mut p.commands[i];
        let pos = c.pos;
        if !matches!(c.args.first(), Some(Expr::Identifier(_, n)) if n == site.name) {
            return;
        }
        if site.name == "printf"
            && site.arity.is_none()
            && let Some(Expr::String(_, f)) = c.args.get(1)
            && let Some(verbs) = crate::typename::arg_verbs(f)
        {
            // `%v` of a struct, list or map prints as Go's fmt prints the value's type.
            for (j, verb) in verbs.iter().enumerate() {
                let Some(e) = c.args.get_mut(j + 2) else {
                    break;
                };
                if !matches!(verb.as_str(), "v" | "s") || is_const(e) {
                    continue;
                }
                let spec = self.static_spec(e, dot).unwrap_or("");
                let epos = e.pos();
                let inner = std::mem::replace(e, Expr::Nil(epos));
                *e = pipe_of(
                    epos,
                    vec![
                        Expr::Identifier(epos, "berthV".into()),
                        Expr::String(epos, verb.as_str().into()),
                        Expr::String(epos, spec.into()),
                        inner,
                    ],
                );
            }
        }
        if let Some(msg) = site.arity {
            c.args = fail_expr(pos, msg);
            return;
        }
        let idx = self.calls.len() as i64;
        let mut checks = Vec::new();
        for (j, a) in site.args.into_iter().enumerate() {
            let Some(e) = c.args.get_mut(j + 1) else {
                break;
            };
            match a {
                Err(msg) => *e = pipe_of(e.pos(), fail_expr(e.pos(), msg)),
                Ok((Param::Any, _)) => {}
                // (a constant of the right kind: an integral float is an int to Go)
                Ok((p, _))
                    if p != Param::Json
                        && is_const(e)
                        && !matches!(e, Expr::Number(_, gotmpl::parse::Number::Float(_))) => {}
                Ok((p, _)) if p != Param::Json && is_const(e) => {
                    if let Expr::Number(p, gotmpl::parse::Number::Float(f)) = e {
                        *e = Expr::Number(*p, gotmpl::parse::Number::Int(*f as i64));
                    }
                }
                Ok((param, at)) => {
                    let k = checks.len() as i64;
                    checks.push((param, at, site.data.get(j).copied().unwrap_or(true)));
                    let epos = e.pos();
                    let inner = std::mem::replace(e, Expr::Nil(epos));
                    *e = pipe_of(
                        epos,
                        vec![
                            Expr::Identifier(epos, "berthArg".into()),
                            Expr::Number(epos, gotmpl::parse::Number::Int(idx)),
                            Expr::Number(epos, gotmpl::parse::Number::Int(k)),
                            inner,
                        ],
                    );
                }
            }
        }
        // A piped value is checked after the explicit arguments are evaluated: in the
        // call (berth runs the function), unless there are none to wait for.
        let piped = site.piped.filter(|(p, _)| *p != Param::Any);
        let late = piped.is_some() && c.args.len() > 1 && site.name != "printf";
        if (site.own || late)
            && let Some(Expr::Identifier(ipos, _)) = c.args.first()
        {
            let ipos = *ipos;
            c.args.splice(
                0..1,
                [
                    Expr::Identifier(ipos, "berthCall".into()),
                    Expr::Number(ipos, gotmpl::parse::Number::Int(idx)),
                ],
            );
        }
        if let Some((param, at)) = piped.clone()
            && !late
        {
            let k = checks.len() as i64;
            checks.push((param, at, site.data.last().copied().unwrap_or(true)));
            p.commands.insert(
                i,
                CommandNode {
                    pos,
                    args: vec![
                        Expr::Identifier(pos, "berthArg".into()),
                        Expr::Number(pos, gotmpl::parse::Number::Int(idx)),
                        Expr::Number(pos, gotmpl::parse::Number::Int(k)),
                    ],
                },
            );
        }
        self.calls.push(CallSite {
            name: site.name,
            cmd: site.cmd,
            checks,
            piped: piped.filter(|_| late),
            data: site.data,
            item_go: site.item_go,
        });
    }
}

fn is_const(e: &Expr) -> bool {
    matches!(
        e,
        Expr::String(..) | Expr::Number(..) | Expr::Bool(..) | Expr::Nil(_)
    )
}

/// Go's `missing value for if` (and with, range): a control action without a pipeline
/// (gotmpl calls it an empty command).
fn missing_value(src: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = src[from..].find("{{") {
        let start = from + i + 2;
        let end = src[start..].find("}}").map_or(src.len(), |e| start + e);
        let inner = src[start..end]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let word = inner.strip_prefix("else ").map_or(inner, str::trim);
        if matches!(word, "if" | "with" | "range") {
            let line = src[..start].matches('\n').count() + 1;
            return Some(format!("template: :{line}: missing value for {word}"));
        }
        from = end;
    }
    None
}

/// Whether an argument's value is taken from the data (not a constant or a function's).
fn from_data(e: &Expr) -> bool {
    match e {
        Expr::Dot(_) | Expr::Field(..) | Expr::Variable(..) | Expr::Chain(..) => true,
        Expr::Pipe(_, p) => p.commands.last().is_some_and(|c| match c.args.as_slice() {
            [Expr::Identifier(_, n), ..] => matches!(n.as_str(), "index" | "slice"),
            [first, ..] => from_data(first),
            [] => false,
        }),
        _ => false,
    }
}

/// Go's `unterminated quoted string`: a newline inside a quoted string or character
/// constant of an action (gotmpl lets it pass).
fn newline_in_quote(src: &str) -> Option<String> {
    let b = src.as_bytes();
    let mut i = 0;
    while let Some(start) = src[i..].find("{{") {
        i += start + 2;
        // (a comment right after the delimiter)
        let rest = src[i..].trim_start_matches(['-', ' ']);
        if rest.starts_with("/*") {
            let from = src.len() - rest.len();
            i = src[from..].find("*/").map_or(src.len(), |e| from + e + 2);
            continue;
        }
        while i < b.len() {
            if src[i..].starts_with("}}") {
                i += 2;
                break;
            }
            match b[i] {
                q @ (b'"' | b'\'') => {
                    let line = src[..i].matches('\n').count() + 1;
                    i += 1;
                    loop {
                        match b.get(i) {
                            None | Some(b'\n') => {
                                let what = if q == b'"' {
                                    "unterminated quoted string"
                                } else {
                                    "unterminated character constant"
                                };
                                return Some(format!("template: :{line}: {what}"));
                            }
                            Some(b'\\') if b.get(i + 1).is_some_and(|c| *c != b'\n') => i += 2,
                            Some(c) if *c == q => {
                                i += 1;
                                break;
                            }
                            _ => i += 1,
                        }
                    }
                }
                b'`' => {
                    i += 1;
                    i = src[i..].find('`').map_or(src.len(), |e| i + e + 1);
                }
                _ => i += 1,
            }
        }
    }
    None
}

/// The Go type a value shows in `wrong type for value` errors.
pub fn value_type(v: &Value, data: bool) -> String {
    let raw = data && RAW.with(|r| r.get());
    match v {
        Value::Int(_) | Value::Uint(_) | Value::Float(_) if raw => "json.Number".into(),
        Value::List(_) | Value::Map(_) | Value::Nil if raw => match v {
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            _ => "interface {}".into(),
        },
        Value::List(l) if matches!(gotypes::shape_of(l), Some(Shape::NilPtr)) => "*struct".into(),
        Value::List(l) if l.iter().all(|x| matches!(x, Value::String(_))) => "[]string".into(),
        Value::Map(m) if matches!(gotypes::shape_of(m), Some(Shape::Struct(_))) => "struct".into(),
        Value::Map(m) if m.values().all(|x| matches!(x, Value::String(_))) => {
            "map[string]string".into()
        }
        other => crate::typename::dynamic(other).into(),
    }
}

/// `berthArg CALL K VALUE`: Go's check of an argument's value against its parameter.
fn check_arg(calls: &[CallSite], a: &[Value]) -> gotmpl::Result<Value> {
    let (Some(c), Some(k), Some(v)) = (
        a.first().and_then(|x| x.as_int()),
        a.get(1).and_then(|x| x.as_int()),
        a.get(2),
    ) else {
        return Err(TemplateError::Exec("berthArg".into()));
    };
    let Some((param, at, data)) = calls.get(c as usize).and_then(|s| s.checks.get(k as usize))
    else {
        return Ok(v.clone());
    };
    check(*param, at, v, *data)?;
    Ok(v.clone())
}

/// Go's validateType: Err(its error) when `v` cannot be passed as `param`.
fn check(param: Param, at: &Loc, v: &Value, data: bool) -> gotmpl::Result<()> {
    let raw = data && RAW.with(|r| r.get());
    // (a table's header row runs docker's header functions, which take strings)
    let param = match param {
        Param::Strs | Param::Json if crate::format::in_header() => Param::Str,
        Param::Json => Param::Any,
        p => p,
    };
    // (a value whose Go type is known statically passes only as that type)
    let go_ok = |want: &str| raw || at.go.is_empty() || at.go == want;
    let ok = match (param, v) {
        (Param::Any, _) => true,
        (Param::Str, Value::String(_)) => go_ok("string"),
        (Param::Int, Value::Int(_) | Value::Uint(_)) => !raw && go_ok("int"),
        (Param::Strs, Value::Nil) => true,
        (Param::Strs, Value::List(l)) => {
            !raw && (matches!(gotypes::shape_of(l), Some(Shape::NilPtr))
                || l.iter().all(|x| matches!(x, Value::String(_))))
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let msg = match v {
        Value::Nil if !raw => format!("invalid value; expected {}", param.go()),
        _ => format!(
            "wrong type for value; expected {}; got {}",
            param.go(),
            if !raw && !at.go.is_empty() {
                at.go.clone()
            } else {
                value_type(v, data)
            }
        ),
    };
    Err(TemplateError::Exec(format!("{FULL}{}", at.error(&msg))))
}

/// `berthCall CALL ARGS...`: a function berth runs as Go does, its errors as Go's
/// `error calling NAME: ...` at the command.
fn call(calls: &[CallSite], a: &[Value]) -> gotmpl::Result<Value> {
    let Some(site) = a
        .first()
        .and_then(|x| x.as_int())
        .and_then(|c| calls.get(c as usize))
    else {
        return Err(TemplateError::Exec("berthCall".into()));
    };
    let args = &a[1..];
    if let (Some((param, at)), Some(v)) = (&site.piped, args.last()) {
        check(*param, at, v, site.data.last().copied().unwrap_or(true))?;
    }
    let data = &site.data;
    // (nat.PortMap and nat.PortSet have nat.Port keys: a string is not one to Go)
    let port_key = site.name == "index"
        && !raw()
        && matches!(site.item_go.as_str(), "nat.PortMap" | "nat.PortSet")
        && matches!(args.get(1), Some(Value::String(_)));
    let out = match site.name {
        _ if port_key => Err("value has type string; should be nat.Port".into()),
        "index" => crate::gofuncs::index(args, data),
        "slice" => crate::gofuncs::slice(args, data),
        "len" => crate::gofuncs::len(args, data),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => crate::gofuncs::compare(site.name, args, data),
        "pad" => crate::gofuncs::pad(args),
        "truncate" => crate::gofuncs::truncate(args),
        // (called here only to check the piped value after the others, as Go does)
        name => return crate::format::docker_func(name, args),
    };
    out.map_err(|m| {
        TemplateError::Exec(format!(
            "{FULL}{}",
            site.cmd.error(&format!("error calling {}: {m}", site.name))
        ))
    })
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
