//! Inputs the fuzz targets in `fuzz/` once broke, kept as files under `tests/data/fuzz/` named
//! `TARGET-what.*`, each with the behaviour it must have now. See fuzz/README.md.

use clima_model::push;
use clima_model::SensorId;

const NOW: clima_model::Millis = 1_795_700_000_000;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// query_string: `?p=20` (the InfluxDB 1 password, which the HTTP layer accepts as the token)
/// was stored as a metric `p`, so a numeric token ended up in the data; a non-numeric one got
/// the push refused.
#[test]
fn push_never_stores_the_p_credential() {
    let query = fixture("query_string-credential-p.txt");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&query).into_owned().collect();
    assert!(
        pairs.iter().any(|(k, v)| k == "p" && v == "20"),
        "{pairs:?}"
    );
    let r = push::parse(&pairs, &SensorId::parse("ip-1").unwrap(), NOW).unwrap();
    assert_eq!(r.sensor.as_str(), "s1");
    let metrics: Vec<&str> = r.values.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(metrics, ["mdasured_at"]);
}
