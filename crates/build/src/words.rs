//! Docker's word processing for Dockerfile arguments.
//!
//! Two stages, as in Docker:
//! - the parser's stage splits an instruction's text into raw words ([`split_words`]) and
//!   reads `ENV`/`LABEL` pairs ([`name_values`]) and `ARG` declarations
//!   ([`name_or_name_values`]), keeping quotes and escapes;
//! - the builder's stage ([`Expander`]) expands variables and removes quotes and escapes,
//!   with the environment the step sees.
//!
//! The expansion follows BuildKit's current shell lexer (`${VAR#pattern}`, `${VAR%pattern}`,
//! `${VAR/pattern/replacement}` and the unset-only forms `${VAR-word}`, `${VAR+word}`,
//! `${VAR?message}` included); its error texts are Docker's.

use std::collections::HashMap;

/// What went wrong while reading or expanding an instruction's arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WordsError {
    /// A word could not be expanded; `word` is the whole text given to the expander.
    #[error("failed to process {}: {reason}", go_quote(.word))]
    Process {
        /// The text being expanded.
        word: String,
        /// Why it failed.
        reason: ExpandError,
    },
    /// An instruction that needs arguments has none.
    #[error("{0} requires at least one argument")]
    NoArguments(String),
    /// The legacy `ENV name value` form without a value.
    #[error("{0} must have two arguments")]
    TwoArguments(String),
    /// A word of the `name=value` form without `=`.
    #[error("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(.0))]
    NoEquals(String),
    /// A `=value` with nothing before the `=`.
    #[error("{0} names can not be blank")]
    BlankName(String),
}

/// Why the expansion of a word failed (Docker's texts).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpandError {
    /// A `'` without its closing quote.
    #[error("unexpected end of statement while looking for matching single-quote")]
    SingleQuote,
    /// A `"` without its closing quote.
    #[error("unexpected end of statement while looking for matching double-quote")]
    DoubleQuote,
    /// A `${` without its `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// A `${VAR/pattern` without the `/` that ends the pattern.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:...}` or `${{...}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A `${VAR...}` form Docker does not know (`${VAR=word}`, `${VAR:x}`, ...).
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?message}` or `${VAR:?message}` with the variable unset (or empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable's name.
        name: String,
        /// The word after `?`, or Docker's default text.
        message: String,
    },
    /// A `#`, `%` or `/` pattern with an escape Docker refuses.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern (reversed for `%`, as Docker reports it).
        pattern: String,
        /// What is wrong in it.
        reason: String,
    },
}

