//! Turns the text lines of one serial port into readings, recognising the output format of each
//! line on its own.
//!
//! Detection order, first match wins:
//! 1. blank line: ends a multi-line block, else ignored;
//! 2. terminal colour codes are dropped; ESPHome log lines (`[D][sensor:094]: 'Name': Sending
//!    state 23.4 °C ...`): a sensor state is a reading, other log lines are ignored;
//! 3. Tasmota log lines: telemetry (`12:00:01.123 MQT: tele/NAME/SENSOR = {...}`) is a reading
//!    per sensor, other log lines are ignored;
//! 4. boot banners of ESP32/ESP8266 ROMs, ESP-IDF log lines and sketch titles (`DHTxx test!`):
//!    ignored; board messages such as `Failed to read from DHT sensor!`: unparsed with a reason;
//! 5. more than [`GARBAGE_LIMIT`] unreadable characters: unparsed (wrong baud rate);
//! 6. `{`: a JSON object; one nested per sensor is read as Tasmota's;
//! 7. `measurement[,tag=v] field=v`: InfluxDB line protocol;
//! 8. fields split at commas (at spaces and tabs too if the line has no comma), all
//!    `label:number` (`n/a` refused alone): Arduino Serial Plotter; a label may carry its unit,
//!    `temp(C):24.1`, and a plain label Clima knows under another name is stored under that
//!    name (`AmbientHumidity`, `MassConcentrationPm2p5`);
//! 9. all numbers (empty fields and a status in hex, `B0`, left out): a value row, labelled by
//!    the last header row;
//! 10. all metric-name-like words, units allowed (`T(deg C)`, `%RH`, `pressure [hPa]`), at least
//!     half of them names Clima knows or labels with a unit: a header row (the plotter's label
//!     line and a CSV header are the same thing); `raw ...` columns beside compensated ones are
//!     not stored;
//! 11. values that carry their unit and no name (`23.44ºC`, `('23.02C', '1008.27hPa', '46.31%')`);
//!     a line right after giving the same in °F (`74.19ºF`) is ignored;
//! 12. DallasTemperature's probe lines: `Found device 0 with address: 28FF...` and
//!     `Temperature for device: 0` (ignored and pending: they name the probe of the next line),
//!     `Device Address: 28FF... Temp C: 23.44 Temp F: 74.19` (a reading of that probe); OneWire's
//!     `ROM = 28 FF 64 1E 8C 16 3 12` (names the probe of the next temperature; its `Chip =` and
//!     `Data =` lines are ignored); a `NAME:` line alone heads a section of values (Sensirion's
//!     `SHT1 :`), and once a board has shown two sections each is a probe of its own;
//! 13. anything else with `:` or `=`: example-sketch text, `Name: value unit`.
//!
//! Then every reading goes through the board's checks, in [`SerialParser`]: a second value in
//! °F of a quantity the line gave in °C is dropped; a temperature without a unit is taken in the
//! board's unit, or held back if not plausible as a room's °C value; a pressure in pascals under
//! an hPa label is read as pascals; a field that fails is refused alone; series the user ignores
//! are dropped; and a label Clima does not know is stored only once the board prints it again.
//!
//! A port may have been opened in the middle of a line, so until the first data line the parser
//! accepts only lines that show they are whole; see [`SerialParser`].

use std::collections::BTreeSet;

use super::esphome::{self, EsphomeLine};
use super::sketch::{self, split_number, Pair};
use super::tasmota;
use crate::json::{self, BodyError};
use crate::line_protocol::{self, Precision};
use crate::metric::{normalize, FieldError};
use crate::reading::{Draft, Reading};
use crate::sensor::SensorId;
use crate::Millis;

/// Share of unreadable characters above which a line is noise rather than text; a port whose
/// lines keep scoring above it is most likely set to the wrong baud rate.
pub const GARBAGE_LIMIT: f32 = 0.2;

/// Values of unknown labels held until they repeat, at most; the oldest goes first.
const HELD_MAX: usize = 64;

/// Range of a temperature without a unit that can be taken as a room's °C value.
const PLAUSIBLE_ROOM_C: std::ops::RangeInclusive<f64> = -30.0..=40.0;

/// The share (0 to 1) of a line's characters that are U+FFFD (bytes that were not UTF-8) or
/// control characters other than tab. A port reader compares it to [`GARBAGE_LIMIT`] to
/// decide that a baud rate is wrong; correct text scores 0.
pub fn garbage_score(line: &str) -> f32 {
    let (mut total, mut bad) = (0usize, 0usize);
    for c in line.chars() {
        total += 1;
        if c == char::REPLACEMENT_CHARACTER || (c.is_control() && c != '\t') {
            bad += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        bad as f32 / total as f32
    }
}

/// The unit a board prints its temperatures in when its lines do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TemperatureUnit {
    #[serde(rename = "C")]
    Celsius,
    #[serde(rename = "F")]
    Fahrenheit,
}

/// What a person told Clima about one board, kept per board.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoardSettings {
    /// How to read a temperature printed without a unit; `None` holds back implausible ones.
    #[serde(default)]
    pub temperature_unit: Option<TemperatureUnit>,
    /// Series not to store: a metric name (`max_value`), or `sensor/metric` for one probe's.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// What one line from a board amounted to.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOutcome {
    /// Readings to store: usually one; more when the line also ended a pending block, named
    /// several probes, or confirmed a held value. A reading's `refused` fields say, for a
    /// person reading the port's log, what of the line was not stored and why.
    Readings(Vec<Reading>),
    /// A header row, or part of a multi-line block: the readings come with a later line.
    Pending,
    /// Nothing to store and nothing a person needs to see: blank lines, boot banners.
    Ignored,
    /// Not stored; the text says what was wrong, for a person reading the port's log.
    Unparsed(String),
}

/// The reading state of one serial port: its identity, the labels of the last header row, a
/// multi-line block in progress, the probe being printed, values held until they repeat, and
/// whether the stream is known to be in step.
///
/// Every value goes through [`Draft`], so serial readings get the same names, conversions and
/// plausibility checks as HTTP ones.
///
/// A port opened in the middle of a line delivers its cut-off end first (`ature:22.0,...`).
/// Until the first data line after opening, a line is accepted only if it shows it is whole:
/// a JSON object (a cut one does not parse), a header row (boards print it once, right after
/// a reset, so it is whole, and every later row needs it), or plotter or sketch text whose first
/// name is a metric Clima knows (a cut `ature` is not). Other first lines are reported and
/// skipped: one reading lost per opening, against a metric or sensor that never existed. Line
/// protocol's first line is always skipped, as a cut measurement name looks like any other.
///
/// A multi-line block (`Temperature = 23.4 °C`, `Humidity = 45.6 %`, ..., blank line) becomes
/// one reading dated by its first line, since its end may only show with the next block.
///
/// Sketches print their sensor's details once at start-up (`Max Value: 125.00°C`); only what
/// a board prints again is a reading. A label Clima does not know is held at its first sight,
/// reported, and stored with its own time once it comes again; a banner stays held.
#[derive(Debug)]
pub struct SerialParser {
    fallback: SensorId,
    settings: BoardSettings,
    /// No data line was seen since the port opened, so the next one may be cut off.
    first_line: bool,
    header: Option<Vec<Option<Pair>>>,
    block: Option<Block>,
    /// DallasTemperature: probe index to address, from the start-up lines.
    addresses: Vec<(String, String)>,
    /// The probe named by the last `Temperature for device: N` line.
    probe: Option<String>,
    /// Sections the board prints its sensors' values under (`SHT1 :`), in order of appearance,
    /// and the current one: with two or more, each section is a probe.
    sections: Vec<String>,
    section: Option<String>,
    held: Vec<Held>,
    /// Unknown labels that came twice: readings from now on.
    repeated: BTreeSet<(String, String)>,
    /// The metrics of the last line if it was values named by their unit: a next line giving
    /// the same in °F (`23.44ºC`, then `74.19ºF`) is the same reading again.
    unit_line: Vec<String>,
}

