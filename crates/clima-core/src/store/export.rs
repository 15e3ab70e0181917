//! CSV export and import of one series: each sample with its device time, its time of receipt
//! and its value, streamed so that a year of data needs no more memory than a minute of it.

use std::io::{Read, Write};

use clima_model::calibration::Calibration;
use clima_model::derive::{recalibrated, same_times};
use clima_model::downsample::BucketPlan;
use clima_model::metric::unit_of;
use clima_model::reading::Draft;
use clima_model::timestamp::{format_rfc3339, from_rfc3339};
use clima_model::{Millis, SensorId, HOUR};

use super::layout::{load_hour, unpack_periods, HOUR_ROLLUPS};
use super::{Reader, StoreError, WriteHandle};
use crate::chart::{self, ChartError, ChartSpec};
use clima_model::chunk::Sample;

/// The columns, in order.
pub const CSV_HEADER: [&str; 6] = [
    "sensor",
    "metric",
    "unit",
    "measured_at",
    "received_at",
    "value",
];
/// Readings an import sends to the writer at once.
const IMPORT_BATCH: usize = 5_000;
/// Buckets in an exported chart: finer than a report figure shows, coarse enough to draw fast.
pub const CHART_POINTS: usize = 1_000;

/// The file formats an exported chart can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Svg,
    Png,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("sensor {sensor:?} has no metric {metric:?}: list them with GET /api/v1/sensors")]
    UnknownSeries { sensor: String, metric: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Write(#[from] csv::Error),
    /// The range cannot be cut into buckets (`to` not after `from`).
    #[error("invalid range: {0}")]
    Range(String),
    #[error(transparent)]
    Chart(#[from] ChartError),
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file does not start with the header {expected}: is it a Clima CSV export?")]
    Header { expected: String },
    #[error("reading the file failed: {0}")]
    Read(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportSummary {
    pub rows: u64,
    pub stored: u64,
    /// Rows already in the database (importing twice doubles nothing).
    pub duplicates: u64,
    /// Rows refused, with their line number and why.
    pub rejected: Vec<(u64, String)>,
}

fn series_id(reader: &Reader, sensor: &str, metric: &str) -> Result<Option<i64>, StoreError> {
    reader.with(|c| super::query::series_id(c, sensor, metric))
}

/// How many samples an export of `[from, to)` will hold, from the hour rollups and the recent
/// table (cheap; for progress bars). Counts are whole hours, so it can run a little over.
pub fn estimate(
    reader: &Reader,
    sensor: &str,
    metric: &str,
    from: Millis,
    to: Millis,
) -> Result<u64, StoreError> {
    let Some(series) = series_id(reader, sensor, metric)? else {
        return Ok(0);
    };
    let hour = HOUR;
    let from_hour = from - from.rem_euclid(hour);
    reader.with(|c| {
        let mut stored: i64 = c.query_row(
            &format!("SELECT coalesce(sum(count), 0) FROM {HOUR_ROLLUPS} WHERE series_id = ?1 AND t >= ?2 AND t < ?3"),
            (series, from_hour, to),
            |r| r.get(0),
        )?;
        let mut packed =
            c.prepare_cached("SELECT data FROM hour_rollups WHERE series_id = ?1 AND day > ?2 - 86400000 AND day < ?3")?;
        let mut days = packed.query((series, from_hour, to))?;
        while let Some(row) = days.next()? {
            let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            stored += unpack_periods(data)?
                .iter()
                .filter(|h| h.start >= from_hour && h.start < to)
                .map(|h| h.partial.count as i64)
                .sum::<i64>();
        }
        let recent: i64 = c.query_row(
            "SELECT count(*) FROM recent_samples WHERE measured_at >= ?2 AND measured_at < ?3 AND series_id = ?1",
            (series, from, to),
            |r| r.get(0),
        )?;
        Ok((stored + recent) as u64)
    })
}

/// Writes the raw samples of one series in `[from, to)` as CSV, oldest first, calling
/// `progress` with the running count every 10 000 rows. Returns the number of rows.
pub fn export_csv<W: Write>(
    reader: &Reader,
    sensor: &str,
    metric: &str,
    from: Millis,
    to: Millis,
    out: W,
    progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let range = (from, to);
    export_csv_calibrated(
        reader,
        sensor,
        metric,
        range,
        Calibration::NONE,
        out,
        progress,
    )
}

/// [`export_csv`] with each value read through `calibration`.
pub fn export_csv_calibrated<W: Write>(
    reader: &Reader,
    sensor: &str,
    metric: &str,
    range: (Millis, Millis),
    calibration: Calibration,
    out: W,
    progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let series = series_id(reader, sensor, metric)?.ok_or_else(|| ExportError::UnknownSeries {
        sensor: sensor.into(),
        metric: metric.into(),
    })?;
    write_csv(
        reader,
        (sensor, metric),
        series,
        range,
        out,
        progress,
        |c, hour, start, end| {
            let mut samples = hour_samples(c, series, hour, start, end)?;
            for s in &mut samples {
                s.value = calibration.value(s.value);
            }
            Ok(samples)
        },
    )
}

/// [`export_csv`] of a metric Clima derives (dew point, absolute humidity), recomputed at each
/// time from the sensor's temperature and humidity read through their calibrations
/// (`clima_model::derive::recalibrated`); times without both inputs are left out.
pub fn export_csv_recalibrated<W: Write>(
    reader: &Reader,
    sensor: &str,
    metric: &str,
    range: (Millis, Millis),
    inputs: (Calibration, Calibration),
    out: W,
    progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let unknown = || ExportError::UnknownSeries {
        sensor: sensor.into(),
        metric: metric.into(),
    };
    let series = series_id(reader, sensor, metric)?.ok_or_else(unknown)?;
    let t = series_id(reader, sensor, "temperature")?.ok_or_else(unknown)?;
    let rh = series_id(reader, sensor, "humidity")?.ok_or_else(unknown)?;
    write_csv(
        reader,
        (sensor, metric),
        series,
        range,
        out,
        progress,
        |c, hour, start, end| {
            let ts = hour_samples(c, t, hour, start, end)?;
            let rhs = hour_samples(c, rh, hour, start, end)?;
            let mut out = Vec::new();
            same_times(&ts, &rhs, |x, y| {
                if let Some(value) = recalibrated(metric, (x.value, y.value), inputs) {
                    out.push(Sample { value, ..*x });
                }
            });
            Ok(out)
        },
    )
}

/// Writes the CSV of a series' span within `range`, hour by hour, with each hour's samples
/// as `samples_of(connection, hour, start, end)` gives them.
fn write_csv<W: Write>(
    reader: &Reader,
    (sensor, metric): (&str, &str),
    series: i64,
    (from, to): (Millis, Millis),
    out: W,
    mut progress: impl FnMut(u64),
    mut samples_of: impl FnMut(
        &rusqlite::Connection,
        Millis,
        Millis,
        Millis,
    ) -> Result<Vec<Sample>, StoreError>,
) -> Result<u64, ExportError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(CSV_HEADER)?;
    let unit = unit_of(metric).unwrap_or("");
    let mut rows = 0u64;
    let Some((first, last)) = reader.with(|c| data_span(c, series))? else {
        csv.flush().map_err(csv::Error::from)?;
        return Ok(0);
    };
    let (from, to) = (from.max(first), to.min(last + 1));
    // Hour by hour: a sealed hour's chunk and pieces, merged with late samples and anything recent.
    let mut hour = from.div_euclid(HOUR) * HOUR;
    while hour < to {
        let (start, end) = (from.max(hour), to.min(hour + HOUR));
        let samples = reader.with(|c| samples_of(c, hour, start, end))?;
        for s in samples {
            let record = [
                sensor,
                metric,
                unit,
                &format_rfc3339(s.at),
                &format_rfc3339(s.received_at),
                &s.value.to_string(),
            ];
            csv.write_record(record)?;
            rows += 1;
            if rows.is_multiple_of(10_000) {
                progress(rows);
            }
        }
        hour += HOUR;
    }
    csv.flush().map_err(csv::Error::from)?;
    progress(rows);
    Ok(rows)
}

/// Draws one series over `[from, to)`, read through `calibration`, as a titled chart file: what
/// the CLI, the HTTP API and the desktop app export, with the dashboard's drawing code and an
/// embedded font.
pub fn export_chart_calibrated(
    reader: &Reader,
    sensor: &str,
    metric: &str,
    (from, to): (Millis, Millis),
    calibration: Calibration,
    format: ChartFormat,
) -> Result<Vec<u8>, ExportError> {
    let plan = BucketPlan::new(from, to, CHART_POINTS).map_err(ExportError::Range)?;
    let buckets =
        reader
            .range(sensor, metric, &plan)?
            .ok_or_else(|| ExportError::UnknownSeries {
                sensor: sensor.into(),
                metric: metric.into(),
            })?;
    let buckets: Vec<_> = buckets.iter().map(|b| calibration.bucket(b)).collect();
    let spec = ChartSpec::for_export(sensor, metric, plan.width);
    Ok(match format {
        ChartFormat::Png => chart::render_png(&buckets, &spec)?,
        ChartFormat::Svg => chart::render(&buckets, &spec)?.svg.into_bytes(),
    })
}

/// The first and last sample time of a series, over chunks, pieces, samples and recent samples
/// (packed data by whole hours).
pub(super) fn data_span(
    c: &rusqlite::Connection,
    series: i64,
) -> Result<Option<(Millis, Millis)>, StoreError> {
    let (first, last): (Option<Millis>, Option<Millis>) = c.query_row(
        "SELECT min(f), max(l) FROM (
             SELECT min(start) AS f, max(start) + 3600000 - 1 AS l FROM chunks WHERE series_id = ?1
             UNION ALL SELECT min(first), max(first) + 3600000 - 1 FROM pieces WHERE series_id = ?1
             UNION ALL SELECT min(measured_at), max(measured_at) FROM samples WHERE series_id = ?1
             UNION ALL SELECT min(measured_at), max(measured_at) FROM recent_samples WHERE series_id = ?1)",
        [series],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(first.zip(last))
}

/// Every sample of `[start, end)`, which lies within `hour`, in time order.
pub(super) fn hour_samples(
    c: &rusqlite::Connection,
    series: i64,
    hour: Millis,
    start: Millis,
    end: Millis,
) -> Result<Vec<Sample>, StoreError> {
    let mut out: Vec<Sample> = load_hour(c, series, hour)?;
    out.retain(|s| s.at >= start && s.at < end);
    for table in ["samples", "recent_samples"] {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT measured_at, received_at, value FROM {table}
             WHERE series_id = ?1 AND measured_at >= ?2 AND measured_at < ?3 ORDER BY measured_at"
        ))?;
        let rows = stmt.query_map((series, start, end), |r| {
            Ok(Sample {
                at: r.get(0)?,
                received_at: r.get(1)?,
                value: r.get(2)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    out.sort_by_key(|s| s.at);
    Ok(out)
}

/// Reads an export and stores its samples, skipping those already stored. Bad rows are
/// reported by line and skipped; `progress` gets the rows read so far.
pub fn import_csv<R: Read>(
    input: R,
    writer: &WriteHandle,
    now: Millis,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
    if header != CSV_HEADER {
        return Err(ImportError::Header {
            expected: CSV_HEADER.join(","),
        });
    }
    let mut summary = ImportSummary::default();
    let (mut readings, mut received) = (
        Vec::with_capacity(IMPORT_BATCH),
        Vec::with_capacity(IMPORT_BATCH),
    );
    let flush = |readings: &mut Vec<_>,
                 received: &mut Vec<_>,
                 summary: &mut ImportSummary|
     -> Result<(), ImportError> {
        let receipt = writer.write_imported(std::mem::take(readings), std::mem::take(received))?;
        summary.stored += receipt.stored as u64;
        summary.duplicates += receipt.duplicates as u64;
        Ok(())
    };
    for (i, record) in csv.records().enumerate() {
        let line = i as u64 + 2;
        summary.rows += 1;
        let parsed = record
            .map_err(|e| e.to_string())
            .and_then(|r| parse_row(&r, now));
        match parsed {
            Ok((reading, at_received)) => {
                readings.push(reading);
                received.push(at_received);
            }
            Err(reason) => summary.rejected.push((line, reason)),
        }
        if readings.len() == IMPORT_BATCH {
            flush(&mut readings, &mut received, &mut summary)?;
            progress(summary.rows);
        }
    }
    flush(&mut readings, &mut received, &mut summary)?;
    progress(summary.rows);
    Ok(summary)
}

/// Checks one record of an export, as [`import_csv`] does for every row: the reading (one
/// value) and its time of receipt. Pure, so the import can be fuzzed without a store.
pub fn parse_row(
    r: &csv::StringRecord,
    now: Millis,
) -> Result<(clima_model::Reading, Millis), String> {
    let field = |i: usize| {
        r.get(i)
            .ok_or_else(|| format!("missing column {}", CSV_HEADER[i]))
    };
    let sensor = SensorId::parse(field(0)?).map_err(|e| e.to_string())?;
    let value: f64 = field(5)?
        .parse()
        .map_err(|_| format!("value {:?} is not a number", field(5).unwrap_or("")))?;
    let mut draft = Draft::default();
    draft.metric(field(1)?, value).map_err(|e| e.to_string())?;
    let at = from_rfc3339(field(3)?).map_err(|e| format!("measured_at: {e}"))?;
    draft.measured_at(at, now).map_err(|e| e.to_string())?;
    let received = from_rfc3339(field(4)?).map_err(|e| format!("received_at: {e}"))?;
    Ok((draft.finish(&sensor)?, received))
}
