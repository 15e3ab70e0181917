//! What a notification says: the webhook's JSON, and the title, priority, tags and text of an
//! ntfy message, from one alert transition.

use super::rule::Rule;
use crate::metric::unit_of;
use crate::timestamp::format_rfc3339;
use crate::Millis;

/// Which way an alert went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Firing,
    Resolved,
}

/// One notification, as a webhook receives it (`since` and `at` as RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub event: Event,
    pub rule_id: i64,
    /// The rule's label, or its numbers in words.
    pub rule: String,
    pub sensor: String,
    /// The sensor's display name, if it has one (untrusted text).
    pub name: Option<String>,
    /// Empty for an offline rule.
    pub metric: String,
    /// The value that made the change (none for offline).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub since: String,
    pub at: String,
}

impl Notice {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event: Event,
        rule_id: i64,
        rule: &Rule,
        sensor: &str,
        name: Option<&str>,
        metric: &str,
        value: Option<f64>,
        since: Millis,
        at: Millis,
    ) -> Notice {
        Notice {
            event,
            rule_id,
            rule: rule.title(),
            sensor: sensor.to_owned(),
            name: name.map(str::to_owned),
            metric: metric.to_owned(),
            value,
            threshold: rule.threshold,
            since: format_rfc3339(since),
            at: format_rfc3339(at),
        }
    }

    /// The room as people call it: the sensor's name, else its id.
    pub fn room(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.sensor)
    }

    /// The alert in one line: "Bathroom: Mould risk (humidity 74.2 %) since 2026-…Z".
    pub fn text(&self) -> String {
        let value = match self.value {
            Some(v) if !self.metric.is_empty() => {
                let unit = unit_of(&self.metric)
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                format!(" ({} {}{unit})", self.metric, round(v))
            }
            _ => String::new(),
        };
        match self.event {
            Event::Firing => format!("{}: {}{value} since {}", self.room(), self.rule, self.since),
            Event::Resolved => format!(
                "{}: {} resolved{value} at {}",
                self.room(),
                self.rule,
                self.at
            ),
        }
    }

    /// An ntfy message: title, priority (1-5), tags (emoji short codes) and body.
    pub fn ntfy(&self) -> NtfyMessage {
        let (title, priority, tags) = match self.event {
            Event::Firing => (format!("{}: {}", self.room(), self.rule), 4, "warning"),
            Event::Resolved => (
                format!("Resolved: {}: {}", self.room(), self.rule),
                3,
                "white_check_mark",
            ),
        };
        NtfyMessage {
            title: plain_line(&title),
            priority,
            tags,
            body: self.text(),
        }
    }
}

/// Why an alert stands where it does, in words a card can show: the rule's numbers and the
/// value that made the change ("humidity above 70 % for 6h: 74.2 %").
pub fn reason(rule: &Rule, state: super::State, value: Option<f64>) -> String {
    use super::{Condition, State};
    let unit = unit_of(&rule.metric)
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    match (rule.condition, state, value) {
        (Condition::Offline, State::Ok, _) => "heard from again".to_owned(),
        (Condition::Offline, _, _) => rule.describe(),
        (Condition::NearDewPoint, State::Ok, Some(v)) => {
            format!("{}: back to {}{unit} apart", rule.describe(), round(v))
        }
        (Condition::NearDewPoint, _, Some(v)) => {
            format!("{}: {}{unit} apart", rule.describe(), round(v))
        }
        (_, State::Ok, Some(v)) => format!("{}: back to {}{unit}", rule.describe(), round(v)),
        (_, _, Some(v)) => format!("{}: {}{unit}", rule.describe(), round(v)),
        (_, _, None) => rule.describe(),
    }
}

/// An ntfy message's parts (ntfy takes the title, priority and tags as headers).
#[derive(Debug, Clone, PartialEq)]
pub struct NtfyMessage {
    pub title: String,
    pub priority: u8,
    pub tags: &'static str,
    pub body: String,
}

/// Text fit for one header line: control characters (a sensor-supplied newline) as spaces.
fn plain_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A value as a person reads it: at most two decimals, no trailing zeros.
fn round(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::presets;
    use crate::HOUR;

    #[test]
    fn a_notice_reads_as_json_and_as_ntfy_text() {
        let rule = presets()[0].rule.clone();
        let n = Notice::new(
            Event::Firing,
            3,
            &rule,
            "bath",
            Some("Bath\nroom"),
            "humidity",
            Some(74.25),
            0,
            6 * HOUR,
        );
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event":"firing","rule_id":3,"rule":"Mould risk","sensor":"bath",
                "name":"Bath\nroom","metric":"humidity","value":74.25,"threshold":70.0,
                "since":"1970-01-01T00:00:00.000Z","at":"1970-01-01T06:00:00.000Z"})
        );
        let m = n.ntfy();
        assert_eq!(m.title, "Bath room: Mould risk");
        assert_eq!((m.priority, m.tags), (4, "warning"));
        assert_eq!(
            m.body,
            "Bath\nroom: Mould risk (humidity 74.25 %) since 1970-01-01T00:00:00.000Z"
        );
        let offline = Notice::new(
            Event::Resolved,
            4,
            &presets()[5].rule,
            "bath",
            None,
            "",
            None,
            0,
            HOUR,
        );
        assert_eq!(offline.ntfy().title, "Resolved: bath: Sensor offline");
        assert_eq!(
            offline.text(),
            "bath: Sensor offline resolved at 1970-01-01T01:00:00.000Z"
        );
    }
}
