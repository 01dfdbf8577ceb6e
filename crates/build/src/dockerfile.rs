//! A Dockerfile read into stages of owned steps (parse-dockerfile does the parsing; this
//! keeps what the builder needs, and each step's text as `docker build` prints it).

use parse_dockerfile::{Command, Flag, Instruction, JsonOrStringArray, Source};

use crate::BuildError;

/// `RUN`, `CMD`, `ENTRYPOINT` and `HEALTHCHECK CMD` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdForm {
    /// `["a", "b"]`: run as is.
    Exec(Vec<String>),
    /// Anything else: handed to the shell.
    Shell(String),
}

/// One instruction's arguments, as written (variables not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instr {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        cmd: CmdForm,
        flags: Vec<(String, Option<String>)>,
        /// Bodies of `<<EOF` here-documents, in order.
        heredocs: Vec<String>,
    },
    Cmd(CmdForm),
    Entrypoint(CmdForm),
    /// `ENV`, `LABEL`, `ARG`: the raw text (pairs are split by [`crate::words`]).
    Env(String),
    Label(String),
    Arg(String),
    Expose(Vec<String>),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Stopsignal(String),
    Shell(Vec<String>),
    Healthcheck {
        flags: Vec<(String, Option<String>)>,
        /// None: `HEALTHCHECK NONE`.
        cmd: Option<CmdForm>,
    },
    /// `COPY` (add false) and `ADD`.
    Copy {
        add: bool,
        flags: Vec<(String, Option<String>)>,
        src: Vec<String>,
        dest: String,
    },
    Maintainer(String),
    /// The trigger's text (`ONBUILD RUN x` → `RUN x`).
    Onbuild(String),
}

/// One instruction and the line `docker build` shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `RUN echo hi`: the instruction as written, continuation lines joined.
    pub text: String,
    pub instr: Instr,
}

/// `FROM ...` and the steps after it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub from: Step,
    pub steps: Vec<Step>,
}

/// A whole Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` with `# escape=``).
    pub escape: char,
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

/// Reads a Dockerfile. Errors are worded as Docker's parser words them where it can.
pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let instructions = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if !instructions {
        return Err(BuildError::Parse(
            "failed to parse Dockerfile: file with no instructions".into(),
        ));
    }
    let df = parse_dockerfile::parse(text).map_err(|e| {
        healthcheck_type_error(&e.to_string(), text).unwrap_or_else(|| parse_error(&e.to_string()))
    })?;
    let escape = df
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |d| d.value.value);
    let mut starts: Vec<usize> = df.instructions.iter().map(|i| keyword_start(i)).collect();
    starts.push(text.len());
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (k, ins) in df.instructions.iter().enumerate() {
        let raw = &text[starts[k]..starts[k + 1]];
        let step = Step {
            text: step_text(raw, escape),
            instr: convert(ins, text)?,
        };
        // dockerd checks a HEALTHCHECK's flags and values when it reads the file.
        if let Instr::Healthcheck { flags, cmd } = &step.instr
            && let Err(e) = crate::healthcheck::of_instruction(flags, cmd.as_ref())
        {
            let line = text[..starts[k]].matches('\n').count() + 1;
            return Err(BuildError::Parse(format!(
                "dockerfile parse error line {line}: {e}"
            )));
        }
        match (&step.instr, stages.last_mut()) {
            (Instr::From { .. }, _) => stages.push(Stage {
                from: step,
                steps: Vec::new(),
            }),
            (_, Some(stage)) => stage.steps.push(step),
            (Instr::Arg(_), None) => global_args.push(step),
            (_, None) => {
                return Err(BuildError::Parse(
                    "Dockerfile parse error: no build stage in current context".into(),
                ));
            }
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Parse(
            "the Dockerfile (Dockerfile) cannot be empty".into(),
        ));
    }
    Ok(Dockerfile {
        escape,
        global_args,
        stages,
    })
}

/// The parser's `expected CMD or NONE at line N ...` of a `HEALTHCHECK TYPE ...` as dockerd
/// words it: an unknown flag first, else `Unknown type "TYPE" in HEALTHCHECK (try CMD)`.
fn healthcheck_type_error(msg: &str, text: &str) -> Option<BuildError> {
    let at = msg.strip_prefix("expected CMD or NONE at line ")?;
    let line: usize = at.split_once(' ').map_or(at, |(l, _)| l).parse().ok()?;
    let src = text.lines().nth(line.checked_sub(1)?)?;
    let mut words = src.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("HEALTHCHECK") {
        return None;
    }
    let mut flags = Vec::new();
    let mut kind = "";
    for w in words {
        match w.strip_prefix("--") {
            Some(f) => flags.push(f.split_once('=').unwrap_or((f, ""))),
            None => {
                kind = w;
                break;
            }
        }
    }
    let what = match crate::healthcheck::check_flags(&flags) {
        Err(e) => e,
        Ok(()) => format!(
            "Unknown type \"{}\" in HEALTHCHECK (try CMD)",
            kind.to_ascii_uppercase()
        ),
    };
    Some(BuildError::Parse(format!(
        "dockerfile parse error line {line}: {what}"
    )))
}

