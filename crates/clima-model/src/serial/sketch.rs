//! Reads the text Arduino example sketches print, such as `Temperature: 23.4 °C` or
//! `Temp *C = 23.40<TAB><TAB>Hum. % = 45.60`, into metric names and values.

use std::ops::Range;

/// One `Name: value unit` part of a line, the display name already turned into a metric name
/// or alias (`Temperature` with `°F` becomes `temperature_f`), so `Draft` converts the value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pair {
    pub name: String,
    pub value: f64,
}

/// Quantities sketches compute from measured ones; storing them would duplicate what the
/// sensor measured.
const DERIVED: &[&str] = &["heat_index"];

/// Words that are units, whether after the value (`23.4 °C`) or inside the name (`Temp *C`).
const UNITS: &[&str] = &[
    "°c", "*c", "ºc", "c", "degc", "°f", "*f", "ºf", "f", "degf", "%", "%rh", "hpa", "pa", "kpa",
    "mbar", "m", "ft", "ppm", "ppb", "lx", "lux", "v", "mv", "ohms", "kohms", "µg/m3", "ug/m3",
    "µg/m³",
];

/// Splits a line at its `:` and `=` separators into pairs. Several pairs on one line belong to
/// one reading. After a value, a second value in another unit (`23.00°C 73.40°F`) is the same
/// quantity again and is skipped.
pub(super) fn pairs(line: &str) -> Result<Vec<Pair>, String> {
    let segments: Vec<&str> = line.split([':', '=']).collect();
    let mut pairs = Vec::new();
    let mut name = segments[0];
    for (i, segment) in segments.iter().enumerate().skip(1) {
        let (value, next_name) = if i + 1 == segments.len() {
            (segment.trim(), "")
        } else {
            split_value_and_name(segment)
        };
        if let Some(pair) = pair(name, value)? {
            pairs.push(pair);
        }
        name = next_name;
    }
    Ok(pairs)
}

/// Splits the text between two separators into the value of one pair and the name of the next.
fn split_value_and_name(segment: &str) -> (&str, &str) {
    let segment = segment.trim();
    if let Some(gap) = last_gap(segment) {
        // A tab, two spaces or a comma before the next name, as the DHT and SHT31 sketches print.
        // A unit that strayed behind the gap still belongs to the value.
        let tail = &segment[gap.end..];
        let mut tail_words = words(tail).peekable();
        let mut name_at = 0;
        while let Some((start, word)) = tail_words.next() {
            if !is_unit(word) || tail_words.peek().is_none() {
                name_at = start;
                break;
            }
        }
        let value = segment[..gap.end + name_at]
            .trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';');
        return (value, tail[name_at..].trim());
    }
    // Single spaces only: numbers and units first, then the next name.
    let mut end = 0;
    for (start, word) in words(segment) {
        if split_number(word).is_none() && !is_unit(word) {
            break;
        }
        end = start + word.len();
    }
    (segment[..end].trim(), segment[end..].trim())
}

/// The last run of separating characters that holds a tab, a comma, a semicolon or two spaces.
/// A comma between digits is a decimal comma, not a gap.
fn last_gap(s: &str) -> Option<Range<usize>> {
    let mut gap = None;
    let mut run: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() || c == ',' || c == ';' {
            run.get_or_insert(i);
        } else if let Some(start) = run.take() {
            let text = &s[start..i];
            let decimal_comma = text == ","
                && s[..start].ends_with(|c: char| c.is_ascii_digit())
                && c.is_ascii_digit();
            if !decimal_comma && (text.contains(['\t', ',', ';']) || text.len() >= 2) {
                gap = Some(start..i);
            }
        }
    }
    gap
}

fn words(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - s.as_ptr() as usize, w))
}

