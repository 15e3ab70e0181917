//! What is known about each open HTTP connection (from the router, by client address and port),
//! and the pure rules that decide which connections to close: idle, too old, too slow, too
//! large, or over the per-address and total caps.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::MAX_BODY;

/// Keep-alive connections live at most this long before a reply asks the client to reconnect.
const CONNECTION_LIFETIME: Duration = Duration::from_millis(250);
/// A connection that has sent data but had no request routed for this long waits in tiny_http's
/// pool for a thread.
const WAITING_AFTER: Duration = Duration::from_millis(50);
/// Connections remembered at most; past this the memory is cleared (a flood of addresses).
const MAX_TRACKED: usize = 50_000;

/// The router's view of one connection.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: Instant,
    requests: u32,
    /// A worker has been handling a request of this connection since then.
    busy_since: Option<Instant>,
    /// A live stream or an export: long-lived and quiet on the way in, by design.
    long_running: bool,
    /// Its last reply said `Connection: close`; a request after that is a new connection that
    /// got the same client port.
    closing: bool,
    /// Its requests being answered now.
    replying: u32,
    /// It sent a request before the previous reply was written (see [`Verdict::Pipelined`]).
    pipelined: bool,
}

impl Seen {
    fn new(now: Instant) -> Seen {
        Seen {
            first: now,
            requests: 0,
            busy_since: None,
            long_running: false,
            closing: false,
            replying: 0,
            pipelined: false,
        }
    }
}

/// Open connections as the request handlers see them, by client address and port.
///
/// Two uses. Recycling: tiny_http gives each connection one pool thread for the connection's
/// whole life, and during a burst of new connections its pool can queue one behind busy threads
/// instead of starting a new thread; such a connection waits until another one closes. Ending
/// every keep-alive connection at its first reply after [`CONNECTION_LIFETIME`] frees threads
/// often, which bounds that wait at little cost to fast clients (one reconnect a quarter second);
/// while the warden sees a connection waiting, every reply ends its connection.
/// Policing: the warden joins this with the kernel's view of each socket (see [`Policy`]).
#[derive(Default)]
pub struct Connections {
    seen: Mutex<HashMap<SocketAddr, Seen>>,
    /// Some connection waits for a pool thread (see [`Policy::waiting_for_a_thread`]): until
    /// none does, every reply closes its connection, so that threads come free at once.
    congested: AtomicBool,
}

/// Marks a connection busy while a worker handles its request; dropping it clears the mark.
pub struct Busy<'a> {
    connections: &'a Connections,
    remote: SocketAddr,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.connections
            .update(self.remote, |s| s.busy_since = None);
    }
}

impl Connections {
    fn update<T>(&self, remote: SocketAddr, f: impl FnOnce(&mut Seen) -> T) -> T {
        let mut seen = self.seen.lock().expect("connections");
        if seen.len() >= MAX_TRACKED && !seen.contains_key(&remote) {
            seen.clear();
        }
        f(seen
            .entry(remote)
            .or_insert_with(|| Seen::new(Instant::now())))
    }

