//! The live stream (`GET /api/v1/stream`): Server-Sent Events fed from the hub through a
//! coalescing throttle, one thread per viewer so a slow viewer only slows itself.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clima_model::coalesce::Coalescer;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::Ctx;
use crate::hub::LiveSample;

/// A comment line goes out this often on a quiet stream, so dead connections are noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Longest wait between checks of the shutdown flag.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// Runs one viewer's stream until it disconnects or the engine stops.
pub fn run(ctx: Arc<Ctx>, mut out: Box<dyn Write + Send>) {
    let mut rx = ctx.hub.subscribe();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
    let hello = json!({ "throttle_ms": ctx.throttle.as_millis() as u64 });
    if send(
        &mut out,
        format!("{head}event: hello\ndata: {hello}\n\n").as_bytes(),
    )
    .is_err()
    {
        return;
    }
    let mut coalescer: Coalescer<(String, String), LiveSample> = Coalescer::new(ctx.throttle);
    let mut skipped: u64 = 0;
    let mut last_write = Instant::now();
    while !ctx.shutdown.load(Ordering::Relaxed) {
        let now = Instant::now();
        if let Some(update) = coalescer.poll(now) {
            let readings: Vec<LiveSample> = update.into_iter().map(|(_, v)| v).collect();
            let data = json!({ "readings": readings, "skipped": skipped });
            if send(
                &mut out,
                format!("event: readings\ndata: {data}\n\n").as_bytes(),
            )
            .is_err()
            {
                break;
            }
            last_write = now;
        } else if now.duration_since(last_write) >= HEARTBEAT {
            if send(&mut out, b": keep-alive\n\n").is_err() {
                break;
            }
            last_write = now;
        }
        let wait = coalescer
            .wait(now)
            .unwrap_or(HEARTBEAT)
            .min(HEARTBEAT.saturating_sub(now.duration_since(last_write)))
            .min(SHUTDOWN_POLL);
        let received = ctx
            .runtime
            .block_on(async { tokio::time::timeout(wait, rx.recv()).await });
        match received {
            Ok(Ok(batch)) => {
                for s in batch.iter() {
                    coalescer.push((s.sensor.clone(), s.metric.clone()), s.clone());
                }
            }
            Ok(Err(RecvError::Lagged(n))) => {
                // Fell behind: count what was skipped and take the newest values from the store.
                skipped += n;
                tracing::debug!(skipped = n, "live viewer fell behind; resyncing");
                if let Ok(latest) = ctx.reader.latest() {
                    for s in latest {
                        coalescer.push((s.sensor.clone(), s.metric.clone()), s);
                    }
                }
            }
            Ok(Err(RecvError::Closed)) => break,
            Err(_elapsed) => {}
        }
    }
}

fn send(out: &mut Box<dyn Write + Send>, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}
