//! The forward log read once for every forwarder: the newest stretch of the log, decoded and
//! named, held in a bounded window of parts that each forwarder takes from its own cursor; a part
//! is at most one request's worth (5,000 lines) and its line protocol is written once, by the
//! first forwarder that sends it. A forwarder behind the window reads on its own connection, so
//! a slow or down target never holds the others back.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use clima_model::forward::{encode, lines_prefix, Sample, BATCH_LINES};

use crate::store::outbox::LogReader;
use crate::store::StoreError;

/// Values read from the log at a time (whole rows: a row holds at most 20,000).
const READ_VALUES: usize = 4 * BATCH_LINES;
/// Most values the shared window holds (about 100 bytes each with their line protocol); the
/// oldest parts go first. Two targets draining a backlog at different speeds share reads while
/// they are within this many values of each other.
const WINDOW_VALUES: usize = 300_000;

/// A stretch of the log: the values numbered after `after` up to `to`, oldest first.
#[derive(Debug)]
pub(super) struct Part {
    after: i64,
    to: i64,
    /// Values retention removed at its start, before they could be read.
    lost: i64,
    samples: Vec<Sample>,
    line_protocol: OnceLock<String>,
}

/// What a forwarder is handed: a part from its cursor on.
#[derive(Debug, Clone)]
pub(super) struct View {
    part: Arc<Part>,
    /// Samples of the part the forwarder has delivered already.
    skip: usize,
    /// Values retention removed between the cursor and these samples.
    lost: i64,
}

impl View {
    pub(super) fn samples(&self) -> &[Sample] {
        &self.part.samples[self.skip..]
    }

    /// Values retention removed between the cursor and these samples.
    pub(super) fn lost(&self) -> i64 {
        self.lost
    }

    /// Where the cursor goes once all of it is delivered.
    pub(super) fn to(&self) -> i64 {
        self.part.to
    }

    /// Its samples as one request of line protocol: written once per part for every forwarder.
    pub(super) fn line_protocol(&self) -> std::borrow::Cow<'_, str> {
        if self.skip == 0 {
            let body = self
                .part
                .line_protocol
                .get_or_init(|| encode(&self.part.samples, BATCH_LINES).body);
            body.as_str().into()
        } else {
            encode(self.samples(), BATCH_LINES).body.into()
        }
    }

    /// The view starting within `part` after `cursor`, if the part covers it.
    fn at(part: &Arc<Part>, cursor: i64) -> Option<View> {
        if cursor < part.after || cursor >= part.to {
            return None;
        }
        let skip = part.samples.partition_point(|s| s.seq <= cursor);
        // Counted once, by the view at the cursor before the gap.
        let lost = if cursor == part.after { part.lost } else { 0 };
        Some(View {
            part: part.clone(),
            skip,
            lost,
        })
    }
}

/// Parts held in order, each starting where the one before ends.
#[derive(Default)]
struct Parts {
    parts: VecDeque<Arc<Part>>,
    values: usize,
}

impl Parts {
    fn find(&self, cursor: i64) -> Option<View> {
        let at = self.parts.partition_point(|p| p.to <= cursor);
        self.parts.get(at).and_then(|p| View::at(p, cursor))
    }

    fn start(&self) -> Option<i64> {
        self.parts.front().map(|p| p.after)
    }

    fn end(&self) -> Option<i64> {
        self.parts.back().map(|p| p.to)
    }

    fn push(&mut self, parts: Vec<Arc<Part>>, cap: usize) {
        for p in parts {
            self.values += p.samples.len();
            self.parts.push_back(p);
        }
        while self.values > cap && self.parts.len() > 1 {
            let p = self.parts.pop_front().expect("more than one");
            self.values -= p.samples.len();
        }
    }

    fn clear(&mut self) {
        self.parts.clear();
        self.values = 0;
    }
}

