//! The corpus of real boards' output (tests/data/serial/corpus/): each fixture names its source,
//! may carry the board's settings, and lists every stored series with its exact values.

use std::collections::BTreeMap;

use clima_model::serial::{BoardSettings, LineFramer, LineOutcome, SerialParser};
use clima_model::SensorId;

const NOW: i64 = 1_795_700_000_000;

/// Series (`metric`, or `probe/metric`) and values, as the fixture's `# expect:` lines say.
fn expected(text: &str) -> BTreeMap<String, Vec<f64>> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let mut words = l.split_whitespace();
            let series = words.next().expect("series").to_owned();
            (series, words.map(|w| w.parse().expect("value")).collect())
        })
        .collect()
}

fn check(name: &str, text: &str) -> Result<(), String> {
    assert!(text.starts_with("# source: "), "{name}: no source line");
    let mut parser = SerialParser::new(SensorId::parse("board").unwrap());
    if let Some(s) = text.lines().find_map(|l| l.strip_prefix("# settings: ")) {
        parser.set_settings(serde_json::from_str::<BoardSettings>(s).unwrap());
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut got: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut readings = Vec::new();
    for (i, line) in LineFramer::new().push(body.as_bytes()).iter().enumerate() {
        if let LineOutcome::Readings(rs) = parser.parse_line(line, NOW + i as i64 * 1000) {
            readings.extend(rs);
        }
    }
    readings.extend(parser.flush());
    for r in readings {
        for (m, v) in r.values {
            let series = match r.sensor.as_str().strip_prefix("board.") {
                Some(probe) => format!("{probe}/{m}"),
                None => m.to_string(),
            };
            got.entry(series).or_default().push((v * 1e6).round() / 1e6);
        }
    }
    let want = expected(text);
    if got == want {
        Ok(())
    } else {
        Err(format!("{name}:\n  got  {got:?}\n  want {want:?}"))
    }
}

#[test]
fn corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/serial/corpus");
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        failures.extend(check(&name, &text).err());
        count += 1;
    }
    assert!(count >= 25, "{count} fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
