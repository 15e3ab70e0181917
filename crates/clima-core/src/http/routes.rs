//! The HTTP API: which path and method go to which handler, and the handlers themselves, each a
//! thin adapter from a request to the model's parsers and the engine's [`Api`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use clima_model::json::{self, BodyError};
use clima_model::line_protocol::{self, Precision};
use clima_model::{push, timestamp, Reading, Rejected, SensorId};
use serde_json::json;

use super::guard::{self, Client};
use super::reply::Reply;
use super::request::{media_type, param, query_pairs, read_body};
use super::{assets, sse, Front};
use crate::alert::AlertError;
use crate::api::{
    Asked, ChartOptions, DemoError, HousekeepingError, PortActionError, QueryError, RangeQuery,
    RetentionError, SetCalibrationError, TokenError,
};
use crate::chart::{DateStyle, TempUnit};
use crate::forward::ForwardError;
use crate::now_ms;
use crate::store::export::ChartFormat;
use crate::store::{Source, StoreError};

type Shared = State<Arc<Front>>;
type Pairs = Vec<(String, String)>;

/// Every route. The token guards the API but not `/healthz`, `/ping` or the dashboard's files;
/// every request passes [`guard::gate`] first.
pub fn router(front: Arc<Front>) -> Router {
    let api = Router::new()
        .route("/api/v1/readings", get(get_range).post(post_readings))
        .route("/api/v1/push", get(push_reading).post(push_reading))
        .route("/api/v1/sensors", get(get_sensors))
        .route("/api/v1/sensors/retention", post(set_retention))
        .route("/api/v1/sensors/calibration", post(set_calibration))
        .route("/api/v1/sensors/name", post(rename_sensor))
        .route("/api/v1/sensors/hidden", post(hide_sensor))
        .route("/api/v1/sensors/merge", post(merge_sensors))
        .route("/api/v1/sensors/{id}", delete(delete_sensor))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/chart.svg", get(get_chart))
        .route("/api/v1/export.csv", get(export_csv))
        .route(
            "/api/v1/export.svg",
            get(|s: Shared, q: RawQuery| export_chart(s, q, ChartFormat::Svg)),
        )
        .route(
            "/api/v1/export.png",
            get(|s: Shared, q: RawQuery| export_chart(s, q, ChartFormat::Png)),
        )
        .route("/api/v1/ports", get(get_ports))
        .route(
            "/api/v1/ports/release",
            post(|s: Shared, h: HeaderMap, b: Body| port_action(s, h, b, true)),
        )
        .route(
            "/api/v1/ports/claim",
            post(|s: Shared, h: HeaderMap, b: Body| port_action(s, h, b, false)),
        )
        .route("/api/v1/ports/label", post(label_port))
        .route("/api/v1/ports/settings", post(board_settings))
        .route("/api/v1/demo", post(start_demo))
        .route(
            "/api/v1/forwarders",
            get(get_forwarders).post(add_forwarder),
        )
        .route("/api/v1/forwarders/remove", post(remove_forwarder))
        .route("/api/v1/alerts", get(get_alerts))
        .route(
            "/api/v1/alerts/rules",
            get(get_alert_rules).post(create_alert_rule),
        )
        .route(
            "/api/v1/alerts/rules/{id}",
            put(update_alert_rule).delete(delete_alert_rule),
        )
        .route("/api/v1/alerts/presets", get(get_alert_presets))
        .route(
            "/api/v1/alerts/webhooks",
            get(get_alert_webhooks).post(add_alert_webhook),
        )
        .route("/api/v1/alerts/webhooks/{id}", delete(remove_alert_webhook))
        .route("/metrics", get(metrics))
        .route("/api/v1/token/regenerate", post(regenerate_token))
        .route("/write", post(write))
        .route("/api/v2/write", post(write))
        .route("/query", get(influx_query).post(influx_query))
        .route_layer(middleware::from_fn_with_state(front.clone(), guard::token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ping", get(ping))
        .merge(api)
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(front.clone(), guard::gate))
        .layer(middleware::from_fn_with_state(front.clone(), guard::log))
        .with_state(front)
}

/// axum answers a wrong method with an empty 405; say what the route takes, in JSON. Applied
/// outside the router, where the `Allow` header has been set.
pub fn explain_405(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key("content-type")
    {
        return response;
    }
    let allow = response
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect::<Vec<_>>();
    Reply::error(
        405,
        "method_not_allowed",
        format!("this endpoint takes {}", allow.join(" or ")),
    )
    .with_header("Allow", allow.join(", "))
    .into_response()
}

async fn fallback(State(front): Shared, method: Method, uri: axum::http::Uri) -> Reply {
    let path = uri.path();
    match method {
        Method::GET | Method::HEAD if !path.starts_with("/api/") => {
            assets::serve(front.ui_dir.as_deref(), path)
        }
        _ => Reply::error(
            404,
            "not_found",
            format!("no such endpoint: {path}; the API lives under /api/v1/"),
        ),
    }
}

async fn healthz(State(front): Shared) -> Reply {
    let closed = front.closed.snapshot();
    match front.api.store_problem() {
        None => Reply::json(
            200,
            &json!({ "status": "ok", "connections_closed": closed, "forwarders": front.api.forwarders() }),
        ),
        Some(problem) => Reply::json(
            503,
            &json!({ "status": "store_unavailable", "message": problem, "connections_closed": closed, "forwarders": front.api.forwarders() }),
        ),
    }
}

async fn ping() -> Reply {
    Reply::empty(204).with_header("X-Influxdb-Version", "1.8-clima")
}

fn pairs(q: Option<String>) -> Pairs {
    query_pairs(q.as_deref().unwrap_or(""))
}

/// Runs a blocking engine call (one that touches the database) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Reply> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Reply::error(500, "internal", format!("the request failed: {e}")))
}

