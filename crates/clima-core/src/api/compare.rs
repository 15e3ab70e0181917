//! Comparisons: one metric of several sensors (up to `clima_model::sensor::MAX_COMPARED`) over
//! one range and one bucket plan, as data, as the dashboard's chart and as export files.

use clima_model::downsample::{Bucket, BucketPlan};
use clima_model::metric::unit_of;
use clima_model::sensor::{sensor_list, SensorListError};
use clima_model::Millis;

use super::{Api, ChartOptions, QueryError, RangeQuery};
use crate::chart::{self, Chart, ChartSpec, Labelled};
use crate::store::export::{ChartFormat, CHART_POINTS};

/// One metric of several sensors over a time range: as [`RangeQuery`], for a list of sensors.
#[derive(Debug, Clone, Default)]
pub struct CompareQuery {
    pub sensors: Vec<String>,
    pub metric: String,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub points: Option<usize>,
}

impl CompareQuery {
    /// The query of one of its sensors.
    pub fn of(&self, sensor: &str) -> RangeQuery {
        RangeQuery {
            sensor: sensor.to_owned(),
            metric: self.metric.clone(),
            from: self.from,
            to: self.to,
            points: self.points,
        }
    }
}

/// What a query names: one sensor's series, or one metric of several sensors to compare
/// (`sensor=a,b,c`, as both front doors take it).
#[derive(Debug, Clone)]
pub enum Asked {
    One(RangeQuery),
    Several(CompareQuery),
}

impl Asked {
    /// Reads the `sensor` parameter as one id or a comma-separated list of at most
    /// [`clima_model::sensor::MAX_COMPARED`]; the rest is as for [`RangeQuery`].
    pub fn new(q: RangeQuery) -> Result<Asked, SensorListError> {
        let list = sensor_list(&q.sensor)?;
        Ok(if list.len() == 1 && !q.sensor.contains(',') {
            Asked::One(q)
        } else {
            Asked::Several(CompareQuery {
                sensors: list.into_iter().map(|s| s.as_str().to_owned()).collect(),
                metric: q.metric,
                from: q.from,
                to: q.to,
                points: q.points,
            })
        })
    }

    /// The file name part of an export: the sensor, or the sensors joined by `+`.
    pub fn name(&self) -> String {
        match self {
            Asked::One(q) => q.sensor.clone(),
            Asked::Several(q) => q.sensors.join("+"),
        }
    }

    pub fn metric(&self) -> &str {
        match self {
            Asked::One(q) => &q.metric,
            Asked::Several(q) => &q.metric,
        }
    }
}

/// One sensor's series of a comparison.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComparedSeries {
    pub sensor: String,
    /// What the legend calls it: the name given on the dashboard, else the device's, else none.
    pub name: Option<String>,
    /// The calibration its values were read through, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<clima_model::calibration::Calibration>,
    pub points: Vec<Bucket>,
}

/// What `/api/v1/readings?sensor=a,b` answers: every series on the same buckets.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub metric: String,
    pub unit: Option<&'static str>,
    pub from: Millis,
    pub to: Millis,
    pub bucket_ms: Millis,
    pub series: Vec<ComparedSeries>,
}

impl Api {
    /// Each sensor's series of one metric on one bucket plan, in the order asked. A sensor
    /// without the metric is an [`QueryError::UnknownSeries`] naming it. Blocking.
    pub fn compare(&self, q: &CompareQuery) -> Result<Comparison, QueryError> {
        let first = q.of(q.sensors.first().map_or("", String::as_str));
        let (from, to, plan) = first.plan(crate::now_ms())?;
        self.compare_on(q, from, to, plan)
    }

    fn compare_on(
        &self,
        q: &CompareQuery,
        from: Millis,
        to: Millis,
        plan: BucketPlan,
    ) -> Result<Comparison, QueryError> {
        let names = self.names()?;
        let mut series = Vec::with_capacity(q.sensors.len());
        for sensor in &q.sensors {
            let points = self.buckets(&q.of(sensor), &plan)?;
            let c = self.calibration(sensor, &q.metric);
            series.push(ComparedSeries {
                sensor: sensor.clone(),
                name: names
                    .iter()
                    .find(|(s, _)| s == sensor)
                    .and_then(|(_, n)| n.clone()),
                calibration: (!c.is_none()).then_some(c),
                points,
            });
        }
        Ok(Comparison {
            metric: q.metric.clone(),
            unit: unit_of(&q.metric),
            from,
            to,
            bucket_ms: plan.width,
            series,
        })
    }

    /// Each sensor's name as a legend shows it. Blocking.
    fn names(&self) -> Result<Vec<(String, Option<String>)>, QueryError> {
        let mut sensors = self.0.reader.sensors()?;
        self.add_housekeeping(&mut sensors)?;
        Ok(sensors
            .into_iter()
            .map(|s| (s.sensor, s.display_name.or(s.name)))
            .collect())
    }

