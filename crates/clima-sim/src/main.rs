//! `clima-sim`: a virtual serial sensor board on a pseudo-terminal, or a fleet of network
//! sensors posting over HTTP, for demos and tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use clima_core::sim::{BoardFormat, BoardOptions, Climate};

#[derive(Debug, Parser)]
#[command(name = "clima-sim", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A virtual sensor board on a pseudo-terminal. Prints the pty path; Ctrl-C unplugs it.
    Board {
        /// What the board prints: plotter, json, csv, dht, bme280, sht31, influx or sparkfun.
        #[arg(long, default_value = "plotter")]
        format: BoardFormat,
        /// Lines (or blocks) per second.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Keep a symlink at PATH pointing to the pty (removed when the board stops).
        #[arg(long, value_name = "PATH")]
        link: Option<PathBuf>,
        /// Print boot junk first and cut a line now and then.
        #[arg(long)]
        noise: bool,
        /// The board's baud rate: a reader at another rate hears only noise.
        #[arg(long)]
        baud: Option<u32>,
        /// Sensor id for formats that carry one (json, influx).
        #[arg(long)]
        sensor: Option<String>,
        /// Seed of the value generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// A fleet of network sensors posting JSON readings to a Clima server.
    Post {
        /// Base URL of the server, e.g. http://127.0.0.1:8137
        #[arg(long)]
        url: String,
        /// Number of sensors (sim-0, sim-1, ...).
        #[arg(long, default_value_t = 10)]
        sensors: u32,
        /// Readings per second per sensor.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Seconds to run.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Bearer token, if the server has one.
        #[arg(long, env = "CLIMA_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Board {
            format,
            rate,
            link,
            noise,
            baud,
            sensor,
            seed,
        } => {
            if rate.is_nan() || rate <= 0.0 {
                bail!("--rate must be above zero");
            }
            board(BoardOptions {
                format,
                rate,
                link,
                noise,
                baud,
                sensor,
                seed,
            })
        }
        Command::Post {
            url,
            sensors,
            rate,
            duration,
            token,
        } => post(&url, sensors, rate, duration, token),
    }
}

/// Runs a virtual board until Ctrl-C.
#[cfg(unix)]
fn board(opts: BoardOptions) -> Result<()> {
    let link = opts.link.clone();
    let board =
        clima_core::sim::VirtualBoard::start(opts).context("creating the pseudo-terminal")?;
    match &link {
        Some(l) => println!("{} -> {}", l.display(), board.path().display()),
        None => println!("{}", board.path().display()),
    }
    wait_for_signal()?;
    board.stop();
    Ok(())
}

/// Windows has no pseudo-terminals: a virtual board needs a null-modem pair such as com0com.
#[cfg(not(unix))]
fn board(_opts: BoardOptions) -> Result<()> {
    bail!("virtual boards need a pseudo-terminal, which Windows does not have: use `clima-sim post` for network sensors, or the dashboard's demo board")
}

fn wait_for_signal() -> Result<()> {
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("installing the signal handler")?;
    let _ = rx.recv();
    Ok(())
}

fn post(url: &str, sensors: u32, rate: f64, duration: u64, token: Option<String>) -> Result<()> {
    if rate.is_nan() || rate <= 0.0 || sensors == 0 {
        bail!("--sensors and --rate must be above zero");
    }
    let endpoint = format!("{}/api/v1/readings", url.trim_end_matches('/'));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the signal handler")?;
    }
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(duration);
    let threads = sensors.min(16);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (endpoint, token, stop, ok, failed) = (endpoint.clone(), token.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mine: Vec<u32> = (0..sensors).filter(|s| s % threads == t).collect();
                let mut climates: Vec<Climate> = mine.iter().map(|s| Climate::new(u64::from(*s) + 1)).collect();
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
                let period = Duration::from_secs_f64(1.0 / rate);
                let mut next = Instant::now();
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    if Instant::now() < next {
                        std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
                        continue;
                    }
                    next += period;
                    for (s, c) in mine.iter().zip(climates.iter_mut()) {
                        c.step();
                        let body = format!(
                            r#"{{"sensor":"sim-{s}","name":"Simulated room {s}","temperature":{:.2},"humidity":{:.2},"co2":{:.0}}}"#,
                            c.temperature, c.humidity, c.co2
                        );
                        let mut req = agent.post(&endpoint).set("Content-Type", "application/json");
                        if let Some(t) = &token {
                            req = req.set("Authorization", &format!("Bearer {t}"));
                        }
                        match req.send_string(&body) {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                    eprintln!("post failed: {e}");
                                }
                                0
                            }
                        };
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "{} readings accepted, {} failed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}
