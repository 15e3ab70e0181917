//! Rate-limit settings: parses `N/PERIOD` (such as `5/10s` or `600/1m`) or `off`.

use std::time::Duration;

/// At most `count` requests per `period` from one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    pub count: u32,
    pub period: Duration,
}

/// Parses a rate-limit setting; `Ok(None)` means no limit.
pub fn parse_rate(s: &str) -> Result<Option<RateSpec>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad =
        || format!("rate limit {s:?} is not N/PERIOD: use e.g. 600/1m, 5/10s, 10000/1h or off");
    let (n, period) = s.split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    let period = parse_duration(period.trim()).ok_or_else(bad)?;
    if count == 0 || period.is_zero() {
        return Err(format!(
            "rate limit {s:?} allows nothing: use a count and period above zero, or off"
        ));
    }
    Ok(Some(RateSpec { count, period }))
}

/// Parses `500ms`, `10s`, `1m`, `2h`, `30d`; a bare unit means one of it.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = if digits.is_empty() {
        1
    } else {
        digits.parse().ok()?
    };
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(unit_ms)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let spec = |n, secs| {
            Ok(Some(RateSpec {
                count: n,
                period: Duration::from_secs(secs),
            }))
        };
        assert_eq!(parse_rate("5/10s"), spec(5, 10));
        assert_eq!(parse_rate("600/1m"), spec(600, 60));
        assert_eq!(parse_rate("100/h"), spec(100, 3600));
        assert_eq!(parse_rate(" off "), Ok(None));
        assert_eq!(parse_rate("OFF"), Ok(None));
        for bad in [
            "", "5", "5/", "/1m", "x/1m", "5/1y", "-1/1m", "0/1m", "5/0s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    }
}
