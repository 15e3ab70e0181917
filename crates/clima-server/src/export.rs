//! The `export` and `import` subcommands: a series to CSV, SVG or PNG read through its
//! calibration (the engine's `CalibratedReader`, as the HTTP export reads it), and a CSV back
//! in, with progress bars.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clima_core::api::{CalibratedReader, RangeQuery};
use clima_core::hub::Hub;
use clima_core::now_ms;
use clima_core::store::export::{estimate, import_csv, ChartFormat};
use clima_core::store::{self, WriterConfig};
use clima_model::{timestamp, DAY};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ExportFormat;

/// Writes `sensor`'s `metric` over `(from, to)` (as given on the command line) to `out`.
pub fn run(
    db: &Path,
    sensor: &str,
    metric: &str,
    (from, to): (Option<&str>, Option<&str>),
    format: ExportFormat,
    raw: bool,
    out: &Path,
) -> Result<()> {
    if raw && !matches!(format, ExportFormat::Csv) {
        bail!("--raw writes the stored values as CSV: drop --raw, or use --format csv");
    }
    if !db.exists() {
        bail!("no database at {}: pass --db PATH", db.display());
    }
    let time = |flag: &str, v: Option<&str>| {
        v.map(|v| timestamp::from_text(v).map_err(|e| anyhow!("{flag}: {e}")))
            .transpose()
    };
    let to = time("--to", to)?.unwrap_or_else(now_ms);
    let from = time("--from", from)?.unwrap_or(to - 30 * DAY);
    // Opening applies migrations, so an old file exports like a new one.
    let read = CalibratedReader::open(db)?;
    let q = RangeQuery {
        sensor: sensor.to_owned(),
        metric: metric.to_owned(),
        from: Some(from),
        to: Some(to),
        points: None,
    };
    // Checked before the file is created: an unknown series or a bad range leaves no file.
    read.export_range(&q)?;
    let applied = read.calibration_text(sensor, metric, raw);
    let sink: Box<dyn Write> = if out == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(out).with_context(|| format!("cannot create {}", out.display()))?)
    };
    let mut sink = BufWriter::new(sink);
    match format {
        ExportFormat::Csv => {
            let bar = bar(
                estimate(read.reader(), sensor, metric, from, to)?,
                "samples",
            );
            let rows = read.export_csv(&q, raw, &mut sink, |n| bar.set_position(n))?;
            bar.finish_and_clear();
            eprintln!(
                "{rows} samples written to {} (calibration: {applied})",
                out.display()
            );
        }
        ExportFormat::Svg | ExportFormat::Png => {
            let chart_format = match format {
                ExportFormat::Png => ChartFormat::Png,
                _ => ChartFormat::Svg,
            };
            let bytes = read.export_chart(&q, chart_format)?;
            sink.write_all(&bytes)?;
            eprintln!(
                "chart of {sensor} {metric} written to {} (calibration: {applied})",
                out.display()
            );
        }
    }
    sink.flush()?;
    Ok(())
}

pub fn import(db: &Path, file: &Path) -> Result<()> {
    let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let conn = store::open(db)?;
    let (writer, thread) = store::spawn_writer(conn, Hub::default(), WriterConfig::default())?;
    // Rows are about 80 bytes: a good enough guess for the bar.
    let bar = bar(size / 80, "rows");
    let summary = import_csv(BufReader::new(input), &writer, now_ms(), |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    // Seal and roll up what came in now, so the file is compact when the import ends.
    let maintained = writer.maintain();
    writer.stop();
    let _ = thread.join();
    let summary = summary?;
    maintained?;
    eprintln!(
        "{} rows read: {} stored, {} already present, {} rejected",
        summary.rows,
        summary.stored,
        summary.duplicates,
        summary.rejected.len()
    );
    for (line, reason) in summary.rejected.iter().take(20) {
        eprintln!("  line {line}: {reason}");
    }
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} ({{eta}} left)");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
