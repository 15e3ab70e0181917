//! The engine: starts the store, the writer, the hub, the serial boards and the HTTP front door
//! from one config, and stops them in order through its handle so that nothing acknowledged is
//! lost. Everything it does for callers is in its [`Api`] (see `crate::api`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::Api;

use crate::config::EngineConfig;
use crate::forward::Forwarders;
use crate::http::{self, Closed, Front, HostCheck, Limiter};
use crate::hub::Hub;
use crate::store::outbox::Outbox;
use crate::store::{self, Reader, StoreError, WriterConfig};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}. Is another Clima running? Pass --listen 127.0.0.1:PORT to use another port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The configuration would expose the port without a token.
    #[error(transparent)]
    Exposure(#[from] crate::config::ConfigError),
    /// A `--forward` target cannot be used (or its forwarder could not start).
    #[error(transparent)]
    Forward(#[from] crate::forward::ForwardError),
    /// An `--alert-webhook` URL cannot be used, or the alerts could not start.
    #[error(transparent)]
    Alert(#[from] crate::alert::AlertError),
    /// Threads or the async runtime could not be created.
    #[error("cannot start the engine's threads: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Worker threads of the engine's async runtime (the HTTP server, live streams).
const RUNTIME_THREADS: usize = 2;

/// A running engine. Dropping it without [`Engine::shutdown`] also shuts it down.
pub struct Engine {
    addr: SocketAddr,
    api: Api,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
    writer_thread: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Engine {
    pub fn start(cfg: EngineConfig) -> Result<Engine, EngineError> {
        cfg.check_exposure()?;
        let targets = cfg
            .forward
            .iter()
            .map(|url| crate::forward::target::parse(url, cfg.forward_token.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(crate::forward::ForwardError::from)?;
        let conn = store::open(&cfg.db_path)?;
        let hub = Hub::default();
        let outbox = Arc::new(Outbox::default());
        let alert_feed = Arc::new(crate::store::alerts::AlertFeed::default());
        let (writer, writer_thread) = store::spawn_writer(
            conn,
            hub.clone(),
            WriterConfig {
                retention: cfg.retention,
                durability: cfg.durability,
                outbox: outbox.clone(),
                alerts: alert_feed.clone(),
                ..WriterConfig::default()
            },
        )?;
        crate::platform::raise_open_file_limit();
        let bind = |e| EngineError::Bind {
            addr: cfg.listen,
            source: e,
        };
        let listener = listen(cfg.listen).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("clima-rt")
            .enable_all()
            .build()?;
        let listener = {
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind)?
        };
        let reader = Arc::new(Reader::new(cfg.db_path.clone()));
        let labels = reader.settings(crate::serial::LABEL_KEY)?;
        let boards =
            crate::serial::SerialBoards::start(cfg.serial.clone(), writer.clone(), labels)?;
        boards.restore_board_settings(reader.settings(crate::serial::BOARD_SETTINGS_KEY)?);
        let forwarders = Forwarders::start(
            outbox,
            writer.clone(),
            cfg.db_path.clone(),
            targets,
            cfg.forward_token.clone(),
        )?;
        let alerts = crate::alert::Alerts::start(
            writer.clone(),
            reader.clone(),
            alert_feed,
            &cfg.alert_webhooks,
        )?;
        let api = Api(Arc::new(crate::api::Shared {
            writer,
            reader: reader.clone(),
            hub,
            boards,
            demo: Mutex::new(None),
            token: RwLock::new(cfg.token.clone()),
            token_stored: cfg.token_stored && cfg.token.is_some(),
            throttle: cfg.throttle,
            read: crate::api::CalibratedReader::new(reader.clone())?,
            forwarders,
            alerts,
        }));
        let shutdown = CancellationToken::new();
        let mut allowed = cfg.allowed_hosts.clone();
        if !cfg.listen.ip().is_unspecified() {
            allowed.push(cfg.listen.ip().to_string());
        }
        let front = Front {
            api: api.clone(),
            limiter: cfg.rate_limit.map(Limiter::new),
            trusted_proxies: cfg.trusted_proxies.clone(),
            hosts: HostCheck::new(&allowed),
            cors_origins: cfg.cors_origins.clone(),
            ui_dir: cfg.ui_dir.clone(),
            body_timeout: cfg.limits.body_timeout,
            streams: Default::default(),
            closed: Arc::new(Closed::default()),
            replies: Default::default(),
            rate_limited: Default::default(),
            shutdown: shutdown.clone(),
        };
        let server = runtime.spawn(http::serve(listener, front, cfg.limits.clone()));
        tracing::info!(%addr, db = %cfg.db_path.display(), auth = cfg.token.is_some(), durability = ?cfg.durability, "clima engine started");
        Ok(Engine {
            addr,
            api,
            shutdown,
            server: Some(server),
            writer_thread: Some(writer_thread),
            runtime: Some(runtime),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the engine does for its callers.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Where other ingest paths (serial boards, the desktop app) send readings.
    pub fn writer(&self) -> store::WriteHandle {
        self.api.writer()
    }

    pub fn hub(&self) -> Hub {
        self.api.hub()
    }

    pub fn reader(&self) -> Arc<Reader> {
        self.api.reader()
    }

    /// A handle to the engine's async runtime, for callers that run engine futures.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.as_ref().expect("running").handle().clone()
    }

    /// Stops taking requests, answers the ones in hand, commits everything queued, and joins
    /// every thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        tracing::info!("shutting down");
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            // Requests in hand are answered; their commits need the writer, which still runs.
            let _ = runtime.block_on(server);
        }
        // Serial readers and the demo board hand their last readings to the writer before it
        // stops.
        self.api.stop_demo();
        self.api.0.boards.stop();
        // Forwarders stop before the writer, which then stores their last cursors.
        self.api.0.forwarders.stop();
        // The alerts store their last changes through the writer, so they stop before it.
        self.api.0.alerts.stop();
        self.api.0.writer.stop();
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        tracing::info!("stopped; every acknowledged reading is committed");
    }
}

/// Connections the kernel queues for the listener before they are accepted. The standard
/// library's 128 drops part of a burst of new clients (they retry a second later); the system
/// may cap this lower (`somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with a backlog that holds a burst of new clients.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // As the standard library does on Unix: a restarted server may bind while old connections
    // linger. (On Windows this option would let another program take the port, so not there.)
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}