/// Builds one pair, or `None` for a derived quantity such as the heat index.
fn pair(display: &str, value_text: &str) -> Result<Option<Pair>, String> {
    let display = display.trim();
    let mut name_words = Vec::new();
    let mut name_unit = None;
    for word in display.split_whitespace() {
        if name_unit.is_none() && is_unit(word) {
            name_unit = Some(word);
        } else {
            name_words.push(word);
        }
    }
    if name_words.is_empty() {
        // The name is a unit-like word itself, such as `V: 3.3`.
        name_words = display.split_whitespace().collect();
        name_unit = None;
    }
    if name_words.is_empty() {
        return Err(format!(
            "nothing names the value {value_text:?}: expected 'Name: value unit'"
        ));
    }
    let mut words = value_text.split_whitespace();
    let first = words
        .next()
        .ok_or_else(|| format!("{display:?} has no value after it"))?;
    let (value, attached) = split_number(first)
        .ok_or_else(|| format!("{display:?} is followed by {first:?}, which is not a number"))?;
    let mut rest = attached.chars();
    if matches!(rest.next(), Some(',' | '.')) && rest.next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{first:?} after {display:?} is not one number (a decimal comma?): \
             print values with a decimal point"
        ));
    }
    let attached = attached.trim_matches([',', ';']);
    // The unit follows the number, attached or as the next word; later words may only repeat
    // the value in another unit (`23.00°C 73.40°F`). Anything else means this is not a value.
    let mut unit = (!attached.is_empty()).then_some(attached);
    for (i, word) in words.enumerate() {
        let other_value = split_number(word).is_some_and(|(_, u)| u.is_empty() || unit_like(u));
        if i == 0 && unit.is_none() && unit_like(word) {
            unit = Some(word);
        } else if !other_value && !unit_like(word) {
            return Err(format!(
                "{display:?}: {word:?} after the value is neither a unit nor a number"
            ));
        }
    }
    if let Some(unit) = unit.filter(|u| !unit_like(u)) {
        return Err(format!(
            "{display:?}: {unit:?} after the number is not a unit: expected 'Name: value unit'"
        ));
    }
    let unit = unit.or(name_unit).unwrap_or("");
    let base = metric_base(&name_words.join(" "));
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "{display:?} is not a quantity's name: expected 'Name: value unit'"
        ));
    }
    if DERIVED.contains(&base.as_str()) {
        return Ok(None);
    }
    let name = match unit_suffix(unit) {
        Some(suffix) if !base.ends_with(suffix) => base + suffix,
        _ => base,
    };
    Ok(Some(Pair { name, value }))
}

