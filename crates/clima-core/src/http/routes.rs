//! The HTTP API: which path and method go to which handler, and the handlers themselves, each a
//! thin adapter from a request to the model's parsers and the store.

use std::net::IpAddr;

use clima_model::downsample::{Bucket, BucketPlan};
use clima_model::json::{self, BodyError};
use clima_model::line_protocol::{self, Precision};
use clima_model::metric::unit_of;
use clima_model::reading::clean_name;
use clima_model::{push, timestamp, Reading, Rejected, SensorId, DAY};
use serde_json::json;
use tiny_http::{Method, Request};

use super::reply::Reply;
use super::request::{authorize, media_type, param, query_pairs, read_body};
use super::{assets, Ctx};
use crate::now_ms;
use crate::serial::PinnedPort;
use crate::sim::{BoardFormat, BoardOptions, VirtualBoard};
use crate::store::{Receipt, Source, StoreError};

/// What a request turns into: a reply, readings to store before replying, or a live stream
/// that takes the connection over.
pub enum Outcome {
    Reply(Reply),
    Store(Pending),
    Stream,
    /// A CSV export, streamed straight to the connection.
    Export(ExportRequest),
}

/// Readings to store; the reply is built from the receipt once they are committed.
pub struct Pending {
    pub readings: Vec<Reading>,
    pub source: Source,
    pub received_at: i64,
    pub finish: Box<dyn FnOnce(Receipt) -> Reply + Send>,
}

/// One series' raw samples in `[from, to)`.
pub struct ExportRequest {
    pub sensor: String,
    pub metric: String,
    pub from: i64,
    pub to: i64,
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Reply(r)
    }
}

/// The API's routes and the methods each allows (for 405 and `Allow`).
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET", "HEAD"]),
    ("/api/v1/readings", &["GET", "POST"]),
    ("/api/v1/push", &["GET", "POST"]),
    ("/api/v1/sensors", &["GET"]),
    ("/api/v1/sensors/retention", &["POST"]),
    ("/api/v1/stream", &["GET"]),
    ("/api/v1/chart.svg", &["GET"]),
    ("/api/v1/export.csv", &["GET"]),
    ("/api/v1/export.svg", &["GET"]),
    ("/api/v1/export.png", &["GET"]),
    ("/api/v1/ports", &["GET"]),
    ("/api/v1/ports/release", &["POST"]),
    ("/api/v1/ports/claim", &["POST"]),
    ("/api/v1/ports/label", &["POST"]),
    ("/api/v1/demo", &["POST"]),
    ("/api/v1/token/regenerate", &["POST"]),
    ("/write", &["POST"]),
    ("/ping", &["GET", "HEAD"]),
    ("/query", &["GET", "POST"]),
];

/// Default and largest number of chart points a range query returns.
const DEFAULT_POINTS: usize = 500;

