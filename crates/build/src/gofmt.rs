//! Go's `fmt` verbs as dockerd's classic builder uses them in image history
//! (`CMD %q`, `VOLUME %v`, `HEALTHCHECK %q`): the `CreatedBy` text users see in
//! `docker history` is made with them.

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => escape_char(c, &mut out),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` of an integer (`%q` of an `int`).
pub fn quote_rune(n: i64) -> String {
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        '\\' => out.push_str("\\\\"),
        c => escape_char(c, &mut out),
    }
    out.push('\'');
    out
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() => {
            let n = c as u32;
            if n < 0x10000 {
                out.push_str(&format!("\\u{n:04x}"));
            } else {
                out.push_str(&format!("\\U{n:08x}"));
            }
        }
        c => out.push(c),
    }
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub fn list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `time.Duration.String` (`1m30s`, `500ms`, `0s`).
pub fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        // Below a second: ns, µs or ms with a fraction.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let h = secs / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    let s_text = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s_text}s")
    } else if m > 0 {
        format!("{sign}{m}m{s_text}s")
    } else {
        format!("{sign}{s_text}s")
    }
}

/// Go's `time.ParseDuration` (`30s`, `1m30s`, `1.5h`, `500ms`, `0`) in nanoseconds; None
/// for anything else (a bare number other than 0, a unit without a number).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() || !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|n| *n > 0)?;
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * unit;
        rest = &rest[u..];
    }
    Some(total as i64)
}

/// Go's `time.ParseDuration` with a sign (`-1s`), failing with its words (`time: missing
/// unit in duration "1"`, `time: unknown unit "q" in duration "1q"`, `time: invalid
/// duration "x"`).
pub fn parse_duration_go(v: &str) -> Result<i64, String> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if let Some(d) = parse_duration(body).filter(|_| !body.is_empty()) {
        return Ok(if neg { -d } else { d });
    }
    let number = |c: char| c.is_ascii_digit() || c == '.';
    let unit: String = body
        .trim_start_matches(number)
        .chars()
        .take_while(|c| !number(*c))
        .collect();
    let known = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"];
    Err(
        if body.starts_with(number) && body.chars().any(|c| c.is_ascii_digit()) {
            if unit.is_empty() {
                format!("time: missing unit in duration {}", quote(v))
            } else if !known.contains(&unit.as_str()) {
                format!(
                    "time: unknown unit {} in duration {}",
                    quote(&unit),
                    quote(v)
                )
            } else {
                format!("time: invalid duration {}", quote(v))
            }
        } else {
            format!("time: invalid duration {}", quote(v))
        },
    )
}

/// `v / div` with the fraction's trailing zeros dropped (`1500, 1000` → `1.5`).
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rest:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_go_prints_them() {
        assert_eq!(
            quote_list(&["/bin/sh".into(), "-c".into(), "echo \"a\"\tb".into()]),
            r#"["/bin/sh" "-c" "echo \"a\"\tb"]"#
        );
        assert_eq!(quote("é\x01"), "\"é\\x01\"");
        assert_eq!(quote_rune(2), r"'\x02'");
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(quote_rune(10), r"'\n'");
        assert_eq!(quote_rune(65), "'A'");
        assert_eq!(list(&["/data".into(), "/v".into()]), "[/data /v]");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(5_000_000_000), "5s");
        assert_eq!(duration(90_000_000_000), "1m30s");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(1_500), "1.5µs");
    }
}