    /// Notes a request arriving on `remote`; the connection counts as busy until the guard drops.
    pub fn request(&self, remote: SocketAddr, now: Instant) -> Busy<'_> {
        self.update(remote, |s| {
            if s.closing {
                *s = Seen::new(now);
            }
            s.requests += 1;
            s.busy_since = Some(now);
        });
        Busy {
            connections: self,
            remote,
        }
    }

    /// Notes that a request of `remote` is being answered, until [`Connections::replied`].
    /// Returns whether an earlier one still is: the client pipelines.
    pub fn start_reply(&self, remote: SocketAddr) -> bool {
        self.update(remote, |s| {
            let earlier = s.replying > 0;
            s.replying += 1;
            s.pipelined |= earlier;
            earlier
        })
    }

    pub fn replied(&self, remote: SocketAddr) {
        self.update(remote, |s| s.replying = s.replying.saturating_sub(1));
    }

    /// Marks `remote` as a live stream or export, or no longer one.
    pub fn set_long_running(&self, remote: SocketAddr, yes: bool) {
        self.update(remote, |s| s.long_running = yes);
    }

    /// Whether the reply to this connection should close it. The connection stays known (with
    /// its request count) until the warden sees it gone.
    pub fn should_close(&self, remote: SocketAddr, now: Instant) -> bool {
        let mut seen = self.seen.lock().expect("connections");
        let Some(s) = seen.get_mut(&remote) else {
            return false;
        };
        s.closing |= self.congested.load(Ordering::Relaxed)
            || now.duration_since(s.first) >= CONNECTION_LIFETIME;
        s.closing
    }

    /// Whether a connection waits for a pool thread, as the warden last found.
    pub fn set_congested(&self, yes: bool) {
        if self.congested.swap(yes, Ordering::Relaxed) != yes {
            tracing::debug!(congested = yes, "connections waiting for a thread");
        }
    }

    /// Forgets every connection that is no longer open: not in `open`, a scan of the sockets
    /// that began at `scanned`. A connection whose first request came after that may be missing
    /// from the scan, so it is kept; forgetting it would reset its request count and make its
    /// bytes look like an oversized head.
    pub fn retain_open(&self, open: &std::collections::HashSet<SocketAddr>, scanned: Instant) {
        self.seen
            .lock()
            .expect("connections")
            .retain(|addr, s| open.contains(addr) || s.first >= scanned);
    }

    /// Forgets connections first seen longer ago than `age` (where the warden cannot see which
    /// are open).
    pub fn forget_older_than(&self, now: Instant, age: Duration) {
        self.seen
            .lock()
            .expect("connections")
            .retain(|_, s| now.duration_since(s.first) < age);
    }

    /// What the router knows about `remote`, for the warden.
    pub fn view(&self, remote: SocketAddr, now: Instant) -> RouterView {
        let seen = self.seen.lock().expect("connections");
        match seen.get(&remote) {
            Some(s) => RouterView {
                requests: s.requests,
                busy_for: s.busy_since.map(|t| now.saturating_duration_since(t)),
                long_running: s.long_running,
                pipelined: s.pipelined,
            },
            None => RouterView::default(),
        }
    }

    /// Connections remembered (for tests of the bound).
    pub fn len(&self) -> usize {
        self.seen.lock().expect("connections").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The router's part of a connection's picture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterView {
    pub requests: u32,
    pub busy_for: Option<Duration>,
    pub long_running: bool,
    pub pipelined: bool,
}

/// One open connection as the warden sees it: the kernel's counters plus the router's view.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub peer: SocketAddr,
    /// Since the warden first saw it.
    pub age: Duration,
    /// Since the client last sent data.
    pub quiet_in: Duration,
    /// Since the server last sent data.
    pub quiet_out: Duration,
    pub bytes_in: u64,
    /// Bytes of replies the kernel holds back because the client's window is shut.
    pub unsent: u64,
    pub router: RouterView,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No data either way for [`Policy::idle`].
    Idle,
    /// Open longer than [`Policy::max_age`] without being a stream or export: a client
    /// trickling its headers or body.
    TooOld,
    /// A worker has waited on its request for longer than [`Policy::busy`]: a slow body.
    TooSlow,
    /// More bytes than its requests can account for: an oversized head.
    TooLarge,
    /// Replies wait to be sent and none has gone out for [`Policy::unread`]: a client that does
    /// not read. A reply thread writing to it is blocked, and with it every reply queued behind.
    Unread,
    /// It sent a request before its previous reply was written. tiny_http reads the next request
    /// of a connection as soon as the body of the last is read and writes replies in request
    /// order, so a thread answering a later request waits for the earlier reply; with enough
    /// pipelined requests every thread would wait on another. Such requests get no reply and the
    /// connection is closed (no common client pipelines).
    Pipelined,
    /// Over the per-address cap.
    AddressCap,
    /// Over the total cap.
    TotalCap,
}

