//! The engine's one API: everything the HTTP handlers and the desktop window's commands do
//! (ingest, queries, charts, ports, the demo board, the token, retention, health), so the two
//! front doors are thin adapters over the same calls.

mod calibrated;
mod compare;
mod housekeeping;
mod recalibrate;

pub use calibrated::CalibratedReader;
pub use compare::{Asked, CompareQuery, ComparedSeries, Comparison};
pub use housekeeping::{HousekeepingError, MergeOutcome, HIDDEN_KEY, NAME_KEY};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use clima_model::calibration::{Calibration, CalibrationError};
use clima_model::downsample::{Bucket, BucketPlan};
use clima_model::metric::unit_of;
use clima_model::reading::clean_name;
use clima_model::{Millis, Reading, DAY};

use crate::alert::{AlertError, AlertList, AlertView, Alerts, PresetView, RuleView, WebhookView};
use crate::background::{self, Activity, BackgroundSettings};
use crate::chart::{self, Chart, ChartError, ChartSpec, DateStyle, TempUnit};
use crate::config::Token;
use crate::demo::{Demo, DEMO_SENSOR};
use crate::forward::{ForwardError, ForwarderStatus, Forwarders};
use crate::hub::{Hub, LiveSample, Viewer};
use crate::serial::{PortView, SerialBoards};
use crate::store::export::{ChartFormat, ExportError};
use crate::store::{settings, Reader, Receipt, SensorInfo, Source, StoreError, WriteHandle};

/// What the About page shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct About {
    pub version: &'static str,
    /// The database file in use.
    pub db: String,
}

/// Default and largest number of chart points a range query returns.
pub const DEFAULT_POINTS: usize = 500;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The time range or bucket count makes no sense.
    #[error("{0}")]
    InvalidRange(String),
    /// No such sensor, or it has no such metric.
    #[error("sensor {sensor:?} has no metric {metric:?}: see /api/v1/sensors for what is stored")]
    UnknownSeries { sensor: String, metric: String },
    /// The chart could not be drawn as asked (its size, say).
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ExportError> for QueryError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::UnknownSeries { sensor, metric } => {
                QueryError::UnknownSeries { sensor, metric }
            }
            ExportError::Range(m) => QueryError::InvalidRange(m),
            ExportError::Chart(c) => QueryError::Chart(c),
            ExportError::Store(s) => QueryError::Store(s),
            other => QueryError::Store(StoreError::Failed(other.to_string())),
        }
    }
}

/// Why a token could not be regenerated.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token was given on the command line (or there is none): Clima does not own it.
    #[error("this token was given with --token or CLIMA_TOKEN (or none is set): change it there, or start without it (clima-server: --token auto) to let Clima keep one it can regenerate")]
    NotStored,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a port could not be released, claimed or named.