pub fn route(ctx: &Ctx, req: &mut Request, peer: IpAddr) -> Outcome {
    let url = req.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let method = req.method().as_str().to_ascii_uppercase();

    if path == "/healthz" {
        return match method.as_str() {
            "GET" | "HEAD" => {
                let closed = ctx.closed.snapshot();
                match ctx.writer.problem() {
                    None => Reply::json(200, &json!({ "status": "ok", "connections_closed": closed })),
                    Some(problem) => Reply::json(
                        503,
                        &json!({ "status": "store_unavailable", "message": problem, "connections_closed": closed }),
                    ),
                }
                .into()
            }
            _ => not_allowed(&["GET", "HEAD"]).into(),
        };
    }
    if let Some(limiter) = &ctx.limiter {
        if let Err(wait) = limiter.check(peer) {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Reply::error(
                429,
                "rate_limited",
                format!("too many requests from {peer}: retry in {secs} s, or raise --rate-limit"),
            )
            .with_header("Retry-After", secs.to_string())
            .into();
        }
    }
    let Some((_, allowed)) = ROUTES.iter().find(|(p, _)| *p == path) else {
        return match method.as_str() {
            "GET" | "HEAD" if !path.starts_with("/api/") => {
                assets::serve(ctx.ui_dir.as_deref(), path).into()
            }
            _ => Reply::error(
                404,
                "not_found",
                format!("no such endpoint: {path}; the API lives under /api/v1/"),
            )
            .into(),
        };
    };
    if !allowed.contains(&method.as_str()) {
        return not_allowed(allowed).into();
    }
    let pairs = query_pairs(query);
    if path != "/ping" {
        let token = ctx.token.read().expect("token");
        if let Err(reply) = authorize(req, &pairs, token.as_ref()) {
            return reply.into();
        }
    }
    let result = match (method.as_str(), path) {
        ("POST", "/api/v1/readings") => {
            return post_readings(req, &pairs, peer).unwrap_or_else(Outcome::Reply)
        }
        ("GET", "/api/v1/readings") => get_range(ctx, &pairs),
        (_, "/api/v1/push") => return push_reading(&pairs, peer).unwrap_or_else(Outcome::Reply),
        ("GET", "/api/v1/sensors") => get_sensors(ctx),
        ("POST", "/api/v1/sensors/retention") => set_retention(ctx, req),
        ("GET", "/api/v1/stream") => return Outcome::Stream,
        ("GET", "/api/v1/chart.svg") => get_chart(ctx, &pairs),
        ("GET", "/api/v1/export.svg") => export_chart(ctx, &pairs, false),
        ("GET", "/api/v1/export.png") => export_chart(ctx, &pairs, true),
        ("GET", "/api/v1/export.csv") => match export_request(ctx, &pairs) {
            Ok(x) => return Outcome::Export(x),
            Err(reply) => Err(reply),
        },
        ("GET", "/api/v1/ports") => Ok(Reply::json(200, &json!({ "ports": ctx.boards.ports() }))),
        ("POST", "/api/v1/ports/release") => port_action(ctx, req, true),
        ("POST", "/api/v1/ports/claim") => port_action(ctx, req, false),
        ("POST", "/api/v1/ports/label") => label_port(ctx, req),
        ("POST", "/api/v1/demo") => start_demo(ctx),
        ("POST", "/api/v1/token/regenerate") => match super::regenerate_token(ctx) {
            Ok(t) => Ok(Reply::json(200, &json!({ "token": t.expose() }))),
            Err(e @ super::TokenError::NotStored) => {
                Err(Reply::error(409, "token_fixed", e.to_string()))
            }
            Err(super::TokenError::Store(e)) => Err(store_failed(e)),
        },
        ("POST", "/write") => {
            return post_line_protocol(req, &pairs).unwrap_or_else(Outcome::Reply)
        }
        (_, "/ping") => Ok(Reply::empty(204).with_header("X-Influxdb-Version", "1.8-clima")),
        (_, "/query") => influx_query(req, &pairs),
        _ => Ok(not_allowed(allowed)),
    };
    result.unwrap_or_else(|r| r).into()
}

fn not_allowed(allowed: &[&str]) -> Reply {
    Reply::error(
        405,
        "method_not_allowed",
        format!("this endpoint takes {}", allowed.join(" or ")),
    )
    .with_header("Allow", allowed.join(", "))
}

