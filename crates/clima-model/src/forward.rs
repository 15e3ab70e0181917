//! What forwarding sends, as plain data: the forward log's packed entries, committed samples
//! written as InfluxDB line protocol in batches, MQTT topics and which of a batch's publishes the
//! broker acknowledged, and the wait between failed tries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::chunk::{put_ivar, put_uvar, to_int, unzigzag, zigzag, ChunkError, Cursor, MAX_SCALE};
use crate::Millis;

/// Most lines one HTTP request carries.
pub const BATCH_LINES: usize = 5_000;

/// The measurement every forwarded line is written under.
pub const MEASUREMENT: &str = "climate";

/// One committed sample as the forward log holds it, in commit order. The names are shared by
/// the samples of a series (a batch holds thousands of samples of a few series).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its place in the forward log: a forwarder's cursor is the last one delivered.
    pub seq: i64,
    pub sensor: Arc<str>,
    /// The sensor's display name, free text.
    pub name: Option<Arc<str>>,
    pub metric: Arc<str>,
    pub measured_at: Millis,
    pub value: f64,
}

/// One stored value as a commit appends it to the forward log: series id, measured time, value.
pub type Entry = (i64, Millis, f64);

/// The series id of an entry whose sensor was deleted: no series has it, so it is never sent,
/// and the entries after it keep their numbers.
pub const DELETED_SERIES: i64 = 0;

/// The first packing: every value as its 8 bytes (rows written by earlier versions).
const PACK_RAW: u8 = 1;
/// Values as decimals where exact: about half the bytes of [`PACK_RAW`].
const PACK_DECIMAL: u8 = 2;
/// The value header that says the value's 8 bytes follow.
const RAW_VALUE: u64 = 7;

/// Packs a commit's entries into one blob of the forward log: a version byte, the count, then
/// per entry the series id and the measured time as varint deltas from the entry before (a
/// commit holds runs of one sensor's series at one time) and the value: a decimal with up to
/// six places as one varint (its digits and places), two or three bytes for a sensor's
/// reading, or else its 8 bytes. Exact for every value, NaN, infinities and -0 included.
pub fn pack(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    pack_into(&mut out, entries);
    out
}