/// A value of a label seen once so far.
#[derive(Debug)]
struct Held {
    sensor: SensorId,
    metric: String,
    /// Every value so far, with its time: all are stored once the label counts as a reading.
    values: Vec<(f64, Millis)>,
    /// A reading of a known quantity came since: a repeat now is a reading, not a banner
    /// printed once per sensor (the unified-sensor sketches print theirs twice at start-up).
    after_reading: bool,
}

/// `Name = value unit` lines collected until a blank line or a repeated metric ends them.
#[derive(Debug)]
struct Block {
    at: Millis,
    probe: Option<String>,
    section: Option<String>,
    pairs: Vec<Pair>,
    metrics: Vec<String>,
}

/// What a line looks like, before its values are checked.
enum Shape<'a> {
    Banner,
    Json,
    LineProtocol,
    Labelled(Vec<Pair>),
    /// A value row; `None` is an empty CSV field.
    Values(Vec<Option<f64>>),
    Header(Vec<Option<Pair>>),
    Sketch(Vec<Pair>),
    /// Values named by their unit alone.
    UnitValues(Vec<Pair>),
    /// A DallasTemperature start-up line pairing a probe index with its address.
    ProbeFound(String, String),
    /// The probe the next line's temperature is of.
    ProbeNext(String),
    /// `NAME:` alone: the values below are of the sensor NAME.
    Section(String),
    /// A line of one probe's values.
    ProbeValues(String, Vec<Pair>),
    Esphome(Option<String>, Pair),
    Tasmota(&'a str),
}

impl SerialParser {
    /// `fallback` names readings whose line names no sensor: the board's own identity, such as
    /// its USB serial number.
    pub fn new(fallback: SensorId) -> Self {
        SerialParser {
            fallback,
            settings: BoardSettings::default(),
            first_line: true,
            header: None,
            block: None,
            addresses: Vec::new(),
            probe: None,
            sections: Vec::new(),
            section: None,
            held: Vec::new(),
            repeated: BTreeSet::new(),
            unit_line: Vec::new(),
        }
    }

    /// Applies what the user said about this board, from the next line on.
    pub fn set_settings(&mut self, settings: BoardSettings) {
        self.settings = settings;
    }

    pub fn settings(&self) -> &BoardSettings {
        &self.settings
    }

    /// Reads one line, as [`LineFramer`](super::LineFramer) yields it. `now` is the time of
    /// receipt; it checks device timestamps and dates multi-line blocks.
    pub fn parse_line(&mut self, line: &str, now: Millis) -> LineOutcome {
        let unit_line = std::mem::take(&mut self.unit_line);
        let line = esphome::strip_ansi(line);
        let line = line.trim();
        if line.is_empty() {
            let readings = self.flush();
            return if readings.is_empty() {
                LineOutcome::Ignored
            } else {
                LineOutcome::Readings(readings)
            };
        }
        let shape = match classify(line) {
            Ok(shape) => shape,
            Err(reason) => return LineOutcome::Unparsed(reason),
        };
        if !matches!(
            shape,
            Shape::Banner
                | Shape::Values(_)
                | Shape::Esphome(..)
                | Shape::Tasmota(_)
                | Shape::ProbeFound(..)
                | Shape::ProbeNext(_)
                | Shape::Section(_)
        ) && std::mem::take(&mut self.first_line)
        {
            if let Some(reason) = may_be_cut(&shape) {
                return LineOutcome::Unparsed(reason);
            }
        }
        let result = match shape {
            Shape::Banner => return LineOutcome::Ignored,
            Shape::Header(labels) => {
                self.header = Some(labels);
                return LineOutcome::Pending;
            }
            Shape::ProbeFound(index, address) => {
                self.addresses.retain(|(i, _)| *i != index);
                self.addresses.push((index, address));
                return LineOutcome::Ignored;
            }
            Shape::Section(name) => {
                if !self.sections.contains(&name) {
                    self.sections.push(name.clone());
                }
                let finished = self.flush();
                self.section = Some(name);
                return if finished.is_empty() {
                    LineOutcome::Pending
                } else {
                    LineOutcome::Readings(finished)
                };
            }
            Shape::ProbeNext(index) => {
                let address = self.addresses.iter().find(|(i, _)| *i == index);
                self.probe = Some(address.map_or(index, |(_, a)| a.clone()));
                return LineOutcome::Pending;
            }
            Shape::Sketch(pairs) if pairs.is_empty() => return LineOutcome::Ignored,
            Shape::Sketch(pairs) if pairs.len() == 1 && self.probe.is_none() => {
                return self.block_line(pairs.into_iter().next().expect("one pair"), now)
            }
            Shape::Sketch(pairs) => {
                let probe = self.probe.clone();
                self.finish(probe.as_deref(), pairs, None, now)
            }
            Shape::UnitValues(pairs) => {
                let twin = pairs.iter().all(|p| {
                    p.name
                        .strip_suffix("_f")
                        .is_some_and(|base| unit_line.iter().any(|n| n == base))
                });
                if twin {
                    return LineOutcome::Ignored;
                }
                self.unit_line = pairs.iter().map(|p| p.name.clone()).collect();
                self.finish(None, pairs, None, now)
            }
            Shape::Labelled(pairs) => self.finish(None, pairs, None, now),
            Shape::ProbeValues(probe, pairs) => self.finish(Some(&probe), pairs, None, now),
            Shape::Esphome(probe, pair) => self.finish(probe.as_deref(), vec![pair], None, now),
            Shape::Values(values) => self.values(&values, now),
            Shape::Json => self.json(line, now),
            Shape::Tasmota(json) => self.json(json, now),
            Shape::LineProtocol => line_protocol(line, now).and_then(|r| self.keep(vec![r], now)),
        };
        match result {
            Ok(readings) => {
                let mut all = self.flush();
                all.extend(readings);
                LineOutcome::Readings(all)
            }
            Err(reason) => LineOutcome::Unparsed(reason),
        }
    }

    /// Ends a multi-line block in progress. A block's end is otherwise only seen in the next
    /// line, so call this when the port closes or stays quiet.
    pub fn flush(&mut self) -> Vec<Reading> {
        let Some(block) = self.block.take() else {
            return Vec::new();
        };
        let section = block.section.filter(|_| self.sections.len() > 1);
        self.finish(
            block.probe.as_deref().or(section.as_deref()),
            block.pairs,
            Some(block.at),
            block.at,
        )
        .unwrap_or_default()
    }

    /// Starts over after the port was opened again: the next line may be cut off, and the
    /// header and block of the old connection no longer apply (call [`flush`](Self::flush)
    /// first to keep the block).
    pub fn reopened(&mut self) {
        self.first_line = true;
        self.header = None;
        self.block = None;
        self.probe = None;
        self.sections.clear();
        self.section = None;
    }

    fn sensor(&self, probe: Option<&str>) -> SensorId {
        match probe {
            Some(p) => SensorId::sanitized(&format!("{}.{}", self.fallback, p.to_lowercase())),
            None => self.fallback.clone(),
        }
    }

    /// The name a field is stored under, after the board's checks of its unit.
    fn resolve(&self, pair: &Pair) -> Result<String, FieldError> {
        if sketch::is_detail(&pair.name) {
            return Err(FieldError::new(
                &pair.name,
                "a detail of the sensor that sketches print at start-up, not a reading: shown \
                 here, not stored",
            ));
        }
        let lower = pair.name.to_ascii_lowercase();
        if matches!(lower.as_str(), "temperature" | "temp" | "dew_point") && !pair.unit_given {
            match self.settings.temperature_unit {
                Some(TemperatureUnit::Fahrenheit) => return Ok(format!("{lower}_f")),
                Some(TemperatureUnit::Celsius) => {}
                None if pair.value.is_finite()
                    && pair.value != 999.0
                    && !PLAUSIBLE_ROOM_C.contains(&pair.value) =>
                {
                    return Err(FieldError::new(
                        &pair.name,
                        format!(
                            "{} has no unit and is not plausible as a room's °C value: held \
                             back; if this board prints °F, choose °F as its temperature unit \
                             in the port's panel",
                            pair.value
                        ),
                    ))
                }
                None => {}
            }
        }
        // Pascals and hectopascals never overlap: a library that labels pascals [hPa] is read
        // by its values.
        if matches!(lower.as_str(), "pressure" | "pressure_hpa")
            && (10_000.0..=120_000.0).contains(&pair.value)
        {
            return Ok("pressure_pa".into());
        }
        Ok(pair.name.clone())
    }

