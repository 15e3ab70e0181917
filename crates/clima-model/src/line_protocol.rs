//! InfluxDB line protocol, read the way InfluxDB 1.6 reads it:
//! `measurement,tag=v field=1.5,count=2i,note="text" 1795687200000000000`.
//! The measurement and tags name the sensor; numeric fields become metrics; string and boolean
//! fields are not stored.

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
    /// Accepts the names InfluxDB 1.x accepts (`n`, `u`, `ms`, `s`, `m`, `h`) and those of
    /// InfluxDB 2 (`ns`, `us`). InfluxDB 1.6 reads any other name as nanoseconds; Clima refuses
    /// it, since a client that sends one means some other unit.
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
                    "precision {other:?} is unknown: use ns, us, ms, s, m or h"
                ))
            }
        })
    }

    fn nanos(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }
}

/// Parses a body. Blank lines and `#` comments are skipped; each rejected line carries the
/// 1-based number of the line it starts on. A line whose fields are all strings or booleans is
/// valid but holds nothing Clima stores, so it gives no item.
pub fn parse(text: &str, precision: Precision, now: Millis) -> Vec<Result<Reading, Rejected>> {
    parse_numbered(text, precision, now)
        .into_iter()
        .map(|(_, item)| item)
        .collect()
}

/// [`parse`], with the 1-based number of the line each item starts on, for naming the refused
/// fields of stored lines too.
pub fn parse_numbered(
    text: &str,
    precision: Precision,
    now: Millis,
) -> Vec<(usize, Result<Reading, Rejected>)> {
    lines(text)
        .filter_map(|(number, line)| {
            let item = match reading(line, precision, now) {
                Ok(r) => r.map(Ok),
                Err(LineError::Field(f)) => Some(Err(Rejected::field(number, f))),
                Err(LineError::Syntax(s)) => Some(Err(Rejected::new(number, s))),
            }?;
            Some((number, item))
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

/// Longest key (measurement and tags, escaped) InfluxDB takes, in bytes; with a field key and
/// 4 bytes of separator it must also fit.
const MAX_KEY: usize = 65_535;
/// Nanosecond times InfluxDB can store: the two lowest values are reserved, and so is the top.
const MIN_NANOS: i64 = i64::MIN + 2;
const MAX_NANOS: i64 = i64::MAX - 1;

/// Splits a body where InfluxDB does: at each newline, except inside a double-quoted field
/// value. Yields each line's 1-based number and its text from the first non-blank byte; blank
/// lines and `#` comments are left out. A `\r` before the newline is dropped (InfluxDB 1.6
/// refuses such lines; Windows tools send them and they are not ambiguous).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let (mut start, mut number) = (0, 1);
    std::iter::from_fn(move || {
        while start < bytes.len() {
            let end = line_end(bytes, start);
            let line = &text[start..end];
            let first = number;
            number += 1 + line.bytes().filter(|&b| b == b'\n').count();
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = line.trim_start_matches([' ', '\t', '\0']);
            if !line.is_empty() && !line.starts_with('#') {
                return Some((first, line));
            }
        }
        None
    })
}

/// Where the line starting at `i` ends. Quotes count only after the first space and in a field
/// value (more `=` than `,` seen), as InfluxDB counts them; so a comment holding `x="` runs on
/// into the next line just as it does there.
fn line_end(b: &[u8], mut i: usize) -> usize {
    let (mut in_fields, mut quoted, mut equals, mut commas) = (false, false, 0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' if i + 2 < b.len() => {
                i += 2;
                continue;
            }
            b' ' => in_fields = true,
            b'=' if in_fields && !quoted => equals += 1,
            b',' if in_fields && !quoted => commas += 1,
            b'"' if in_fields && equals > commas => quoted = !quoted,
            b'\n' if !quoted => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// A field value, as far as Clima cares.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Number(f64),
    Text,
    Boolean,
}

/// Tag keys and values, still escaped.
type Tags<'a> = Vec<(&'a str, &'a str)>;

/// One line as InfluxDB reads it; names still escaped, tags sorted by key.
struct Point<'a> {
    measurement: &'a str,
    tags: Tags<'a>,
    fields: Vec<(&'a str, Value)>,
    /// Nanoseconds since 1970; `None` means the time of receipt.
    time: Option<i64>,
}

/// Reads one line with InfluxDB 1.6's rules, refusing what it refuses.
fn point(line: &str, precision: Precision) -> Result<Point<'_>, String> {
    let (key_end, measurement, tags) = scan_key(line)?;
    if key_end > MAX_KEY {
        return Err(format!(
            "measurement and tags are {key_end} bytes long: InfluxDB takes at most {MAX_KEY}"
        ));
    }
    let (start, end) = scan_fields(line, key_end)?;
    let mut fields = Vec::new();
    for (key, value) in field_pairs(&line[start..end])? {
        if key_end + 4 + key.len() > MAX_KEY {
            return Err(format!(
                "field {key:?} makes the series key longer than InfluxDB's {MAX_KEY} bytes: \
                 shorten the names"
            ));
        }
        if let Some(v) = field_value(key, value)? {
            fields.push((key, v));
        }
    }
    let time = scan_time(line, end, precision)?;
    Ok(Point {
        measurement,
        tags,
        fields,
        time,
    })
}

/// Whether the byte at `i` is escaped. In measurements and tags InfluxDB takes any byte after
/// a backslash as escaped, even when that backslash itself follows one.
fn escaped(b: &[u8], i: usize) -> bool {
    i > 0 && b[i - 1] == b'\\'
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0)
}

