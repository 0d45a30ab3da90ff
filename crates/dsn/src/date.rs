//! RFC 5322 date-time values, as used by Arrival-Date, Last-Attempt-Date and
//! Will-Retry-Until. Kept tiny on purpose: the crate needs formatting, parsing
//! and adding a duration, nothing a calendar library would add.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment in time with the UTC offset it is written in.
///
/// ```
/// use dsn::DateTime;
/// let d = DateTime::parse("Wed, 16 Oct 2013 14:15:35 +0900").unwrap();
/// assert_eq!(d.unix(), 1381900535);
/// assert_eq!(d.to_string(), "Wed, 16 Oct 2013 14:15:35 +0900");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    unix: i64,
    offset_minutes: i16,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl DateTime {
    /// A moment given as seconds since the Unix epoch, written with the given
    /// offset from UTC in minutes (clamped to ±23:59).
    pub fn from_unix(unix: i64, offset_minutes: i16) -> DateTime {
        DateTime {
            unix,
            offset_minutes: offset_minutes.clamp(-1439, 1439),
        }
    }

    /// The given system time, written in UTC.
    pub fn from_system_time(t: SystemTime) -> DateTime {
        let unix = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        DateTime::from_unix(unix, 0)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// Offset from UTC in minutes that the value is written with.
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }

    /// The moment `d` later, in the same offset.
    pub fn add(&self, d: Duration) -> DateTime {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        DateTime {
            unix: self.unix.saturating_add(secs),
            offset_minutes: self.offset_minutes,
        }
    }

    /// Parses an RFC 5322 date-time, accepting the obsolete forms that real
    /// mailers write: missing day name, two-digit years, named zones, comments
    /// and missing seconds. Returns None when the text is not a date.
    pub fn parse(s: &str) -> Option<DateTime> {
        let cleaned = strip_comments(s);
        let mut words = cleaned
            .split(|c: char| c.is_ascii_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .peekable();
        if let Some(w) = words.peek()
            && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            words.next();
        }
        let day: i64 = words.next()?.parse().ok()?;
        let month_word = words.next()?;
        let month = MONTHS.iter().position(|m| {
            month_word
                .get(..3)
                .is_some_and(|w| m.eq_ignore_ascii_case(w))
        })?;
        let year_word = words.next()?;
        let mut year: i64 = year_word.parse().ok()?;
        if year_word.len() <= 2 {
            year += if year < 50 { 2000 } else { 1900 };
        } else if year_word.len() == 3 {
            year += 1900;
        }
        let time = words.next()?;
        let mut hms = time.split(':');
        let hour: i64 = hms.next()?.parse().ok()?;
        let minute: i64 = hms.next()?.parse().ok()?;
        let second: i64 = match hms.next() {
            Some(s) => s.parse().ok()?,
            None => 0,
        };
        if !(1..=31).contains(&day)
            || !(1..=9999).contains(&year)
            || !(0..=23).contains(&hour)
            || !(0..=59).contains(&minute)
            || !(0..=60).contains(&second)
        {
            return None;
        }
        let offset = zone_offset(words.next().unwrap_or("-0000"))?;
        let days = days_from_civil(year, month as i64 + 1, day);
        let local = days * 86400 + hour * 3600 + minute * 60 + second;
        Some(DateTime {
            unix: local - i64::from(offset) * 60,
            offset_minutes: offset,
        })
    }
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn zone_offset(z: &str) -> Option<i16> {
    let bytes = z.as_bytes();
    if let [sign @ (b'+' | b'-'), h1, h2, m1, m2] = bytes {
        let digits = [*h1, *h2, *m1, *m2];
        if digits.iter().all(u8::is_ascii_digit) {
            let h = i16::from(digits[0] - b'0') * 10 + i16::from(digits[1] - b'0');
            let m = i16::from(digits[2] - b'0') * 10 + i16::from(digits[3] - b'0');
            let total = h * 60 + m;
            return Some(if *sign == b'-' { -total } else { total });
        }
        return None;
    }
    let named = match z.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EDT" => -4 * 60,
        "EST" | "CDT" => -5 * 60,
        "CST" | "MDT" => -6 * 60,
        "MST" | "PDT" => -7 * 60,
        "PST" => -8 * 60,
        "JST" => 9 * 60,
        // RFC 5322 §4.3: other military and unknown zones mean "no information".
        _ => 0,
    };
    Some(named)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm, valid far beyond any mail date).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, usize, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, usize::try_from(m - 1).unwrap_or(0), d)
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self
            .unix
            .saturating_add(i64::from(self.offset_minutes) * 60);
        let days = local.div_euclid(86400);
        let secs = local.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        let weekday = DAYS
            .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
            .copied()
            .unwrap_or("Thu");
        let month = MONTHS.get(m).copied().unwrap_or("Jan");
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{weekday}, {d} {month} {y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            off / 60,
            off % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_with_offset() {
        let d = DateTime::from_unix(0, -90);
        assert_eq!(d.to_string(), "Wed, 31 Dec 1969 22:30:00 -0130");
        assert_eq!(DateTime::parse(&d.to_string()), Some(d));
    }

    #[test]
    fn parses_obsolete_forms() {
        let d = DateTime::parse("16 Oct 13 05:15 GMT (UTC)").unwrap();
        assert_eq!(d.unix(), 1381900500);
        assert_eq!(
            DateTime::parse("Thu, 29 Apr 2013 23:45:32 +0900 (JST)")
                .unwrap()
                .unix(),
            1367246732
        );
        assert_eq!(DateTime::parse("yesterday"), None);
    }

    #[test]
    fn out_of_range_values_are_refused_or_saturate() {
        assert_eq!(DateTime::parse("1 Jan 99999999999999 00:00:00 +0000"), None);
        assert_eq!(DateTime::parse("1 Jan 2020 -1:00:00 +0000"), None);
        let far = DateTime::from_unix(i64::MAX, 60);
        assert!(!far.to_string().is_empty());
        assert_eq!(far.add(Duration::from_secs(u64::MAX)).unix(), i64::MAX);
    }

    #[test]
    fn add_keeps_offset() {
        let d = DateTime::from_unix(1000, 60).add(Duration::from_secs(3600));
        assert_eq!((d.unix(), d.offset_minutes()), (4600, 60));
    }
}