    /// Checks a line's fields into readings: °F repeats dropped, each field checked alone.
    fn finish(
        &mut self,
        probe: Option<&str>,
        pairs: Vec<Pair>,
        at: Option<Millis>,
        now: Millis,
    ) -> Result<Vec<Reading>, String> {
        let mut draft = Draft::default();
        for pair in &pairs {
            if let Some(base) = pair.name.strip_suffix("_f") {
                if pairs.iter().any(|p| p.name == base) {
                    continue;
                }
            }
            match self.resolve(pair) {
                Ok(name) => draft.metric_or_refuse(&name, pair.value),
                Err(e) => draft.refuse(e),
            }
        }
        if let Some(at) = at {
            // A host clock before 2000 leaves the time of receipt instead.
            let _ = draft.measured_at(at, now);
        }
        let reading = draft.finish(&self.sensor(probe))?;
        self.keep(vec![reading], now)
    }

    /// Drops ignored series and holds values of labels seen once; returns what is to be stored.
    fn keep(&mut self, readings: Vec<Reading>, now: Millis) -> Result<Vec<Reading>, String> {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for mut reading in readings {
            let sensor = reading.sensor.clone();
            let ignore = &self.settings.ignore;
            reading.values.retain(|(m, _)| {
                !ignore
                    .iter()
                    .any(|i| *i == m.as_str() || *i == format!("{sensor}/{m}"))
            });
            let mut kept = Vec::new();
            for (metric, value) in std::mem::take(&mut reading.values) {
                let key = (sensor.to_string(), metric.to_string());
                if metric.unit().is_some() || self.repeated.contains(&key) {
                    kept.push((metric, value));
                    continue;
                }
                match self
                    .held
                    .iter()
                    .position(|h| h.sensor == sensor && h.metric == metric.as_str())
                {
                    // Twice before any reading: maybe a banner printed per sensor; a third
                    // time settles it.
                    Some(i) if !self.held[i].after_reading && self.held[i].values.len() < 2 => {
                        let at = reading.measured_at.unwrap_or(now);
                        self.held[i].values.push((value, at));
                        reading.refused.push(FieldError::new(
                            metric.as_str(),
                            "printed again before any reading: held as a start-up detail until \
                             it repeats once more",
                        ));
                    }
                    Some(i) => {
                        let first = self.held.remove(i);
                        self.repeated.insert(key);
                        for (v, at) in first.values {
                            out.push(Reading {
                                sensor: first.sensor.clone(),
                                name: reading.name.clone(),
                                measured_at: Some(at),
                                values: vec![(metric.clone(), v)],
                                series: None,
                                refused: Vec::new(),
                                conflicts: Vec::new(),
                            });
                        }
                        kept.push((metric, value));
                    }
                    None => {
                        if self.held.len() == HELD_MAX {
                            self.held.remove(0);
                        }
                        self.held.push(Held {
                            sensor: sensor.clone(),
                            metric: metric.to_string(),
                            values: vec![(value, reading.measured_at.unwrap_or(now))],
                            after_reading: false,
                        });
                        reading.refused.push(FieldError::new(
                            metric.as_str(),
                            "printed once so far: held until the board prints it again (a \
                             detail printed only at start-up is a banner, not a reading)",
                        ));
                    }
                }
            }
            reading.values = kept;
            if reading.values.iter().any(|(m, _)| m.unit().is_some()) {
                for h in &mut self.held {
                    h.after_reading = true;
                }
            }
            if reading.values.is_empty() {
                notes.append(&mut reading.refused);
            } else {
                out.push(reading);
            }
        }
        if out.is_empty() {
            return Err(if notes.is_empty() {
                "every series of the line is ignored in the port's settings".into()
            } else {
                let notes: Vec<String> = notes.iter().map(ToString::to_string).collect();
                notes.join("; ")
            });
        }
        // A line's other readings carry what was held or refused, for the port's panel.
        out[0].refused.append(&mut notes);
        Ok(out)
    }

    fn values(&mut self, values: &[Option<f64>], now: Millis) -> Result<Vec<Reading>, String> {
        let Some(labels) = &self.header else {
            return Err(
                "numbers without a header naming them: print a header row such as \
                        \"temperature,humidity\" first, or label each value as temperature:22.5"
                    .into(),
            );
        };
        if values.len() != labels.len() {
            let names: Vec<&str> = labels
                .iter()
                .map(|l| l.as_ref().map_or("-", |p| p.name.as_str()))
                .collect();
            return Err(format!(
                "{} values, but the header row names {} columns ({})",
                values.len(),
                labels.len(),
                names.join(",")
            ));
        }
        let pairs = labels
            .iter()
            .zip(values)
            .filter_map(|(l, v)| {
                let mut pair = l.clone()?;
                pair.value = (*v)?;
                Some(pair)
            })
            .collect();
        self.finish(None, pairs, None, now)
    }

    /// Adds one `Name = value unit` line to the block; a metric the block has already starts
    /// the next block, and the finished one is returned.
    fn block_line(&mut self, pair: Pair, now: Millis) -> LineOutcome {
        let checked = self
            .resolve(&pair)
            .and_then(|name| normalize(&name, pair.value));
        let metric = match checked {
            Ok((metric, _)) => metric.to_string(),
            Err(e) => return LineOutcome::Unparsed(e.to_string()),
        };
        let repeated = self
            .block
            .as_ref()
            .is_some_and(|b| b.metrics.contains(&metric));
        let finished = if repeated { self.flush() } else { Vec::new() };
        let probe = self.probe.clone();
        let section = self.section.clone();
        let block = self.block.get_or_insert_with(|| Block {
            // The block's values were measured when its first line came; the next line may
            // come much later.
            at: now,
            probe,
            section,
            pairs: Vec::new(),
            metrics: Vec::new(),
        });
        block.pairs.push(pair);
        block.metrics.push(metric);
        if finished.is_empty() {
            LineOutcome::Pending
        } else {
            LineOutcome::Readings(finished)
        }
    }

    fn json(&mut self, text: &str, now: Millis) -> Result<Vec<Reading>, String> {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) {
            if tasmota::is_nested(&object) {
                return self.tasmota(&object, now);
            }
        }
        let reading = match json::parse_body(text.as_bytes(), &self.fallback, now) {
            Ok(mut items) if items.len() == 1 => items.remove(0).map_err(|r| r.reason),
            Ok(_) => Err("expected one JSON object on the line".into()),
            Err(BodyError::Syntax(e)) => Err(format!(
                "line starts like JSON but does not parse ({e}): print one whole object per line"
            )),
            Err(e) => Err(e.to_string()),
        }?;
        self.keep(vec![reading], now)
    }

    /// A JSON object nested per sensor, as Tasmota sends: one reading per sensor.
    fn tasmota(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
        now: Millis,
    ) -> Result<Vec<Reading>, String> {
        let blocks = tasmota::blocks(object)
            .map_err(|e| format!("nested JSON read as Tasmota telemetry, but {e}"))?;
        let mut readings = Vec::new();
        let mut reasons = Vec::new();
        for block in blocks {
            let mut draft = Draft::default();
            for (name, value) in &block.values {
                draft.metric_or_refuse(name, *value);
            }
            for (field, why) in block.refused {
                draft.refuse(FieldError::new(&field, why));
            }
            match draft.finish(&self.sensor(Some(&block.probe))) {
                Ok(r) => readings.push(r),
                Err(e) => reasons.push(format!("{}: {e}", block.probe)),
            }
        }
        if readings.is_empty() {
            return Err(if reasons.is_empty() {
                "nested JSON without a sensor object holding numbers (Tasmota's form is \
                 {\"SENSOR\":{\"Temperature\":22.6}})"
                    .into()
            } else {
                reasons.join("; ")
            });
        }
        self.keep(readings, now)
    }
}