/// The limits the warden enforces.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub idle: Duration,
    pub max_age: Duration,
    pub busy: Duration,
    /// Largest request head accepted, in bytes.
    pub max_head: u64,
    pub unread: Duration,
    pub per_address: usize,
    pub total: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            idle: Duration::from_secs(10),
            max_age: Duration::from_secs(30),
            busy: Duration::from_secs(5),
            max_head: 64 * 1024,
            unread: Duration::from_millis(500),
            per_address: 256,
            total: 4096,
        }
    }
}

impl Policy {
    /// Whether some connection waits in tiny_http's pool: it sent data a while ago, yet no
    /// request of it reached a handler. A pool thread keeps its connection for the connection's
    /// whole life, and during a burst the pool can queue new connections behind busy threads
    /// instead of starting more; such a connection waits until another one closes.
    pub fn waiting_for_a_thread(conns: &[Conn]) -> bool {
        conns.iter().any(|c| {
            c.router.requests == 0
                && !c.router.long_running
                && c.bytes_in > 0
                && c.age >= WAITING_AFTER
        })
    }

    /// The connections to close and why, by index into `conns`.
    pub fn verdicts(&self, conns: &[Conn]) -> Vec<(usize, Verdict)> {
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for (i, c) in conns.iter().enumerate() {
            let long = c.router.long_running;
            // Every request may carry a head and a full body; anything beyond that is a head
            // that never ends.
            let allowance = (u64::from(c.router.requests) + 1) * (self.max_head + MAX_BODY as u64);
            // The kernel counts quiet time from boot for a direction that never carried data.
            let quiet = c.quiet_in.min(c.quiet_out).min(c.age);
            let verdict = if !long && quiet >= self.idle {
                Some(Verdict::Idle)
            } else if !long && c.age >= self.max_age {
                Some(Verdict::TooOld)
            } else if !long && c.router.busy_for.is_some_and(|b| b >= self.busy) {
                Some(Verdict::TooSlow)
            } else if c.bytes_in > allowance {
                Some(Verdict::TooLarge)
            } else if !long && c.unsent > 0 && c.quiet_out.min(c.age) >= self.unread {
                Some(Verdict::Unread)
            } else if c.router.pipelined {
                Some(Verdict::Pipelined)
            } else {
                None
            };
            match verdict {
                Some(v) => out.push((i, v)),
                None => keep.push(i),
            }
        }
        // The caps spare the oldest connections: the newest are the flood.
        keep.sort_by_key(|&i| std::cmp::Reverse(conns[i].age));
        let mut per_address: HashMap<IpAddr, usize> = HashMap::new();
        let mut total = 0;
        for i in keep {
            let n = per_address.entry(conns[i].peer.ip()).or_default();
            if *n >= self.per_address {
                out.push((i, Verdict::AddressCap));
            } else if total >= self.total {
                out.push((i, Verdict::TotalCap));
            } else {
                *n += 1;
                total += 1;
            }
        }
        out.sort_unstable_by_key(|v| v.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16) -> Conn {
        Conn {
            peer: SocketAddr::from(([10, 0, 0, 1], port)),
            age: Duration::from_secs(1),
            quiet_in: Duration::from_millis(100),
            quiet_out: Duration::from_millis(100),
            bytes_in: 500,
            unsent: 0,
            router: RouterView {
                requests: 1,
                busy_for: None,
                long_running: false,
                pipelined: false,
            },
        }
    }

    fn verdict(c: Conn) -> Option<Verdict> {
        Policy::default().verdicts(&[c]).first().map(|v| v.1)
    }

    #[test]
    fn connections_are_recycled_by_age() {
        let c = Connections::default();
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        drop(c.request(a, t0));
        drop(c.request(b, t0));
        let first = c.seen.lock().unwrap()[&a].first;
        assert!(!c.should_close(a, first + Duration::from_millis(249)));
        assert!(c.should_close(a, first + Duration::from_millis(250)));
        drop(c.request(a, t0));
        assert!(
            !c.should_close(a, Instant::now()),
            "a new connection on the same port starts over"
        );
        let open = [a].into_iter().collect();
        c.retain_open(&open, Instant::now());
        assert_eq!(c.len(), 1);
        assert_eq!(c.view(b, Instant::now()), RouterView::default());
    }

    #[test]
    fn a_closing_connection_keeps_its_count_until_it_is_gone() {
        let c = Connections::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(c.request(a, t0));
        }
        assert!(c.should_close(a, t0 + CONNECTION_LIFETIME * 2));
        // Between the reply and the close, its bytes are still explained by its requests.
        assert_eq!(c.view(a, t0).requests, 3);
        let open = [a].into_iter().collect();
        c.retain_open(&open, Instant::now());
        assert_eq!(c.view(a, t0).requests, 3);
        c.retain_open(&Default::default(), Instant::now());
        assert_eq!(c.view(a, t0), RouterView::default());
    }

