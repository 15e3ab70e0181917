//! Virtual sensor boards on pseudo-terminals, for demos and tests: a thread prints the output of
//! a real board's sketch, with slowly drifting values, to a pty that Clima reads like a USB port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

/// What the board prints: the common sketch outputs Clima understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardFormat {
    Plotter,
    Json,
    Csv,
    Dht,
    Bme280,
    Sht31,
    Influx,
}

impl FromStr for BoardFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "plotter" => BoardFormat::Plotter,
            "json" => BoardFormat::Json,
            "csv" => BoardFormat::Csv,
            "dht" => BoardFormat::Dht,
            "bme280" => BoardFormat::Bme280,
            "sht31" => BoardFormat::Sht31,
            "influx" => BoardFormat::Influx,
            _ => {
                return Err(format!(
                    "unknown format {s:?}: use plotter, json, csv, dht, bme280, sht31 or influx"
                ))
            }
        })
    }
}

/// A room's slowly drifting climate, from a seeded generator so runs repeat.
#[derive(Debug, Clone)]
pub struct Climate {
    pub temperature: f64,
    pub humidity: f64,
    pub pressure: f64,
    pub co2: f64,
    rng: u64,
}

impl Climate {
    pub fn new(seed: u64) -> Self {
        let mut c = Climate {
            temperature: 21.0,
            humidity: 45.0,
            pressure: 1013.0,
            co2: 600.0,
            rng: seed | 1,
        };
        c.temperature += c.noise() * 2.0;
        c.humidity += c.noise() * 5.0;
        c
    }

    fn noise(&mut self) -> f64 {
        // xorshift64*: small, fast and good enough for drifting demo values.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545F4914F6CDD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// One step of a random walk pulled back towards a comfortable room.
    pub fn step(&mut self) {
        self.temperature += self.noise() * 0.05 + (21.5 - self.temperature) * 0.01;
        self.humidity =
            (self.humidity + self.noise() * 0.2 + (45.0 - self.humidity) * 0.01).clamp(1.0, 99.0);
        self.pressure += self.noise() * 0.05 + (1013.0 - self.pressure) * 0.01;
        self.co2 = (self.co2 + self.noise() * 5.0 + (600.0 - self.co2) * 0.02).max(400.0);
    }

    /// A random byte, for line noise.
    pub fn byte(&mut self) -> u8 {
        (self.noise().to_bits() >> 20) as u8
    }
}

/// What the board prints at step `tick` (CRLF endings, as Arduino's `println` sends).
pub fn render(
    format: BoardFormat,
    c: &Climate,
    tick: u64,
    sensor: Option<&str>,
    now_ns: i128,
) -> String {
    let (t, h, p) = (c.temperature, c.humidity, c.pressure);
    match format {
        BoardFormat::Plotter => format!("temperature:{t:.2},humidity:{h:.2}\r\n"),
        BoardFormat::Json => {
            let id = sensor.map(|s| format!("\"sensor\":\"{s}\",")).unwrap_or_default();
            format!("{{{id}\"temperature\":{t:.2},\"humidity\":{h:.2},\"pressure\":{p:.1},\"co2\":{:.0}}}\r\n", c.co2)
        }
        // A board prints its header at reset; repeating it lets a reader that joins late start.
        BoardFormat::Csv if tick.is_multiple_of(10) => format!("temperature,humidity,pressure\r\n{t:.2},{h:.2},{p:.1}\r\n"),
        BoardFormat::Csv => format!("{t:.2},{h:.2},{p:.1}\r\n"),
        BoardFormat::Dht => {
            let f = t * 9.0 / 5.0 + 32.0;
            format!("Humidity: {h:.2}%  Temperature: {t:.2}°C {f:.2}°F  Heat index: {:.2}°C {:.2}°F\r\n", t - 0.2, f - 0.4)
        }
        BoardFormat::Bme280 => format!(
            "Temperature = {t:.2} °C\r\nPressure = {p:.2} hPa\r\nApprox. Altitude = {:.2} m\r\nHumidity = {h:.2} %\r\n\r\n",
            (1013.25 - p) * 8.3
        ),
        BoardFormat::Sht31 => format!("Temp *C = {t:.2}\t\tHum. % = {h:.2}\r\n"),
        BoardFormat::Influx => {
            format!("climate,sensor={} temperature={t:.2},humidity={h:.2} {now_ns}\r\n", sensor.unwrap_or("sim-board"))
        }
    }
}

/// How a virtual board behaves.
#[derive(Debug, Clone)]
pub struct BoardOptions {
    pub format: BoardFormat,
    /// Lines (or blocks) per second.
    pub rate: f64,
    /// A symlink kept pointing at the pty, so a reader can use a stable path.
    pub link: Option<PathBuf>,
    /// Print boot junk first and cut a line now and then.
    pub noise: bool,
    /// The board's own baud rate: while the reader's port is set to another, it hears noise.
    pub baud: Option<u32>,
    /// Sensor id printed by formats that carry one.
    pub sensor: Option<String>,
    pub seed: u64,
}

impl Default for BoardOptions {
    fn default() -> Self {
        BoardOptions {
            format: BoardFormat::Plotter,
            rate: 1.0,
            link: None,
            noise: false,
            baud: None,
            sensor: None,
            seed: 42,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_format_the_parser_reads() {
        use clima_model::serial::{LineFramer, LineOutcome, SerialParser};
        let c = Climate::new(7);
        for format in ["plotter", "json", "csv", "dht", "bme280", "sht31", "influx"] {
            let f: BoardFormat = format.parse().unwrap();
            let mut framer = LineFramer::new();
            let mut parser = SerialParser::new(clima_model::SensorId::parse("sim").unwrap());
            let mut text = String::new();
            for tick in 0..3 {
                text.push_str(&render(
                    f,
                    &c,
                    tick,
                    Some("sim-1"),
                    1_795_700_000_000_000_000,
                ));
            }
            let mut readings = Vec::new();
            for line in framer.push(text.as_bytes()) {
                if let LineOutcome::Readings(r) = parser.parse_line(&line, 1_795_700_000_000) {
                    readings.extend(r);
                }
            }
            assert!(readings.len() >= 2, "{format}: {readings:?} from {text:?}");
            let temp = readings[0]
                .values
                .iter()
                .find(|(m, _)| m.as_str() == "temperature")
                .map(|(_, v)| *v);
            assert!((temp.unwrap() - c.temperature).abs() < 0.01, "{format}");
        }
    }

    #[test]
    fn climate_drifts_slowly_and_stays_plausible() {
        let mut c = Climate::new(1);
        let start = c.temperature;
        for _ in 0..10_000 {
            let before = c.temperature;
            c.step();
            assert!((c.temperature - before).abs() < 0.2);
            assert!((1.0..=99.0).contains(&c.humidity));
        }
        assert!((c.temperature - start).abs() < 10.0);
    }
}
