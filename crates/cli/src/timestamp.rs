//! `--since`/`--until` values (logs, events) as docker's GetTimestamp reads them: a Go
//! duration counts back from now; a date or RFC 3339 time (in the local zone when it has
//! none) becomes `seconds.nanoseconds`; a Unix time goes as it is. Errors in Go's words.

use anyhow::{Result, anyhow};

/// The API value for `v`; errors as docker prints them (callers add their prefix).
pub fn get_timestamp(v: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    if v != "0"
        && let Some(d) = go_duration(v)
    {
        // Whole seconds, as docker formats `reference.Add(-d).Unix()`.
        return Ok((now - d).div_euclid(1_000_000_000).to_string());
    }
    let local = !v.contains(['z', 'Z', '+']) && v.matches('-').count() != 3;
    let layout = if v.contains('.') {
        "2006-01-02T15:04:05.999999999"
    } else if v.contains('T') {
        let mut colons = v.matches(':').count();
        if !local && !v.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        match colons {
            0 => "2006-01-02T15",
            1 => "2006-01-02T15:04",
            _ => "2006-01-02T15:04:05",
        }
    } else {
        "2006-01-02"
    };
    let layout = if local {
        layout.to_owned()
    } else {
        format!("{layout}Z07:00")
    };
    match parse(v, &layout) {
        Ok((secs, nanos, zone)) => {
            let off =
                zone.unwrap_or_else(|| crate::format::local_zone(now as i64 / 1_000_000_000).0);
            Ok(format!("{}.{nanos:09}", secs - off))
        }
        Err(e) if v.contains('-') => Err(anyhow!("{e}")),
        Err(_) => {
            let mut parts = v.splitn(2, '.');
            let ok = parts.next().is_some_and(|s| s.parse::<i64>().is_ok())
                && parts.next().is_none_or(|n| n.parse::<i64>().is_ok());
            if ok {
                Ok(v.to_owned())
            } else {
                Err(anyhow!(
                    "failed to parse value as time or duration: {}",
                    go_quote(v)
                ))
            }
        }
    }
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's time.ParseDuration, in nanoseconds; None when it would fail.
fn go_duration(v: &str) -> Option<i128> {
    let (neg, mut rest) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..end];
        if num.is_empty() || num == "." {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[end..];
        let uend = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..uend] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[uend..];
    }
    Some(if neg { -total } else { total } as i128)
}