fn require_media(req: &Request, accepted: &[&str], hint: &str) -> Result<(), Reply> {
    let media = media_type(req);
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

/// The sensor for readings that name none: `?sensor=`, else the client's address.
fn fallback_sensor(pairs: &[(String, String)], peer: IpAddr) -> Result<SensorId, Reply> {
    match param(pairs, "sensor") {
        Some(s) => {
            SensorId::parse(s).map_err(|e| Reply::error(400, "invalid_sensor", e.to_string()))
        }
        None => Ok(SensorId::from_client(peer)),
    }
}

pub fn store_failed(e: StoreError) -> Reply {
    tracing::warn!(error = %e, "ingest refused: store unavailable");
    Reply::error(503, "store_unavailable", e.to_string()).with_header("Retry-After", "5")
}

/// Splits parsed items into readings to store and rejections; the reply after the commit is
/// `ok(accepted, duplicates)`, or `partial_status` listing the rejected items.
fn store_items(
    items: Vec<Result<Reading, Rejected>>,
    source: Source,
    received_at: i64,
    partial_status: u16,
    ok: impl FnOnce(usize, usize) -> Reply + Send + 'static,
) -> Result<Outcome, Reply> {
    let (good, bad): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
    let good: Vec<Reading> = good.into_iter().map(Result::unwrap).collect();
    let rejected: Vec<Rejected> = bad.into_iter().map(|r| r.unwrap_err()).collect();
    if good.is_empty() {
        let first = rejected
            .first()
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        return Err(Reply::json(
            422,
            &json!({ "error": "invalid_reading", "message": format!("nothing stored: {first}"), "rejected": rejected }),
        ));
    }
    let accepted = good.len();
    let finish = move |receipt: Receipt| {
        if rejected.is_empty() {
            return ok(accepted, receipt.duplicates);
        }
        Reply::json(
            partial_status,
            &json!({
                "error": "partially_accepted",
                "message": format!("{accepted} readings stored, {} rejected: see 'rejected'", rejected.len()),
                "accepted": accepted,
                "duplicates": receipt.duplicates,
                "rejected": rejected,
            }),
        )
    };
    Ok(Outcome::Store(Pending {
        readings: good,
        source,
        received_at,
        finish: Box::new(finish),
    }))
}

fn post_readings(
    req: &mut Request,
    pairs: &[(String, String)],
    peer: IpAddr,
) -> Result<Outcome, Reply> {
    require_media(
        req,
        &["application/json", "text/json"],
        "send JSON with Content-Type: application/json",
    )?;
    let fallback = fallback_sensor(pairs, peer)?;
    let body = read_body(req)?;
    let received_at = now_ms();
    let items = json::parse_body(&body, &fallback, received_at).map_err(|e| match e {
        BodyError::TooMany(_) => Reply::error(413, "batch_too_large", e.to_string()),
        _ => Reply::error(400, "invalid_body", e.to_string()),
    })?;
    store_items(
        items,
        Source::Http,
        received_at,
        207,
        |accepted, duplicates| {
            Reply::json(
                201,
                &json!({ "accepted": accepted, "duplicates": duplicates }),
            )
        },
    )
}

fn post_line_protocol(req: &mut Request, pairs: &[(String, String)]) -> Result<Outcome, Reply> {
    require_media(
        req,
        &[
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
        ],
        "send line protocol as text/plain",
    )?;
    let precision = Precision::parse(param(pairs, "precision").unwrap_or(""))
        .map_err(|e| Reply::error(400, "invalid_precision", e))?;
    let body = read_body(req)?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        Reply::error(
            400,
            "invalid_body",
            format!("line protocol must be UTF-8 text: {e}"),
        )
    })?;
    let received_at = now_ms();
    let items = line_protocol::parse(text, precision, received_at);
    if items.is_empty() {
        return Err(Reply::error(
            400,
            "invalid_body",
            "no lines in the body: send 'measurement,tag=v field=1.5'",
        ));
    }
    // InfluxDB answers a partial write with 400, so Telegraf does not resend the good lines.
    store_items(items, Source::LineProtocol, received_at, 400, |_, _| {
        Reply::empty(204)
    })
}

fn push_reading(pairs: &[(String, String)], peer: IpAddr) -> Result<Outcome, Reply> {
    let received_at = now_ms();
    let item = push::parse(pairs, &SensorId::from_client(peer), received_at);
    store_items(
        vec![item],
        Source::Push,
        received_at,
        207,
        |accepted, duplicates| {
            Reply::json(
                200,
                &json!({ "accepted": accepted, "duplicates": duplicates }),
            )
        },
    )
}

fn get_sensors(ctx: &Ctx) -> Result<Reply, Reply> {
    let sensors = ctx.reader.sensors().map_err(store_failed)?;
    Ok(Reply::json(200, &json!({ "sensors": sensors })))
}

/// A series and time range from the query (`sensor`, `metric`, `from`, `to`, `points`), with
/// its downsampled buckets: what both the JSON range and the chart show.
struct Range<'a> {
    sensor: &'a str,
    metric: &'a str,
    from: i64,
    to: i64,
    plan: BucketPlan,
    buckets: Vec<Bucket>,
}