fn line_protocol(line: &str, now: Millis) -> Result<Reading, String> {
    match line_protocol::parse(line, Precision::Nanoseconds, now).pop() {
        Some(result) => result.map_err(|r| r.reason),
        None => Err("line protocol line has no fields".into()),
    }
}

/// Why a first line after opening is skipped, if it does not show that it is whole.
fn may_be_cut(shape: &Shape) -> Option<String> {
    let first_label = match shape {
        Shape::LineProtocol => {
            return Some(
                "skipped the first line after the port opened: it may be cut off, and a cut \
                 line-protocol line would name the wrong sensor"
                    .into(),
            )
        }
        Shape::Labelled(pairs) | Shape::Sketch(pairs) => pairs.first()?.name.as_str(),
        _ => return None,
    };
    (!is_known_metric(first_label)).then(|| {
        format!(
            "skipped the first line after the port opened: it may be cut off ({first_label:?} \
             is not a metric name Clima knows)"
        )
    })
}

/// Whether Clima knows `raw` as a metric or alias; a cut-off `ature` or `umidity` is not.
/// metric.rs offers no lookup by name alone, so this asks `normalize` with two probe values:
/// every known name accepts 100 except `pressure_pa`, which needs the larger one.
pub(super) fn is_known_metric(raw: &str) -> bool {
    [100.0, 100_000.0]
        .into_iter()
        .any(|v| matches!(normalize(raw, v), Ok((m, _)) if m.unit().is_some()))
}

fn classify(line: &str) -> Result<Shape<'_>, String> {
    match esphome::parse(line) {
        Some(EsphomeLine::State { probe, pair }) => return Ok(Shape::Esphome(probe, pair)),
        Some(EsphomeLine::Refused(reason)) => return Err(reason),
        Some(EsphomeLine::Other) => return Ok(Shape::Banner),
        None => {}
    }
    if let Some(json) = tasmota::telemetry_json(line) {
        return Ok(Shape::Tasmota(json));
    }
    if tasmota::is_log_line(line) {
        return Ok(Shape::Banner);
    }
    // A board that just reset often prints junk before its first banner.
    let text = line.trim_start_matches(|c: char| !c.is_ascii_graphic());
    if is_banner(text) {
        return Ok(Shape::Banner);
    }
    if let Some(reason) = board_failure(text) {
        return Err(reason);
    }
    let score = garbage_score(line);
    if score > GARBAGE_LIMIT {
        return Err(format!(
            "{:.0}% of the line is unreadable bytes: check the port's baud rate",
            score * 100.0
        ));
    }
    if line.starts_with('{') {
        return Ok(Shape::Json);
    }
    if looks_like_line_protocol(line) {
        return Ok(Shape::LineProtocol);
    }
    let fields = split_fields(line);
    if let Some(pairs) = labelled(&fields)? {
        return Ok(Shape::Labelled(pairs));
    }
    if let Some(values) = numbers(&fields) {
        return Ok(Shape::Values(values));
    }
    if let Some(labels) = header(&fields) {
        return labels.map(Shape::Header);
    }
    if let Some(pairs) = sketch::unit_values(line) {
        return Ok(Shape::UnitValues(pairs));
    }
    if let Some(shape) = probe_line(line)? {
        return Ok(shape);
    }
    if line.contains([':', '=']) {
        return sketch::pairs(line).map(Shape::Sketch);
    }
    Err(
        "not a reading: expected label:value pairs, a header row and rows of numbers, \
         'Name: value unit', a JSON object or InfluxDB line protocol"
            .into(),
    )
}

/// A 1-Wire ROM address as DallasTemperature prints it: 16 hex digits.
fn is_address(word: &str) -> bool {
    word.len() == 16 && is_hex(word)
}

fn is_hex(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// DallasTemperature's, OneWire's and Sensirion's lines that name a probe (see the detection
/// order).
fn probe_line(line: &str) -> Result<Option<Shape<'static>>, String> {
    let lower = line.to_ascii_lowercase();
    // OneWire's DS18x20 example: `ROM = 28 FF 64 1E 8C 16 3 12` names the probe of the
    // temperature three lines on; the chip type and scratchpad bytes between are not readings.
    if let Some(rom) = lower.strip_prefix("rom =") {
        let bytes: Vec<&str> = rom.split_whitespace().collect();
        if bytes.len() == 8 && bytes.iter().all(|b| b.len() <= 2 && is_hex(b)) {
            let address: String = bytes.iter().map(|b| format!("{b:0>2}")).collect();
            return Ok(Some(Shape::ProbeNext(address.to_ascii_uppercase())));
        }
    }
    if lower.starts_with("chip =") || lower.starts_with("data =") {
        return Ok(Some(Shape::Banner));
    }
    // Sensirion's multiple-sensor example heads each sensor's lines with `SHT1 :`.
    if let Some(name) = line.strip_suffix(':').map(str::trim_end) {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(Some(Shape::Section(name.to_owned())));
        }
    }
    if let Some(rest) = lower.strip_prefix("found device ") {
        let mut words = rest.split_whitespace();
        if let (Some(index), Some(address)) = (words.next(), words.last()) {
            if is_address(&address.to_ascii_uppercase()) {
                return Ok(Some(Shape::ProbeFound(
                    index.to_owned(),
                    address.to_ascii_uppercase(),
                )));
            }
        }
    }
    if let Some(index) = lower.strip_prefix("temperature for device:") {
        let index = index.trim();
        if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(Shape::ProbeNext(index.to_owned())));
        }
    }
    if let Some(at) = lower.find("address:") {
        let rest = line[at + "address:".len()..].trim_start();
        let (address, values) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
        if is_address(address) {
            // `Device 0 Address: 28FF...` alone lists a probe at start-up.
            if values.trim().is_empty() {
                return Ok(Some(Shape::Banner));
            }
            let pairs = sketch::pairs(values.trim())?;
            if !pairs.is_empty() {
                return Ok(Some(Shape::ProbeValues(address.to_owned(), pairs)));
            }
        }
    }
    Ok(None)
}

/// Start-up text that never holds a reading and needs no one's attention.
fn is_banner(text: &str) -> bool {
    // ESP32 and ESP8266 boot ROMs.
    const ROM: &[&str] = &[
        "ets ",
        "ets_",
        "rst:0x",
        "rst cause:",
        "configsip:",
        "clk_drv:",
        "load:0x",
        "load 0x",
        "entry 0x",
        "ho 0 tail",
        "chksum 0x",
        "csum 0x",
        "mode:DIO",
        "mode:QIO",
        "mode:DOUT",
        "mode:QOUT",
        "SPIWP:",
    ];
    if ROM.iter().any(|p| text.starts_with(p)) {
        return true;
    }
    // ESP-IDF log lines: `I (29) boot: ESP-IDF v5.1`.
    let b = text.as_bytes();
    if b.len() > 4 && matches!(b[0], b'E' | b'W' | b'I' | b'D' | b'V') && b[1..].starts_with(b" (")
    {
        let digits = b[3..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && b[3 + digits..].starts_with(b")") {
            return true;
        }
    }
    // OneWire's DS18x20 example after each round of probes.
    if text == "No more addresses." {
        return true;
    }
    // Example-sketch titles: `DHTxx test!`, `BME280 test`, `-- Default Test --`.
    !text.contains([':', '='])
        && text
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '!' || c == '-'))
            .rfind(|w| !w.is_empty())
            .is_some_and(|w| w.eq_ignore_ascii_case("test"))
}

/// A board's own report that its sensor failed, which a person should see.
fn board_failure(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let what = if lower.contains("failed to read") || lower.starts_with("error reading") {
        "a failed sensor read"
    } else if [
        "could not find",
        "couldn't find",
        "sensor not found",
        "check wiring",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        "that it cannot find its sensor"
    } else {
        return None;
    };
    Some(format!(
        "the board reports {what} ({text:?}): check the sensor's wiring and power"
    ))
}

