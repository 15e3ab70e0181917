//! What the window's commands share: the running engine (or why it could not start), the
//! ingest address, and the live-update interval. The token in force is the engine's.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use clima_core::config::default_db_path;
use clima_core::store::settings;
use clima_core::{Api, Engine, EngineConfig, Token};
use tokio::sync::watch;

use crate::error::CommandError;
use crate::Args;

/// Default and bounds of the live-update interval, ms.
pub const DEFAULT_INTERVAL_MS: u64 = 500;
pub const MIN_INTERVAL_MS: u64 = 100;
pub const MAX_INTERVAL_MS: u64 = 10_000;

/// The engine the window drives.
pub struct Running {
    pub engine: Engine,
}

/// The app's managed state.
pub struct Shell {
    /// The engine, until quit; or why it did not start, shown in the window.
    engine: Mutex<Result<Running, CommandError>>,
    /// Live updates go to the window at most once per this many ms; the live task watches it.
    pub interval_ms: watch::Sender<u64>,
    /// When the process started, for the time-to-first-paint log line.
    pub launched: Instant,
    pub first_paint_ms: Mutex<Option<u64>>,
}

impl Shell {
    /// A shell whose engine is not started yet: commands answer `starting` until
    /// [`Shell::start_engine`] has run (the app's setup, once no other instance runs).
    pub fn new(launched: Instant) -> Shell {
        Shell {
            engine: Mutex::new(Err(CommandError::new("starting", "Clima is starting"))),
            interval_ms: watch::Sender::new(DEFAULT_INTERVAL_MS),
            launched,
            first_paint_ms: Mutex::new(None),
        }
    }

    /// Starts the engine with `start`, holding the engine lock so that a command arriving
    /// meanwhile waits for it instead of answering `starting`.
    pub fn start_engine(&self, start: impl FnOnce() -> Result<Running, CommandError>) {
        let mut slot = self.engine.lock().expect("engine lock");
        *slot = start();
        match &*slot {
            Ok(r) => println!("Clima is listening on http://{}", r.engine.local_addr()),
            // The window shows this, so a user who started it from a menu sees it.
            Err(e) => eprintln!("Clima could not start its engine: {}", e.message),
        }
    }

    /// Runs `f` on the running engine, or reports why there is none.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Running) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        match &*self.engine.lock().expect("engine lock") {
            Ok(running) => f(running),
            Err(e) => Err(e.clone()),
        }
    }

    /// The engine's API, to call without holding the engine lock.
    pub fn api(&self) -> Result<Api, CommandError> {
        self.with(|r| Ok(r.engine.api().clone()))
    }

    pub fn interval_ms(&self) -> u64 {
        *self.interval_ms.borrow()
    }

    pub fn set_interval(&self, ms: u64) -> u64 {
        let ms = ms.clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
        self.interval_ms.send_replace(ms);
        ms
    }

    /// Stops the engine (on quit): commits what is queued and joins its threads.
    pub fn shutdown(&self) {
        let mut slot = self.engine.lock().expect("engine lock");
        let stopped = Err(CommandError::new("stopped", "Clima is shutting down"));
        if let Ok(running) = std::mem::replace(&mut *slot, stopped) {
            running.engine.shutdown();
        }
    }
}

/// Starts the engine as the arguments say: a token given with `--token` is fixed; otherwise
/// the one kept in the database (the first run stores a new random one) is used, and may be
/// regenerated from Settings.
pub fn start(args: &Args) -> Result<Running, CommandError> {
    let db = match &args.db {
        Some(p) => p.clone(),
        None => default_db_path().ok_or_else(|| {
            CommandError::new(
                "config",
                "no home folder found for the database: start clima with --db PATH",
            )
        })?,
    };
    let (token, stored) = match args.token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => (
            Token::new(t).map_err(|e| CommandError::new("config", format!("--token: {e}")))?,
            false,
        ),
        // Read before the engine opens the file: only its writer thread writes afterwards.
        None => (settings::stored_token(&db)?, true),
    };
    let mut cfg = EngineConfig::new(db);
    cfg.listen = args.listen;
    cfg.token = Some(token);
    cfg.token_stored = stored;
    cfg.ui_dir = find_ui();
    cfg.serial = clima_core::serial::SerialConfig::from_args(&args.serial)
        .map_err(|e| CommandError::new("config", format!("--serial: {e}")))?;
    cfg.forward = args.forward.clone();
    cfg.forward_token = args
        .forward_token_env
        .as_deref()
        .map(clima_core::forward::Secret::from_env)
        .transpose()
        .map_err(|e| CommandError::new("config", e.to_string()))?;
    let engine = Engine::start(cfg).map_err(|e| CommandError::new("engine", e.to_string()))?;
    Ok(Running { engine })
}

/// The web dashboard's files, served by the engine to browsers on the network: beside the
/// executable (installed), or in the source tree (cargo run).
fn find_ui() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.parent()?.join("ui");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui");
    [beside, source]
        .into_iter()
        .find(|p| p.join("index.html").is_file())
}

/// The addresses other devices can send to: every non-loopback address of this machine when
/// listening on all of them, else the one address listened on.
pub fn ingest_addresses(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let ips: Vec<IpAddr> = if listen.ip().is_unspecified() {
        let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .filter(|i| !i.is_loopback())
            .map(|i| i.ip())
            .filter(|ip| listen.is_ipv6() || ip.is_ipv4())
            .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
            .collect();
        ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
        if ips.is_empty() {
            ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        ips
    } else {
        vec![listen.ip()]
    };
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_to_show() {
        assert_eq!(
            ingest_addresses("127.0.0.1:9000".parse().unwrap()),
            ["127.0.0.1:9000"]
        );
        let all = ingest_addresses("0.0.0.0:8137".parse().unwrap());
        assert!(
            !all.is_empty()
                && all
                    .iter()
                    .all(|a| a.ends_with(":8137") && !a.starts_with('[')),
            "{all:?}"
        );
    }
}
