//! The HTTP front door on `tiny_http`: worker threads take requests off the server, route them,
//! and write replies; live streams get a thread of their own.

mod assets;
mod connections;
mod limit;
mod reply;
mod request;
mod routes;
mod sse;
mod warden;

use std::io::Write;
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use assets::CSP;
pub use connections::{Connections, Policy};
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
    /// The token every request but `/healthz` must carry, if any.
    pub token: RwLock<Option<Token>>,
    /// Whether the token lives in the database and may be regenerated.
    pub token_stored: bool,
    pub limiter: Option<Limiter>,
    /// Peers whose `X-Forwarded-For` names the client (for rate limiting and sensor ids).
    pub trusted_proxies: Vec<IpAddr>,
    pub throttle: Duration,
    pub ui_dir: Option<PathBuf>,
    pub shutdown: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
    pub streams: AtomicUsize,
    pub stream_threads: Mutex<Vec<JoinHandle<()>>>,
    pub connections: Connections,
    /// Connections the warden closed, by reason.
    pub closed: warden::Closed,
    /// Where the writer's callbacks send the replies of stored requests; taken at shutdown.
    pub responders: Mutex<Option<mpsc::Sender<Answer>>>,
    pub boards: crate::serial::SerialBoards,
    /// The demo board, once started from the dashboard.
    pub demo: Mutex<Option<crate::sim::VirtualBoard>>,
}

/// The listening server. tiny_http ends its accept thread at the first accept error (running
/// out of file descriptors, say), after which the port would be deaf; the worker that sees the
/// error, or the warden that finds the listening socket gone, binds a new server on the same
/// address.
pub struct Front {
    addr: SocketAddr,
    current: RwLock<Arc<tiny_http::Server>>,
    rebinding: Mutex<()>,
}

impl Front {
    pub fn bind(addr: SocketAddr) -> Result<Front, String> {
        let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        Ok(Front {
            addr,
            current: RwLock::new(Arc::new(server)),
            rebinding: Mutex::new(()),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn server(&self) -> Arc<tiny_http::Server> {
        self.current.read().expect("front").clone()
    }

    /// Replaces `failed` with a new server on the same address, retrying until it binds or the
    /// engine stops. Other workers that saw the same failure find it already replaced.
    pub(crate) fn rebind(&self, failed: &Arc<tiny_http::Server>, shutdown: &AtomicBool) {
        let _one_at_a_time = self.rebinding.lock().expect("rebinding");
        while Arc::ptr_eq(failed, &self.server()) && !shutdown.load(Ordering::Relaxed) {
            match tiny_http::Server::http(self.addr) {
                Ok(s) => {
                    *self.current.write().expect("front") = Arc::new(s);
                    tracing::warn!(addr = %self.addr, "listening again");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen again yet; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

/// Why a token could not be regenerated.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token was given on the command line (or there is none): Clima does not own it.
    #[error("this token was given with --token or CLIMA_TOKEN (or none is set): change it there, or start without it (clima-server: --token auto) to let Clima keep one it can regenerate")]
    NotStored,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Stores a new token, then puts it in force; the old one is refused from the next request on.
pub fn regenerate_token(ctx: &Ctx) -> Result<Token, TokenError> {
    if !ctx.token_stored {
        return Err(TokenError::NotStored);
    }
    let token = Token::generate();
    ctx.writer
        .set_setting(crate::store::settings::INGEST_TOKEN, token.expose())?;
    *ctx.token.write().expect("token") = Some(token.clone());
    tracing::info!("the ingest token was regenerated; the old one is refused");
    Ok(token)
}

/// Starts `count` workers taking requests from `front` until `ctx.shutdown` is set.
pub fn spawn_workers(front: Arc<Front>, ctx: Arc<Ctx>, count: usize) -> Vec<JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let (front, ctx) = (front.clone(), ctx.clone());
            std::thread::Builder::new()
                .name(format!("clima-http-{i}"))
                .spawn(move || worker(&front, &ctx))
                .expect("spawning an HTTP worker")
        })
        .collect()
}

/// Starts the thread that closes idle, slow, oversized and excess connections.
pub fn spawn_warden(
    ctx: Arc<Ctx>,
    front: Arc<Front>,
    policy: Policy,
) -> std::io::Result<JoinHandle<()>> {
    warden::spawn(ctx, front, policy)
}

fn worker(front: &Front, ctx: &Arc<Ctx>) {
    while !ctx.shutdown.load(Ordering::Relaxed) {
        let server = front.server();
        match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(req)) => handle(ctx, req),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "the HTTP listener failed; binding again");
                front.rebind(&server, &ctx.shutdown);
            }
        }
    }
}

fn handle(ctx: &Arc<Ctx>, mut req: tiny_http::Request) {
    let started = Instant::now();
    let remote = req.remote_addr().copied();
    let _busy = remote.map(|r| ctx.connections.request(r, started));
    let peer = remote.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let peer = request::client_ip(
        peer,
        &request::headers(&req, "X-Forwarded-For"),
        &ctx.trusted_proxies,
    );
    let replying = remote.map(|r| Replying::start(ctx, r));
    if replying.as_ref().is_some_and(|r| r.pipelined) {
        // Answering it would wait for the earlier reply (see `Verdict::Pipelined`): send
        // nothing, and the warden closes the connection.
        drop(req.into_writer());
        return;
    }
    match routes::route(ctx, &mut req, peer) {
        routes::Outcome::Reply(reply) => answer(ctx, Answer::new(req, reply, started, replying)),
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
                        replying,
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
                    let _ = responders.send(Answer::new(req, reply, started, replying));
                }),
            );
        }
        routes::Outcome::Stream => start_stream(ctx, req, replying),
        routes::Outcome::Export(x) => {
            // Written at once by this thread, as a reply (see `answer`).
            drop(replying);
            export(ctx, req, x)
        }
    }
}

