//! The reference's relative time filters: "<10m", ">-1h", "<now".

use std::time::{Duration, SystemTime};

use crate::model::TimeBound;

/// Why a relative time filter does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeBoundError {
    /// It does not start with '<' or '>'.
    #[error("time filter {0:?} must start with '<' or '>'")]
    Comparison(String),
    /// The duration is not "now" nor a Go-style duration such as "-1h30m".
    #[error("time filter {0:?} has a bad duration")]
    Duration(String),
}

/// Parses "<dur" (before now+dur) or ">dur" (after now+dur), where dur is
/// "now" or a Go-style duration with units h, m, s, ms ("-1h", "10m", "1h30m", "1.5h").
///
/// ```
/// use queue::{TimeBound, parse_time_bound};
/// use std::time::{Duration, SystemTime};
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
/// assert_eq!(parse_time_bound("<-1h", now), Ok(TimeBound::Before(now - Duration::from_secs(3600))));
/// assert_eq!(parse_time_bound(">now", now), Ok(TimeBound::After(now)));
/// ```
pub fn parse_time_bound(s: &str, now: SystemTime) -> Result<TimeBound, TimeBoundError> {
    let (before, rest) = match s.as_bytes().first() {
        Some(b'<') => (true, s.get(1..).unwrap_or("")),
        Some(b'>') => (false, s.get(1..).unwrap_or("")),
        _ => return Err(TimeBoundError::Comparison(s.into())),
    };
    let bad = || TimeBoundError::Duration(s.into());
    let at = if rest == "now" {
        now
    } else {
        let (negative, magnitude) = parse_duration(rest).ok_or_else(bad)?;
        if negative {
            now.checked_sub(magnitude).ok_or_else(bad)?
        } else {
            now.checked_add(magnitude).ok_or_else(bad)?
        }
    };
    Ok(if before {
        TimeBound::Before(at)
    } else {
        TimeBound::After(at)
    })
}

fn parse_duration(s: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() || rest.len() > 64 {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match rest.get(..unit_len)? {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += number * seconds;
        rest = rest.get(unit_len..)?;
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .map(|d| (negative, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_and_fractional_durations() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000);
        assert_eq!(
            parse_time_bound(">1h30m", now),
            Ok(TimeBound::After(now + Duration::from_secs(5400)))
        );
        assert_eq!(
            parse_time_bound("<1.5h", now),
            Ok(TimeBound::Before(now + Duration::from_secs(5400)))
        );
        assert_eq!(
            parse_time_bound("<250ms", now),
            Ok(TimeBound::Before(now + Duration::from_millis(250)))
        );
    }

    #[test]
    fn bad_filters_are_refused() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            parse_time_bound("10m", now),
            Err(TimeBoundError::Comparison("10m".into()))
        );
        assert_eq!(
            parse_time_bound("<10", now),
            Err(TimeBoundError::Duration("<10".into()))
        );
        assert_eq!(
            parse_time_bound("<1d", now),
            Err(TimeBoundError::Duration("<1d".into()))
        );
        assert_eq!(
            parse_time_bound("<", now),
            Err(TimeBoundError::Duration("<".into()))
        );
        assert_eq!(
            parse_time_bound("", now),
            Err(TimeBoundError::Comparison("".into()))
        );
    }
}
