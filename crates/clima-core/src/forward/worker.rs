//! One forwarder's thread: takes what follows its cursor from the shared feed (`feed`), hands
//! it to its sink (a line-protocol target, an MQTT broker) in batches, moves the cursor once the
//! target acknowledges, and backs off while the target fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::forward::backoff;

use super::feed::{Feed, Own, View};
use super::Progress;
use crate::store::outbox::{Cursor, Outbox};
/// The longest wait between tries while a target fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a caught-up forwarder waits before looking at the log again.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Where a forwarder delivers: it takes a prefix of the samples given, oldest first.
pub(super) trait Sink: Send + 'static {
    /// Delivers as many of the view's samples as one batch holds; returns how many, and the
    /// outcome.
    fn send(&mut self, view: &View) -> (usize, Sent);

    /// Called while caught up, about once a second (MQTT's availability follows staleness).
    fn idle(&mut self) {}
}

/// What a target made of a batch.
pub(super) enum Sent {
    Accepted,
    /// A 400 or 422: some lines are malformed for it (InfluxDB's partial write). Sending the
    /// batch again would fail again, so it is skipped.
    Refused(u16, String),
    /// Down, slow, refusing the credentials, or overloaded: try again later.
    Failed(String),
}

pub(super) fn spawn(
    sink: Box<dyn Sink>,
    shown: String,
    feed: Arc<Feed>,
    outbox: Arc<Outbox>,
    cursor: Arc<Cursor>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("clima-forward".into())
        .spawn(move || {
            // Forwarding is background work: ingest keeps the CPU it needs.
            crate::platform::lower_thread_priority();
            cursor.attach();
            let mut f = Forwarder {
                sink,
                shown,
                feed,
                outbox,
                cursor,
                progress,
                stop,
            };
            f.run()
        })
        .expect("spawning a forwarder thread")
}

struct Forwarder {
    sink: Box<dyn Sink>,
    /// The target as shown (no credentials).
    shown: String,
    feed: Arc<Feed>,
    outbox: Arc<Outbox>,
    cursor: Arc<Cursor>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    fn run(&mut self) {
        let mut failures = 0u32;
        let mut own = Own::default();
        // After a failure, the next try reads the store again.
        let mut fresh = false;
        tracing::info!(target = %self.shown, from = self.cursor.delivered(), "forwarder started");
        while !self.stopping() {
            let after = self.cursor.delivered();
            // Read before the log: every value up to it is committed and in the log unless
            // retention removed it.
            let head = self.outbox.head();
            let view = match self.feed.next(after, head, fresh, &mut own) {
                Ok(v) => v,
                Err(e) => {
                    self.failed(&mut failures, format!("cannot read the forward log: {e}"));
                    continue;
                }
            };
            fresh = false;
            let Some(view) = view else {
                self.progress.caught_up();
                self.sink.idle();
                if self.outbox.wait_beyond(after, IDLE_POLL) {
                    break;
                }
                continue;
            };
            let lost = view.lost();
            if lost > 0 {
                tracing::warn!(target = %self.shown, lost, "readings were removed by retention before they could be forwarded; forwarding goes on after them");
                self.progress.lost(lost as u64);
            }
            let samples = view.samples();
            if samples.is_empty() {
                // Counted once: the cursor passes the gap (and entries of deleted sensors).
                self.cursor.deliver(view.to());
                continue;
            }
            if lost > 0 {
                self.cursor.deliver(samples[0].seq - 1);
            }
            let (taken, sent) = self.sink.send(&view);
            let last = if taken >= samples.len() {
                view.to()
            } else {
                samples[taken.max(1) - 1].seq
            };
            match sent {
                Sent::Accepted => {
                    self.cursor.deliver(last);
                    failures = 0;
                    self.progress.delivered(taken as u64);
                }
                Sent::Refused(status, message) => {
                    tracing::warn!(target = %self.shown, status, %message, readings = taken,
                        "the target refused lines of a batch; they are skipped (a resend would be refused again)");
                    self.cursor.deliver(last);
                    self.progress
                        .refused(taken as u64, format!("{status}: {message}"));
                }
                Sent::Failed(message) => {
                    self.failed(&mut failures, message);
                    fresh = true;
                }
            }
        }
        tracing::info!(target = %self.shown, "forwarder stopped");
    }

    /// Records a failed try and waits before the next.
    fn failed(&self, failures: &mut u32, message: String) {
        let wait = backoff(*failures, MAX_BACKOFF);
        *failures = failures.saturating_add(1);
        tracing::warn!(target = %self.shown, error = %message, retry_in = ?wait, "forwarding failed; will retry");
        self.progress.failed(message);
        let until = Instant::now() + wait;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.outbox.sleep(left.min(IDLE_POLL)) {
                return;
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.outbox.is_stopping()
    }
}
