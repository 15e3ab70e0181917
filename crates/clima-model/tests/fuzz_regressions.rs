//! Inputs the fuzz targets in `fuzz/` once broke, kept as files under `tests/data/fuzz/` named
//! `TARGET-what.*`, each with the behaviour it must have now. See fuzz/README.md.

use clima_model::downsample::BucketPlan;
use clima_model::timestamp::from_text;
use clima_model::{push, SensorId, SECOND};

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

/// query_string: a range across 1970-01-01 in one point, as `GET /api/v1/readings` plans it,
/// never finished (about nine minutes of ever wider day buckets in a release build, then a
/// wrapped plan of zero buckets; an overflow panic in a debug build). It is refused instead.
#[test]
fn a_range_across_the_epoch_in_one_point_is_refused() {
    let query = fixture("query_string-range-across-epoch.txt");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&query).into_owned().collect();
    let param = |key: &str| {
        let (_, v) = pairs.iter().find(|(k, _)| k == key).unwrap();
        v.as_str()
    };
    let (from, to) = (
        from_text(param("from")).unwrap(),
        from_text(param("to")).unwrap(),
    );
    assert_eq!((from, to), (-SECOND, SECOND));
    let points: usize = param("points").parse().unwrap();
    let e = BucketPlan::new(from, to, points).unwrap_err();
    assert!(e.contains("needs at least 2 points"), "{e}");
    let two = BucketPlan::new(from, to, 2).unwrap();
    assert_eq!((two.start, two.width, two.count), (-SECOND, SECOND, 2));
}