/// Reads the measurement and tags. Returns where they end (at the space before the fields),
/// the measurement and the tags sorted by key.
fn scan_key(line: &str) -> Result<(usize, &str, Tags<'_>), String> {
    let b = line.as_bytes();
    let no_fields = || {
        "no fields: put a space and at least one field after the measurement and tags, \
         e.g. 'room,place=attic temperature=18.4' (escape a space inside a name as '\\ ')"
            .to_string()
    };
    if matches!(b.first(), None | Some(b',')) {
        return Err("the line has no measurement: start it with one, e.g. \
                    'room,place=attic temperature=18.4'"
            .into());
    }
    let mut i = 0;
    loop {
        i += 1;
        if i >= b.len() {
            return Err(no_fields());
        }
        if escaped(b, i) {
            continue;
        }
        match b[i] {
            b' ' => return Ok((i, &line[..i], Vec::new())),
            b',' => break,
            _ => {}
        }
    }
    let measurement = &line[..i];
    let mut tags = Vec::new();
    loop {
        let k = i + 1;
        if k >= b.len() || matches!(b[k], b' ' | b',' | b'=') {
            return Err(format!(
                "tag {} has no key: tags are key=value pairs, e.g. ',place=attic' \
                 (escape a literal ',', ' ' or '=' with a backslash)",
                tags.len() + 1
            ));
        }
        let mut j = k;
        loop {
            j += 1;
            if j >= b.len() || (matches!(b[j], b' ' | b',') && !escaped(b, j)) {
                return Err(format!(
                    "tag {:?} has no '=' and value: write it as key=value",
                    &line[k..j.min(b.len())]
                ));
            }
            if b[j] == b'=' && !escaped(b, j) {
                break;
            }
        }
        let v = j + 1;
        if v >= b.len() || matches!(b[v], b' ' | b',') {
            return Err(format!(
                "tag {:?} has an empty value: InfluxDB refuses empty tag values, so leave the \
                 tag out",
                &line[k..j]
            ));
        }
        let mut m = v;
        loop {
            m += 1;
            if m >= b.len() {
                return Err(no_fields());
            }
            if escaped(b, m) {
                continue;
            }
            match b[m] {
                b'=' => {
                    return Err(format!(
                        "tag {:?} has a second '=' in its value: escape it as '\\='",
                        &line[k..j]
                    ))
                }
                b',' | b' ' => break,
                _ => {}
            }
        }
        tags.push((&line[k..j], &line[v..m]));
        i = m;
        if b[m] == b' ' {
            break;
        }
    }
    tags.sort_by_key(|&(k, _)| k);
    if let Some(pair) = tags.windows(2).find(|p| p[0].0 == p[1].0) {
        return Err(format!(
            "tag {:?} appears twice: send each tag once",
            pair[0].0
        ));
    }
    Ok((i, measurement, tags))
}

