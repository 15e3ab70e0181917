//! The state of every serial port seen: identity, status, baud rate, line counters and the last
//! unparsed lines, shared between the readers and the API.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use clima_model::serial::permission::Denied;
use clima_model::serial::BoardSettings;
use clima_model::Millis;

use super::discovery::PortIdentity;
use super::PinnedPort;

/// Unparsed lines kept per port.
pub const UNPARSED_KEPT: usize = 200;
/// Longest unparsed line kept, in characters.
const UNPARSED_CHARS: usize = 300;

/// Where a port stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortStatus {
    Connected,
    /// Not present or unplugged; it is read again when it comes back.
    Waiting(String),
    /// Let go on request; not reopened until claimed.
    Released,
    /// Present but could not be opened.
    Error(String),
    /// Present, but this user may not open it.
    Denied(Denied),
}

/// A line that did not become a reading, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnparsedLine {
    pub at: Millis,
    /// The line as received (untrusted text).
    pub line: String,
    pub reason: String,
}

/// One port as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortView {
    #[serde(flatten)]
    pub identity: PortIdentity,
    /// `connected`, `waiting`, `released` or `error`.
    pub status: &'static str,
    /// What is wrong or what the port waits for.
    pub detail: Option<String>,
    /// How to fix what is wrong, when Clima knows (a port this user may not open).
    pub hint: Option<String>,
    pub baud: u32,
    pub lines_parsed: u64,
    pub lines_unparsed: u64,
    pub lines_overlong: u64,
    pub readings: u64,
    /// The name a person gave the board; its readings carry it as their sensor's name.
    pub label: Option<String>,
    /// What the user said about this board: its temperature unit, series to ignore.
    pub settings: BoardSettings,
    /// Series this port's lines gave since start (`sensor/metric`), to choose from.
    pub series: Vec<String>,
    pub unparsed: Vec<UnparsedLine>,
}

#[derive(Debug)]
struct PortState {
    identity: PortIdentity,
    status: PortStatus,
    released: bool,
    baud: u32,
    lines_parsed: u64,
    lines_unparsed: u64,
    lines_overlong: u64,
    readings: u64,
    series: std::collections::BTreeSet<String>,
    unparsed: VecDeque<UnparsedLine>,
}

#[derive(Default)]
pub(super) struct Registry {
    ports: Mutex<BTreeMap<String, PortState>>,
    extra_pinned: Mutex<Vec<PinnedPort>>,
    labels: Mutex<BTreeMap<String, String>>,
    board_settings: Mutex<BTreeMap<String, BoardSettings>>,
}

