//! Docker's word processing for Dockerfile arguments. (Interim version: replaced by the
//! full lexer.)

#[derive(Debug, thiserror::Error)]
pub enum WordsError {
    #[error("{0}")]
    Syntax(String),
}

pub fn split_words(text: &str, _escape: char) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

pub fn name_values(
    text: &str,
    escape: char,
    instruction: &str,
) -> Result<Vec<(String, String)>, WordsError> {
    let words = split_words(text, escape);
    if words.is_empty() {
        return Err(WordsError::Syntax(format!("{instruction} requires at least one argument")));
    }
    if !words[0].contains('=') {
        return Ok(vec![(words[0].clone(), words[1..].join(" "))]);
    }
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| WordsError::Syntax(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value")))
        })
        .collect()
}

pub fn name_or_name_values(
    text: &str,
    escape: char,
) -> Result<Vec<(String, Option<String>)>, WordsError> {
    Ok(split_words(text, escape)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w, None),
        })
        .collect())
}

pub struct Expander<'a> {
    env: &'a [String],
}

impl<'a> Expander<'a> {
    pub fn new(_escape: char, env: &'a [String]) -> Self {
        Expander { env }
    }
    pub fn word(&self, s: &str) -> Result<String, WordsError> {
        let mut out = s.trim_matches('"').to_owned();
        for e in self.env.iter().rev() {
            if let Some((k, v)) = e.split_once('=') {
                out = out.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
            }
        }
        Ok(out)
    }
    pub fn words(&self, s: &str) -> Result<Vec<String>, WordsError> {
        Ok(self.word(s)?.split_whitespace().map(str::to_owned).collect())
    }
}