/// Checks the field set that starts after `from` as InfluxDB does and returns where it starts
/// and ends.
fn scan_fields(line: &str, from: usize) -> Result<(usize, usize), String> {
    let b = line.as_bytes();
    let mut start = from;
    while start < b.len() && is_blank(b[start]) {
        start += 1;
    }
    let (mut i, mut quoted, mut equals, mut commas) = (start, false, 0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            i += 2;
            continue;
        }
        // Quotes matter only in values: more '=' than ',' seen so far.
        if c == b'"' && equals > commas {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if c == b'=' && !quoted {
            equals += 1;
            // `i >= 2`: the key and the space before the fields come first.
            if matches!(b[i - 1], b' ' | b',') && b[i - 2] != b'\\' {
                return Err(
                    "a field has no name before its '=': write fields as name=value".into(),
                );
            }
            match b.get(i + 1) {
                None | Some(b' ' | b',') => {
                    return Err(format!(
                        "field {:?} has no value after '=': send a number, true/false or a \
                         \"quoted string\"",
                        field_name_before(line, i)
                    ))
                }
                Some(&n) if n.is_ascii_digit() || matches!(n, b'.' | b'-' | b'N' | b'n') => {
                    i = scan_number(line, i + 1)?;
                    continue;
                }
                Some(b'"') => {}
                Some(_) => {
                    i = scan_boolean(line, i + 1)?;
                    continue;
                }
            }
        }
        if c == b',' && !quoted {
            commas += 1;
        }
        if c == b' ' && !quoted {
            break;
        }
        i += 1;
    }
    if quoted {
        return Err("a string field has no closing '\"': end it with '\"' \
                    (write a quote inside it as '\\\"')"
            .into());
    }
    if equals == 0 || commas + 1 != equals {
        return Err("fields must be name=value pairs separated by commas, \
                    e.g. 'temperature=18.4,humidity=55'"
            .into());
    }
    Ok((start, i))
}

/// The field name that ends at the `=` at `eq`, for messages.
fn field_name_before(line: &str, eq: usize) -> &str {
    let b = line.as_bytes();
    let start = (0..eq)
        .rev()
        .find(|&j| matches!(b[j], b' ' | b',') && !escaped(b, j))
        .map_or(0, |j| j + 1);
    &line[start..eq]
}

/// Checks a number starting at `start` as InfluxDB does: a float, an integer with `i`, or an
/// unsigned integer with `u`. Returns where it ends.
fn scan_number(line: &str, start: usize) -> Result<usize, String> {
    let b = line.as_bytes();
    let end = b[start..]
        .iter()
        .position(|&c| c == b',' || c == b' ')
        .map_or(b.len(), |p| start + p);
    let text = &line[start..end];
    let not_a_number = || {
        format!(
            "value {text:?} is not a number: send e.g. 18.4, -3, 1.5e3, 42i (integer) or \
             42u (unsigned); NaN and infinity are not accepted"
        )
    };
    let (mut int, mut unsigned, mut decimal, mut scientific) = (false, false, false, false);
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    while i < end {
        let c = b[i];
        if (c == b'i' || c == b'u') && i > start && !(int || unsigned) {
            int = c == b'i';
            unsigned = c == b'u';
        } else if c == b'.' {
            if decimal {
                return Err(not_a_number());
            }
            decimal = true;
        } else if i > start && (c == b'e' || c == b'E') {
            scientific = true;
        } else if (c == b'+' || c == b'-') && matches!(b[i - 1], b'e' | b'E') {
        } else if !c.is_ascii_digit() {
            return Err(not_a_number());
        }
        i += 1;
    }
    if (int || unsigned) && (decimal || scientific) {
        return Err(format!(
            "value {text:?} mixes an integer suffix with a decimal point or exponent: \
             drop the '{}' to send a float",
            if int { 'i' } else { 'u' }
        ));
    }
    let digits =
        text.len() - usize::from(int) - usize::from(decimal) - usize::from(text.starts_with('-'));
    let last = b[end - 1];
    if digits == 0 || (int && last != b'i') || (unsigned && last != b'u') {
        return Err(not_a_number());
    }
    if int && text[..text.len() - 1].parse::<i64>().is_err() {
        return Err(format!(
            "integer {text} is out of range: integers are 64-bit, from -9223372036854775808i \
             to 9223372036854775807i; send a float instead"
        ));
    }
    if unsigned && (text.starts_with('-') || text[..text.len() - 1].parse::<u64>().is_err()) {
        return Err(format!(
            "unsigned integer {text} is out of range: from 0u to 18446744073709551615u; send a \
             float instead"
        ));
    }
    if !(int || unsigned) {
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => {}
            Ok(_) => {
                return Err(format!(
                    "value {text} is too large for a 64-bit float: send a number within ±1.8e308"
                ))
            }
            Err(_) => return Err(not_a_number()),
        }
    }
    Ok(end)
}

