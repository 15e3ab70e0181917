//! The HTTP front door on `tiny_http`: worker threads take requests off the server, route them,
//! and write replies; live streams get a thread of their own.

mod assets;
mod limit;
mod reply;
mod request;
mod routes;
mod sse;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
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
    pub connections: ConnectionAges,
    /// Where the writer's callbacks send the replies of stored requests; taken at shutdown.
    pub responders: Mutex<Option<mpsc::Sender<Answer>>>,
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
    match routes::route(ctx, &mut req, peer) {
        routes::Outcome::Reply(reply) => answer(ctx, Answer::new(req, reply, started)),
        routes::Outcome::Store(p) => {
            // The worker moves on; the writer calls back after the commit, and a responder
            // thread writes the reply, so no thread waits on the commit.
            let Some(responders) = ctx.responders.lock().expect("responders").clone() else {
                return answer(
                    ctx,
                    Answer::new(
                        req,
                        routes::store_failed(crate::store::StoreError::Stopped),
                        started,
                    ),
                );
            };
            let finish = p.finish;
            ctx.writer.write_then(
                p.readings,
                p.source,
                p.received_at,
                Box::new(move |result| {
                    let reply = result.map(finish).unwrap_or_else(routes::store_failed);
                    let _ = responders.send(Answer::new(req, reply, started));
                }),
            );
        }
        routes::Outcome::Stream => start_stream(ctx, req),
        routes::Outcome::Export(x) => export(ctx, req, x),
    }
}

/// A reply on its way to a request.
pub struct Answer {
    req: tiny_http::Request,
    reply: Reply,
    started: Instant,
}

impl Answer {
    fn new(req: tiny_http::Request, reply: Reply, started: Instant) -> Self {
        Answer {
            req,
            reply,
            started,
        }
    }
}

/// Writes a reply, deciding whether the connection should close (see [`ConnectionAges`]).
fn answer(ctx: &Ctx, a: Answer) {
    let Answer {
        req,
        mut reply,
        started,
    } = a;
    let version = req.http_version();
    let http10 = version.0 == 1 && version.1 == 0;
    // GET replies (pages, reads) always close: a browser opens several connections at once, and
    // one left queued in tiny_http's pool (see `ConnectionAges`) would wait for another to close.
    let get = *req.method() == tiny_http::Method::Get;
    if http10
        || get
        || req
            .remote_addr()
            .is_some_and(|r| ctx.connections.should_close(*r, Instant::now()))
    {
        reply.close = true;
    }
    let method = req.method().clone();
    // The path only: query strings may carry a token and never reach the log.
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    let status = reply.status;
    let mut out = req.into_writer();
    let _ = out
        .write_all(&reply.to_bytes(method == tiny_http::Method::Head))
        .and_then(|_| out.flush());
    if status >= 500 {
        tracing::warn!(%method, %path, status, "request failed");
    } else {
        tracing::debug!(%method, %path, status, micros = started.elapsed().as_micros() as u64, "request");
    }
}

/// Threads writing the replies of stored requests, fed by the writer's callbacks. Several, so
/// one client that stops reading holds up only its own thread.
pub fn spawn_responders(
    ctx: Arc<Ctx>,
    rx: mpsc::Receiver<Answer>,
    count: usize,
) -> Vec<JoinHandle<()>> {
    let rx = Arc::new(Mutex::new(rx));
    (0..count)
        .map(|i| {
            let (ctx, rx) = (ctx.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("clima-reply-{i}"))
                .spawn(move || loop {
                    let next = rx.lock().expect("reply queue").recv();
                    match next {
                        Ok(a) => answer(&ctx, a),
                        Err(_) => break,
                    }
                })
                .expect("spawning a reply thread")
        })
        .collect()
}

/// Streams a CSV export to the client in chunks, as its length is not known in advance.
fn export(ctx: &Arc<Ctx>, req: tiny_http::Request, x: routes::ExportRequest) {
    let mut out = req.into_writer();
    let file = format!("{}-{}.csv", x.sensor, x.metric);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Disposition: attachment; filename=\"{file}\"\r\n\
         X-Content-Type-Options: nosniff\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut sink = std::io::BufWriter::with_capacity(64 * 1024, reply::Chunked::new(out));
    match crate::store::export::export_csv(
        &ctx.reader,
        &x.sensor,
        &x.metric,
        x.from,
        x.to,
        &mut sink,
        |_| {},
    ) {
        Ok(_) => {
            if let Ok(chunked) = sink.into_inner() {
                let _ = chunked.finish();
            }
        }
        // Ending without the last chunk tells the client the body is incomplete.
        Err(e) => tracing::warn!(error = %e, "export stopped"),
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

/// Keep-alive connections live at most this long before a reply asks the client to reconnect.
const CONNECTION_LIFETIME: Duration = Duration::from_millis(250);
/// Connections remembered at most; past this the memory is cleared (a flood of addresses).
const MAX_TRACKED: usize = 50_000;

/// When each open connection was first seen, by client address and port.
///
/// tiny_http gives each connection one pool thread for the connection's whole life, and during a
/// burst of new connections its pool can queue one behind busy threads instead of starting a new
/// thread; such a connection waits until another one closes. Ending every keep-alive connection
/// at its first reply after [`CONNECTION_LIFETIME`] frees threads often, which bounds that wait
/// at little cost to fast clients (one reconnect a quarter second).
#[derive(Default)]
pub struct ConnectionAges {
    first_seen: Mutex<HashMap<SocketAddr, Instant>>,
}

impl ConnectionAges {
    /// Whether the reply to this connection should close it.
    pub fn should_close(&self, remote: SocketAddr, now: Instant) -> bool {
        let mut seen = self.first_seen.lock().expect("connection ages");
        if seen.len() >= MAX_TRACKED {
            seen.clear();
        }
        let first = *seen.entry(remote).or_insert(now);
        let close = now.duration_since(first) >= CONNECTION_LIFETIME;
        if close {
            seen.remove(&remote);
        }
        close
    }

    /// Forgets connections not seen for a while (closed by their clients).
    pub fn prune(&self, now: Instant) {
        self.first_seen
            .lock()
            .expect("connection ages")
            .retain(|_, first| now.duration_since(*first) < Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_recycled_by_age() {
        let ages = ConnectionAges::default();
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        assert!(!ages.should_close(a, t0));
        assert!(!ages.should_close(a, t0 + Duration::from_millis(249)));
        assert!(!ages.should_close(b, t0 + Duration::from_millis(200)));
        assert!(ages.should_close(a, t0 + Duration::from_millis(250)));
        assert!(
            !ages.should_close(a, t0 + Duration::from_millis(260)),
            "a new connection on the same port starts over"
        );
        ages.prune(t0 + Duration::from_secs(61));
        assert!(!ages.should_close(b, t0 + Duration::from_secs(61)));
    }
}