#[derive(Debug, thiserror::Error)]
pub enum PortActionError {
    #[error(transparent)]
    Port(#[from] crate::serial::PortError),
    /// The label is not a usable name.
    #[error("label {0}")]
    Label(String),
    /// The board settings cannot be kept as given.
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a sensor's retention could not be set.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("no sensor {0:?}: see /api/v1/sensors")]
    UnknownSensor(String),
    #[error("{field} {value:?} is not a duration: use e.g. 90d, 12h or forever")]
    Duration { field: &'static str, value: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a calibration could not be set.
#[derive(Debug, thiserror::Error)]
pub enum SetCalibrationError {
    #[error("no series for sensor {sensor:?} and metric {metric:?}: see /api/v1/sensors")]
    UnknownSeries { sensor: String, metric: String },
    #[error("{0}")]
    Invalid(#[from] CalibrationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a sensor metric's calibration is kept: `calibration:SENSOR/METRIC` (neither a sensor id
/// nor a metric name holds a `/`), valued as JSON `{"offset", "scale"}`, empty for none.
pub const CALIBRATION_KEY: &str = "calibration:";

/// Every calibration set, by sensor and metric, from the settings table's rows.
pub(crate) fn calibrations_from(rows: Vec<(String, String)>) -> Calibrations {
    let mut all = Calibrations::new();
    for (key, value) in rows {
        let Some((sensor, metric)) = key.split_once('/') else {
            continue;
        };
        if let Ok(c) = serde_json::from_str(&value) {
            all.entry(sensor.to_owned())
                .or_default()
                .insert(metric.to_owned(), c);
        }
    }
    all
}

/// Calibrations by sensor, then metric: looked up with borrowed names for every sample a live
/// viewer sends, so without allocating.
pub(crate) type Calibrations = HashMap<String, HashMap<String, Calibration>>;

/// Why the demo board could not start.
#[derive(Debug, thiserror::Error)]
#[error("the demo board could not start: {0}")]
pub struct DemoError(#[from] std::io::Error);

/// One series over a time range: `to` defaults to now, `from` to a day before `to`, `points`
/// to [`DEFAULT_POINTS`].
#[derive(Debug, Clone, Default)]
pub struct RangeQuery {
    pub sensor: String,
    pub metric: String,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub points: Option<usize>,
}

impl RangeQuery {
    /// The times and buckets this query asks for, with `now` as the default end.
    pub fn plan(&self, now: Millis) -> Result<(Millis, Millis, BucketPlan), QueryError> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - DAY);
        let plan = BucketPlan::new(from, to, self.points.unwrap_or(DEFAULT_POINTS))
            .map_err(QueryError::InvalidRange)?;
        Ok((from, to, plan))
    }
}

/// A downsampled range: what `/api/v1/readings` answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Range {
    pub sensor: String,
    pub metric: String,
    pub unit: Option<&'static str>,
    pub from: Millis,
    pub to: Millis,
    pub bucket_ms: Millis,
    pub points: Vec<Bucket>,
}

/// How a dashboard chart is drawn.
#[derive(Debug, Clone)]
pub struct ChartOptions {
    pub width: u32,
    pub height: u32,
    pub temp_unit: TempUnit,
    /// For the time labels.
    pub utc_offset_s: i32,
    /// How the time labels write dates (the page's language).
    pub dates: DateStyle,
}

/// The engine's state that both front doors share.
pub(crate) struct Shared {
    pub writer: WriteHandle,
    pub reader: Arc<Reader>,
    pub hub: Hub,
    pub boards: SerialBoards,
    pub demo: Mutex<Option<Demo>>,
    /// The token every request but `/healthz` and `/ping` must carry, if any.
    pub token: RwLock<Option<Token>>,
    /// Whether the token lives in the database and may be regenerated.
    pub token_stored: bool,
    /// Live updates go out at most this often to each web viewer.
    pub throttle: Duration,
    /// The store read through each sensor metric's calibration (see [`CALIBRATION_KEY`]).
    pub read: CalibratedReader,
    /// The forwarders to outside databases.
    pub forwarders: Forwarders,
    /// Alert rules, their evaluation and webhooks.
    pub alerts: Alerts,
}

/// The engine's API: cheap to clone, shared by the HTTP handlers and the desktop commands.
/// Calls marked blocking touch the database and belong on a blocking thread in async code.
#[derive(Clone)]
pub struct Api(pub(crate) Arc<Shared>);

impl Api {
    /// Where other ingest paths (serial boards, importers) send readings.
    pub fn writer(&self) -> WriteHandle {
        self.0.writer.clone()
    }

    pub fn reader(&self) -> Arc<Reader> {
        self.0.reader.clone()
    }

    pub fn hub(&self) -> Hub {
        self.0.hub.clone()
    }

    /// Stores readings and answers once they are committed: no reading is acknowledged before.
    pub async fn ingest(
        &self,
        readings: Vec<Reading>,
        source: Source,
        received_at: Millis,
    ) -> Result<Receipt, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.writer.write_then(
            readings,
            source,
            received_at,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await.unwrap_or(Err(StoreError::Stopped))
    }

    /// Counts readings (or single fields) from `source` that were refused before the store,
    /// for `/metrics`.
    pub fn count_rejected(&self, source: Source, n: usize) {
        self.0.writer.stats().rejected(source, n);
    }

    /// The store's metrics for Prometheus: series, sensor ages, write counts, forwarders.
    /// Blocking.
    pub fn metrics(&self) -> Result<Vec<clima_model::exposition::Family>, StoreError> {
        let sensors = self.sensors()?;
        Ok(crate::metrics::families(
            &sensors,
            self.0.writer.stats(),
            self.0.writer.problem().is_some(),
            &self.forwarders(),
            crate::now_ms(),
        ))
    }

    /// Each forwarder's state, lag and last error.
    pub fn forwarders(&self) -> Vec<ForwarderStatus> {
        self.0.forwarders.status()
    }

    /// Adds a forwarder (kept in the database) and starts it. Blocking.
    pub fn add_forwarder(&self, url: &str) -> Result<ForwarderStatus, ForwardError> {
        self.0.forwarders.add(url)
    }

    /// Stops and forgets a forwarder added with [`Api::add_forwarder`]. Blocking.
    pub fn remove_forwarder(&self, id: i64) -> Result<(), ForwardError> {
        self.0.forwarders.remove(id)
    }

    /// Every alert rule, in id order.
    pub fn alert_rules(&self) -> Vec<RuleView> {
        self.0.alerts.rules()
    }

    /// Adds an alert rule from its JSON; a bad rule is an error naming the field. Blocking.
    pub fn create_alert_rule(&self, rule: &serde_json::Value) -> Result<RuleView, AlertError> {
        self.0.alerts.create(rule)
    }

    /// Replaces an alert rule; its alerts start over. Blocking.
    pub fn update_alert_rule(
        &self,
        id: i64,
        rule: &serde_json::Value,
    ) -> Result<RuleView, AlertError> {
        self.0.alerts.update(id, rule)
    }

    /// Deletes an alert rule and its active alerts (the history stays). Blocking.
    pub fn delete_alert_rule(&self, id: i64) -> Result<(), AlertError> {
        self.0.alerts.delete(id)
    }

    /// The presets Settings offers, each a rule with every number shown.
    pub fn alert_presets(&self) -> Vec<PresetView> {
        self.0.alerts.presets()
    }

    /// Active alerts (firing first) and the last 200 transitions, newest first. Blocking.
    pub fn alerts(&self) -> Result<AlertList, StoreError> {
        self.0.alerts.list()
    }

    /// Every alert transition from now on, for the live stream and the desktop window.
    pub fn alert_events(&self) -> tokio::sync::broadcast::Receiver<AlertView> {
        self.0.alerts.subscribe()
    }

    /// How many alerts fire now (the tray's tooltip).
    pub fn firing_alerts(&self) -> usize {
        self.0.alerts.firing()
    }

    /// The webhooks alerts are posted to; credentials shown as `***`.
    pub fn alert_webhooks(&self) -> Vec<WebhookView> {
        self.0.alerts.webhooks()
    }

    /// Adds a webhook, kept in the database. Blocking.
    pub fn add_alert_webhook(&self, url: &str) -> Result<WebhookView, AlertError> {
        self.0.alerts.add_webhook(url)
    }

    /// Removes a webhook added with [`Api::add_alert_webhook`]. Blocking.
    pub fn remove_alert_webhook(&self, id: i64) -> Result<(), AlertError> {
        self.0.alerts.remove_webhook(id)
    }

    /// Why commits fail now (disk full, read-only file), while they do.
    pub fn store_problem(&self) -> Option<String> {
        self.0.writer.problem()
    }

    /// The token requests must carry, if any.
    pub fn token(&self) -> Option<Token> {
        self.0.token.read().expect("token").clone()
    }

    /// Whether `candidate` is the token in force (true when none is set).
    pub fn token_allows(&self, candidate: Option<&str>) -> bool {
        match &*self.0.token.read().expect("token") {
            None => true,
            Some(t) => candidate.is_some_and(|c| t.matches(c)),
        }
    }

    /// Whether [`Api::regenerate_token`] can replace the token: it is the one kept in the
    /// database, not one given with `--token`.
    pub fn token_regenerable(&self) -> bool {
        self.0.token_stored
    }

    /// Stores a new token, then puts it in force; the old one is refused from the next request
    /// on. Blocking.
    pub fn regenerate_token(&self) -> Result<Token, TokenError> {
        if !self.0.token_stored {
            return Err(TokenError::NotStored);
        }
        let token = Token::generate();
        self.0
            .writer
            .set_setting(settings::INGEST_TOKEN, token.expose())?;
        *self.0.token.write().expect("token") = Some(token.clone());
        tracing::info!("the ingest token was regenerated; the old one is refused");
        Ok(token)
    }

    /// What this build is and which database it keeps, for an About page.
    pub fn about(&self) -> About {
        About {
            version: env!("CARGO_PKG_VERSION"),
            db: self.0.reader.path().display().to_string(),
        }
    }

    /// How many sensors sent lately and how old the newest reading is. Blocking.
    pub fn activity(&self, now: Millis) -> Result<Activity, StoreError> {
        let sensors = self.0.reader.sensors()?;
        Ok(Activity::of(sensors.iter().map(|s| s.last_seen), now))
    }

    /// The desktop app's choices about running in the background. Blocking.
    pub fn background_settings(&self) -> Result<BackgroundSettings, StoreError> {
        let stored = self.0.reader.settings(background::SETTINGS_KEY)?;
        Ok(stored
            .iter()
            .find(|(rest, _)| rest.is_empty())
            .and_then(|(_, json)| serde_json::from_str(json).ok())
            .unwrap_or_default())
    }

    /// Keeps the desktop app's choices about running in the background. Blocking.
    pub fn set_background_settings(&self, s: &BackgroundSettings) -> Result<(), StoreError> {
        let json = serde_json::to_string(s).expect("settings serialize");
        self.0.writer.set_setting(background::SETTINGS_KEY, &json)
    }

    /// Every sensor with its latest values, calibrated, each saying its calibration (derived
    /// values recomputed from calibrated inputs), with the name and hidden flag the user set.
    /// Blocking.
    pub fn sensors(&self) -> Result<Vec<SensorInfo>, StoreError> {
        let mut sensors = self.0.reader.sensors()?;
        self.add_housekeeping(&mut sensors)?;
        self.recalibrate_latest(&mut sensors)?;
        for s in &mut sensors {
            for m in &mut s.metrics {
                let c = self.calibration(&s.sensor, &m.metric);
                // A derived value recomputed from calibrated inputs is not calibrated again.
                let recomputed = m.derived && self.0.read.input_calibrated(&s.sensor, &m.metric);
                if !c.is_none() && !recomputed {
                    m.value = m.value.map(|v| c.value(v));
                    m.calibration = Some(c);
                }
            }
        }
        Ok(sensors)
    }

    /// The newest value of every series, calibrated. Blocking.
    pub fn latest(&self) -> Result<Vec<LiveSample>, StoreError> {
        let mut samples = self.0.reader.latest()?;
        self.calibrate_update(&mut samples);
        Ok(samples)
    }

    /// A sensor metric's calibration ([`Calibration::NONE`] unless one was set).
    pub fn calibration(&self, sensor: &str, metric: &str) -> Calibration {
        self.0.read.calibration(sensor, metric)
    }

    /// See [`CalibratedReader::calibration_text`].
    pub fn calibration_text(&self, sensor: &str, metric: &str, raw: bool) -> String {
        self.0.read.calibration_text(sensor, metric, raw)
    }

    /// See [`CalibratedReader::export_csv`]. Blocking.
    pub fn export_csv<W: std::io::Write>(
        &self,
        q: &RangeQuery,
        raw: bool,
        out: W,
    ) -> Result<u64, QueryError> {
        self.0.read.export_csv(q, raw, out, |_| {})
    }

    /// Sets a sensor metric's calibration (`value × scale + offset`, offset 0 and scale 1 for
    /// none) and keeps it. Stored values never change: the whole history reads through the new
    /// calibration from now on. Blocking.
    pub fn set_calibration(
        &self,
        sensor: &str,
        metric: &str,
        offset: f64,
        scale: f64,
    ) -> Result<Calibration, SetCalibrationError> {
        let c = Calibration::new(offset, scale)?;
        let known = self
            .sensors()?
            .into_iter()
            .any(|s| s.sensor == sensor && s.metrics.iter().any(|m| m.metric == metric));
        if !known {
            return Err(SetCalibrationError::UnknownSeries {
                sensor: sensor.to_owned(),
                metric: metric.to_owned(),
            });
        }
        let value = if c.is_none() {
            String::new()
        } else {
            serde_json::to_string(&c).expect("calibration serializes")
        };
        self.0
            .writer
            .set_setting(&format!("{CALIBRATION_KEY}{sensor}/{metric}"), &value)?;
        let mut all = self.0.read.calibrations.write().expect("calibrations");
        if c.is_none() {
            if let Some(metrics) = all.get_mut(sensor) {
                metrics.remove(metric);
                if metrics.is_empty() {
                    all.remove(sensor);
                }
            }
        } else {
            let metrics = all.entry(sensor.to_owned()).or_default();
            metrics.insert(metric.to_owned(), c);
        }
        Ok(c)
    }

    /// One series downsampled over a range, gaps kept as empty buckets. Blocking.
    pub fn range(&self, q: &RangeQuery) -> Result<Range, QueryError> {
        let (from, to, plan) = q.plan(crate::now_ms())?;
        let points = self.buckets(q, &plan)?;
        Ok(Range {
            sensor: q.sensor.clone(),
            metric: q.metric.clone(),
            unit: unit_of(&q.metric),
            from,
            to,
            bucket_ms: plan.width,
            points,
        })
    }

    /// One series drawn as the dashboard's SVG chart. Blocking.
    pub fn chart(&self, q: &RangeQuery, o: &ChartOptions) -> Result<Chart, QueryError> {
        let (_, _, plan) = q.plan(crate::now_ms())?;
        let buckets = self.buckets(q, &plan)?;
        let spec = ChartSpec {
            width: o.width,
            height: o.height,
            unit: unit_of(&q.metric).map(str::to_owned),
            temp_unit: o.temp_unit,
            bucket_ms: plan.width,
            utc_offset_s: o.utc_offset_s.clamp(-18 * 3600, 18 * 3600),
            dates: o.dates,
            title: None,
        };
        Ok(chart::render(&buckets, &spec)?)
    }

    /// See [`CalibratedReader::export_range`]. Blocking.
    pub fn export_range(&self, q: &RangeQuery) -> Result<(Millis, Millis), QueryError> {
        self.0.read.export_range(q)
    }

    /// See [`CalibratedReader::export_chart`]. Blocking.
    pub fn export_chart(&self, q: &RangeQuery, format: ChartFormat) -> Result<Vec<u8>, QueryError> {
        self.0.read.export_chart(q, format)
    }

    fn buckets(&self, q: &RangeQuery, plan: &BucketPlan) -> Result<Vec<Bucket>, QueryError> {
        self.0.read.buckets(q, plan)
    }

    /// The serial ports with their state.
    pub fn ports(&self) -> Vec<PortView> {
        self.0.boards.ports()
    }

    /// Lets a port go (to flash a board), or takes it back.
    pub fn set_port_released(&self, id: &str, released: bool) -> Result<(), PortActionError> {
        if released {
            self.0.boards.release(id)?;
        } else {
            self.0.boards.claim(id)?;
        }
        Ok(())
    }

    /// Names a board (an empty label removes the name) and keeps the name. Blocking.
    pub fn label_port(&self, id: &str, label: &str) -> Result<Option<String>, PortActionError> {
        let label = clean_name(label).map_err(|e| PortActionError::Label(e.problem))?;
        self.0.boards.set_label(id, label.clone())?;
        let key = format!("{}{id}", crate::serial::LABEL_KEY);
        self.0
            .writer
            .set_setting(&key, label.as_deref().unwrap_or(""))?;
        Ok(label)
    }

    /// Sets what the user said about a board (temperature unit, series to ignore) and keeps
    /// it. Blocking.
    pub fn set_board_settings(
        &self,
        id: &str,
        settings: clima_model::serial::BoardSettings,
    ) -> Result<clima_model::serial::BoardSettings, PortActionError> {
        if settings.ignore.len() > 100 || settings.ignore.iter().any(|s| s.len() > 130) {
            return Err(PortActionError::Settings(
                "the ignore list is too long: list at most 100 series of 130 characters".into(),
            ));
        }
        self.0.boards.set_board_settings(id, settings.clone())?;
        let key = format!("{}{id}", crate::serial::BOARD_SETTINGS_KEY);
        let json = serde_json::to_string(&settings).expect("settings serialize");
        self.0.writer.set_setting(&key, &json)?;
        Ok(settings)
    }

    /// Starts the demo board once; `false` when it was already running. Blocking.
    pub fn start_demo(&self) -> Result<bool, DemoError> {
        let mut demo = self.0.demo.lock().expect("demo board");
        if demo.is_some() {
            return Ok(false);
        }
        *demo = Some(Demo::start(
            &self.0.boards,
            self.0.writer.clone(),
            crate::now_ms() as u64,
        )?);
        Ok(true)
    }

    /// The sensor id the demo board reports as.
    pub fn demo_sensor(&self) -> &'static str {
        DEMO_SENSOR
    }

    /// Sets how long one sensor's data is kept (`"90d"`, `"forever"`, or `None` for the
    /// server's setting). Blocking.
    pub fn set_retention(
        &self,
        sensor: &str,
        keep_raw: Option<&str>,
        keep_minute: Option<&str>,
    ) -> Result<(), RetentionError> {
        if !self.sensors()?.iter().any(|s| s.sensor == sensor) {
            return Err(RetentionError::UnknownSensor(sensor.to_owned()));
        }
        // Stored as milliseconds, `forever`, or empty for the server's setting.
        let stored = |field: &'static str, v: Option<&str>| match v {
            None => Ok(String::new()),
            Some("forever") => Ok("forever".into()),
            Some(d) => crate::config::parse_duration(d)
                .filter(|d| !d.is_zero())
                .map(|d| d.as_millis().to_string())
                .ok_or_else(|| RetentionError::Duration {
                    field,
                    value: d.to_owned(),
                }),
        };
        let raw = stored("keep_raw", keep_raw)?;
        let minute = stored("keep_minute", keep_minute)?;
        for (prefix, value) in [
            (crate::store::KEEP_RAW_KEY, &raw),
            (crate::store::KEEP_MINUTE_KEY, &minute),
        ] {
            self.0
                .writer
                .set_setting(&format!("{prefix}{sensor}"), value)?;
        }
        Ok(())
    }

    /// The live-update interval of web viewers.
    pub fn throttle(&self) -> Duration {
        self.0.throttle
    }

    /// A throttled, coalescing view of live values (see [`Viewer`]).
    pub fn viewer(&self, interval: Duration) -> Viewer {
        let reader = self.0.reader.clone();
        let api = self.clone();
        self.0
            .hub
            .viewer(
                interval,
                Arc::new(move || reader.latest().unwrap_or_default()),
            )
            .adjusted(Arc::new(move |s| api.calibrate_update(s)))
    }

    /// Stops what the API started (the demo board) before the writer stops.
    pub(crate) fn stop_demo(&self) {
        if let Some(demo) = self.0.demo.lock().expect("demo board").take() {
            demo.stop();
        }
    }
}