/// Checks a boolean starting at `start` as InfluxDB does; anything else unquoted is refused.
fn scan_boolean(line: &str, start: usize) -> Result<usize, String> {
    let b = line.as_bytes();
    let end = b[start..]
        .iter()
        .position(|&c| c == b',' || c == b' ')
        .map_or(b.len(), |p| start + p);
    let word = &line[start..end];
    let ok = matches!(
        word,
        "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
    );
    if ok {
        Ok(end)
    } else {
        Err(format!(
            "value {word:?} is not a number, a boolean (true, false, t, f) or a \"quoted string\": \
             quote text values"
        ))
    }
}

/// Splits a checked field set into raw names and values the way InfluxDB stores them: a name
/// ends at the first `=` not after a backslash, a value at the first `,` outside quotes.
fn field_pairs(fields: &str) -> Result<Vec<(&str, &str)>, String> {
    let b = fields.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let eq = (pos..b.len())
            .find(|&j| b[j] == b'=' && (j == pos || b[j - 1] != b'\\'))
            .unwrap_or(b.len());
        if eq + 1 >= b.len() {
            return Err(format!(
                "field {:?} has no value: escape a literal '=' in a name as '\\=' and send \
                 name=value",
                &fields[pos..eq]
            ));
        }
        let (mut end, mut quoted) = (eq + 1, false);
        while end < b.len() {
            match b[end] {
                b'\\' if matches!(b.get(end + 1), Some(b'"' | b'\\')) => end += 1,
                b'"' => quoted = !quoted,
                b',' if !quoted => break,
                _ => {}
            }
            end += 1;
        }
        out.push((&fields[pos..eq], &fields[eq + 1..end.min(b.len())]));
        pos = end + 1;
    }
    Ok(out)
}

/// A field value typed as InfluxDB types it: by its first byte, then its suffix. `None` for an
/// empty value, which InfluxDB skips.
fn field_value(key: &str, v: &str) -> Result<Option<Value>, String> {
    let Some(first) = v.bytes().next() else {
        return Ok(None);
    };
    if first == b'"' {
        return Ok(Some(Value::Text));
    }
    let not_a_number =
        || format!("field {key:?} has the value {v:?}, which is not a number: check its escapes");
    // Values that only get here where InfluxDB's two readings of a line disagree (a name
    // ending in a backslash) are refused rather than guessed at.
    if !b"0123456789-.nNiIu".contains(&first) {
        let boolean = matches!(
            v,
            "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
        );
        return boolean
            .then_some(Some(Value::Boolean))
            .ok_or_else(not_a_number);
    }
    let n = if let Some(digits) = v.strip_suffix('i') {
        digits.parse::<i64>().map(|n| n as f64).ok()
    } else if let Some(digits) = v.strip_suffix('u') {
        digits.parse::<u64>().map(|n| n as f64).ok()
    } else {
        v.parse::<f64>().ok().filter(|n| n.is_finite())
    };
    n.map(|n| Some(Value::Number(n))).ok_or_else(not_a_number)
}

/// Reads the optional timestamp after the fields (at `from`) as nanoseconds.
fn scan_time(line: &str, from: usize, precision: Precision) -> Result<Option<i64>, String> {
    let b = line.as_bytes();
    let mut start = from;
    while start < b.len() && is_blank(b[start]) {
        start += 1;
    }
    let end = b[start..]
        .iter()
        .position(|&c| c == b' ' || c == b'\n')
        .map_or(b.len(), |p| start + p);
    if start == end {
        return Ok(None);
    }
    let text = &line[start..end];
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.bytes().all(|c| c.is_ascii_digit()) || digits.is_empty() {
        return Err(format!(
            "timestamp {text:?} is not an integer: send whole units since 1970 (nanoseconds \
             unless ?precision= says otherwise), or none for the time of receipt"
        ));
    }
    if !b[end..].iter().all(|&c| c == b' ') {
        return Err(format!(
            "unexpected {:?} after the timestamp: a line has at most three parts; escape spaces \
             inside names as '\\ '",
            line[end..].trim()
        ));
    }
    text.parse::<i64>()
        .ok()
        .and_then(|t| t.checked_mul(precision.nanos()))
        .filter(|ns| (MIN_NANOS..=MAX_NANOS).contains(ns))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "timestamp {text} is out of range: InfluxDB stores times from 1677-09-21 to \
                 2262-04-11; check ?precision="
            )
        })
}

