//! The HTTP front door on `tiny_http`: worker threads take requests off the server, route them,
//! and write replies; live streams get a thread of their own.

mod assets;
mod limit;
mod reply;
mod request;
mod routes;
mod sse;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use assets::CSP;
pub use limit::Limiter;
pub use reply::Reply;
pub use request::MAX_BODY;

use crate::config::Token;
use crate::hub::Hub;
use crate::store::{Reader, WriteHandle};

/// Most live streams served at once; more get 503.
const MAX_STREAMS: usize = 256;
/// Every this many replies, one asks its client to reconnect. tiny_http gives each connection a
/// pool thread for its whole life and can leave a new connection queued behind busy ones during
/// a burst; recycling keep-alive connections bounds that wait.
const RECYCLE_EVERY: u64 = 100;

/// What the request handlers share.
pub struct Ctx {
    pub writer: WriteHandle,
    pub reader: Arc<Reader>,
    pub hub: Hub,
    pub token: Option<Token>,
    pub limiter: Option<Limiter>,
    pub throttle: Duration,
    pub ui_dir: Option<PathBuf>,
    pub shutdown: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
    pub streams: AtomicUsize,
    pub stream_threads: Mutex<Vec<JoinHandle<()>>>,
    pub replies: AtomicU64,
    pub boards: crate::serial::SerialBoards,
    /// The demo board, once started from the dashboard.
    pub demo: Mutex<Option<crate::sim::VirtualBoard>>,
}

/// Starts `count` workers taking requests from `server` until `ctx.shutdown` is set.
pub fn spawn_workers(
    server: Arc<tiny_http::Server>,
    ctx: Arc<Ctx>,
    count: usize,
) -> Vec<JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let (server, ctx) = (server.clone(), ctx.clone());
            std::thread::Builder::new()
                .name(format!("clima-http-{i}"))
                .spawn(move || worker(&server, &ctx))
                .expect("spawning an HTTP worker")
        })
        .collect()
}

fn worker(server: &tiny_http::Server, ctx: &Arc<Ctx>) {
    while !ctx.shutdown.load(Ordering::Relaxed) {
        match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(req)) => handle(ctx, req),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "the HTTP listener failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn handle(ctx: &Arc<Ctx>, mut req: tiny_http::Request) {
    let started = Instant::now();
    let peer = req
        .remote_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let method = req.method().clone();
    // The path only: query strings may carry a token and never reach the log.
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    match routes::route(ctx, &mut req, peer) {
        routes::Outcome::Reply(mut reply) => {
            let http10 = req.http_version().0 == 1 && req.http_version().1 == 0;
            if http10
                || ctx.replies.fetch_add(1, Ordering::Relaxed) % RECYCLE_EVERY == RECYCLE_EVERY - 1
            {
                reply.close = true;
            }
            let head_only = method == tiny_http::Method::Head;
            let status = reply.status;
            let mut out = req.into_writer();
            let _ = out
                .write_all(&reply.to_bytes(head_only))
                .and_then(|_| out.flush());
            if status >= 500 {
                tracing::warn!(%method, %path, status, "request failed");
            } else {
                tracing::debug!(%method, %path, status, micros = started.elapsed().as_micros() as u64, "request");
            }
        }
        routes::Outcome::Stream => start_stream(ctx, req),
    }
}

fn start_stream(ctx: &Arc<Ctx>, req: tiny_http::Request) {
    if ctx.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        ctx.streams.fetch_sub(1, Ordering::Relaxed);
        let reply = Reply::error(
            503,
            "too_many_streams",
            "too many live viewers: close another dashboard and retry",
        );
        let mut out = req.into_writer();
        let _ = out.write_all(&reply.to_bytes(false));
        return;
    }
    let ctx2 = ctx.clone();
    let out = req.into_writer();
    let spawned = std::thread::Builder::new()
        .name("clima-sse".into())
        .spawn(move || {
            sse::run(ctx2.clone(), out);
            ctx2.streams.fetch_sub(1, Ordering::Relaxed);
        });
    match spawned {
        Ok(handle) => {
            let mut threads = ctx.stream_threads.lock().expect("stream list");
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
        Err(e) => {
            ctx.streams.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(error = %e, "could not start a live stream");
        }
    }
}