/// `measurement[,tag=v...] field=v[,field=v...] [timestamp]`, told apart from `Name = value`
/// text by the `=` inside the second word.
fn looks_like_line_protocol(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(key), Some(fields)) = (words.next(), words.next()) else {
        return false;
    };
    let mut key_parts = key.split(',');
    let measurement = key_parts.next().unwrap_or("");
    !measurement.is_empty()
        && !key.contains([':', '{'])
        && !measurement.contains('=')
        && key_parts.all(|tag| tag.contains('='))
        && fields.split(',').all(|f| {
            f.split_once('=')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
        })
}

/// Splits at commas, spaces and tabs, but not inside brackets (`T(deg C)`), and keeps a unit
/// in brackets with the word before it (`pressure [hPa]`). A line with commas is split at
/// commas only, so a label may have spaces (`raw temperature [°C], pressure [hPa]`). Between
/// commas an empty field stays (a CSV value the board left out); a separator at the end of the
/// line is dropped.
fn split_fields(line: &str) -> Vec<&str> {
    let line = line.trim_end_matches([',', ';', ' ', '\t']);
    let mut level = 0usize;
    let commas = line.chars().any(|c| {
        match c {
            '(' | '[' => level += 1,
            ')' | ']' => level = level.saturating_sub(1),
            _ => {}
        }
        level == 0 && c == ','
    });
    // Spans of the fields; `None` is an empty CSV field.
    let mut spans: Vec<Option<(usize, usize)>> = Vec::new();
    let (mut depth, mut start, mut since_comma) = (0usize, None::<usize>, 0usize);
    let end_field =
        |spans: &mut Vec<Option<(usize, usize)>>, from: usize, to: usize, after_space: bool| {
            let unit = line[from..].starts_with(['(', '[']);
            match spans.last_mut() {
                Some(Some((_, end))) if unit && after_space => *end = to,
                _ => spans.push(Some((from, to))),
            }
        };
    for (i, c) in line.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let gap = depth == 0 && (c == ',' || (!commas && c.is_whitespace()));
        if gap {
            if let Some(s) = start.take() {
                end_field(&mut spans, s, i, since_comma > 0);
                since_comma += 1;
            }
            if c == ',' {
                if since_comma == 0 {
                    spans.push(None);
                }
                since_comma = 0;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        end_field(&mut spans, s, line.len(), since_comma > 0);
    } else if since_comma == 0 && line.ends_with(',') {
        spans.push(None);
    }
    spans
        .into_iter()
        .map(|span| span.map_or("", |(from, to)| line[from..to].trim().trim_matches('"')))
        .collect()
}

/// A whole field as a number, with Arduino's `nan`, `inf` and `ovf`.
fn number(field: &str) -> Option<f64> {
    split_number(field)
        .filter(|(_, rest)| rest.is_empty())
        .map(|(v, _)| v)
}

/// A label with its unit (`temp(C)`) as the pair it names; `None` for a counter.
fn label_pair(label: &str, value: f64) -> Result<Option<Pair>, String> {
    let (name, unit) = sketch::label_unit(label);
    let unit = unit.unwrap_or_default();
    Ok(sketch::metric_name(&name, &unit)?.map(|name| Pair {
        name,
        value,
        unit_given: !unit.is_empty(),
    }))
}

/// Serial Plotter fields: every one `label:number`.
fn labelled(fields: &[&str]) -> Result<Option<Vec<Pair>>, String> {
    let split: Option<Vec<(&str, f64)>> = fields
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (label, value) = f.split_once(':')?;
            // Sensirion's examples print `n/a` for a value the sensor does not have: that
            // field is refused alone.
            let value = if value.eq_ignore_ascii_case("n/a") {
                f64::NAN
            } else {
                number(value)?
            };
            Some((label, value)).filter(|_| !label.is_empty())
        })
        .collect();
    let Some(split) = split.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let mut pairs = Vec::new();
    for (label, value) in split {
        if sketch::label_unit(label).1.is_some() {
            pairs.extend(label_pair(label, value)?);
        } else if let Some(name) = sketch::plain_label(label)? {
            pairs.push(Pair {
                name,
                value,
                unit_given: false,
            });
        }
    }
    Ok(Some(pairs))
}

/// A row of numbers. An empty field, or a status printed in hex (Bosch's BME68x examples end
/// each row with one, `B0`), is a value left out.
fn numbers(fields: &[&str]) -> Option<Vec<Option<f64>>> {
    let values: Option<Vec<Option<f64>>> = fields
        .iter()
        .map(|f| {
            if f.is_empty() || (f.len() <= 8 && is_hex(f) && number(f).is_none()) {
                Some(None)
            } else {
                number(f).map(Some)
            }
        })
        .collect();
    values.filter(|v| v.iter().any(Option::is_some))
}

