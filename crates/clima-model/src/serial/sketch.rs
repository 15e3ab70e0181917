//! Reads the text Arduino example sketches print, such as `Temperature: 23.4 °C` or
//! `Temp *C = 23.40<TAB><TAB>Hum. % = 45.60`, into metric names and values.

use std::ops::Range;

/// One `Name: value unit` part of a line, the display name already turned into a metric name
/// or alias (`Temperature` with `°F` becomes `temperature_f`), so `Draft` converts the value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pair {
    pub name: String,
    pub value: f64,
    /// The line said the unit (after the value or inside the name).
    pub unit_given: bool,
}

/// Quantities sketches compute from measured ones; storing them would duplicate what the
/// sensor measured.
const DERIVED: &[&str] = &["heat_index", "seapressure", "sea_pressure"];

/// Words before a quantity's name that do not change what is measured (`AmbientHumidity`,
/// `MassConcentrationPm2p5`, `relative humidity`).
const QUALIFIERS: &[&str] = &["ambient_", "mass_concentration_", "relative_"];

/// Names with a `p` for the decimal point, as Sensirion prints particle sizes.
const PARTICLE_NAMES: &[(&str, &str)] = &[
    ("pm1p0", "pm1"),
    ("pm2p5", "pm25"),
    ("pm4p0", "pm4"),
    ("pm10p0", "pm10"),
];

/// Labels of counters and clocks sketches print beside their readings; not quantities.
const COUNTERS: &[&str] = &[
    "samplenumber",
    "sample_number",
    "sample",
    "time",
    "time_ms",
    "time_stamp",
    "millis",
    "timestamp",
    "index",
    "count",
    "uptime",
];

/// Whether a metric name is one of the details sketches print about their sensor once, at
/// start-up (Adafruit's `Driver Ver`, `Unique ID`, `Min Value`, `Max Value`, `Resolution`;
/// DallasTemperature's `Device 0 Resolution`; measurement intervals), never a reading.
pub(super) fn is_detail(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let words: Vec<&str> = name.split('_').collect();
    matches!(words.first(), Some(&("min" | "max")))
        || words.iter().any(|w| {
            matches!(
                *w,
                "resolution" | "ver" | "version" | "id" | "interval" | "serial" | "unique"
            )
        })
}

/// Short names sketches give the common quantities, mapped onto names `Draft` knows.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("t", "temperature"),
    ("tmp", "temperature"),
    ("h", "humidity"),
    ("p", "pressure"),
    ("press", "pressure"),
    ("dewpoint", "dew_point"),
];

/// First words that name the quantity of a longer name: `CO2 concentration [ppm]`,
/// `Temperature for the device 1 (index 0) is`.
const QUANTITY_WORDS: &[(&str, &str)] = &[
    ("temperature", "temperature"),
    ("temp", "temperature"),
    ("humidity", "humidity"),
    ("pressure", "pressure"),
    ("co2", "co2"),
    ("altitude", "altitude"),
];

/// Words that are units, whether after the value (`23.4 °C`) or inside the name (`Temp *C`).
const UNITS: &[&str] = &[
    "°c",
    "*c",
    "ºc",
    "c",
    "degc",
    "°f",
    "*f",
    "ºf",
    "f",
    "degf",
    "%",
    "%rh",
    "hpa",
    "pa",
    "kpa",
    "mbar",
    "m",
    "ft",
    "ppm",
    "ppb",
    "lx",
    "lux",
    "v",
    "mv",
    "ohms",
    "kohms",
    "µg/m3",
    "ug/m3",
    "µg/m³",
    "rh",
    "deg c",
    "deg f",
    "degrees c",
    "degrees f",
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
    let words: Vec<&str> = words.collect();
    // `23.4 degrees C`: the unit is two words.
    let joined;
    let (words, degrees) = match (attached, words.as_slice()) {
        ("", [d, cf, rest @ ..]) if d.eq_ignore_ascii_case("degrees") && cf.len() == 1 => {
            joined = format!("deg {cf}");
            (rest.to_vec(), Some(joined.as_str()))
        }
        _ => (words, None),
    };
    let attached = degrees.unwrap_or(attached);
    // The unit follows the number, attached or as the next word; later words may only repeat
    // the value in another unit (`23.00°C 73.40°F`). Anything else means this is not a value.
    let mut unit = (!attached.is_empty()).then_some(attached);
    for (i, word) in words.into_iter().enumerate() {
        let other_value = split_number(word).is_some_and(|(_, u)| u.is_empty() || unit_like(u));
        if i == 0 && unit.is_none() && unit_like(word) {
            unit = Some(word);
        } else if !other_value && !unit_like(word) {
            return Err(format!(
                "{display:?}: {word:?} after the value is neither a unit nor a number"
            ));
        }
    }
    if let Some(unit) = unit.filter(|u| !unit_like(&u.replace(' ', ""))) {
        return Err(format!(
            "{display:?}: {unit:?} after the number is not a unit: expected 'Name: value unit'"
        ));
    }
    let unit = unit.filter(|u| *u != "deg").or(name_unit).unwrap_or("");
    let Some(name) = metric_name(&name_words.join(" "), unit)? else {
        return Ok(None);
    };
    Ok(Some(Pair {
        name,
        value,
        unit_given: !unit.is_empty(),
    }))
}

