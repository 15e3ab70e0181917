//! The commands the page calls through IPC: each a short adapter from arguments to the engine,
//! answering in the same JSON shapes as the HTTP API so the page has one code path.

use clima_core::alert::AlertError;
use clima_core::api::{
    About, Asked, ChartOptions, HousekeepingError, QueryError, RangeQuery, SetCalibrationError,
    TokenError,
};
use clima_core::chart::{self, DateStyle, TempUnit};
use clima_core::forward::ForwardError;
use clima_core::now_ms;
use serde_json::{json, Value};
use tauri::{AppHandle, Runtime, State, Window};

use crate::background::{self, BackgroundView};
use crate::error::CommandError;
use crate::export::{self, Exported, Format};
use crate::shell::{ingest_addresses, Shell};

/// What the settings page shows: where devices send readings, and with which token; and what
/// the page must warn about.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub listen: String,
    pub port: u16,
    pub addresses: Vec<String>,
    /// The token in force now (it changes when regenerated).
    pub token: Option<String>,
    /// Whether `regenerate_token` can replace the token: false when it came from `--token`.
    pub token_regenerable: bool,
    /// Why commits fail (disk full, read-only file), while they do; as `/healthz` reports it.
    pub store_problem: Option<String>,
    pub update_interval_ms: u64,
    /// The version and the database file, for the About part.
    #[serde(flatten)]
    pub about: About,
}

#[tauri::command]
pub fn status(shell: State<'_, Shell>) -> Result<Status, CommandError> {
    let interval = shell.interval_ms();
    shell.with(|r| {
        let listen = r.engine.local_addr();
        Ok(Status {
            listen: listen.to_string(),
            port: listen.port(),
            addresses: ingest_addresses(listen),
            token: r.engine.api().token().map(|t| t.expose().to_owned()),
            token_regenerable: r.engine.api().token_regenerable(),
            store_problem: r.engine.api().store_problem(),
            update_interval_ms: interval,
            about: r.engine.api().about(),
        })
    })
}

/// `GET /api/v1/sensors`.
#[tauri::command]
pub async fn sensors(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let sensors = blocking(move || api.sensors()).await??;
    Ok(json!({ "sensors": sensors }))
}

/// One sensor, or several to compare (`sensor` as `a,b,c`, at most 8), as the HTTP API reads
/// its `sensor` parameter.
fn asked(q: RangeQuery) -> Result<Asked, CommandError> {
    Asked::new(q).map_err(|e| CommandError::invalid(e.to_string()))
}

/// `GET /api/v1/readings`: `from` and `to` in unix ms (default the last 24 h); several
/// sensors (`a,b`) answer one series each on the same buckets.
#[tauri::command]
pub async fn readings(
    shell: State<'_, Shell>,
    sensor: String,
    metric: String,
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let q = RangeQuery {
        sensor,
        metric,
        from,
        to,
        points,
    };
    let answer = match asked(q)? {
        Asked::One(q) => blocking(move || api.range(&q).map(|r| json!(r))).await?,
        Asked::Several(q) => blocking(move || api.compare(&q).map(|c| json!(c))).await?,
    };
    answer.map_err(query_error)
}

/// `GET /api/v1/chart.svg`, with the plot area in the answer instead of a header. `tz` is in
/// minutes east of UTC, as for the HTTP API.
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn chart(
    shell: State<'_, Shell>,
    sensor: String,
    metric: String,
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
    width: u32,
    height: u32,
    unit: Option<String>,
    tz: Option<i32>,
    lang: Option<String>,
) -> Result<chart::Chart, CommandError> {
    let api = shell.api()?;
    let q = RangeQuery {
        sensor,
        metric,
        from,
        to,
        points,
    };
    let options = ChartOptions {
        width,
        height,
        temp_unit: TempUnit::parse(unit.as_deref().unwrap_or("C"))
            .map_err(|e| CommandError::invalid(e.to_string()))?,
        utc_offset_s: tz.unwrap_or(0).clamp(-18 * 60, 18 * 60) * 60,
        dates: DateStyle::for_language(lang.as_deref().unwrap_or("en")),
    };
    let asked = asked(q)?;
    blocking(move || api.asked_chart(&asked, &options))
        .await?
        .map_err(query_error)
}

