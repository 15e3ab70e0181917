//! The live hub: one broadcast channel that carries every committed batch of new latest values
//! to whoever watches, and the one viewer loop (subscribe, coalesce, resync on lag) that the web
//! stream and the desktop window share.

use std::sync::Arc;
use std::time::Duration;

use clima_model::clock::Clock;
use clima_model::coalesce::Coalescer;
use clima_model::Millis;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// A series' new latest value, as committed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveSample {
    pub sensor: String,
    /// The sensor's display name, if it has one (untrusted text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    pub value: f64,
    pub measured_at: Millis,
    pub received_at: Millis,
    /// The sensor's last observed pair of clocks, which may disagree with this value's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    /// Derived by Clima from the reading's temperature and humidity (`clima_model::derive`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
}

/// One commit's worth of live samples.
pub type LiveBatch = Arc<Vec<LiveSample>>;

/// Messages a subscriber may fall behind by before it skips and resyncs.
const CAPACITY: usize = 1024;

/// Fans committed values out to subscribers. Publishing never blocks: a subscriber that falls
/// behind loses the oldest batches and is told how many (`RecvError::Lagged`).
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<LiveBatch>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Hub {
    pub fn publish(&self, batch: Vec<LiveSample>) {
        if !batch.is_empty() {
            // An error only means nobody is watching.
            let _ = self.tx.send(Arc::new(batch));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveBatch> {
        self.tx.subscribe()
    }
}

/// What a viewer is sent: the newest value of every series that changed since its last
/// update, and how many hub batches it has fallen behind by since it started (then resynced
/// from the store).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveUpdate {
    pub readings: Vec<LiveSample>,
    pub skipped: u64,
}

/// One viewer's throttled, coalescing view of the hub: at most one update per interval, always
/// with the newest values. Used by the web stream and the desktop window alike.
pub struct Viewer {
    rx: broadcast::Receiver<LiveBatch>,
    coalescer: Coalescer<(String, String), LiveSample>,
    interval: Duration,
    skipped: u64,
    /// Where a viewer that fell behind takes the newest values from.
    latest: Arc<dyn Fn() -> Vec<LiveSample> + Send + Sync>,
    /// What is done to the samples of each update on their way out (the API's calibration).
    adjust: Option<Adjust>,
}

/// A change made to the live samples of each update a viewer sends (all of them at once: a
/// derived value follows the other values of its sensor in the same update).
pub type Adjust = Arc<dyn Fn(&mut [LiveSample]) + Send + Sync>;

impl Viewer {
    /// Waits for the next update; `None` once the hub is gone.
    pub async fn next(&mut self) -> Option<LiveUpdate> {
        loop {
            let now = Instant::now().into_std();
            if let Some(due) = self.coalescer.poll(now) {
                let mut readings: Vec<LiveSample> = due.into_iter().map(|(_, s)| s).collect();
                if let Some(f) = &self.adjust {
                    f(&mut readings);
                }
                return Some(LiveUpdate {
                    readings,
                    skipped: self.skipped,
                });
            }
            let received = match self.coalescer.wait(now) {
                Some(wait) => match tokio::time::timeout(wait, self.rx.recv()).await {
                    Ok(r) => r,
                    Err(_due) => continue,
                },
                None => self.rx.recv().await,
            };
            match received {
                Ok(batch) => self.take(batch.iter().cloned()),
                Err(RecvError::Lagged(n)) => {
                    // Fell behind: count what was skipped and take the newest values instead.
                    self.skipped += n;
                    tracing::debug!(skipped = n, "live viewer fell behind; resyncing");
                    let latest = self.latest.clone();
                    let values = tokio::task::spawn_blocking(move || latest())
                        .await
                        .unwrap_or_default();
                    self.take(values);
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Sends the samples of every update through `f` on their way out.
    pub fn adjusted(mut self, f: Adjust) -> Self {
        self.adjust = Some(f);
        self
    }

    /// Changes the interval; values waiting go out under the new one.
    pub fn set_interval(&mut self, interval: Duration) {
        if interval == self.interval {
            return;
        }
        let far = Instant::now().into_std() + self.interval;
        let pending = self.coalescer.poll(far).unwrap_or_default();
        self.interval = interval;
        self.coalescer = Coalescer::new(interval);
        self.take(pending.into_iter().map(|(_, s)| s));
    }

    fn take(&mut self, samples: impl IntoIterator<Item = LiveSample>) {
        for s in samples {
            self.coalescer.push((s.sensor.clone(), s.metric.clone()), s);
        }
    }
}

impl Hub {
    /// A new viewer of every batch published from now on. `latest` gives the newest value of
    /// every series, for a viewer that fell behind.
    pub fn viewer(
        &self,
        interval: Duration,
        latest: Arc<dyn Fn() -> Vec<LiveSample> + Send + Sync>,
    ) -> Viewer {
        Viewer {
            rx: self.subscribe(),
            coalescer: Coalescer::new(interval),
            interval,
            skipped: 0,
            latest,
            adjust: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn viewer(hub: &Hub, ms: u64) -> Viewer {
        hub.viewer(
            Duration::from_millis(ms),
            Arc::new(|| vec![sample("resync", 7.0)]),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_two_updates_with_the_newest_values() {
        let hub = Hub::default();
        let mut v = viewer(&hub, 300);
        for i in 0..200 {
            hub.publish(vec![
                sample("a", f64::from(i)),
                sample("b", 1000.0 + f64::from(i)),
            ]);
        }
        // The first batch goes out at once, the rest of the burst one interval later.
        let first = v.next().await.unwrap();
        assert_eq!(first.readings.len(), 2);
        let started = Instant::now();
        let second = v.next().await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(299),
            "{:?}",
            started.elapsed()
        );
        let values: Vec<f64> = second.readings.iter().map(|s| s.value).collect();
        assert_eq!(values, [199.0, 1199.0]);
        assert_eq!(second.skipped, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_viewer_that_falls_behind_counts_and_resyncs() {
        let hub = Hub::default();
        let mut v = viewer(&hub, 10);
        for i in 0..(CAPACITY + 5) {
            hub.publish(vec![sample("a", i as f64)]);
        }
        let u = v.next().await.unwrap();
        assert_eq!(u.skipped, 5);
        let sensors: Vec<&str> = u.readings.iter().map(|s| s.sensor.as_str()).collect();
        assert_eq!(sensors, ["resync"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_interval_keeps_what_waits() {
        let hub = Hub::default();
        let mut v = viewer(&hub, 1000);
        hub.publish(vec![sample("a", 1.0)]);
        assert_eq!(v.next().await.unwrap().readings[0].value, 1.0);
        hub.publish(vec![sample("a", 2.0)]);
        // Let the viewer take the batch in, then shorten the interval.
        assert!(tokio::time::timeout(Duration::from_millis(50), v.next())
            .await
            .is_err());
        v.set_interval(Duration::from_millis(100));
        let started = Instant::now();
        assert_eq!(v.next().await.unwrap().readings[0].value, 2.0);
        assert!(
            started.elapsed() <= Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }
}