/// The window every forwarder shares, and the connection that extends it.
pub(super) struct Feed {
    db: PathBuf,
    window: Mutex<Parts>,
    /// Held while reading the log for the window, so a stretch is read once.
    reader: Mutex<Option<LogReader>>,
}

/// A forwarder's own reader and parts, for when it is behind the window.
#[derive(Default)]
pub(super) struct Own {
    reader: Option<LogReader>,
    parts: Parts,
}

impl Feed {
    pub(super) fn new(db: &Path) -> Feed {
        Feed {
            db: db.to_owned(),
            window: Mutex::default(),
            reader: Mutex::default(),
        }
    }

    /// What follows `cursor`, given that the log ends at `head` or later: from the window,
    /// read into it for everyone when the cursor is at its end, or read on the forwarder's own
    /// connection when the cursor is behind it or `fresh` (a retry after a failed send reads the
    /// store again, so what retention removed meanwhile is counted, not sent from memory).
    /// `None` when there is nothing after the cursor.
    pub(super) fn next(
        &self,
        cursor: i64,
        head: i64,
        fresh: bool,
        own: &mut Own,
    ) -> Result<Option<View>, StoreError> {
        if fresh {
            own.parts.clear();
        } else {
            let window = self.window.lock().expect("feed window");
            if let Some(v) = window.find(cursor) {
                return Ok(Some(v));
            }
            let behind = window.start().is_some_and(|s| cursor < s);
            drop(window);
            if behind {
                if let Some(v) = own.parts.find(cursor) {
                    return Ok(Some(v));
                }
            }
            if !behind {
                return self.extend(cursor, head, own);
            }
        }
        let reader = match &own.reader {
            Some(r) => r,
            None => own.reader.insert(LogReader::open(&self.db)?),
        };
        let parts = read(reader, cursor, head)?;
        own.parts.clear();
        own.parts.push(parts, usize::MAX);
        Ok(own.parts.find(cursor))
    }

    /// Reads what follows the window's end into it, once for every forwarder.
    fn extend(&self, cursor: i64, head: i64, own: &mut Own) -> Result<Option<View>, StoreError> {
        own.parts.clear();
        let mut reader = self.reader.lock().expect("feed reader");
        // Another forwarder may have read it meanwhile.
        if let Some(v) = self.window.lock().expect("feed window").find(cursor) {
            return Ok(Some(v));
        }
        let reader = match &*reader {
            Some(r) => r,
            None => reader.insert(LogReader::open(&self.db)?),
        };
        let parts = read(reader, cursor, head)?;
        let mut window = self.window.lock().expect("feed window");
        if window.end() != Some(cursor) {
            // The window held an older stretch: it starts over here.
            window.clear();
        }
        window.push(parts, WINDOW_VALUES);
        Ok(window.find(cursor))
    }
}

/// Reads the log after `cursor` and cuts it into parts of at most one request each.
fn read(reader: &LogReader, cursor: i64, head: i64) -> Result<Vec<Arc<Part>>, StoreError> {
    let read = reader.after(cursor, READ_VALUES)?;
    let Some(from) = read.from else {
        // Nothing left after the cursor: anything up to the head was removed by retention.
        return Ok(if head > cursor {
            vec![Arc::new(Part {
                after: cursor,
                to: head,
                lost: head - cursor,
                samples: Vec::new(),
                line_protocol: OnceLock::new(),
            })]
        } else {
            Vec::new()
        });
    };
    let mut parts = Vec::new();
    let mut samples = read.samples;
    let mut after = cursor;
    let mut lost = from - cursor - 1;
    loop {
        let n = lines_prefix(&samples, BATCH_LINES);
        let rest = samples.split_off(n);
        let last = rest.is_empty();
        let to = if last {
            read.to
        } else {
            samples.last().expect("a line").seq
        };
        parts.push(Arc::new(Part {
            after,
            to,
            lost,
            samples,
            line_protocol: OnceLock::new(),
        }));
        if last {
            return Ok(parts);
        }
        (after, lost, samples) = (to, 0, rest);
    }
}
