//! One line-protocol forwarder's thread: reads the forward log after its cursor, posts it in
//! batches, moves the cursor once the target acknowledges, and backs off while the target fails.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clima_model::forward::{backoff, encode, BATCH_LINES};

use super::{Progress, Target};
use crate::now_ms;
use crate::store::outbox::{Cursor, LogReader, Outbox};

/// Log entries read per batch: enough for [`BATCH_LINES`] lines of a few metrics each.
const READ_ROWS: usize = 4 * BATCH_LINES;
/// The longest wait between tries while a target fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a caught-up forwarder waits before looking at the log again.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What a target made of a batch.
enum Sent {
    Accepted,
    /// A 400 or 422: some lines are malformed for it (InfluxDB's partial write). Sending the
    /// batch again would fail again, so it is skipped.
    Refused(u16, String),
    /// Down, slow, refusing the credentials, or overloaded: try again later.
    Failed(String),
}

pub(super) fn spawn(
    target: Target,
    db: &Path,
    outbox: Arc<Outbox>,
    cursor: Arc<Cursor>,
    progress: Arc<Mutex<Progress>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    let db = db.to_owned();
    std::thread::Builder::new()
        .name("clima-forward".into())
        .spawn(move || {
            let f = Forwarder {
                target,
                outbox,
                cursor,
                progress,
                stop,
            };
            f.run(&db)
        })
        .expect("spawning a forwarder thread")
}

struct Forwarder {
    target: Target,
    outbox: Arc<Outbox>,
    cursor: Arc<Cursor>,
    progress: Arc<Mutex<Progress>>,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    fn run(&self, db: &Path) {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build();
        let mut failures = 0u32;
        let mut log = None;
        tracing::info!(target = %self.target.shown, from = self.cursor.delivered(), "forwarder started");
        while !self.stopping() {
            let log = match &log {
                Some(l) => l,
                None => match LogReader::open(db) {
                    Ok(l) => log.insert(l),
                    Err(e) => {
                        self.failed(&mut failures, format!("cannot read the forward log: {e}"));
                        continue;
                    }
                },
            };
            let after = self.cursor.delivered();
            let samples = match log.after(after, READ_ROWS) {
                Ok(s) => s,
                Err(e) => {
                    self.failed(&mut failures, format!("cannot read the forward log: {e}"));
                    continue;
                }
            };
            let Some(first) = samples.first() else {
                self.progress().caught_up_at = Some(now_ms());
                if self.outbox.wait_beyond(after, IDLE_POLL) {
                    break;
                }
                continue;
            };
            if first.seq > after + 1 {
                let lost = first.seq - after - 1;
                tracing::warn!(target = %self.target.shown, lost, "readings were removed by retention before they could be forwarded; forwarding goes on after them");
                self.progress().lost += lost as u64;
            }
            let batch = encode(&samples, BATCH_LINES);
            let last = samples[batch.samples - 1].seq;
            match self.post(&agent, batch.body) {
                Sent::Accepted => {
                    self.cursor.deliver(last);
                    failures = 0;
                    let mut p = self.progress();
                    p.connected = Some(true);
                    p.delivered += batch.samples as u64;
                }
                Sent::Refused(status, message) => {
                    tracing::warn!(target = %self.target.shown, status, %message, readings = batch.samples,
                        "the target refused lines of a batch; they are skipped (a resend would be refused again)");
                    self.cursor.deliver(last);
                    let mut p = self.progress();
                    p.connected = Some(true);
                    p.rejected += batch.samples as u64;
                    p.errors += 1;
                    p.last_error = Some((format!("{status}: {message}"), now_ms()));
                }
                Sent::Failed(message) => self.failed(&mut failures, message),
            }
        }
        tracing::info!(target = %self.target.shown, "forwarder stopped");
    }

    fn post(&self, agent: &ureq::Agent, body: String) -> Sent {
        let mut req = agent
            .post(&self.target.endpoint)
            .set("Content-Type", "text/plain; charset=utf-8");
        if let Some(auth) = &self.target.authorization {
            req = req.set("Authorization", auth.expose());
        }
        match req.send_string(&body) {
            Ok(_) => Sent::Accepted,
            Err(ureq::Error::Status(status, reply)) => {
                let text = reply.into_string().unwrap_or_default();
                let message: String = text.trim().chars().take(300).collect();
                match status {
                    400 | 422 => Sent::Refused(status, message),
                    401 | 403 => Sent::Failed(format!("{status}: the target refused the credentials ({message}): check the URL's user and password or --forward-token-env")),
                    404 => Sent::Failed(format!("404: {message} (does the database or bucket exist?)")),
                    _ => Sent::Failed(format!("{status}: {message}")),
                }
            }
            Err(ureq::Error::Transport(t)) => {
                // Not `t`'s own text: it starts with the URL, which may hold a password.
                let why = t
                    .message()
                    .map(str::to_owned)
                    .or_else(|| std::error::Error::source(&t).map(|s| s.to_string()))
                    .unwrap_or_default();
                Sent::Failed(format!("cannot reach the target: {} {why}", t.kind()))
            }
        }
    }

    /// Records a failed try and waits before the next.
    fn failed(&self, failures: &mut u32, message: String) {
        let wait = backoff(*failures, MAX_BACKOFF);
        *failures = failures.saturating_add(1);
        tracing::warn!(target = %self.target.shown, error = %message, retry_in = ?wait, "forwarding failed; will retry");
        {
            let mut p = self.progress();
            p.connected = Some(false);
            p.errors += 1;
            p.last_error = Some((message, now_ms()));
        }
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

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().expect("forwarder progress")
    }
}
