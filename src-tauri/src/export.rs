//! Exporting a series to a file the user picks: the native save dialog (opened from Rust, so
//! the page needs no dialog or file permission), and the file written with the same core
//! functions as `clima-server export`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clima_core::store::export::ChartFormat;
#[cfg(test)]
use clima_core::store::export::{export_chart_calibrated, export_csv, ExportError};
#[cfg(test)]
use clima_core::store::Reader;
#[cfg(test)]
use clima_model::calibration::Calibration;
use clima_model::timestamp::format_rfc3339;
use clima_model::Millis;
use tauri::{Runtime, Window};

use crate::error::CommandError;

/// What an export can be written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Png,
    Svg,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, CommandError> {
        match s {
            "csv" => Ok(Format::Csv),
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            other => Err(CommandError::invalid(format!(
                "export format {other:?}: use csv, png or svg"
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }

    fn filter_name(self) -> &'static str {
        match self {
            Format::Csv => "CSV (one row per reading)",
            Format::Png => "PNG image",
            Format::Svg => "SVG image",
        }
    }
}

/// What an export wrote, for the page's message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exported {
    pub path: String,
    pub format: &'static str,
    /// Readings written (CSV only).
    pub rows: Option<u64>,
    pub bytes: u64,
    /// The calibration the values were read through (`none`, `offset=…; scale=…`),
    /// as the HTTP export's `X-Clima-Calibration` header says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
}

/// The name the save dialog suggests: sensor, metric and the range's dates (UTC). Sensor ids and
/// metric names come from devices, so only `A-Z a-z 0-9 . _ -` survive, and none may start the
/// name with a dot (hidden file, `..`) or a dash (read as an option by command-line tools).
pub fn default_file_name(
    sensor: &str,
    metric: &str,
    from: Millis,
    to: Millis,
    format: Format,
) -> String {
    let date = |t: Millis| format_rfc3339(t).chars().take(10).collect::<String>();
    let (first, last) = (date(from), date(to - 1));
    let dates = if first == last {
        first
    } else {
        format!("{first}_{last}")
    };
    format!(
        "{}-{}-{dates}.{}",
        file_part(sensor, "sensor"),
        file_part(metric, "metric"),
        format.extension()
    )
}

fn file_part(s: &str, fallback: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', '-']);
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Asks where to save with the platform's save dialog, in front of `window`; `None` when the
/// user cancels. Opened on the main thread (as the platform wants) and awaited here, so no
/// thread blocks while the user decides.
pub async fn ask_path<R: Runtime>(
    window: &Window<R>,
    file_name: String,
    title: String,
    format: Format,
) -> Result<Option<PathBuf>, CommandError> {
    let unavailable =
        |e: String| CommandError::new("unavailable", format!("the save dialog failed: {e}"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = window.clone();
    window
        .run_on_main_thread(move || {
            let mut dialog = rfd::AsyncFileDialog::new();
            if let Some(dir) = start_folder() {
                dialog = dialog.set_directory(dir);
            }
            let dialog = dialog
                .set_title(title)
                .set_file_name(file_name)
                .add_filter(format.filter_name(), &[format.extension()])
                .set_parent(&parent)
                .save_file();
            let _ = tx.send(dialog);
        })
        .map_err(|e| unavailable(e.to_string()))?;
    let dialog = rx
        .await
        .map_err(|_| unavailable("it did not open".into()))?;
    Ok(dialog.await.map(|file| file.path().to_path_buf()))
}

/// Where the save dialog opens: the user's downloads folder, else home (not the working
/// directory, which for an app started from a menu means nothing to the user).
fn start_folder() -> Option<PathBuf> {
    let dirs = directories::UserDirs::new()?;
    dirs.download_dir()
        .filter(|d| d.is_dir())
        .unwrap_or(dirs.home_dir())
        .to_path_buf()
        .into()
}

/// Writes one series over `[from, to)` to `path` straight from the store, uncalibrated (the
/// tests' way; the app exports through the engine's API with [`export_with`]).
#[cfg(test)]
pub fn export_to(
    reader: &Reader,
    path: &Path,
    format: Format,
    sensor: &str,
    metric: &str,
    from: Millis,
    to: Millis,
) -> Result<Exported, CommandError> {
    export_with(
        path,
        format,
        |out| export_csv(reader, sensor, metric, from, to, out, |_| {}).map_err(export_failed),
        |chart| {
            export_chart_calibrated(reader, sensor, metric, (from, to), Calibration::NONE, chart)
                .map_err(export_failed)
        },
    )
}

/// Writes an export to `path`: CSV streamed row by row by `csv`, or the chart file `chart`
/// draws. The file appears whole or not at all: it is written beside `path` under a
/// temporary name and renamed when complete, so a failed export leaves an older file intact.
pub fn export_with(
    path: &Path,
    format: Format,
    csv: impl FnOnce(&mut dyn Write) -> Result<u64, CommandError>,
    chart: impl FnOnce(ChartFormat) -> Result<Vec<u8>, CommandError>,
) -> Result<Exported, CommandError> {
    let name = path
        .file_name()
        .ok_or_else(|| CommandError::invalid(format!("{} is not a file name", path.display())))?;
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let io = |e: std::io::Error, what: &Path| {
        CommandError::new(
            "io",
            format!(
                "cannot write {}: {e}: choose another folder or free some space",
                what.display()
            ),
        )
    };
    let written = (|| {
        let file = File::create(&partial).map_err(|e| io(e, path))?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let rows = match format {
            Format::Csv => Some(csv(&mut out)?),
            Format::Png | Format::Svg => {
                let kind = if format == Format::Png {
                    ChartFormat::Png
                } else {
                    ChartFormat::Svg
                };
                let bytes = chart(kind)?;
                out.write_all(&bytes).map_err(|e| io(e, path))?;
                None
            }
        };
        let file = out.into_inner().map_err(|e| io(e.into_error(), path))?;
        file.sync_all().map_err(|e| io(e, path))?;
        let bytes = file.metadata().map_err(|e| io(e, path))?.len();
        Ok(Exported {
            path: path.display().to_string(),
            format: format.extension(),
            rows,
            bytes,
            calibration: None,
        })
    })();
    match written {
        Ok(exported) => {
            std::fs::rename(&partial, path).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                io(e, path)
            })?;
            Ok(exported)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

#[cfg(test)]
fn export_failed(e: ExportError) -> CommandError {
    match e {
        ExportError::UnknownSeries { .. } => CommandError::new("not_found", e.to_string()),
        ExportError::Range(_) => CommandError::invalid(e.to_string()),
        ExportError::Store(_) => CommandError::new("store", e.to_string()),
        ExportError::Write(_) | ExportError::Chart(_) => CommandError::new("io", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clima_core::hub::Hub;
    use clima_core::store::{open, spawn_writer, Source, WriterConfig};

    /// A database holding three readings of `lab` a minute apart, ending two minutes ago.
    fn lab() -> (tempfile::TempDir, Reader, Millis) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let (writer, thread) =
            spawn_writer(open(&db).unwrap(), Hub::default(), WriterConfig::default()).unwrap();
        let now = clima_core::now_ms();
        let first = now - 240_000;
        let readings = [21.5, 21.75, 22.0]
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let body = format!(
                    r#"{{"sensor":"lab","temperature":{v},"measured_at":{}}}"#,
                    first + i as i64 * 60_000
                );
                let fallback = clima_model::SensorId::parse("x").unwrap();
                clima_model::json::parse_body(body.as_bytes(), &fallback, now)
                    .unwrap()
                    .remove(0)
                    .unwrap()
            })
            .collect();
        writer.write(readings, Source::Http, now).unwrap();
        writer.stop();
        thread.join().unwrap();
        (dir, Reader::new(db), first)
    }

    #[test]
    fn writes_each_format() {
        let (dir, reader, first) = lab();
        let (from, to) = (first - 60_000, first + 600_000);
        let csv = dir.path().join("lab.csv");
        let done = export_to(&reader, &csv, Format::Csv, "lab", "temperature", from, to).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "sensor,metric,unit,measured_at,received_at,value");
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].starts_with("lab,temperature,°C,") && lines[1].ends_with(",21.5"));
        assert!(lines[3].ends_with(",22"), "{}", lines[3]);
        assert_eq!(done.rows, Some(3));
        assert_eq!(done.format, "csv");
        assert_eq!(done.bytes, text.len() as u64);
        assert_eq!(done.path, csv.display().to_string());

        let png = dir.path().join("lab.png");
        let done = export_to(&reader, &png, Format::Png, "lab", "temperature", from, to).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!((done.rows, done.bytes), (None, bytes.len() as u64));

        let svg = dir.path().join("lab.svg");
        export_to(&reader, &svg, Format::Svg, "lab", "temperature", from, to).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("lab · temperature (times in UTC)"));

        // No partial file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
    }

    #[test]
    fn a_failed_export_leaves_the_old_file() {
        let (dir, reader, first) = lab();
        let (from, to) = (first, first + 600_000);
        let path = dir.path().join("keep.csv");
        std::fs::write(&path, "older export").unwrap();
        let err = export_to(&reader, &path, Format::Csv, "lab", "co2", from, to).unwrap_err();
        assert_eq!(err.kind, "not_found");
        assert!(err.message.contains("co2"), "{}", err.message);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "older export");
        assert!(!dir.path().join(".keep.csv.partial").exists());

        let nowhere = dir.path().join("no such folder").join("x.svg");
        let err = export_to(
            &reader,
            &nowhere,
            Format::Svg,
            "lab",
            "temperature",
            from,
            to,
        )
        .unwrap_err();
        assert_eq!(err.kind, "io");
        assert!(err.message.contains("no such folder"), "{}", err.message);
    }

    fn check(sensor: &str, metric: &str, expected: &str) {
        // 2026-11-25T12:00Z to 2026-11-26T12:00Z.
        let (from, to) = (1_795_608_000_000, 1_795_694_400_000);
        assert_eq!(
            default_file_name(sensor, metric, from, to, Format::Csv),
            expected
        );
    }

    #[test]
    fn file_names_are_safe() {
        check(
            "kitchen",
            "temperature",
            "kitchen-temperature-2026-11-25_2026-11-26.csv",
        );
        check(
            "../../etc/passwd",
            "temperature",
            "_.._etc_passwd-temperature-2026-11-25_2026-11-26.csv",
        );
        check("..", "co2", "sensor-co2-2026-11-25_2026-11-26.csv");
        check(
            "-rf <img src=x>",
            "a/b",
            "rf__img_src_x_-a_b-2026-11-25_2026-11-26.csv",
        );
        check(
            &"x".repeat(200),
            "küche",
            &format!("{}-k_che-2026-11-25_2026-11-26.csv", "x".repeat(64)),
        );
        assert_eq!(
            default_file_name(
                "lab",
                "humidity",
                1_795_687_200_000,
                1_795_690_800_000,
                Format::Png
            ),
            "lab-humidity-2026-11-26.png"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(Format::parse("svg").unwrap(), Format::Svg);
        assert_eq!(Format::parse("pdf").unwrap_err().kind, "invalid");
    }
}