/// Go's `%q` of a string: double quotes, with Go's escapes for quotes, backslashes and
/// characters that do not print.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits an instruction's argument text into words at unquoted whitespace, keeping quotes
/// and escapes in the words (Docker's parseWords), honouring the escape character.
///
/// An escape character makes the next character part of the word (a space, a quote); an
/// escape character at the very end is dropped. Inside single quotes the escape character
/// has no effect.
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Set once a quote opens: such a word is kept even if it ends up empty.
    let mut keep_empty = false;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == escape && q != '\'' {
                let Some(next) = chars.next() else {
                    quote = None;
                    continue;
                };
                word.push(c);
                word.push(next);
                continue;
            }
            word.push(c);
            continue;
        }
        if c.is_whitespace() {
            if keep_empty || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            keep_empty = false;
            in_word = false;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            keep_empty = true;
        }
        if c == escape {
            if let Some(next) = chars.next() {
                word.push(c);
                word.push(next);
            }
            continue;
        }
        word.push(c);
    }
    if in_word && (keep_empty || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// The whitespace Docker's parser splits the legacy `ENV name value` form at (no newline).
fn is_legacy_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// ENV and LABEL arguments: `k=v k2="v 2"` or the legacy one-pair form `k v w`.
/// Keys and values are returned raw (quotes kept) — expansion happens later with `Expander`.
/// `instruction` ("ENV"/"LABEL") is used in error messages (Docker's: "ENV names can not be blank",
/// "Syntax error - can't find = in \"x\". Must be of the form: name=value", "ENV must have two arguments", ...).
///
/// The legacy form is chosen when the first word has no `=`: the text is then cut at its
/// first run of blanks, the rest (inner spacing kept) being the value.
pub fn name_values(
    text: &str,
    escape: char,
    instruction: &str,
) -> Result<Vec<(String, String)>, WordsError> {
    let text = text.trim();
    let words = split_words(text, escape);
    let Some(first) = words.first() else {
        return Err(WordsError::NoArguments(instruction.to_string()));
    };
    if !first.contains('=') {
        let Some(cut) = text.find(is_legacy_space) else {
            return Err(WordsError::TwoArguments(instruction.to_string()));
        };
        let value = text[cut..].trim_start_matches(is_legacy_space);
        return Ok(vec![(text[..cut].to_string(), value.to_string())]);
    }
    // Docker's parser refuses a word without `=` before the blank names are looked at.
    if let Some(bad) = words.iter().find(|w| !w.contains('=')) {
        return Err(WordsError::NoEquals(bad.clone()));
    }
    words
        .iter()
        .map(|w| {
            let (key, value) = w.split_once('=').unwrap_or((w, ""));
            if key.is_empty() {
                return Err(WordsError::BlankName(instruction.to_string()));
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// ARG arguments: `name` or `name=default`, possibly several.
///
/// Names and defaults are returned raw (quotes kept); `name=` gives an empty default.
pub fn name_or_name_values(
    text: &str,
    escape: char,
) -> Result<Vec<(String, Option<String>)>, WordsError> {
    let words = split_words(text, escape);
    if words.is_empty() {
        return Err(WordsError::NoArguments("ARG".to_string()));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(WordsError::BlankName("ARG".to_string())),
            Some((key, value)) => Ok((key.to_string(), Some(value.to_string()))),
            None => Ok((w, None)),
        })
        .collect()
}

/// Expands variables and removes quotes as Docker does for one word or a list of words.
#[derive(Debug, Clone, Copy)]
pub struct Expander<'a> {
    /// The escape character (`\` or the one of the `# escape=` directive).
    escape: char,
    /// `KEY=VALUE` entries.
    env: &'a [String],
}

impl<'a> Expander<'a> {
    /// An expander with this escape character and environment (`KEY=VALUE` entries, the
    /// last one of a name winning; an entry without `=` sets its name to the empty string).
    pub fn new(escape: char, env: &'a [String]) -> Self {
        Expander { escape, env }
    }

    /// One word (WORKDIR, USER, COPY/ADD paths, EXPOSE, STOPSIGNAL, FROM image, ENV/LABEL keys and values, ...):
    /// quotes removed, `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
    /// `${VAR:?msg}`/`${VAR?msg}` (error), and what else the current lex.go supports
    /// (`${VAR#pat}`, `${VAR%pat}`, `${VAR/pat/repl}` if it does), escapes, single quotes literal.
    ///
    /// Whitespace is kept as it is.
    pub fn word(&self, s: &str) -> Result<String, WordsError> {
        self.process(s).map(|(text, _)| text)
    }

    /// Several words (e.g. EXPOSE 80 $PORTS): expanded, then split into fields as Docker does.
    ///
    /// Unquoted whitespace, written or coming from a variable, separates fields; quoted or
    /// escaped whitespace does not. Empty fields (`""`) are dropped, as Docker drops them.
    pub fn words(&self, s: &str) -> Result<Vec<String>, WordsError> {
        self.process(s).map(|(_, words)| words)
    }

    /// The expanded text of `s` and its fields.
    fn process(&self, s: &str) -> Result<(String, Vec<String>), WordsError> {
        let mut lexer = Lexer {
            chars: s.chars().collect(),
            pos: 0,
            exp: self,
        };
        lexer
            .run(None, false)
            .map_err(|reason| WordsError::Process {
                word: s.to_string(),
                reason,
            })
    }

    /// The value of `name`: the last entry for it wins.
    fn lookup(&self, name: &str) -> Option<&'a str> {
        self.env
            .iter()
            .rev()
            .find_map(|entry| match entry.split_once('=') {
                Some((key, value)) if key == name => Some(value),
                None if entry == name => Some(""),
                _ => None,
            })
    }
}

/// Collects the fields of [`Expander::words`] while the text is expanded.
#[derive(Default)]
struct Fields {
    /// The fields ended so far.
    done: Vec<String>,
    /// The field being read.
    current: String,
    /// Whether a field is being read (it may still be empty after `""`).
    open: bool,
}

impl Fields {
    /// A character that splits at whitespace.
    fn push(&mut self, c: char) {
        if !c.is_whitespace() {
            self.push_literal(c);
        } else if self.open && !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
            self.open = false;
        }
    }

    /// A character that is part of the field whatever it is.
    fn push_literal(&mut self, c: char) {
        self.current.push(c);
        self.open = true;
    }

    /// A variable's value: its whitespace splits.
    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }

    /// A quoted string: part of the field whatever it holds, even empty.
    fn push_literal_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.open = true;
    }

    /// The fields, the last one included unless it is empty.
    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

/// Shell parameters that are one punctuation character (`$@`, `$#`, ...): Docker reads them
/// as names, which are normally unset.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// Go's unicode.IsDigit, as near as std allows.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

/// What Go prints for a rune read past the end of the text.
const PAST_END: char = '\u{FFFD}';

/// One expansion over the characters of a word.
struct Lexer<'x, 'a> {
    /// The word.
    chars: Vec<char>,
    /// Where the next character is.
    pos: usize,
    /// The escape character and the environment.
    exp: &'x Expander<'a>,
}