/// A reply on its way to a request.
pub struct Answer {
    req: tiny_http::Request,
    reply: Reply,
    started: Instant,
    replying: Option<Replying>,
}

impl Answer {
    fn new(
        req: tiny_http::Request,
        reply: Reply,
        started: Instant,
        replying: Option<Replying>,
    ) -> Self {
        Answer {
            req,
            reply,
            started,
            replying,
        }
    }
}

/// A request of a connection being answered, until this drops: when its reply starts being
/// written, or when its stream ends.
pub struct Replying {
    ctx: Arc<Ctx>,
    remote: SocketAddr,
    /// An earlier request of the connection was still being answered when this one came.
    pipelined: bool,
}

impl Replying {
    fn start(ctx: &Arc<Ctx>, remote: SocketAddr) -> Replying {
        Replying {
            ctx: ctx.clone(),
            remote,
            pipelined: ctx.connections.start_reply(remote),
        }
    }
}

impl Drop for Replying {
    fn drop(&mut self) {
        self.ctx.connections.replied(self.remote);
    }
}

/// Writes a reply, deciding whether the connection should close (see [`Connections`]).
fn answer(ctx: &Ctx, a: Answer) {
    let Answer {
        req,
        mut reply,
        started,
        replying,
    } = a;
    let version = req.http_version();
    let http10 = version.0 == 1 && version.1 == 0;
    // GET replies (pages, reads) always close: a browser opens several connections at once, and
    // one left queued in tiny_http's pool (see `Connections`) would wait for another to close.
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
    // From here this thread writes the reply, which goes out (or the warden cuts a client that
    // does not read), and only then can a client that waits for it send its next request.
    drop(replying);
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
    let remote = req.remote_addr().copied();
    if let Some(r) = remote {
        ctx.connections.set_long_running(r, true);
    }
    write_export(ctx, req, x);
    if let Some(r) = remote {
        ctx.connections.set_long_running(r, false);
    }
}

fn write_export(ctx: &Arc<Ctx>, req: tiny_http::Request, x: routes::ExportRequest) {
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

fn start_stream(ctx: &Arc<Ctx>, req: tiny_http::Request, replying: Option<Replying>) {
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
    let remote = req.remote_addr().copied();
    if let Some(r) = remote {
        ctx.connections.set_long_running(r, true);
    }
    let out = req.into_writer();
    let spawned = std::thread::Builder::new()
        .name("clima-sse".into())
        .spawn(move || {
            let _replying = replying;
            sse::run(ctx2.clone(), out);
            ctx2.streams.fetch_sub(1, Ordering::Relaxed);
            if let Some(r) = remote {
                ctx2.connections.set_long_running(r, false);
            }
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
