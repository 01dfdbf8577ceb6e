//! Runs a Dockerfile as Docker's classic builder does: each step turns the image of the
//! step before into a new image (a commit of a container for `RUN`, `COPY` and `ADD`, a
//! config-only image for the rest), every step is cached by its parent and what it does,
//! and the output is the classic `Step 1/3 : ...` / ` ---> id` stream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::BuildError;
use crate::config::Config;
use crate::copy;
use crate::dockerfile::{self, CmdForm, Dockerfile, Instr, Step};
use crate::gofmt;
use crate::words::{Expander, name_or_name_values, name_values};

/// What the client asked for (`POST /build` parameters).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The unpacked build context.
    pub context: PathBuf,
    /// The Dockerfile's path in the context (for messages).
    pub dockerfile_name: String,
    pub tags: Vec<String>,
    /// `--build-arg`: a value, or None for a name the client had no value for.
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Remove intermediate containers after a successful step (default true).
    pub rm: bool,
    /// Remove them even when the step failed.
    pub force_rm: bool,
    /// Print nothing but errors (the client prints the ID).
    pub quiet: bool,
}

/// A base image: its ID and runtime config.
#[derive(Debug, Clone)]
pub struct Base {
    pub id: String,
    pub config: Config,
}

/// How to run one container of the build.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The whole command (the image's entrypoint is not used).
    pub cmd: Vec<String>,
    /// `KEY=value` added to the image's environment (the build arguments in scope).
    pub env: Vec<String>,
    /// Overrides the image's user (`COPY --chown` owns the files by it).
    pub user: Option<String>,
}

/// What the engine does for the builder. Calls block; the builder runs on its own thread.
pub trait Backend {
    /// Sends text to the client (`{"stream": text}`).
    fn say(&mut self, text: &str);
    /// `FROM name`: the image, pulled when missing or when `pull`.
    fn base(&mut self, name: &str, pull: bool) -> Result<Base, BuildError>;
    /// Creates (does not start) a container from `image`.
    fn create(&mut self, image: &str, spec: &RunSpec) -> Result<String, BuildError>;
    /// Starts it, streams its output to the client (or into `held`: quiet builds show it
    /// only when they fail), and returns its exit code.
    fn run(&mut self, container: &str, held: Option<&mut String>) -> Result<i64, BuildError>;
    /// Whether `path` is a directory in the container (None: it does not exist).
    fn is_dir(&mut self, container: &str, path: &str) -> Result<Option<bool>, BuildError>;
    /// Extracts the tar at `tar` into the container's `/`: owned by the container's user
    /// (root when unset) when `own`, else by the tar's owners.
    fn put(&mut self, container: &str, tar: &Path, own: bool) -> Result<(), BuildError>;
    /// Copies `path` of the container into the directory `into` (for `COPY --from`).
    fn fetch(&mut self, container: &str, path: &str, into: &Path) -> Result<(), BuildError>;
    /// The container's changes on top of `parent`, as a new image with `config`.
    fn commit(
        &mut self,
        container: &str,
        parent: &str,
        config: &Config,
        created_by: &str,
    ) -> Result<String, BuildError>;
    /// A new image with `parent`'s layers (none for scratch) and `config`; `created_by`
    /// None adds no history entry.
    fn derive(
        &mut self,
        parent: Option<&str>,
        config: &Config,
        created_by: Option<&str>,
    ) -> Result<String, BuildError>;
    fn remove(&mut self, container: &str);
    /// The `Author` of the images the stage makes from now on (`MAINTAINER`; None at a
    /// stage's start: the base image's stays).
    fn set_author(&mut self, _author: Option<&str>) {}
    /// Tags the image; returns the name as the client shows it (`x:latest`).
    fn tag(&mut self, image: &str, tag: &str) -> Result<String, BuildError>;
    /// The image a step with this key made before, if it still exists.
    fn cache_get(&mut self, key: &str) -> Option<String>;
    fn cache_put(&mut self, key: &str, image: &str);
    /// The final image (`{"aux": {"ID": ...}}`).
    fn built(&mut self, id: &str);
    /// A scratch directory for the step's files, removed by the caller.
    fn scratch_dir(&mut self) -> Result<PathBuf, BuildError>;
    /// `ADD URL`: downloads `url` into the file `to`.
    fn download(&mut self, url: &str, to: &Path) -> Result<(), BuildError>;
}

/// The PATH a stage gets when its base image sets none (dockerd's `DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Build arguments every Dockerfile may use without declaring them (Docker's list).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Where a stage's steps stand.
struct State {
    /// None until a scratch stage has its first image.
    image: Option<String>,
    config: Config,
    /// `ARG`s declared in this stage, with their values.
    args: Vec<(String, Option<String>)>,
    /// `CMD` given in this stage (an `ENTRYPOINT` then keeps it).
    cmd_set: bool,
}

impl State {
    /// The environment variables are expanded with: ARG values, then ENV (ENV wins).
    fn expand_env(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        v.extend(self.config.env.clone().unwrap_or_default());
        v
    }