impl Lexer<'_, '_> {
    /// The next character, left unread.
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// The next character, read.
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Expands up to `stop` (consumed) or the end, giving the text and its fields. With
    /// `keep_escapes` the escape characters stay in the text (patterns need them).
    fn run(
        &mut self,
        stop: Option<char>,
        keep_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut text = String::new();
        let mut fields = Fields::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((text, fields.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                    fields.push_str(&value);
                }
                '\'' => {
                    let value = self.single_quoted()?;
                    text.push_str(&value);
                    fields.push_literal_str(&value);
                }
                '"' => {
                    let value = self.double_quoted(keep_escapes)?;
                    text.push_str(&value);
                    fields.push_literal_str(&value);
                }
                _ => {
                    self.pos += 1;
                    if c != self.exp.escape {
                        text.push(c);
                        fields.push(c);
                        continue;
                    }
                    if keep_escapes {
                        text.push(c);
                        fields.push_literal(c);
                    }
                    // An escape character at the end is dropped.
                    let Some(escaped) = self.next() else { break };
                    text.push(escaped);
                    fields.push_literal(escaped);
                }
            }
        }
        match stop {
            // The callers report the missing stop character themselves.
            Some(_) => Err(ExpandError::MissingBrace),
            None => Ok((text, fields.finish())),
        }
    }

    /// Everything up to the next `'`, as it is.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::SingleQuote),
                Some('\'') => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// Up to the next unescaped `"`, with variables expanded; the escape character only
    /// escapes `"`, `$` and itself, and stays before anything else.
    fn double_quoted(&mut self, keep_escapes: bool) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::DoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('$') => text.push_str(&self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.exp.escape {
                        if keep_escapes {
                            text.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.exp.escape => {
                                c = n;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    text.push(c);
                }
            }
        }
    }

    /// A name after `$`: letters, digits and `_`; a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphabetic() || is_digit(c) || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// Expands the inside of `${...}` up to `stop`: a failure at the end of the text (the
    /// stop character missing, or anything else) is reported as `missing`, as Docker does.
    fn inner(
        &mut self,
        stop: char,
        keep_escapes: bool,
        missing: ExpandError,
    ) -> Result<String, ExpandError> {
        match self.run(Some(stop), keep_escapes) {
            Ok((text, _)) => Ok(text),
            Err(_) if self.peek().is_none() => Err(missing),
            Err(e) => Err(e),
        }
    }

    /// `$name`, `${name}` and the `${name<modifier>word}` forms.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.exp.lookup(&name).unwrap_or_default().to_string());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let first = self.next();
        let mut modifier = String::from(first.unwrap_or(PAST_END));
        let op = match first {
            Some('}') => return Ok(self.exp.lookup(&name).unwrap_or_default().to_string()),
            Some('/') => return self.replace(&name),
            Some(':') => {
                let op = self.next();
                modifier.push(op.unwrap_or(PAST_END));
                op
            }
            Some('+' | '-' | '?' | '#' | '%') => first,
            _ => return Err(ExpandError::UnsupportedModifier(modifier)),
        };
        let colon = first == Some(':');
        // Patterns keep their escapes: `\*` is a literal star there.
        let word = self.inner(
            '}',
            matches!(op, Some('#' | '%')),
            ExpandError::MissingBrace,
        )?;
        let found = self.exp.lookup(&name);
        // With `:` an empty value counts as unset.
        let missing = found.is_none() || (colon && found == Some(""));
        let value = found.unwrap_or_default();
        match op {
            Some('-') => Ok(if missing { word } else { value.to_string() }),
            Some('+') => Ok(if missing { String::new() } else { word }),
            Some('?') if missing => {
                let message = if !word.is_empty() {
                    word
                } else if found.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(ExpandError::Required { name, message })
            }
            Some('?') => Ok(value.to_string()),
            Some(c @ ('#' | '%')) => {
                let (pattern, longest) = match word.strip_prefix(c) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                if c == '#' {
                    trim_prefix(pattern, value, longest)
                } else {
                    trim_suffix(pattern, value, longest)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier(modifier)),
        }
    }

    /// `${name/pattern/replacement}` (first match) and `${name//pattern/replacement}` (all).
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.inner('/', true, ExpandError::MissingSlash)?;
        let replacement = self.inner('}', true, ExpandError::MissingBrace)?;
        let value: Vec<char> = self.exp.lookup(name).unwrap_or_default().chars().collect();
        let mut glob = Glob::new(&pattern, true)?;
        let mut out = String::new();
        let mut copied = 0;
        let mut from = 0;
        while from <= value.len() {
            let Some((start, end)) = glob.find(&value, from) else {
                break;
            };
            out.extend(&value[copied..start]);
            // Go's rule: no second replacement for an empty match right after a match.
            if end > copied || start == 0 {
                if all {
                    // Docker replaces all matches with Go's ReplaceAllString, which reads
                    // `$0`, `${name}` and `$$` in the replacement; one match is replaced as is.
                    expand_template(&mut out, &replacement, &value[start..end]);
                } else {
                    out.push_str(&replacement);
                }
            }
            copied = end;
            if !all {
                break;
            }
            from = if from + 1 > end { from + 1 } else { end };
        }
        out.extend(&value[copied..]);
        Ok(out)
    }
}

/// Go's regexp template expansion for a pattern without groups: `$$` is `$`, `$0` and
/// `${0}` the match, any other `$name`/`${name}` nothing, and a `$` not followed by a
/// name stays as it is.
fn expand_template(out: &mut String, template: &str, matched: &[char]) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let len = body
            .find(|c: char| !(c.is_alphabetic() || is_digit(c) || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..len];
        let after = &body[len..];
        let after = match (braced, after.strip_prefix('}')) {
            _ if name.is_empty() => None,
            (false, _) => Some(after),
            (true, closed) => closed,
        };
        let Some(after) = after else {
            out.push('$');
            continue;
        };
        // Only group 0 exists (Go refuses leading zeros: `$00` is a missing name).
        if name == "0" {
            out.extend(matched);
        }
        rest = after;
    }
    out.push_str(rest);
}

/// One element of a shell pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    /// `*`: any run of characters but a newline.
    Star,
    /// `?`: one character but a newline.
    One,
    /// A character as it is.
    Char(char),
}

/// A shell pattern of `${VAR#...}`, `${VAR%...}` and `${VAR/...}`, matched as Docker's
/// regular expression matches it: the first match a backtracking matcher would find, stars
/// taking as much (`greedy`) or as little as they can.
struct Glob {
    /// The pattern read.
    pieces: Vec<Piece>,
    /// Whether stars take as much as they can.
    greedy: bool,
    /// The end of the match of `pieces[i..]` at a position, once known.
    memo: HashMap<(usize, usize), Option<usize>>,
}

