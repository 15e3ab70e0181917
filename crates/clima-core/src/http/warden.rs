//! The connection warden: a thread that reads the kernel's view of every connection to the HTTP
//! port and shuts down the ones [`Policy`] condemns. tiny_http sets no timeouts and no limits
//! on connections or request heads, and exposes no hook to add them, so they are enforced from
//! outside: `shutdown(2)` on a socket wakes the pool thread blocked on it, which then lets go.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::connections::{Conn, Policy, Verdict};
use super::{Ctx, Front};

/// How often the connections are looked at: often, so that a client pouring out an endless
/// head is cut before it costs much memory, but with the scan taking at most a twentieth of
/// one core.
const EVERY_MIN: Duration = Duration::from_millis(50);
const EVERY_MAX: Duration = Duration::from_millis(500);

/// Connections the warden has closed, by reason (shown by `/healthz`).
#[derive(Default, Debug)]
pub struct Closed {
    pub idle: AtomicU64,
    pub too_old: AtomicU64,
    pub too_slow: AtomicU64,
    pub too_large: AtomicU64,
    pub unread: AtomicU64,
    pub pipelined: AtomicU64,
    pub capped: AtomicU64,
}

impl Closed {
    fn count(&self, v: Verdict) {
        let c = match v {
            Verdict::Idle => &self.idle,
            Verdict::TooOld => &self.too_old,
            Verdict::TooSlow => &self.too_slow,
            Verdict::TooLarge => &self.too_large,
            Verdict::Unread => &self.unread,
            Verdict::Pipelined => &self.pipelined,
            Verdict::AddressCap | Verdict::TotalCap => &self.capped,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "idle": get(&self.idle),
            "too_old": get(&self.too_old),
            "too_slow": get(&self.too_slow),
            "too_large": get(&self.too_large),
            "unread": get(&self.unread),
            "pipelined": get(&self.pipelined),
            "capped": get(&self.capped),
        })
    }
}

/// Starts the warden for connections to `listen`; it ends with the engine.
pub fn spawn(ctx: Arc<Ctx>, front: Arc<Front>, policy: Policy) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clima-warden".into())
        .spawn(move || {
            let mut first_seen: HashMap<(i32, SocketAddr), Instant> = HashMap::new();
            let mut every = EVERY_MIN;
            while !ctx.shutdown.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                let started = Instant::now();
                patrol(&ctx, &front, &policy, &mut first_seen);
                every = (started.elapsed() * 20).clamp(EVERY_MIN, EVERY_MAX);
            }
        })
}

fn patrol(
    ctx: &Ctx,
    front: &Front,
    policy: &Policy,
    first_seen: &mut HashMap<(i32, SocketAddr), Instant>,
) {
    let now = Instant::now();
    let listen = front.addr();
    if !os::SUPPORTED {
        ctx.connections
            .forget_older_than(now, Duration::from_secs(60));
        return;
    }
    let Some(scan) = os::connections_to(listen) else {
        return; // out of descriptors for a moment: look again next time
    };
    if !scan.listening {
        // tiny_http's accept thread is gone (it panics when a descriptor cannot be cloned),
        // taking the listening socket with it.
        tracing::error!(%listen, "the HTTP listener is gone; binding again");
        front.rebind(&front.server(), &ctx.shutdown);
        return;
    }
    let sockets = scan.sockets;
    let mut conns = Vec::with_capacity(sockets.len());
    let mut open = HashSet::with_capacity(sockets.len());
    let mut fresh = HashMap::with_capacity(sockets.len());
    for s in &sockets {
        let first = *first_seen.get(&(s.fd, s.peer)).unwrap_or(&now);
        fresh.insert((s.fd, s.peer), first);
        open.insert(s.peer);
        conns.push(Conn {
            peer: s.peer,
            age: now.duration_since(first),
            quiet_in: s.quiet_in,
            quiet_out: s.quiet_out,
            bytes_in: s.bytes_in,
            unsent: s.unsent,
            router: ctx.connections.view(s.peer, now),
        });
    }
    *first_seen = fresh;
    ctx.connections.retain_open(&open, now);
    ctx.connections
        .set_congested(Policy::waiting_for_a_thread(&conns));
    for (i, verdict) in policy.verdicts(&conns) {
        let s = &sockets[i];
        if os::shut(s.fd, s.peer) {
            ctx.closed.count(verdict);
            tracing::debug!(peer = %s.peer, ?verdict, "closed a connection");
        }
    }
}

