//! An alert rule: which series it watches, the condition, how long it must hold, read from and
//! written as the API's JSON; the presets; and the hysteresis a rule clears by.

use serde_json::{Map, Value};

use crate::metric::unit_of;
use crate::{Millis, SensorId, DAY, HOUR, MINUTE, SECOND};

/// What a rule watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The value is above the threshold.
    Above,
    /// The value is below the threshold.
    Below,
    /// The value rose by more than `amount` within `window`.
    Rising,
    /// The value fell by more than `amount` within `window`.
    Falling,
    /// The temperature is within `threshold` of the dew point (both measured at one time).
    NearDewPoint,
    /// No reading from the sensor for longer than `for` (or three times its usual interval).
    Offline,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::Above,
        Condition::Below,
        Condition::Rising,
        Condition::Falling,
        Condition::NearDewPoint,
        Condition::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Above => "above",
            Condition::Below => "below",
            Condition::Rising => "rising",
            Condition::Falling => "falling",
            Condition::NearDewPoint => "near_dew_point",
            Condition::Offline => "offline",
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// A sensor id, or `*` for every sensor.
    pub sensor: String,
    /// The metric watched; `temperature` for [`Condition::NearDewPoint`], empty for offline.
    pub metric: String,
    pub condition: Condition,
    /// Above/below: the line; near the dew point: the largest spread in the metric's unit.
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert fires; for offline, the silence that
    /// counts (`None`: three times the sensor's usual interval).
    pub hold: Option<Millis>,
    /// Rising/falling: the window the change happens within.
    pub window: Option<Millis>,
    /// Rising/falling: the change that counts.
    pub amount: Option<f64>,
    /// How far back past the line a firing alert must go to clear (`None`: the default).
    pub hysteresis: Option<f64>,
    pub enabled: bool,
    /// A name for people ("Mould risk"); `None`: the rule is described by its numbers.
    pub label: Option<String>,
}

