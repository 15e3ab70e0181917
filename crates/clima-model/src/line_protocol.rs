//! InfluxDB 1.x line protocol: `measurement,tag=v field=1.5,other=2i 1795687200000000000`.
//! The measurement and tags name the sensor; numeric fields become metrics; other fields are skipped.

use crate::reading::{Draft, Reading, Rejected};
use crate::sensor::SensorId;
use crate::series::SeriesTags;
use crate::{FieldError, Millis};

/// The unit of line-protocol timestamps, from the `precision` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// Accepts the names InfluxDB 1.x accepts (`ns`/`n`, `us`/`u`, `ms`, `s`, `m`, `h`).
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" | "µ" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            other => {
                return Err(format!(
                    "precision {other:?} is unknown: use ns, us, ms or s"
                ))
            }
        })
    }

    fn to_millis(self, t: i64) -> Option<Millis> {
        match self {
            Precision::Nanoseconds => Some(t.div_euclid(1_000_000)),
            Precision::Microseconds => Some(t.div_euclid(1_000)),
            Precision::Milliseconds => Some(t),
            Precision::Seconds => t.checked_mul(1_000),
            Precision::Minutes => t.checked_mul(60_000),
            Precision::Hours => t.checked_mul(3_600_000),
        }
    }
}

/// Parses a body of lines. Blank lines and `#` comments are skipped; each rejected line carries
/// its 1-based line number.
pub fn parse(text: &str, precision: Precision, now: Millis) -> Vec<Result<Reading, Rejected>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, l)| {
            parse_line(l.trim_end_matches('\r'), precision, now).map_err(|e| match e {
                LineError::Field(f) => Rejected::field(i + 1, f),
                LineError::Syntax(s) => Rejected::new(i + 1, s),
            })
        })
        .collect()
}

enum LineError {
    Field(FieldError),
    Syntax(String),
}

impl From<FieldError> for LineError {
    fn from(e: FieldError) -> Self {
        LineError::Field(e)
    }
}

fn syntax(s: &str) -> LineError {
    LineError::Syntax(format!(
        "{s}: lines look like 'room,place=attic temperature=18.4 1795687200000000000'"
    ))
}

/// Parses one line into a reading.
fn parse_line(line: &str, precision: Precision, now: Millis) -> Result<Reading, LineError> {
    let parts = split_unescaped(line.trim_start(), b' ', true);
    let parts: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    let (key, fields, ts) = match parts.as_slice() {
        [k, f] => (*k, *f, None),
        [k, f, t] => (*k, *f, Some(*t)),
        [_] => return Err(syntax("no fields")),
        _ => return Err(syntax("too many space-separated parts")),
    };
    let mut key_parts = split_unescaped(key, b',', false).into_iter();
    let measurement = unescape(key_parts.next().unwrap_or(""));
    if measurement.is_empty() {
        return Err(syntax("empty measurement"));
    }
    let mut tags: Vec<(String, String)> = Vec::new();
    for tag in key_parts {
        let (k, v) = split_pair(tag).ok_or_else(|| syntax(&format!("tag {tag:?} has no '='")))?;
        tags.push((unescape(k), unescape(v)));
    }
    tags.sort();

    let mut draft = Draft::default();
    let explicit = tags
        .iter()
        .find(|(k, _)| k == "sensor" || k == "id")
        .map(|(_, v)| v.clone());
    draft.sensor = Some(match explicit.as_deref().map(SensorId::parse) {
        Some(Ok(id)) => id,
        _ => {
            let mut id = measurement.clone();
            for (_, v) in &tags {
                id.push('.');
                id.push_str(v);
            }
            SensorId::sanitized(&id)
        }
    });
    if let Some((_, name)) = tags.iter().find(|(k, _)| k == "name") {
        draft.name(name)?;
    }
    draft.series = Some(SeriesTags::new(measurement, tags.into_iter().collect()));

    for field in split_unescaped(fields, b',', true) {
        let (k, v) =
            split_pair(field).ok_or_else(|| syntax(&format!("field {field:?} has no '='")))?;
        let name = unescape(k);
        if let Some(value) = field_number(&name, v)? {
            draft.metric(&name, value)?;
        }
    }
    if !draft.has_values() {
        return Err(LineError::Syntax(
            "no numeric fields (string and boolean fields are not stored)".into(),
        ));
    }
    if let Some(ts) = ts {
        let raw: i64 = ts
            .parse()
            .map_err(|_| syntax(&format!("timestamp {ts:?} is not an integer")))?;
        let t = precision
            .to_millis(raw)
            .ok_or_else(|| FieldError::new("timestamp", "is out of range"))?;
        draft
            .measured_at(t, now)
            .map_err(|e| FieldError::new("timestamp", e.problem))?;
    }
    let fallback = draft.sensor.clone().expect("set above");
    draft.finish(&fallback).map_err(LineError::Syntax)
}