impl From<StoreError> for Reply {
    fn from(e: StoreError) -> Reply {
        tracing::warn!(error = %e, "request refused: store unavailable");
        Reply::error(503, "store_unavailable", e.to_string()).with_header("Retry-After", "5")
    }
}

impl From<QueryError> for Reply {
    fn from(e: QueryError) -> Reply {
        match e {
            QueryError::InvalidRange(m) => Reply::error(400, "invalid_range", m),
            e @ QueryError::UnknownSeries { .. } => {
                Reply::error(404, "unknown_series", e.to_string())
            }
            QueryError::Chart(c) => Reply::error(400, "invalid_chart", c.to_string()),
            QueryError::Store(s) => s.into(),
        }
    }
}

impl From<PortActionError> for Reply {
    fn from(e: PortActionError) -> Reply {
        match e {
            PortActionError::Port(p) => Reply::error(404, "unknown_port", p.to_string()),
            e @ PortActionError::Label(_) => Reply::error(400, "invalid_label", e.to_string()),
            e @ PortActionError::Settings(_) => {
                Reply::error(400, "invalid_settings", e.to_string())
            }
            PortActionError::Store(s) => s.into(),
        }
    }
}

impl From<ForwardError> for Reply {
    fn from(e: ForwardError) -> Reply {
        match e {
            e @ ForwardError::Target(_) => Reply::error(400, "invalid_target", e.to_string()),
            e @ ForwardError::Exists(_) => Reply::error(409, "forwarder_exists", e.to_string()),
            e @ ForwardError::Unknown(_) => Reply::error(404, "unknown_forwarder", e.to_string()),
            e @ ForwardError::CommandLine(_) => {
                Reply::error(409, "command_line_forwarder", e.to_string())
            }
            ForwardError::Store(s) => s.into(),
        }
    }
}

impl From<AlertError> for Reply {
    fn from(e: AlertError) -> Reply {
        match e {
            AlertError::Rule(r) => Reply::json(
                422,
                &json!({ "error": "invalid_rule", "field": r.field, "message": r.to_string() }),
            ),
            e @ AlertError::UnknownRule(_) => Reply::error(404, "unknown_rule", e.to_string()),
            e @ AlertError::Webhook(_) => Reply::error(400, "invalid_webhook", e.to_string()),
            e @ AlertError::UnknownWebhook(_) => {
                Reply::error(404, "unknown_webhook", e.to_string())
            }
            AlertError::Store(s) => s.into(),
            e @ AlertError::Thread(_) => Reply::error(500, "internal", e.to_string()),
        }
    }
}

fn require_media(headers: &HeaderMap, accepted: &[&str], hint: &str) -> Result<(), Reply> {
    let media = media_type(headers);
    if media.is_empty() || accepted.contains(&media.as_str()) {
        Ok(())
    } else {
        Err(Reply::error(
            415,
            "unsupported_media_type",
            format!("Content-Type {media:?} is not accepted here: {hint}"),
        ))
    }
}

/// A JSON body of the shape `T`; `shape` says it in the error.
async fn json_body<T: serde::de::DeserializeOwned>(
    front: &Front,
    headers: &HeaderMap,
    body: Body,
    shape: &str,
) -> Result<T, Reply> {
    require_media(
        headers,
        &["application/json"],
        &format!("send {shape} as application/json"),
    )?;
    let body = read_body(headers, body, front.body_timeout).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Reply::error(400, "invalid_body", format!("expected {shape}: {e}")))
}

/// Conflicts listed in a reply at most; `conflicts` counts them all.
const CONFLICTS_LISTED: usize = 10;

/// What a stored request tells its client besides success: duplicates (identical resends),
/// conflicts (a different value already stored at that time: the stored one stands) and what
/// was refused (whole items, or single fields of stored items).
struct Outcome {
    accepted: usize,
    duplicates: usize,
    conflicts: Vec<serde_json::Value>,
    rejected: Vec<Rejected>,
}