/// The metric name (or alias that makes `Draft` convert) for a display name and the unit the
/// line gave, or `None` for a counter or a derived quantity.
pub(super) fn metric_name(display: &str, unit: &str) -> Result<Option<String>, String> {
    let base = metric_base(display);
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "{display:?} is not a quantity's name: expected 'Name: value unit'"
        ));
    }
    // A sensor's uncompensated value printed beside the compensated one (Bosch BSEC's
    // `raw temperature`): the same quantity twice.
    if DERIVED.contains(&base.as_str())
        || COUNTERS.contains(&base.as_str())
        || base.starts_with("raw_")
    {
        return Ok(None);
    }
    let base = QUALIFIERS
        .iter()
        .find_map(|q| base.strip_prefix(q))
        .map_or(base.clone(), str::to_owned);
    let base = PARTICLE_NAMES
        .iter()
        .find(|(printed, _)| *printed == base)
        .map_or(base, |(_, name)| (*name).to_owned());
    let base = match SHORT_NAMES.iter().find(|(short, _)| *short == base) {
        // Sketches print altitude in feet as often as in metres: only a stated metre counts.
        None if base == "alt" && unit_key(unit) == "m" => "altitude".to_owned(),
        Some((_, long)) => (*long).to_owned(),
        None if !super::formats::is_known_metric(&base) => {
            let first = base.split('_').next().unwrap_or("");
            QUANTITY_WORDS
                .iter()
                .find(|(w, _)| *w == first)
                .map_or(base.clone(), |(_, q)| (*q).to_owned())
        }
        None => base,
    };
    Ok(Some(match unit_suffix(unit) {
        Some(suffix) if !base.ends_with(suffix) => base + suffix,
        _ => base,
    }))
}

/// Splits a label that carries its unit: `temp(C)`, `Temperature [°C]`, `P(Pa)`; a label that
/// is only a unit, `%RH`, names humidity.
pub(super) fn label_unit(label: &str) -> (String, Option<String>) {
    let label = label.trim();
    if matches!(unit_key(label).as_str(), "%" | "%rh" | "rh%") {
        return ("humidity".into(), Some("%".into()));
    }
    for (open, close) in [('(', ')'), ('[', ']')] {
        if let (Some(start), true) = (label.rfind(open), label.ends_with(close)) {
            let unit = label[start + 1..label.len() - 1].trim();
            if start > 0 && unit_like(&unit.replace(' ', "")) {
                return (label[..start].trim().to_owned(), Some(unit.to_owned()));
            }
        }
    }
    (label.to_owned(), None)
}

/// Values that carry their own unit and no name: `23.44ºC`, or a MicroPython tuple
/// `('23.02C', '1008.27hPa', '46.31%')`. The unit names the quantity; each at most once.
pub(super) fn unit_values(line: &str) -> Option<Vec<Pair>> {
    let inner = line
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    let mut pairs: Vec<Pair> = Vec::new();
    for part in inner.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
        let part = part.trim_matches(['\'', '"']);
        let (value, unit) = split_number(part)?;
        let name = match unit_key(unit).as_str() {
            "°c" | "ºc" | "*c" | "c" => "temperature",
            "°f" | "ºf" | "*f" | "f" => "temperature_f",
            "hpa" | "mbar" => "pressure",
            "pa" => "pressure_pa",
            "kpa" => "pressure_kpa",
            "%" | "%rh" => "humidity",
            "ppm" => "co2",
            _ => return None,
        };
        if pairs.iter().any(|p| p.name == name) {
            return None;
        }
        pairs.push(Pair {
            name: name.into(),
            value,
            unit_given: true,
        });
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// The metric name a plain label (no unit) is stored under: the quantity Clima knows it as
/// (`AmbientHumidity` is `humidity`), else the label as the board wrote it, in metric-name form
/// only if it has spaces (`Static IAQ`); `None` for a counter or a derived quantity.
pub(super) fn plain_label(label: &str) -> Result<Option<String>, String> {
    let Some(name) = metric_name(label, "")? else {
        return Ok(None);
    };
    Ok(Some(
        if super::formats::is_known_metric(&name) || label.contains(char::is_whitespace) {
            name
        } else {
            label.to_owned()
        },
    ))
}

/// Maps a display name onto metric-name form: `Approx. Altitude` becomes `altitude`,
/// `Hum.` becomes `hum`, `Heat index` becomes `heat_index`, `AmbientHumidity` becomes
/// `ambient_humidity` (a word starts at a capital after two small letters, so `eCO2` stays).
fn metric_base(display: &str) -> String {
    let mut words = String::with_capacity(display.len() + 4);
    let mut small = 0;
    for c in display.chars() {
        if c.is_uppercase() && small >= 2 {
            words.push(' ');
        }
        small = if c.is_lowercase() { small + 1 } else { 0 };
        words.push(c);
    }
    let lower = words.to_lowercase();
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
    match unit_key(unit).replace(' ', "").as_str() {
        "°f" | "*f" | "ºf" | "f" | "degf" | "degreesf" | "fahrenheit" => Some("_f"),
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
        check(
            "T=23.4,H=45",
            Ok(&[("temperature", 23.4), ("humidity", 45.0)]),
        );
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
