//! Wall-clock timestamps in Go's RFC3339Nano form (UTC, trailing zeros of the fraction
//! trimmed), which is what Docker writes in json-file logs and in `State.FinishedAt`.
//! No date crate: the civil-from-days conversion is a dozen lines.

use std::io::Write;

/// Now, as `2026-11-28T05:26:12.123456789Z`.
pub fn now_rfc3339_nano() -> String {
    let mut b = [0u8; 40];
    let n = format_now(&mut b);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// Writes the current time into `out`; returns the length (at most 30 bytes).
pub fn format_now(out: &mut [u8; 40]) -> usize {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    format(ts.tv_sec, ts.tv_nsec as u32, out)
}

/// Formats seconds since the epoch plus nanoseconds.
pub fn format(secs: i64, nanos: u32, out: &mut [u8; 40]) -> usize {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut w = &mut out[..];
    let _ = write!(
        w,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let mut frac = nanos;
        let mut digits = 9;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(w, ".{frac:0digits$}");
    }
    let _ = w.write_all(b"Z");
    let left = w.len();
    40 - left
}

/// Howard Hinnant's algorithm: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(secs: i64, nanos: u32) -> String {
        let mut b = [0u8; 40];
        let n = format(secs, nanos, &mut b);
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn formats_like_go_rfc3339nano() {
        assert_eq!(f(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            f(1_795_843_572, 123_456_789),
            "2026-11-28T05:26:12.123456789Z"
        );
        assert_eq!(f(1_795_843_572, 120_000_000), "2026-11-28T05:26:12.12Z");
        assert_eq!(f(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(
            f(4_102_444_799, 999_999_999),
            "2099-12-31T23:59:59.999999999Z"
        );
    }
}
