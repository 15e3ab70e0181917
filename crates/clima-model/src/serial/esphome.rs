//! Reads ESPHome's serial log: its sensor lines carry a name, a value and a unit; every other
//! log line is the firmware talking about itself.

use super::sketch::{self, split_number, Pair};

/// What an ESPHome log line holds.
#[derive(Debug, PartialEq)]
pub(super) enum EsphomeLine {
    /// A sensor's new state; `probe` is the name's part before the quantity (`Living Room`).
    State { probe: Option<String>, pair: Pair },
    /// A sensor state the line could not give: why.
    Refused(String),
    /// Any other log line (`[I][app:029]: Running through setup()...`).
    Other,
}

/// Drops terminal colour codes (`ESC[0;36m`), which ESPHome wraps its log lines in.
pub(super) fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// `[D][sensor:094]: 'Living Room Temperature': Sending state 23.40000 °C with 1 decimals of
/// accuracy` (and the newer `'Name' >> 23.4 °C`); `None` if the line is not ESPHome's log.
pub(super) fn parse(line: &str) -> Option<EsphomeLine> {
    let rest = line.strip_prefix('[')?;
    let (level, rest) = rest.split_once("][")?;
    if !matches!(level, "E" | "W" | "I" | "C" | "D" | "V" | "VV") {
        return None;
    }
    let (tag, message) = rest.split_once("]:")?;
    if tag.is_empty() || tag.contains(' ') {
        return None;
    }
    if !tag.starts_with("sensor") {
        return Some(EsphomeLine::Other);
    }
    let message = message.trim().strip_prefix('\'');
    let Some((name, state)) = message.and_then(|m| m.split_once('\'')) else {
        return Some(EsphomeLine::Other);
    };
    let state = state.trim_start_matches(':').trim();
    let Some(state) = state
        .strip_prefix("Sending state")
        .or_else(|| state.strip_prefix(">>"))
    else {
        return Some(EsphomeLine::Other);
    };
    let state = state.split(" with ").next().unwrap_or("").trim();
    let (number, unit) = state.split_once(' ').unwrap_or((state, ""));
    let Some((value, "")) = split_number(number) else {
        return Some(EsphomeLine::Refused(format!(
            "ESPHome sensor {name:?} sent {number:?}, which is not a number"
        )));
    };
    let (probe, quantity) = split_quantity(name);
    Some(match sketch::metric_name(&quantity, unit.trim()) {
        Ok(Some(name)) => EsphomeLine::State {
            probe,
            pair: Pair {
                name,
                value,
                unit_given: !unit.trim().is_empty(),
            },
        },
        Ok(None) => EsphomeLine::Other,
        Err(e) => EsphomeLine::Refused(e),
    })
}

/// Splits `Living Room Temperature` into the place and the quantity; a name without a known
/// quantity word stays whole.
fn split_quantity(name: &str) -> (Option<String>, String) {
    const WORDS: &[&str] = &[
        "temperature",
        "humidity",
        "pressure",
        "co2",
        "dew point",
        "illuminance",
    ];
    let lower = name.to_lowercase();
    for w in WORDS {
        if let Some(at) = lower.rfind(w) {
            let (place, quantity) = (name[..at].trim(), &name[at..]);
            let place = (!place.is_empty()).then(|| place.to_owned());
            return (place, quantity.to_owned());
        }
    }
    (None, name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: &str) {
        let got = match parse(&strip_ansi(line)) {
            None => "none".to_owned(),
            Some(EsphomeLine::Other) => "other".to_owned(),
            Some(EsphomeLine::Refused(r)) => format!("refused: {r}"),
            Some(EsphomeLine::State { probe, pair }) => format!(
                "{}{}={}{}",
                probe.map(|p| format!("{p}/")).unwrap_or_default(),
                pair.name,
                pair.value,
                if pair.unit_given { "" } else { " (no unit)" }
            ),
        };
        assert!(got.starts_with(expected), "{line:?}: {got}");
    }

    #[test]
    fn esphome_lines() {
        check(
            "[D][sensor:094]: 'Living Room Temperature': Sending state 23.40000 °C with 1 decimals of accuracy",
            "Living Room/temperature=23.4",
        );
        check(
            "\u{1b}[0;36m[D][sensor:093]: 'Humidity': Sending state 41.20000 % with 1 decimals of accuracy\u{1b}[0m",
            "humidity=41.2",
        );
        check(
            "[D][sensor:094]: 'Outside Temperature': Sending state 71.60000 °F with 1 decimals of accuracy",
            "Outside/temperature_f=71.6",
        );
        check(
            "[D][sensor:094]: 'Pressure': Sending state 1008.27002 hPa with 1 decimals of accuracy",
            "pressure=1008.27",
        );
        check("[D][sensor:124]: 'CO2' >> 612 ppm", "co2=612");
        check(
            "[D][sensor:094]: 'Temperature': Sending state nan °C with 1 decimals of accuracy",
            "temperature=NaN",
        );
        check("[I][app:029]: Running through setup()...", "other");
        check("[C][dht:051]: DHT:", "other");
        check("Temperature: 23.4", "none");
        check("[12:00:01] x", "none");
    }
}
