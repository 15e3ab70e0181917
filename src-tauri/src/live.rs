//! Live updates for the window: one thread watches the engine's hub, coalesces with the same
//! throttle as the web stream, and emits at most one `live-readings` event per interval.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_core::hub::{Hub, LiveSample};
use clima_core::store::Reader;
use clima_model::coalesce::Coalescer;
use tokio::sync::broadcast::error::RecvError;

/// The event the page listens to; its payload is `{readings: [...], skipped: N}` like the SSE
/// stream's `readings` event.
pub const EVENT: &str = "live-readings";
/// Longest wait between checks of the stop flag and of interval changes.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveUpdate {
    pub readings: Vec<LiveSample>,
    /// Hub batches this window fell behind by since it opened (then resynced from the store).
    pub skipped: u64,
}

/// The forwarding thread; stopped and joined by [`Live::stop`].
pub struct Live {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    /// Starts forwarding: `emit` is called from the thread with each coalesced update.
    pub fn start(
        hub: &Hub,
        reader: Arc<Reader>,
        interval_ms: Arc<AtomicU64>,
        emit: impl Fn(LiveUpdate) + Send + 'static,
    ) -> std::io::Result<Live> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut rx = hub.subscribe();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("clima-window-live".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "live updates for the window could not start");
                        return;
                    }
                };
                let mut interval = interval_ms.load(Ordering::Relaxed);
                let mut coalescer = Coalescer::new(Duration::from_millis(interval));
                let mut skipped = 0;
                while !flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    let wanted = interval_ms.load(Ordering::Relaxed);
                    if wanted != interval {
                        // A new interval takes a new throttle; what is pending goes out first.
                        if let Some(pending) = coalescer.poll(now + Duration::from_millis(interval))
                        {
                            emit(update(pending, skipped));
                        }
                        interval = wanted;
                        coalescer = Coalescer::new(Duration::from_millis(interval));
                    }
                    if let Some(due) = coalescer.poll(now) {
                        emit(update(due, skipped));
                    }
                    let wait = coalescer.wait(now).unwrap_or(POLL).min(POLL);
                    match runtime.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                        Ok(Ok(batch)) => {
                            for s in batch.iter() {
                                coalescer.push((s.sensor.clone(), s.metric.clone()), s.clone());
                            }
                        }
                        Ok(Err(RecvError::Lagged(n))) => {
                            skipped += n;
                            if let Ok(latest) = reader.latest() {
                                for s in latest {
                                    coalescer.push((s.sensor.clone(), s.metric.clone()), s);
                                }
                            }
                        }
                        Ok(Err(RecvError::Closed)) => break,
                        Err(_elapsed) => {}
                    }
                }
            })?;
        Ok(Live {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
    }
}

fn update(pending: Vec<((String, String), LiveSample)>, skipped: u64) -> LiveUpdate {
    LiveUpdate {
        readings: pending.into_iter().map(|(_, s)| s).collect(),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn sample(sensor: &str, value: f64) -> LiveSample {
        LiveSample {
            sensor: sensor.into(),
            name: None,
            metric: "temperature".into(),
            unit: Some("°C"),
            value,
            measured_at: 1,
            received_at: 1,
        }
    }

    #[test]
    fn a_burst_becomes_few_events_with_the_newest_values() {
        let hub = Hub::default();
        let dir = tempfile::tempdir().unwrap();
        let reader = Arc::new(Reader::new(dir.path().join("unused.db")));
        let (tx, rx) = mpsc::channel();
        let interval = Arc::new(AtomicU64::new(300));
        let mut live = Live::start(&hub, reader, interval, move |u| tx.send(u).unwrap()).unwrap();
        for i in 0..200 {
            hub.publish(vec![
                sample("a", f64::from(i)),
                sample("b", 1000.0 + f64::from(i)),
            ]);
        }
        // The first value goes out at once, the rest of the burst one interval later.
        let mut events = Vec::new();
        while let Ok(u) = rx.recv_timeout(Duration::from_millis(1500)) {
            events.push(u);
            if events
                .last()
                .unwrap()
                .readings
                .iter()
                .any(|s| s.value == 199.0)
            {
                break;
            }
        }
        live.stop();
        assert!(events.len() <= 3, "{} events for 200 batches", events.len());
        let last = events.last().unwrap();
        let values: Vec<f64> = last.readings.iter().map(|s| s.value).collect();
        assert_eq!(values, [199.0, 1199.0]);
    }
}