/// Removes the backslash before each byte of `escapable`, as InfluxDB does; other backslashes
/// stay.
fn unescape(s: &str, escapable: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        match rest.as_bytes().get(at + 1) {
            Some(&c) if escapable.contains(&c) => {
                out.push(char::from(c));
                rest = &rest[at + 2..];
            }
            _ => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Turns one line into a reading; `None` if it holds no number to store.
fn reading(line: &str, precision: Precision, now: Millis) -> Result<Option<Reading>, LineError> {
    let point = point(line, precision).map_err(LineError::Syntax)?;
    // What InfluxDB stores: a measurement unescapes '"' and '=' too, tags do not unescape '"'.
    let measurement = unescape(point.measurement, b",\" =");
    let mut tags: Vec<(String, String)> = point
        .tags
        .iter()
        .map(|(k, v)| (unescape(k, b", ="), unescape(v, b", =")))
        .collect();
    // InfluxDB drops such points when it stores them, answering 400.
    if tags.iter().any(|(k, _)| k == "time") {
        return Err(LineError::Syntax(
            "a tag named \"time\" is not allowed (InfluxDB refuses it): rename the tag".into(),
        ));
    }
    tags.sort();

    // A field named time is dropped, as InfluxDB does.
    let mut numbers: Vec<(String, f64)> = Vec::new();
    let mut any_field = false;
    for (key, value) in &point.fields {
        let name = unescape(key, b",\" =");
        if name == "time" {
            continue;
        }
        any_field = true;
        if let Value::Number(n) = *value {
            numbers.push((name, n));
        }
    }
    if !any_field {
        return Err(LineError::Syntax(
            "a field named \"time\" is not stored (InfluxDB refuses it): rename the field".into(),
        ));
    }
    if numbers.is_empty() {
        return Ok(None);
    }

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
    // A bad value is refused alone; a repeated field or an alias with another value is a
    // conflict, and the first value stands (InfluxDB keeps the last).
    for (name, n) in &numbers {
        draft.metric_or_refuse(name, *n);
    }
    if let Some(e) = draft.first_refused().filter(|_| !draft.has_values()) {
        return Err(LineError::Field(e.clone()));
    }
    if let Some(ns) = point.time {
        draft
            .measured_at(ns.div_euclid(1_000_000), now)
            .map_err(|e| FieldError::new("timestamp", e.problem))?;
    }
    let fallback = draft.sensor.clone().expect("set above");
    draft.finish(&fallback).map(Some).map_err(LineError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_700_000_000;
    const T: &str = "1795687200000000000";
    const T_MS: Millis = 1_795_687_200_000;

    /// What one item of a parsed body should be.
    enum Item<'a> {
        /// Sensor, values and time.
        Stored(&'a str, &'a [(&'a str, f64)], Option<Millis>),
        /// Line number and a fragment of the reason.
        Refused(usize, &'a str),
    }
    use Item::{Refused, Stored};

    /// Parses `input` (`precision|body`, or a body in nanoseconds) and compares every item.
    fn check(input: &str, expected: &[Item]) {
        let (precision, body) = match input.split_once('|') {
            Some((p, body)) if p.len() <= 2 => (Precision::parse(p).unwrap(), body),
            _ => (Precision::Nanoseconds, input),
        };
        let got = parse(body, precision, NOW);
        assert_eq!(got.len(), expected.len(), "{input:?}: {got:?}");
        for (got, want) in got.into_iter().zip(expected) {
            match (got, want) {
                (Ok(r), Stored(sensor, values, t)) => {
                    assert_eq!(r.sensor.as_str(), *sensor, "{input:?}");
                    let v: Vec<(&str, f64)> =
                        r.values.iter().map(|(m, v)| (m.as_str(), *v)).collect();
                    assert_eq!(v, *values, "{input:?}");
                    assert_eq!(r.measured_at, *t, "{input:?}");
                }
                (Err(e), Refused(line, fragment)) => {
                    assert_eq!(e.index, *line, "{input:?}: {}", e.reason);
                    assert!(e.reason.contains(fragment), "{input:?}: {}", e.reason);
                }
                (got, _) => panic!("{input:?}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn readings() {
        let attic = format!("climate,room=attic temperature=18.4,humidity=55.1 {T}");
        for (input, expected) in [
            (
                attic.as_str(),
                &[Stored(
                    "climate.attic",
                    &[("temperature", 18.4), ("humidity", 55.1)],
                    Some(T_MS),
                )][..],
            ),
            (
                "weather temp=3i",
                &[Stored("weather", &[("temperature", 3.0)], None)],
            ),
            (
                "w,sensor=porch t=1u,s=\"a, b=c\",ok=true",
                &[Stored("porch", &[("t", 1.0)], None)],
            ),
            (
                "cpu,host=pc,cpu=cpu-total usage_idle=97.5",
                &[Stored("cpu.cpu-total.pc", &[("usage_idle", 97.5)], None)],
            ),
            (
                "c,name=Attic\\ north v=1",
                &[Stored("c.Attic_north", &[("v", 1.0)], None)],
            ),
            // The first of a repeated field stands (the second is a conflict, reported with
            // the reading); a field named time is dropped.
            ("c v=1,v=2,time=3", &[Stored("c", &[("v", 1.0)], None)]),
            // Strings and booleans alone are valid and hold nothing to store.
            ("climate s=\"text\",b=t", &[]),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn numbers() {
        let huge = format!("1{}", "0".repeat(400));
        for (value, expected) in [
            ("1", Ok(1.0)),
            ("-1.5", Ok(-1.5)),
            (".5", Ok(0.5)),
            ("5.", Ok(5.0)),
            ("-.5", Ok(-0.5)),
            ("1e3", Ok(1000.0)),
            ("1E+3", Ok(1000.0)),
            ("1.e3", Ok(1000.0)),
            ("2.5e-3", Ok(0.0025)),
            ("1e-400", Ok(0.0)),
            ("007", Ok(7.0)),
            ("3i", Ok(3.0)),
            ("-3i", Ok(-3.0)),
            ("9223372036854775807i", Ok(9_223_372_036_854_775_807.0)),
            ("-9223372036854775808i", Ok(-9_223_372_036_854_775_808.0)),
            ("0009223372036854775807i", Ok(9_223_372_036_854_775_807.0)),
            ("18446744073709551615u", Ok(18_446_744_073_709_551_615.0)),
            ("9223372036854775808i", Err("out of range")),
            ("-9223372036854775809i", Err("out of range")),
            ("18446744073709551616u", Err("out of range")),
            ("-1u", Err("out of range")),
            ("1.5i", Err("drop the 'i'")),
            ("1e3i", Err("drop the 'i'")),
            ("1.5u", Err("drop the 'u'")),
            ("9i10", Err("not a number")),
            ("1ii", Err("not a number")),
            ("1e400", Err("too large")),
            ("1e", Err("not a number")),
            ("1e5e5", Err("not a number")),
            (huge.as_str(), Err("too large")),
            ("1.1.1", Err("not a number")),
            ("0.-1", Err("not a number")),
            ("-", Err("not a number")),
            ("--1", Err("not a number")),
            (".", Err("not a number")),
            ("-.", Err("not a number")),
            ("-i", Err("not a number")),
            (".1a", Err("not a number")),
            ("0x10", Err("not a number")),
            ("1_000", Err("not a number")),
            ("NaN", Err("not a number")),
            ("nan", Err("not a number")),
            ("+1", Err("is not a number, a boolean")),
            ("inf", Err("is not a number, a boolean")),
            ("abc", Err("is not a number, a boolean")),
            ("tRUE", Err("is not a number, a boolean")),
            ("yes", Err("is not a number, a boolean")),
        ] {
            let line = format!("c v={value}");
            match expected {
                Ok(n) => check(&line, &[Stored("c", &[("v", n)], None)]),
                Err(fragment) => check(&line, &[Refused(1, fragment)]),
            }
        }
        for value in [
            "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE",
        ] {
            check(&format!("c v={value}"), &[]);
        }
    }

    #[test]
    fn escapes_and_strings() {
        for (line, sensor, metric) in [
            (r"my\ room,loc=a\,b temp=1", "my_room.a_b", "temperature"),
            // A measurement unescapes ',', ' ', '=' and '"'; another backslash stays.
            (r"cpu\=load,a=b v=1", "cpu_load.b", "v"),
            (r"cpu\\=load,a=b v=1", "cpu__load.b", "v"),
            (r"cpu=load,a=b v=1", "cpu_load.b", "v"),
            (r#""cpu",a=b v=1"#, "_cpu_.b", "v"),
            (r"cpu\\x v=1", "cpu__x", "v"),
            (r#"c\"x,a=y\"z v=1"#, "c_x.y__z", "v"),
            // Tags unescape ',', ' ' and '='; a first '=' in a value is taken literally.
            (r"c,a=x\=y v=1", "c.x_y", "v"),
            (r"c,a==b v=1", "c._b", "v"),
            (r"c,a\ b=x v=1", "c.x", "v"),
            (r#"c,a="x v=1"#, "c._x", "v"),
            // Any byte after a backslash is escaped there, even after another backslash.
            (r"c,a=x\\ y v=1", "c.x__y", "v"),
            // Field names unescape ',', '"', ' ' and '='; quotes in a name are not strings.
            (r"c v\,x=1", "c", "v,x"),
            (r"c v\=x=1", "c", "v=x"),
            (r#"c "v=1"#, "c", "\"v"),
            (r"c  v=1", "c", "v"),
            ("c\t v=1", "c_", "v"),
            ("c \tv=1", "c", "v"),
        ] {
            let got = parse(line, Precision::Nanoseconds, NOW);
            match &got[..] {
                [Ok(r)] => {
                    assert_eq!(r.sensor.as_str(), sensor, "{line}");
                    assert_eq!(r.values[0].0.as_str(), metric, "{line}");
                }
                // Clima's metric names are narrower than InfluxDB's field names.
                [Err(e)] if metric.contains([',', '=', '"']) => {
                    assert!(e.reason.contains("metric names"), "{line}: {}", e.reason)
                }
                _ => panic!("{line}: {got:?}"),
            }
        }
        for line in [
            r#"c s="a \"quoted\" word, and = sign",v=1"#,
            r#"c s="ends in a backslash\\",v=1"#,
            r#"c s="{Hello\"{,}\" World}",v=1"#,
            r#"c s="",v=1"#,
            "c s=\"wè ☃\",v=1",
            r#"c s="x"y,v=1"#,
            "c v=1,s=\"two\nlines\"",
        ] {
            check(line, &[Stored("c", &[("v", 1.0)], None)]);
        }
        check(
            r#"c s="unterminated\",v=1"#,
            &[Refused(1, "no closing '\"'")],
        );
        check(r#"c f="blah"=123,r"#, &[Refused(1, "has no value")]);
        // InfluxDB's two readings of a name ending in a backslash disagree; refuse.
        check(r#"c a\\="x,b=2""#, &[Refused(1, "not a number")]);
        check(r"c a\\=1", &[Refused(1, "has no value")]);
    }

    #[test]
    fn refusals() {
        for (line, fragment) in [
            ("climate temperature=999", "no probe"),
            ("climate humidity=200", "plausible range"),
            (r"room temp\ c=1", "metric names"),
            ("climate", "no fields"),
            ("climate,room=attic", "no fields"),
            (r"climate\ temperature=1", "no fields"),
            ("climate ", "name=value pairs"),
            ("climate temperature", "name=value pairs"),
            ("c v=1,w", "name=value pairs"),
            ("c v=1,", "name=value pairs"),
            ("c =1", "no name"),
            ("c v=1,=2", "no name"),
            ("c v=", "no value"),
            ("c v= 1", "no value"),
            ("c v=,w=1", "no value"),
            (",a=b t=1", "no measurement"),
            ("c, v=1", "has no key"),
            ("c,=a v=1", "has no key"),
            ("c,a=b,=c v=1", "tag 2 has no key"),
            ("c,,, v=1", "has no key"),
            ("c,a v=1", "has no '=' and value"),
            ("c,a", "has no '=' and value"),
            ("c,a= v=1", "empty value"),
            ("c,a=,b=c v=1", "empty value"),
            ("c,a=b=c v=1", "second '='"),
            ("c,a=1,a=2 v=1", "appears twice"),
            ("c,b=1,a=1,b=2 v=1", "appears twice"),
            ("c,time=x v=1", "tag named \"time\""),
            ("c time=1", "field named \"time\""),
            ("c t=1 notatime", "not an integer"),
            ("c t=1 1.5", "not an integer"),
            ("c t=1 -", "not an integer"),
            (r"c t=1 0\", "not an integer"),
            ("c t=1 1795687200000000000i", "not an integer"),
            ("c t=1 1795687200000000000\t", "not an integer"),
            ("c t=1 1795687200000000000 5", "after the timestamp"),
            ("c t=1 99999999999999999999", "out of range"),
            ("c t=1 9223372036854775807", "out of range"),
            ("c t=1 5", "before 2000"),
            ("c t=1 -1", "before 2000"),
            ("c t=1 1895687200000000000", "ahead of"),
            ("c t=1\t", "not a number"),
        ] {
            check(line, &[Refused(1, fragment)]);
        }
        check("s|c t=1 9999999999999", &[Refused(1, "out of range")]);
        check(
            &format!("c,k={} v=1", "x".repeat(MAX_KEY)),
            &[Refused(1, "at most 65535")],
        );
        check(
            &format!("c,k={} {}=1", "x".repeat(MAX_KEY - 20), "v".repeat(20)),
            &[Refused(1, "shorten the names")],
        );
    }

    #[test]
    fn bodies() {
        let at = |t: Millis| Stored("c", &[("t", 1.0)], Some(t));
        for (input, expected) in [
            ("", &[][..]),
            (" \n\t\n\n", &[]),
            ("# only a comment", &[]),
            (
                "\t # indented comment\nc t=1",
                &[Stored("c", &[("t", 1.0)], None)],
            ),
            (
                "# comment\n\nc t=1\nbad\r\nc t=2\n",
                &[
                    Stored("c", &[("t", 1.0)], None),
                    Refused(4, "no fields"),
                    Stored("c", &[("t", 2.0)], None),
                ],
            ),
            (
                // A newline inside a quoted string does not end the line.
                "c s=\"one\ntwo\",t=1\nc t=x\n",
                &[Stored("c", &[("t", 1.0)], None), Refused(3, "not a number")],
            ),
            (
                // Outside field values quotes do not count: the second line stands alone.
                "baz,mytag=\"a x=1\nbaz,mytag=a z=1",
                &[
                    Stored("baz._a", &[("x", 1.0)], None),
                    Stored("baz.a", &[("z", 1.0)], None),
                ],
            ),
            (
                // A comment with an open quote swallows the next line, as in InfluxDB.
                "# x=\"open\nc t=1\n\"\nc t=2",
                &[Stored("c", &[("t", 2.0)], None)],
            ),
            (
                "c t=1\r\n\r\nc t=2\r",
                &[
                    Stored("c", &[("t", 1.0)], None),
                    Stored("c", &[("t", 2.0)], None),
                ],
            ),
            (
                &format!("c t=1 {T}   \n   c t=1  {T}\n\0c t=1"),
                &[at(T_MS), at(T_MS), Stored("c", &[("t", 1.0)], None)],
            ),
            ("s|c t=1 1795687200", &[at(T_MS)]),
            ("ms|c t=1 1795687200000", &[at(T_MS)]),
            ("us|c t=1 1795687200000000", &[at(T_MS)]),
            ("u|c t=1 1795687200000000", &[at(T_MS)]),
            ("m|c t=1 29928120", &[at(T_MS)]),
            ("h|c t=1 498802", &[at(T_MS)]),
            ("c t=1 1795687200999999999", &[at(T_MS + 999)]),
        ] {
            check(input, expected);
        }
        assert!(Precision::parse("weeks").is_err());
        let fixture = parse(
            include_str!("../tests/data/serial/influx-line-protocol.txt"),
            Precision::Nanoseconds,
            NOW,
        );
        assert_eq!(fixture.len(), 2);
        assert_eq!(
            fixture[1].as_ref().unwrap().measured_at,
            Some(1_795_687_260_000)
        );
    }
}