/// Maps a display name onto metric-name form: `Approx. Altitude` becomes `altitude`,
/// `Hum.` becomes `hum`, `Heat index` becomes `heat_index`.
fn metric_base(display: &str) -> String {
    let lower = display.to_lowercase();
    let lower = ["approx.", "approx ", "approximate "]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let mut out = String::with_capacity(lower.len());
    for c in lower.chars() {
        let c = if c == '.' || c.is_whitespace() {
            '_'
        } else {
            c
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The alias suffix that makes `Draft` convert a value given in a unit other than the metric's
/// stored one. Other units are the stored ones or carry no conversion.
fn unit_suffix(unit: &str) -> Option<&'static str> {
    match unit_key(unit).as_str() {
        "°f" | "*f" | "ºf" | "f" | "degf" | "fahrenheit" => Some("_f"),
        "pa" => Some("_pa"),
        "kpa" => Some("_kpa"),
        _ => None,
    }
}

fn unit_key(word: &str) -> String {
    word.trim_matches(|c| matches!(c, '(' | ')' | '[' | ']' | ',' | ';'))
        .to_lowercase()
}

/// Whether a word could be a unit at all: short, and only letters, digits after the first
/// character, and the symbols units use (`%`, `°`, `*`, `/`, `µ`, `³`).
fn unit_like(word: &str) -> bool {
    let w = word.trim_matches(|c| matches!(c, '(' | ')' | '[' | ']' | ',' | ';'));
    !w.is_empty()
        && w.chars().count() <= 10
        && !w.starts_with(|c: char| c.is_ascii_digit())
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "%°º*/µ³²".contains(c))
}

fn is_unit(word: &str) -> bool {
    UNITS.contains(&unit_key(word).as_str())
}

/// Splits a leading number off a word: `45.00%` gives 45 and `%`. Arduino prints `nan`,
/// `inf` and `ovf` for values it cannot print; they come back as NaN and infinity, so the
/// plausibility checks can say what is wrong.
pub(super) fn split_number(word: &str) -> Option<(f64, &str)> {
    let lower = word.to_ascii_lowercase();
    for (text, value) in [
        ("nan", f64::NAN),
        ("-inf", f64::NEG_INFINITY),
        ("inf", f64::INFINITY),
        ("ovf", f64::INFINITY),
    ] {
        if lower.starts_with(text) && !word[text.len()..].starts_with(|c: char| c.is_alphanumeric())
        {
            return Some((value, &word[text.len()..]));
        }
    }
    let end = word
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E')))
        .unwrap_or(word.len());
    (1..=end)
        .rev()
        .find_map(|i| word[..i].parse::<f64>().ok().map(|v| (v, &word[i..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Result<&[(&str, f64)], &str>) {
        let got = pairs(line);
        match (got, expected) {
            (Ok(got), Ok(want)) => {
                let got: Vec<(&str, f64)> =
                    got.iter().map(|p| (p.name.as_str(), p.value)).collect();
                assert_eq!(got, want, "{line:?}");
            }
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{line:?}: {e}"),
            (got, _) => panic!("{line:?}: unexpected {got:?}"),
        }
    }

    #[test]
    fn sketch_lines() {
        check("Temperature: 23.4 °C", Ok(&[("temperature", 23.4)]));
        check("Temperature = 23.4 °C", Ok(&[("temperature", 23.4)]));
        check("Pressure = 1013.2 hPa", Ok(&[("pressure", 1013.2)]));
        check("Pressure = 101320 Pa", Ok(&[("pressure_pa", 101320.0)]));
        check("Pressure: 101.32kPa", Ok(&[("pressure_kpa", 101.32)]));
        check("Humidity = 45.6 %", Ok(&[("humidity", 45.6)]));
        check("Approx. Altitude = 12.3 m", Ok(&[("altitude", 12.3)]));
        check("Temperature: 73.4 °F", Ok(&[("temperature_f", 73.4)]));
        check("Temp *F = 73.4", Ok(&[("temp_f", 73.4)]));
        check("Temperature (°F): 73.4", Ok(&[("temperature_f", 73.4)]));
        check("temp_f: 73.4 F", Ok(&[("temp_f", 73.4)]));
        check("Gas = 12.34 KOhms", Ok(&[("gas", 12.34)]));
        check("Light: 120 lux (bright)", Ok(&[("light", 120.0)]));
        check("V: 3.3", Ok(&[("v", 3.3)]));
        check("Dew point: -1.5°C", Ok(&[("dew_point", -1.5)]));
        check("Temperature:23.4°C", Ok(&[("temperature", 23.4)]));
        check(
            "Temperature: 73.4, Humidity: 40",
            Ok(&[("temperature", 73.4), ("humidity", 40.0)]),
        );
        let nan = pairs("Temperature: nan °C").unwrap();
        assert_eq!(nan[0].name, "temperature");
        assert!(nan[0].value.is_nan());
    }

    #[test]
    fn several_pairs_on_one_line() {
        check(
            "Humidity: 45.00%  Temperature: 23.00°C 73.40°F  Heat index: 22.85°C 73.13°F",
            Ok(&[("humidity", 45.0), ("temperature", 23.0)]),
        );
        check(
            "Temp *C = 23.40\t\tHum. % = 45.60",
            Ok(&[("temp", 23.4), ("hum", 45.6)]),
        );
        check(
            "Temperature: 23.4 °C Humidity: 45 %",
            Ok(&[("temperature", 23.4), ("humidity", 45.0)]),
        );
        check(
            "Temperature: 23.4 °C, Humidity: 45 %",
            Ok(&[("temperature", 23.4), ("humidity", 45.0)]),
        );
        check("Temp=23.4 Hum=45", Ok(&[("temp", 23.4), ("hum", 45.0)]));
        check("T=23.4,H=45", Ok(&[("t", 23.4), ("h", 45.0)]));
        check(
            "Temperature: 73.4  °F Humidity: 40",
            Ok(&[("temperature_f", 73.4), ("humidity", 40.0)]),
        );
        check("Heat index: 22.85°C 73.13°F", Ok(&[]));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        check(
            "Temperature: warm",
            Err("\"Temperature\" is followed by \"warm\", which is not a number"),
        );
        check("Temperatur: 23,4 °C", Err("decimal comma"));
        check("Temp: 23,4 Hum: 45,1", Err("decimal comma"));
        check("Temperature:", Err("has no value"));
        check(": 23.4", Err("nothing names the value"));
        check("12:21:46", Err("\"12\" is not a quantity's name"));
        check("4 x: 5", Err("not a quantity's name"));
        check(
            "mode:DIO, clock div:1",
            Err("\"mode\" is followed by \"DIO\""),
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(split_number("45.00%"), Some((45.0, "%")));
        assert_eq!(split_number("-1e3x"), Some((-1000.0, "x")));
        assert_eq!(split_number("12.3e"), Some((12.3, "e")));
        assert_eq!(split_number("ovf"), Some((f64::INFINITY, "")));
        assert_eq!(split_number("-inf°C"), Some((f64::NEG_INFINITY, "°C")));
        assert!(split_number("nan").unwrap().0.is_nan());
        for word in ["info", "nano", "Error", "e5", "-", ".", "°C", ""] {
            assert_eq!(split_number(word), None, "{word:?}");
        }
    }
}
