//! A reading: one device's values for one moment, checked and normalised, whatever format it came in.

use crate::metric::{normalize, FieldError, Metric};
use crate::sensor::SensorId;
use crate::series::SeriesTags;
use crate::timestamp;
use crate::Millis;

/// Longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// One device's values for one moment. Every value is finite, canonical and plausible.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub sensor: SensorId,
    /// Display label the device sent, if any; free text that must be shown as text.
    pub name: Option<String>,
    /// The device's own time for the values; `None` means the time of receipt.
    pub measured_at: Option<Millis>,
    pub values: Vec<(Metric, f64)>,
    /// For a line-protocol reading, the series it belongs to: its identity, of which `sensor`
    /// is only the readable form (the store tells series with the same readable id apart).
    pub series: Option<SeriesTags>,
    /// Fields of the same reading that were refused; the other values are stored.
    pub refused: Vec<FieldError>,
    /// Fields that gave a metric a second, different value; the first is kept.
    pub conflicts: Vec<FieldConflict>,
}

/// A metric given two different values in one reading (a repeated field, or two names for one
/// metric such as `temp` and `temperature`). The first value is kept, as for a resend.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldConflict {
    /// The field whose value was not kept, as the device named it.
    pub field: String,
    pub metric: String,
    pub kept: f64,
    pub sent: f64,
}

/// An item of a request or a line of a stream that could not be stored, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejected {
    /// Position in the batch (0-based) or line number (1-based), as the format counts.
    pub index: usize,
    /// The field at fault, where one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

impl Rejected {
    pub fn new(index: usize, reason: impl Into<String>) -> Self {
        Rejected {
            index,
            field: None,
            reason: reason.into(),
        }
    }

    pub fn field(index: usize, e: FieldError) -> Self {
        Rejected {
            index,
            reason: e.to_string(),
            field: Some(e.field),
        }
    }
}

/// Checks a display name or label: control characters dropped, spaces trimmed, at most 100
/// characters; empty means none.
pub fn clean_name(raw: &str) -> Result<Option<String>, FieldError> {
    let clean: String = raw.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new("name", "is longer than 100 characters"));
    }
    Ok((!clean.is_empty()).then(|| clean.to_owned()))
}

/// Collects the parts of a reading in any order and checks them once, the same way for every format.
#[derive(Debug, Default)]
pub struct Draft {
    pub sensor: Option<SensorId>,
    pub name: Option<String>,
    pub measured_at: Option<Millis>,
    pub series: Option<SeriesTags>,
    values: Vec<(Metric, f64)>,
    refused: Vec<FieldError>,
    conflicts: Vec<FieldConflict>,
}

impl Draft {
    /// Normalises and checks one metric field; the first value of a metric wins, and a second,
    /// different one is a conflict. A refused field is returned and not kept.
    pub fn metric(&mut self, raw_name: &str, value: f64) -> Result<(), FieldError> {
        let (metric, value) = normalize(raw_name, value)?;
        match self.values.iter().find(|(m, _)| *m == metric) {
            None => self.values.push((metric, value)),
            Some((_, kept)) if *kept == value => {}
            Some((m, kept)) => self.conflicts.push(FieldConflict {
                field: raw_name.to_owned(),
                metric: m.as_str().to_owned(),
                kept: *kept,
                sent: value,
            }),
        }
        Ok(())
    }

    /// Like [`Draft::metric`], but a refused field is kept aside and reported with the reading,
    /// so that the reading's other values are still stored.
    pub fn metric_or_refuse(&mut self, raw_name: &str, value: f64) {
        if let Err(e) = self.metric(raw_name, value) {
            self.refused.push(e);
        }
    }

    /// Reports a field refused before it became a value (a string where a number belongs).
    pub fn refuse(&mut self, e: FieldError) {
        self.refused.push(e);
    }

    /// Sets the display name (see [`clean_name`]).
    pub fn name(&mut self, raw: &str) -> Result<(), FieldError> {
        self.name = clean_name(raw)?;
        Ok(())
    }

    /// Sets the device time after checking it against the host clock.
    pub fn measured_at(&mut self, t: Millis, now: Millis) -> Result<(), FieldError> {
        let t =
            timestamp::check_plausible(t, now).map_err(|p| FieldError::new("measured_at", p))?;
        self.measured_at = Some(t);
        Ok(())
    }

    /// The first field refused so far, to name when no value is left.
    pub fn first_refused(&self) -> Option<&FieldError> {
        self.refused.first()
    }

    pub fn has_values(&self) -> bool {
        !self.values.is_empty()
    }

    /// Finishes the reading, taking `fallback` as the sensor if none was given. With no value
    /// left, the first refused field says why.
    pub fn finish(self, fallback: &SensorId) -> Result<Reading, String> {
        if self.values.is_empty() {
            return Err(match self.refused.first() {
                Some(e) => e.to_string(),
                None => {
                    "no numeric metric fields: send at least one, e.g. \"temperature\": 21.5".into()
                }
            });
        }
        Ok(Reading {
            sensor: self.sensor.unwrap_or_else(|| fallback.clone()),
            name: self.name,
            measured_at: self.measured_at,
            values: self.values,
            series: self.series,
            refused: self.refused,
            conflicts: self.conflicts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_keeps_first_value_and_cleans_names() {
        let mut d = Draft::default();
        d.metric("temp", 20.0).unwrap();
        d.metric("temperature", 30.0).unwrap();
        d.metric("temp", 20.0).unwrap();
        d.name("  Garage\u{7}\n (north) ").unwrap();
        let r = d.finish(&SensorId::parse("g").unwrap()).unwrap();
        assert_eq!(r.values.len(), 1);
        assert_eq!(r.values[0].1, 20.0);
        // The alias with another value is a conflict; the same value again is not.
        assert_eq!(
            r.conflicts,
            [FieldConflict {
                field: "temperature".into(),
                metric: "temperature".into(),
                kept: 20.0,
                sent: 30.0
            }]
        );
        assert_eq!(r.name.as_deref(), Some("Garage (north)"));
        assert_eq!(r.sensor.as_str(), "g");
    }

    #[test]
    fn a_refused_field_leaves_the_others() {
        let mut d = Draft::default();
        d.metric_or_refuse("temperature", 21.5);
        d.metric_or_refuse("humidity", 140.0);
        let r = d.finish(&SensorId::parse("x").unwrap()).unwrap();
        assert_eq!(r.values.len(), 1);
        assert_eq!(r.refused.len(), 1);
        assert_eq!(r.refused[0].field, "humidity");
        // With nothing left, the refusal is the reason.
        let mut d = Draft::default();
        d.metric_or_refuse("humidity", 140.0);
        assert!(d
            .finish(&SensorId::parse("x").unwrap())
            .unwrap_err()
            .contains("humidity"));
    }

    #[test]
    fn draft_refusals() {
        let mut d = Draft::default();
        assert!(d.name(&"é".repeat(100)).is_ok());
        assert_eq!(d.name(&"é".repeat(101)).unwrap_err().field, "name");
        assert!(d
            .finish(&SensorId::parse("x").unwrap())
            .unwrap_err()
            .contains("no numeric"));
    }
}