/// `GET /api/v1/export.csv`, `.png` or `.svg` into a file the user picks in the save dialog:
/// `null` when the dialog is cancelled.
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn export<R: Runtime>(
    window: Window<R>,
    shell: State<'_, Shell>,
    sensor: String,
    metric: String,
    format: String,
    from: Option<i64>,
    to: Option<i64>,
    title: Option<String>,
    raw: Option<bool>,
) -> Result<Option<Exported>, CommandError> {
    let format = Format::parse(&format)?;
    let raw = raw.unwrap_or(false);
    let q = RangeQuery {
        sensor: sensor.clone(),
        metric: metric.clone(),
        from,
        to,
        points: None,
    };
    let (from, to, _) = q.plan(now_ms()).map_err(query_error)?;
    let asked = asked(q)?;
    let api = shell.api()?;
    let name = export::default_file_name(&asked.name(), &metric, from, to, format);
    // The page sends the dialog's title in its language; this is its English wording.
    let title = title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| {
        format!(
            "Export {sensor} {metric} as {}",
            format.extension().to_uppercase()
        )
    });
    let Some(path) = export::ask_path(&window, name, title, format).await? else {
        return Ok(None);
    };
    tauri::async_runtime::spawn_blocking(move || {
        let applied = api.export_check(&asked, raw).map_err(query_error)?;
        let mut done = export::export_with(
            &path,
            format,
            |out| api.export_asked_csv(&asked, raw, out).map_err(query_error),
            |chart| api.export_asked_chart(&asked, chart).map_err(query_error),
        )?;
        done.calibration = Some(applied);
        Ok(done)
    })
    .await
    .map_err(|e| CommandError::new("io", format!("the export stopped: {e}")))?
    .map(Some)
}

/// `POST /api/v1/sensors/calibration`: `value × scale + offset` from now on, for the whole
/// history (offset 0 and scale 1 remove it).
#[tauri::command]
pub async fn set_calibration(
    shell: State<'_, Shell>,
    sensor: String,
    metric: String,
    offset: Option<f64>,
    scale: Option<f64>,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let (s, m) = (sensor.clone(), metric.clone());
    let set =
        blocking(move || api.set_calibration(&s, &m, offset.unwrap_or(0.0), scale.unwrap_or(1.0)))
            .await?
            .map_err(|e| match e {
                e @ SetCalibrationError::UnknownSeries { .. } => {
                    CommandError::new("not_found", e.to_string())
                }
                e @ SetCalibrationError::Invalid(_) => CommandError::invalid(e.to_string()),
                SetCalibrationError::Store(s) => s.into(),
            })?;
    Ok(json!({ "sensor": sensor, "metric": metric, "offset": set.offset, "scale": set.scale }))
}

/// `POST /api/v1/sensors/name`: the sensor's name on the dashboard (empty: the device's).
#[tauri::command]
pub async fn rename_sensor(
    shell: State<'_, Shell>,
    sensor: String,
    name: String,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let s = sensor.clone();
    let name = blocking(move || api.rename_sensor(&s, &name))
        .await?
        .map_err(housekeeping_error)?;
    Ok(json!({ "sensor": sensor, "name": name }))
}

/// `POST /api/v1/sensors/hidden`: off the dashboard (still collected), or back on it.
#[tauri::command]
pub async fn hide_sensor(
    shell: State<'_, Shell>,
    sensor: String,
    hidden: bool,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let s = sensor.clone();
    blocking(move || api.hide_sensor(&s, hidden))
        .await?
        .map_err(housekeeping_error)?;
    Ok(json!({ "sensor": sensor, "hidden": hidden }))
}

/// `DELETE /api/v1/sensors/{id}?confirm={id}`: the sensor and all its data.
#[tauri::command]
pub async fn delete_sensor(
    shell: State<'_, Shell>,
    sensor: String,
    confirm: Option<String>,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let s = sensor.clone();
    blocking(move || api.delete_sensor(&s, confirm.as_deref()))
        .await?
        .map_err(housekeeping_error)?;
    Ok(json!({ "deleted": sensor }))
}

/// `POST /api/v1/sensors/merge`: `from`'s history moved into `into`, then `from` deleted.
#[tauri::command]
pub async fn merge_sensors(
    shell: State<'_, Shell>,
    from: String,
    into: String,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let outcome = blocking(move || api.merge_sensors(&from, &into))
        .await?
        .map_err(housekeeping_error)?;
    Ok(json!(outcome))
}

