//! The live hub: one broadcast channel that carries every committed batch of new latest values
//! to whoever watches (SSE streams, the desktop window).

use std::sync::Arc;

use clima_model::Millis;
use tokio::sync::broadcast;

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