    /// The comparison drawn as the dashboard's chart: one line per sensor, a legend. Blocking.
    pub fn compare_chart(&self, q: &CompareQuery, o: &ChartOptions) -> Result<Chart, QueryError> {
        let c = self.compare(q)?;
        let spec = ChartSpec {
            width: o.width,
            height: o.height,
            unit: c.unit.map(str::to_owned),
            temp_unit: o.temp_unit,
            bucket_ms: c.bucket_ms,
            utc_offset_s: o.utc_offset_s.clamp(-18 * 3600, 18 * 3600),
            dates: o.dates,
            title: None,
        };
        Ok(chart::render_compare(&labelled(c.series), &spec)?)
    }

    /// A titled chart file of a comparison, as the single export chart is drawn. Blocking.
    pub fn export_compare_chart(
        &self,
        q: &CompareQuery,
        format: ChartFormat,
    ) -> Result<Vec<u8>, QueryError> {
        let (from, to, _) = q
            .of(q.sensors.first().map_or("", String::as_str))
            .plan(crate::now_ms())?;
        let plan = BucketPlan::new(from, to, CHART_POINTS).map_err(QueryError::InvalidRange)?;
        let c = self.compare_on(q, from, to, plan)?;
        let mut spec = ChartSpec::for_export(&q.sensors.join(", "), &q.metric, c.bucket_ms);
        spec.title = Some(format!("{} (times in UTC)", q.metric));
        let series = labelled(c.series);
        Ok(match format {
            ChartFormat::Png => chart::render_compare_png(&series, &spec)?,
            ChartFormat::Svg => chart::render_compare(&series, &spec)?.svg.into_bytes(),
        })
    }

    /// Every sample of each sensor's series in turn, as one CSV under one header (an import
    /// takes it back as it takes a single series' export). Blocking.
    pub fn export_compare_csv<W: std::io::Write>(
        &self,
        q: &CompareQuery,
        raw: bool,
        mut out: W,
    ) -> Result<u64, QueryError> {
        for sensor in &q.sensors {
            self.export_range(&q.of(sensor))?;
        }
        let mut rows = 0;
        for (i, sensor) in q.sensors.iter().enumerate() {
            let sink = HeaderOnce {
                out: &mut out,
                skipping: i > 0,
            };
            rows += self.export_csv(&q.of(sensor), raw, sink)?;
        }
        Ok(rows)
    }

    /// Checks every series and the range of an export before any of it is written, and says
    /// what calibration its values are read through (`X-Clima-Calibration`). Blocking.
    pub fn export_check(&self, asked: &Asked, raw: bool) -> Result<String, QueryError> {
        match asked {
            Asked::One(q) => {
                self.export_range(q)?;
                Ok(self.calibration_text(&q.sensor, &q.metric, raw))
            }
            Asked::Several(q) => {
                for s in &q.sensors {
                    self.export_range(&q.of(s))?;
                }
                Ok(self.compare_calibrations(q, raw))
            }
        }
    }

    /// The CSV export of what `asked` names. Blocking.
    pub fn export_asked_csv<W: std::io::Write>(
        &self,
        asked: &Asked,
        raw: bool,
        out: W,
    ) -> Result<u64, QueryError> {
        match asked {
            Asked::One(q) => self.export_csv(q, raw, out),
            Asked::Several(q) => self.export_compare_csv(q, raw, out),
        }
    }

    /// The chart file of what `asked` names. Blocking.
    pub fn export_asked_chart(
        &self,
        asked: &Asked,
        format: ChartFormat,
    ) -> Result<Vec<u8>, QueryError> {
        match asked {
            Asked::One(q) => self.export_chart(q, format),
            Asked::Several(q) => self.export_compare_chart(q, format),
        }
    }

    /// The dashboard chart of what `asked` names. Blocking.
    pub fn asked_chart(&self, asked: &Asked, o: &ChartOptions) -> Result<Chart, QueryError> {
        match asked {
            Asked::One(q) => self.chart(q, o),
            Asked::Several(q) => self.compare_chart(q, o),
        }
    }

    /// What each sensor's values of a comparison are read through, for an export to say:
    /// `a: offset=-0.5; scale=1, b: none`.
    pub fn compare_calibrations(&self, q: &CompareQuery, raw: bool) -> String {
        q.sensors
            .iter()
            .map(|s| format!("{s}: {}", self.calibration_text(s, &q.metric, raw)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Legend labels: the name, with the id when a name is given (two rooms may share a name).
fn labelled(series: Vec<ComparedSeries>) -> Vec<Labelled> {
    series
        .into_iter()
        .map(|s| Labelled {
            label: match s.name {
                Some(name) => format!("{name} ({})", s.sensor),
                None => s.sensor,
            },
            buckets: s.points,
        })
        .collect()
}

/// Passes bytes on, but for the first line when `skipping`: the CSV header of every series
/// after the first.
struct HeaderOnce<W> {
    out: W,
    skipping: bool,
}

impl<W: std::io::Write> std::io::Write for HeaderOnce<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.skipping {
            return self.out.write(buf);
        }
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            self.skipping = false;
            self.out.write_all(&buf[end + 1..])?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
