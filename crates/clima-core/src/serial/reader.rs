//! One port's reader thread: opens the port, frames and parses its lines, hunts for the baud
//! rate when it hears only noise, writes readings through the writer, and ends on unplug.

use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clima_model::serial::{LineFramer, LineOutcome, SerialParser};

use super::access;
use super::discovery::PortIdentity;
use super::registry::{PortStatus, Registry};
use super::HUNT_BAUDS;
use crate::now_ms;
use crate::store::{Source, WriteHandle};

/// Noise without a single reading for this long makes the reader try the next baud rate.
const HUNT_AFTER: Duration = Duration::from_secs(3);
/// A multi-line block that stays unfinished this long is stored as it is.
const BLOCK_QUIET: Duration = Duration::from_millis(1500);
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// How often a quiet port checks that its path still leads to the device it opened.
const MOVED_CHECK: Duration = Duration::from_millis(500);

pub(super) struct ReaderArgs {
    pub identity: PortIdentity,
    pub baud: u32,
    /// The baud rate was given by the user: never hunt.
    pub fixed_baud: bool,
    pub registry: Arc<Registry>,
    pub writer: WriteHandle,
    pub stop: Arc<AtomicBool>,
}

pub(super) fn run(args: ReaderArgs) {
    let ReaderArgs {
        identity,
        mut baud,
        fixed_baud,
        registry,
        writer,
        stop,
    } = args;
    let id = identity.id.as_str();
    let mut port = match serialport::new(&identity.path, baud)
        .timeout(READ_TIMEOUT)
        .open()
    {
        Ok(p) => p,
        Err(e) => {
            let io_kind = match e.kind {
                serialport::ErrorKind::Io(kind) => kind,
                _ => std::io::ErrorKind::Other,
            };
            let status = match access::explain_open_error(Path::new(&identity.path), io_kind) {
                Some(denied) => PortStatus::Denied(denied),
                None => PortStatus::Error(format!(
                    "cannot open {}: {e}; is another program using it?",
                    identity.path
                )),
            };
            registry.set_status(id, status);
            return;
        }
    };
    registry.set_baud(id, baud);
    registry.set_status(id, PortStatus::Connected);
    // A pinned path may be a symlink that moves to another device (a replugged board).
    let opened = std::fs::canonicalize(&identity.path).ok();
    let mut last_check = Instant::now();
    let mut framer = LineFramer::new();
    let mut parser = SerialParser::new(identity.sensor());
    let mut buf = [0u8; 4096];
    // Bytes heard since the last reading, and since when: noise that never parses means a wrong rate.
    let mut last_good = Instant::now();
    let mut heard_noise = false;
    let mut last_bytes = Instant::now();
    let mut overlong = 0;
    // Lines read together would share a millisecond, and two readings of one series at one
    // time are a conflict: each line's time is at least a millisecond after the last one's.
    let mut line_at = 0;
    let why_stopped = loop {
        if stop.load(Ordering::Relaxed) {
            break None;
        }
        if registry.is_released(id) {
            break Some(PortStatus::Released);
        }
        let mut readings = Vec::new();
        match port.read(&mut buf) {
            Ok(0) => break Some(PortStatus::Waiting("unplugged (end of stream)".into())),
            Ok(n) => {
                last_bytes = Instant::now();
                // What the user said about the board applies from the lines read after it.
                let settings = registry.board_settings(id);
                if &settings != parser.settings() {
                    parser.set_settings(settings);
                }
                let (mut parsed, mut count) = (0, 0);
                for line in framer.push(&buf[..n]) {
                    let now = now_ms().max(line_at + 1);
                    line_at = now;
                    match parser.parse_line(&line, now) {
                        LineOutcome::Readings(mut rs) => {
                            for r in &mut rs {
                                r.measured_at.get_or_insert(now);
                            }
                            parsed += 1;
                            let mut refused = 0;
                            for e in rs.iter().flat_map(|r| &r.refused) {
                                registry.unparsed(id, &line, &e.to_string(), now);
                                refused += 1;
                            }
                            writer.stats().rejected(Source::Serial, refused);
                            count += rs.len() as u64;
                            readings.extend(rs);
                        }
                        LineOutcome::Pending | LineOutcome::Ignored => {}
                        LineOutcome::Unparsed(reason) => {
                            heard_noise = true;
                            registry.unparsed(id, &line, &reason, now);
                        }
                    }
                }
                if framer.overlong() > overlong {
                    overlong = framer.overlong();
                    heard_noise = true;
                }
                if parsed > 0 {
                    last_good = Instant::now();
                    heard_noise = false;
                }
                registry.count_lines(id, parsed, count, overlong);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                if last_bytes.elapsed() >= BLOCK_QUIET {
                    readings.extend(parser.flush());
                }
                if last_check.elapsed() >= MOVED_CHECK {
                    last_check = Instant::now();
                    if std::fs::canonicalize(&identity.path).ok() != opened {
                        break Some(PortStatus::Waiting(format!(
                            "{} now leads to another device",
                            identity.path
                        )));
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Some(PortStatus::Waiting(format!("unplugged ({e})"))),
        }
        if !readings.is_empty() {
            registry.saw_series(
                id,
                readings
                    .iter()
                    .flat_map(|r| r.values.iter().map(|(m, _)| format!("{}/{m}", r.sensor))),
            );
            if let Some(label) = registry.label(id) {
                for r in readings.iter_mut().filter(|r| r.name.is_none()) {
                    r.name = Some(label.clone());
                }
            }
            if let Err(e) = writer.write(readings, Source::Serial, now_ms()) {
                tracing::warn!(port = %identity.path, error = %e, "serial readings not stored");
            }
        }
        if !fixed_baud && heard_noise && last_good.elapsed() >= HUNT_AFTER {
            let next = HUNT_BAUDS
                .iter()
                .copied()
                .find(|b| *b > baud)
                .unwrap_or(HUNT_BAUDS[0]);
            match port.set_baud_rate(next) {
                Ok(()) => {
                    tracing::info!(port = %identity.path, from = baud, to = next, "only noise heard; trying another baud rate");
                    baud = next;
                    registry.set_baud(id, baud);
                    framer.reopened();
                    parser.reopened();
                }
                Err(e) => {
                    tracing::warn!(port = %identity.path, error = %e, "could not change the baud rate")
                }
            }
            last_good = Instant::now();
            heard_noise = false;
        }
    };
    let rest = parser.flush();
    if !rest.is_empty() {
        let _ = writer.write(rest, Source::Serial, now_ms());
    }
    drop(port);
    if let Some(status) = why_stopped {
        registry.set_status(id, status);
    }
}
