//! Metric names and units: maps what devices call a quantity onto Clima's canonical names and
//! units, and rejects values no real sensor produces.

use std::fmt;

/// A canonical metric name such as `temperature`, or a device's own name for anything else.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Metric(String);

impl Metric {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unit values of this metric are stored in, where Clima knows it.
    pub fn unit(&self) -> Option<&'static str> {
        unit_of(&self.0)
    }

    /// Trusts a name that was normalised before (read back from the store).
    pub fn from_stored(name: String) -> Self {
        Metric(name)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The unit of a canonical metric, or of a common extra one.
pub fn unit_of(metric: &str) -> Option<&'static str> {
    Some(match metric {
        "temperature" | "dew_point" => "°C",
        "humidity" | "battery" => "%",
        "pressure" => "hPa",
        "co2" | "tvoc" => "ppm",
        "pm1" | "pm25" | "pm10" => "µg/m³",
        "illuminance" | "lux" => "lx",
        "voltage" => "V",
        "altitude" => "m",
        "absolute_humidity" => "g/m³",
        _ => return None,
    })
}

/// What was wrong with one field of a reading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The field as the device named it.
    pub field: String,
    /// What was wrong and, where useful, what to send instead.
    pub problem: String,
}

impl FieldError {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

enum Convert {
    Same,
    FahrenheitToCelsius,
    PascalToHectopascal,
    KilopascalToHectopascal,
}

/// Maps a device's field name onto a canonical metric and the conversion into its unit.
fn canonical(raw: &str) -> Option<(&'static str, Convert)> {
    use Convert::*;
    let lower = raw.to_ascii_lowercase();
    Some(match lower.as_str() {
        "temperature" | "temperature_c" | "temp" | "temp_c" | "tempc" => ("temperature", Same),
        "temperature_f" | "temp_f" | "tempf" => ("temperature", FahrenheitToCelsius),
        "humidity" | "humidity_rh" | "hum" | "rh" | "relative_humidity" => ("humidity", Same),
        "pressure" | "pressure_hpa" | "pressure_mbar" => ("pressure", Same),
        "pressure_pa" => ("pressure", PascalToHectopascal),
        "pressure_kpa" => ("pressure", KilopascalToHectopascal),
        "co2" | "co2_ppm" | "eco2" => ("co2", Same),
        "dew_point" | "dew_point_c" | "dewpoint" | "dewpoint_c" => ("dew_point", Same),
        "dew_point_f" | "dewpoint_f" => ("dew_point", FahrenheitToCelsius),
        "absolute_humidity" | "abs_humidity" => ("absolute_humidity", Same),
        _ => return None,
    })
}

/// Some devices report this temperature when a probe is missing.
const MISSING_PROBE_SENTINEL: f64 = 999.0;

/// Turns one raw field into a canonical metric and value, or says why it cannot be stored.
pub fn normalize(raw_name: &str, value: f64) -> Result<(Metric, f64), FieldError> {
    if !value.is_finite() {
        let what = if value.is_nan() {
            "NaN"
        } else {
            "infinite or too large"
        };
        return Err(FieldError::new(
            raw_name,
            format!("value is {what}: send a finite number"),
        ));
    }
    let (name, value) = match canonical(raw_name) {
        Some((name, conv)) => {
            let v = match conv {
                Convert::Same => value,
                Convert::FahrenheitToCelsius => (value - 32.0) * 5.0 / 9.0,
                Convert::PascalToHectopascal => value / 100.0,
                Convert::KilopascalToHectopascal => value * 10.0,
            };
            (name.to_owned(), v)
        }
        None => (check_name(raw_name)?, value),
    };
    check_plausible(raw_name, &name, value)?;
    Ok((Metric(name), value))
}

fn check_name(raw: &str) -> Result<String, FieldError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            raw,
            "metric names are 1 to 64 letters, digits, '.', '_' or '-'",
        ))
    }
}

fn check_plausible(raw: &str, metric: &str, v: f64) -> Result<(), FieldError> {
    let range = match metric {
        "temperature" | "dew_point" => {
            if v == MISSING_PROBE_SENTINEL {
                return Err(FieldError::new(
                    raw,
                    "999 is the 'no probe' value some devices send: check the sensor's wiring",
                ));
            }
            (-100.0, 200.0, "°C")
        }
        "humidity" => (0.0, 100.0, "%RH"),
        "pressure" => (100.0, 1200.0, "hPa"),
        "co2" => (0.0, 100_000.0, "ppm"),
        _ => return Ok(()),
    };
    let (lo, hi, unit) = range;
    if v < lo || v > hi {
        return Err(FieldError::new(
            raw,
            format!("{v} {unit} is outside the plausible range {lo} to {hi} {unit}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, value: f64, expected: Result<(&str, f64), &str>) {
        let got = normalize(raw, value);
        match (got, expected) {
            (Ok((m, v)), Ok((em, ev))) => {
                assert_eq!(m.as_str(), em, "{raw}");
                assert!((v - ev).abs() < 1e-9, "{raw}: {v} != {ev}");
            }
            (Err(e), Err(fragment)) => {
                assert_eq!(e.field, raw);
                assert!(e.to_string().contains(fragment), "{raw}: {e}");
            }
            (got, expected) => panic!("{raw}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn normalize_table() {
        check("temperature", 21.5, Ok(("temperature", 21.5)));
        check("temperature_c", 23.41, Ok(("temperature", 23.41)));
        check("temp", -5.38, Ok(("temperature", -5.38)));
        check("Temperature", 20.0, Ok(("temperature", 20.0)));
        check("temperature_f", 212.0, Ok(("temperature", 100.0)));
        check("temperature_f", 32.0, Ok(("temperature", 0.0)));
        check("humidity_rh", 44.9, Ok(("humidity", 44.9)));
        check("hum", 23.0, Ok(("humidity", 23.0)));
        check("pressure_pa", 100812.0, Ok(("pressure", 1008.12)));
        check("pressure", 1013.2, Ok(("pressure", 1013.2)));
        check("co2", 612.0, Ok(("co2", 612.0)));
        check("dew_point_c", 10.6, Ok(("dew_point", 10.6)));
        check("iaq", 51.2, Ok(("iaq", 51.2)));
        check("Voltage_1", -3.0, Ok(("Voltage_1", -3.0)));
    }

    #[test]
    fn rejects_implausible() {
        check("temperature", f64::NAN, Err("NaN"));
        check("humidity", f64::INFINITY, Err("infinite"));
        check("iaq", f64::NEG_INFINITY, Err("infinite"));
        check("temperature", 999.0, Err("no probe"));
        check("temp_c", 999.0, Err("no probe"));
        check("humidity", 100.1, Err("plausible range 0 to 100"));
        check("hum", -0.5, Err("plausible range"));
        check("pressure_pa", 5.0, Err("plausible range"));
        check("co2", -1.0, Err("plausible range"));
        check("bad name", 1.0, Err("metric names"));
        check("", 1.0, Err("metric names"));
    }

    #[test]
    fn units() {
        assert_eq!(unit_of("temperature"), Some("°C"));
        assert_eq!(unit_of("pressure"), Some("hPa"));
        assert_eq!(unit_of("iaq"), None);
    }
}
