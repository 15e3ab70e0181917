//! Reads Tasmota's telemetry: a JSON object nested per sensor (`{"AM2301":{"Temperature":22.6}}`)
//! whose `TempUnit` and `PressureUnit` say what the numbers mean, printed on the serial log after
//! a time and topic prefix.

use serde_json::{Map, Value};

/// Values of one sensor of a telemetry message, already named for `Draft`.
#[derive(Debug, PartialEq)]
pub(super) struct SensorBlock {
    /// What tells this sensor apart: its `Id` (a DS18B20 address) or its key (`AM2301`).
    pub probe: String,
    pub values: Vec<(String, f64)>,
    /// Fields that could not be read, with why.
    pub refused: Vec<(String, String)>,
}

/// The JSON of a Tasmota log line (`12:00:01.123 MQT: tele/NAME/SENSOR = {...}`, or
/// `RSL: SENSOR = {...}`); `None` if the line is not one.
pub(super) fn telemetry_json(line: &str) -> Option<&str> {
    let (prefix, _) = line.split_once(" = {")?;
    let json = &line[prefix.len() + 3..];
    let mut words = prefix.split_whitespace();
    let first = words.next()?;
    let timed = first.len() >= 8 && first[..8].bytes().all(|b| b.is_ascii_digit() || b == b':');
    let topic = if timed {
        words.next().and(words.next())?
    } else {
        first
    };
    (topic.ends_with("SENSOR") || topic.ends_with("STATE")).then_some(json)
}

/// A Tasmota log line that is not telemetry: `00:00:00.001 HDW: ESP32-D0WD`.
pub(super) fn is_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 13
        && b[..8].iter().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && line[8..].split_whitespace().next().is_some_and(|w| {
            w.len() == 4 && w.ends_with(':') && w[..3].bytes().all(|c| c.is_ascii_uppercase())
                || w.starts_with('.')
        })
}

/// Whether a JSON object holds objects, as Tasmota's does and flat readings do not.
pub(super) fn is_nested(object: &Map<String, Value>) -> bool {
    object.values().any(Value::is_object)
}

/// One block per sensor of the message. `Err` when the units are ones Clima cannot convert.
pub(super) fn blocks(object: &Map<String, Value>) -> Result<Vec<SensorBlock>, String> {
    let temp_unit = object
        .get("TempUnit")
        .and_then(Value::as_str)
        .unwrap_or("C");
    let fahrenheit = match temp_unit {
        "C" => false,
        "F" => true,
        other => return Err(format!("TempUnit {other:?} is neither \"C\" nor \"F\"")),
    };
    let pressure_unit = object
        .get("PressureUnit")
        .and_then(Value::as_str)
        .unwrap_or("hPa");
    let pressure_factor = match pressure_unit {
        "hPa" | "mbar" => 1.0,
        "mmHg" => 1.333_223_7,
        "inHg" => 33.863_886,
        other => {
            return Err(format!(
                "PressureUnit {other:?} is not hPa, mmHg or inHg: set Tasmota's SetOption24 0"
            ))
        }
    };
    let mut blocks = Vec::new();
    for (key, sensor) in object {
        let Some(fields) = sensor.as_object() else {
            continue;
        };
        let probe = fields
            .get("Id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| key.clone());
        let mut block = SensorBlock {
            probe,
            values: Vec::new(),
            refused: Vec::new(),
        };
        for (field, value) in fields {
            if field == "Id" || field == "SeaPressure" {
                continue;
            }
            let Some(v) = value.as_f64() else {
                if value.is_string() || value.is_null() {
                    block.refused.push((
                        format!("{key}.{field}"),
                        format!("expected a number, got {value}"),
                    ));
                }
                continue;
            };
            let (name, v) = match field.as_str() {
                "Temperature" | "DewPoint" => {
                    let base = if field == "DewPoint" {
                        "dew_point"
                    } else {
                        "temperature"
                    };
                    (format!("{base}{}", if fahrenheit { "_f" } else { "" }), v)
                }
                "Pressure" => ("pressure".into(), v * pressure_factor),
                "Humidity" => ("humidity".into(), v),
                "CarbonDioxide" | "CO2" | "eCO2" => ("co2".into(), v),
                "TVOC" => ("tvoc_ppb".into(), v),
                "Illuminance" => ("illuminance".into(), v),
                other => (other.to_ascii_lowercase(), v),
            };
            block.values.push((name, v));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Result<&str, &str>) {
        let got = telemetry_json(line)
            .ok_or_else(|| "not telemetry".to_owned())
            .and_then(|j| {
                let v: Value = serde_json::from_str(j).map_err(|e| e.to_string())?;
                blocks(v.as_object().unwrap())
            })
            .map(|bs| {
                bs.iter()
                    .map(|b| {
                        let vals: Vec<String> =
                            b.values.iter().map(|(n, v)| format!("{n}={v}")).collect();
                        format!("{}: {}", b.probe, vals.join(" "))
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            });
        match (got, expected) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{line}"),
            (Err(g), Err(w)) => assert!(g.contains(w), "{line}: {g}"),
            (g, w) => panic!("{line}: got {g:?}, want {w:?}"),
        }
    }

    #[test]
    fn telemetry() {
        check(
            r#"12:00:01.123 MQT: tele/tasmota_1A2B3C/SENSOR = {"Time":"2026-12-01T12:00:01","AM2301":{"Temperature":22.6,"Humidity":32.4,"DewPoint":5.4},"TempUnit":"C"}"#,
            Ok("AM2301: dew_point=5.4 humidity=32.4 temperature=22.6"),
        );
        check(
            r#"12:00:01 RSL: SENSOR = {"Time":"2026-12-01T12:00:01","DS18B20-1":{"Id":"01191ED79876","Temperature":72.5},"TempUnit":"F"}"#,
            Ok("01191ED79876: temperature_f=72.5"),
        );
        check(
            r#"12:00:01.123 MQT: tele/x/SENSOR = {"BME280":{"Temperature":21,"Pressure":760.0,"SeaPressure":761},"PressureUnit":"mmHg"}"#,
            Ok("BME280: pressure=1013.250012 temperature=21"),
        );
        check(
            r#"12:00:01.123 MQT: tele/x/SENSOR = {"BME280":{"Pressure":29.9},"PressureUnit":"psi"}"#,
            Err("PressureUnit \"psi\""),
        );
        check(
            r#"12:00:01.123 MQT: tele/x/STATE2 = {"Uptime":1}"#,
            Err("not telemetry"),
        );
        assert!(is_log_line("00:00:00.001 HDW: ESP32-D0WD-V3 v3.0"));
        assert!(is_log_line("12:00:01.123 WIF: Connected"));
        assert!(!is_log_line("12:21:46"));
        assert!(!is_log_line("temperature:22.5,humidity:41"));
    }
}