fn housekeeping_error(e: HousekeepingError) -> CommandError {
    match e {
        HousekeepingError::Store(s) => s.into(),
        e @ HousekeepingError::UnknownSensor(_) => CommandError::new("not_found", e.to_string()),
        e @ HousekeepingError::NotConfirmed(_) => {
            CommandError::new("confirmation_required", e.to_string())
        }
        other => CommandError::invalid(other.to_string()),
    }
}

/// `POST /api/v1/token/regenerate`: a new token, in force at once (the old one is refused from
/// the next request on) and kept in the database. A token given with `--token` is changed
/// there (`token_fixed`).
#[tauri::command]
pub async fn regenerate_token(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    let api = shell.api()?;
    match blocking(move || api.regenerate_token()).await? {
        Ok(token) => Ok(json!({ "token": token.expose() })),
        Err(e @ TokenError::NotStored) => Err(CommandError::new("token_fixed", e.to_string())),
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}

/// Whether a tray is available, and what closing the window and logging in do.
#[tauri::command]
pub async fn background<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> Result<BackgroundView, CommandError> {
    let api = shell.api()?;
    blocking(move || background::view(&app, &api)).await?
}

/// Changes what closing the window (`keep_in_tray`) and logging in (`autostart`) do.
#[tauri::command]
pub async fn set_background<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    keep_in_tray: Option<bool>,
    autostart: Option<bool>,
) -> Result<BackgroundView, CommandError> {
    let api = shell.api()?;
    blocking(move || background::change(&app, &api, keep_in_tray, autostart)).await?
}

/// `GET /api/v1/forwarders`.
#[tauri::command]
pub async fn forwarders(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "forwarders": shell.api()?.forwarders() }))
}

/// `POST /api/v1/forwarders`: adds a forwarder, kept in the database.
#[tauri::command]
pub async fn add_forwarder(shell: State<'_, Shell>, url: String) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let added = blocking(move || api.add_forwarder(&url)).await?;
    Ok(json!(added.map_err(forward_error)?))
}

/// `POST /api/v1/forwarders/remove`.
#[tauri::command]
pub async fn remove_forwarder(shell: State<'_, Shell>, id: i64) -> Result<Value, CommandError> {
    let api = shell.api()?;
    blocking(move || api.remove_forwarder(id))
        .await?
        .map_err(forward_error)?;
    Ok(json!({ "removed": id }))
}

/// `GET /api/v1/alerts/rules`.
#[tauri::command]
pub async fn alert_rules(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "rules": shell.api()?.alert_rules() }))
}

/// `POST /api/v1/alerts/rules`: `rule` is the rule's JSON.
#[tauri::command]
pub async fn create_alert_rule(
    shell: State<'_, Shell>,
    rule: Value,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let view = blocking(move || api.create_alert_rule(&rule)).await?;
    Ok(json!(view.map_err(alert_error)?))
}

/// `PUT /api/v1/alerts/rules/{id}`.
#[tauri::command]
pub async fn update_alert_rule(
    shell: State<'_, Shell>,
    id: i64,
    rule: Value,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let view = blocking(move || api.update_alert_rule(id, &rule)).await?;
    Ok(json!(view.map_err(alert_error)?))
}

/// `DELETE /api/v1/alerts/rules/{id}`.
#[tauri::command]
pub async fn delete_alert_rule(shell: State<'_, Shell>, id: i64) -> Result<Value, CommandError> {
    let api = shell.api()?;
    blocking(move || api.delete_alert_rule(id))
        .await?
        .map_err(alert_error)?;
    Ok(json!({ "deleted": id }))
}

/// `GET /api/v1/alerts/presets`.
#[tauri::command]
pub async fn alert_presets(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "presets": shell.api()?.alert_presets() }))
}

/// `GET /api/v1/alerts`: active alerts and the last 200 transitions.
#[tauri::command]
pub async fn alerts(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let list = blocking(move || api.alerts()).await??;
    Ok(json!(list))
}

/// `GET /api/v1/alerts/webhooks`.
#[tauri::command]
pub async fn alert_webhooks(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "webhooks": shell.api()?.alert_webhooks() }))
}

/// `POST /api/v1/alerts/webhooks`.
#[tauri::command]
pub async fn add_alert_webhook(
    shell: State<'_, Shell>,
    url: String,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let view = blocking(move || api.add_alert_webhook(&url)).await?;
    Ok(json!(view.map_err(alert_error)?))
}

