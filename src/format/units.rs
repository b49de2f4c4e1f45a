//! Docker's human-readable units (github.com/docker/go-units) and the
//! "… ago" strings the docker CLI builds from them.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::gonum;

/// go-units' decimal unit names.
const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `units.HumanSizeWithPrecision(size, precision)`: divide by 1000 until the
/// value is below 1000 (or the units run out), then `"%.*g%s"`.
///
/// Like Go's `%g`, a value that rounds up to 1000 is written in exponent
/// form (`999_950` bytes is `"1e+03kB"` at precision 3); Docker prints that
/// too.
pub fn human_size_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < DECIMAL_ABBRS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", gonum::format_g(size, precision), DECIMAL_ABBRS[i])
}

/// `units.HumanSizeWithPrecision(float64(size), 3)`: what `docker images`
/// and `docker history` print in their SIZE columns (e.g. `"72.8MB"`).
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes as f64, 3)
}

/// `units.HumanSize(float64(size))`, precision 4: what `docker system df`
/// and the images `SharedSize`/`UniqueSize` fields print (e.g. `"1.049MB"`).
pub fn human_size4(bytes: u64) -> String {
    human_size_precision(bytes as f64, 4)
}

/// `units.HumanDuration(d)` as released in go-units v0.5.0, which the
/// docker CLI vendors: seconds and minutes are truncated, hours are rounded
/// (`int(d.Hours() + 0.5)`), and days, weeks and months are whole divisions
/// of those rounded hours (so 2 weeks 4 days is "2 weeks"). Years divide
/// the truncated hours.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = d.as_secs_f64() / 3600.0;
    let hours = (exact_hours + 0.5) as u64;
    if hours == 1 {
        return "About an hour".to_owned();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", exact_hours as u64 / 24 / 365)
}

/// `units.HumanDuration(now.Sub(created)) + " ago"`, the docker CLI's
/// CreatedSince. A `created` in the future is a negative Go duration, which
/// HumanDuration calls "Less than a second".
pub fn time_ago(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = (now - created).to_std().unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(d))
}

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z). The daemon
/// reports an unknown creation time as this value.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// Go's zero time (`0001-01-01T00:00:00Z`): what Docker prints for a time
/// an image does not record.
pub fn go_zero_time() -> DateTime<Utc> {
    DateTime::from_timestamp(GO_ZERO_TIME_UNIX, 0).unwrap_or_default()
}

/// Whether `t` is Go's zero time, i.e. "not set".
pub fn is_zero_time(t: &DateTime<Utc>) -> bool {
    t.timestamp() == GO_ZERO_TIME_UNIX
}

/// The `CreatedSince` field of `docker images`: empty when the creation
/// time is unknown, so that the default table's
/// `{{if .CreatedSince}}…{{else}}N/A{{end}}` prints `N/A`.
pub fn image_created_since(created: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match created {
        Some(t) if !is_zero_time(&t) => time_ago(t, now),
        _ => String::new(),
    }
}

/// The `CreatedSince` field of `docker history`: `N/A` for unknown times
/// and for anything at or before 2000-01-01 (the CLI's cut-off for dates
/// not worth showing in human units, e.g. reproducible builds at epoch 0).
pub fn history_created_since(created: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    match (created, epoch) {
        (Some(t), Some(epoch)) if t > epoch => time_ago(t, now),
        _ => "N/A".to_owned(),
    }
}

/// Parses an RFC 3339 timestamp as found in image configs and history
/// (`2023-05-01T12:00:00.123456789Z`, or with an offset) into UTC.
/// A time as Go's `time.RFC3339Nano` writes it (Docker's image and
/// history times): UTC, the fraction without its trailing zeros.
pub fn go_rfc3339_nano(t: DateTime<Utc>) -> String {
    let full = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match full.split_once('.') {
        Some((seconds, fraction)) => {
            let digits = fraction.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{seconds}Z")
            } else {
                format!("{seconds}.{digits}Z")
            }
        }
        None => full,
    }
}

pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_precision_3() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1), "1B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.02kB");
        assert_eq!(human_size(72_795_000), "72.8MB");
        assert_eq!(human_size(823_000_000), "823MB");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_size(63_100_000), "63.1MB");
        assert_eq!(human_size(5_000_000_000_000), "5TB");
        assert_eq!(human_size(u64::MAX), "18.4EB");
        // Go's %.3g switches to exponent form when rounding reaches 1000.
        assert_eq!(human_size(999_950), "1e+03kB");
    }

    #[test]
    fn sizes_precision_4_match_go_units_tests() {
        assert_eq!(human_size4(1000), "1kB");
        assert_eq!(human_size4(1024), "1.024kB");
        assert_eq!(human_size4(1_000_000), "1MB");
        assert_eq!(human_size4(1_048_576), "1.049MB");
        assert_eq!(human_size4(2_000_000), "2MB");
        assert_eq!(human_size_precision(3.42e9, 4), "3.42GB");
        assert_eq!(human_size_precision(5.372e12, 4), "5.372TB");
        assert_eq!(human_size_precision(2.22e15, 4), "2.22PB");
        assert_eq!(human_size_precision(1e13 * 1e15, 4), "1e+04YB");
        assert_eq!(human_size_precision(-1.0, 4), "-1B");
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_match_go_units_v0_5_tests() {
        let m = 60;
        let h = 60 * m;
        let day = 24 * h;
        let week = 7 * day;
        let month = 30 * day;
        let year = 365 * day;
        let cases: &[(Duration, &str)] = &[
            (Duration::from_millis(450), "Less than a second"),
            (secs(1), "1 second"),
            (secs(45), "45 seconds"),
            (secs(46), "46 seconds"),
            (secs(59), "59 seconds"),
            (secs(60), "About a minute"),
            (secs(3 * m), "3 minutes"),
            (secs(35 * m), "35 minutes"),
            (secs(35 * m + 40), "35 minutes"),
            (secs(45 * m), "45 minutes"),
            (secs(45 * m + 40), "45 minutes"),
            (secs(46 * m), "46 minutes"),
            (secs(59 * m), "59 minutes"),
            (secs(h), "About an hour"),
            (secs(h + 29 * m), "About an hour"),
            (secs(h + 31 * m), "2 hours"),
            (secs(h + 59 * m), "2 hours"),
            (secs(3 * h), "3 hours"),
            (secs(3 * h + 29 * m), "3 hours"),
            (secs(3 * h + 31 * m), "4 hours"),
            (secs(3 * h + 59 * m), "4 hours"),
            (secs(3 * h + 60 * m), "4 hours"),
            (secs(24 * h), "24 hours"),
            (secs(day + 12 * h), "36 hours"),
            (secs(2 * day), "2 days"),
            (secs(7 * day), "7 days"),
            (secs(13 * day + 5 * h), "13 days"),
            (secs(2 * week), "2 weeks"),
            (secs(2 * week + 4 * day), "2 weeks"),
            (secs(3 * week), "3 weeks"),
            (secs(4 * week), "4 weeks"),
            (secs(4 * week + 3 * day), "4 weeks"),
            (secs(month), "4 weeks"),
            (secs(month + 2 * week), "6 weeks"),
            (secs(2 * month), "2 months"),
            (secs(2 * month + 2 * week), "2 months"),
            (secs(3 * month), "3 months"),
            (secs(3 * month + week), "3 months"),
            (secs(5 * month + 2 * week), "5 months"),
            (secs(13 * month), "13 months"),
            (secs(23 * month), "23 months"),
            (secs(24 * month), "24 months"),
            (secs(24 * month + 2 * week), "2 years"),
            (secs(3 * year + 2 * month), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "{d:?}");
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn ago() {
        let now = at("2024-03-01T12:00:00Z");
        assert_eq!(time_ago(at("2022-01-01T00:00:00Z"), now), "2 years ago");
        assert_eq!(time_ago(at("2024-03-01T11:59:30Z"), now), "30 seconds ago");
        assert_eq!(time_ago(now, now), "Less than a second ago");
        // In the future: a negative duration in Go.
        assert_eq!(
            time_ago(at("2024-03-02T00:00:00Z"), now),
            "Less than a second ago"
        );
    }

    #[test]
    fn created_since_variants() {
        let now = at("2024-03-01T12:00:00Z");
        let zero = at("0001-01-01T00:00:00Z");
        assert!(is_zero_time(&zero));
        assert_eq!(image_created_since(None, now), "");
        assert_eq!(image_created_since(Some(zero), now), "");
        assert_eq!(
            image_created_since(Some(at("1970-01-01T00:00:00Z")), now),
            "54 years ago"
        );
        assert_eq!(
            image_created_since(Some(at("2024-02-29T12:00:00Z")), now),
            "24 hours ago"
        );
        assert_eq!(history_created_since(None, now), "N/A");
        assert_eq!(
            history_created_since(Some(at("1970-01-01T00:00:00Z")), now),
            "N/A"
        );
        assert_eq!(
            history_created_since(Some(at("2000-01-01T00:00:00Z")), now),
            "N/A"
        );
        assert_eq!(
            history_created_since(Some(at("2024-02-01T12:00:00Z")), now),
            "4 weeks ago"
        );
    }

    #[test]
    fn go_rfc3339_nano_trims_the_fraction() {
        let at = |nanos| DateTime::from_timestamp(1_700_000_000, nanos).unwrap();
        assert_eq!(go_rfc3339_nano(at(0)), "2023-11-14T22:13:20Z");
        assert_eq!(go_rfc3339_nano(at(120_000_000)), "2023-11-14T22:13:20.12Z");
        assert_eq!(go_rfc3339_nano(at(5)), "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn rfc3339() {
        let t = parse_rfc3339("2023-05-01T14:00:00.123456789+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2023-05-01T12:00:00.123456789+00:00");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