impl Glob {
    /// Reads a pattern: `*`, `?`, `\*`, `\?` and `\\`; `\}` and `\/` are the characters
    /// themselves; any other escape is an error, as it is in Docker.
    fn new(pattern: &str, greedy: bool) -> Result<Glob, ExpandError> {
        let invalid = |c: char| ExpandError::InvalidPattern {
            pattern: pattern.to_string(),
            reason: format!("invalid escape '\\{c}'"),
        };
        let mut pieces = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            pieces.push(match c {
                '*' => Piece::Star,
                '?' => Piece::One,
                '\\' if matches!(chars.peek(), Some('}' | '/')) => continue,
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => Piece::Char(e),
                    other => return Err(invalid(other.unwrap_or(PAST_END))),
                },
                c => Piece::Char(c),
            });
        }
        Ok(Glob {
            pieces,
            greedy,
            memo: HashMap::new(),
        })
    }

    /// Where a match of `pieces[piece..]` starting at `at` ends.
    fn match_at(&mut self, text: &[char], piece: usize, at: usize) -> Option<usize> {
        if piece == self.pieces.len() {
            return Some(at);
        }
        if let Some(&known) = self.memo.get(&(piece, at)) {
            return known;
        }
        let found = match self.pieces[piece] {
            Piece::Char(c) => (text.get(at) == Some(&c))
                .then(|| self.match_at(text, piece + 1, at + 1))
                .flatten(),
            Piece::One => text
                .get(at)
                .filter(|&&c| c != '\n')
                .and_then(|_| self.match_at(text, piece + 1, at + 1)),
            Piece::Star => {
                let most = text[at..].iter().take_while(|&&c| c != '\n').count();
                let mut found = None;
                for n in 0..=most {
                    let n = if self.greedy { most - n } else { n };
                    found = self.match_at(text, piece + 1, at + n);
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
        };
        self.memo.insert((piece, at), found);
        found
    }

    /// The leftmost match starting at or after `from`.
    fn find(&mut self, text: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=text.len()).find_map(|start| self.match_at(text, 0, start).map(|end| (start, end)))
    }
}