    #[test]
    fn a_connection_waiting_for_a_thread_makes_every_reply_close() {
        let mut waiting = conn(1);
        waiting.router = RouterView::default();
        waiting.age = WAITING_AFTER;
        assert!(Policy::waiting_for_a_thread(&[conn(1), waiting]));
        let mut silent = waiting;
        silent.bytes_in = 0;
        let mut young = waiting;
        young.age = WAITING_AFTER / 2;
        assert!(
            !Policy::waiting_for_a_thread(&[conn(1), silent, young]),
            "nothing sent yet, or just arrived"
        );
        let c = Connections::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let t0 = Instant::now();
        drop(c.request(a, t0));
        c.set_congested(true);
        assert!(c.should_close(a, t0), "a young connection closes too");
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        drop(c.request(b, t0));
        c.set_congested(false);
        assert!(!c.should_close(b, t0));
    }

    #[test]
    fn a_connection_newer_than_the_scan_keeps_its_count() {
        let c = Connections::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let scanned = Instant::now();
        for _ in 0..5 {
            drop(c.request(a, Instant::now()));
        }
        // The scan listed the sockets before `a` was accepted, so `a` is not in it.
        c.retain_open(&Default::default(), scanned);
        assert_eq!(c.view(a, Instant::now()).requests, 5);
        c.retain_open(&Default::default(), Instant::now());
        assert!(c.is_empty(), "closed, and seen closed by a later scan");
    }

    #[test]
    fn busy_marks_clear_when_the_request_is_done() {
        let c = Connections::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let t0 = Instant::now();
        let busy = c.request(a, t0);
        let v = c.view(a, t0 + Duration::from_secs(2));
        assert_eq!(v.requests, 1);
        assert_eq!(v.busy_for, Some(Duration::from_secs(2)));
        drop(busy);
        assert_eq!(c.view(a, t0).busy_for, None);
        c.set_long_running(a, true);
        assert!(c.view(a, t0).long_running);
    }

    #[test]
    fn a_normal_connection_is_left_alone() {
        assert_eq!(verdict(conn(1)), None);
    }

    #[test]
    fn idle_means_quiet_both_ways() {
        let mut c = conn(1);
        c.router.long_running = false;
        c.age = Duration::from_secs(20);
        c.router.requests = 5;
        c.quiet_in = Duration::from_secs(10);
        assert_eq!(verdict(c), None, "the server is still answering");
        c.quiet_out = Duration::from_secs(10);
        assert_eq!(verdict(c), Some(Verdict::Idle));
        c.quiet_out = Duration::from_millis(9_999);
        assert_eq!(verdict(c), None);
    }

    #[test]
    fn a_new_connection_is_not_idle_before_its_time() {
        let mut c = conn(1);
        c.router.requests = 0;
        c.quiet_in = Duration::from_secs(1 << 30);
        c.quiet_out = Duration::from_secs(1 << 30);
        c.age = Duration::from_secs(9);
        assert_eq!(verdict(c), None);
        c.age = Duration::from_secs(10);
        assert_eq!(verdict(c), Some(Verdict::Idle));
    }