/// [`pack`] into `out`, replacing what it held (a buffer reused across commits).
pub fn pack_into(out: &mut Vec<u8>, entries: &[Entry]) {
    out.clear();
    out.reserve(2 + entries.len() * 6);
    out.push(PACK_DECIMAL);
    put_uvar(out, entries.len() as u64);
    let (mut series, mut at, mut places) = (0i64, 0i64, 0u8);
    for &(s, t, v) in entries {
        put_ivar(out, s.wrapping_sub(series));
        put_ivar(out, t.wrapping_sub(at));
        match as_decimal(v, places) {
            Some((digits, p)) => {
                put_uvar(out, zigzag(digits) << 3 | u64::from(p));
                places = p;
            }
            None => {
                put_uvar(out, RAW_VALUE);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        (series, at) = (s, t);
    }
}

/// `v` as digits and decimal places (at most [`MAX_SCALE`]) that give `v` back to the bit, as
/// chunks pack values: `hint` places if they do (the entry before's, so a run of alike values
/// takes one try), else the fewest.
fn as_decimal(v: f64, hint: u8) -> Option<(i64, u8)> {
    std::iter::once(hint)
        .chain(0..=MAX_SCALE)
        .find_map(|places| to_int(v, places).map(|digits| (digits, places)))
}

/// The entries of a blob written by [`pack`] (or by earlier versions), in order.
pub fn unpack(data: &[u8]) -> Result<Vec<Entry>, ChunkError> {
    let mut r = Cursor { data, pos: 0 };
    let version = r.byte()?;
    if version != PACK_RAW && version != PACK_DECIMAL {
        return Err(ChunkError::Version(version));
    }
    let count = r.uvar()? as usize;
    // Each entry takes at least three bytes: a damaged count cannot make this allocate much.
    if count > data.len() / 3 {
        return Err(ChunkError::Truncated);
    }
    let mut out = Vec::with_capacity(count);
    let (mut series, mut at) = (0i64, 0i64);
    for _ in 0..count {
        series = series.wrapping_add(r.ivar()?);
        at = at.wrapping_add(r.ivar()?);
        let header = if version == PACK_RAW {
            RAW_VALUE
        } else {
            r.uvar()?
        };
        let value = match header & 7 {
            RAW_VALUE => {
                let bytes = data.get(r.pos..r.pos + 8).ok_or(ChunkError::Truncated)?;
                r.pos += 8;
                f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
            }
            places => unzigzag(header >> 3) as f64 / 10f64.powi(places as i32),
        };
        out.push((series, at, value));
    }
    if r.pos != data.len() {
        return Err(ChunkError::Damaged(format!(
            "{} bytes after the last entry",
            data.len() - r.pos
        )));
    }
    Ok(out)
}

/// Whether `b` goes on the same line as `a` (one sensor, one time, one name).
fn same_line(a: &Sample, b: &Sample) -> bool {
    a.sensor == b.sensor && a.measured_at == b.measured_at && a.name == b.name
}

/// How many of `samples` (a prefix) fill at most `max_lines` lines as [`encode`] writes them:
/// where a batch of line protocol ends.
pub fn lines_prefix(samples: &[Sample], max_lines: usize) -> usize {
    let mut lines = 0;
    let mut i = 0;
    while i < samples.len() && lines < max_lines {
        let first = &samples[i];
        i += 1;
        while samples.get(i).is_some_and(|s| same_line(first, s)) {
            i += 1;
        }
        lines += 1;
    }
    i
}

/// A batch of line protocol and the samples it covers.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub body: String,
    pub lines: usize,
    /// How many of the samples given went into `body` (a prefix).
    pub samples: usize,
}

/// Writes samples as line protocol, at most `max_lines` lines: consecutive samples of one
/// sensor at one time share a line (one field per metric). Each line is
/// `climate,name=NAME,sensor=ID metric=value TIME_NS`, tags in key order as InfluxDB sorts them.
/// This is most of what forwarding costs, so nothing is allocated per line: the tags are written
/// once per run of one sensor's lines, and numbers with `ryu` and `itoa`.
pub fn encode(samples: &[Sample], max_lines: usize) -> Batch {
    let mut batch = Batch::default();
    let out = &mut batch.body;
    out.reserve(samples.len().min(max_lines.saturating_mul(8)) * 32);
    let mut floats = ryu::Buffer::new();
    let mut ints = itoa::Buffer::new();
    // The measurement and tags of the line before, and whose they were.
    let mut tags = String::new();
    let mut tags_of: Option<&Sample> = None;
    let mut i = 0;
    while i < samples.len() && batch.lines < max_lines {
        let first = &samples[i];
        if !tags_of.is_some_and(|t| t.sensor == first.sensor && t.name == first.name) {
            tags.clear();
            tags.push_str(MEASUREMENT);
            if let Some(name) = first.name.as_deref() {
                let at = tags.len();
                tags.push_str(",name=");
                if !push_tag_value(&mut tags, name) {
                    tags.truncate(at);
                }
            }
            tags.push_str(",sensor=");
            push_tag_value(&mut tags, &first.sensor);
            tags_of = Some(first);
        }
        out.push_str(&tags);
        let mut sep = ' ';
        while let Some(s) = samples.get(i) {
            if !same_line(first, s) {
                break;
            }
            out.push(sep);
            sep = ',';
            push_escaped(out, &s.metric, &[',', '=', ' ']);
            out.push('=');
            push_float(out, &mut floats, &mut ints, s.value);
            i += 1;
        }
        out.push(' ');
        out.push_str(ints.format(i128::from(first.measured_at) * 1_000_000));
        out.push('\n');
        batch.lines += 1;
    }
    batch.samples = i;
    batch
}

/// Writes a value so that it reads back exactly and always as a float (a decimal point or an
/// exponent): most sensor values are hundredths, written from their integer; the rest with `ryu`.
fn push_float(out: &mut String, floats: &mut ryu::Buffer, ints: &mut itoa::Buffer, v: f64) {
    let hundredths = (v * 100.0).round();
    if hundredths.abs() < 1e15 {
        let n = hundredths as i64;
        // Exact: the decimal written is the one whose nearest double is `v` (this also leaves
        // -0.0 to `ryu`).
        if (n as f64 / 100.0).to_bits() == v.to_bits() {
            if n < 0 {
                out.push('-');
            }
            let n = n.unsigned_abs();
            out.push_str(ints.format(n / 100));
            out.push('.');
            let cents = (n % 100) as u8;
            out.push(char::from(b'0' + cents / 10));
            if !cents.is_multiple_of(10) {
                out.push(char::from(b'0' + cents % 10));
            }
            return;
        }
    }
    out.push_str(floats.format(v));
}

/// Writes a tag value as InfluxDB reads it back unchanged: ',', '=' and ' ' escaped, control
/// characters (which would end the line) made spaces, and a trailing backslash dropped (it would
/// escape the delimiter after it, and line protocol has no way to write one). False when nothing
/// is left to write.
fn push_tag_value(out: &mut String, raw: &str) -> bool {
    let raw = if raw.chars().any(char::is_control) || raw.ends_with('\\') {
        let clean: String = raw
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let at = out.len();
        push_escaped(out, clean.trim_end_matches('\\'), &[',', '=', ' ']);
        return out.len() > at;
    } else {
        raw
    };
    push_escaped(out, raw, &[',', '=', ' ']);
    !raw.is_empty()
}

fn push_escaped(out: &mut String, raw: &str, special: &[char]) {
    if !raw.contains(special) {
        out.push_str(raw);
        return;
    }
    for c in raw.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A sensor's MQTT availability follows the dashboard's stale rule (`ui/js/format.js`): with
/// no interval known, stale after this long.
pub const DEFAULT_STALE: Millis = 15 * 60_000;

/// Whether a sensor has missed its usual interval: silent for three intervals, and for at least
/// 10 s more than one; as the dashboard decides.
pub fn is_stale(age: Millis, interval: Option<Millis>) -> bool {
    match interval {
        None => age > DEFAULT_STALE,
        Some(i) => age > (3 * i).max(i + 10_000),
    }
}

/// The median gap between successive distinct times (ascending), if there are two.
pub fn usual_interval(times: &[Millis]) -> Option<Millis> {
    let mut gaps: Vec<Millis> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// Where a series' state goes: `PREFIX/SENSOR/METRIC`.
pub fn state_topic(prefix: &str, sensor: &str, metric: &str) -> String {
    format!("{prefix}/{sensor}/{metric}")
}

/// Where a sensor's `online`/`offline` goes.
pub fn availability_topic(prefix: &str, sensor: &str) -> String {
    format!("{prefix}/{sensor}/availability")
}

/// Home Assistant MQTT discovery for one series: its config topic and retained payload, with
/// the device class and unit Home Assistant expects for the metric and one device per sensor.
pub fn discovery(prefix: &str, sensor: &str, name: Option<&str>, metric: &str) -> (String, String) {
    // Discovery ids allow only [a-zA-Z0-9_-]; sensor ids and metrics may hold '.'.
    let id = format!("clima_{sensor}_{metric}").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
        "_",
    );
    let device_id = format!("clima_{sensor}").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
        "_",
    );
    let class = match metric {
        "temperature" | "dew_point" => Some("temperature"),
        "humidity" => Some("humidity"),
        "pressure" => Some("pressure"),
        "co2" => Some("carbon_dioxide"),
        "pm1" => Some("pm1"),
        "pm25" => Some("pm25"),
        "pm10" => Some("pm10"),
        "battery" => Some("battery"),
        "illuminance" | "lux" => Some("illuminance"),
        "voltage" => Some("voltage"),
        _ => None,
    };
    let mut config = serde_json::json!({
        "name": metric.replace('_', " "),
        "unique_id": id,
        "object_id": id,
        "state_topic": state_topic(prefix, sensor, metric),
        "availability_topic": availability_topic(prefix, sensor),
        "state_class": "measurement",
        "device": {
            "identifiers": [device_id],
            "name": name.unwrap_or(sensor),
            "manufacturer": "Clima",
        },
    });
    if let Some(class) = class {
        config["device_class"] = class.into();
    }
    if let Some(unit) = crate::metric::unit_of(metric) {
        config["unit_of_measurement"] = unit.into();
    }
    (
        format!("homeassistant/sensor/{id}/config"),
        config.to_string(),
    )
}

/// Which of a batch's MQTT publishes the broker acknowledged, matched by packet id.
///
/// The client numbers publishes in the order they were handed to it and says so for each
/// (`sent`); one whose id is still in flight for an earlier publish is held back (`held`) and
/// sent under that id once the earlier one is acknowledged. A PUBACK counts only for a publish
/// of this batch that is in flight under its id, once: a late or repeated acknowledgement, or
/// one for the earlier publish of a held id, never completes the batch.
#[derive(Debug, Default)]
pub struct Acks {
    /// Publishes handed to the client that it has not numbered yet.
    unnumbered: usize,
    /// Packet ids sent for this batch and not acknowledged yet.
    in_flight: HashSet<u16>,
    /// The id a held publish will go out under.
    held: Option<u16>,
    /// Publishes of the batch not acknowledged yet.
    left: usize,
}

impl Acks {
    /// A batch of `publishes` publishes, all handed to the client in order.
    pub fn new(publishes: usize) -> Acks {
        Acks {
            unnumbered: publishes,
            left: publishes,
            ..Acks::default()
        }
    }

    /// The client sent a publish under `pkid`: the held one if it waited for that id, else the
    /// next in order. False when no publish of the batch was waiting to go out.
    pub fn sent(&mut self, pkid: u16) -> bool {
        if self.held == Some(pkid) {
            self.held = None;
        } else if self.unnumbered > 0 && !self.in_flight.contains(&pkid) {
            self.unnumbered -= 1;
        } else {
            return false;
        }
        self.in_flight.insert(pkid);
        true
    }

    /// The client holds the next publish until the one in flight under `pkid` is acknowledged.
    pub fn held(&mut self, pkid: u16) {
        if self.unnumbered > 0 && self.held.is_none() {
            self.unnumbered -= 1;
            self.held = Some(pkid);
        }
    }

    /// The broker acknowledged `pkid`. True when that acknowledged a publish of this batch.
    pub fn acked(&mut self, pkid: u16) -> bool {
        if self.in_flight.remove(&pkid) {
            self.left -= 1;
            true
        } else {
            false
        }
    }

    /// Publishes not acknowledged yet.
    pub fn left(&self) -> usize {
        self.left
    }

    pub fn complete(&self) -> bool {
        self.left == 0
    }
}

/// The wait before try `failures + 1` after that many failures in a row: half a second,
/// doubling, at most `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(500);
    base.checked_mul(1u32 << failures.min(16))
        .map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{parse, Precision};

    fn sample(
        seq: i64,
        sensor: &str,
        name: Option<&str>,
        metric: &str,
        at: Millis,
        value: f64,
    ) -> Sample {
        Sample {
            seq,
            sensor: sensor.into(),
            name: name.map(Into::into),
            metric: metric.into(),
            measured_at: at,
            value,
        }
    }

    #[test]
    fn one_line_per_reading_with_a_field_per_metric() {
        let t = 1_795_687_200_123;
        let samples = [
            sample(1, "kitchen", Some("Kitchen"), "temperature", t, 21.5),
            sample(2, "kitchen", Some("Kitchen"), "humidity", t, 48.0),
            sample(3, "attic", None, "temperature", t, -3.25),
            sample(4, "kitchen", Some("Kitchen"), "temperature", t + 1000, 21.0),
        ];
        let got = encode(&samples, 10);
        assert_eq!(
            got.body,
            "climate,name=Kitchen,sensor=kitchen temperature=21.5,humidity=48.0 1795687200123000000\n\
             climate,sensor=attic temperature=-3.25 1795687200123000000\n\
             climate,name=Kitchen,sensor=kitchen temperature=21.0 1795687201123000000\n"
        );
        assert_eq!((got.lines, got.samples), (3, 4));
        // A batch stops at its line limit, after whole lines.
        let cut = encode(&samples, 2);
        assert_eq!((cut.lines, cut.samples), (2, 3));
        assert_eq!(encode(&[], 5), Batch::default());
        // The prefix that fills a number of lines is what `encode` takes.
        for max in 0..5 {
            assert_eq!(lines_prefix(&samples, max), encode(&samples, max).samples);
        }
    }

    #[test]
    fn packed_entries_read_back_bit_for_bit() {
        let t = 1_795_687_200_123;
        let cases: Vec<Vec<Entry>> = vec![
            vec![],
            vec![(1, t, 21.5)],
            vec![
                (7, t, 21.5),
                (8, t, 48.0),
                (7, t + 1000, -0.0),
                (3, t - 86_400_000, f64::NAN),
                (DELETED_SERIES, 0, f64::INFINITY),
                (i64::MAX, i64::MIN, 5e-324),
                (i64::MIN, i64::MAX, -1e300),
            ],
        ];
        for entries in cases {
            let packed = pack(&entries);
            let back = unpack(&packed).unwrap();
            let bits = |e: &[Entry]| -> Vec<(i64, i64, u64)> {
                e.iter().map(|&(s, t, v)| (s, t, v.to_bits())).collect()
            };
            assert_eq!(bits(&back), bits(&entries));
            // Damaged blobs are refused, never misread.
            if !entries.is_empty() {
                assert!(unpack(&packed[..packed.len() - 1]).is_err());
                let mut longer = packed.clone();
                longer.push(0);
                assert!(unpack(&longer).is_err());
            }
        }
        // Runs of a few series at one time, with sensors' decimals, pack into about six bytes
        // an entry (about half of eight bytes a value).
        let many: Vec<Entry> = (0..1000)
            .map(|i| (5 + i % 4, t + (i / 4) * 1000, 20.0 + i as f64 / 100.0))
            .collect();
        assert!(pack(&many).len() <= 6 * many.len(), "{}", pack(&many).len());
        assert!(matches!(unpack(&[9]), Err(ChunkError::Version(9))));
        assert!(unpack(&[PACK_DECIMAL, 0xff, 0xff, 0x7f]).is_err());
    }

    #[test]
    fn values_pack_as_decimals_only_when_exact() {
        for v in [
            0.0,
            21.5,
            -3.25,
            1013.25,
            0.000_001,
            123_456.789,
            -40.0,
            9e15,
        ] {
            assert!(as_decimal(v, 0).is_some(), "{v}");
        }
        for v in [
            -0.0,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
            1e-7,
            9.1e15,
            std::f64::consts::PI,
        ] {
            assert_eq!(as_decimal(v, 2), None, "{v}");
            // And still read back to the bit, as 8 bytes.
            assert_eq!(
                unpack(&pack(&[(1, 0, v)])).unwrap()[0].2.to_bits(),
                v.to_bits()
            );
        }
        assert_eq!(as_decimal(21.53, 0), Some((2153, 2)));
        // The places of the entry before, when they give the value back.
        assert_eq!(as_decimal(21.5, 2), Some((2150, 2)));
        assert_eq!(as_decimal(21.5, 6), Some((21_500_000, 6)));
    }

    #[test]
    fn rows_of_the_first_packing_still_read() {
        // Version 1: count 2, then (series +7, time +1000, 21.5) and (+1, 0, NaN), values raw.
        let mut v1 = vec![PACK_RAW, 2, 14, 0xd0, 0x0f];
        v1.extend_from_slice(&21.5f64.to_le_bytes());
        v1.extend_from_slice(&[2, 0]);
        v1.extend_from_slice(&f64::NAN.to_le_bytes());
        let back = unpack(&v1).unwrap();
        assert_eq!((back[0].0, back[0].1, back[0].2), (7, 1000, 21.5));
        assert_eq!((back[1].0, back[1].1), (8, 1000));
        assert!(back[1].2.is_nan());
        assert!(unpack(&v1[..v1.len() - 1]).is_err());
    }

    #[test]
    fn names_read_back_as_sent_by_influxdb_rules() {
        // Every name goes through Clima's own parser, which reads tags as InfluxDB 1.x does.
        for (name, stored) in [
            ("Living room", "Living room"),
            ("a,b=c d", "a,b=c d"),
            (r"back\slash", r"back\slash"),
            (r"ends\", "ends"),
            (r"two\\", "two"),
            (r"x\,y", r"x\,y"),
            ("line\nbreak", "line break"),
            (
                "<img src=x onerror=alert(1)>",
                "<img src=x onerror=alert(1)>",
            ),
            ("Küche 🌡", "Küche 🌡"),
        ] {
            let batch = encode(
                &[sample(
                    1,
                    "s1",
                    Some(name),
                    "temperature",
                    1_795_687_200_000,
                    20.0,
                )],
                1,
            );
            let got = parse(&batch.body, Precision::Nanoseconds, 1_795_687_200_000);
            let [Ok(r)] = &got[..] else {
                panic!("{name:?}: {got:?}")
            };
            let tags = r.series.as_ref().unwrap().tags();
            assert_eq!(
                tags.get("name").map(String::as_str),
                Some(stored),
                "{name:?}: {}",
                batch.body
            );
            assert_eq!(tags.get("sensor").map(String::as_str), Some("s1"));
            assert_eq!(r.measured_at, Some(1_795_687_200_000));
            assert_eq!(r.values[0].1, 20.0);
        }
    }

    #[test]
    fn values_stay_floats_and_exact() {
        let mut many = vec![
            0.0,
            -0.0,
            1.0,
            -0.1,
            1e21,
            123456.789,
            5e-324,
            0.05,
            -0.05,
            21.5,
            48.0,
            0.29,
            1e15,
            9.99e14,
            -12.34,
            1.005,
            0.1 + 0.2,
        ];
        many.extend((-3000..3000).map(|i| f64::from(i) / 100.0));
        many.extend((0..2000).map(|i| 1e6 + f64::from(i) * 0.37));
        for v in many {
            let batch = encode(&[sample(1, "s", None, "co2", 1_795_687_200_000, v)], 1);
            assert!(!batch.body.contains("i "), "{}", batch.body);
            let text = &batch.body.split(' ').nth(1).unwrap()["co2=".len()..];
            assert!(text.contains('.') || text.contains('e'), "{}", batch.body);
            let back = text.parse::<f64>().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{}", batch.body);
        }
    }

    #[test]
    fn staleness_as_the_dashboard_decides() {
        assert_eq!(usual_interval(&[0, 1000, 2000, 2000, 5000]), Some(1000));
        assert_eq!(usual_interval(&[7]), None);
        for (age, interval, stale) in [
            (11_001, Some(1000), true),
            (10_999, Some(1000), false),
            (180_001, Some(60_000), true),
            (179_999, Some(60_000), false),
            (15 * 60_000 + 1, None, true),
            (15 * 60_000, None, false),
        ] {
            assert_eq!(is_stale(age, interval), stale, "{age} {interval:?}");
        }
    }

    #[test]
    fn home_assistant_discovery() {
        let (topic, payload) = discovery(
            "clima",
            "climate.attic",
            Some("Attic \"north\""),
            "temperature",
        );
        assert_eq!(
            topic,
            "homeassistant/sensor/clima_climate_attic_temperature/config"
        );
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v["state_topic"], "clima/climate.attic/temperature");
        assert_eq!(v["availability_topic"], "clima/climate.attic/availability");
        assert_eq!(v["device_class"], "temperature");
        assert_eq!(v["unit_of_measurement"], "°C");
        assert_eq!(v["unique_id"], "clima_climate_attic_temperature");
        assert_eq!(v["device"]["name"], "Attic \"north\"");
        assert_eq!(v["device"]["identifiers"][0], "clima_climate_attic");
        let (_, other) = discovery("p", "s", None, "soil");
        let v: serde_json::Value = serde_json::from_str(&other).unwrap();
        assert!(
            v.get("device_class").is_none() && v.get("unit_of_measurement").is_none(),
            "{v}"
        );
        assert_eq!(v["device"]["name"], "s");
        assert!(discovery("p", "s", None, "co2")
            .1
            .contains("\"carbon_dioxide\""));
    }

    /// Replays client and broker events (`s` sent, `h` held, `a` acked) over a batch of `n`
    /// publishes; returns how many were left after each event and which acks counted.
    fn check_acks(n: usize, events: &[(char, u16)], left: &[usize], complete: bool) {
        let mut acks = Acks::new(n);
        let got: Vec<usize> = events
            .iter()
            .map(|&(what, pkid)| {
                match what {
                    's' => {
                        acks.sent(pkid);
                    }
                    'h' => acks.held(pkid),
                    'a' => {
                        acks.acked(pkid);
                    }
                    _ => unreachable!(),
                }
                acks.left()
            })
            .collect();
        assert_eq!(got, left, "{events:?}");
        assert_eq!(acks.complete(), complete, "{events:?}");
    }

    #[test]
    fn a_batch_is_acknowledged_publish_by_publish() {
        // In order, and out of order.
        check_acks(
            2,
            &[('s', 1), ('s', 2), ('a', 1), ('a', 2)],
            &[2, 2, 1, 0],
            true,
        );
        check_acks(
            2,
            &[('s', 1), ('s', 2), ('a', 2), ('a', 1)],
            &[2, 2, 1, 0],
            true,
        );
        // The same PUBACK twice counts once.
        check_acks(
            2,
            &[('s', 1), ('s', 2), ('a', 1), ('a', 1)],
            &[2, 2, 1, 1],
            false,
        );
        // A PUBACK for an id this batch never sent (a late one from an earlier batch) counts
        // nothing, nor one that comes before its publish was sent.
        check_acks(1, &[('a', 7), ('a', 1), ('s', 1)], &[1, 1, 1], false);
        // Publishes of another batch (none left to number) are not taken for this one.
        check_acks(
            1,
            &[('s', 1), ('s', 2), ('a', 2), ('a', 1)],
            &[1, 1, 1, 0],
            true,
        );
        // A held publish: the first PUBACK of id 3 is the earlier publish's; the held one goes
        // out under 3 after it and needs an acknowledgement of its own.
        check_acks(
            3,
            &[('s', 3), ('s', 4), ('h', 3), ('a', 3), ('s', 3), ('a', 4)],
            &[3, 3, 3, 2, 2, 1],
            false,
        );
        check_acks(
            2,
            &[('h', 3), ('a', 3), ('s', 3), ('s', 4), ('a', 3), ('a', 4)],
            &[2, 2, 2, 2, 1, 0],
            true,
        );
        // An id is not in flight twice.
        let mut acks = Acks::new(2);
        assert!(acks.sent(5));
        assert!(!acks.sent(5));
        assert!(acks.acked(5) && !acks.acked(5));
        assert!(acks.sent(5));
        assert!(acks.acked(5) && acks.complete());
        assert!(Acks::new(0).complete());
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let cap = Duration::from_secs(30);
        let waits: Vec<u64> = (0..8).map(|f| backoff(f, cap).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }
}