/// What is wrong with a rule, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RuleError {
    /// The JSON field at fault.
    pub field: String,
    /// What was wrong and what to send instead.
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> RuleError {
    RuleError {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// The fields a rule's JSON may hold.
const FIELDS: [&str; 10] = [
    "sensor",
    "metric",
    "condition",
    "threshold",
    "for",
    "window",
    "amount",
    "hysteresis",
    "enabled",
    "label",
];

/// Longest label kept.
const LABEL_MAX: usize = 80;

impl Rule {
    /// Reads a rule from the API's JSON object; an `id` field is ignored (the path names it).
    pub fn from_json(v: &Value) -> Result<Rule, RuleError> {
        let Some(obj) = v.as_object() else {
            return Err(bad("rule", "send a JSON object such as {\"sensor\":\"*\",\"metric\":\"humidity\",\"condition\":\"above\",\"threshold\":70,\"for\":\"6h\"}"));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| *k != "id" && !FIELDS.contains(&k.as_str()))
        {
            return Err(bad(
                k,
                format!("unknown field; a rule has {}", FIELDS.join(", ")),
            ));
        }
        let condition = match text(obj, "condition")? {
            None => return Err(bad("condition", "missing: use one of above, below, rising, falling, near_dew_point, offline")),
            Some(c) => Condition::ALL
                .into_iter()
                .find(|k| k.as_str() == c)
                .ok_or_else(|| bad("condition", format!("{c:?} is not a condition: use one of above, below, rising, falling, near_dew_point, offline")))?,
        };
        let sensor = match text(obj, "sensor")? {
            None => {
                return Err(bad(
                    "sensor",
                    "missing: name a sensor id, or * for every sensor",
                ))
            }
            Some("*") => "*".to_owned(),
            Some(s) => SensorId::parse(s)
                .map_err(|e| bad("sensor", format!("{e}; or * for every sensor")))?
                .as_str()
                .to_owned(),
        };
        let metric = match (condition, text(obj, "metric")?) {
            (Condition::Offline, None) => String::new(),
            (Condition::Offline, Some(_)) => {
                return Err(bad("metric", "an offline rule watches the whole sensor: leave metric out"))
            }
            (Condition::NearDewPoint, None | Some("temperature")) => "temperature".to_owned(),
            (Condition::NearDewPoint, Some(_)) => {
                return Err(bad("metric", "near_dew_point compares temperature with the dew point: use metric \"temperature\" or leave it out"))
            }
            (_, None) => return Err(bad("metric", "missing: name the metric, e.g. temperature, humidity or co2")),
            (_, Some(m)) => {
                if m.is_empty()
                    || m.len() > 64
                    || !m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(bad("metric", format!("{m:?} is not a metric name: use lower-case names as /api/v1/sensors lists them, e.g. temperature")));
                }
                m.to_owned()
            }
        };
        let threshold = number(obj, "threshold")?;
        let amount = number(obj, "amount")?;
        let hysteresis = number(obj, "hysteresis")?;
        let hold = duration_field(obj, "for")?;
        let window = duration_field(obj, "window")?;
        let needs_threshold = matches!(
            condition,
            Condition::Above | Condition::Below | Condition::NearDewPoint
        );
        let changes = matches!(condition, Condition::Rising | Condition::Falling);
        match (needs_threshold, threshold) {
            (true, None) => {
                return Err(bad(
                    "threshold",
                    format!(
                        "missing: the condition {} needs a number",
                        condition.as_str()
                    ),
                ))
            }
            (false, Some(_)) => {
                return Err(bad(
                    "threshold",
                    format!(
                        "a {} rule has no threshold: leave it out",
                        condition.as_str()
                    ),
                ))
            }
            _ => {}
        }
        if condition == Condition::NearDewPoint && threshold.is_some_and(|t| t < 0.0) {
            return Err(bad(
                "threshold",
                "the spread to the dew point cannot be negative",
            ));
        }
        match (changes, amount, window) {
            (true, None, _) => {
                return Err(bad(
                    "amount",
                    "missing: how much the value must change, e.g. 3",
                ))
            }
            (true, Some(a), _) if a <= 0.0 => {
                return Err(bad(
                    "amount",
                    "must be more than 0 (rising or falling says the direction)",
                ))
            }
            (true, _, None) => {
                return Err(bad(
                    "window",
                    "missing: the time the change happens within, e.g. 10m",
                ))
            }
            (true, _, Some(0)) => return Err(bad("window", "must be longer than 0s")),
            (false, Some(_), _) => {
                return Err(bad(
                    "amount",
                    "only rising and falling rules have an amount",
                ))
            }
            (false, _, Some(_)) => {
                return Err(bad("window", "only rising and falling rules have a window"))
            }
            _ => {}
        }
        if hysteresis.is_some_and(|h| h < 0.0) {
            return Err(bad("hysteresis", "cannot be negative"));
        }
        if condition == Condition::Offline {
            if hysteresis.is_some() {
                return Err(bad("hysteresis", "an offline rule has no hysteresis"));
            }
            if hold == Some(0) {
                return Err(bad("for", "an offline rule needs a silence longer than 0s, or no for (three times the sensor's usual interval)"));
            }
        }
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("enabled", "must be true or false")),
        };
        let label = match text(obj, "label")? {
            None => None,
            Some(l) => {
                let l = l.trim();
                if l.chars().count() > LABEL_MAX || l.chars().any(char::is_control) {
                    return Err(bad(
                        "label",
                        format!("at most {LABEL_MAX} characters of plain text"),
                    ));
                }
                (!l.is_empty()).then(|| l.to_owned())
            }
        };
        Ok(Rule {
            sensor,
            metric,
            condition,
            threshold,
            hold,
            window,
            amount,
            hysteresis,
            enabled,
            label,
        })
    }

    /// The rule as the API shows it (the same fields it is sent with, durations as text).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("sensor".into(), self.sensor.clone().into());
        if !self.metric.is_empty() {
            o.insert("metric".into(), self.metric.clone().into());
        }
        o.insert("condition".into(), self.condition.as_str().into());
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        };
        put("threshold", self.threshold.map(Value::from));
        put("for", self.hold.map(|d| format_duration(d).into()));
        put("window", self.window.map(|d| format_duration(d).into()));
        put("amount", self.amount.map(Value::from));
        put("hysteresis", self.hysteresis.map(Value::from));
        put("label", self.label.clone().map(Value::from));
        o.insert("enabled".into(), self.enabled.into());
        Value::Object(o)
    }

    /// Whether the rule watches `sensor`.
    pub fn covers(&self, sensor: &str) -> bool {
        self.sensor == "*" || self.sensor == sensor
    }

    /// The margin a firing alert clears by: as given, else 2 % of the threshold's (or the
    /// amount's) magnitude, at least one display step of the metric.
    pub fn clearance(&self) -> f64 {
        if let Some(h) = self.hysteresis {
            return h;
        }
        let base = self.threshold.or(self.amount).unwrap_or(0.0).abs();
        // Rounded to a millionth, so 2 % of 70 is 1.4 and not 1.4000000000000001.
        ((0.02 * base * 1e6).round() / 1e6).max(display_step(&self.metric, base))
    }

    /// The rule in a few words: its label, else its numbers ("humidity above 70 % for 6h").
    pub fn title(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.describe())
    }

    /// The rule's numbers in a few words.
    pub fn describe(&self) -> String {
        let unit = unit_suffix(&self.metric);
        let held = |s: String| match self.hold {
            Some(d) if d > 0 => format!("{s} for {}", format_duration(d)),
            _ => s,
        };
        let th = self.threshold.unwrap_or(0.0);
        match self.condition {
            Condition::Above => held(format!("{} above {th}{unit}", self.metric)),
            Condition::Below => held(format!("{} below {th}{unit}", self.metric)),
            Condition::Rising | Condition::Falling => held(format!(
                "{} {} by more than {}{unit} within {}",
                self.metric,
                self.condition.as_str(),
                self.amount.unwrap_or(0.0),
                format_duration(self.window.unwrap_or(0))
            )),
            Condition::NearDewPoint => {
                held(format!("temperature within {th}{unit} of the dew point"))
            }
            Condition::Offline => match self.hold {
                Some(d) => format!("no reading for {}", format_duration(d)),
                None => "no reading for three times the usual interval".to_owned(),
            },
        }
    }
}

