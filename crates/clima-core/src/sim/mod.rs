//! Virtual sensor boards for demos and tests: what a real board's sketch prints, with slowly
//! drifting values. On Unix, [`VirtualBoard`] prints it to a pseudo-terminal that Clima reads
//! like a USB port; Windows has no pseudo-terminals, so there only the text is made here (the
//! engine's demo then feeds it straight to the parser, see `crate::demo`).

use std::path::PathBuf;
use std::str::FromStr;

#[cfg(unix)]
mod pty;
#[cfg(unix)]
pub use pty::VirtualBoard;

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
    /// SparkFun's BME280 Example1: temperatures in °F with no unit, pressure in pascals.
    Sparkfun,
}

/// A board format name that is not one of [`BoardFormat`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: use plotter, json, csv, dht, bme280, sht31, influx or sparkfun")]
pub struct UnknownFormat(String);

impl FromStr for BoardFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Ok(match s {
            "plotter" => BoardFormat::Plotter,
            "json" => BoardFormat::Json,
            "csv" => BoardFormat::Csv,
            "dht" => BoardFormat::Dht,
            "bme280" => BoardFormat::Bme280,
            "sht31" => BoardFormat::Sht31,
            "influx" => BoardFormat::Influx,
            "sparkfun" => BoardFormat::Sparkfun,
            _ => return Err(UnknownFormat(s.to_owned())),
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
        BoardFormat::Sparkfun => format!(
            "Humidity: {h:.0} Pressure: {:.0} Alt: {:.1} Temp: {:.2}\r\n",
            p * 100.0,
            (1013.25 - p) * 8.3 * 3.28084,
            t * 9.0 / 5.0 + 32.0
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_format_the_parser_reads() {
        use clima_model::serial::{LineFramer, LineOutcome, SerialParser};
        let c = Climate::new(7);
        for format in [
            "plotter", "json", "csv", "dht", "bme280", "sht31", "influx", "sparkfun",
        ] {
            let f: BoardFormat = format.parse().unwrap();
            let mut framer = LineFramer::new();
            let mut parser = SerialParser::new(clima_model::SensorId::parse("sim").unwrap());
            if f == BoardFormat::Sparkfun {
                // Its temperatures say no unit: held back until the board's unit is set.
                parser.set_settings(clima_model::serial::BoardSettings {
                    temperature_unit: Some(clima_model::serial::TemperatureUnit::Fahrenheit),
                    ignore: Vec::new(),
                });
            }
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