    /// What `RUN` sees besides ENV, as dockerd 20.10 makes it: `KEY=value` of the ARGs
    /// with a value and of the predefined proxy arguments given with `--build-arg` (even
    /// undeclared), less those ENV sets; and the history's `|N k=v...` prefix (None when
    /// there is nothing), sorted, which leaves out undeclared proxy arguments.
    fn arg_env(
        &self,
        build_args: &BTreeMap<String, Option<String>>,
    ) -> (Vec<String>, Option<String>) {
        let env_keys: BTreeSet<&str> = self
            .config
            .env
            .iter()
            .flatten()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let mut all: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
        for (k, v) in build_args {
            if let Some(v) = v
                && PREDEFINED_ARGS.contains(&k.as_str())
            {
                all.insert(k, (v, false));
            }
        }
        for (k, v) in &self.args {
            match v {
                Some(v) => {
                    all.insert(k, (v, true));
                }
                None => {
                    if let Some((_, declared)) = all.get_mut(k.as_str()) {
                        *declared = true;
                    }
                }
            }
        }
        all.retain(|k, _| !env_keys.contains(k));
        if all.is_empty() {
            return (Vec::new(), None);
        }
        let env: Vec<String> = all.iter().map(|(k, (v, _))| format!("{k}={v}")).collect();
        let shown: Vec<String> = all
            .iter()
            .filter(|(k, (_, declared))| *declared || !PREDEFINED_ARGS.contains(k))
            .map(|(k, (v, _))| format!("{k}={v}"))
            .collect();
        let mut prefix = format!("|{}", shown.len());
        for s in &shown {
            prefix.push(' ');
            prefix.push_str(s);
        }
        (env, Some(prefix))
    }
}

pub struct Builder<'b, B: Backend> {
    be: &'b mut B,
    opts: Options,
    df: Dockerfile,
    /// Global ARG values (before the first FROM).
    global: Vec<(String, Option<String>)>,
    /// Build arguments some ARG used.
    used: BTreeSet<String>,
    /// Finished stages: by name and by index.
    stages: Vec<(Option<String>, String, Config)>,
    step: usize,
    total: usize,
    /// Containers this build made and has not removed (kept on failure unless force_rm).
    containers: Vec<String>,
    /// Quiet builds: the output, sent only when the build fails.
    held: String,
    /// Running a base image's ONBUILD triggers.
    in_triggers: bool,
}