/// `unknown instruction 'X' at line 2 column 1` → Docker's `dockerfile parse error line 2:
/// unknown instruction: X`.
fn parse_error(msg: &str) -> BuildError {
    let located = msg.rsplit_once(" at line ").and_then(|(what, at)| {
        let (line, _) = at.split_once(" column ")?;
        line.parse::<u32>().ok().map(|l| (what, l))
    });
    if msg.starts_with("expected FROM") {
        return BuildError::Parse("no build stage in current context".into());
    }
    BuildError::Parse(match located {
        Some((what, line)) => {
            // dockerd 20.10's wording of missing arguments and unknown instructions.
            let what = what.replacen(" instruction requires", " requires", 1);
            let what = what.replace(
                "HEALTHCHECK NONE does not accept arguments",
                "HEALTHCHECK NONE takes no arguments",
            );
            let what = match what
                .strip_prefix("unknown instruction '")
                .and_then(|w| w.strip_suffix('\''))
            {
                Some(name) => format!("unknown instruction: {name}"),
                None => what,
            };
            let what = if what.ends_with("requires at least two arguments")
                && (what.starts_with("COPY") || what.starts_with("ADD"))
            {
                format!("{what}, but only one was provided. Destination could not be determined")
            } else {
                what
            };
            format!("dockerfile parse error line {line}: {what}")
        }
        None => format!("dockerfile parse error: {msg}"),
    })
}

/// Where an instruction's keyword starts in the text.
fn keyword_start(i: &Instruction<'_>) -> usize {
    let span = match i {
        Instruction::Add(x) => &x.add.span,
        Instruction::Arg(x) => &x.arg.span,
        Instruction::Cmd(x) => &x.cmd.span,
        Instruction::Copy(x) => &x.copy.span,
        Instruction::Entrypoint(x) => &x.entrypoint.span,
        Instruction::Env(x) => &x.env.span,
        Instruction::Expose(x) => &x.expose.span,
        Instruction::From(x) => &x.from.span,
        Instruction::Healthcheck(x) => &x.healthcheck.span,
        Instruction::Label(x) => &x.label.span,
        Instruction::Maintainer(x) => &x.maintainer.span,
        Instruction::Onbuild(x) => &x.onbuild.span,
        Instruction::Run(x) => &x.run.span,
        Instruction::Shell(x) => &x.shell.span,
        Instruction::Stopsignal(x) => &x.stopsignal.span,
        Instruction::User(x) => &x.user.span,
        Instruction::Volume(x) => &x.volume.span,
        Instruction::Workdir(x) => &x.workdir.span,
        _ => return 0,
    };
    span.start
}

/// The instruction's lines as one: continuations joined, comment lines and trailing blank
/// lines dropped, the keyword upper-cased (Docker prints `RUN`, whatever was typed).
fn step_text(raw: &str, escape: char) -> String {
    let mut out = String::new();
    let mut lines = raw.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if !out.is_empty() && (t.starts_with('#') || t.is_empty()) {
            continue;
        }
        let trimmed = line.trim_end();
        match trimmed.strip_suffix(escape) {
            Some(body) if lines.peek().is_some() => out.push_str(body),
            _ => {
                out.push_str(trimmed);
                // A finished logical line: what follows belongs to here-documents or
                // is a comment before the next instruction.
                if !trimmed.contains("<<") {
                    break;
                }
                out.push('\n');
            }
        }
    }
    let out = out.trim_end().to_owned();
    match out.split_once(char::is_whitespace) {
        Some((kw, rest)) => format!("{} {}", kw.to_ascii_uppercase(), rest.trim_start()),
        None => out.to_ascii_uppercase(),
    }
}