impl Outcome {
    /// The answer to a request of which some was refused: what was stored, and why the rest
    /// was not.
    fn partial(&self, status: u16, what: &str) -> Reply {
        let mut body = self.json();
        body.insert("error".into(), "partially_accepted".into());
        body.insert("message".into(), format!("{what}: see 'rejected'").into());
        Reply::json(status, &body)
    }

    fn json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("accepted".into(), self.accepted.into());
        m.insert("duplicates".into(), self.duplicates.into());
        m.insert("conflicts".into(), self.conflicts.len().into());
        if !self.conflicts.is_empty() {
            let listed: Vec<_> = self
                .conflicts
                .iter()
                .take(CONFLICTS_LISTED)
                .cloned()
                .collect();
            m.insert("conflicting".into(), listed.into());
        }
        if !self.rejected.is_empty() {
            m.insert("rejected".into(), json!(self.rejected));
        }
        m
    }
}

/// Splits parsed items (each with its position or line number) into readings to store and
/// rejections, stores the readings and answers after the commit: `ok(outcome)` when every item
/// was stored (perhaps without some fields), or `partial_status` when whole items were refused.
async fn store_items(
    front: &Front,
    items: Vec<(usize, Result<Reading, Rejected>)>,
    source: Source,
    received_at: i64,
    partial_status: u16,
    ok: impl FnOnce(&Outcome) -> Reply,
) -> Reply {
    let mut good = Vec::with_capacity(items.len());
    let (mut rejected, mut field_conflicts, mut items_refused) = (Vec::new(), Vec::new(), 0);
    for (i, item) in items {
        match item {
            Ok(mut r) => {
                rejected.extend(r.refused.drain(..).map(|e| Rejected::field(i, e)));
                field_conflicts.extend(r.conflicts.drain(..).map(|c| {
                    json!({ "index": i, "sensor": r.sensor.as_str(), "field": c.field, "metric": c.metric, "stored": c.kept, "sent": c.sent })
                }));
                good.push(r);
            }
            Err(r) => {
                items_refused += 1;
                rejected.push(r);
            }
        }
    }
    front.api.count_rejected(source, rejected.len());
    if good.is_empty() {
        let first = rejected
            .first()
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        return Reply::json(
            422,
            &json!({ "error": "invalid_reading", "message": format!("nothing stored: {first}"), "rejected": rejected }),
        );
    }
    let accepted = good.len();
    let receipt = match front.api.ingest(good, source, received_at).await {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let mut conflicts = field_conflicts;
    conflicts.extend(receipt.conflicts.iter().map(|c| json!(c)));
    let outcome = Outcome {
        accepted,
        duplicates: receipt.duplicates,
        conflicts,
        rejected,
    };
    if items_refused == 0 {
        return ok(&outcome);
    }
    outcome.partial(
        partial_status,
        &format!("{accepted} readings stored, {items_refused} refused"),
    )
}

async fn post_readings(
    State(front): Shared,
    RawQuery(q): RawQuery,
    Extension(Client(client)): Extension<Client>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let result = async {
        require_media(
            &headers,
            &["application/json", "text/json"],
            "send JSON with Content-Type: application/json",
        )?;
        let pairs = pairs(q);
        // Readings that name no sensor: `?sensor=`, else the client's address.
        let fallback = match param(&pairs, "sensor") {
            Some(s) => SensorId::parse(s)
                .map_err(|e| Reply::error(400, "invalid_sensor", e.to_string()))?,
            None => SensorId::from_client(client),
        };
        let body = read_body(&headers, body, front.body_timeout).await?;
        let received_at = now_ms();
        let items = json::parse_body(&body, &fallback, received_at).map_err(|e| match e {
            BodyError::TooMany(_) => Reply::error(413, "batch_too_large", e.to_string()),
            _ => Reply::error(400, "invalid_body", e.to_string()),
        })?;
        Ok::<_, Reply>(
            store_items(
                &front,
                items.into_iter().enumerate().collect(),
                Source::Http,
                received_at,
                207,
                |o| Reply::json(201, &o.json()),
            )
            .await,
        )
    };
    result.await.unwrap_or_else(|r| r)
}

/// InfluxDB 1.x's `/write` and InfluxDB 2's `/api/v2/write` (also what InfluxDB 3 and
/// Telegraf's `influxdb_v2` output send): the same line protocol; `db`, `org` and `bucket` are
/// accepted and not needed.
async fn write(
    State(front): Shared,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    line_protocol_write(&front, &pairs(q), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn line_protocol_write(
    front: &Front,
    pairs: &Pairs,
    headers: &HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    require_media(
        headers,
        &[
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
        ],
        "send line protocol as text/plain",
    )?;
    let precision = Precision::parse(param(pairs, "precision").unwrap_or(""))
        .map_err(|e| Reply::error(400, "invalid_precision", e))?;
    let body = read_body(headers, body, front.body_timeout).await?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        Reply::error(
            400,
            "invalid_body",
            format!("line protocol must be UTF-8 text: {e}"),
        )
    })?;
    let received_at = now_ms();
    let items = line_protocol::parse_numbered(text, precision, received_at);
    // As InfluxDB: 204 for a body with nothing to store (empty, comments, only strings), and
    // 400 (not the JSON API's 422) when no line is valid.
    if items.iter().all(|(_, item)| item.is_err()) {
        let rejected: Vec<Rejected> = items
            .into_iter()
            .filter_map(|(_, item)| item.err())
            .collect();
        let Some(first) = rejected.first() else {
            return Ok(Reply::empty(204));
        };
        front
            .api
            .count_rejected(Source::LineProtocol, rejected.len());
        return Err(Reply::json(
            400,
            &json!({ "error": "invalid_reading", "message": format!("nothing stored: {}", first.reason), "rejected": rejected }),
        ));
    }
    // InfluxDB answers a partial write with 400, so Telegraf does not resend the good lines;
    // a line stored without a refused field is a partial write too. A success has no body:
    // conflicts are counted in a header.
    Ok(store_items(
        front,
        items,
        Source::LineProtocol,
        received_at,
        400,
        |o| match o.conflicts.len() {
            _ if !o.rejected.is_empty() => o.partial(400, "some fields were refused"),
            0 => Reply::empty(204),
            n => Reply::empty(204).with_header("X-Clima-Conflicts", n.to_string()),
        },
    )
    .await)
}

async fn push_reading(
    State(front): Shared,
    RawQuery(q): RawQuery,
    Extension(Client(client)): Extension<Client>,
) -> Reply {
    let received_at = now_ms();
    let item = push::parse(&pairs(q), &SensorId::from_client(client), received_at);
    store_items(
        &front,
        vec![(0, item)],
        Source::Push,
        received_at,
        207,
        |o| Reply::json(200, &o.json()),
    )
    .await
}

async fn get_sensors(State(front): Shared) -> Result<Reply, Reply> {
    let api = front.api.clone();
    let sensors = blocking(move || api.sensors()).await??;
    Ok(Reply::json(200, &json!({ "sensors": sensors })))
}

/// A whole-number query parameter, or `default` when absent.
fn number_param(pairs: &Pairs, key: &str, default: i64) -> Result<i64, Reply> {
    match param(pairs, key) {
        Some(v) => v.parse::<i64>().map_err(|_| {
            Reply::error(
                400,
                "invalid_number",
                format!("{key} {v:?} is not a whole number"),
            )
        }),
        None => Ok(default),
    }
}

/// The series and range of a query string: `sensor`, `metric`, `from`, `to` (RFC 3339 or unix
/// seconds) and `points`.
fn range_query(pairs: &Pairs) -> Result<RangeQuery, Reply> {
    let sensor = param(pairs, "sensor")
        .ok_or_else(|| Reply::error(400, "missing_sensor", "pass ?sensor=ID"))?;
    let metric = param(pairs, "metric").ok_or_else(|| {
        Reply::error(400, "missing_metric", "pass ?metric=NAME, e.g. temperature")
    })?;
    let time = |key: &str| {
        param(pairs, key)
            .map(|v| {
                timestamp::from_text(v)
                    .map_err(|e| Reply::error(400, "invalid_time", format!("{key}: {e}")))
            })
            .transpose()
    };
    let points = param(pairs, "points")
        .map(|_| number_param(pairs, "points", 0))
        .transpose()?
        .map(|n| n.clamp(0, i64::from(u32::MAX)) as usize);
    Ok(RangeQuery {
        sensor: sensor.to_owned(),
        metric: metric.to_owned(),
        from: time("from")?,
        to: time("to")?,
        points,
    })
}

/// A query of one sensor, or of several (`sensor=a,b,c`, at most 8) to compare.
fn asked(pairs: &Pairs) -> Result<Asked, Reply> {
    Asked::new(range_query(pairs)?).map_err(|e| {
        let code = match e {
            clima_model::sensor::SensorListError::TooMany(_) => "too_many_sensors",
            _ => "invalid_sensor",
        };
        Reply::error(400, code, e.to_string())
    })
}

/// One series' buckets, or several sensors' series of one metric (`"series": [...]`) on the
/// same buckets when `sensor` lists several.
async fn get_range(State(front): Shared, RawQuery(q): RawQuery) -> Result<Reply, Reply> {
    let asked = asked(&pairs(q))?;
    let api = front.api.clone();
    Ok(match asked {
        Asked::One(query) => Reply::json(200, &blocking(move || api.range(&query)).await??),
        Asked::Several(query) => Reply::json(200, &blocking(move || api.compare(&query)).await??),
    })
}

/// One series drawn as SVG, for the dashboard. `X-Clima-Plot-Area` tells the page where the
/// data sits in the image (`left,top,width,height`), so it can map the pointer to the buckets
/// of `/api/v1/readings` with the same `from`, `to` and `points`.
async fn get_chart(State(front): Shared, RawQuery(q): RawQuery) -> Result<Reply, Reply> {
    let pairs = pairs(q);
    let asked = asked(&pairs)?;
    let temp_unit = TempUnit::parse(param(&pairs, "unit").unwrap_or("C"))
        .map_err(|e| Reply::error(400, "invalid_unit", e.to_string()))?;
    let size = |key: &str, default: i64| {
        number_param(&pairs, key, default).map(|n| n.clamp(0, i64::from(u32::MAX)) as u32)
    };
    let options = ChartOptions {
        width: size("width", 640)?,
        height: size("height", 240)?,
        temp_unit,
        // Minutes east of UTC.
        utc_offset_s: (number_param(&pairs, "tz", 0)?.clamp(-18 * 60, 18 * 60) * 60) as i32,
        dates: DateStyle::for_language(param(&pairs, "lang").unwrap_or("en")),
    };
    let api = front.api.clone();
    let chart = blocking(move || api.asked_chart(&asked, &options)).await??;
    let p = chart.plot;
    Ok(Reply {
        content_type: "image/svg+xml",
        ..Reply::empty(200)
    }
    .with_body(chart.svg.into_bytes())
    .with_header(
        "X-Clima-Plot-Area",
        format!("{},{},{},{}", p.left, p.top, p.width, p.height),
    )
    .with_header("Cache-Control", "no-store")
    .with_header("Content-Security-Policy", "default-src 'none'"))
}

fn attachment(sensor: &str, metric: &str, ext: &str) -> String {
    // Ids and metric names are limited to safe characters by the model.
    format!("attachment; filename=\"{sensor}-{metric}.{ext}\"")
}

/// A titled chart of a range to download, as SVG or PNG (the same drawing as the dashboard's).
async fn export_chart(
    State(front): Shared,
    RawQuery(q): RawQuery,
    format: ChartFormat,
) -> Result<Reply, Reply> {
    let asked = asked(&pairs(q))?;
    let (content_type, ext) = match format {
        ChartFormat::Png => ("image/png", "png"),
        ChartFormat::Svg => ("image/svg+xml", "svg"),
    };
    let disposition = attachment(&asked.name(), asked.metric(), ext);
    let api = front.api.clone();
    let body = blocking(move || api.export_asked_chart(&asked, format)).await??;
    Ok(Reply {
        content_type,
        ..Reply::empty(200)
    }
    .with_body(body)
    .with_header("Content-Disposition", disposition)
    .with_header("Content-Security-Policy", "default-src 'none'"))
}

/// Every sample of a range as CSV, streamed as it is read: a year exports with flat memory,
/// and a client that stops reading is cut by the server's write limit. Values go through the
/// series' calibration unless `?raw=true`; `X-Clima-Calibration` says which was applied. With
/// several sensors (`sensor=a,b`), each series follows the other under one header.
async fn export_csv(State(front): Shared, RawQuery(q): RawQuery) -> Result<Response, Reply> {
    let pairs = pairs(q);
    let asked = asked(&pairs)?;
    let raw = matches!(param(&pairs, "raw"), Some("true" | "1"));
    let api = front.api.clone();
    let disposition = attachment(&asked.name(), asked.metric(), "csv");
    // Check every series and range before the first byte goes out.
    let (asked, applied) =
        blocking(move || api.export_check(&asked, raw).map(|a| (asked, a))).await??;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let api = front.api.clone();
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter(tx.clone());
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, sink);
        let result = api
            .export_asked_csv(&asked, raw, &mut out)
            .map_err(|e| e.to_string())
            .and_then(|_| std::io::Write::flush(&mut out).map_err(|e| e.to_string()));
        if let Err(e) = result {
            // Ending the body with an error tells the client it is incomplete.
            tracing::warn!(error = %e, "export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let chunks =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok((
        [
            ("content-type", "text/csv; charset=utf-8".to_owned()),
            ("content-disposition", disposition),
            ("x-content-type-options", "nosniff".to_owned()),
            ("x-clima-calibration", applied),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// Hands written bytes to the response body; fails once the client is gone.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(buf.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn stream(State(front): Shared) -> Response {
    sse::open(front)
}

/// Sets a sensor metric's calibration: body `{"sensor", "metric", "offset", "scale"}` (offset
/// 0 and scale 1 remove it); values read are `raw × scale + offset`, stored values never change.
async fn set_calibration(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Set {
        sensor: String,
        metric: String,
        #[serde(default)]
        offset: f64,
        #[serde(default = "one")]
        scale: f64,
    }
    fn one() -> f64 {
        1.0
    }
    let c: Set = json_body(
        &front,
        &headers,
        body,
        "{\"sensor\": ID, \"metric\": \"temperature\", \"offset\": -0.5, \"scale\": 1}",
    )
    .await?;
    let api = front.api.clone();
    let (sensor, metric) = (c.sensor.clone(), c.metric.clone());
    let set = blocking(move || api.set_calibration(&sensor, &metric, c.offset, c.scale))
        .await?
        .map_err(|e| match e {
            e @ SetCalibrationError::UnknownSeries { .. } => {
                Reply::error(404, "unknown_series", e.to_string())
            }
            e @ SetCalibrationError::Invalid(_) => {
                Reply::error(400, "invalid_calibration", e.to_string())
            }
            SetCalibrationError::Store(s) => s.into(),
        })?;
    Ok(Reply::json(
        200,
        &json!({ "sensor": c.sensor, "metric": c.metric, "offset": set.offset, "scale": set.scale }),
    ))
}

impl From<HousekeepingError> for Reply {
    fn from(e: HousekeepingError) -> Reply {
        match e {
            e @ HousekeepingError::UnknownSensor(_) => {
                Reply::error(404, "unknown_sensor", e.to_string())
            }
            e @ HousekeepingError::NotConfirmed(_) => {
                Reply::error(400, "confirmation_required", e.to_string())
            }
            e @ HousekeepingError::SameSensor => Reply::error(400, "same_sensor", e.to_string()),
            e @ HousekeepingError::Name(_) => Reply::error(400, "invalid_name", e.to_string()),
            HousekeepingError::Store(s) => s.into(),
        }
    }
}

/// Names a sensor on the dashboard: body `{"sensor": ID, "name": "Living room"}` (an empty
/// name goes back to the device's name).
async fn rename_sensor(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Name {
        sensor: String,
        name: String,
    }
    let n: Name = json_body(
        &front,
        &headers,
        body,
        "{\"sensor\": ID, \"name\": \"Living room\"}",
    )
    .await?;
    let api = front.api.clone();
    let sensor = n.sensor.clone();
    let name = blocking(move || api.rename_sensor(&sensor, &n.name)).await??;
    Ok(Reply::json(
        200,
        &json!({ "sensor": n.sensor, "name": name }),
    ))
}

/// Hides a sensor from the dashboard (`"hidden": true`; still collected) or shows it again.
async fn hide_sensor(State(front): Shared, headers: HeaderMap, body: Body) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Hide {
        sensor: String,
        hidden: bool,
    }
    let h: Hide = json_body(&front, &headers, body, "{\"sensor\": ID, \"hidden\": true}").await?;
    let api = front.api.clone();
    let sensor = h.sensor.clone();
    blocking(move || api.hide_sensor(&sensor, h.hidden)).await??;
    Ok(Reply::json(
        200,
        &json!({ "sensor": h.sensor, "hidden": h.hidden }),
    ))
}

/// Deletes a sensor and all its data; `?confirm=ID` must repeat its id.
async fn delete_sensor(
    State(front): Shared,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Reply, Reply> {
    let confirm = param(&pairs(q), "confirm").map(str::to_owned);
    let api = front.api.clone();
    let sensor = id.clone();
    blocking(move || api.delete_sensor(&sensor, confirm.as_deref())).await??;
    Ok(Reply::json(200, &json!({ "deleted": id })))
}

/// Moves one sensor's history into another and deletes the first: body `{"from": OLD_ID,
/// "into": NEW_ID}`; answers with what was stored, duplicates and conflicts as ingest does.
async fn merge_sensors(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Merge {
        from: String,
        into: String,
    }
    let m: Merge = json_body(
        &front,
        &headers,
        body,
        "{\"from\": OLD_ID, \"into\": NEW_ID}",
    )
    .await?;
    let api = front.api.clone();
    let outcome = blocking(move || api.merge_sensors(&m.from, &m.into)).await??;
    Ok(Reply::json(200, &outcome))
}

/// Sets how long one sensor's data is kept: body `{"sensor": ID, "keep_raw": "90d",
/// "keep_minute": "forever"}`; a missing or null field goes back to the server's setting.
async fn set_retention(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Keep {
        sensor: String,
        keep_raw: Option<String>,
        keep_minute: Option<String>,
    }
    let k: Keep = json_body(
        &front,
        &headers,
        body,
        "{\"sensor\": ID, \"keep_raw\": \"90d\", \"keep_minute\": \"forever\"}",
    )
    .await?;
    let api = front.api.clone();
    let (sensor, raw, minute) = (k.sensor.clone(), k.keep_raw.clone(), k.keep_minute.clone());
    blocking(move || api.set_retention(&sensor, raw.as_deref(), minute.as_deref()))
        .await?
        .map_err(|e| match e {
            e @ RetentionError::UnknownSensor(_) => {
                Reply::error(404, "unknown_sensor", e.to_string())
            }
            e @ RetentionError::Duration { .. } => {
                Reply::error(400, "invalid_duration", e.to_string())
            }
            RetentionError::Store(s) => s.into(),
        })?;
    Ok(Reply::json(
        200,
        &json!({ "sensor": k.sensor, "keep_raw": k.keep_raw, "keep_minute": k.keep_minute }),
    ))
}

/// Prometheus's scrape: the store's families, then the HTTP server's own counters.
async fn metrics(State(front): Shared) -> Result<Reply, Reply> {
    use clima_model::exposition::{render, Family};
    let api = front.api.clone();
    let mut families = blocking(move || api.metrics()).await??;
    let mut replies = Family::new(
        "clima_http_replies_total",
        "HTTP replies sent, by status.",
        "counter",
    );
    for (status, n) in front.replies.lock().expect("reply counts").iter() {
        replies.add(vec![("status", status.to_string())], *n as f64);
    }
    let mut limited = Family::new(
        "clima_http_rate_limited_total",
        "Requests refused by the per-address rate limit.",
        "counter",
    );
    let n = front
        .rate_limited
        .load(std::sync::atomic::Ordering::Relaxed);
    limited.add(vec![], n as f64);
    let mut closed = Family::new(
        "clima_http_connections_closed_total",
        "Connections refused or cut, by reason.",
        "counter",
    );
    if let Some(reasons) = front.closed.snapshot().as_object() {
        for (reason, n) in reasons {
            closed.add(vec![("reason", reason.clone())], n.as_f64().unwrap_or(0.0));
        }
    }
    families.extend([replies, limited, closed]);
    let mut reply = Reply::empty(200).with_body(render(&families).into_bytes());
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    Ok(reply)
}

/// Active alerts and the last 200 transitions.
async fn get_alerts(State(front): Shared) -> Result<Reply, Reply> {
    let api = front.api.clone();
    let list = blocking(move || api.alerts()).await??;
    Ok(Reply::json(200, &list))
}

async fn get_alert_rules(State(front): Shared) -> Reply {
    Reply::json(200, &json!({ "rules": front.api.alert_rules() }))
}

async fn get_alert_presets(State(front): Shared) -> Reply {
    Reply::json(200, &json!({ "presets": front.api.alert_presets() }))
}

/// The shape a rule is sent in, for errors about the body as a whole.
const RULE_SHAPE: &str = "{\"sensor\": \"*\", \"metric\": \"humidity\", \"condition\": \"above\", \"threshold\": 70, \"for\": \"6h\"}";

/// Adds a rule: its JSON as body; a bad rule is a 422 naming the field.
async fn create_alert_rule(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    let rule: serde_json::Value = json_body(&front, &headers, body, RULE_SHAPE).await?;
    let api = front.api.clone();
    let view = blocking(move || api.create_alert_rule(&rule)).await??;
    Ok(Reply::json(201, &view))
}

async fn update_alert_rule(
    State(front): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    let rule: serde_json::Value = json_body(&front, &headers, body, RULE_SHAPE).await?;
    let api = front.api.clone();
    let view = blocking(move || api.update_alert_rule(id, &rule)).await??;
    Ok(Reply::json(200, &view))
}

async fn delete_alert_rule(State(front): Shared, Path(id): Path<i64>) -> Result<Reply, Reply> {
    let api = front.api.clone();
    blocking(move || api.delete_alert_rule(id)).await??;
    Ok(Reply::json(200, &json!({ "deleted": id })))
}

async fn get_alert_webhooks(State(front): Shared) -> Reply {
    Reply::json(200, &json!({ "webhooks": front.api.alert_webhooks() }))
}

/// The body of the calls that add a URL (a webhook, a forwarder).
#[derive(serde::Deserialize)]
struct UrlBody {
    url: String,
}

/// Adds a webhook, kept in the database: body `{"url": "https://ntfy.sh/TOPIC"}`.
async fn add_alert_webhook(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    let a: UrlBody = json_body(
        &front,
        &headers,
        body,
        "{\"url\": \"https://ntfy.sh/TOPIC\"}",
    )
    .await?;
    let api = front.api.clone();
    let view = blocking(move || api.add_alert_webhook(&a.url)).await??;
    Ok(Reply::json(201, &view))
}

async fn remove_alert_webhook(State(front): Shared, Path(id): Path<i64>) -> Result<Reply, Reply> {
    let api = front.api.clone();
    blocking(move || api.remove_alert_webhook(id)).await??;
    Ok(Reply::json(200, &json!({ "removed": id })))
}

async fn get_forwarders(State(front): Shared) -> Reply {
    Reply::json(200, &json!({ "forwarders": front.api.forwarders() }))
}

/// Adds a forwarder, kept in the database: body `{"url": "http://HOST:8086/write?db=NAME"}`.
async fn add_forwarder(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    let a: UrlBody = json_body(
        &front,
        &headers,
        body,
        "{\"url\": \"http://HOST:8086/write?db=NAME\"}",
    )
    .await?;
    let api = front.api.clone();
    let status = blocking(move || api.add_forwarder(&a.url)).await??;
    Ok(Reply::json(201, &status))
}

/// Stops and forgets a forwarder added in Settings: body `{"id": N}`.
async fn remove_forwarder(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Remove {
        id: i64,
    }
    let r: Remove = json_body(&front, &headers, body, "{\"id\": N}").await?;
    let api = front.api.clone();
    blocking(move || api.remove_forwarder(r.id)).await??;
    Ok(Reply::json(200, &json!({ "removed": r.id })))
}

async fn get_ports(State(front): Shared) -> Reply {
    Reply::json(200, &json!({ "ports": front.api.ports() }))
}

/// Releases (to flash firmware) or claims back a serial port: body `{"id": "..."}`.
async fn port_action(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
    release: bool,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct PortRef {
        id: String,
    }
    let port: PortRef = json_body(&front, &headers, body, "{\"id\": \"PORT ID\"}").await?;
    front.api.set_port_released(&port.id, release)?;
    Ok(Reply::json(
        200,
        &json!({ "id": port.id, "released": release }),
    ))
}

/// Names a board: body `{"id": "...", "label": "Greenhouse"}` (an empty label removes it).
async fn label_port(State(front): Shared, headers: HeaderMap, body: Body) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Label {
        id: String,
        label: String,
    }
    let l: Label = json_body(
        &front,
        &headers,
        body,
        "{\"id\": \"PORT ID\", \"label\": \"NAME\"}",
    )
    .await?;
    let api = front.api.clone();
    let id = l.id.clone();
    let label = blocking(move || api.label_port(&id, &l.label)).await??;
    Ok(Reply::json(200, &json!({ "id": l.id, "label": label })))
}

/// Sets a board's settings: body `{"id": "...", "temperature_unit": "F", "ignore": ["max_value"]}`
/// (`temperature_unit` null: the board's lines say; unit-less implausible ones are held back).
async fn board_settings(
    State(front): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    #[derive(serde::Deserialize)]
    struct Settings {
        id: String,
        #[serde(flatten)]
        settings: clima_model::serial::BoardSettings,
    }
    let s: Settings = json_body(
        &front,
        &headers,
        body,
        "{\"id\": \"PORT ID\", \"temperature_unit\": \"C\" or \"F\" or null, \"ignore\": [\"SENSOR/METRIC\"]}",
    )
    .await?;
    let api = front.api.clone();
    let id = s.id.clone();
    let saved = blocking(move || api.set_board_settings(&id, s.settings)).await??;
    Ok(Reply::json(200, &json!({ "id": s.id, "settings": saved })))
}

/// Starts the demo board that makes an empty dashboard come alive.
async fn start_demo(State(front): Shared) -> Result<Reply, Reply> {
    let api = front.api.clone();
    let started = blocking(move || api.start_demo())
        .await?
        .map_err(|e: DemoError| Reply::error(503, "demo_unavailable", e.to_string()))?;
    Ok(Reply::json(
        if started { 201 } else { 200 },
        &json!({ "sensor": front.api.demo_sensor(), "started": started }),
    ))
}

async fn regenerate_token(State(front): Shared) -> Result<Reply, Reply> {
    let api = front.api.clone();
    match blocking(move || api.regenerate_token()).await? {
        Ok(t) => Ok(Reply::json(200, &json!({ "token": t.expose() }))),
        Err(e @ TokenError::NotStored) => Err(Reply::error(409, "token_fixed", e.to_string())),
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}

/// Enough of InfluxDB's `/query` for write-only clients: they list or create their database
/// first.
async fn influx_query(
    State(front): Shared,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    let pairs = pairs(q);
    let mut statement = param(&pairs, "q").map(str::to_owned);
    if statement.is_none() && method == Method::POST {
        let body = read_body(&headers, body, front.body_timeout).await?;
        statement = query_pairs(&String::from_utf8_lossy(&body))
            .into_iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v);
    }
    let words: Vec<String> = statement
        .unwrap_or_default()
        .trim_end_matches([';', ' ', '\n'])
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    if words.starts_with(&["CREATE".into(), "DATABASE".into()]) {
        Ok(Reply::json(
            200,
            &json!({ "results": [{ "statement_id": 0 }] }),
        ))
    } else if words == ["SHOW", "DATABASES"] {
        // InfluxDB 1.6's shape; Clima keeps one store whatever database a client names.
        Ok(Reply::json(
            200,
            &json!({ "results": [{ "statement_id": 0, "series": [
                { "name": "databases", "columns": ["name"], "values": [["clima"]] }
            ] }] }),
        ))
    } else {
        Err(Reply::error(
            400,
            "unsupported_query",
            "Clima takes writes on /write; read data from /api/v1/readings",
        ))
    }
}