/// The unit after a number, after a space ("70 %").
fn unit_suffix(metric: &str) -> String {
    match unit_of(metric) {
        Some(u) => format!(" {u}"),
        None => String::new(),
    }
}

/// The smallest change the dashboard shows for a metric (as its decimals in `ui/js/format.js`).
pub fn display_step(metric: &str, magnitude: f64) -> f64 {
    match metric {
        "temperature" | "dew_point" | "humidity" | "absolute_humidity" | "pressure" => 0.1,
        "co2" => 1.0,
        _ if magnitude >= 1000.0 => 1.0,
        _ if magnitude >= 1.0 => 0.1,
        _ => 0.01,
    }
}

fn text<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, RuleError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn number(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, RuleError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(bad(field, "must be a finite number")),
        },
        Some(_) => Err(bad(field, "must be a number, e.g. 70")),
    }
}

fn duration_field(obj: &Map<String, Value>, field: &str) -> Result<Option<Millis>, RuleError> {
    match text(obj, field) {
        Ok(None) => Ok(None),
        Ok(Some(s)) => parse_duration(s).map(Some).ok_or_else(|| {
            bad(
                field,
                format!("{s:?} is not a duration: use a whole number and s, m, h or d, e.g. 30s, 10m, 6h"),
            )
        }),
        Err(_) => Err(bad(field, "must be a duration as text, e.g. \"30s\", \"10m\", \"6h\"")),
    }
}

/// Longest duration a rule takes: a year.
const DURATION_MAX: Millis = 366 * DAY;

