//! A CSV file given to the import (clima-core's `store::export::import_csv`), minus the store:
//! the same reader, header check and row parser. Every accepted row is storable, and exporting
//! it as `export_csv` writes a row reads back as the same reading.
#![no_main]

use clima_core::store::export::{parse_row, CSV_HEADER};
use clima_fuzz::{assert_same, check_reading, NOW};
use clima_model::metric::unit_of;
use clima_model::timestamp::format_rfc3339;
use clima_model::{Millis, Reading};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(data);
    let Ok(header) = csv.headers() else {
        return;
    };
    if header.iter().ne(CSV_HEADER) {
        return;
    }
    for record in csv.records() {
        let Ok(record) = record else {
            continue;
        };
        match parse_row(&record, NOW) {
            Ok((reading, received)) => {
                check_reading(&reading, NOW);
                assert_eq!(reading.values.len(), 1, "{reading:?}");
                assert_eq!(reading.sensor.as_str(), &record[0]);
                assert!(reading.measured_at.is_some(), "{reading:?}");
                assert!(reading.name.is_none(), "{reading:?}");
                round_trip(&reading, received);
            }
            Err(reason) => assert!(!reason.trim().is_empty(), "{record:?}"),
        }
    }
});

fn round_trip(r: &Reading, received: Millis) {
    let (metric, value) = &r.values[0];
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER).unwrap();
    out.write_record([
        r.sensor.as_str(),
        metric.as_str(),
        unit_of(metric.as_str()).unwrap_or(""),
        &format_rfc3339(r.measured_at.unwrap()),
        &format_rfc3339(received),
        &value.to_string(),
    ])
    .unwrap();
    let bytes = out.into_inner().unwrap();
    let mut back = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..]);
    let record = back.records().next().unwrap().unwrap();
    let (again, received_again) = parse_row(&record, NOW).unwrap_or_else(|e| {
        panic!(
            "exported row {:?} refused: {e}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_same(r, &again, "exporting and importing it");
    assert_eq!(received, received_again, "received_at changed");
}