    #[test]
    fn streams_and_exports_may_live_long_and_quietly() {
        let mut c = conn(1);
        c.router.long_running = true;
        c.age = Duration::from_secs(3600);
        c.quiet_in = Duration::from_secs(3600);
        assert_eq!(verdict(c), None);
        c.router.long_running = false;
        assert_eq!(verdict(c), Some(Verdict::TooOld));
    }

    #[test]
    fn a_trickling_client_is_closed_at_the_age_limit() {
        let mut c = conn(1);
        c.router.requests = 0;
        c.age = Duration::from_millis(29_999);
        assert_eq!(verdict(c), None);
        c.age = Duration::from_secs(30);
        assert_eq!(verdict(c), Some(Verdict::TooOld));
    }

    #[test]
    fn a_request_before_the_last_reply_is_pipelining_and_closes_the_connection() {
        let c = Connections::default();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert!(!c.start_reply(a));
        c.replied(a);
        assert!(!c.start_reply(a), "one after another is fine");
        assert!(!c.view(a, Instant::now()).pipelined);
        assert!(c.start_reply(a), "the first is not answered yet");
        c.replied(a);
        c.replied(a);
        let mut conn = conn(1);
        conn.router = c.view(a, Instant::now());
        assert_eq!(verdict(conn), Some(Verdict::Pipelined));
    }

    #[test]
    fn a_client_that_does_not_read_its_replies_is_cut() {
        let mut c = conn(1);
        c.unsent = 4_096;
        c.quiet_out = Duration::from_millis(499);
        assert_eq!(verdict(c), None, "its replies went out a moment ago");
        c.quiet_out = Duration::from_millis(500);
        assert_eq!(verdict(c), Some(Verdict::Unread));
        c.router.long_running = true;
        assert_eq!(verdict(c), None, "a stream blocks only its own thread");
        c.router.long_running = false;
        c.unsent = 0;
        assert_eq!(verdict(c), None, "quiet, but nothing waits to be sent");
    }

    #[test]
    fn a_slow_body_is_cut_after_the_busy_limit() {
        let mut c = conn(1);
        c.router.busy_for = Some(Duration::from_millis(4_999));
        assert_eq!(verdict(c), None);
        c.router.busy_for = Some(Duration::from_secs(5));
        assert_eq!(verdict(c), Some(Verdict::TooSlow));
    }

    #[test]
    fn bytes_beyond_what_requests_explain_are_an_oversized_head() {
        let p = Policy::default();
        let mut c = conn(1);
        c.router.requests = 0;
        c.bytes_in = p.max_head + MAX_BODY as u64;
        assert_eq!(verdict(c), None);
        c.bytes_in += 1;
        assert_eq!(verdict(c), Some(Verdict::TooLarge));
        c.router.requests = 1;
        assert_eq!(
            verdict(c),
            None,
            "one request explains one more head and body"
        );
    }

    #[test]
    fn caps_close_the_newest_connections() {
        let p = Policy {
            per_address: 2,
            total: 3,
            ..Policy::default()
        };
        let mut conns: Vec<Conn> = (0..4)
            .map(|i| {
                let mut c = conn(1000 + i);
                c.age = Duration::from_secs(10 - u64::from(i));
                c
            })
            .collect();
        for (n, ip) in [(7, 2), (8, 3)] {
            let mut other = conn(n);
            other.peer = SocketAddr::from(([10, 0, 0, ip], n));
            other.age = Duration::from_millis(u64::from(n));
            conns.push(other);
        }
        assert_eq!(
            p.verdicts(&conns),
            vec![
                (2, Verdict::AddressCap),
                (3, Verdict::AddressCap),
                (4, Verdict::TotalCap)
            ],
            "the oldest survive; of the two single connections only the older fits the total"
        );
    }
}