/// `30s`, `10m`, `6h`, `2d` as milliseconds; `None` for anything else or over a year.
pub fn parse_duration(s: &str) -> Option<Millis> {
    let s = s.trim();
    let unit = match s.chars().last()? {
        's' => SECOND,
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        _ => return None,
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = digits.parse::<Millis>().ok()?.checked_mul(unit)?;
    (ms <= DURATION_MAX).then_some(ms)
}

/// A duration in the largest unit that writes it whole (`6h`, `90s`); under a second as `0s`.
pub fn format_duration(ms: Millis) -> String {
    for (unit, suffix) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m")] {
        if ms > 0 && ms % unit == 0 {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{}s", ms / SECOND)
}

/// A preset offered in Settings: an id, what it is for, and its rule with every number shown.
#[derive(Debug, Clone)]
pub struct Preset {
    pub id: &'static str,
    pub rule: Rule,
}

/// The presets: mould risk, condensation, freeze risk, too hot for servers, ventilate, and
/// sensor offline, each for every sensor until the user picks one.
pub fn presets() -> Vec<Preset> {
    let rule = |metric: &str, condition, threshold: Option<f64>, hold, label: &str| Rule {
        sensor: "*".into(),
        metric: metric.into(),
        condition,
        threshold,
        hold,
        window: None,
        amount: None,
        hysteresis: None,
        enabled: true,
        label: Some(label.into()),
    };
    vec![
        Preset {
            id: "mould",
            rule: rule(
                "humidity",
                Condition::Above,
                Some(70.0),
                Some(6 * HOUR),
                "Mould risk",
            ),
        },
        Preset {
            id: "condensation",
            rule: rule(
                "temperature",
                Condition::NearDewPoint,
                Some(1.0),
                None,
                "Condensation",
            ),
        },
        Preset {
            id: "freeze",
            rule: rule(
                "temperature",
                Condition::Below,
                Some(3.0),
                Some(15 * MINUTE),
                "Freeze risk",
            ),
        },
        Preset {
            id: "server_heat",
            rule: rule(
                "temperature",
                Condition::Above,
                Some(30.0),
                Some(5 * MINUTE),
                "Too hot for servers",
            ),
        },
        Preset {
            id: "ventilate",
            rule: rule(
                "co2",
                Condition::Above,
                Some(1000.0),
                Some(10 * MINUTE),
                "Ventilate",
            ),
        },
        Preset {
            id: "offline",
            rule: rule("", Condition::Offline, None, None, "Sensor offline"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses `v`; `Ok` holds the rule's JSON as shown, `Err` the field named.
    fn check(v: Value, expected: Result<Value, &str>) {
        let got = Rule::from_json(&v).map(|r| r.to_json());
        match (got, expected) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{v}"),
            (Err(e), Err(field)) => assert_eq!(e.field, field, "{v}: {e}"),
            (g, w) => panic!("{v}: got {g:?}, wanted {w:?}"),
        }
    }

    #[test]
    fn rules_parse_or_name_the_bad_field() {
        check(
            json!({"sensor":"*","metric":"humidity","condition":"above","threshold":70,"for":"6h"}),
            Ok(
                json!({"sensor":"*","metric":"humidity","condition":"above","threshold":70.0,"for":"6h","enabled":true}),
            ),
        );
        check(
            json!({"sensor":"kitchen","metric":"temperature","condition":"falling","amount":3,"window":"10m","enabled":false}),
            Ok(
                json!({"sensor":"kitchen","metric":"temperature","condition":"falling","amount":3.0,"window":"10m","enabled":false}),
            ),
        );
        check(
            json!({"sensor":"*","condition":"offline","for":"90s"}),
            Ok(json!({"sensor":"*","condition":"offline","for":"90s","enabled":true})),
        );
        check(
            json!({"sensor":"*","condition":"near_dew_point","threshold":1}),
            Ok(
                json!({"sensor":"*","metric":"temperature","condition":"near_dew_point","threshold":1.0,"enabled":true}),
            ),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above"}),
            Err("threshold"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"over","threshold":1}),
            Err("condition"),
        );
        check(
            json!({"sensor":"a b","metric":"co2","condition":"above","threshold":1}),
            Err("sensor"),
        );
        check(
            json!({"metric":"co2","condition":"above","threshold":1}),
            Err("sensor"),
        );
        check(
            json!({"sensor":"*","condition":"above","threshold":1}),
            Err("metric"),
        );
        check(
            json!({"sensor":"*","metric":"CO2!","condition":"above","threshold":1}),
            Err("metric"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":"high"}),
            Err("threshold"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"for":"10 minutes"}),
            Err("for"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"for":600}),
            Err("for"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"rising","window":"1m"}),
            Err("amount"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"rising","amount":5}),
            Err("window"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"window":"1m"}),
            Err("window"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"hysteresis":-1}),
            Err("hysteresis"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"enabled":"yes"}),
            Err("enabled"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"above","threshold":1,"colour":"red"}),
            Err("colour"),
        );
        check(
            json!({"sensor":"*","metric":"co2","condition":"offline"}),
            Err("metric"),
        );
        check(
            json!({"sensor":"*","condition":"offline","for":"0s"}),
            Err("for"),
        );
        check(json!([1]), Err("rule"));
    }

    #[test]
    fn durations_read_and_write_whole_units() {
        for (text, ms) in [
            ("30s", 30_000),
            ("10m", 600_000),
            ("6h", 21_600_000),
            ("2d", 172_800_000),
            ("0s", 0),
            ("90s", 90_000),
        ] {
            assert_eq!(parse_duration(text), Some(ms), "{text}");
            assert_eq!(format_duration(ms), text);
        }
        for text in ["", "s", "10", "1.5h", "-1m", "10x", "400d", "1 h"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn the_default_hysteresis_is_two_percent_at_least_one_step() {
        let r = |metric: &str, threshold: f64| Rule {
            threshold: Some(threshold),
            metric: metric.into(),
            ..presets()[0].rule.clone()
        };
        assert_eq!(r("humidity", 70.0).clearance(), 1.4);
        assert_eq!(r("temperature", 3.0).clearance(), 0.1);
        assert_eq!(r("co2", 1000.0).clearance(), 20.0);
        assert_eq!(r("co2", 10.0).clearance(), 1.0);
        assert_eq!(r("temperature", -30.0).clearance(), 0.6);
        let mut given = r("humidity", 70.0);
        given.hysteresis = Some(0.0);
        assert_eq!(given.clearance(), 0.0);
    }

    #[test]
    fn presets_are_valid_rules_shown_with_their_numbers() {
        for p in presets() {
            let again = Rule::from_json(&p.rule.to_json()).unwrap();
            assert_eq!(again, p.rule, "{}", p.id);
        }
        assert_eq!(presets()[0].rule.describe(), "humidity above 70 % for 6h");
        assert_eq!(presets()[4].rule.describe(), "co2 above 1000 ppm for 10m");
    }
}