fn flags(f: &[Flag<'_>]) -> Vec<(String, Option<String>)> {
    f.iter()
        .map(|f| {
            (
                f.name.value.to_string(),
                f.value.as_ref().map(|v| v.value.to_string()),
            )
        })
        .collect()
}

fn command(c: &Command<'_>) -> CmdForm {
    match c {
        Command::Exec(v) => CmdForm::Exec(v.value.iter().map(|s| s.value.to_string()).collect()),
        Command::Shell(s) => CmdForm::Shell(s.value.to_string()),
        _ => CmdForm::Shell(String::new()),
    }
}

fn convert(i: &Instruction<'_>, text: &str) -> Result<Instr, BuildError> {
    Ok(match i {
        Instruction::From(x) => {
            let fl = flags(&x.options);
            let mut platform = None;
            for (k, v) in fl {
                if k == "platform" {
                    platform = v;
                } else {
                    return Err(BuildError::Parse(format!(
                        "Dockerfile parse error: unknown flag: --{k}"
                    )));
                }
            }
            Instr::From {
                image: x.image.value.to_string(),
                name: x.as_.as_ref().map(|(_, n)| n.value.to_ascii_lowercase()),
                platform,
            }
        }
        Instruction::Run(x) => Instr::Run {
            cmd: command(&x.arguments),
            flags: flags(&x.options),
            heredocs: x.here_docs.iter().map(|h| h.value.to_string()).collect(),
        },
        Instruction::Cmd(x) => Instr::Cmd(command(&x.arguments)),
        Instruction::Entrypoint(x) => Instr::Entrypoint(command(&x.arguments)),
        Instruction::Env(x) => Instr::Env(x.arguments.value.to_string()),
        Instruction::Label(x) => Instr::Label(x.arguments.value.to_string()),
        Instruction::Arg(x) => Instr::Arg(x.arguments.value.to_string()),
        Instruction::Expose(x) => {
            Instr::Expose(x.arguments.iter().map(|s| s.value.to_string()).collect())
        }
        Instruction::Workdir(x) => Instr::Workdir(x.arguments.value.to_string()),
        Instruction::User(x) => Instr::User(x.arguments.value.to_string()),
        Instruction::Stopsignal(x) => Instr::Stopsignal(x.arguments.value.to_string()),
        Instruction::Maintainer(x) => Instr::Maintainer(x.name.value.to_string()),
        Instruction::Volume(x) => Instr::Volume(match &x.arguments {
            JsonOrStringArray::Json(v) => v.value.iter().map(|s| s.value.to_string()).collect(),
            JsonOrStringArray::String(v) => v.iter().map(|s| s.value.to_string()).collect(),
        }),
        Instruction::Shell(x) => {
            Instr::Shell(x.arguments.iter().map(|s| s.value.to_string()).collect())
        }
        Instruction::Healthcheck(x) => Instr::Healthcheck {
            flags: flags(&x.options),
            cmd: match &x.arguments {
                parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => {
                    Some(command(arguments))
                }
                _ => None,
            },
        },
        Instruction::Copy(x) => copy_instr(false, &x.options, &x.src, &x.dest.value)?,
        Instruction::Add(x) => copy_instr(true, &x.options, &x.src, &x.dest.value)?,
        Instruction::Onbuild(x) => {
            let start = keyword_start(&x.instruction);
            let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
            Instr::Onbuild(text[start..end].trim().to_owned())
        }
        other => {
            return Err(BuildError::Parse(format!(
                "Dockerfile parse error: unknown instruction: {other:?}"
            )));
        }
    })
}

fn copy_instr(
    add: bool,
    options: &[Flag<'_>],
    src: &[Source<'_>],
    dest: &str,
) -> Result<Instr, BuildError> {
    let mut paths = Vec::new();
    for s in src {
        match s {
            Source::Path(p) => paths.push(p.value.to_string()),
            _ => {
                return Err(BuildError::Parse(format!(
                    "{}: here-documents as sources are not supported yet",
                    if add { "ADD" } else { "COPY" }
                )));
            }
        }
    }
    Ok(Instr::Copy {
        add,
        flags: flags(options),
        src: paths,
        dest: dest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_steps_and_their_text() {
        let d = parse(
            "# comment\nARG V=1\nfrom busybox:${V} AS base\nrun echo a \\\n  && echo b\n# c\n\nENV A=1 B=2\nCOPY --chown=1:1 a b /dst/\nFROM base\nCMD [\"sh\"]\n",
        )
        .unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.global_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        let s = &d.stages[0];
        assert_eq!(s.from.text, "FROM busybox:${V} AS base");
        assert_eq!(
            s.from.instr,
            Instr::From {
                image: "busybox:${V}".into(),
                name: Some("base".into()),
                platform: None
            }
        );
        assert_eq!(s.steps[0].text, "RUN echo a   && echo b");
        assert_eq!(s.steps[1].instr, Instr::Env("A=1 B=2".into()));
        assert_eq!(
            s.steps[2].instr,
            Instr::Copy {
                add: false,
                flags: vec![("chown".into(), Some("1:1".into()))],
                src: vec!["a".into(), "b".into()],
                dest: "/dst/".into()
            }
        );
        assert_eq!(
            d.stages[1].steps[0].instr,
            Instr::Cmd(CmdForm::Exec(vec!["sh".into()]))
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(parse(""), Err(BuildError::Parse(_))));
        assert!(matches!(parse("RUN x\n"), Err(BuildError::Parse(_))));
        let e = parse("FROM a\nFOO bar\n").unwrap_err().to_string();
        assert_eq!(e, "dockerfile parse error line 2: unknown instruction: FOO");
    }

    #[test]
    fn backtick_escape_and_onbuild() {
        let d = parse("# escape=`\nFROM a\nRUN echo `\n  x\nONBUILD RUN echo hi\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.stages[0].steps[0].text, "RUN echo   x");
        assert_eq!(
            d.stages[0].steps[1].instr,
            Instr::Onbuild("RUN echo hi".into())
        );
    }
}