fn bad_request(code: &str, msg: String) -> Reply {
    Reply::error(400, code, msg)
}

/// A whole-number query parameter, or `default` when absent.
fn number_param(pairs: &[(String, String)], key: &str, default: i64) -> Result<i64, Reply> {
    match param(pairs, key) {
        Some(v) => v.parse::<i64>().map_err(|_| {
            bad_request(
                "invalid_number",
                format!("{key} {v:?} is not a whole number"),
            )
        }),
        None => Ok(default),
    }
}

fn query_range<'a>(ctx: &Ctx, pairs: &'a [(String, String)]) -> Result<Range<'a>, Reply> {
    let sensor = param(pairs, "sensor")
        .ok_or_else(|| bad_request("missing_sensor", "pass ?sensor=ID".into()))?;
    let metric = param(pairs, "metric").ok_or_else(|| {
        bad_request(
            "missing_metric",
            "pass ?metric=NAME, e.g. temperature".into(),
        )
    })?;
    let time = |key: &str| {
        param(pairs, key)
            .map(|v| {
                timestamp::from_text(v)
                    .map_err(|e| bad_request("invalid_time", format!("{key}: {e}")))
            })
            .transpose()
    };
    let to = time("to")?.unwrap_or_else(now_ms);
    let from = time("from")?.unwrap_or(to - DAY);
    let points = number_param(pairs, "points", DEFAULT_POINTS as i64)?.clamp(0, i64::from(u32::MAX))
        as usize;
    let plan = BucketPlan::new(from, to, points).map_err(|e| bad_request("invalid_range", e))?;
    let buckets = ctx
        .reader
        .range(sensor, metric, &plan)
        .map_err(store_failed)?
        .ok_or_else(|| {
            Reply::error(
                404,
                "unknown_series",
                format!("sensor {sensor:?} has no metric {metric:?}: see /api/v1/sensors"),
            )
        })?;
    Ok(Range {
        sensor,
        metric,
        from,
        to,
        plan,
        buckets,
    })
}

fn export_request(ctx: &Ctx, pairs: &[(String, String)]) -> Result<ExportRequest, Reply> {
    // The same checks as a range query, without bucketing: a one-point plan.
    let mut one = pairs.to_vec();
    one.retain(|(k, _)| k != "points");
    one.push(("points".into(), "1".into()));
    let r = query_range(ctx, &one)?;
    Ok(ExportRequest {
        sensor: r.sensor.to_owned(),
        metric: r.metric.to_owned(),
        from: r.from,
        to: r.to,
    })
}

/// Sets how long one sensor's data is kept: body `{"sensor": ID, "keep_raw": "90d",
/// "keep_minute": "forever"}`; a missing or null field goes back to the server's setting.
fn set_retention(ctx: &Ctx, req: &mut Request) -> Result<Reply, Reply> {
    require_media(
        req,
        &["application/json"],
        "send JSON with Content-Type: application/json",
    )?;
    let body = read_body(req)?;
    #[derive(serde::Deserialize)]
    struct Keep {
        sensor: String,
        keep_raw: Option<String>,
        keep_minute: Option<String>,
    }
    let k: Keep = serde_json::from_slice(&body).map_err(|e| {
        bad_request("invalid_body", format!("expected {{\"sensor\": ID, \"keep_raw\": \"90d\", \"keep_minute\": \"forever\"}}: {e}"))
    })?;
    let known = ctx
        .reader
        .sensors()
        .map_err(store_failed)?
        .iter()
        .any(|s| s.sensor == k.sensor);
    if !known {
        return Err(Reply::error(
            404,
            "unknown_sensor",
            format!("no sensor {:?}: see /api/v1/sensors", k.sensor),
        ));
    }
    // Stored as milliseconds, `forever`, or empty for the server's setting.
    let stored = |field: &str, v: &Option<String>| -> Result<String, Reply> {
        match v.as_deref() {
            None => Ok(String::new()),
            Some("forever") => Ok("forever".into()),
            Some(d) => crate::config::parse_duration(d)
                .filter(|d| !d.is_zero())
                .map(|d| d.as_millis().to_string())
                .ok_or_else(|| {
                    bad_request(
                        "invalid_duration",
                        format!("{field} {d:?} is not a duration: use e.g. 90d, 12h or forever"),
                    )
                }),
        }
    };
    let (raw, minute) = (
        stored("keep_raw", &k.keep_raw)?,
        stored("keep_minute", &k.keep_minute)?,
    );
    for (prefix, value) in [
        (crate::store::KEEP_RAW_KEY, &raw),
        (crate::store::KEEP_MINUTE_KEY, &minute),
    ] {
        ctx.writer
            .set_setting(&format!("{prefix}{}", k.sensor), value)
            .map_err(store_failed)?;
    }
    Ok(Reply::json(
        200,
        &json!({ "sensor": k.sensor, "keep_raw": k.keep_raw, "keep_minute": k.keep_minute }),
    ))
}