impl Registry {
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut PortState) -> T) -> Option<T> {
        self.ports.lock().expect("port registry").get_mut(id).map(f)
    }

    /// Records a port that is present, updating its path if it moved.
    pub fn ensure(&self, identity: &PortIdentity, baud: u32) {
        let mut ports = self.ports.lock().expect("port registry");
        match ports.get_mut(&identity.id) {
            Some(p) => p.identity = identity.clone(),
            None => {
                ports.insert(
                    identity.id.clone(),
                    PortState {
                        identity: identity.clone(),
                        status: PortStatus::Waiting("not opened yet".into()),
                        released: false,
                        baud,
                        lines_parsed: 0,
                        lines_unparsed: 0,
                        lines_overlong: 0,
                        readings: 0,
                        series: Default::default(),
                        unparsed: VecDeque::new(),
                    },
                );
            }
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.ports
            .lock()
            .expect("port registry")
            .keys()
            .cloned()
            .collect()
    }

    pub fn set_status(&self, id: &str, status: PortStatus) {
        self.with(id, |p| {
            if p.status != status {
                match &status {
                    PortStatus::Connected => tracing::info!(port = %p.identity.path, baud = p.baud, "serial port connected"),
                    PortStatus::Waiting(why) => tracing::info!(port = %p.identity.path, why, "serial port waiting"),
                    PortStatus::Released => tracing::info!(port = %p.identity.path, "serial port released"),
                    PortStatus::Error(e) => tracing::warn!(port = %p.identity.path, error = %e, "serial port error"),
                    PortStatus::Denied(d) => tracing::warn!(port = %p.identity.path, reason = %d.reason, hint = %d.hint, "serial port refused"),
                }
            }
            p.status = status;
        });
    }

    pub fn status(&self, id: &str) -> Option<PortStatus> {
        self.with(id, |p| p.status.clone())
    }

    pub fn is_released(&self, id: &str) -> bool {
        self.with(id, |p| p.released).unwrap_or(false)
    }

    /// Returns false if no such port is known.
    pub fn set_released(&self, id: &str, released: bool) -> bool {
        self.with(id, |p| {
            p.released = released;
            if !released && p.status == PortStatus::Released {
                p.status = PortStatus::Waiting("claimed; opening".into());
            }
        })
        .is_some()
    }

    pub fn baud(&self, id: &str) -> Option<u32> {
        self.with(id, |p| p.baud)
    }

    pub fn set_baud(&self, id: &str, baud: u32) {
        self.with(id, |p| p.baud = baud);
    }

    pub fn count_lines(&self, id: &str, parsed: u64, readings: u64, overlong: u64) {
        self.with(id, |p| {
            p.lines_parsed += parsed;
            p.readings += readings;
            p.lines_overlong = overlong;
        });
    }

    pub fn unparsed(&self, id: &str, line: &str, reason: &str, at: Millis) {
        self.with(id, |p| {
            p.lines_unparsed += 1;
            if p.unparsed.len() == UNPARSED_KEPT {
                p.unparsed.pop_front();
            }
            p.unparsed.push_back(UnparsedLine {
                at,
                line: line.chars().take(UNPARSED_CHARS).collect(),
                reason: reason.to_owned(),
            });
        });
    }

    pub fn add_pinned(&self, port: PinnedPort) {
        self.extra_pinned.lock().expect("pinned list").push(port);
    }

    pub fn extra_pinned(&self) -> Vec<PinnedPort> {
        self.extra_pinned.lock().expect("pinned list").clone()
    }

    /// Labels are kept by port id even for ports not seen yet (loaded at start).
    pub fn set_label(&self, id: &str, label: Option<String>) {
        let mut labels = self.labels.lock().expect("port labels");
        match label {
            Some(l) => labels.insert(id.to_owned(), l),
            None => labels.remove(id),
        };
    }

    /// Settings are kept by port id even for ports not seen yet (loaded at start).
    pub fn set_board_settings(&self, id: &str, settings: BoardSettings) {
        self.board_settings
            .lock()
            .expect("board settings")
            .insert(id.to_owned(), settings);
    }

    pub fn board_settings(&self, id: &str) -> BoardSettings {
        let all = self.board_settings.lock().expect("board settings");
        all.get(id).cloned().unwrap_or_default()
    }

    /// Notes the series a port's readings gave; a port offers at most 100 to choose from.
    pub fn saw_series(&self, id: &str, series: impl IntoIterator<Item = String>) {
        self.with(id, |p| {
            for s in series {
                if p.series.len() < 100 {
                    p.series.insert(s);
                }
            }
        });
    }

    pub fn label(&self, id: &str) -> Option<String> {
        self.labels.lock().expect("port labels").get(id).cloned()
    }

    pub fn is_known(&self, id: &str) -> bool {
        self.ports.lock().expect("port registry").contains_key(id)
    }

    pub fn views(&self) -> Vec<PortView> {
        self.ports
            .lock()
            .expect("port registry")
            .values()
            .map(|p| {
                let (status, detail, hint) = match &p.status {
                    PortStatus::Connected => ("connected", None, None),
                    PortStatus::Waiting(w) => ("waiting", Some(w.clone()), None),
                    PortStatus::Released => ("released", None, None),
                    PortStatus::Error(e) => ("error", Some(e.clone()), None),
                    PortStatus::Denied(d) => {
                        ("error", Some(d.reason.clone()), Some(d.hint.clone()))
                    }
                };
                PortView {
                    identity: p.identity.clone(),
                    status,
                    detail,
                    hint,
                    baud: p.baud,
                    lines_parsed: p.lines_parsed,
                    lines_unparsed: p.lines_unparsed,
                    lines_overlong: p.lines_overlong,
                    readings: p.readings,
                    label: self.label(&p.identity.id),
                    settings: self.board_settings(&p.identity.id),
                    series: p.series.iter().cloned().collect(),
                    unparsed: p.unparsed.iter().cloned().collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_unparsed_lines() {
        let r = Registry::default();
        let id = PortIdentity::pinned(std::path::Path::new("/tmp/b"));
        r.ensure(&id, 115_200);
        for i in 0..250 {
            r.unparsed(&id.id, &format!("line {i}"), "noise", i);
        }
        let v = &r.views()[0];
        assert_eq!(v.lines_unparsed, 250);
        assert_eq!(v.unparsed.len(), UNPARSED_KEPT);
        assert_eq!(v.unparsed[0].line, "line 50");
        assert!(r.set_released(&id.id, true));
        assert!(!r.set_released("nope", true));
    }
}