/// A header row: words that can be metric names, units allowed (`T(deg C)`, `%RH`), at least
/// half of them known, so a chatty `Sensor ready` is not taken for labels. `None` if the words
/// cannot be labels at all.
fn header(fields: &[&str]) -> Option<Result<Vec<Option<Pair>>, String>> {
    let name_like = |f: &str| {
        f.starts_with(|c: char| c.is_ascii_alphabetic())
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
    };
    if fields.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    // Labels that say their unit count as known: `gas [Ohm]` is plainly a column's name.
    let mut known = 0;
    for field in fields {
        let (name, unit) = sketch::label_unit(field);
        if !name_like(&name) {
            return None;
        }
        let label = match unit {
            None => sketch::plain_label(&name).ok()?.map(|name| Pair {
                name,
                value: 0.0,
                unit_given: false,
            }),
            Some(_) => label_pair(field, 0.0).ok()?,
        };
        if label
            .as_ref()
            .is_some_and(|p| unit.is_some() || is_known_metric(&p.name))
        {
            known += 1;
        }
        labels.push(label);
    }
    Some(
        if known * 2 >= labels.iter().flatten().count().max(1) && known > 0 {
            Ok(labels)
        } else {
            Err(
                "words without values: a header row needs at least half of its labels to be \
             metric names Clima knows (temperature, humidity, pressure, co2, ...); or label \
             each value as name:value"
                    .into(),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::LineFramer;
    use super::*;

    const NOW: Millis = 1_795_700_000_000;

    fn board() -> SensorId {
        SensorId::parse("board").unwrap()
    }

    /// Renders an outcome compactly: `sensor metric=value ... @ms-after-NOW`, readings joined
    /// by ` | `, or `pending`, `ignored`, `unparsed: reason`.
    fn render(outcome: &LineOutcome) -> String {
        match outcome {
            LineOutcome::Readings(readings) => readings
                .iter()
                .map(|r| {
                    let mut s = r.sensor.to_string();
                    if let Some(name) = &r.name {
                        s += &format!(" name={name:?}");
                    }
                    for (m, v) in &r.values {
                        s += &format!(" {m}={v}");
                    }
                    if let Some(t) = r.measured_at {
                        s += &format!(" @{}", t - NOW);
                    }
                    for e in &r.refused {
                        s += &format!(" !{}", e.field);
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(" | "),
            LineOutcome::Pending => "pending".into(),
            LineOutcome::Ignored => "ignored".into(),
            LineOutcome::Unparsed(reason) => format!("unparsed: {reason}"),
        }
    }

    fn run(parser: &mut SerialParser, input: impl AsRef<[u8]>) -> Vec<String> {
        let mut bytes = input.as_ref().to_vec();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        let lines = LineFramer::new().push(&bytes);
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| render(&parser.parse_line(line, NOW + 1000 * i as i64)))
            .collect()
    }

    /// Feeds `input` through a framer and a new parser, line `i` at `NOW + i` seconds. Expected
    /// `unparsed: ...` entries match any reason containing their text.
    fn check(input: impl AsRef<[u8]>, expected: &[&str]) {
        let got = run(&mut SerialParser::new(board()), &input);
        let input = String::from_utf8_lossy(input.as_ref()).into_owned();
        assert_eq!(got.len(), expected.len(), "{input:?}\n{got:#?}");
        for (got, want) in got.iter().zip(expected) {
            match want.strip_prefix("unparsed: ") {
                Some(fragment) => assert!(
                    got.starts_with("unparsed: ") && got.contains(fragment),
                    "{input:?}\ngot  {got}\nwant {want}"
                ),
                None => assert_eq!(got, want, "{input:?}"),
            }
        }
    }

    #[test]
    fn fixture_arduino_plotter() {
        check(
            include_str!("../../tests/data/serial/arduino-plotter.txt"),
            &[
                "board temperature=22.5 humidity=41.2",
                "board temperature=22.52 humidity=41.18",
                "board temperature=22.55 humidity=41.1",
                "board temperature=22.57 humidity=41.05",
            ],
        );
    }

    #[test]
    fn fixture_csv_with_header() {
        check(
            include_str!("../../tests/data/serial/csv-with-header.txt"),
            &[
                "pending",
                "board temperature=22.1 humidity=40.2 pressure=1013.2",
                "board temperature=22.2 humidity=40.1 pressure=1013.1",
                "board temperature=22.2 humidity=40 pressure=1013.3",
            ],
        );
    }

    #[test]
    fn fixture_json_lines() {
        check(
            include_str!("../../tests/data/serial/json-lines.txt"),
            &[
                "bench humidity=38.9 temperature=21.8",
                "bench co2=612 humidity=38.7 temperature=21.9",
                "unparsed: temperature: expected a number, got the string \"n/a\"",
            ],
        );
    }

    #[test]
    fn fixture_influx_line_protocol() {
        let fixture = include_str!("../../tests/data/serial/influx-line-protocol.txt");
        check(
            fixture,
            &[
                "unparsed: skipped the first line after the port opened",
                "climate.attic temperature=18.5 humidity=55 @-12740000",
            ],
        );
        // Once a whole line was seen, every line counts.
        check(
            format!("temperature:20\n{fixture}"),
            &[
                "board temperature=20",
                "climate.attic temperature=18.4 humidity=55.1 @-12800000",
                "climate.attic temperature=18.5 humidity=55 @-12740000",
            ],
        );
    }

    #[test]
    fn fixture_adafruit_dht_tester() {
        check(
            include_str!("../../tests/data/serial/adafruit-dhttester.txt"),
            &[
                "ignored",
                "board humidity=45 temperature=23",
                "unparsed: the board reports a failed sensor read (\"Failed to read from DHT sensor!\")",
                "board humidity=45.1 temperature=23.1",
            ],
        );
    }

    #[test]
    fn fixture_esp32_boot_noise() {
        check(
            include_bytes!("../../tests/data/serial/esp32-boot-noise.txt"),
            &[
                "ignored",
                "ignored",
                "ignored",
                "unparsed: may be cut off (\"ature\" is not a metric name Clima knows)",
                "board temperature=22.1 humidity=40.1",
                "board temperature=22.2 humidity=40.2",
            ],
        );
    }

    #[test]
    fn fixture_bme280_example() {
        check(
            include_str!("../../tests/data/serial/bme280-example.txt"),
            &[
                "ignored",
                "pending",
                "pending",
                "pending",
                "pending",
                "board temperature=23.4 pressure=1013.2 altitude=12.3 humidity=45.6 @1000",
                "pending",
                "pending",
                "pending",
                "pending",
                "board temperature=23.45 pressure=1013.25 altitude=11.9 humidity=45.5 @6000",
            ],
        );
    }

    #[test]
    fn fixture_sht31_example() {
        check(
            include_str!("../../tests/data/serial/sht31-example.txt"),
            &[
                "ignored",
                "board temperature=23.4 humidity=45.6",
                "board temperature=23.45 humidity=45.5",
                "unparsed: the board reports a failed sensor read",
            ],
        );
    }

    #[test]
    fn plotter_forms() {
        check(
            "temperature:22.50,humidity:41.20",
            &["board temperature=22.5 humidity=41.2"],
        );
        check(
            "temperature:22.55 humidity:41.10",
            &["board temperature=22.55 humidity=41.1"],
        );
        check(
            "temperature:22.57\thumidity:41.05",
            &["board temperature=22.57 humidity=41.05"],
        );
        check(
            "temp:22.5, hum:41.2,",
            &["board temperature=22.5 humidity=41.2"],
        );
        check("Temperature:-3", &["board temperature=-3"]);
        check("temperature_f:212", &["board temperature=100"]);
        // A label Clima does not know is stored once it repeats, its first value included.
        check(
            "temperature:20\nVoltage_1:3.3,sensor2:5\ntemperature:20\nVoltage_1:3.4,sensor2:6",
            &[
                "board temperature=20",
                "unparsed: Voltage_1: printed once so far: held until the board prints it again",
                "board temperature=20",
                "board Voltage_1=3.3 @1000 | board sensor2=5 @1000 | board Voltage_1=3.4 sensor2=6",
            ],
        );
        check(
            "co2(ppm):612 temp(C):24.1 humidity(%):40.2",
            &["board co2=612 temperature=24.1 humidity=40.2"],
        );
        check(
            "temperature:nan,humidity:nan",
            &["unparsed: temperature: value is NaN: send a finite number"],
        );
        check(
            "temperature:ovf",
            &["unparsed: temperature: value is infinite"],
        );
        check(
            "temperature:999",
            &["unparsed: 999 is the 'no probe' value"],
        );
        check(
            "humidity:101",
            &["unparsed: humidity: 101 %RH is outside the plausible range"],
        );
        check(
            "temperature:20\nBad label: 1",
            &["board temperature=20", "pending"],
        );
        check(
            "temperature:20\nlabel(x):1",
            &[
                "board temperature=20",
                "unparsed: label: printed once so far",
            ],
        );
    }

    #[test]
    fn header_forms() {
        check(
            "temperature,humidity\n22.5,41.2",
            &["pending", "board temperature=22.5 humidity=41.2"],
        );
        check(
            "temperature humidity\n22.5 41.2",
            &["pending", "board temperature=22.5 humidity=41.2"],
        );
        check(
            "temperature\thumidity\n22.5\t41.2",
            &["pending", "board temperature=22.5 humidity=41.2"],
        );
        check(
            "\"temp\", \"hum\"\n22.5, 41.2,",
            &["pending", "board temperature=22.5 humidity=41.2"],
        );
        check(
            "temperature,humidity,pressure\n22.1,,1013.2",
            &["pending", "board temperature=22.1 pressure=1013.2"],
        );
        check(
            "millis,temperature\n5000,21",
            &["pending", "board temperature=21"],
        );
        check(
            "TimeStamp(ms), Temperature(deg C), Pressure(Pa), Status\n1042, 23.41, 100827.25, B0",
            &["pending", "board temperature=23.41 pressure=1008.2725"],
        );
        check(
            "temperature,humidity\n22.5,41.2,7\n22.5",
            &[
                "pending",
                "unparsed: 3 values, but the header row names 2 columns (temperature,humidity)",
                "unparsed: 1 values",
            ],
        );
        check(
            "22.5,41.2",
            &["unparsed: numbers without a header naming them"],
        );
        check(
            "temperature,humidity\n22.5,141.2",
            &["pending", "board temperature=22.5 !humidity"],
        );
        check(
            "temperature,humidity\npressure\n1013",
            &["pending", "pending", "board pressure=1013"],
        );
        check(
            "Sensor ready\ntemperature sensor ready",
            &[
                "unparsed: words without values",
                "unparsed: words without values",
            ],
        );
        // A header that follows a cut line after opening still counts.
        check(
            "ature:22\ntemperature,humidity\n22,40",
            &[
                "unparsed: may be cut off",
                "pending",
                "board temperature=22 humidity=40",
            ],
        );
    }

    #[test]
    fn sketch_text_forms() {
        check("Temperature: 23.4 °C\n", &["pending"]);
        check(
            "Temperature: 23.4 °C\n\n",
            &["pending", "board temperature=23.4 @0"],
        );
        check(
            "Pressure = 101320 Pa\n\n",
            &["pending", "board pressure=1013.2 @0"],
        );
        check(
            "Temperature: 212 °F\n\n",
            &["pending", "board temperature=100 @0"],
        );
        check(
            "Approx. Altitude = 12.3 m\n\n",
            &["pending", "board altitude=12.3 @0"],
        );
        // Standalone lines: a repeated metric ends the block, one line late.
        check(
            "Temperature = 23.4 °C\nHumidity = 45.6 %\nTemperature = 23.5 °C\nHumidity = 45.7 %\n\n",
            &[
                "pending",
                "pending",
                "board temperature=23.4 humidity=45.6 @0",
                "pending",
                "board temperature=23.5 humidity=45.7 @2000",
            ],
        );
        // A line of another format ends the block too; a bad line does not.
        check(
            "Temperature = 23.4 °C\nHumidity = 145 %\nco2:612",
            &[
                "pending",
                "unparsed: humidity: 145 %RH is outside",
                "board temperature=23.4 @0 | board co2=612",
            ],
        );
        check(
            "Humidity: 45.00%  Temperature: 23.00°C 73.40°F  Heat index: 22.85°C 73.13°F",
            &["board humidity=45 temperature=23"],
        );
        check(
            "Temp *C = 23.40\t\tHum. % = 45.60",
            &["board temperature=23.4 humidity=45.6"],
        );
        check(
            "Temp = 23.4 C, Hum = 45.6 %\nHeat index: 22.85°C",
            &["board temperature=23.4 humidity=45.6", "ignored"],
        );
        check(
            "Temperature: warm",
            &["unparsed: \"Temperature\" is followed by \"warm\", which is not a number"],
        );
        check("Temperatur: 23,4 °C", &["unparsed: decimal comma"]);
        check(
            "Temperature: nan °C",
            &["unparsed: temperature: value is NaN"],
        );
        check(
            "umidity: 45.6 %\nHumidity: 45.6 %\n\n",
            &[
                "unparsed: may be cut off (\"umidity\"",
                "pending",
                "board humidity=45.6 @1000",
            ],
        );
    }

    #[test]
    fn units_in_labels_and_values() {
        check(
            "T(deg C),P(Pa),RH(%)\n23.41,100827,46",
            &[
                "pending",
                "board temperature=23.41 pressure=1008.27 humidity=46",
            ],
        );
        check(
            "temperature,pressure [hPa]\n21,100827",
            &["pending", "board temperature=21 pressure=1008.27"],
        );
        check("23.44ºC", &["board temperature=23.44"]);
        check(
            "('23.02C', '1008.27hPa', '46.31%')",
            &["board temperature=23.02 pressure=1008.27 humidity=46.31"],
        );
        check("('23.02C', '24.1C')", &["unparsed: not a reading"]);
        check("Temp C: 23.44 Temp F: 74.19", &["board temperature=23.44"]);
        // The same value in °F on the next line is the same reading; not after another line.
        check(
            "23.44ºC\n74.19ºF\n212ºF\n23.5ºC\n\n212ºF",
            &[
                "board temperature=23.44",
                "ignored",
                "board temperature=100",
                "board temperature=23.5",
                "ignored",
                "board temperature=100",
            ],
        );
        // Commas split a header into labels with spaces; `raw` twins are not stored; a label
        // with a unit counts as a label.
        check(
            "Timestamp [ms], raw temperature [°C], pressure [hPa], gas [Ohm], IAQ, Static IAQ\n\
             3004, 24.11, 100827.25, 152183.00, 25.00, 25.00",
            &["pending", "board pressure=1008.2725 !gas !IAQ !static_iaq"],
        );
        check(
            "AmbientHumidity:45.61\tMassConcentrationPm2p5:2.90\tVocIndex:100.00\tNoxIndex:n/a",
            &["board humidity=45.61 pm25=2.9 !NoxIndex !VocIndex"],
        );
        check("eCO2:400\tSampleNumber:3", &["board co2=400"]);
    }

    #[test]
    fn onewire_probes() {
        check(
            "ROM = 28 FF 64 1E 8C 16 3 16\n  Chip = DS18B20\n  Data = 1 77 1 4B 46 7F FF C 10 90  CRC=90\n\
             \x20 Temperature = 23.44 Celsius, 74.19 Fahrenheit\nNo more addresses.\n\n",
            &[
                "pending",
                "ignored",
                "ignored",
                "board.28ff641e8c160316 temperature=23.44",
                "ignored",
                "ignored",
            ],
        );
        check("ROM = 28 FF 64", &["unparsed: skipped the first line"]);
    }

    #[test]
    fn sections_and_details() {
        // One section is the board itself; from the second on, each is a probe.
        check(
            "SHT:\n  RH: 45.61\n  T:  23.40\nSHT:\n  RH: 45.58",
            &[
                "pending",
                "pending",
                "pending",
                "board humidity=45.61 temperature=23.4 @1000",
                "pending",
            ],
        );
        check(
            "SHT1 :\n  RH: 45.61\nSHT2:\n  RH: 38.2\nSHT1 :",
            &[
                "pending",
                "pending",
                "board.sht1 humidity=45.61 @1000",
                "pending",
                "board.sht2 humidity=38.2 @3000",
            ],
        );
        // A sensor's details are shown, never held until they repeat.
        check(
            "temperature:20\nMax Value:   125.00°C\nDriver Ver:  1\nUnique ID:   -1\nResolution:  0.10%\n\
             Device 0 Resolution: 9",
            &[
                "board temperature=20",
                "unparsed: max_value: a detail of the sensor",
                "unparsed: driver_ver: a detail",
                "unparsed: unique_id: a detail",
                "unparsed: resolution: a detail",
                "unparsed: device_0_resolution: a detail",
            ],
        );
    }

    #[test]
    fn units_are_never_guessed() {
        check(
            "Humidity: 46 Pressure: 100827 Temp: 73.40",
            &["board humidity=46 pressure=1008.27 !temp"],
        );
        check(
            "temperature:73.4",
            &["unparsed: temperature: 73.4 has no unit and is not plausible as a room's °C value"],
        );
        check("temperature:21.5", &["board temperature=21.5"]);
        let mut parser = SerialParser::new(board());
        parser.set_settings(BoardSettings {
            temperature_unit: Some(TemperatureUnit::Fahrenheit),
            ignore: vec!["altitude".into(), "board/co2".into()],
        });
        assert_eq!(
            run(
                &mut parser,
                "temperature:212,altitude:3,co2:400,humidity:40\nTemp: 32 °C"
            ),
            ["board temperature=100 humidity=40", "pending"]
        );
    }

    #[test]
    fn firmware_logs() {
        check(
            "[D][sensor:094]: 'Living Room Temperature': Sending state 23.40000 °C with 1 decimals of accuracy",
            &["board.living_room temperature=23.4"],
        );
        check("[I][app:029]: Running through setup()...", &["ignored"]);
        check(
            r#"{"Time":"2026-12-01T12:00:01","AM2301":{"Temperature":22.6,"Humidity":132.4},"TempUnit":"C"}"#,
            &["board.am2301 temperature=22.6 !humidity"],
        );
        check(
            r#"{"Time":"2026-12-01T12:00:01","AM2301":{"Temperature":"n/a"}}"#,
            &["unparsed: AM2301: AM2301.Temperature: expected a number"],
        );
        check("00:00:00.001 HDW: ESP8266EX", &["ignored"]);
    }

    #[test]
    fn json_forms() {
        check(r#"{"temperature":21.5}"#, &["board temperature=21.5"]);
        check(
            r#"{"sensor":"attic","name":"Attic","temp":21.5,"measured_at":1795699990}"#,
            &["attic name=\"Attic\" temperature=21.5 @-10000"],
        );
        check(
            r#"{"sensor":"bench","temperature":21.8"#,
            &["unparsed: line starts like JSON but does not parse"],
        );
        check(
            r#"{"sensor":"bench"}"#,
            &["unparsed: no numeric metric fields"],
        );
        check(
            r#"{"humidity":101}"#,
            &["unparsed: humidity: 101 %RH is outside"],
        );
        check(
            "{\"sensor\":\"bench\",\"temperature\":21.8},",
            &["unparsed: does not parse"],
        );
    }

    #[test]
    fn line_protocol_forms() {
        let first = "temperature:20\n";
        check(
            format!("{first}weather,sensor=porch temp=3i"),
            &["board temperature=20", "porch temperature=3"],
        );
        check(
            format!("{first}climate temperature=abc"),
            &[
                "board temperature=20",
                "unparsed: value \"abc\" is not a number",
            ],
        );
        check(
            format!("{first}climate t=1 notatime"),
            &["board temperature=20", "unparsed: not an integer"],
        );
    }

    #[test]
    fn banners_and_board_messages() {
        check(
            "ets Jul 29 2019 12:21:46\n\
             rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\n\
             configsip: 0, SPIWP:0xee\n\
             clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\n\
             mode:DIO, clock div:1\n\
             load:0x3fff0030,len:1184\n\
             entry 0x400806b8\n\
             \x20ets Jan  8 2013,rst cause:2, boot mode:(3,6)\n\
             I (29) boot: ESP-IDF v5.1 2nd stage bootloader\n\
             \x1b[0;32mI (312) cpu_start: Pro cpu up.\x1b[0m\n\
             DHT22 test!\n\
             BME280 test\n\
             -- Default Test --\n",
            &["ignored"; 13],
        );
        check(
            "Could not find a valid BME280 sensor, check wiring!",
            &["unparsed: the board reports that it cannot find its sensor"],
        );
        check(
            "Failed to read temperature",
            &["unparsed: the board reports a failed sensor read"],
        );
        check(
            b"\xff\xfe\xfd\xfcx:1\n",
            &["unparsed: 57% of the line is unreadable bytes: check the port's baud rate"],
        );
        check(
            b"temperature:1\n\xfftemperature:1\n",
            &[
                "board temperature=1",
                "unparsed: \"\u{fffd}temperature\" is not a quantity's name",
            ],
        );
        check("12:21:46", &["unparsed: \"12\" is not a quantity's name"]);
        check(
            "hello world!",
            &["unparsed: not a reading: expected label:value pairs"],
        );
    }

    #[test]
    fn reopening_starts_over() {
        let mut parser = SerialParser::new(board());
        let got = run(
            &mut parser,
            "temperature,humidity\nVoltage_1:3.1\nVoltage_1:3.2\nVoltage_1:3.3\nTemperature = 23.4 °C",
        );
        assert_eq!(
            got[3],
            "board Voltage_1=3.1 @1000 | board Voltage_1=3.2 @2000 | board Voltage_1=3.3"
        );
        assert_eq!(got[4], "pending");
        parser.reopened();
        let got = run(&mut parser, "Voltage_1:3.3\n22,40\n\nVoltage_1:3.4");
        let cut = "unparsed: skipped the first line after the port opened: it may be cut off";
        assert_eq!(
            got[0],
            format!("{cut} (\"Voltage_1\" is not a metric name Clima knows)")
        );
        assert!(
            got[1].starts_with("unparsed: numbers without a header"),
            "{}",
            got[1]
        );
        assert_eq!(got[2..], ["ignored", "board Voltage_1=3.4"]);
        assert!(parser.flush().is_empty());
        run(&mut parser, "Temperature = 23.4 °C");
        assert_eq!(parser.flush()[0].values.len(), 1);
    }

    #[test]
    fn known_metric_names() {
        for name in [
            "temperature",
            "Temperature",
            "temp",
            "temp_f",
            "humidity",
            "hum",
            "rh",
            "pressure",
            "pressure_pa",
            "pressure_kpa",
            "co2",
            "eco2",
            "dew_point_f",
            "altitude",
            "battery",
            "voltage",
            "pm25",
            "lux",
        ] {
            assert!(is_known_metric(name), "{name}");
        }
        for name in [
            "ature",
            "umidity",
            "perature",
            "Voltage_1",
            "iaq",
            "gas",
            "",
            "a b",
        ] {
            assert!(!is_known_metric(name), "{name}");
        }
    }

    #[test]
    fn garbage_scores() {
        for (line, score) in [
            ("", 0.0),
            ("temperature:22.5\thumidity:40", 0.0),
            ("Temperature: 23.4 °C", 0.0),
            ("\u{fffd}\u{fffd}ab", 0.5),
            ("\0a", 0.5),
            ("\u{fffd}\u{fffd}ets Jul 29 2019 12:21:46", 2.0 / 26.0),
        ] {
            assert_eq!(garbage_score(line), score, "{line:?}");
        }
    }

    /// A deterministic xorshift generator: the same bytes on every run.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    /// What a UART set to `rx_baud` receives from one sending `text` at `tx_baud`: frames of a
    /// start bit, eight data bits (LSB first) and a stop bit, sampled mid-bit from each falling
    /// edge, as real receivers do.
    fn wrong_baud(text: &[u8], tx_baud: f64, rx_baud: f64) -> Vec<u8> {
        let bits: Vec<bool> = text
            .iter()
            .flat_map(|b| {
                let data = (0..8).map(move |i| b >> i & 1 == 1);
                std::iter::once(false)
                    .chain(data)
                    .chain(std::iter::once(true))
            })
            .collect();
        let level = |t: f64| bits.get((t * tx_baud) as usize).copied().unwrap_or(true);
        let end = bits.len() as f64 / tx_baud;
        let (step, bit) = (1.0 / (16.0 * rx_baud), 1.0 / rx_baud);
        let (mut out, mut t) = (Vec::new(), 0.0);
        while t < end {
            if level(t) {
                t += step;
                continue;
            }
            let byte = (0..8).fold(0u8, |b, i| {
                b | (level(t + (1.5 + i as f64) * bit) as u8) << i
            });
            out.push(byte);
            t += 9.5 * bit;
        }
        out
    }

    fn assert_no_readings(what: &str, bytes: &[u8], chunk: usize) {
        let mut framer = LineFramer::new();
        let mut parser = SerialParser::new(board());
        let mut lines = 0;
        for (i, chunk) in bytes.chunks(chunk).enumerate() {
            for line in framer.push(chunk) {
                lines += 1;
                let outcome = parser.parse_line(&line, NOW + i as i64);
                assert!(
                    !matches!(outcome, LineOutcome::Readings(_)),
                    "{what}: {line:?} gave {outcome:?}"
                );
            }
        }
        assert!(parser.flush().is_empty(), "{what}");
        assert!(
            lines > 0 || framer.overlong() > 0,
            "{what}: no lines at all"
        );
    }

    /// Bytes read at a wrong baud rate are noise; no line of them may become a reading.
    #[test]
    fn random_bytes_never_make_readings() {
        for seed in 0..100 {
            let bytes = noise(seed, 10_000);
            assert_no_readings(&format!("seed {seed}"), &bytes, 1 + seed as usize % 64);
        }
    }

    #[test]
    fn text_at_a_wrong_baud_rate_makes_no_readings() {
        let plotter = include_str!("../../tests/data/serial/arduino-plotter.txt");
        let bme280 = include_str!("../../tests/data/serial/bme280-example.txt");
        let text = format!("{plotter}{bme280}").repeat(40);
        let mut sane = LineFramer::new();
        assert_eq!(
            sane.push(&wrong_baud(text.as_bytes(), 9600.0, 9600.0))
                .len(),
            600
        );
        for (tx, rx) in [
            (115_200.0, 9600.0),
            (115_200.0, 57_600.0),
            (115_200.0, 74_880.0),
            (74_880.0, 115_200.0),
            (9600.0, 115_200.0),
            (9600.0, 19_200.0),
            (9600.0, 4800.0),
        ] {
            let bytes = wrong_baud(text.as_bytes(), tx, rx);
            assert_no_readings(&format!("sent at {tx}, read at {rx}"), &bytes, 64);
        }
    }
}
