//! The demo board that makes an empty dashboard come alive. On Unix it is a virtual board on a
//! pseudo-terminal, read by the serial path like a plugged-in board (and listed among the
//! ports); where no pseudo-terminal can be made (Windows, or a Unix without free ptys), the same
//! lines are fed straight to the serial parser and stored through the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use clima_model::serial::{LineOutcome, SerialParser};
use clima_model::SensorId;

use crate::sim::{render, BoardFormat, Climate};
use crate::store::{Source, WriteHandle};

/// The sensor id the demo board reports as.
pub const DEMO_SENSOR: &str = "demo-board";

/// How often the demo board prints a line.
const PERIOD: Duration = Duration::from_secs(1);

/// A running demo board; dropping it unplugs it.
pub enum Demo {
    #[cfg(unix)]
    Pty(crate::sim::VirtualBoard),
    Direct(DirectBoard),
}

impl Demo {
    /// Starts the demo board; with a pseudo-terminal where there is one.
    pub fn start(
        boards: &crate::serial::SerialBoards,
        writer: WriteHandle,
        seed: u64,
    ) -> std::io::Result<Demo> {
        #[cfg(unix)]
        {
            let opts = crate::sim::BoardOptions {
                format: BoardFormat::Json,
                sensor: Some(DEMO_SENSOR.into()),
                seed,
                ..Default::default()
            };
            match crate::sim::VirtualBoard::start(opts) {
                Ok(board) => {
                    boards.add_pinned(crate::serial::PinnedPort {
                        path: board.path().to_owned(),
                        baud: None,
                    });
                    return Ok(Demo::Pty(board));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no pseudo-terminal for the demo board; feeding its lines directly")
                }
            }
        }
        #[cfg(not(unix))]
        let _ = boards;
        DirectBoard::start(writer, seed).map(Demo::Direct)
    }

    pub fn stop(self) {
        match self {
            #[cfg(unix)]
            Demo::Pty(board) => board.stop(),
            Demo::Direct(board) => board.stop(),
        }
    }
}

/// The demo board without a port: its lines go through the serial parser to the writer.
pub struct DirectBoard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DirectBoard {
    pub fn start(writer: WriteHandle, seed: u64) -> std::io::Result<DirectBoard> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("clima-demo".into())
            .spawn(move || {
                let mut climate = Climate::new(seed);
                let mut parser =
                    SerialParser::new(SensorId::parse(DEMO_SENSOR).expect("a valid id"));
                let mut tick = 0;
                while !flag.load(Ordering::Relaxed) {
                    climate.step();
                    let now = crate::now_ms();
                    let text = render(
                        BoardFormat::Json,
                        &climate,
                        tick,
                        Some(DEMO_SENSOR),
                        i128::from(now) * 1_000_000,
                    );
                    for line in text.lines().filter(|l| !l.is_empty()) {
                        if let LineOutcome::Readings(readings) = parser.parse_line(line, now) {
                            if let Err(e) = writer.write(readings, Source::Serial, now) {
                                tracing::debug!(error = %e, "demo reading not stored");
                            }
                        }
                    }
                    tick += 1;
                    // Sleeps in small steps so that stopping is quick.
                    for _ in 0..10 {
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(PERIOD / 10);
                    }
                }
            })?;
        Ok(DirectBoard {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DirectBoard {
    fn drop(&mut self) {
        self.halt();
    }
}
