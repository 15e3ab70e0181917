//! The store read through calibrations: each series' buckets, CSV and chart exports, and the
//! text saying which calibration an export applied. The engine's `Api` reads through one; the
//! `export` command of `clima-server` opens one on a database file alone (no engine, no ports).

use std::path::Path;
use std::sync::{Arc, RwLock};

use clima_model::calibration::Calibration;
use clima_model::downsample::{Bucket, BucketPlan};
use clima_model::Millis;

use super::{calibrations_from, Calibrations, QueryError, RangeQuery, CALIBRATION_KEY};
use crate::chart::{self, ChartSpec};
use crate::store::export::{self, ChartFormat};
use crate::store::{self, Reader, StoreError};

/// A reader of the store and the calibrations it reads through.
pub struct CalibratedReader {
    pub(super) reader: Arc<Reader>,
    /// Each sensor metric's calibration, applied to every value read (see [`CALIBRATION_KEY`]).
    pub(super) calibrations: RwLock<Calibrations>,
}

impl CalibratedReader {
    /// Reads through the calibrations kept in `reader`'s database.
    pub(crate) fn new(reader: Arc<Reader>) -> Result<Self, StoreError> {
        let calibrations = RwLock::new(calibrations_from(reader.settings(CALIBRATION_KEY)?));
        Ok(CalibratedReader {
            reader,
            calibrations,
        })
    }

    /// Opens a database file on its own (migrating it first, so an old file reads like a new
    /// one), for a command that reads it while a server may be writing it.
    pub fn open(db: &Path) -> Result<Self, StoreError> {
        drop(store::open(db)?);
        Self::new(Arc::new(Reader::new(db.to_owned())))
    }

    /// The reader under the calibrations.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// A sensor metric's calibration ([`Calibration::NONE`] unless one was set).
    pub fn calibration(&self, sensor: &str, metric: &str) -> Calibration {
        let all = self.calibrations.read().expect("calibrations");
        all.get(sensor)
            .and_then(|metrics| metrics.get(metric))
            .copied()
            .unwrap_or(Calibration::NONE)
    }

    /// What an export of a sensor's metric says about its values: `none` (also when asked for
    /// the stored values), `offset=…; scale=…`, or the inputs a derived metric was recomputed
    /// from.
    pub fn calibration_text(&self, sensor: &str, metric: &str, raw: bool) -> String {
        let text = |c: Calibration| {
            if c.is_none() {
                "none".to_owned()
            } else {
                format!("offset={}; scale={}", c.offset, c.scale)
            }
        };
        if raw {
            return "none".to_owned();
        }
        match self.derived_inputs(sensor, metric) {
            Ok(Some((t, rh))) => format!(
                "derived from calibrated temperature ({}) and humidity ({})",
                text(t),
                text(rh)
            ),
            _ => text(self.calibration(sensor, metric)),
        }
    }

    /// Every sample of a range as CSV (the columns of `store::export::CSV_HEADER`), read
    /// through the series' calibration unless `raw`; a derived metric is recomputed from
    /// calibrated inputs. Blocking.
    pub fn export_csv<W: std::io::Write>(
        &self,
        q: &RangeQuery,
        raw: bool,
        out: W,
        progress: impl FnMut(u64),
    ) -> Result<u64, QueryError> {
        let range = self.export_range(q)?;
        let (sensor, metric) = (q.sensor.as_str(), q.metric.as_str());
        let reader = &self.reader;
        Ok(match self.derived_inputs(sensor, metric)? {
            Some(inputs) if !raw => export::export_csv_recalibrated(
                reader, sensor, metric, range, inputs, out, progress,
            )?,
            _ => {
                let c = if raw {
                    Calibration::NONE
                } else {
                    self.calibration(sensor, metric)
                };
                export::export_csv_calibrated(reader, sensor, metric, range, c, out, progress)?
            }
        })
    }

    /// Checks an export's series and range before any of it is written: the resolved
    /// `(from, to)`. Blocking.
    pub fn export_range(&self, q: &RangeQuery) -> Result<(Millis, Millis), QueryError> {
        let one = RangeQuery {
            points: Some(1),
            ..q.clone()
        };
        let (from, to, plan) = one.plan(crate::now_ms())?;
        self.buckets(&one, &plan)?;
        Ok((from, to))
    }

    /// A titled chart file of a range, read through the series' calibration. Blocking.
    pub fn export_chart(&self, q: &RangeQuery, format: ChartFormat) -> Result<Vec<u8>, QueryError> {
        let (from, to) = self.export_range(q)?;
        let plan =
            BucketPlan::new(from, to, export::CHART_POINTS).map_err(QueryError::InvalidRange)?;
        let buckets = self.buckets(q, &plan)?;
        let spec = ChartSpec::for_export(&q.sensor, &q.metric, plan.width);
        Ok(match format {
            ChartFormat::Png => chart::render_png(&buckets, &spec)?,
            ChartFormat::Svg => chart::render(&buckets, &spec)?.svg.into_bytes(),
        })
    }

    /// A series' buckets through its calibration; a derived metric's recomputed from its
    /// sensor's calibrated temperature and humidity (see `api::recalibrate`).
    pub(super) fn buckets(
        &self,
        q: &RangeQuery,
        plan: &BucketPlan,
    ) -> Result<Vec<Bucket>, QueryError> {
        if let Some(inputs) = self.derived_inputs(&q.sensor, &q.metric)? {
            return Ok(self.recalibrated_buckets(&q.sensor, &q.metric, inputs, plan)?);
        }
        let raw = self
            .reader
            .range(&q.sensor, &q.metric, plan)?
            .ok_or_else(|| QueryError::UnknownSeries {
                sensor: q.sensor.clone(),
                metric: q.metric.clone(),
            })?;
        let c = self.calibration(&q.sensor, &q.metric);
        Ok(if c.is_none() {
            raw
        } else {
            raw.iter().map(|b| c.bucket(b)).collect()
        })
    }
}
