//! Serial sensor boards: finds ports, keeps one reader per port through unplugs and replugs,
//! and reports each port's state. Lines become readings through the same model and writer as
//! HTTP ingest.

pub mod access;
mod discovery;
mod reader;
mod registry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use discovery::{list_ports, PortIdentity};
pub use registry::{PortStatus, PortView, UnparsedLine};

/// Settings key prefix under which board labels are kept, by port id.
pub const LABEL_KEY: &str = "port_label:";
/// Settings key prefix under which each board's settings are kept as JSON, by port id.
pub const BOARD_SETTINGS_KEY: &str = "port_settings:";

use crate::store::WriteHandle;
use registry::Registry;

/// The baud rate tried first.
pub const DEFAULT_BAUD: u32 = 115_200;
/// Rates tried, in order, when a port yields only noise.
pub const HUNT_BAUDS: &[u32] = &[9_600, 19_200, 38_400, 57_600, 115_200];
/// How often ports are looked for; a replugged board is read again within twice this.
const SCAN_EVERY: Duration = Duration::from_millis(500);

/// Which ports to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SerialConfig {
    /// Connect to every USB serial port that appears.
    pub auto: bool,
    /// Ports given by path (a symlink is followed anew at every connect).
    pub pinned: Vec<PinnedPort>,
}

/// A port named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedPort {
    pub path: PathBuf,
    /// A fixed rate; `None` means start at 115200 and hunt.
    pub baud: Option<u32>,
}

/// A `--serial` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialConfigError {
    #[error("--serial off cannot be combined with other --serial values")]
    OffWithOthers,
    #[error("--serial needs auto, off or a port path")]
    Empty,
    #[error("--serial {0:?}: the baud rate after '@' must be a number such as 115200")]
    Baud(String),
}

impl SerialConfig {
    /// Builds the setting from `--serial` values: `auto`, `off`, or `PATH[@BAUD]`, repeatable.
    /// No value at all means `auto`.
    pub fn from_args<S: AsRef<str>>(values: &[S]) -> Result<Self, SerialConfigError> {
        if values.is_empty() {
            return Ok(SerialConfig {
                auto: true,
                pinned: Vec::new(),
            });
        }
        let mut cfg = SerialConfig::default();
        for v in values {
            match v.as_ref() {
                "auto" => cfg.auto = true,
                "off" => {
                    if values.len() > 1 {
                        return Err(SerialConfigError::OffWithOthers);
                    }
                }
                spec => cfg.pinned.push(parse_pinned(spec)?),
            }
        }
        Ok(cfg)
    }

    pub fn is_off(&self) -> bool {
        !self.auto && self.pinned.is_empty()
    }
}

fn parse_pinned(spec: &str) -> Result<PinnedPort, SerialConfigError> {
    match spec.rsplit_once('@') {
        Some((path, baud)) if !path.is_empty() => {
            let baud: u32 = baud
                .parse()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| SerialConfigError::Baud(spec.to_owned()))?;
            Ok(PinnedPort {
                path: path.into(),
                baud: Some(baud),
            })
        }
        _ if spec.is_empty() => Err(SerialConfigError::Empty),
        _ => Ok(PinnedPort {
            path: spec.into(),
            baud: None,
        }),
    }
}

/// Why a port request failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("no port with id {0:?}: see GET /api/v1/ports")]
    Unknown(String),
}

/// Owns the scanning thread and the readers; stopped through [`SerialBoards::stop`].
pub struct SerialBoards {
    registry: Arc<Registry>,
    stop: Arc<AtomicBool>,
    scanner: Mutex<Option<JoinHandle<()>>>,
}

impl SerialBoards {
    /// Starts scanning for the configured ports; readings go to `writer`. `labels` are the
    /// names people gave boards before, by port id.
    pub fn start(
        cfg: SerialConfig,
        writer: WriteHandle,
        labels: Vec<(String, String)>,
    ) -> std::io::Result<SerialBoards> {
        let registry = Arc::new(Registry::default());
        for (id, label) in labels.into_iter().filter(|(_, l)| !l.is_empty()) {
            registry.set_label(&id, Some(label));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let scanner = {
            let (registry, stop) = (registry.clone(), stop.clone());
            std::thread::Builder::new()
                .name("clima-serial-scan".into())
                .spawn(move || discovery::scan_loop(cfg, registry, writer, stop))?
        };
        Ok(SerialBoards {
            registry,
            stop,
            scanner: Mutex::new(Some(scanner)),
        })
    }

    /// Every port seen since start, with status, counters and recent unparsed lines.
    pub fn ports(&self) -> Vec<PortView> {
        self.registry.views()
    }

    /// Lets go of a port (to flash new firmware); it stays released until claimed.
    pub fn release(&self, id: &str) -> Result<(), PortError> {
        self.registry
            .set_released(id, true)
            .then_some(())
            .ok_or_else(|| PortError::Unknown(id.into()))
    }

    /// Takes a released port back; it is opened again at the next scan.
    pub fn claim(&self, id: &str) -> Result<(), PortError> {
        self.registry
            .set_released(id, false)
            .then_some(())
            .ok_or_else(|| PortError::Unknown(id.into()))
    }

    /// Names a board; `None` removes the name. The caller persists it.
    pub fn set_label(&self, id: &str, label: Option<String>) -> Result<(), PortError> {
        if !self.registry.is_known(id) {
            return Err(PortError::Unknown(id.into()));
        }
        self.registry.set_label(id, label);
        Ok(())
    }

    /// Sets what the user said about a board; the caller persists it. Its reader applies it
    /// from the next line on.
    pub fn set_board_settings(
        &self,
        id: &str,
        settings: clima_model::serial::BoardSettings,
    ) -> Result<(), PortError> {
        if !self.registry.is_known(id) {
            return Err(PortError::Unknown(id.into()));
        }
        self.registry.set_board_settings(id, settings);
        Ok(())
    }

    /// Restores board settings kept from an earlier run (JSON by port id); unreadable ones are
    /// logged and left out.
    pub fn restore_board_settings(&self, stored: Vec<(String, String)>) {
        for (id, json) in stored {
            match serde_json::from_str(&json) {
                Ok(s) => self.registry.set_board_settings(&id, s),
                Err(e) => tracing::warn!(port = %id, error = %e, "stored board settings ignored"),
            }
        }
    }

    /// Adds a port by path while running (the demo board).
    pub fn add_pinned(&self, port: PinnedPort) {
        self.registry.add_pinned(port);
    }

    /// Stops scanning and every reader, after they hand their last readings to the writer.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.scanner.lock().expect("scanner handle").take() {
            let _ = t.join();
        }
    }
}

impl Drop for SerialBoards {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_args() {
        let cfg = |v: &[&str]| SerialConfig::from_args(v);
        assert_eq!(
            cfg(&[]).unwrap(),
            SerialConfig {
                auto: true,
                pinned: vec![]
            }
        );
        assert!(cfg(&["off"]).unwrap().is_off());
        let c = cfg(&["/dev/ttyACM0@9600", "/tmp/board"]).unwrap();
        assert!(!c.auto);
        assert_eq!(
            c.pinned[0],
            PinnedPort {
                path: "/dev/ttyACM0".into(),
                baud: Some(9600)
            }
        );
        assert_eq!(c.pinned[1].baud, None);
        assert!(cfg(&["auto", "/tmp/x"]).unwrap().auto);
        assert!(cfg(&["/dev/x@fast"])
            .unwrap_err()
            .to_string()
            .contains("baud"));
        assert!(cfg(&["off", "auto"]).is_err());
    }
}