/// A titled chart of a range to download, as SVG or PNG (the same drawing as the dashboard's).
fn export_chart(ctx: &Ctx, pairs: &[(String, String)], png: bool) -> Result<Reply, Reply> {
    use crate::store::export::{self, ChartFormat};
    let x = export_request(ctx, pairs)?;
    let (format, content_type, ext) = if png {
        (ChartFormat::Png, "image/png", "png")
    } else {
        (ChartFormat::Svg, "image/svg+xml", "svg")
    };
    let body = export::export_chart(&ctx.reader, &x.sensor, &x.metric, x.from, x.to, format)
        .map_err(|e| Reply::error(500, "chart_failed", e.to_string()))?;
    Ok(Reply {
        content_type,
        ..Reply::empty(200)
    }
    .with_body(body)
    .with_header(
        "Content-Disposition",
        format!("attachment; filename=\"{}-{}.{ext}\"", x.sensor, x.metric),
    )
    .with_header("Content-Security-Policy", "default-src 'none'"))
}

fn get_range(ctx: &Ctx, pairs: &[(String, String)]) -> Result<Reply, Reply> {
    let r = query_range(ctx, pairs)?;
    Ok(Reply::json(
        200,
        &json!({
            "sensor": r.sensor,
            "metric": r.metric,
            "unit": unit_of(r.metric),
            "from": r.from,
            "to": r.to,
            "bucket_ms": r.plan.width,
            "points": r.buckets,
        }),
    ))
}

/// One series drawn as SVG (`crate::chart`), for the dashboard. `X-Clima-Plot-Area` tells the
/// page where the data sits in the image (`left,top,width,height`), so it can map the pointer
/// to the buckets of `/api/v1/readings` with the same `from`, `to` and `points`.
fn get_chart(ctx: &Ctx, pairs: &[(String, String)]) -> Result<Reply, Reply> {
    use crate::chart::{self, ChartSpec, TempUnit};
    let r = query_range(ctx, pairs)?;
    let temp_unit = TempUnit::parse(param(pairs, "unit").unwrap_or("C"))
        .map_err(|e| bad_request("invalid_unit", e))?;
    let number = |key: &str, default: i64| number_param(pairs, key, default);
    let spec = ChartSpec {
        width: number("width", 640)?.clamp(0, i64::from(u32::MAX)) as u32,
        height: number("height", 240)?.clamp(0, i64::from(u32::MAX)) as u32,
        unit: unit_of(r.metric).map(str::to_owned),
        temp_unit,
        bucket_ms: r.plan.width,
        // Minutes east of UTC, for the time labels.
        utc_offset_s: (number("tz", 0)?.clamp(-18 * 60, 18 * 60) * 60) as i32,
        title: None,
    };
    let chart = chart::render(&r.buckets, &spec)
        .map_err(|e| bad_request("invalid_chart", e.to_string()))?;
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

/// Enough of InfluxDB's `/query` for write-only clients: they create their database first.
fn influx_query(req: &mut Request, pairs: &[(String, String)]) -> Result<Reply, Reply> {
    let mut q = param(pairs, "q").map(str::to_owned);
    if q.is_none() && *req.method() == Method::Post {
        let body = read_body(req)?;
        q = query_pairs(&String::from_utf8_lossy(&body))
            .into_iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v);
    }
    let q = q.unwrap_or_default();
    if q.trim_start()
        .to_ascii_uppercase()
        .starts_with("CREATE DATABASE")
    {
        Ok(Reply::json(
            200,
            &json!({ "results": [{ "statement_id": 0 }] }),
        ))
    } else {
        Err(Reply::error(
            400,
            "unsupported_query",
            "Clima takes writes on /write; read data from /api/v1/readings",
        ))
    }
}

