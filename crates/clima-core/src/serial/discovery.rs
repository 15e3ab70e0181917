//! Finding ports: USB serial ports by their USB identity, pinned ports by path, and the scan
//! loop that starts a reader for each port that is present and not yet read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use clima_model::SensorId;
use serialport::{SerialPortType, UsbPortInfo};

use super::registry::{PortStatus, Registry};
use super::{reader, PinnedPort, SerialConfig, DEFAULT_BAUD, SCAN_EVERY};
use crate::store::WriteHandle;

/// Who a port is. `id` stays the same across replugs: the USB serial number where the board has
/// one, else VID:PID plus path; for a pinned port, its path as given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortIdentity {
    pub id: String,
    /// Where it is now.
    pub path: String,
    pub vid: Option<String>,
    pub pid: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
}

impl PortIdentity {
    pub fn pinned(path: &Path) -> Self {
        let path = path.to_string_lossy().into_owned();
        PortIdentity {
            id: path.clone(),
            path,
            vid: None,
            pid: None,
            manufacturer: None,
            product: None,
            serial_number: None,
        }
    }

    fn usb(path: &str, usb: &UsbPortInfo) -> Self {
        let (vid, pid) = (format!("{:04x}", usb.vid), format!("{:04x}", usb.pid));
        let serial = usb.serial_number.clone().filter(|s| !s.trim().is_empty());
        let id = match &serial {
            Some(s) => format!("usb:{vid}:{pid}:{s}"),
            None => format!("usb:{vid}:{pid}@{path}"),
        };
        PortIdentity {
            id,
            path: path.to_owned(),
            vid: Some(vid),
            pid: Some(pid),
            manufacturer: usb.manufacturer.clone(),
            product: usb.product.clone(),
            serial_number: serial,
        }
    }

