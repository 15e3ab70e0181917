//! Reading times: parses the forms devices send (RFC 3339, unix seconds, unix milliseconds) and
//! refuses times no working clock produces.

use crate::Millis;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Numbers below this are unix seconds, at or above it unix milliseconds. 1e11 seconds is the
/// year 5138; 1e11 milliseconds is March 1973, before any device that sends to Clima.
const SECONDS_LIMIT: f64 = 1e11;
/// 2000-01-01T00:00:00Z. Earlier times come from clocks that were never set.
const EARLIEST: Millis = 946_684_800_000;
/// How far ahead of the host clock a device clock may run.
pub const MAX_FUTURE_MS: Millis = 60 * 60 * 1000;

/// Parses a number as unix seconds or milliseconds, told apart by magnitude.
pub fn from_unix_number(n: f64) -> Result<Millis, String> {
    if !n.is_finite() {
        return Err("is not a finite number".into());
    }
    let ms = if n.abs() < SECONDS_LIMIT {
        n * 1000.0
    } else {
        n
    };
    if ms.abs() > 1e15 {
        return Err(format!(
            "{n} is too large for a unix time in seconds or milliseconds"
        ));
    }
    Ok(ms.round() as Millis)
}

/// Parses RFC 3339 text with an explicit offset.
pub fn from_rfc3339(s: &str) -> Result<Millis, String> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        format!("{s:?} is not an RFC 3339 time with offset, such as 2026-11-26T09:00:00Z")
    })?;
    Ok((dt.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// Parses text that is either RFC 3339 or a unix number (query parameters).
pub fn from_text(s: &str) -> Result<Millis, String> {
    match s.trim().parse::<f64>() {
        Ok(n) => from_unix_number(n),
        Err(_) => from_rfc3339(s.trim()),
    }
}

/// Refuses times from unset clocks and times too far in the future.
pub fn check_plausible(t: Millis, now: Millis) -> Result<Millis, String> {
    if t < EARLIEST {
        return Err(format!(
            "{} is before 2000, which means the device clock is not set: omit measured_at to use the time of receipt",
            format_rfc3339(t)
        ));
    }
    if t > now + MAX_FUTURE_MS {
        return Err(format!(
            "{} is more than an hour ahead of this computer's clock: fix the device clock or omit measured_at",
            format_rfc3339(t)
        ));
    }
    Ok(t)
}

/// Formats milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339(t: Millis) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000) {
        Ok(dt) => {
            let dt = dt
                .replace_nanosecond((t.rem_euclid(1000) as u32) * 1_000_000)
                .unwrap_or(dt);
            dt.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .unwrap_or_else(|_| t.to_string())
        }
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_700_000_000;

    #[test]
    fn forms() {
        assert_eq!(from_rfc3339("2026-11-26T09:00:00Z"), Ok(1_795_683_600_000));
        assert_eq!(
            from_rfc3339("2026-11-26T10:00:00+01:00"),
            Ok(1_795_683_600_000)
        );
        assert_eq!(
            from_rfc3339("2026-11-26T09:00:01.000000Z"),
            Ok(1_795_683_601_000)
        );
        assert!(from_rfc3339("2026-11-26 09:00:00").is_err());
        assert!(
            from_rfc3339("2026-11-26T09:00:00").is_err(),
            "offset required"
        );
        assert_eq!(from_unix_number(1_795_683_660.0), Ok(1_795_683_660_000));
        assert_eq!(from_unix_number(1_795_683_660.25), Ok(1_795_683_660_250));
        assert_eq!(from_unix_number(1_795_683_660_000.0), Ok(1_795_683_660_000));
        assert!(from_unix_number(f64::NAN).is_err());
        assert!(from_unix_number(1e300).is_err());
        assert_eq!(from_text("1795683660"), Ok(1_795_683_660_000));
        assert_eq!(from_text("2026-11-26T09:00:00Z"), Ok(1_795_683_600_000));
    }

    #[test]
    fn plausibility() {
        assert!(check_plausible(NOW, NOW).is_ok());
        assert!(check_plausible(NOW + MAX_FUTURE_MS, NOW).is_ok());
        assert!(check_plausible(NOW + MAX_FUTURE_MS + 1, NOW)
            .unwrap_err()
            .contains("ahead"));
        assert!(check_plausible(5_000, NOW).unwrap_err().contains("not set"));
    }

    #[test]
    fn formats() {
        assert_eq!(
            format_rfc3339(1_795_683_601_250),
            "2026-11-26T09:00:01.250Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
