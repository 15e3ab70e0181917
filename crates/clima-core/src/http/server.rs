//! The listener: accepts connections within the total and per-address caps, serves each with
//! hyper under the head, idle and write limits, and drains them on shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::io::Deadlined;
use crate::config::Limits;

/// Connections refused or cut, by reason, for `/healthz`.
#[derive(Debug, Default)]
pub struct Closed {
    /// No complete head within the head timeout: idle keep-alive connections and trickled heads.
    pub head_timeout: AtomicU64,
    /// Heads over the size cap.
    pub head_too_large: AtomicU64,
    /// Bodies slower than the body timeout.
    pub body_timeout: AtomicU64,
    /// Replies the client stopped reading.
    pub write_stalled: AtomicU64,
    /// Over the per-address cap.
    pub capped: AtomicU64,
    /// Accepts that failed (out of descriptors, say); the listener backed off and went on.
    pub accept_errors: AtomicU64,
}

impl Closed {
    pub fn snapshot(&self) -> serde_json::Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "head_timeout": n(&self.head_timeout),
            "head_too_large": n(&self.head_too_large),
            "body_timeout": n(&self.body_timeout),
            "write_stalled": n(&self.write_stalled),
            "capped": n(&self.capped),
            "accept_errors": n(&self.accept_errors),
        })
    }
}

/// Counts each client address's open connections.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of an address; dropping it gives the place back.
struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut map = self.0.lock().expect("per-address table");
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.table.0.lock().expect("per-address table");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The peer of the connection a request came on, for rate limiting and sensor ids.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Each connection's socket send buffer, in bytes (Linux doubles it).
const SEND_BUFFER: usize = 32 * 1024;
/// Longest pause after a failed accept.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How long shutdown waits for requests in hand before closing their connections.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets the requests in hand
/// finish (up to a few seconds) and returns.
pub async fn run(
    listener: TcpListener,
    router: Router,
    finish: fn(axum::response::Response) -> axum::response::Response,
    limits: Limits,
    closed: Arc<Closed>,
    shutdown: CancellationToken,
) {
    let total = Arc::new(Semaphore::new(limits.total.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.head_max.max(8192))
        .keep_alive(true)
        // Some device firmwares match reply headers by their usual spelling.
        .title_case_headers(true);
    let mut backoff = Duration::from_millis(5);
    loop {
        // The place is taken before accepting, so a flood waits in the kernel's backlog.
        let permit = tokio::select! {
            p = total.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    closed.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "accepting a connection failed; backing off");
                    drop(permit);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        backoff = Duration::from_millis(5);
        let Some(slot) = per_address.take(peer.ip(), limits.per_address) else {
            closed.capped.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // A modest send buffer: a client that stops reading fills it within seconds, even on a
        // quiet live stream, and then meets the write limit instead of parking megabytes of
        // replies in the kernel. Still ample for exports on a local network.
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let stalled = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(Deadlined::new(stream, limits.write_stall, stalled.clone()));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(Peer(peer));
            let router = router.clone();
            async move {
                let reply = router.oneshot(req).await;
                Ok::<_, Infallible>(finish(reply.unwrap_or_else(|never| match never {})))
            }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let closed = closed.clone();
        tokio::spawn(async move {
            let _places = (permit, slot);
            let result = conn.await;
            count_end(&closed, result.err(), stalled.load(Ordering::Relaxed));
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("some connections were still busy at shutdown; closed"),
    }
}

/// Counts a connection that ended because a limit cut it.
fn count_end(closed: &Closed, error: Option<hyper::Error>, stalled: bool) {
    let counter = match error {
        _ if stalled => &closed.write_stalled,
        Some(e) if e.is_timeout() => &closed.head_timeout,
        Some(e) if e.is_parse_too_large() => &closed.head_too_large,
        Some(e) => {
            tracing::debug!(error = %e, "connection ended with an error");
            return;
        }
        None => return,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}
