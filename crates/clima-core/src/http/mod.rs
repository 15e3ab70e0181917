//! The HTTP front door on hyper and axum, on the engine's tokio runtime: the listener and its
//! limits (`server`), the checks every request passes (`guard`), the routes (`routes`), and the
//! live stream (`sse`). Handlers are thin adapters over the engine's [`Api`].

mod assets;
mod guard;
mod io;
mod limit;
mod reply;
mod request;
mod routes;
mod server;
mod sse;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use assets::CSP;
pub use guard::HostCheck;
pub use limit::Limiter;
pub use reply::Reply;
pub use request::MAX_BODY;
pub use server::Closed;

use crate::api::Api;

/// How often the rate limiter forgets addresses whose allowance has refilled.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// What the handlers share besides the engine's API.
pub struct Front {
    pub api: Api,
    pub limiter: Option<Limiter>,
    /// Peers whose `X-Forwarded-For` names the client (for rate limiting and sensor ids).
    pub trusted_proxies: Vec<IpAddr>,
    /// Names this server answers to (DNS rebinding defence).
    pub hosts: HostCheck,
    /// Other origins allowed to call the API from a browser (`--cors-origin`).
    pub cors_origins: Vec<String>,
    pub ui_dir: Option<PathBuf>,
    pub body_timeout: Duration,
    /// Live streams open now.
    pub streams: AtomicUsize,
    /// Connections refused or cut, by reason, for `/healthz`.
    pub closed: Arc<Closed>,
    /// Replies sent, by status, for `/metrics`.
    pub replies: Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Requests refused by the rate limiter, for `/metrics`.
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// Ends live streams at shutdown.
    pub shutdown: CancellationToken,
}

/// Serves the API on `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(listener: tokio::net::TcpListener, front: Front, limits: crate::config::Limits) {
    let shutdown = front.shutdown.clone();
    let closed = front.closed.clone();
    let front = Arc::new(front);
    if front.limiter.is_some() {
        let (front, shutdown) = (front.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.cancelled() => break,
                }
                if let Some(l) = &front.limiter {
                    l.prune();
                }
            }
        });
    }
    server::run(
        listener,
        routes::router(front),
        routes::explain_405,
        limits,
        closed,
        shutdown,
    )
    .await;
}