/// Days since the epoch for a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `v` read with one of GetTimestamp's Go layouts: (seconds as if UTC, nanoseconds, the
/// zone offset when the value has one); Go's time.Parse errors.
fn parse(v: &str, layout: &str) -> Result<(i64, u32, Option<i64>), String> {
    let fail = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            go_quote(v),
            go_quote(layout),
            go_quote(rest),
            go_quote(elem)
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", go_quote(v));
    let mut rest = v;
    let mut lay = layout;
    let (mut f, mut nanos, mut zone) = ([0i64, 1, 1, 0, 0, 0], 0u32, None);
    const ELEMS: [(&str, usize, usize); 6] = [
        ("2006", 4, 4),
        ("01", 2, 2),
        ("02", 2, 2),
        ("15", 1, 2),
        ("04", 2, 2),
        ("05", 2, 2),
    ];
    while !lay.is_empty() {
        if let Some((i, &(elem, min, max))) = ELEMS
            .iter()
            .enumerate()
            .find(|(_, (e, _, _))| lay.starts_with(e))
        {
            let n = rest
                .bytes()
                .take(max)
                .take_while(u8::is_ascii_digit)
                .count();
            if n < min {
                return Err(fail(rest, elem));
            }
            f[i] = rest[..n].parse().map_err(|_| fail(rest, elem))?;
            rest = &rest[n..];
            lay = &lay[elem.len()..];
        } else if let Some(l) = lay.strip_prefix(".999999999") {
            if let Some(r) = rest.strip_prefix(['.', ',']) {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                let digits = &r[..n.min(9)];
                nanos = format!("{digits:0<9}").parse().unwrap_or(0);
                rest = &r[n..];
            }
            lay = l;
        } else if let Some(l) = lay.strip_prefix("Z07:00") {
            if let Some(r) = rest.strip_prefix('Z') {
                zone = Some(0);
                rest = r;
            } else {
                let b = rest.as_bytes();
                let ok = b.len() >= 6
                    && matches!(b[0], b'+' | b'-')
                    && b[1..3].iter().all(u8::is_ascii_digit)
                    && b[3] == b':'
                    && b[4..6].iter().all(u8::is_ascii_digit);
                if !ok {
                    return Err(fail(rest, "Z07:00"));
                }
                let h: i64 = rest[1..3].parse().unwrap_or(0);
                let m: i64 = rest[4..6].parse().unwrap_or(0);
                let sign = if b[0] == b'-' { -1 } else { 1 };
                zone = Some(sign * (h * 3600 + m * 60));
                rest = &rest[6..];
            }
            lay = l;
        } else {
            // A literal run of the layout up to its next element.
            let end = lay[1..]
                .find(|c: char| c.is_ascii_digit() || c == 'Z' || c == '.')
                .map_or(lay.len(), |i| i + 1);
            let lit = &lay[..end];
            match rest.strip_prefix(lit) {
                Some(r) => rest = r,
                None => return Err(fail(rest, lit)),
            }
            lay = &lay[end..];
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            go_quote(v),
            go_quote(rest)
        ));
    }
    let [y, mo, d, h, mi, s] = f;
    if !(1..=12).contains(&mo) {
        return Err(range("month"));
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d < 1 || d > days_in[(mo - 1) as usize] {
        return Err(range("day"));
    }
    if h > 23 {
        return Err(range("hour"));
    }
    if mi > 59 {
        return Err(range("minute"));
    }
    if s > 59 {
        return Err(range("second"));
    }
    Ok((
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s,
        nanos,
        zone,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_become_unix_seconds() {
        assert_eq!(
            get_timestamp("2026-11-18T11:06:40Z").unwrap(),
            "1795000000.000000000"
        );
        assert_eq!(
            get_timestamp("2026-11-18T12:06:40.5+01:00").unwrap(),
            "1795000000.500000000"
        );
        assert_eq!(get_timestamp("1970-01-02Z").unwrap(), "86400.000000000");
        assert_eq!(get_timestamp("1700000000").unwrap(), "1700000000");
        assert_eq!(get_timestamp("1700000000.5").unwrap(), "1700000000.5");
        assert_eq!(get_timestamp("0").unwrap(), "0");
    }

    #[test]
    fn durations_count_back_from_now() {
        let t: i64 = get_timestamp("1h30m").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - 5400 - t).abs() <= 1);
        assert!(go_duration("300ms").is_some() && go_duration("-1.5h").is_some());
        assert!(go_duration("5m3").is_none() && go_duration("1e5").is_none());
    }

    #[test]
    fn errors_are_go_s() {
        let e = |v: &str| get_timestamp(v).unwrap_err().to_string();
        assert_eq!(
            e("bogus"),
            "failed to parse value as time or duration: \"bogus\""
        );
        assert_eq!(
            e("2020-13-01"),
            "parsing time \"2020-13-01\": month out of range"
        );
        assert_eq!(
            e("2020-01-0x"),
            "parsing time \"2020-01-0x\" as \"2006-01-02\": cannot parse \"0x\" as \"02\""
        );
        assert_eq!(
            e("2020-01-01Tab"),
            "parsing time \"2020-01-01Tab\" as \"2006-01-02T15\": cannot parse \"ab\" as \"15\""
        );
        assert_eq!(
            e("-5"),
            "parsing time \"-5\" as \"2006-01-02\": cannot parse \"-5\" as \"2006\""
        );
        assert_eq!(
            e("2020-01-01T10:00:00+0100"),
            "parsing time \"2020-01-01T10:00:00+0100\" as \"2006-01-02T15:04Z07:00\": cannot parse \":00+0100\" as \"Z07:00\""
        );
    }
}
