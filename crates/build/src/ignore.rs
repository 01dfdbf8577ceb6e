//! `.dockerignore` patterns, read and applied as the docker CLI and moby's patternmatcher
//! do, so that a context packed by berth holds the same files as one packed by docker.
//!
//! What a pattern means:
//! - one per line; a line starting with `#` is a comment (only in the first column:
//!   ` #x` is a pattern), blank lines are skipped, surrounding whitespace is trimmed;
//! - a pattern is cleaned as Go's `filepath.Clean` cleans a path (`./a//b/` is `a/b`) and
//!   a leading `/` is dropped: patterns are relative to the context's root;
//! - `*` is any run of characters but `/`, `?` one character but `/`, `[a-z]` / `[^a-z]` a
//!   class (which, as in docker, may match `/`), `\x` the character `x`;
//! - `**` is any number of whole path segments (`**/*.go` matches `a.go` and `x/y/a.go`),
//!   and at the end anything at all (`dir/**` is everything under `dir`);
//! - a pattern matches a path or any of its parent directories (`dir` excludes
//!   `dir/a/b`);
//! - `!pattern` is an exception: a later exception re-includes what an earlier pattern
//!   excluded, and a later pattern excludes again; the last one that matches wins.
//!
//! Where docker's matcher (a regular expression built from the pattern) differs from Go's
//! `filepath.Match`, docker's wins: `a**b` matches `ab` and `a/x/b` but not `axb`. One
//! deliberate difference: inside `[...]` a `*` or `?` is the character itself, where
//! docker's translation produces a broken expression.

use std::fmt;

/// A `.dockerignore` that cannot be used, worded as docker words it (the CLI prefixes
/// `error checking context: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A line that is a `!` and nothing else.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    /// Malformed glob syntax (an unclosed `[`, a trailing `\`, an empty class).
    #[error("syntax error in pattern")]
    BadPattern(String),
}

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

