//! `clima-bench`: load generator and live-stream latency probe for Clima's HTTP ingest, also
//! pointed at InfluxDB 1.x's /write for comparison. Loopback targets only.

mod climate;
mod load;
mod payload;
mod sse;
mod stats;
mod target;
mod wire;

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};

use payload::{Mode, Plan};
use target::Target;

/// Longest run either command accepts, in seconds.
const MAX_SECONDS: u64 = 600;

/// Benchmarks for Clima's HTTP ingest. Every target must be on 127.0.0.0/8.
#[derive(Debug, Parser)]
#[command(name = "clima-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sends readings from many kept-alive connections and reports readings/s and latency.
    Http(HttpArgs),
    /// Posts readings one at a time and times each until the live stream carries it.
    SseLatency(SseArgs),
    /// Writes ten rooms' synthetic climate (see `climate`) as a CSV export and/or line protocol.
    Climate(ClimateArgs),
}

#[derive(Debug, clap::Args)]
struct ClimateArgs {
    /// Seconds between a room's readings.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Days of data, ending at --end.
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// End of the data, unix ms.
    #[arg(long)]
    end: i64,
    /// Write a Clima CSV export (for `clima-server import`) here.
    #[arg(long)]
    csv: Option<std::path::PathBuf>,
    /// Write line-protocol files of --batch lines (two values each) into this folder.
    #[arg(long)]
    line_protocol: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 2500)]
    batch: usize,
}

#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8137 (loopback only).
    #[arg(long)]
    url: String,
    /// Concurrent clients, each on its own kept-alive connection.
    #[arg(long, default_value_t = 1)]
    clients: u64,
    /// Stop each client after this many requests (the duration still caps the run).
    #[arg(long, value_name = "M")]
    requests_per_client: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    duration: u64,
    #[arg(long, value_enum, default_value_t = Mode::Single)]
    mode: Mode,
    /// Readings per request in the batch modes.
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    /// Distinct sensors the readings are spread over.
    #[arg(long, value_name = "K", default_value_t = 100)]
    sensors: u64,
    /// Bearer token for the server.
    #[arg(long, env = "CLIMA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Name of this run in the report.
    #[arg(long)]
    label: Option<String>,
    /// Prefix of the sensor ids (TAG-0, TAG-1, ...), for a run against rules that name them
    /// (default: one of its own, so repeated runs on one server never collide).
    #[arg(long, value_name = "TAG")]
    run_tag: Option<String>,
    /// A client with no successful reply within this many seconds of the start is stalled.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    stall_window: f64,
    /// Each client sends at most one request per this many milliseconds (default: as fast as
    /// replies come). A slow pace on a fresh server shows connections left waiting.
    #[arg(long, value_name = "MS")]
    pace_ms: Option<u64>,
    /// InfluxDB database named in /write URLs (Clima ignores it).
    #[arg(long, default_value = "bench")]
    influx_db: String,
}

#[derive(Debug, clap::Args)]
struct SseArgs {
    /// Base URL of the Clima server (loopback only).
    #[arg(long)]
    url: String,
    /// Readings to post and time.
    #[arg(long, default_value_t = 30)]
    samples: u64,
    /// Milliseconds from one post to the next.
    #[arg(long, value_name = "MS", default_value_t = 600)]
    interval_ms: u64,
    /// Milliseconds to wait for a post's event before counting it missed.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout_ms: u64,
    #[arg(long, env = "CLIMA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Http(a) => http(a),
        Command::SseLatency(a) => sse_latency(a),
        Command::Climate(a) => {
            if a.interval == 0 || a.days == 0 || a.batch == 0 {
                bail!("--interval, --days and --batch must be at least 1");
            }
            if let Some(path) = &a.csv {
                let rows = climate::write_csv(path, climate::readings(a.interval, a.days, a.end))?;
                eprintln!("{rows} values written to {}", path.display());
            }
            if let Some(dir) = &a.line_protocol {
                let values = climate::write_line_protocol(
                    dir,
                    a.batch,
                    climate::readings(a.interval, a.days, a.end),
                )?;
                eprintln!("{values} values written to {}", dir.display());
            }
            Ok(())
        }
    }
}

/// A tag unique to this run, so its sensor ids never meet an earlier run's.
fn run_tag() -> String {
    format!("b{}", sse::now_ms() % 100_000_000)
}

fn http(a: HttpArgs) -> Result<()> {
    let target = Target::parse(&a.url).map_err(|e| anyhow!("--url {e}"))?;
    if !(1..=1000).contains(&a.clients) {
        bail!("--clients must be from 1 to 1000");
    }
    if !(1..=10_000).contains(&a.batch_size) {
        bail!("--batch-size must be from 1 to 10000 (Clima's largest JSON batch)");
    }
    if a.sensors == 0 {
        bail!("--sensors must be at least 1");
    }
    if a.duration == 0 || a.duration > MAX_SECONDS {
        bail!("--duration must be from 1 to {MAX_SECONDS} seconds");
    }
    if !a
        .influx_db
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("--influx-db takes letters, digits and '_' only");
    }
    let plan = Plan {
        mode: a.mode,
        batch_size: a.batch_size,
        sensors: a.sensors,
        clients: a.clients,
        run_tag: a.run_tag.unwrap_or_else(run_tag),
        // Single readings are live data: their times start now, as a sensor's would. Batches are
        // a backlog: they start ten minutes back. Either way every series moves forward one ms a
        // reading and stays well inside Clima's "at most an hour ahead" check.
        base_ms: match a.mode {
            Mode::Single | Mode::InfluxSingle => sse::now_ms(),
            Mode::Batch | Mode::InfluxBatch => sse::now_ms() - 600_000,
        },
        influx_db: a.influx_db,
    };
    let cfg = load::LoadConfig {
        label: a.label.unwrap_or_else(|| a.mode.name().to_owned()),
        target,
        plan,
        requests_per_client: a.requests_per_client,
        duration: Duration::from_secs(a.duration),
        stall_window: Duration::from_secs_f64(a.stall_window.clamp(0.0, MAX_SECONDS as f64)),
        pace: a.pace_ms.filter(|&ms| ms > 0).map(Duration::from_millis),
        token: a.token.filter(|t| !t.is_empty()),
    };
    let report = load::run(&cfg)?;
    load::print(&cfg, &report);
    Ok(())
}

fn sse_latency(a: SseArgs) -> Result<()> {
    let target = Target::parse(&a.url).map_err(|e| anyhow!("--url {e}"))?;
    let interval = Duration::from_millis(a.interval_ms);
    sse::check_bounds(a.samples, interval, Duration::from_secs(MAX_SECONDS))?;
    let cfg = sse::SseConfig {
        target,
        samples: a.samples,
        interval,
        timeout: Duration::from_millis(a.timeout_ms.clamp(1, 60_000)),
        token: a.token.filter(|t| !t.is_empty()),
        run_tag: run_tag(),
    };
    let report = sse::run(&cfg)?;
    sse::print(&cfg, &report);
    Ok(())
}
