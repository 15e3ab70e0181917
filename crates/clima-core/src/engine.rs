//! The engine: starts the store, the writer, the hub and the HTTP front door from one config,
//! and stops them in order through its handle so that nothing acknowledged is lost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{EngineConfig, Token};
use crate::http::{self, Ctx, Limiter};
use crate::hub::Hub;
use crate::store::{self, Reader, StoreError, WriteHandle, WriterConfig};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {reason}. Is another Clima running? Pass --listen 127.0.0.1:PORT to use another port")]
    Bind { addr: SocketAddr, reason: String },
    /// The configuration would expose the port without a token.
    #[error("{0}")]
    Exposure(String),
    /// Threads or the async runtime could not be created.
    #[error("cannot start the engine's threads: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Threads writing replies after commits.
const RESPONDERS: usize = 4;

/// How often the housekeeping chores run (rate-limiter pruning).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);

/// A running engine. Dropping it without [`Engine::shutdown`] also shuts it down.
pub struct Engine {
    addr: SocketAddr,
    ctx: Arc<Ctx>,
    front: Arc<http::Front>,
    threads: Vec<JoinHandle<()>>,
    /// Reply threads: they finish after the writer, which feeds them.
    responders: Vec<JoinHandle<()>>,
    writer_thread: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Engine {
    pub fn start(cfg: EngineConfig) -> Result<Engine, EngineError> {
        cfg.check_exposure().map_err(EngineError::Exposure)?;
        let conn = store::open(&cfg.db_path)?;
        let hub = Hub::default();
        let (writer, writer_thread) = store::spawn_writer(
            conn,
            hub.clone(),
            WriterConfig {
                retention: cfg.retention,
                durability: cfg.durability,
                ..WriterConfig::default()
            },
        )?;
        raise_open_file_limit();
        let front =
            Arc::new(
                http::Front::bind(cfg.listen).map_err(|reason| EngineError::Bind {
                    addr: cfg.listen,
                    reason,
                })?,
            );
        let addr = front.addr();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("clima-rt")
            .enable_time()
            .build()?;
        let (reply_tx, reply_rx) = std::sync::mpsc::channel();
        let reader = Arc::new(Reader::new(cfg.db_path.clone()));
        let labels = reader.settings(crate::serial::LABEL_KEY)?;
        let boards =
            crate::serial::SerialBoards::start(cfg.serial.clone(), writer.clone(), labels)?;
        let ctx = Arc::new(Ctx {
            boards,
            demo: Mutex::new(None),
            writer,
            reader,
            hub,
            token: std::sync::RwLock::new(cfg.token.clone()),
            token_stored: cfg.token_stored && cfg.token.is_some(),
            limiter: cfg.rate_limit.map(Limiter::new),
            trusted_proxies: cfg.trusted_proxies.clone(),
            throttle: cfg.throttle,
            ui_dir: cfg.ui_dir.clone(),
            shutdown: Arc::new(AtomicBool::new(false)),
            runtime: runtime.handle().clone(),
            streams: AtomicUsize::new(0),
            stream_threads: Mutex::new(Vec::new()),
            connections: Default::default(),
            closed: Default::default(),
            responders: Mutex::new(Some(reply_tx)),
        });
        let mut threads = http::spawn_workers(front.clone(), ctx.clone(), cfg.http_workers.max(1));
        threads.push(http::spawn_warden(
            ctx.clone(),
            front.clone(),
            cfg.connections,
        )?);
        let responders = http::spawn_responders(ctx.clone(), reply_rx, RESPONDERS);
        threads.push(spawn_housekeeping(ctx.clone())?);
        tracing::info!(%addr, db = %cfg.db_path.display(), auth = cfg.token.is_some(), durability = ?cfg.durability, "clima engine started");
        Ok(Engine {
            addr,
            ctx,
            front,
            threads,
            responders,
            writer_thread: Some(writer_thread),
            runtime: Some(runtime),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where other ingest paths (serial boards, the desktop app) send readings.
    pub fn writer(&self) -> WriteHandle {
        self.ctx.writer.clone()
    }

    pub fn hub(&self) -> Hub {
        self.ctx.hub.clone()
    }

    pub fn reader(&self) -> Arc<Reader> {
        self.ctx.reader.clone()
    }

    /// The token requests must carry, if any.
    pub fn token(&self) -> Option<Token> {
        self.ctx.token.read().expect("token").clone()
    }

    /// Whether [`Engine::regenerate_token`] can replace the token: it is the one kept in the
    /// database, not one given with `--token`.
    pub fn token_regenerable(&self) -> bool {
        self.ctx.token_stored
    }

    /// Replaces the stored token with a new one, refused at once in its place. Only a token
    /// kept in the database can be regenerated; one given with `--token` is changed there.
    pub fn regenerate_token(&self) -> Result<Token, http::TokenError> {
        http::regenerate_token(&self.ctx)
    }

    /// The serial ports being read.
    pub fn boards(&self) -> &crate::serial::SerialBoards {
        &self.ctx.boards
    }

    /// Stops taking requests, answers the ones in hand, commits everything queued, and joins
    /// every thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.ctx.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!("shutting down");
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let streams: Vec<_> = self
            .ctx
            .stream_threads
            .lock()
            .expect("stream list")
            .drain(..)
            .collect();
        for t in streams {
            let _ = t.join();
        }
        for _ in 0..4 {
            self.front.server().unblock();
        }
        // Serial readers hand their last readings to the writer before it stops.
        if let Some(demo) = self.ctx.demo.lock().expect("demo board").take() {
            demo.stop();
        }
        self.ctx.boards.stop();
        self.ctx.writer.stop();
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
        // Every commit has answered; let the reply threads write the last replies and end.
        self.ctx.responders.lock().expect("responders").take();
        for t in self.responders.drain(..) {
            let _ = t.join();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        tracing::info!("stopped; every acknowledged reading is committed");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Lets the process hold as many descriptors as the system allows it: each HTTP connection
/// holds one, and running out stops the listener from accepting (see [`http::Front`]).
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reading and setting this process's own limit through a valid struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

fn spawn_housekeeping(ctx: Arc<Ctx>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clima-housekeeping".into())
        .spawn(move || {
            let tick = Duration::from_millis(200);
            let mut elapsed = Duration::ZERO;
            while !ctx.shutdown.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                elapsed += tick;
                if elapsed >= HOUSEKEEPING_EVERY {
                    elapsed = Duration::ZERO;
                    if let Some(l) = &ctx.limiter {
                        l.prune();
                    }
                }
            }
        })
}
