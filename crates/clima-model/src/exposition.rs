//! Prometheus's text exposition format: metric families written out with escaped labels, and
//! the name and base-unit factor of each Clima metric as a Prometheus series.

use std::fmt::Write as _;

/// One metric family: a name, its help, its type and its samples (labels, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    pub fn new(name: impl Into<String>, help: &'static str, kind: &'static str) -> Family {
        Family {
            name: name.into(),
            help,
            kind,
            samples: Vec::new(),
        }
    }

    pub fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) -> &mut Self {
        self.samples.push((labels, value));
        self
    }
}

/// Writes families in the text format (version 0.0.4); families with no sample are left out.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in &f.samples {
            out.push_str(&f.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
    out
}

/// A label value: backslash, double quote and line feed escaped, as the format requires.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// The Prometheus name of a Clima metric in base units, and the factor from Clima's stored
/// unit to it (pressure is stored in hPa, exposed in pascals). A metric Clima has no unit for
/// keeps its name, with anything outside `[a-zA-Z0-9_]` made `_`.
pub fn series_name(metric: &str) -> (String, f64) {
    let (name, factor) = match metric {
        "temperature" => ("temperature_celsius", 1.0),
        "dew_point" => ("dew_point_celsius", 1.0),
        "humidity" => ("relative_humidity_percent", 1.0),
        "battery" => ("battery_percent", 1.0),
        "pressure" => ("pressure_pascals", 100.0),
        "co2" => ("co2_ppm", 1.0),
        "tvoc" => ("tvoc_ppm", 1.0),
        "pm1" => ("pm1_micrograms_per_cubic_meter", 1.0),
        "pm25" => ("pm25_micrograms_per_cubic_meter", 1.0),
        "pm10" => ("pm10_micrograms_per_cubic_meter", 1.0),
        "illuminance" | "lux" => ("illuminance_lux", 1.0),
        "voltage" => ("voltage_volts", 1.0),
        "altitude" => ("altitude_meters", 1.0),
        other => {
            let clean: String = other
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            return (format!("clima_{clean}"), 1.0);
        }
    };
    (format!("clima_{name}"), factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_with_escaped_labels() {
        let mut t = Family::new("clima_temperature_celsius", "Latest temperature.", "gauge");
        t.add(
            vec![
                ("sensor", "attic".into()),
                ("name", "A \"cold\" \\ attic\nnorth".into()),
            ],
            18.5,
        );
        t.add(vec![("sensor", "k".into())], -0.25);
        let empty = Family::new("clima_unused", "Nothing.", "gauge");
        let mut c = Family::new("clima_http_replies_total", "Replies.", "counter");
        c.add(vec![], 3.0);
        assert_eq!(
            render(&[t, empty, c]),
            "# HELP clima_temperature_celsius Latest temperature.\n\
             # TYPE clima_temperature_celsius gauge\n\
             clima_temperature_celsius{sensor=\"attic\",name=\"A \\\"cold\\\" \\\\ attic\\nnorth\"} 18.5\n\
             clima_temperature_celsius{sensor=\"k\"} -0.25\n\
             # HELP clima_http_replies_total Replies.\n\
             # TYPE clima_http_replies_total counter\n\
             clima_http_replies_total 3\n"
        );
    }

    #[test]
    fn names_in_base_units() {
        for (metric, name, factor) in [
            ("temperature", "clima_temperature_celsius", 1.0),
            ("humidity", "clima_relative_humidity_percent", 1.0),
            ("pressure", "clima_pressure_pascals", 100.0),
            ("co2", "clima_co2_ppm", 1.0),
            ("soil-moisture.2", "clima_soil_moisture_2", 1.0),
        ] {
            assert_eq!(series_name(metric), (name.to_owned(), factor), "{metric}");
        }
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    }
}
