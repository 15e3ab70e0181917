//! The commands the page calls through IPC: each a short adapter from arguments to the engine,
//! answering in the same JSON shapes as the HTTP API so the page has one code path.

use clima_core::chart::{self, ChartSpec, TempUnit};
use clima_core::http::TokenError;
use clima_core::now_ms;
use clima_model::downsample::BucketPlan;
use clima_model::metric::unit_of;
use serde_json::{json, Value};
use tauri::{Runtime, State, Window};

use crate::error::CommandError;
use crate::export::{self, Exported, Format};
use crate::shell::{ingest_addresses, Shell};

const DAY_MS: i64 = 86_400_000;

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
    pub db: String,
    pub update_interval_ms: u64,
    pub version: &'static str,
}

#[tauri::command]
pub fn status(shell: State<'_, Shell>) -> Result<Status, CommandError> {
    let interval = shell.interval_ms.load(std::sync::atomic::Ordering::Relaxed);
    shell.with(|r| {
        let listen = r.engine.local_addr();
        Ok(Status {
            listen: listen.to_string(),
            port: listen.port(),
            addresses: ingest_addresses(listen),
            token: r.engine.token().map(|t| t.expose().to_owned()),
            token_regenerable: r.engine.token_regenerable(),
            store_problem: r.engine.writer().problem(),
            db: r.db.display().to_string(),
            update_interval_ms: interval,
            version: env!("CARGO_PKG_VERSION"),
        })
    })
}

/// `GET /api/v1/sensors`.
#[tauri::command]
pub async fn sensors(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    Ok(json!({ "sensors": shell.reader()?.sensors()? }))
}

/// `GET /api/v1/readings`: `from` and `to` in unix ms (default the last 24 h).
#[tauri::command]
pub async fn readings(
    shell: State<'_, Shell>,
    sensor: String,
    metric: String,
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
) -> Result<Value, CommandError> {
    let (from, to, plan) = plan(from, to, points)?;
    let buckets = range(&shell, &sensor, &metric, &plan)?;
    Ok(json!({
        "sensor": sensor, "metric": metric, "unit": unit_of(&metric), "from": from, "to": to,
        "bucket_ms": plan.width, "points": buckets,
    }))
}

/// `GET /api/v1/chart.svg`, with the plot area in the answer instead of a header.
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
) -> Result<chart::Chart, CommandError> {
    let (_, _, plan) = plan(from, to, points)?;
    let temp_unit =
        TempUnit::parse(unit.as_deref().unwrap_or("C")).map_err(CommandError::invalid)?;
    let buckets = range(&shell, &sensor, &metric, &plan)?;
    let spec = ChartSpec {
        width,
        height,
        unit: unit_of(&metric).map(str::to_owned),
        temp_unit,
        bucket_ms: plan.width,
        utc_offset_s: tz.unwrap_or(0).clamp(-18 * 60, 18 * 60) * 60,
        title: None,
    };
    chart::render(&buckets, &spec).map_err(|e| CommandError::invalid(e.to_string()))
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
) -> Result<Option<Exported>, CommandError> {
    let format = Format::parse(&format)?;
    let (from, to, _) = plan(from, to, None)?;
    let reader = shell.reader()?;
    let name = export::default_file_name(&sensor, &metric, from, to, format);
    let title = format!(
        "Export {sensor} {metric} as {}",
        format.extension().to_uppercase()
    );
    let Some(path) = export::ask_path(&window, name, title, format).await? else {
        return Ok(None);
    };
    tauri::async_runtime::spawn_blocking(move || {
        export::export_to(&reader, &path, format, &sensor, &metric, from, to)
    })
    .await
    .map_err(|e| CommandError::new("io", format!("the export stopped: {e}")))?
    .map(Some)
}

/// `POST /api/v1/token/regenerate`: a new token, in force at once (the old one is refused from
/// the next request on) and kept in the database. A token given with `--token` is changed
/// there (`token_fixed`).
#[tauri::command]
pub async fn regenerate_token(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    shell.with(|r| match r.engine.regenerate_token() {
        Ok(token) => Ok(json!({ "token": token.expose() })),
        Err(e @ TokenError::NotStored) => Err(CommandError::new("token_fixed", e.to_string())),
        Err(TokenError::Store(e)) => Err(e.into()),
    })
}

/// `GET /api/v1/ports`.
#[tauri::command]
pub async fn ports(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    shell.with(|r| Ok(json!({ "ports": r.engine.boards().ports() })))
}

/// `POST /api/v1/ports/release` or `/claim`.
#[tauri::command]
pub async fn port_action(
    shell: State<'_, Shell>,
    action: String,
    id: String,
) -> Result<Value, CommandError> {
    shell.with(|r| {
        let boards = r.engine.boards();
        let result = match action.as_str() {
            "release" => boards.release(&id),
            "claim" => boards.claim(&id),
            other => {
                return Err(CommandError::invalid(format!(
                    "unknown port action {other:?}: release or claim"
                )))
            }
        };
        result.map_err(|e| CommandError::new("not_found", e.to_string()))?;
        Ok(json!({ "id": id, "released": action == "release" }))
    })
}

/// Starts the demo board (`start: true`), or tells whether this build has one. Goes through
/// the engine's own HTTP port, where the demo board lives.
#[tauri::command]
pub async fn demo(shell: State<'_, Shell>, start: bool) -> Result<Value, CommandError> {
    let (local, token) =
        shell.with(|r| Ok((r.local, r.engine.token().map(|t| t.expose().to_owned()))))?;
    let url = format!("http://{local}/api/v1/demo");
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(10))
        .build();
    let auth = token.map(|t| format!("Bearer {t}")).unwrap_or_default();
    let answer = if start {
        agent.post(&url).set("Authorization", &auth).send_string("")
    } else {
        agent.get(&url).set("Authorization", &auth).call()
    };
    match answer {
        Ok(resp) => Ok(json_body(resp)),
        // The route exists but takes POST: the demo board is there.
        Err(ureq::Error::Status(405, _)) if !start => Ok(json!({ "available": true })),
        Err(ureq::Error::Status(404, _)) if !start => Ok(json!({ "available": false })),
        Err(ureq::Error::Status(code, resp)) => {
            let body = json_body(resp);
            let kind = body["error"].as_str().unwrap_or("unavailable").to_owned();
            let message = body["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the demo answered {code}"));
            Err(CommandError::new(kind, message))
        }
        Err(e) => Err(CommandError::new(
            "unavailable",
            format!("the engine did not answer: {e}"),
        )),
    }
}

fn json_body(resp: ureq::Response) -> Value {
    resp.into_string()
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| json!({}))
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

fn plan(
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
) -> Result<(i64, i64, BucketPlan), CommandError> {
    let to = to.unwrap_or_else(now_ms);
    let from = from.unwrap_or(to - DAY_MS);
    let plan = BucketPlan::new(from, to, points.unwrap_or(500)).map_err(CommandError::invalid)?;
    Ok((from, to, plan))
}

fn range(
    shell: &Shell,
    sensor: &str,
    metric: &str,
    plan: &BucketPlan,
) -> Result<Vec<clima_model::downsample::Bucket>, CommandError> {
    shell.reader()?.range(sensor, metric, plan)?.ok_or_else(|| {
        CommandError::new(
            "not_found",
            format!("sensor {sensor:?} has no metric {metric:?}"),
        )
    })
}
