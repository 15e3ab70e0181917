//! Forwarders: each sends every committed reading, oldest first, to one outside database,
//! from the store's forward log with its own cursor (see `store::outbox`), read once for all of
//! them (`feed`), so a target that is down, slow or refusing gets everything once it is back and
//! never holds up ingest or the other targets.

mod feed;
mod influx;
mod mqtt;
pub mod target;
mod worker;

use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use clima_model::Millis;

use crate::store::outbox::{Cursor, Outbox};
use crate::store::{StoreError, WriteHandle};
pub use target::{Kind, Secret, Target, TargetError};

/// How a forwarder is doing, as `/api/v1/forwarders`, `/healthz` and Settings show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwarderStatus {
    pub id: i64,
    /// The target with its credentials hidden.
    pub target: String,
    pub kind: Kind,
    /// Whether it came from `--forward` (`command-line`) or Settings (`settings`).
    pub origin: &'static str,
    /// `connected` (its last write succeeded), `retrying` (the target failed; waiting to try
    /// again) or `starting`.
    pub state: &'static str,
    /// Readings committed but not yet acknowledged by the target.
    pub lag_readings: i64,
    /// How long since it last had everything delivered (0 when caught up).
    pub lag_seconds: f64,
    /// Readings the target acknowledged in this run.
    pub delivered: u64,
    /// Failed tries in this run.
    pub errors: u64,
    /// Readings in batches the target refused as malformed (logged, then skipped).
    pub rejected: u64,
    /// Readings retention removed before they could be forwarded.
    pub lost: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<Millis>,
}

/// What a forwarder's thread reports; the status is built from it. Counters are atomics, so
/// that reading the status never waits on a forwarder's thread: it runs at background priority
/// and may be paused for long while ingest keeps the CPU busy.
#[derive(Debug)]
struct Progress {
    /// `STARTING`, `CONNECTED` or `RETRYING`.
    state: AtomicU8,
    delivered: AtomicU64,
    errors: AtomicU64,
    rejected: AtomicU64,
    lost: AtomicU64,
    /// When it last had nothing left to send (unix ms); its start until then.
    caught_up_at: AtomicI64,
    /// Written only when a try fails or is refused.
    last_error: Mutex<Option<(String, Millis)>>,
}

const STARTING: u8 = 0;
const CONNECTED: u8 = 1;
const RETRYING: u8 = 2;

impl Progress {
    fn new() -> Progress {
        Progress {
            state: AtomicU8::new(STARTING),
            delivered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            caught_up_at: AtomicI64::new(crate::now_ms()),
            last_error: Mutex::new(None),
        }
    }

    fn caught_up(&self) {
        self.caught_up_at.store(crate::now_ms(), Relaxed);
    }

    fn lost(&self, n: u64) {
        self.lost.fetch_add(n, Relaxed);
    }

    fn delivered(&self, n: u64) {
        self.state.store(CONNECTED, Relaxed);
        self.delivered.fetch_add(n, Relaxed);
    }

    /// A batch the target refused as malformed: skipped, and counted as an error.
    fn refused(&self, n: u64, error: String) {
        self.state.store(CONNECTED, Relaxed);
        self.rejected.fetch_add(n, Relaxed);
        self.error(error);
    }

    fn failed(&self, error: String) {
        self.state.store(RETRYING, Relaxed);
        self.error(error);
    }

    fn error(&self, error: String) {
        self.errors.fetch_add(1, Relaxed);
        *self.last_error.lock().expect("forwarder progress") = Some((error, crate::now_ms()));
    }
}