/// Builds the Dockerfile `text` and returns the image ID.
pub fn build<B: Backend>(be: &mut B, text: &str, opts: Options) -> Result<String, BuildError> {
    let df = dockerfile::parse(text)?;
    let mut b = Builder {
        be,
        opts,
        df,
        global: Vec::new(),
        used: BTreeSet::new(),
        stages: Vec::new(),
        step: 0,
        total: 0,
        containers: Vec::new(),
        held: String::new(),
        in_triggers: false,
    };
    let res = b.run_all();
    if res.is_err() && !b.held.is_empty() {
        let held = std::mem::take(&mut b.held);
        b.be.say(&held);
    }
    // Failed steps keep their container for inspection unless --force-rm.
    if res.is_ok() || b.opts.force_rm {
        for c in std::mem::take(&mut b.containers) {
            b.be.remove(&c);
        }
    }
    res
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

impl<B: Backend> Builder<'_, B> {
    fn say(&mut self, text: &str) {
        if self.opts.quiet {
            // Kept to be shown if the build fails, as dockerd does.
            self.held.push_str(text);
        } else {
            self.be.say(text);
        }
    }

    fn run_all(&mut self) -> Result<String, BuildError> {
        let last = match &self.opts.target {
            Some(t) => {
                let t = t.to_ascii_lowercase();
                self.df
                    .stages
                    .iter()
                    .position(
                        |s| matches!(&s.from.instr, Instr::From { name: Some(n), .. } if *n == t),
                    )
                    .ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
            None => self.df.stages.len() - 1,
        };
        self.total = self.df.global_args.len()
            + self.df.stages[..=last]
                .iter()
                .map(|s| 1 + s.steps.len())
                .sum::<usize>()
            + self.opts.labels.len();
        let escape = self.df.escape;
        for g in self.df.global_args.clone() {
            self.step += 1;
            self.say(&format!("Step {}/{} : {}\n", self.step, self.total, g.text));
            let Instr::Arg(text) = &g.instr else { continue };
            for (k, default) in name_or_name_values(text, escape)? {
                let env = self.global_env();
                let default = match default {
                    Some(d) => Some(Expander::new(escape, &env).word(&d)?),
                    None => None,
                };
                let v = self.arg_value(&k, default);
                self.global.push((k, v));
            }
        }
        let mut final_id = String::new();
        for i in 0..=last {
            let stage = self.df.stages[i].clone();
            let (name, mut st) = self.from(&stage.from)?;
            for s in &stage.steps {
                self.step += 1;
                self.say(&format!("Step {}/{} : {}\n", self.step, self.total, s.text));
                self.dispatch(&mut st, s)?;
            }
            if i == last {
                // `--label`: one step each, sorted, as dockerd 20.10 adds them.
                for (k, v) in self.opts.labels.clone() {
                    self.step += 1;
                    self.say(&format!(
                        "Step {}/{} : LABEL {k}={v}\n",
                        self.step, self.total
                    ));
                    st.config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k.clone(), v.clone());
                    self.meta(&mut st, &format!("LABEL {k}={v}"))?;
                }
            }
            let id = match &st.image {
                Some(id) => id.clone(),
                None if i == last => {
                    return Err(BuildError::Invalid(
                        "No image was generated. Is your Dockerfile empty?".into(),
                    ));
                }
                None => {
                    let id = self.be.derive(None, &st.config, None)?;
                    st.image = Some(id.clone());
                    id
                }
            };
            self.stages.push((name, id.clone(), st.config));
            final_id = id;
        }
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.used.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let list = unused
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            self.say(&format!(
                "[Warning] One or more build-args [{list}] were not consumed\n"
            ));
        }
        self.be.built(&final_id);
        if self.opts.quiet {
            // Quiet: the ID is all the client prints.
            self.be.say(&format!("{final_id}\n"));
        }
        self.say(&format!("Successfully built {}\n", short(&final_id)));
        for t in self.opts.tags.clone() {
            let shown = self.be.tag(&final_id, &t)?;
            self.say(&format!("Successfully tagged {shown}\n"));
        }
        Ok(final_id)
    }

    fn global_env(&self) -> Vec<String> {
        self.global
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect()
    }

    /// An ARG's value: the build argument when given, else its default.
    fn arg_value(&mut self, name: &str, default: Option<String>) -> Option<String> {
        match self.opts.build_args.get(name) {
            Some(v) => {
                self.used.insert(name.to_owned());
                v.clone().or(default)
            }
            None => default,
        }
    }

    fn from(&mut self, from: &Step) -> Result<(Option<String>, State), BuildError> {
        self.step += 1;
        self.say(&format!(
            "Step {}/{} : {}\n",
            self.step, self.total, from.text
        ));
        let Instr::From { image, name, .. } = &from.instr else {
            unreachable!("a stage starts with FROM")
        };
        let env = self.global_env();
        let image = Expander::new(self.df.escape, &env).word(image)?;
        if image.is_empty() {
            return Err(BuildError::Invalid(
                "base name (${}) should not be blank".into(),
            ));
        }
        let earlier = self
            .stages
            .iter()
            .enumerate()
            // By name only (case-insensitively): `FROM 0` is an image named 0, as with dockerd.
            .find(|(_, (n, _, _))| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&image)))
            .map(|(_, (_, id, cfg))| (id.clone(), cfg.clone()));
        let (id, config) = if image == "scratch" {
            (None, Config::default())
        } else if let Some((id, cfg)) = earlier {
            (Some(id), cfg)
        } else {
            let base = self.be.base(&image, self.opts.pull)?;
            (Some(base.id), base.config)
        };
        let has_triggers = config.on_build.as_ref().is_some_and(|t| !t.is_empty());
        match &id {
            // With triggers, the ID shown is the image they end with.
            _ if has_triggers => {}
            Some(id) => self.say(&format!(" ---> {}\n", short(id))),
            None => self.say(" ---> \n"),
        }
        let mut st = State {
            image: id,
            config,
            args: Vec::new(),
            cmd_set: false,
        };
        self.be.set_author(None);
        // dockerd gives every stage a PATH when its base has none (scratch too).
        if !st
            .config
            .env
            .iter()
            .flatten()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == "PATH")
        {
            st.config
                .env
                .get_or_insert_with(Vec::new)
                .push(format!("PATH={DEFAULT_PATH}"));
        }
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            let n = triggers.len();
            self.say(&format!(
                "# Executing {n} build trigger{}\n",
                if n == 1 { "" } else { "s" }
            ));
            for t in triggers {
                let df = dockerfile::parse(&format!("FROM scratch\n{t}\n"))?;
                for s in &df.stages[0].steps {
                    if matches!(s.instr, Instr::Onbuild(_) | Instr::From { .. }) {
                        return Err(BuildError::Invalid(format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            s.text.split_whitespace().next().unwrap_or("")
                        )));
                    }
                    self.in_triggers = true;
                    let res = self.dispatch(&mut st, s);
                    self.in_triggers = false;
                    res?;
                }
            }
            let shown = st.image.as_deref().map(short).unwrap_or("").to_owned();
            self.say(&format!(" ---> {shown}\n"));
        }
        Ok((name.clone(), st))
    }

    fn dispatch(&mut self, st: &mut State, s: &Step) -> Result<(), BuildError> {
        let esc = self.df.escape;
        let env = st.expand_env();
        let x = Expander::new(esc, &env);
        match &s.instr {
            Instr::From { .. } => unreachable!("FROM starts a stage"),
            Instr::Env(raw) => {
                let mut comment = String::from("ENV");
                // Every pair sees the environment from before the instruction, as dockerd
                // expands the whole line first: `ENV a=1 b=$a` leaves b what $a was.
                let env = st.expand_env();
                let x = Expander::new(esc, &env);
                for (k, v) in name_values(raw, esc, "ENV")? {
                    let (k, v) = (x.word(&k)?, x.word(&v)?);
                    if k.is_empty() {
                        return Err(BuildError::Invalid("ENV names can not be blank".into()));
                    }
                    st.config.set_env(&k, &v);
                    comment.push_str(&format!(" {k}={v}"));
                }
                self.meta(st, &comment)
            }
            Instr::Label(raw) => {
                let mut comment = String::from("LABEL");
                for (k, v) in name_values(raw, esc, "LABEL")? {
                    let (k, v) = (x.word(&k)?, x.word(&v)?);
                    comment.push_str(&format!(" {k}={v}"));
                    st.config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, v);
                }
                self.meta(st, &comment)
            }
            Instr::Arg(raw) => {
                let mut shown = Vec::new();
                for (k, default) in name_or_name_values(raw, esc)? {
                    let declared = match default {
                        Some(d) => Some(Expander::new(esc, &st.expand_env()).word(&d)?),
                        None => None,
                    };
                    shown.push(match &declared {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    let default = match declared {
                        Some(d) => Some(d),
                        // A global ARG redeclared without a value takes the global value.
                        None => self
                            .global
                            .iter()
                            .find(|(g, _)| *g == k)
                            .and_then(|(_, v)| v.clone()),
                    };
                    let v = self.arg_value(&k, default);
                    st.args.retain(|(a, _)| *a != k);
                    st.args.push((k, v));
                }
                self.meta(st, &format!("ARG {}", shown.join(" ")))
            }
            Instr::Cmd(c) => {
                let cmd = self.command(st, c);
                let comment = format!("CMD {}", gofmt::quote_list(&cmd));
                st.config.cmd = Some(cmd);
                st.cmd_set = true;
                self.meta(st, &comment)
            }
            Instr::Entrypoint(c) => {
                let ep = self.command(st, c);
                let comment = format!("ENTRYPOINT {}", gofmt::quote_list(&ep));
                st.config.entrypoint = Some(ep);
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                self.meta(st, &comment)
            }
            Instr::Expose(ports) => {
                let mut set = st.config.exposed_ports.take().unwrap_or_default();
                // dockerd sorts the words as written, then expands them.
                let mut sorted = ports.clone();
                sorted.sort();
                let mut shown = Vec::new();
                for p in &sorted {
                    for w in x.words(p)? {
                        for port in expand_ports(&w)? {
                            set.insert(port, json!({}));
                        }
                        shown.push(w);
                    }
                }
                st.config.exposed_ports = Some(set);
                self.meta(st, &format!("EXPOSE {}", shown.join(" ")))
            }
            Instr::Workdir(w) => {
                let w = x.word(w)?;
                let base = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
                let wd = clean_abs(&if w.starts_with('/') {
                    w
                } else {
                    format!("{base}/{w}")
                });
                st.config.working_dir = Some(wd.clone());
                // dockerd's WORKDIR history has one space after `#(nop)`, the others two.
                self.meta_in(st, &format!("\u{0}WORKDIR {wd}"), Some(&wd))
            }
            Instr::User(u) => {
                let u = x.word(u)?;
                st.config.user = Some(u.clone());
                self.meta(st, &format!("USER {u}"))
            }
            Instr::Volume(vols) => {
                let mut set = st.config.volumes.take().unwrap_or_default();
                let mut shown = Vec::new();
                for v in vols {
                    let v = x.word(v)?;
                    if v.trim().is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    shown.push(v.clone());
                    set.insert(v, json!({}));
                }
                st.config.volumes = Some(set);
                self.meta(st, &format!("VOLUME {}", gofmt::list(&shown)))
            }
            Instr::Stopsignal(sig) => {
                let sig = x.word(sig)?;
                st.config.stop_signal = Some(sig.clone());
                self.meta(st, &format!("STOPSIGNAL {sig}"))
            }
            Instr::Shell(sh) => {
                st.config.shell = Some(sh.clone());
                self.meta(st, &format!("SHELL {}", gofmt::list(sh)))
            }
            Instr::Maintainer(m) => {
                self.be.set_author(Some(m));
                self.meta(st, &format!("MAINTAINER {m}"))
            }
            Instr::Onbuild(trigger) => {
                let t = trigger.trim();
                let kw = t
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if kw == "ONBUILD" || kw == "FROM" || kw == "MAINTAINER" {
                    return Err(BuildError::Invalid(format!(
                        "{kw} isn't allowed as an ONBUILD trigger"
                    )));
                }
                st.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.to_owned());
                self.meta(st, &format!("ONBUILD {t}"))
            }
            Instr::Healthcheck { flags, cmd } => {
                let hc = crate::healthcheck::of_instruction(flags, cmd.as_ref())
                    .map_err(BuildError::Invalid)?;
                if let Some(old) = st
                    .config
                    .healthcheck
                    .as_ref()
                    .and_then(|h| h["Test"].as_array())
                    && old
                        .first()
                        .and_then(Value::as_str)
                        .is_some_and(|t| t != "NONE")
                {
                    let old: Vec<String> = old
                        .iter()
                        .map(|v| v.as_str().unwrap_or("").to_owned())
                        .collect();
                    self.say(&format!(
                        "Note: overriding previous HEALTHCHECK: {}\n",
                        gofmt::list(&old)
                    ));
                }
                let comment = format!("HEALTHCHECK {}", healthcheck_text(&hc));
                st.config.healthcheck = Some(hc);
                self.meta(st, &comment)
            }
            Instr::Run {
                cmd,
                flags,
                heredocs,
            } => self.run(st, cmd, flags, heredocs),
            Instr::Copy {
                add,
                flags,
                src,
                dest,
            } => self.copy(st, *add, flags, src, dest),
        }
    }

    /// CMD/ENTRYPOINT arguments: exec form as is, shell form through the shell.
    fn command(&self, st: &State, c: &CmdForm) -> Vec<String> {
        match c {
            CmdForm::Exec(v) => v.clone(),
            CmdForm::Shell(s) => {
                let mut v = st.config.shell_or_default();
                v.push(s.clone());
                v
            }
        }
    }

    /// A step that only changes the config: a new image with the same layers. `comment`
    /// is the history's text after `#(nop)` (a leading NUL: one space instead of two).
    fn meta(&mut self, st: &mut State, comment: &str) -> Result<(), BuildError> {
        self.meta_in(st, comment, None)
    }

    /// [`Self::meta`]; `workdir`: also make that directory in the image.
    fn meta_in(
        &mut self,
        st: &mut State,
        comment: &str,
        workdir: Option<&str>,
    ) -> Result<(), BuildError> {
        let shell = st.config.shell_or_default().join(" ");
        let created_by = match comment.strip_prefix('\0') {
            Some(c) => format!("{shell} #(nop) {c}"),
            None => format!("{shell} #(nop)  {comment}"),
        };
        let key = cache_key(st.image.as_deref(), &created_by, &st.config, &[]);
        if let Some(id) = self.cached(&key) {
            st.image = Some(id);
            return Ok(());
        }
        // A step that only changes the config needs no container (dockerd makes one for
        // each, shown as `Running in`; berth skips that cost). WORKDIR does: it makes its
        // directory in the image.
        let Some(wd) = workdir else {
            let id = self
                .be
                .derive(st.image.as_deref(), &st.config, Some(&created_by))?;
            self.be.cache_put(&key, &id);
            self.done(&id);
            st.image = Some(id);
            return Ok(());
        };
        let parent = self.image_for_container(st)?;
        let spec = RunSpec {
            cmd: created_by.split(' ').map(str::to_owned).collect(),
            env: Vec::new(),
            user: Some(String::new()),
        };
        let c = self.be.create(&parent, &spec)?;
        self.containers.push(c.clone());
        self.say(&format!(" ---> Running in {}\n", short(&c)));
        let id = match self.make_workdir(&c, &parent, st, wd, &created_by)? {
            Some(id) => id,
            None => self
                .be
                .derive(Some(&parent), &st.config, Some(&created_by))?,
        };
        self.be.cache_put(&key, &id);
        if self.opts.rm {
            self.be.remove(&c);
            self.containers.retain(|x| *x != c);
            self.say(&format!("Removing intermediate container {}\n", short(&c)));
        }
        self.done(&id);
        st.image = Some(id);
        Ok(())
    }

    /// The directories on the way to `path` (absolute) the container does not have.
    fn missing_dirs(&mut self, c: &str, path: &str) -> Result<Vec<String>, BuildError> {
        let mut missing = Vec::new();
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            if !missing.is_empty() || self.be.is_dir(c, &at)?.is_none() {
                missing.push(at.clone());
            }
        }
        Ok(missing)
    }

    /// `WORKDIR`: the directories missing on the way to `wd` made in the container (0755,
    /// root's, as dockerd does), and committed; None when they all exist.
    fn make_workdir(
        &mut self,
        c: &str,
        parent: &str,
        st: &State,
        wd: &str,
        created_by: &str,
    ) -> Result<Option<String>, BuildError> {
        let missing = self.missing_dirs(c, wd)?;
        if missing.is_empty() {
            return Ok(None);
        }
        let scratch = self.be.scratch_dir()?;
        let tar = scratch.join("workdir.tar");
        let res = (|| {
            copy::pack_dirs(&missing, &tar)?;
            self.be.put(c, &tar, false)?;
            self.be.commit(c, parent, &st.config, created_by)
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        res.map(Some)
    }

    /// ` ---> id` after a step (an ONBUILD trigger's is left out: dockerd shows one for
    /// the whole FROM).
    fn done(&mut self, id: &str) {
        if !self.in_triggers {
            self.say(&format!(" ---> {}\n", short(id)));
        }
    }

    fn cached(&mut self, key: &str) -> Option<String> {
        if self.opts.no_cache {
            return None;
        }
        let id = self.be.cache_get(key)?;
        self.say(" ---> Using cache\n");
        self.done(&id);
        Some(id)
    }

    /// The image a container step starts from (a scratch stage gets an empty one).
    fn image_for_container(&mut self, st: &mut State) -> Result<String, BuildError> {
        if let Some(id) = &st.image {
            return Ok(id.clone());
        }
        let id = self.be.derive(None, &st.config, None)?;
        st.image = Some(id.clone());
        Ok(id)
    }

    fn run(
        &mut self,
        st: &mut State,
        cmd: &CmdForm,
        flags: &[(String, Option<String>)],
        heredocs: &[String],
    ) -> Result<(), BuildError> {
        if let Some((f, _)) = flags.first() {
            return Err(BuildError::Invalid(format!(
                "the --{f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
            )));
        }
        let argv = match cmd {
            CmdForm::Shell(s) if s.trim_start().starts_with("<<") && !heredocs.is_empty() => {
                let mut v = st.config.shell_or_default();
                v.push(heredocs.concat());
                v
            }
            other => self.command(st, other),
        };
        let (args, prefix) = st.arg_env(&self.opts.build_args);
        let shown = argv.join(" ");
        let created_by = match prefix {
            Some(p) => format!("{p} {shown}"),
            None => shown.clone(),
        };
        let parent = self.image_for_container(st)?;
        let key = cache_key(Some(&parent), &created_by, &st.config, &[]);
        if let Some(id) = self.cached(&key) {
            st.image = Some(id);
            return Ok(());
        }
        let spec = RunSpec {
            cmd: argv,
            env: args,
            user: None,
        };
        let c = self.be.create(&parent, &spec)?;
        self.containers.push(c.clone());
        self.say(&format!(" ---> Running in {}\n", short(&c)));
        let held = self.opts.quiet.then_some(&mut self.held);
        let code = self.be.run(&c, held)?;
        if code != 0 {
            return Err(BuildError::Run { cmd: shown, code });
        }
        let id = self.be.commit(&c, &parent, &st.config, &created_by)?;
        self.be.cache_put(&key, &id);
        if self.opts.rm {
            self.be.remove(&c);
            self.containers.retain(|x| *x != c);
            self.say(&format!("Removing intermediate container {}\n", short(&c)));
        }
        self.done(&id);
        st.image = Some(id);
        Ok(())
    }

    fn copy(
        &mut self,
        st: &mut State,
        add: bool,
        flags: &[(String, Option<String>)],
        src: &[String],
        dest: &str,
    ) -> Result<(), BuildError> {
        let what = if add { "ADD" } else { "COPY" };
        let env = st.expand_env();
        let x = Expander::new(self.df.escape, &env);
        let mut chown = None;
        let mut chown_shown = String::new();
        let mut from = None;
        for (k, v) in flags {
            match (k.as_str(), v) {
                ("chown", Some(v)) => {
                    // A user alone is also the group, looked up by that name (dockerd).
                    let v = x.word(v)?;
                    chown_shown = format!("--chown={v}");
                    chown = Some(if v.contains(':') {
                        v
                    } else {
                        format!("{v}:{v}")
                    });
                }
                ("from", Some(v)) if !add => from = Some(x.word(v)?),
                ("chmod" | "link" | "parents" | "exclude" | "checksum" | "keep-git-dir", _) => {
                    return Err(BuildError::Invalid(format!(
                        "the --{k} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
                    )));
                }
                _ => {
                    return Err(BuildError::Invalid(format!(
                        "Dockerfile parse error: unknown flag: {k}"
                    )));
                }
            }
        }
        let srcs: Vec<String> = src.iter().map(|s| x.word(s)).collect::<Result<_, _>>()?;
        let dest_raw = x.word(dest)?;
        let workdir = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
        let dest_abs = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{workdir}/{dest_raw}")
        };
        let trailing = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest_clean = clean_abs(&dest_abs);

        let scratch = self.be.scratch_dir()?;
        let res = (|| {
            let (urls, local): (Vec<&String>, Vec<&String>) =
                srcs.iter().partition(|s| copy::is_url(s));
            if !add && !urls.is_empty() {
                return Err(BuildError::Invalid(
                    "COPY failed: source can't be a URL for COPY".into(),
                ));
            }
            let (root, names) = match &from {
                // Fetched sources sit in the scratch dir, named as they are found there.
                Some(f) => self.fetch_from(f, &srcs, &scratch)?,
                None => (
                    self.opts.context.clone(),
                    local.iter().map(|s| s.to_string()).collect(),
                ),
            };
            let mut sources = if names.is_empty() {
                Vec::new()
            } else {
                copy::resolve_sources(&root, &names, what)?
            };
            for (i, url) in urls.iter().enumerate() {
                sources.push(self.download(url, &scratch.join(format!("url-{i}")), trailing)?);
            }
            if sources.len() > 1 && !trailing {
                return Err(BuildError::Invalid(format!(
                    "When using {what} with more than one source file, the destination must be a directory and end with a /"
                )));
            }
            let parent = self.image_for_container(st)?;
            let spec = RunSpec {
                user: Some(chown.clone().unwrap_or_default()),
                ..RunSpec::default()
            };
            let c = self.be.create(&parent, &spec).map_err(chown_error)?;
            self.containers.push(c.clone());
            let single_file = sources.len() == 1
                && std::fs::symlink_metadata(&sources[0].host).is_ok_and(|m| !m.is_dir());
            let dest_dir = trailing
                || sources.len() > 1
                || (single_file && self.be.is_dir(&c, &dest_clean)? == Some(true));
            let tar = scratch.join("copy.tar");
            let packed = copy::pack(&sources, &dest_clean, dest_dir, add, &tar)?;
            // dockerd shows the destination as written (variables expanded), after the
            // shell of the moment.
            let created_by = format!(
                "{} #(nop) {what} {chown_shown}{}:{} in {dest_raw} ",
                st.config.shell_or_default().join(" "),
                packed.kind,
                packed.digest
            );
            let key = cache_key(
                Some(&parent),
                &created_by,
                &st.config,
                &[chown.clone().unwrap_or_default()],
            );
            let id = match self.cached(&key) {
                Some(id) => id,
                None => {
                    // Without --chown: the context's files are root's (as the client sends
                    // them), an ADDed archive's and a COPY --from's keep their owners.
                    if chown.is_some() {
                        // The directories the copy creates are the --chown user's too.
                        let into = if dest_dir || !single_file {
                            dest_clean.clone()
                        } else {
                            parent_of(&dest_clean)
                        };
                        let missing = self.missing_dirs(&c, &into)?;
                        if !missing.is_empty() {
                            let dirs = scratch.join("dirs.tar");
                            copy::pack_dirs(&missing, &dirs)?;
                            self.be.put(&c, &dirs, true).map_err(chown_error)?;
                        }
                    }
                    self.be
                        .put(&c, &tar, chown.is_some())
                        .map_err(chown_error)?;
                    let id = self.be.commit(&c, &parent, &st.config, &created_by)?;
                    self.be.cache_put(&key, &id);
                    self.done(&id);
                    id
                }
            };
            self.be.remove(&c);
            self.containers.retain(|x| *x != c);
            st.image = Some(id);
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        res
    }

    /// `ADD URL`: the file downloaded into `dir`, named after the URL's last path segment
    /// (which a destination directory needs), owner-only readable as with Docker.
    fn download(
        &mut self,
        url: &str,
        dir: &Path,
        dest_dir: bool,
    ) -> Result<copy::Source, BuildError> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
        let name = after_host.rsplit('/').next().unwrap_or("").to_owned();
        if name.is_empty() && dest_dir {
            return Err(BuildError::Invalid(format!(
                "cannot determine filename from url: {url}"
            )));
        }
        let name = if name.is_empty() {
            "download".to_owned()
        } else {
            name
        };
        std::fs::create_dir_all(dir).map_err(BuildError::io("scratch dir"))?;
        let file = dir.join(&name);
        self.be.download(url, &file)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(BuildError::io("downloaded file"))?;
        Ok(copy::Source {
            host: file,
            name,
            downloaded: true,
        })
    }

    /// `COPY --from`: the sources copied out of a stage or an image into `into`.
    fn fetch_from(
        &mut self,
        from: &str,
        srcs: &[String],
        into: &Path,
    ) -> Result<(PathBuf, Vec<String>), BuildError> {
        let from_l = from.to_ascii_lowercase();
        let image =
            match self.stages.iter().enumerate().find(|(i, (n, _, _))| {
                n.as_deref() == Some(from_l.as_str()) || i.to_string() == from
            }) {
                Some((_, (_, id, _))) => id.clone(),
                None => self.be.base(from, false)?.id,
            };
        let c = self.be.create(&image, &RunSpec::default())?;
        let dir = into.join("from");
        let mut names = Vec::new();
        let res = srcs.iter().enumerate().try_for_each(|(i, s)| {
            // Each source in a directory of its own; a wildcard's fixed leading part is
            // fetched and the pattern matched in it.
            let sub = dir.join(i.to_string());
            std::fs::create_dir_all(&sub).map_err(BuildError::io("scratch dir"))?;
            let path = clean_abs(s);
            let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            let fixed = comps
                .iter()
                .position(|c| copy::has_wildcards(c))
                .unwrap_or(comps.len());
            if fixed == 0 && !comps.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "COPY --from: a wildcard at the top of the image ({s}) is not supported by berth; name a directory first"
                )));
            }
            let top = format!("/{}", comps[..fixed].join("/"));
            self.be.fetch(&c, &top, &sub)?;
            let mut name = vec![i.to_string(), base_name(&top)];
            name.extend(comps[fixed..].iter().map(|c| c.to_string()));
            names.push(name.join("/"));
            Ok(())
        });
        self.be.remove(&c);
        res.map(|_| (dir, names))
    }
}