/// Releases (to flash firmware) or claims back a serial port: body `{"id": "..."}`.
fn port_action(ctx: &Ctx, req: &mut Request, release: bool) -> Result<Reply, Reply> {
    require_media(
        req,
        &["application/json"],
        "send {\"id\": \"PORT ID\"} as application/json",
    )?;
    let body = read_body(req)?;
    #[derive(serde::Deserialize)]
    struct PortRef {
        id: String,
    }
    let port: PortRef = serde_json::from_slice(&body).map_err(|e| {
        Reply::error(
            400,
            "invalid_body",
            format!("expected {{\"id\": \"PORT ID\"}}: {e}"),
        )
    })?;
    let result = if release {
        ctx.boards.release(&port.id)
    } else {
        ctx.boards.claim(&port.id)
    };
    result.map_err(|e| Reply::error(404, "unknown_port", e.to_string()))?;
    Ok(Reply::json(
        200,
        &json!({ "id": port.id, "released": release }),
    ))
}

/// Names a board: body `{"id": "...", "label": "Greenhouse"}` (an empty label removes it).
fn label_port(ctx: &Ctx, req: &mut Request) -> Result<Reply, Reply> {
    require_media(
        req,
        &["application/json"],
        "send {\"id\": \"PORT ID\", \"label\": \"NAME\"} as application/json",
    )?;
    let body = read_body(req)?;
    #[derive(serde::Deserialize)]
    struct Label {
        id: String,
        label: String,
    }
    let l: Label = serde_json::from_slice(&body).map_err(|e| {
        Reply::error(
            400,
            "invalid_body",
            format!("expected {{\"id\": ..., \"label\": ...}}: {e}"),
        )
    })?;
    let label = clean_name(&l.label)
        .map_err(|e| Reply::error(400, "invalid_label", format!("label {}", e.problem)))?;
    ctx.boards
        .set_label(&l.id, label.clone())
        .map_err(|e| Reply::error(404, "unknown_port", e.to_string()))?;
    let key = format!("{}{}", crate::serial::LABEL_KEY, l.id);
    ctx.writer
        .set_setting(&key, label.as_deref().unwrap_or(""))
        .map_err(store_failed)?;
    Ok(Reply::json(200, &json!({ "id": l.id, "label": label })))
}

/// Starts the in-process virtual board that makes an empty dashboard come alive.
fn start_demo(ctx: &Ctx) -> Result<Reply, Reply> {
    let mut demo = ctx.demo.lock().expect("demo board");
    if demo.is_some() {
        return Ok(Reply::json(
            200,
            &json!({ "sensor": DEMO_SENSOR, "started": false }),
        ));
    }
    let opts = BoardOptions {
        format: BoardFormat::Json,
        sensor: Some(DEMO_SENSOR.into()),
        seed: now_ms() as u64,
        ..Default::default()
    };
    let board = VirtualBoard::start(opts).map_err(|e| {
        Reply::error(
            503,
            "demo_unavailable",
            format!("could not create a virtual serial port: {e}"),
        )
    })?;
    ctx.boards.add_pinned(PinnedPort {
        path: board.path().to_owned(),
        baud: None,
    });
    *demo = Some(board);
    Ok(Reply::json(
        201,
        &json!({ "sensor": DEMO_SENSOR, "started": true }),
    ))
}

/// The sensor id the demo board reports as.
const DEMO_SENSOR: &str = "demo-board";
