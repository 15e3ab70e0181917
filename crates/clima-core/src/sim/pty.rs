//! The Unix virtual board: a thread prints a sketch's output to a pseudo-terminal, which Clima
//! reads like a USB port. (Windows has no pseudo-terminals: this module is Unix-only.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use super::{render, BoardOptions, Climate};

/// A running virtual board; stopping it (or dropping it) is unplugging it.
pub struct VirtualBoard {
    path: PathBuf,
    link: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const BOOT_JUNK: &[u8] = b"\x00\xff\xfe\x1b\x80ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\nload:0x3fff0018,len:4\r\n";

impl VirtualBoard {
    pub fn start(opts: BoardOptions) -> std::io::Result<VirtualBoard> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let path = PathBuf::from(
            slave
                .name()
                .ok_or_else(|| std::io::Error::other("the pty has no name"))?,
        );
        // Nobody holds the slave end until a reader opens it, as with a real port.
        drop(slave);
        // Programs started later must not inherit the master end, or unplugging (closing it)
        // would not be seen by the reader.
        // SAFETY: F_SETFD on a descriptor this process owns changes only its close-on-exec flag.
        if unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&master),
                libc::F_SETFD,
                libc::FD_CLOEXEC,
            )
        } == -1
        {
            return Err(std::io::Error::last_os_error());
        }
        master
            .set_timeout(Duration::from_millis(50))
            .map_err(std::io::Error::other)?;
        if let Some(link) = &opts.link {
            replace_link(&path, link)?;
        }
        let link = opts.link.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("clima-sim-board".into())
                .spawn(move || board_loop(master, opts, stop))?
        };
        Ok(VirtualBoard {
            path,
            link,
            stop,
            thread: Some(thread),
        })
    }

    /// The pty's own path (changes at every start; use the link for a stable one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(link) = self.link.take() {
            let _ = std::fs::remove_file(link);
        }
    }
}

impl Drop for VirtualBoard {
    fn drop(&mut self) {
        self.halt();
    }
}

fn replace_link(target: &Path, link: &Path) -> std::io::Result<()> {
    let tmp = link.with_extension("clima-sim-tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

fn board_loop(mut master: TTYPort, opts: BoardOptions, stop: Arc<AtomicBool>) {
    let mut climate = Climate::new(opts.seed);
    let period = Duration::from_secs_f64(1.0 / opts.rate.clamp(0.01, 10_000.0));
    let mut next = Instant::now();
    let mut tick: u64 = 0;
    if opts.noise {
        let _ = master.write_all(BOOT_JUNK);
    }
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        next += period;
        climate.step();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let mut bytes =
            render(opts.format, &climate, tick, opts.sensor.as_deref(), now_ns).into_bytes();
        if opts.noise && tick % 17 == 16 {
            // A line cut short, as when a board resets mid-print.
            bytes.truncate(bytes.len() / 2);
            bytes.extend_from_slice(b"\r\n");
        }
        let heard_baud = master.baud_rate().ok();
        if let (Some(own), Some(heard)) = (opts.baud, heard_baud) {
            if own != heard {
                // At the wrong rate a UART hears bytes, just not these.
                for b in bytes.iter_mut() {
                    *b = climate.byte();
                }
            }
        }
        // With nobody reading, writes fail or time out: the lines are lost, as on a real port.
        let _ = master.write_all(&bytes);
        tick += 1;
    }
}