/// `DELETE /api/v1/alerts/webhooks/{id}`.
#[tauri::command]
pub async fn remove_alert_webhook(shell: State<'_, Shell>, id: i64) -> Result<Value, CommandError> {
    let api = shell.api()?;
    blocking(move || api.remove_alert_webhook(id))
        .await?
        .map_err(alert_error)?;
    Ok(json!({ "removed": id }))
}

/// The HTTP API's error codes, so the page handles both front doors alike.
fn alert_error(e: AlertError) -> CommandError {
    match e {
        AlertError::Store(s) => s.into(),
        AlertError::Rule(r) => CommandError::new("invalid_rule", r.to_string()),
        e @ (AlertError::UnknownRule(_) | AlertError::UnknownWebhook(_)) => {
            CommandError::new("not_found", e.to_string())
        }
        e @ AlertError::Webhook(_) => CommandError::new("invalid_webhook", e.to_string()),
        e @ AlertError::Thread(_) => CommandError::new("engine", e.to_string()),
    }
}

fn forward_error(e: ForwardError) -> CommandError {
    match e {
        ForwardError::Store(s) => s.into(),
        ForwardError::Unknown(_) => CommandError::new("not_found", e.to_string()),
        other => CommandError::invalid(other.to_string()),
    }
}

/// `GET /api/v1/ports`.
#[tauri::command]
pub async fn ports(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "ports": shell.api()?.ports() }))
}

/// `POST /api/v1/ports/release` or `/claim`.
#[tauri::command]
pub async fn port_action(
    shell: State<'_, Shell>,
    action: String,
    id: String,
) -> Result<Value, CommandError> {
    let release = match action.as_str() {
        "release" => true,
        "claim" => false,
        other => {
            return Err(CommandError::invalid(format!(
                "unknown port action {other:?}: release or claim"
            )))
        }
    };
    shell
        .api()?
        .set_port_released(&id, release)
        .map_err(|e| CommandError::new("not_found", e.to_string()))?;
    Ok(json!({ "id": id, "released": release }))
}

/// `POST /api/v1/ports/settings`: a board's temperature unit and ignored series.
#[tauri::command]
pub async fn port_settings(
    shell: State<'_, Shell>,
    id: String,
    settings: clima_model::serial::BoardSettings,
) -> Result<Value, CommandError> {
    let api = shell.api()?;
    let saved = blocking({
        let id = id.clone();
        move || api.set_board_settings(&id, settings)
    })
    .await?
    .map_err(|e| CommandError::new("not_found", e.to_string()))?;
    Ok(json!({ "id": id, "settings": saved }))
}

/// Starts the demo board (`start: true`), or tells whether this build has one (every build
/// has: without a pseudo-terminal its lines go straight to the parser).
#[tauri::command]
pub async fn demo(shell: State<'_, Shell>, start: bool) -> Result<Value, CommandError> {
    let api = shell.api()?;
    if !start {
        return Ok(json!({ "available": true }));
    }
    let started = blocking({
        let api = api.clone();
        move || api.start_demo()
    })
    .await?
    .map_err(|e| CommandError::new("demo_unavailable", e.to_string()))?;
    Ok(json!({ "sensor": api.demo_sensor(), "started": started }))
}

/// Sets the live-update interval (ms, 100 to 10,000); returns the interval in force.
#[tauri::command]
pub fn set_update_interval(shell: State<'_, Shell>, ms: u64) -> u64 {
    shell.set_interval(ms)
}

/// The page reports its first painted dashboard; logged as time since launch.
#[tauri::command]
pub fn painted(shell: State<'_, Shell>) -> u64 {
    let ms = shell.launched.elapsed().as_millis() as u64;
    let mut first = shell.first_paint_ms.lock().expect("first paint");
    if first.is_none() {
        *first = Some(ms);
        tracing::info!(ms, "first dashboard painted");
    }
    first.unwrap_or(ms)
}

/// Runs a blocking engine call (one that touches the database) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::new("internal", format!("the command failed: {e}")))
}

fn query_error(e: QueryError) -> CommandError {
    match e {
        QueryError::InvalidRange(m) => CommandError::invalid(m),
        e @ QueryError::UnknownSeries { .. } => CommandError::new("not_found", e.to_string()),
        QueryError::Chart(c) => CommandError::invalid(c.to_string()),
        QueryError::Store(s) => s.into(),
    }
}