/// A field value as a number, `None` for string and boolean fields.
fn field_number(name: &str, v: &str) -> Result<Option<f64>, FieldError> {
    if v.starts_with('"') {
        return Ok(None);
    }
    if matches!(
        v,
        "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
    ) {
        return Ok(None);
    }
    let digits = v
        .strip_suffix('i')
        .or_else(|| v.strip_suffix('u'))
        .unwrap_or(v);
    digits
        .parse::<f64>()
        .map(Some)
        .map_err(|_| FieldError::new(name, format!("value {v:?} is not a number")))
}

/// Splits at `sep` where it is not escaped by a backslash (and, if `quotes`, not inside a
/// double-quoted string value).
fn split_unescaped(s: &str, sep: u8, quotes: bool) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut in_quotes) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' if quotes => in_quotes = !in_quotes,
            b if b == sep && !in_quotes => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start.min(s.len())..]);
    out
}

fn split_pair(s: &str) -> Option<(&str, &str)> {
    let parts = split_unescaped(s, b'=', true);
    let key_len = parts.first()?.len();
    (parts.len() >= 2).then(|| (&s[..key_len], &s[key_len + 1..]))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if matches!(n, ',' | '=' | ' ' | '\\' | '"') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_700_000_000;

    /// The sensor, the values and the time a line should give, or a fragment of its error.
    type Expected<'a> = Result<(&'a str, &'a [(&'a str, f64)], Option<Millis>), &'a str>;

    fn check(line: &str, expected: Expected) {
        let got = parse(line, Precision::Nanoseconds, NOW).remove(0);
        match (got, expected) {
            (Ok(r), Ok((sensor, values, t))) => {
                assert_eq!(r.sensor.as_str(), sensor, "{line}");
                let v: Vec<(&str, f64)> = r.values.iter().map(|(m, v)| (m.as_str(), *v)).collect();
                assert_eq!(v, values, "{line}");
                assert_eq!(r.measured_at, t, "{line}");
            }
            (Err(e), Err(fragment)) => assert!(e.reason.contains(fragment), "{line}: {}", e.reason),
            (got, _) => panic!("{line}: unexpected {got:?}"),
        }
    }

    #[test]
    fn lines() {
        check(
            "climate,room=attic temperature=18.4,humidity=55.1 1795687200000000000",
            Ok((
                "climate.attic",
                &[("temperature", 18.4), ("humidity", 55.1)],
                Some(1_795_687_200_000),
            )),
        );
        check(
            "weather temp=3i",
            Ok(("weather", &[("temperature", 3.0)], None)),
        );
        check(
            "w,sensor=porch t=1u,s=\"a, b=c\",ok=true",
            Ok(("porch", &[("t", 1.0)], None)),
        );
        check(
            r"my\ room,loc=a\,b temp=1",
            Ok(("my_room.a_b", &[("temperature", 1.0)], None)),
        );
        check(r"room temp\ c=1", Err("metric names"));
        check(
            "cpu,host=pc,cpu=cpu-total usage_idle=97.5",
            Ok(("cpu.cpu-total.pc", &[("usage_idle", 97.5)], None)),
        );
        check("climate temperature=999", Err("no probe"));
        check("climate humidity=1e400", Err("infinite"));
        check("climate", Err("no fields"));
        check("climate temperature", Err("has no '='"));
        check("climate temperature=abc", Err("not a number"));
        check("climate s=\"text\"", Err("no numeric fields"));
        check("climate t=1 notatime", Err("not an integer"));
        check("climate t=1 5", Err("not set"));
        check(",a=b t=1", Err("empty measurement"));
    }

    #[test]
    fn fixture_and_precisions() {
        let got = parse(
            include_str!("../tests/data/serial/influx-line-protocol.txt"),
            Precision::Nanoseconds,
            NOW,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].as_ref().unwrap().measured_at,
            Some(1_795_687_260_000)
        );
        for (p, ts) in [
            ("s", "1795687200"),
            ("ms", "1795687200000"),
            ("us", "1795687200000000"),
            ("m", "29928120"),
        ] {
            let r = parse(&format!("c t=1 {ts}"), Precision::parse(p).unwrap(), NOW)
                .remove(0)
                .unwrap();
            assert_eq!(r.measured_at, Some(1_795_687_200_000), "{p}");
        }
        assert!(Precision::parse("weeks").is_err());
        let mixed = parse(
            "# comment\n\nc t=1\nbad\r\nc t=2\n",
            Precision::Nanoseconds,
            NOW,
        );
        assert_eq!(mixed.len(), 3);
        assert_eq!(mixed[1].as_ref().unwrap_err().index, 4);
    }
}