/// What each pattern made of a directory, so its entries need not test the directory's
/// own ancestors again (docker's `MatchInfo`). Get one from [`Ignore::matches_in`].
#[derive(Debug, Clone, Default)]
pub struct DirMatch(Vec<bool>);

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`.
    text: String,
    exception: bool,
    /// How many path segments the pattern has.
    depth: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the path itself.
    Exact,
    /// Literal text then a trailing `**`: paths starting with the text.
    Prefix(String),
    /// A leading `**` then literal text: paths ending with the text.
    Suffix(String),
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**` (with its `/`) before more pattern: nothing, or anything ending in `/`.
    Segments,
    /// A trailing `**` after a wildcard: anything.
    Rest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Ignore {
    /// Reads a `.dockerignore` file's text (docker's `ignorefile.ReadAll`, then
    /// `patternmatcher.New`).
    pub fn parse(text: &str) -> Result<Ignore, Error> {
        let mut lines = Vec::new();
        for (n, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = if n == 0 {
                line.strip_prefix('\u{feff}').unwrap_or(line)
            } else {
                line
            };
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (bang, rest) = match line.strip_prefix('!') {
                Some(r) => ("!", r.trim()),
                None => ("", line),
            };
            let mut p = String::new();
            if !rest.is_empty() {
                p = clean(rest);
                if p.len() > 1 && p.starts_with('/') {
                    p.remove(0);
                }
            }
            lines.push(format!("{bang}{p}"));
        }
        Ignore::from_patterns(lines.iter().map(String::as_str))
    }

    /// The matcher for patterns given one by one (`!` marking exceptions), as docker's
    /// `patternmatcher.New` takes them: trimmed, blanks skipped, each cleaned.
    pub fn from_patterns<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Ignore, Error> {
        let mut ig = Ignore::default();
        for p in patterns {
            let p = p.trim();
            if !p.is_empty() {
                ig.push(p)?;
            }
        }
        Ok(ig)
    }

    fn push(&mut self, pattern: &str) -> Result<(), Error> {
        let p = clean(pattern);
        let (exception, text) = match p.strip_prefix('!') {
            Some("") => return Err(Error::LoneExclamation),
            Some(t) => (true, t.to_owned()),
            None => (false, p),
        };
        check_syntax(&text)?;
        self.exceptions |= exception;
        self.patterns.push(Pattern {
            depth: text.split('/').count(),
            kind: compile(&text),
            text,
            exception,
        });
        Ok(())
    }

    /// Adds an exception for `path`, after the other patterns (docker's CLI does this for
    /// the Dockerfile and the `.dockerignore`, which are always sent).
    pub fn keep(&mut self, path: &str) {
        // (a path has no syntax that could fail; a bad one would just never match)
        let _ = self.push(&format!("!{path}"));
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (`!...`).
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// Whether `rel_path` (slash-separated, relative to the context's root) is excluded:
    /// by a pattern matching it or one of its parent directories, and no later exception
    /// (docker's `MatchesOrParentMatches`).
    pub fn matches(&self, rel_path: &str) -> bool {
        let parents = parent_dirs(rel_path);
        let mut excluded = false;
        for p in &self.patterns {
            if p.exception != excluded {
                continue;
            }
            let hit = p.matches(rel_path) || parents.iter().any(|d| p.matches(&rel_path[..*d]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// docker's older `Matches`, which tries a pattern of N segments against the path's
    /// first N-segment parent only. The docker CLI still uses it to decide whether the
    /// Dockerfile and `.dockerignore` need their exceptions, so [`Ignore::keep`] follows it.
    pub fn matches_shallow(&self, rel_path: &str) -> bool {
        let parents = parent_dirs(rel_path);
        let mut excluded = false;
        for p in &self.patterns {
            if p.exception != excluded {
                continue;
            }
            let mut hit = p.matches(rel_path);
            if !hit && !parents.is_empty() && p.depth <= parents.len() {
                hit = p.matches(&rel_path[..parents[p.depth - 1]]);
            }
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// [`Ignore::matches`] for an entry met while walking the context, given what its
    /// directory got (None for an entry of the root): whether it is excluded, and what to
    /// pass for its own entries if it is a directory (docker's
    /// `MatchesUsingParentResults`, which the docker CLI's context walk uses).
    pub fn matches_in(&self, rel_path: &str, dir: Option<&DirMatch>) -> (bool, DirMatch) {
        let mut excluded = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = dir.is_some_and(|d| d.0.get(i) == Some(&true));
            if !hit {
                if p.exception != excluded {
                    continue;
                }
                hit = p.matches(rel_path)
                    || (dir.is_none()
                        && parent_dirs(rel_path)
                            .iter()
                            .any(|d| p.matches(&rel_path[..*d])));
            }
            info[i] = hit;
            if hit {
                excluded = !p.exception;
            }
        }
        (excluded, DirMatch(info))
    }

    /// Whether an excluded directory must still be walked because an exception may
    /// re-include something under it. As docker: only an exception spelled with the
    /// directory's path as its start counts (`!dir/keep` for `dir`, not `!**/keep`).
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .any(|p| p.exception && format!("{}/", p.text).starts_with(&dir_slash))
    }
}

impl fmt::Display for Ignore {
    /// The patterns, one a line, as the matcher holds them (cleaned).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.patterns {
            writeln!(f, "{}{}", if p.exception { "!" } else { "" }, p.text)?;
        }
        Ok(())
    }
}

/// The byte lengths of each parent directory of `path` (`a/b/c` → `a`, `a/b`), none for
/// a path without `/` (Go's `filepath.Dir` is `.` then).
fn parent_dirs(path: &str) -> Vec<usize> {
    let Some(last) = path.rfind('/') else {
        return Vec::new();
    };
    let dir = &path[..last];
    let mut ends: Vec<usize> = dir.match_indices('/').map(|(i, _)| i).collect();
    ends.push(dir.len());
    ends
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => {
                let chars: Vec<char> = path.chars().collect();
                glob(toks, &chars)
            }
        }
    }
}

/// Backtracking match of the whole of `s` against `toks`.
fn glob(toks: &[Tok], s: &[char]) -> bool {
    let Some((t, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match t {
        Tok::Lit(c) => s.first() == Some(c) && glob(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && glob(rest, &s[1..]),
        Tok::Class { negated, ranges } => {
            s.first()
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated)
                && glob(rest, &s[1..])
        }
        Tok::Star => {
            let run = s.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| glob(rest, &s[n..]))
        }
        Tok::Rest => (0..=s.len()).any(|n| glob(rest, &s[n..])),
        Tok::Segments => {
            glob(rest, s)
                || s.iter()
                    .enumerate()
                    .any(|(i, c)| *c == '/' && glob(rest, &s[i + 1..]))
        }
    }
}

/// The pattern's kind, as docker's patternmatcher classifies it (literal, literal then
/// `**`, `**` then literal, else a glob).
fn compile(p: &str) -> Kind {
    #[derive(PartialEq)]
    enum K {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut kind = K::Exact;
    let mut j = 0;
    let mut step = 0;
    while j < chars.len() {
        let ch = chars[j];
        j += 1;
        match ch {
            '*' if chars.get(j) == Some(&'*') => {
                j += 1;
                if chars.get(j) == Some(&'/') {
                    j += 1;
                }
                if j == chars.len() {
                    if kind == K::Exact {
                        kind = K::Prefix;
                    } else {
                        toks.push(Tok::Rest);
                        kind = K::Glob;
                    }
                } else {
                    toks.push(Tok::Segments);
                    kind = K::Glob;
                }
                if step == 0 {
                    kind = K::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                kind = K::Glob;
            }
            '?' => {
                toks.push(Tok::One);
                kind = K::Glob;
            }
            '\\' => match chars.get(j) {
                Some(c) => {
                    toks.push(Tok::Lit(*c));
                    j += 1;
                    kind = K::Glob;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let (tok, used) = class(&chars[j..]);
                toks.push(tok);
                j += used;
                kind = K::Glob;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                kind = K::Glob;
            }
            c => toks.push(Tok::Lit(c)),
        }
        step += 1;
    }
    match kind {
        K::Exact => Kind::Exact,
        K::Prefix => Kind::Prefix(p[..p.len() - 2].to_owned()),
        K::Suffix => Kind::Suffix(p[2..].to_owned()),
        K::Glob => Kind::Glob(toks),
    }
}

/// A class after its `[`: the token and how many characters it took (its `]` included).
/// The syntax was checked already.
fn class(s: &[char]) -> (Tok, usize) {
    let mut i = 0;
    let negated = s.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let esc = |i: &mut usize| -> char {
        let mut c = s.get(*i).copied().unwrap_or(']');
        if c == '\\' {
            *i += 1;
            c = s.get(*i).copied().unwrap_or('\\');
        }
        *i += 1;
        c
    };
    while i < s.len() && (s[i] != ']' || ranges.is_empty()) {
        let lo = esc(&mut i);
        let mut hi = lo;
        if s.get(i) == Some(&'-') && s.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            hi = esc(&mut i);
        }
        ranges.push((lo, hi));
    }
    (Tok::Class { negated, ranges }, (i + 1).min(s.len()))
}

/// Go's `filepath.Match` syntax check (docker runs every pattern through it).
fn check_syntax(p: &str) -> Result<(), Error> {
    let bad = || Error::BadPattern(p.to_owned());
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    // One class item's character: `-` and `]` need an escape, `\` needs a character.
    let item = |i: &mut usize| -> Result<(), Error> {
        match chars.get(*i) {
            None | Some('-') | Some(']') => return Err(bad()),
            Some('\\') => {
                *i += 1;
                if *i >= chars.len() {
                    return Err(bad());
                }
            }
            _ => {}
        }
        *i += 1;
        Ok(())
    };
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(bad());
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut n = 0;
                loop {
                    if chars.get(i) == Some(&']') && n > 0 {
                        i += 1;
                        break;
                    }
                    item(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        item(&mut i)?;
                    }
                    n += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` for slash-separated paths: no empty or `.` segments, `..`
/// folded into its parent where there is one, no trailing `/`; `.` for nothing.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&l) if l != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn paths_are_cleaned_like_go() {
        for (a, b) in [
            ("", "."),
            ("./a//b/", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("a/b/../c/.", "a/c"),
            ("/", "/"),
            ("../../x", "../../x"),
        ] {
            assert_eq!(clean(a), b, "{a}");
        }
    }

    #[test]
    fn comments_blanks_and_leading_slashes() {
        let i = ig("\u{feff}# comment\n\n  /a.txt  \r\n #x\n./b/\n");
        assert_eq!(i.to_string(), "a.txt\n#x\nb\n");
        assert!(i.matches("a.txt") && i.matches("#x") && i.matches("b/c"));
        assert!(!i.matches("# comment") && !i.matches("c"));
    }

    #[test]
    fn a_star_stays_within_a_segment() {
        let i = ig("*/temp*\ntemp?\n*.txt\n");
        assert!(i.matches("a/temporary") && i.matches("a/temp"));
        assert!(!i.matches("a/b/temp") && !i.matches("temporary/x/y"));
        assert!(i.matches("temp1") && i.matches("tempx/inner"));
        assert!(!i.matches("temp") && !i.matches("temp12"));
        assert!(i.matches("notes.txt") && !i.matches("d/notes.txt"));
    }

    #[test]
    fn double_star_spans_segments() {
        let i = ig("**/*.go\n");
        for p in ["a.go", "x/a.go", "x/y/z/a.go"] {
            assert!(i.matches(p), "{p}");
        }
        assert!(!i.matches("a.gox") && !i.matches("go"));
        let i = ig("dir/**\n");
        assert!(i.matches("dir/a") && i.matches("dir/a/b"));
        assert!(!i.matches("dir") && !i.matches("dirt/a"));
        let i = ig("**/vendor\n");
        assert!(i.matches("vendor") && i.matches("a/b/vendor") && i.matches("a/vendor/x"));
        assert!(!i.matches("avendor"));
        assert!(ig("**\n").matches("anything/at/all"));
        let i = ig("a/**/b\n");
        assert!(i.matches("a/b") && i.matches("a/x/b") && i.matches("a/x/y/b"));
        assert!(!i.matches("a/xb"));
        // docker's reading of `**` not followed by `/`: whole segments or nothing.
        let i = ig("a**b\n");
        assert!(i.matches("ab") && i.matches("a/x/b") && !i.matches("axb"));
    }

    #[test]
    fn exceptions_reinclude_and_later_patterns_win() {
        let i = ig("*.txt\n!keep.txt\n");
        assert!(i.matches("a.txt") && !i.matches("keep.txt"));
        let i = ig("*.txt\n!keep.txt\nkeep.txt\n");
        assert!(i.matches("keep.txt"));
        let i = ig("dir\n!dir/keep\n");
        assert!(i.matches("dir") && i.matches("dir/other") && !i.matches("dir/keep"));
        assert!(i.has_exceptions() && i.may_reinclude_under("dir"));
        assert!(!i.may_reinclude_under("di") && !i.may_reinclude_under("other"));
        let i = ig("dir\n!**/keep\n");
        assert!(
            !i.may_reinclude_under("dir"),
            "docker only looks at the spelling"
        );
        assert!(!ig("a\n").has_exceptions());
    }

    #[test]
    fn classes_and_escapes() {
        let i = ig("[a-c]x\nf[^0-9]\n\\*lit\n");
        assert!(i.matches("ax") && i.matches("cx") && !i.matches("dx"));
        assert!(i.matches("fa") && !i.matches("f1"));
        assert!(i.matches("*lit") && !i.matches("alit"));
        // (a class may match `/`, as in docker's regular expression)
        assert!(ig("a[^x]b\n").matches("a/b"));
    }

    #[test]
    fn bad_patterns_are_refused_in_gos_words() {
        assert_eq!(
            Ignore::parse("!\n").unwrap_err().to_string(),
            "illegal exclusion pattern: \"!\""
        );
        for p in ["[", "a[", "[]", "[-a]", "[a-]", "x\\", "[\\"] {
            assert_eq!(
                Ignore::parse(p).unwrap_err().to_string(),
                "syntax error in pattern",
                "{p}"
            );
        }
        assert!(Ignore::parse("[\\]]x\n").is_ok());
    }

    #[test]
    fn walking_passes_directory_results_down() {
        let i = ig("dir\n!dir/keep\n*.tmp\n");
        let (ex, d) = i.matches_in("dir", None);
        assert!(ex);
        assert!(i.matches_in("dir/other", Some(&d)).0);
        assert!(!i.matches_in("dir/keep", Some(&d)).0);
        assert!(i.matches_in("a.tmp", None).0);
        // Without a directory's results, the parents are tried (as `matches`).
        assert!(i.matches_in("dir/x/y", None).0);
    }

    #[test]
    fn the_shallow_match_tries_one_parent_only() {
        let i = ig("sub\n");
        assert!(i.matches_shallow("sub/Dockerfile"));
        let i = ig("a/b\n");
        assert!(i.matches_shallow("a/b/c/Dockerfile"));
        let i = ig("b\n");
        assert!(!i.matches_shallow("a/b/Dockerfile") && !i.matches("a/b/Dockerfile"));
        let i = ig("*\n");
        assert!(i.matches_shallow("Dockerfile"));
        let mut i = i;
        i.keep("Dockerfile");
        assert!(!i.matches("Dockerfile") && i.matches("other"));
    }
}
