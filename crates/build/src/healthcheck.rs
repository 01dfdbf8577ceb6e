//! `HEALTHCHECK` as dockerd's Dockerfile parser reads it, for `docker build` and for
//! `commit`/`import --change`: the checks in its order and its words, and the
//! `Healthcheck` object of the image config.

use serde_json::{Value, json};

/// The duration flags and the config field each sets.
const DURATIONS: [(&str, &str); 4] = [
    ("interval", "Interval"),
    ("timeout", "Timeout"),
    ("start-period", "StartPeriod"),
    ("start-interval", "StartInterval"),
];

/// The `Healthcheck` of `HEALTHCHECK [flags] CMD ...` (`test` the `CMD`/`CMD-SHELL` list)
/// or of `HEALTHCHECK NONE` (`test` None; dockerd reads no flags then). Unknown flags are
/// refused first, then a `CMD` with nothing after it, then each value.
pub fn config(flags: &[(&str, &str)], test: Option<Vec<String>>) -> Result<Value, String> {
    let Some(test) = test else {
        return Ok(json!({ "Test": ["NONE"] }));
    };
    check_flags(flags)?;
    if test.len() < 2 || (test[0] == "CMD-SHELL" && test[1].trim().is_empty()) {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut m = serde_json::Map::new();
    m.insert("Test".into(), json!(test));
    // The last of a repeated flag counts; an empty value is none.
    let value = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    };
    for (name, field) in DURATIONS {
        let Some(v) = value(name) else { continue };
        let d = crate::gofmt::parse_duration_go(v)?;
        if d != 0 && d < 1_000_000 {
            return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
        }
        if d != 0 {
            m.insert(field.into(), json!(d));
        }
    }
    if let Some(v) = value("retries") {
        let n: i32 = v
            .parse()
            .map_err(|_| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"))?;
        if n < 0 {
            return Err(format!("--retries cannot be negative ({n})"));
        }
        if n != 0 {
            m.insert("Retries".into(), json!(n));
        }
    }
    Ok(Value::Object(m))
}

/// [`config`] of a Dockerfile's `HEALTHCHECK` (`cmd` None for `NONE`).
pub fn of_instruction(
    flags: &[(String, Option<String>)],
    cmd: Option<&crate::dockerfile::CmdForm>,
) -> Result<Value, String> {
    use crate::dockerfile::CmdForm;
    let flags: Vec<(&str, &str)> = flags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or("")))
        .collect();
    let test = cmd.map(|c| match c {
        CmdForm::Exec(v) => std::iter::once("CMD".to_owned())
            .chain(v.iter().cloned())
            .collect(),
        CmdForm::Shell(s) if s.trim().is_empty() => vec!["CMD".to_owned()],
        CmdForm::Shell(s) => vec!["CMD-SHELL".to_owned(), s.clone()],
    });
    config(&flags, test)
}

/// The flags of a `HEALTHCHECK` that is not `NONE` are known ones (dockerd checks them
/// before the type).
pub fn check_flags(flags: &[(&str, &str)]) -> Result<(), String> {
    match flags
        .iter()
        .find(|(k, _)| *k != "retries" && !DURATIONS.iter().any(|(n, _)| n == k))
    {
        Some((k, _)) => Err(format!("Unknown flag: {k}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_dockerd_reads_it() {
        let cmd = || Some(vec!["CMD-SHELL".to_owned(), "true".to_owned()]);
        assert_eq!(
            config(&[("interval", "5s"), ("retries", "2")], cmd()).unwrap(),
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64, "Retries": 2})
        );
        assert_eq!(
            config(&[("interval", "5s")], None).unwrap(),
            json!({"Test": ["NONE"]})
        );
        let err = |flags: &[(&str, &str)], test| config(flags, test).unwrap_err();
        assert_eq!(
            err(&[], Some(vec!["CMD".into()])),
            "Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            err(&[("bogus", "1")], Some(vec!["CMD".into()])),
            "Unknown flag: bogus"
        );
        assert_eq!(
            err(&[("timeout", "1")], cmd()),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            err(&[("interval", "10us")], cmd()),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            err(&[("retries", "-1")], cmd()),
            "--retries cannot be negative (-1)"
        );
    }
}