/// `${VAR#pattern}` (`longest` for `##`): the value without the pattern's match at its start.
fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, ExpandError> {
    let text: Vec<char> = value.chars().collect();
    let mut glob = Glob::new(pattern, longest)?;
    Ok(match glob.match_at(&text, 0, 0) {
        Some(end) => text[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${VAR%pattern}` (`longest` for `%%`): the value without the pattern's match at its end,
/// found as Docker finds it, by matching the reversed pattern at the reversed value's start.
fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, ExpandError> {
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed, longest)?;
    Ok(trimmed.chars().rev().collect())
}

/// A pattern reversed, each `\x` pair kept in its order.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pieces: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() {
            2
        } else {
            1
        };
        pieces.push(&chars[i..i + len]);
        i += len;
    }
    pieces.iter().rev().flat_map(|p| p.iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment of the expansion table.
    fn base_env() -> Vec<String> {
        ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn env_of(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|s| s.to_string()).collect()
    }

    /// `None` stands for "an error".
    fn check_words(env: &[String], escape: char, cases: &[(&str, Option<&str>)]) {
        let x = Expander::new(escape, env);
        for (input, want) in cases {
            let got = x.word(input);
            match want {
                Some(want) => assert_eq!(got.as_deref(), Ok(*want), "input {input:?}"),
                None => assert!(got.is_err(), "input {input:?} gave {got:?}"),
            }
        }
    }

    fn error_text(env: &[String], input: &str) -> String {
        match Expander::new('\\', env).word(input) {
            Ok(v) => panic!("{input:?} expanded to {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn quotes_and_escapes() {
        check_words(
            &base_env(),
            '\\',
            &[
                ("plain", Some("plain")),
                ("ab'cd'ef", Some("abcdef")),
                ("ab'cd", None),
                (r"ab\'cd", Some("ab'cd")),
                (r"ab\\'cd", None),
                (r"x\ty", Some("xty")),
                (r#""x\ty""#, Some(r"x\ty")),
                (r#""x\\ty""#, Some(r"x\ty")),
                (r"'x\ty'", Some(r"x\ty")),
                (r"tail\", Some("tail")),
                (r"tail\\", Some(r"tail\")),
                (r#""open"#, None),
                (r#""open\""#, None),
                (r#""it's""#, Some("it's")),
                ("'open", None),
                (r"'back\'", Some(r"back\")),
                (r"'a\\b'", Some(r"a\\b")),
                (r#""''""#, Some("''")),
                (r#"'"q"'"#, Some(r#""q""#)),
                (r#""a\"b""#, Some(r#"a"b"#)),
                (r#""a\$b""#, Some("a$b")),
                (r#""a\'b""#, Some(r"a\'b")),
                (r"a\ b", Some("a b")),
                ("\"multi\nline\"", Some("multi\nline")),
                ("한'국'어", Some("한국어")),
                ("한'국어", None),
                (r"한\'국어", Some("한'국어")),
                (r#""한국\t어""#, Some(r"한국\t어")),
            ],
        );
    }

    #[test]
    fn dollar_forms() {
        check_words(
            &base_env(),
            '\\',
            &[
                ("$.", Some("$.")),
                ("a$", Some("a$")),
                ("$", Some("$")),
                ("$1", Some("")),
                ("x$12y", Some("xy")),
                ("a$.b", Some("a$.b")),
                ("a$@b$#c$$d$*e$?f$!g$-h", Some("abcdefgh")),
                (r#"$"q r""#, Some("$q r")),
                ("$'q'", Some("$q")),
                ("x$pwd.", Some("x.")),
                ("x$PWD", Some("x/home")),
                ("x$PWD_", Some("x")),
                ("x${PWD}_", Some("x/home_")),
                (r"x\$PWD", Some("x$PWD")),
                (r"x\\$PWD", Some(r"x\/home")),
                (r#""x\$PWD""#, Some("x$PWD")),
                (r#""x\\$PWD""#, Some(r"x\/home")),
                ("'x$PWD'", Some("x$PWD")),
                (r"'\$PWD'", Some(r"\$PWD")),
                (r#""x'$PWD'""#, Some("x'/home'")),
                (r"\${}", Some("${}")),
                (r"x\${}y", Some("x${}y")),
                ("${}", None),
                ("x${}y", None),
                ("x${.}", None),
                ("x${unset}y", Some("xy")),
                ("${{PWD}", None),
                ("${PWD}}", Some("/home}")),
                ("${PWD", None),
                ("${", None),
                ("${:}", None),
                ("${:-x}", None),
                ("${:+x}", None),
                ("${1}", Some("")),
                ("${@}", Some("")),
                ("한국$KOREAN", Some("한국한국어")),
                ("é${KOREAN}é", Some("é한국어é")),
            ],
        );
    }

    #[test]
    fn defaults_and_alternatives() {
        check_words(
            &base_env(),
            '\\',
            &[
                ("x${XXX:-000}y", Some("x000y")),
                ("x${PWD:-000}y", Some("x/homey")),
                ("x${XXX:-$PWD}y", Some("x/homey")),
                ("x${XXX:-${PWD:-z}}y", Some("x/homey")),
                ("x${XXX:-${YYY:-z}}y", Some("xzy")),
                ("x${XXX:+${PWD}}y", Some("xy")),
                ("x${PWD:+${XXX}}y", Some("xy")),
                ("x${PWD:+${SHELL}}y", Some("xbashy")),
                ("x${PWD:+${PWD}:}y", Some("x/home:y")),
                (r"x${XXX:-\$PWD:}y", Some("x$PWD:y")),
                (r"x${XXX:-\${PWD}z}y", Some("x${PWDz}y")),
                (r#"${XXX:-"a }b"}"#, Some("a }b")),
                ("${XXX:-'$PWD'}", Some("$PWD")),
                ("${XXX:-bbb}}", Some("bbb}")),
                ("${XXX:-bbb {foo}", Some("bbb {foo")),
                ("${XXX:-bbb ${foo}", None),
                ("${XXX:-bbb", None),
                ("${XXX:-}", Some("")),
                ("${PWD:-}", Some("/home")),
                // Without `:` only an unset variable counts; with it an empty one too.
                ("${NULL-x}", Some("")),
                ("${NULL:-x}", Some("x")),
                ("${XXX-x}", Some("x")),
                ("${NULL+x}", Some("x")),
                ("${NULL:+x}", Some("")),
                ("${XXX+x}", Some("")),
                ("${PWD+x}", Some("x")),
                ("${PWD?x}", Some("/home")),
                ("${NULL?x}", Some("")),
                ("${PWD:?x}", Some("/home")),
                ("${NULL:?x}", None),
                ("${XXX?x}", None),
                ("${XXX:?}", None),
                ("x${XXX:YYY}", None),
                ("x${PWD:=000}y", None),
                ("${PWD=x}", None),
                ("${PWD=}", None),
            ],
        );
    }

    #[test]
    fn unset_and_last_entry_wins() {
        let env = env_of(&["A=1", "B", "A=2", "C=x=y"]);
        check_words(
            &env,
            '\\',
            &[
                ("$A", Some("2")),
                ("${B-unset}", Some("")),
                ("${B:-empty}", Some("empty")),
                ("$C", Some("x=y")),
                ("$D.", Some(".")),
            ],
        );
        check_words(&[], '\\', &[("${A:-none}", Some("none")), ("$A", Some(""))]);
    }

    #[test]
    fn patterns() {
        let env = env_of(&[
            "FOO=xxyy",
            "EMPTY=",
            "X=x",
            "STARS=a***yy*",
            "Q=???y",
            "SPECIAL=()[]{}^$.*?|\\x",
            "NL=a\nb",
            "KOREAN=한국어",
        ]);
        check_words(
            &env,
            '\\',
            &[
                ("${FOO#x}", Some("xyy")),
                ("${FOO#$X}", Some("xyy")),
                ("${FOO#$EMPTY}", Some("xxyy")),
                ("${FOO#}", Some("xxyy")),
                ("${FOO##}", Some("xxyy")),
                ("${FOO#*}", Some("xxyy")),
                ("${FOO##*}", Some("")),
                ("${FOO#*x}", Some("xyy")),
                ("${FOO##*x}", Some("yy")),
                ("${FOO#*x*y}", Some("y")),
                ("${FOO##*x*y}", Some("")),
                ("${FOO#y}", Some("xxyy")),
                ("${FOO#?x}", Some("yy")),
                ("${FOO:#x}", Some("xyy")),
                ("${FOO%y}", Some("xxy")),
                ("${FOO%}", Some("xxyy")),
                ("${FOO%%$EMPTY}", Some("xxyy")),
                ("${FOO%y*}", Some("xxy")),
                ("${FOO%%y*}", Some("xx")),
                ("${FOO%x*}", Some("x")),
                ("${FOO%%x*}", Some("")),
                (r"${STARS%%\**\*}", Some("a")),
                (r"${STARS%\*}", Some("a***yy")),
                (r"${Q#?\?}", Some("?y")),
                (r"${SPECIAL#()[]{\}^$.\*\?|\\}", Some("x")),
                ("${UNSET#x}", Some("")),
                ("${NL##*}", Some("\nb")),
                ("${NL%%*}", Some("a\n")),
                ("${NL#a?b}", Some("a\nb")),
                ("${KOREAN%어}", Some("한국")),
                ("${KOREAN#?}", Some("국어")),
                ("${ABC:-.}${FOO%x}${ABC:-.}", Some(".xxyy.")),
            ],
        );
    }

    #[test]
    fn replacements() {
        let env = env_of(&[
            "FOO=xxyy",
            "EMPTY=",
            "GLOB=/foo*/*/*.txt",
            "STAR_SLASH=\\*/",
            "PATHS=/tmp/tmp/bar.txt",
            "TMP=/tmp",
            "FILE=/a/foo/b/c.txt",
            "ONE=/?/",
            "SLASH=/",
            "URL=http://google.de",
            "HTTP=http://",
            "HTTPS=https://",
            "DOLLARS=[$0]:$$:$00:$1:$a$.:${0:${}:${a:[${0}]",
        ]);
        check_words(
            &env,
            '\\',
            &[
                ("${FOO/x/z}", Some("zxyy")),
                ("${FOO//x/z}", Some("zzyy")),
                ("${FOO/y}", None),
                ("${FOO/x/z", None),
                ("${FOO/*/z}", Some("z")),
                ("${FOO/x*/z}", Some("z")),
                ("${FOO/?y/-}", Some("x-y")),
                (
                    "${GLOB/$STAR_SLASH/.} - ${GLOB//$STAR_SLASH/.}",
                    Some("/foo.*/*.txt - /foo..*.txt"),
                ),
                (
                    "${PATHS/$TMP/} - ${PATHS//$TMP/}",
                    Some("/tmp/bar.txt - /bar.txt"),
                ),
                (
                    "${FILE/$ONE/$SLASH} - ${FILE//$ONE/$SLASH}",
                    Some("/foo/b/c.txt - /foo/c.txt"),
                ),
                ("${URL/$HTTP/$HTTPS}", Some("https://google.de")),
                (r"${PATHS//\//\/}", Some(r"\/tmp\/tmp\/bar.txt")),
                ("${FOO/$EMPTY/ww}", Some("wwxxyy")),
                ("${FOO//$EMPTY/-}", Some("-x-x-y-y-")),
                ("${FOO//ww}", None),
                ("${FOO//}", None),
                ("${FOO///}", Some("xxyy")),
                ("${UNSET///}", Some("")),
                ("${UNSET/x/y}", Some("")),
                ("${FOO:/x/y}", None),
                // All matches: Go's template expansion of the replacement (after the
                // lexer's own: `$$` is the shell's `$` parameter there).
                ("${FOO//x/<$$0>}", Some("<0><0>yy")),
                (r"${FOO//x/<\$0>}", Some(r"<\x><\x>yy")),
                (
                    "${FOO//x/$DOLLARS}",
                    Some("[x]:$:::$.:${0:${}:${a:[x][x]:$:::$.:${0:${}:${a:[x]yy"),
                ),
                (
                    "${FOO/x/$DOLLARS}",
                    Some("[$0]:$$:$00:$1:$a$.:${0:${}:${a:[${0}]xyy"),
                ),
            ],
        );
    }

    #[test]
    fn error_messages() {
        let env = base_env();
        let cases = [
            (
                r#"x="abc"#,
                r#"failed to process "x=\"abc": unexpected end of statement while looking for matching double-quote"#,
            ),
            (
                "'abc",
                r#"failed to process "'abc": unexpected end of statement while looking for matching single-quote"#,
            ),
            (
                "${}",
                r#"failed to process "${}": syntax error: bad substitution"#,
            ),
            (
                "a${:x}",
                r#"failed to process "a${:x}": syntax error: bad substitution"#,
            ),
            ("${", r#"failed to process "${": syntax error: missing '}'"#),
            (
                "${a:-x",
                r#"failed to process "${a:-x": syntax error: missing '}'"#,
            ),
            (
                r#"${a:-"x}"#,
                r#"failed to process "${a:-\"x}": syntax error: missing '}'"#,
            ),
            (
                "${a:-${}}",
                r#"failed to process "${a:-${}}": syntax error: bad substitution"#,
            ),
            (
                "${a/x",
                r#"failed to process "${a/x": syntax error: missing '/' in ${}"#,
            ),
            (
                "${a/x/y",
                r#"failed to process "${a/x/y": syntax error: missing '}'"#,
            ),
            (
                "${aaa",
                "failed to process \"${aaa\": unsupported modifier (\u{FFFD}) in substitution",
            ),
            (
                "${PWD=x}",
                r#"failed to process "${PWD=x}": unsupported modifier (=) in substitution"#,
            ),
            (
                "${PWD:=x}",
                r#"failed to process "${PWD:=x}": unsupported modifier (:=) in substitution"#,
            ),
            (
                "${a:x}",
                r#"failed to process "${a:x}": unsupported modifier (:x) in substitution"#,
            ),
            (
                "${a b}",
                r#"failed to process "${a b}": unsupported modifier ( ) in substitution"#,
            ),
            (
                "${XXX:?}",
                r#"failed to process "${XXX:?}": XXX: is not allowed to be unset"#,
            ),
            (
                "${NULL:?}",
                r#"failed to process "${NULL:?}": NULL: is not allowed to be empty"#,
            ),
            (
                "${XXX?}",
                r#"failed to process "${XXX?}": XXX: is not allowed to be unset"#,
            ),
            (
                "${XXX?set it, $SHELL}",
                r#"failed to process "${XXX?set it, $SHELL}": XXX: set it, bash"#,
            ),
            (
                "${NULL:?message here$SHELL}",
                r#"failed to process "${NULL:?message here$SHELL}": NULL: message herebash"#,
            ),
            (
                r"${PWD#\x}",
                r#"failed to process "${PWD#\\x}": invalid pattern (\x) in substitution: invalid escape '\x'"#,
            ),
            (
                r"${PWD%a\x}",
                r#"failed to process "${PWD%a\\x}": invalid pattern (\xa) in substitution: invalid escape '\x'"#,
            ),
            (
                r"${PWD/\q/x}",
                r#"failed to process "${PWD/\\q/x}": invalid pattern (\q) in substitution: invalid escape '\q'"#,
            ),
            (
                "\t\u{1}é\"",
                "failed to process \"\\t\\x01é\\\"\": unexpected end of statement while looking for matching double-quote",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(error_text(&env, input), want, "input {input:?}");
        }
        assert_eq!(
            Expander::new('\\', &env).word("${XXX?}"),
            Err(WordsError::Process {
                word: "${XXX?}".to_string(),
                reason: ExpandError::Required {
                    name: "XXX".to_string(),
                    message: "is not allowed to be unset".to_string(),
                },
            })
        );
    }

    #[test]
    fn backtick_escape() {
        let env = base_env();
        check_words(
            &env,
            '`',
            &[
                (r"C:\path\to", Some(r"C:\path\to")),
                (r#""C:\path\""#, Some(r"C:\path\")),
                ("a`$PWD", Some("a$PWD")),
                ("a``$PWD", Some("a`/home")),
                ("a` b", Some("a b")),
                ("tail`", Some("tail")),
                (r#""a`"b""#, Some(r#"a"b"#)),
                ("\"`q`$`` f\"", Some("`q$` f")),
                ("'a`b'", Some("a`b")),
                (r"a\$PWD", Some(r"a\/home")),
                ("${XXX:-a`}b}", Some("a}b")),
            ],
        );
        let words = Expander::new('`', &env).words("a` b c").unwrap();
        assert_eq!(words, ["a b", "c"]);
    }

    #[test]
    fn fields() {
        let env = env_of(&[
            "hi=hi",
            "space=abc  def",
            "leading=  ab c",
            "trailing=ab c   ",
            "tab=ab\tc",
            "PORTS=81/tcp 82",
            "EMPTY=",
        ]);
        let x = Expander::new('\\', &env);
        let cases: &[(&str, &[&str])] = &[
            ("hello", &["hello"]),
            ("  hello  world ", &["hello", "world"]),
            ("hello${unset}bye", &["hellobye"]),
            ("hello${hi}bye", &["hellohibye"]),
            ("hello${space}bye", &["helloabc", "defbye"]),
            (r#"hello"${space}"bye"#, &["helloabc  defbye"]),
            (r#"hello "${space}"bye"#, &["hello", "abc  defbye"]),
            ("hello${leading}def", &["hello", "ab", "cdef"]),
            (r#"hello"${leading}" def"#, &["hello  ab c", "def"]),
            (r#"hello"${leading}""#, &["hello  ab c"]),
            ("hello${leading}", &["hello", "ab", "c"]),
            ("hello${trailing}", &["helloab", "c"]),
            ("hello${trailing}d", &["helloab", "c", "d"]),
            (r#"hello"${trailing}"d"#, &["helloab c   d"]),
            ("hello${tab}d", &["helloab", "cd"]),
            ("80 $PORTS", &["80", "81/tcp", "82"]),
            (r#"${unset:-"x y"} z"#, &["x", "y", "z"]),
            ("'a b' c", &["a b", "c"]),
            (r"a\ b c", &["a b", "c"]),
            (r#"a "" b"#, &["a", "b"]),
            (r#""""#, &[]),
            ("$EMPTY", &[]),
            ("", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(x.words(input).unwrap(), *want, "input {input:?}");
        }
        assert!(x.words("a 'b").is_err());
        // The single-word form keeps the whitespace as it is.
        assert_eq!(x.word("a  ${space} ").unwrap(), "a  abc  def ");
    }

    #[test]
    fn splitting_raw_words() {
        let cases: &[(&str, char, &[&str])] = &[
            ("a b  c", '\\', &["a", "b", "c"]),
            ("  a\t\nb  ", '\\', &["a", "b"]),
            (r#"a="b c" d"#, '\\', &[r#"a="b c""#, "d"]),
            (
                r#""a b"="c d" e='f g'"#,
                '\\',
                &[r#""a b"="c d""#, "e='f g'"],
            ),
            (r"a\ b c", '\\', &[r"a\ b", "c"]),
            (r"a \", '\\', &["a"]),
            (r"\", '\\', &[]),
            (r"\\", '\\', &[r"\\"]),
            (r#""a\"b" c"#, '\\', &[r#""a\"b""#, "c"]),
            (r"'a\'b c'", '\\', &[r"'a\'b", "c'"]),
            (r#""abc"#, '\\', &[r#""abc"#]),
            (r#""a \"#, '\\', &[r#""a "#]),
            (r#"a=`" b=c\d"#, '`', &[r#"a=`""#, r"b=c\d"]),
            (r#"a="`" b" c"#, '`', &[r#"a="`" b""#, "c"]),
            (r#"'' """#, '\\', &["''", r#""""#]),
            ("", '\\', &[]),
            ("   ", '\\', &[]),
            ("안녕 하세요", '\\', &["안녕", "하세요"]),
        ];
        for (input, escape, want) in cases {
            assert_eq!(split_words(input, *escape), *want, "input {input:?}");
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_and_label_pairs() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("a=1", &[("a", "1")]),
            (
                r#"a=1 b="x y" c=$a\$a"#,
                &[("a", "1"), ("b", r#""x y""#), ("c", r"$a\$a")],
            ),
            (
                r#""a b"="c d" e=f"#,
                &[(r#""a b""#, r#""c d""#), ("e", "f")],
            ),
            ("a=b=c", &[("a", "b=c")]),
            ("a= b=2", &[("a", ""), ("b", "2")]),
            (r#"a="" b=''"#, &[("a", r#""""#), ("b", "''")]),
            (r"a=x\ y", &[("a", r"x\ y")]),
            // The legacy form: one pair, the value is the rest as written.
            (r#"k v   w "q r""#, &[("k", r#"v   w "q r""#)]),
            ("k\tv", &[("k", "v")]),
            ("a b=c", &[("a", "b=c")]),
            ("  k  v  ", &[("k", "v")]),
            (r#""a b" c"#, &[(r#""a"#, r#"b" c"#)]),
            // `=` only inside quotes still selects the new form.
            (r#""a=b""#, &[(r#""a"#, r#"b""#)]),
        ];
        for (input, want) in cases {
            assert_eq!(
                name_values(input, '\\', "ENV").unwrap(),
                pairs(want),
                "input {input:?}"
            );
        }
        assert_eq!(
            name_values(r#"x="a`"b" c=a`$b"#, '`', "ENV").unwrap(),
            pairs(&[("x", r#""a`"b""#), ("c", "a`$b")])
        );
    }

    #[test]
    fn env_and_label_errors() {
        let cases = [
            ("a", "ENV", "ENV must have two arguments"),
            ("a", "LABEL", "LABEL must have two arguments"),
            ("=x", "ENV", "ENV names can not be blank"),
            ("=", "ENV", "ENV names can not be blank"),
            ("a=1 =x", "LABEL", "LABEL names can not be blank"),
            (
                "a=b c",
                "LABEL",
                r#"Syntax error - can't find = in "c". Must be of the form: name=value"#,
            ),
            (
                "=x y",
                "ENV",
                r#"Syntax error - can't find = in "y". Must be of the form: name=value"#,
            ),
            (
                r#"a=1 "b c""#,
                "ENV",
                r#"Syntax error - can't find = in "\"b c\"". Must be of the form: name=value"#,
            ),
            ("", "ENV", "ENV requires at least one argument"),
            ("  ", "LABEL", "LABEL requires at least one argument"),
        ];
        for (input, instruction, want) in cases {
            let got = name_values(input, '\\', instruction).unwrap_err();
            assert_eq!(got.to_string(), want, "input {input:?}");
        }
    }

    #[test]
    fn arg_declarations() {
        let got = name_or_name_values(r#"A="x y" B C= D=a=b"#, '\\').unwrap();
        let want: Vec<(String, Option<String>)> = vec![
            ("A".into(), Some(r#""x y""#.into())),
            ("B".into(), None),
            ("C".into(), Some(String::new())),
            ("D".into(), Some("a=b".into())),
        ];
        assert_eq!(got, want);
        assert_eq!(
            name_or_name_values("'a b'", '\\').unwrap(),
            vec![("'a b'".to_string(), None)]
        );
        assert_eq!(
            name_or_name_values("V=`  w", '`').unwrap(),
            vec![
                ("V".to_string(), Some("` ".to_string())),
                ("w".to_string(), None)
            ]
        );
        let err = |t| name_or_name_values(t, '\\').unwrap_err().to_string();
        assert_eq!(err("=x"), "ARG names can not be blank");
        assert_eq!(err("A B =x"), "ARG names can not be blank");
        assert_eq!(err(""), "ARG requires at least one argument");
    }

    /// The two stages together, as the builder uses them (checked against docker 20.10's
    /// builder where its lexer agrees with the current one).
    #[test]
    fn instructions_end_to_end() {
        let env = env_of(&["PATH=/bin"]);
        let expand = |text: &str, escape: char| -> Vec<(String, String)> {
            let x = Expander::new(escape, &env);
            name_values(text, escape, "ENV")
                .unwrap()
                .into_iter()
                .map(|(k, v)| (x.word(&k).unwrap(), x.word(&v).unwrap()))
                .collect()
        };
        assert_eq!(
            expand(r#"a=1 b="x y" c=$a\$a d=$PATH"#, '\\'),
            pairs(&[("a", "1"), ("b", "x y"), ("c", "$a"), ("d", "/bin")])
        );
        assert_eq!(
            expand(r#""a b"="c d" e=f"#, '\\'),
            pairs(&[("a b", "c d"), ("e", "f")])
        );
        assert_eq!(
            expand(r#"k v   w "q r""#, '\\'),
            pairs(&[("k", "v   w q r")])
        );
        assert_eq!(
            expand(r#"x=$"a b" y="$" z=\"abc w=a\ b"#, '\\'),
            pairs(&[("x", "$a b"), ("y", "$"), ("z", "\"abc"), ("w", "a b")])
        );
        assert_eq!(
            expand(r#"x="a\b\"c\$d\\e" y=a\"#, '\\'),
            pairs(&[("x", r#"a\b"c$d\e"#), ("y", "a")])
        );
        assert_eq!(
            expand(r#"x="a`"b" c=a`$b d=C:\path e="`q`$`` f""#, '`'),
            pairs(&[
                ("x", r#"a"b"#),
                ("c", "a$b"),
                ("d", r"C:\path"),
                ("e", "`q$` f")
            ])
        );
        assert_eq!(
            expand(r#"a=${b:-"x y"}z c=\$ d="\a\`""#, '\\'),
            pairs(&[("a", "x yz"), ("c", "$"), ("d", r"\a\`")])
        );
        let ports = env_of(&["P=81 82", "Q="]);
        assert_eq!(
            Expander::new('\\', &ports).words("$P 83$Q").unwrap(),
            ["81", "82", "83"]
        );
        assert_eq!(
            Expander::new('\\', &ports).words(r#""$P""#).unwrap(),
            ["81 82"]
        );
        // A quote opened in the key and closed in the value: docker's error on the key.
        let (key, _) = name_values(r#""a=b""#, '\\', "ENV").unwrap().remove(0);
        assert_eq!(
            Expander::new('\\', &env)
                .word(&key)
                .unwrap_err()
                .to_string(),
            r#"failed to process "\"a": unexpected end of statement while looking for matching double-quote"#
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("é\u{a0}\u{7f}"), r#""é\u00a0\x7f""#);
        assert_eq!(go_quote("\n\t"), r#""\n\t""#);
    }

    #[test]
    fn pattern_reversal() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"\\\ab"), r"b\a\\");
        assert_eq!(reverse_pattern("ab\\"), r"\ba");
        assert_eq!(reverse_pattern(""), "");
    }
}