    /// The sensor id for readings whose lines name no sensor.
    pub fn sensor(&self) -> SensorId {
        let base = Path::new(&self.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match (&self.serial_number, &self.vid, &self.pid) {
            (Some(s), _, _) => format!("usb-{s}"),
            (None, Some(v), Some(p)) => format!("usb-{v}-{p}-{base}"),
            _ => {
                let pinned = Path::new(&self.id)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(base);
                format!("serial-{pinned}")
            }
        };
        SensorId::sanitized(&text)
    }
}

/// Every serial port the system reports, with USB identity where it has one.
pub fn list_ports() -> Result<Vec<PortIdentity>, serialport::Error> {
    Ok(serialport::available_ports()?
        .into_iter()
        .map(|p| match &p.port_type {
            SerialPortType::UsbPort(usb) => PortIdentity::usb(&p.port_name, usb),
            _ => PortIdentity::pinned(Path::new(&p.port_name)),
        })
        .collect())
}

/// How often USB ports are listed even when no tty device came or went.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(10);

/// The names of the tty devices under /dev, sorted: a cheap sign that a board came or went.
fn tty_device_names() -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.file_name()))
                .filter(|n| n.to_string_lossy().starts_with("tty"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn canonical(path: &str) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Scans until `stop`, keeping one reader per present port, then joins the readers.
pub(super) fn scan_loop(
    cfg: SerialConfig,
    registry: Arc<Registry>,
    writer: WriteHandle,
    stop: Arc<AtomicBool>,
) {
    let mut readers: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut enumerate_failed = false;
    let (mut usb_ports, mut tty_names, mut enumerated_at) =
        (Vec::new(), Vec::new(), None::<std::time::Instant>);
    while !stop.load(Ordering::Relaxed) {
        let mut present: Vec<(PortIdentity, Option<u32>)> = Vec::new();
        let pinned: Vec<PinnedPort> = cfg
            .pinned
            .iter()
            .cloned()
            .chain(registry.extra_pinned())
            .collect();
        for p in &pinned {
            let ident = PortIdentity::pinned(&p.path);
            if p.path.exists() {
                present.push((ident, p.baud));
            } else {
                registry.ensure(&ident, p.baud.unwrap_or(DEFAULT_BAUD));
                registry.set_status(
                    &ident.id,
                    PortStatus::Waiting(format!("{} is not present", p.path.display())),
                );
            }
        }
        if cfg.auto {
            // Asking udev is costly; ask only when the tty devices changed (or now and then).
            let names = tty_device_names();
            let stale = enumerated_at.is_none_or(|t| t.elapsed() >= FULL_SCAN_EVERY);
            if names != tty_names || stale {
                tty_names = names;
                enumerated_at = Some(std::time::Instant::now());
                usb_ports = match serialport::available_ports() {
                    Ok(ports) => {
                        enumerate_failed = false;
                        ports
                    }
                    Err(e) => {
                        if !enumerate_failed {
                            enumerate_failed = true;
                            tracing::warn!(error = %e, "listing serial ports failed; pinned ports still work");
                        }
                        Vec::new()
                    }
                };
            }
            let taken: Vec<PathBuf> = pinned
                .iter()
                .filter_map(|p| canonical(&p.path.to_string_lossy()))
                .collect();
            for p in &usb_ports {
                if let SerialPortType::UsbPort(usb) = &p.port_type {
                    if canonical(&p.port_name).is_some_and(|c| taken.contains(&c)) {
                        continue;
                    }
                    present.push((PortIdentity::usb(&p.port_name, usb), None));
                }
            }
        }
        let mut seen = Vec::with_capacity(present.len());
        for (ident, baud) in present {
            let id = ident.id.clone();
            seen.push(id.clone());
            let start_baud = baud.unwrap_or(DEFAULT_BAUD);
            registry.ensure(&ident, start_baud);
            if registry.is_released(&id) {
                if readers.get(&id).is_none_or(|h| h.is_finished()) {
                    registry.set_status(&id, PortStatus::Released);
                }
                continue;
            }
            if readers.get(&id).is_some_and(|h| !h.is_finished()) {
                continue;
            }
            let args = reader::ReaderArgs {
                baud: registry
                    .baud(&id)
                    .filter(|_| baud.is_none())
                    .unwrap_or(start_baud),
                fixed_baud: baud.is_some(),
                identity: ident,
                registry: registry.clone(),
                writer: writer.clone(),
                stop: stop.clone(),
            };
            match std::thread::Builder::new()
                .name("clima-serial".into())
                .spawn(move || reader::run(args))
            {
                Ok(h) => {
                    readers.insert(id, h);
                }
                Err(e) => tracing::error!(error = %e, "could not start a serial reader"),
            }
        }
        for id in registry.ids() {
            let running = readers.get(&id).is_some_and(|h| !h.is_finished());
            if !seen.contains(&id)
                && !running
                && registry.status(&id) == Some(PortStatus::Connected)
            {
                registry.set_status(&id, PortStatus::Waiting("unplugged".into()));
            }
        }
        let mut slept = Duration::ZERO;
        while slept < SCAN_EVERY && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            slept += Duration::from_millis(50);
        }
    }
    for (_, h) in readers {
        let _ = h.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_survive_a_new_path() {
        let usb = UsbPortInfo {
            vid: 0x10c4,
            pid: 0xea60,
            serial_number: Some("0001".into()),
            manufacturer: Some("Silicon Labs".into()),
            product: Some("CP2102".into()),
        };
        let a = PortIdentity::usb("/dev/ttyUSB0", &usb);
        let b = PortIdentity::usb("/dev/ttyUSB1", &usb);
        assert_eq!(a.id, b.id);
        assert_eq!(a.sensor().as_str(), "usb-0001");
        let anon = UsbPortInfo {
            serial_number: None,
            ..usb
        };
        let c = PortIdentity::usb("/dev/ttyUSB0", &anon);
        assert_eq!(c.id, "usb:10c4:ea60@/dev/ttyUSB0");
        assert_eq!(c.sensor().as_str(), "usb-10c4-ea60-ttyUSB0");
        assert_eq!(
            PortIdentity::pinned(Path::new("/tmp/board"))
                .sensor()
                .as_str(),
            "serial-board"
        );
    }
}
