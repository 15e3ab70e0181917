//! Live updates for the window: a task on the engine's runtime runs one hub viewer (the same
//! throttle and coalescing as the web stream) and emits at most one `live-readings` event per
//! interval; another emits each alert transition as an `alert` event.

use std::time::Duration;

use clima_core::alert::AlertView;
use clima_core::hub::LiveUpdate;
use clima_core::Api;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The event the page listens to; its payload is `{readings: [...], skipped: N}` like the SSE
/// stream's `readings` event.
pub const EVENT: &str = "live-readings";

/// The event each alert transition goes out as; its payload is the SSE stream's `alert` event
/// (`notified` says whether it is one to notify).
pub const ALERT_EVENT: &str = "alert";

/// The forwarding task; stopped by [`Live::stop`] (or when dropped).
pub struct Live {
    stop: CancellationToken,
}

impl Live {
    /// Starts forwarding on `runtime`: `emit` gets each coalesced update, at most one per
    /// `interval_ms`, which may change while it runs.
    pub fn start(
        api: &Api,
        runtime: &tokio::runtime::Handle,
        mut interval_ms: watch::Receiver<u64>,
        emit: impl Fn(LiveUpdate) + Send + 'static,
    ) -> Live {
        let stop = CancellationToken::new();
        let mut viewer = api.viewer(Duration::from_millis(*interval_ms.borrow_and_update()));
        let cancelled = stop.clone();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    update = viewer.next() => match update {
                        Some(u) => emit(u),
                        None => break,
                    },
                    changed = interval_ms.changed() => match changed {
                        Ok(()) => viewer.set_interval(Duration::from_millis(*interval_ms.borrow_and_update())),
                        Err(_) => break,
                    },
                    _ = cancelled.cancelled() => break,
                }
            }
        });
        Live { stop }
    }

    /// Also emits every alert transition, at once: they are rare, and each may notify.
    pub fn forward_alerts(
        &self,
        api: &Api,
        runtime: &tokio::runtime::Handle,
        emit: impl Fn(AlertView) + Send + 'static,
    ) {
        let mut alerts = api.alert_events();
        let cancelled = self.stop.clone();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    a = alerts.recv() => match a {
                        Ok(a) => emit(a),
                        // Missed transitions are in the `alerts` command's list.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    _ = cancelled.cancelled() => break,
                }
            }
        });
    }

    pub fn stop(&mut self) {
        self.stop.cancel();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clima_core::hub::LiveSample;
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
            clock: None,
            derived: false,
        }
    }

    #[test]
    fn a_burst_becomes_few_events_with_the_newest_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = clima_core::EngineConfig::new(dir.path().join("live.db"));
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        let engine = clima_core::Engine::start(cfg).unwrap();
        let (tx, rx) = mpsc::channel();
        let (_interval_tx, interval) = watch::channel(300);
        let mut live = Live::start(engine.api(), &engine.runtime(), interval, move |u| {
            let _ = tx.send(u);
        });
        // Let the task subscribe before the burst.
        std::thread::sleep(Duration::from_millis(100));
        let hub = engine.hub();
        for i in 0..200 {
            hub.publish(vec![
                sample("a", f64::from(i)),
                sample("b", 1000.0 + f64::from(i)),
            ]);
        }
        // The first value goes out at once, the rest of the burst one interval later.
        let mut events = Vec::new();
        while let Ok(u) = rx.recv_timeout(Duration::from_millis(1500)) {
            let done = u.readings.iter().any(|s| s.value == 199.0);
            events.push(u);
            if done {
                break;
            }
        }
        live.stop();
        engine.shutdown();
        assert!(events.len() <= 3, "{} events for 200 batches", events.len());
        let values: Vec<f64> = events
            .last()
            .unwrap()
            .readings
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(values, [199.0, 1199.0]);
    }
}