/// `COPY --chown` of a name the image does not know, worded as dockerd words it.
fn chown_error(e: BuildError) -> BuildError {
    let BuildError::Backend(msg) = &e else {
        return e;
    };
    let conv = "unable to convert uid/gid chown string to host mapping";
    if let Some(u) = msg
        .strip_prefix("unable to find user ")
        .and_then(|r| r.strip_suffix(": no matching entries in passwd file"))
    {
        return BuildError::Invalid(format!(
            "{conv}: can't find uid for user {u}: no such user: {u}"
        ));
    }
    if let Some(g) = msg
        .strip_prefix("unable to find group ")
        .and_then(|r| r.strip_suffix(": no matching entries in group file"))
    {
        return BuildError::Invalid(format!(
            "{conv}: can't find gid for group {g}: no such group: {g}"
        ));
    }
    e
}

/// `/a/b` → `/a`; `/a` → `/`.
fn parent_of(p: &str) -> String {
    match p.rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((a, _)) => a.to_owned(),
    }
}

fn base_name(s: &str) -> String {
    let t = s.trim_end_matches('/');
    let b = t.rsplit('/').next().unwrap_or(t);
    if b.is_empty() || b == "." {
        ".".into()
    } else {
        b.to_owned()
    }
}

/// A cleaned absolute path (`/a/./b/../c` → `/a/c`).
pub fn clean_abs(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The cache key of a step: its parent, what it did, and the config it runs with.
fn cache_key(parent: Option<&str>, created_by: &str, cfg: &Config, extra: &[String]) -> String {
    use sha2::Digest as _;
    let v = json!({
        "parent": parent,
        "created_by": created_by,
        "config": cfg,
        "extra": extra,
    });
    hex::encode(sha2::Sha256::digest(v.to_string().as_bytes()))
}

/// `EXPOSE 80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... (ranges expanded, as Docker does).
fn expand_ports(w: &str) -> Result<Vec<String>, BuildError> {
    let (ports, proto) = match w.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (w, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::Invalid(format!("Invalid proto: {proto}")));
    }
    // `ip:hostPort:containerPort` and `hostPort:containerPort` expose the container port.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let bad = || BuildError::Invalid(format!("Invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `%q` of dockerd 20.10's `*HealthConfig` (`HEALTHCHECK` history):
/// `&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x02'}`.
fn healthcheck_text(hc: &Value) -> String {
    let test: Vec<String> = hc["Test"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let d = |k: &str| gofmt::quote(&gofmt::duration(hc[k].as_i64().unwrap_or(0)));
    format!(
        "&{{{} {} {} {} {}}}",
        gofmt::quote_list(&test),
        d("Interval"),
        d("Timeout"),
        d("StartPeriod"),
        gofmt::quote_rune(hc["Retries"].as_i64().unwrap_or(0))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_paths_durations() {
        assert_eq!(expand_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expand_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            expand_ports("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expand_ports("x").is_err());
        assert_eq!(clean_abs("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_abs("rel"), "/rel");
        assert_eq!(crate::gofmt::parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(crate::gofmt::parse_duration("500ms"), Some(500_000_000));
        assert_eq!(crate::gofmt::parse_duration("5x"), None);
    }

    #[test]
    fn run_sees_build_args_as_dockerd_records_them() {
        let st = |args: &[(&str, Option<&str>)], env: &[&str]| State {
            image: None,
            config: Config {
                env: Some(env.iter().map(|s| s.to_string()).collect()),
                ..Config::default()
            },
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
                .collect(),
            cmd_set: false,
        };
        let given: BTreeMap<String, Option<String>> = [
            ("HTTP_PROXY".to_owned(), Some("p".to_owned())),
            ("B".to_owned(), Some("9".to_owned())),
        ]
        .into_iter()
        .collect();
        // Sorted; an undeclared proxy argument is in the environment, not the history.
        let (env, prefix) = st(&[("B", Some("9")), ("A", Some("1"))], &[]).arg_env(&given);
        assert_eq!(env, ["A=1", "B=9", "HTTP_PROXY=p"]);
        assert_eq!(prefix.as_deref(), Some("|2 A=1 B=9"));
        // ENV hides an ARG of the same name; the proxy alone still makes a `|0`.
        let (env, prefix) = st(&[("A", Some("1"))], &["A=2"]).arg_env(&given);
        assert_eq!(env, ["HTTP_PROXY=p"]);
        assert_eq!(prefix.as_deref(), Some("|0"));
        // Nothing at all: no prefix.
        let (env, prefix) = st(&[("N", None)], &[]).arg_env(&BTreeMap::new());
        assert!(env.is_empty() && prefix.is_none());
    }
}
