//! Timestamps on the wire: RFC 3339 in UTC with up to nine fractional digits,
//! trailing zeros trimmed, the way Go's `time.Time` marshals to JSON
//! (`"2024-03-01T10:00:00.123456789Z"`, `"2024-03-01T10:00:00Z"`).
//!
//! Use the modules with `#[serde(with = ...)]`:
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Event {
//!     #[serde(rename = "At", with = "webapi::time")]
//!     at: SystemTime,
//!     #[serde(rename = "Until", with = "webapi::time::option", default)]
//!     until: Option<SystemTime>,
//! }
//!
//! let at = UNIX_EPOCH + Duration::new(1_709_287_200, 123_000_000);
//! let json = serde_json::to_string(&Event { at, until: None }).unwrap();
//! assert_eq!(json, r#"{"At":"2024-03-01T10:00:00.123Z","Until":null}"#);
//! let back: Event = serde_json::from_str(r#"{"At":"2024-03-01T11:00:00.123+01:00"}"#).unwrap();
//! assert_eq!(back.at, at);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serializer};

/// A timestamp string that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {input:?}: {reason}")]
pub struct TimeError {
    /// The text that did not parse (at most 64 characters of it).
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

/// Formats `t` as RFC 3339 in UTC with trimmed nanoseconds.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(webapi::time::format(UNIX_EPOCH + Duration::new(0, 500)), "1970-01-01T00:00:00.0000005Z");
/// ```
pub fn format(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 timestamp (`Z` or a numeric offset, any number of
/// fractional digits up to nanoseconds).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = webapi::time::parse("1970-01-01T01:00:01.5+01:00").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1500));
/// assert!(webapi::time::parse("yesterday").is_err());
/// ```
pub fn parse(s: &str) -> Result<SystemTime, TimeError> {
    let err = |reason| TimeError {
        input: s.chars().take(64).collect(),
        reason,
    };
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 {
        return Err(err("wrong length"));
    }
    let num = |from: usize, to: usize| -> Result<i64, TimeError> {
        let part = b.get(from..to).ok_or(err("truncated"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(err("expected digits"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')))
    };
    let sep = |at: usize, want: &[u8]| -> Result<(), TimeError> {
        match b.get(at) {
            Some(c) if want.contains(c) => Ok(()),
            _ => Err(err("unexpected separator")),
        }
    };
    let year = num(0, 4)?;
    sep(4, b"-")?;
    let month = num(5, 7)?;
    sep(7, b"-")?;
    let day = num(8, 10)?;
    sep(10, b"Tt ")?;
    let hour = num(11, 13)?;
    sep(13, b":")?;
    let minute = num(14, 16)?;
    sep(16, b":")?;
    let second = num(17, 19)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(err("field out of range"));
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return Err(err("empty fraction"));
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b":")?;
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return Err(err("offset out of range"));
            }
            let o = h * 3600 + m * 60;
            if *c == b'-' { -o } else { o }
        }
        _ => return Err(err("missing or malformed zone")),
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    t.ok_or(err("out of range"))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithms, proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Serializes a [`SystemTime`] with [`format()`] (for `#[serde(with = "webapi::time")]`).
pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// Deserializes a [`SystemTime`] with [`parse`] (for `#[serde(with = "webapi::time")]`).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// `Option<SystemTime>` as a timestamp or `null`
/// (for `#[serde(with = "webapi::time::option", default)]`).
pub mod option {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `null` for `None`, else the timestamp.
    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(*t)),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` (or an absent field, with `default`) as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse(&s).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        let t = UNIX_EPOCH + Duration::new(1_709_287_200, 123_456_789);
        assert_eq!(format(t), "2024-03-01T10:00:00.123456789Z");
        assert_eq!(
            format(UNIX_EPOCH + Duration::new(1_709_287_200, 100)),
            "2024-03-01T10:00:00.0000001Z"
        );
        assert_eq!(
            format(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_millis(500)),
            "1969-12-31T23:59:59.5Z"
        );
    }

    #[test]
    fn parses_offsets_and_fractions_back_to_the_same_instant() {
        let t = UNIX_EPOCH + Duration::new(1_709_287_200, 120_000_000);
        assert_eq!(parse("2024-03-01T10:00:00.12Z"), Ok(t));
        assert_eq!(parse("2024-03-01T05:30:00.12-04:30"), Ok(t));
        assert_eq!(parse(&format(t)), Ok(t));
        assert_eq!(
            parse("0001-01-01T00:00:00Z").map(format).ok().as_deref(),
            Some("0001-01-01T00:00:00Z")
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2024-03-01",
            "2024-02-30T00:00:00Z",
            "2024-03-01T10:00:00",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:00:00+0100",
            "２０２４-03-01T10:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