struct Running {
    target: Target,
    origin: &'static str,
    cursor: Arc<Cursor>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Why a forwarder could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("a forwarder to {0} runs already")]
    Exists(String),
    #[error("no forwarder {0}: see /api/v1/forwarders")]
    Unknown(i64),
    #[error("forwarder {0} was given with --forward: remove it from the command line")]
    CommandLine(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every running forwarder. Owned by the engine's API; stopped with the engine.
pub struct Forwarders {
    outbox: Arc<Outbox>,
    writer: WriteHandle,
    /// The log read once for every forwarder.
    feed: Arc<feed::Feed>,
    token: Option<Secret>,
    running: Mutex<Vec<Running>>,
}

impl Forwarders {
    /// Starts the `--forward` targets and those kept from Settings.
    pub fn start(
        outbox: Arc<Outbox>,
        writer: WriteHandle,
        db: std::path::PathBuf,
        targets: Vec<Target>,
        token: Option<Secret>,
    ) -> Result<Forwarders, ForwardError> {
        let f = Forwarders {
            outbox,
            writer,
            feed: Arc::new(feed::Feed::new(&db)),
            token,
            running: Mutex::new(Vec::new()),
        };
        for t in targets {
            f.launch(t, None)?;
        }
        let kept: Vec<String> = f.writer.run(|c| {
            let mut stmt =
                c.prepare("SELECT url FROM forwarders WHERE url IS NOT NULL ORDER BY id")?;
            let urls = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(urls)
        })?;
        for url in kept {
            match target::parse(&url, f.token.as_ref()) {
                Ok(t) => {
                    if let Err(e) = f.launch(t, Some(url)) {
                        tracing::warn!(error = %e, "a forwarder kept from Settings did not start");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a forwarder kept from Settings cannot be used")
                }
            }
        }
        Ok(f)
    }

    /// Adds a forwarder from Settings: kept in the database and started at once, from the
    /// readings committed after now.
    pub fn add(&self, url: &str) -> Result<ForwarderStatus, ForwardError> {
        let t = target::parse(url, self.token.as_ref())?;
        let id = self.launch(t, Some(url.trim().to_owned()))?;
        self.status()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(ForwardError::Unknown(id))
    }

    /// Stops and forgets a forwarder added in Settings.
    pub fn remove(&self, id: i64) -> Result<(), ForwardError> {
        let mut running = self.running.lock().expect("forwarders");
        let at = running
            .iter()
            .position(|r| r.cursor.id == id)
            .ok_or(ForwardError::Unknown(id))?;
        if running[at].origin != "settings" {
            return Err(ForwardError::CommandLine(id));
        }
        let mut r = running.remove(at);
        drop(running);
        r.stop.store(true, Release);
        if let Some(t) = r.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let outbox = self.outbox.clone();
        self.writer.run(move |c| outbox.unregister(c, id))?;
        Ok(())
    }

    fn launch(&self, target: Target, url: Option<String>) -> Result<i64, ForwardError> {
        let mut running = self.running.lock().expect("forwarders");
        if running.iter().any(|r| r.target.shown == target.shown) {
            return Err(ForwardError::Exists(target.shown));
        }
        // A Settings forwarder keeps its URL in the database; a `--forward` one does not.
        let origin = if url.is_some() {
            "settings"
        } else {
            "command-line"
        };
        // A bad `?ca=` file is refused before anything is kept.
        let tls = match &target.broker {
            Some(b) => mqtt::tls(b, &target.shown)?,
            None => None,
        };
        let outbox = self.outbox.clone();
        let key = target.shown.clone();
        let cursor = self
            .writer
            .run(move |c| outbox.register(c, &key, url.as_deref()))?;
        // Until it first catches up, its lag counts from its start.
        let progress = Arc::new(Progress::new());
        let stop = Arc::new(AtomicBool::new(false));
        let sink: Box<dyn worker::Sink> = match &target.broker {
            Some(b) => Box::new(mqtt::Mqtt::new(b.clone(), cursor.id, tls)),
            None => Box::new(influx::Influx::new(target.clone())),
        };
        let thread = worker::spawn(
            sink,
            target.shown.clone(),
            self.feed.clone(),
            self.outbox.clone(),
            cursor.clone(),
            progress.clone(),
            stop.clone(),
        );
        let id = cursor.id;
        running.push(Running {
            target,
            origin,
            cursor,
            progress,
            stop,
            thread: Some(thread),
        });
        Ok(id)
    }

    pub fn status(&self) -> Vec<ForwarderStatus> {
        let head = self.outbox.head();
        let now = crate::now_ms();
        self.running
            .lock()
            .expect("forwarders")
            .iter()
            .map(|r| {
                let p = &r.progress;
                let lag = (head - r.cursor.delivered()).max(0);
                let last_error = p.last_error.lock().expect("forwarder progress").clone();
                ForwarderStatus {
                    id: r.cursor.id,
                    target: r.target.shown.clone(),
                    kind: r.target.kind,
                    origin: r.origin,
                    state: match p.state.load(Relaxed) {
                        STARTING => "starting",
                        CONNECTED => "connected",
                        _ => "retrying",
                    },
                    lag_readings: lag,
                    lag_seconds: if lag > 0 {
                        (now - p.caught_up_at.load(Relaxed)).max(0) as f64 / 1000.0
                    } else {
                        0.0
                    },
                    delivered: p.delivered.load(Relaxed),
                    errors: p.errors.load(Relaxed),
                    rejected: p.rejected.load(Relaxed),
                    lost: p.lost.load(Relaxed),
                    last_error: last_error.as_ref().map(|e| e.0.clone()),
                    last_error_at: last_error.as_ref().map(|e| e.1),
                }
            })
            .collect()
    }

    /// Stops every forwarder thread; their cursors are stored by the writer as it stops.
    pub fn stop(&self) {
        self.outbox.stop();
        let mut running = self.running.lock().expect("forwarders");
        for r in running.iter_mut() {
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
    }
}