/// The connections to the port, as the kernel sees them.
struct Scan {
    sockets: Vec<Socket>,
    /// Whether the listening socket is still open.
    listening: bool,
}

/// One connection: its descriptor, its peer, and the kernel's counters.
struct Socket {
    fd: i32,
    peer: SocketAddr,
    quiet_in: Duration,
    quiet_out: Duration,
    bytes_in: u64,
    unsent: u64,
}

#[cfg(target_os = "linux")]
mod os {
    //! Finding this process's sockets in `/proc/self/fd` and reading `TCP_INFO` from them.

    use std::mem::{size_of, MaybeUninit};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::Duration;

    use super::{Scan, Socket};

    pub const SUPPORTED: bool = true;

    fn addr_of(
        fd: i32,
        get: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
    ) -> Option<SocketAddr> {
        let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffer is a sockaddr_storage and `len` says its size.
        let rc = unsafe { get(fd, storage.as_mut_ptr().cast(), &mut len) };
        if rc != 0 {
            return None;
        }
        // SAFETY: the kernel filled it in (zeroed before, so every byte is initialised).
        let storage = unsafe { storage.assume_init() };
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says this is a sockaddr_in.
                let a: libc::sockaddr_in = unsafe { std::mem::transmute_copy(&storage) };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this is a sockaddr_in6.
                let a: libc::sockaddr_in6 = unsafe { std::mem::transmute_copy(&storage) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(a.sin6_port)))
            }
            _ => None,
        }
    }

    fn tcp_info(fd: i32) -> Option<libc::tcp_info> {
        let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the buffer is a tcp_info and `len` says its size; older kernels fill less.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        // SAFETY: zeroed before, so fields an older kernel leaves out read as 0.
        (rc == 0).then(|| unsafe { info.assume_init() })
    }

    fn serves(local: SocketAddr, listen: SocketAddr) -> bool {
        local.port() == listen.port() && (listen.ip().is_unspecified() || local.ip() == listen.ip())
    }

    /// Connected TCP sockets of this process whose local end is `listen`, and whether the
    /// listening socket is still open; `None` if the descriptors cannot be read just now.
    pub fn connections_to(listen: SocketAddr) -> Option<Scan> {
        let dir = std::fs::read_dir("/proc/self/fd").ok()?;
        let mut out = Vec::new();
        let mut listening = false;
        // tiny_http holds each connection twice (a reading and a writing clone): count it once.
        let mut peers = std::collections::HashSet::new();
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            // Only sockets: the link reads "socket:[inode]".
            let is_socket = std::fs::read_link(entry.path())
                .is_ok_and(|t| t.as_os_str().as_encoded_bytes().starts_with(b"socket:"));
            if !is_socket {
                continue;
            }
            let Some(local) = addr_of(fd, libc::getsockname) else {
                continue;
            };
            if !serves(local, listen) {
                continue;
            }
            // The listening socket has no peer.
            let Some(peer) = addr_of(fd, libc::getpeername) else {
                listening |= local == listen;
                continue;
            };
            if !peers.insert(peer) {
                continue;
            }
            let Some(info) = tcp_info(fd) else { continue };
            out.push(Socket {
                fd,
                peer,
                quiet_in: Duration::from_millis(info.tcpi_last_data_recv.into()),
                quiet_out: Duration::from_millis(info.tcpi_last_data_sent.into()),
                bytes_in: info.tcpi_bytes_received,
                unsent: info.tcpi_notsent_bytes.into(),
            });
        }
        Some(Scan {
            sockets: out,
            listening,
        })
    }

    /// Shuts the socket down if `fd` is still the connection from `peer` (the descriptor may
    /// have been closed and reused since it was looked at).
    pub fn shut(fd: i32, peer: SocketAddr) -> bool {
        if addr_of(fd, libc::getpeername) != Some(peer) {
            return false;
        }
        // SAFETY: shutting down a socket descriptor; the owner sees its reads end.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) == 0 }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    //! Elsewhere the kernel's view is not read; the router's recycling still applies.

    use std::net::SocketAddr;

    use super::Scan;

    pub const SUPPORTED: bool = false;

    pub fn connections_to(_listen: SocketAddr) -> Option<Scan> {
        None
    }

    pub fn shut(_fd: i32, _peer: SocketAddr) -> bool {
        false
    }
}
