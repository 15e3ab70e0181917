//! `clima-server`: the engine without a window, for headless machines and as the web dashboard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

mod export;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use clima_core::config::{default_db_path, parse_rate, DEFAULT_PORT};
use clima_core::forward::Secret;
use clima_core::serial::SerialConfig;
use clima_core::store::{self, settings};
use clima_core::{Engine, EngineConfig, Token};

/// Clima's headless server: takes sensor readings over HTTP, keeps them in SQLite and streams
/// live updates.
///
/// Ingest: POST /api/v1/readings (JSON), POST /write (InfluxDB line protocol),
/// GET /api/v1/push?id=..&temp=.. (URL-only devices). Read: GET /api/v1/sensors,
/// GET /api/v1/readings?sensor=&metric=&from=&to=&points=, GET /api/v1/stream (SSE).
#[derive(Debug, Parser)]
#[command(name = "clima-server", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// SQLite database file, created if missing [default: the platform data dir, e.g.
    /// ~/.local/share/clima/clima.db]
    #[arg(long, value_name = "PATH", global = true)]
    db: Option<PathBuf>,

    /// Address and port to listen on. Anything but loopback requires --token.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,

    /// Token clients must send as 'Authorization: Bearer TOKEN' (or ?token=TOKEN); at least 8
    /// characters. /healthz stays open. 'auto' uses a token Clima generates and keeps in the
    /// database, which `clima-server token` prints and POST /api/v1/token/regenerate replaces.
    #[arg(
        long,
        env = "CLIMA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// Requests allowed per client IP address, as N/PERIOD (PERIOD: 10s, 1m, 1h...), or 'off'.
    #[arg(long, value_name = "N/PERIOD|off", default_value = "600/1m")]
    rate_limit: String,

    /// Live updates go to each viewer at most once per this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    throttle_ms: u64,

    /// Serial ports to read: 'auto' (every USB serial port, the default), 'off', or a port
    /// path with an optional baud rate, PATH[@BAUD] (a symlink is followed at every connect).
    /// Repeat to read several. Without @BAUD the rate starts at 115200 and is detected.
    #[arg(long, value_name = "auto|off|PATH[@BAUD]")]
    serial: Vec<String>,

    /// Believe X-Forwarded-For from this reverse proxy's address (for rate limiting and
    /// address-named sensors); repeat for a chain. Without it the header is ignored.
    #[arg(long, value_name = "ADDR")]
    trusted_proxy: Vec<std::net::IpAddr>,

    /// A host name this server answers to besides its own (loopback names and addresses, the
    /// machine's name and NAME.local are always allowed); repeat for more. Requests naming
    /// another host are refused, so a web page cannot reach Clima by re-pointing its domain.
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,

    /// A web origin (e.g. https://grafana.lab) whose pages may call this API from a browser;
    /// repeat for more. Pages from other origins are refused unless they send the token in
    /// the Authorization header.
    #[arg(long, value_name = "ORIGIN")]
    cors_origin: Vec<String>,

    /// 'normal': a commit is acknowledged once written; a killed process loses nothing, a power
    /// cut can lose the last few seconds. 'full': every commit is synced to the disk first.
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,

    /// How long raw samples are kept (e.g. 30d, 90d, or 'forever'); older data stays as minute
    /// (sensors of 6 s or faster) and hour rollups.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    keep_raw: String,

    /// How long minute rollups are kept (e.g. 365d, or 'forever'; only sensors reporting every
    /// 6 s or faster have them); hour rollups are kept forever.
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    keep_minute: String,

    /// Forward every reading to an outside database as well, oldest first, with nothing lost
    /// while it is down: http(s)://HOST:PORT/write?db=NAME (InfluxDB 1.x line protocol, also
    /// VictoriaMetrics; user and password in the URL) or
    /// http(s)://HOST:PORT/api/v2/write?org=ORG&bucket=BUCKET (InfluxDB 2 and 3, with
    /// --forward-token-env), or mqtt://HOST:PORT/PREFIX (retained states and Home Assistant
    /// discovery; mqtts:// for TLS, with ?ca=PATH for a broker's own CA). Repeat for several.
    #[arg(long, value_name = "URL")]
    forward: Vec<String>,

    /// POST every alert that fires or resolves to this URL as JSON, or as an ntfy message for
    /// https://ntfy.sh/TOPIC or ntfy+https://HOST/TOPIC (self-hosted ntfy). Kept and retried for
    /// up to an hour while it is down. Repeat for several; more can be added in Settings.
    #[arg(long, value_name = "URL")]
    alert_webhook: Vec<String>,

    /// Environment variable holding the token of /api/v2/write forward targets.
    #[arg(long, value_name = "VAR")]
    forward_token_env: Option<String>,

    /// Folder of dashboard files served at / (default: the ui/ folder next to the program or in
    /// the source tree, if present).
    #[arg(long, value_name = "DIR")]
    ui: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the serial ports of this computer with their USB identity, and say which ones this
    /// user may not open and how to fix that, then exit.
    Ports {
        /// Also check these ports (a pseudo-terminal, a port pinned with --serial).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Write one series to a file: CSV (every sample with its device time and time of receipt),
    /// or a chart as SVG or PNG. Values are read through the series' calibration, as the
    /// dashboard and the HTTP export show them; --raw writes the stored values.
    Export {
        #[arg(long)]
        sensor: String,
        #[arg(long)]
        metric: String,
        /// Start, RFC 3339 or unix seconds [default: 30 days before --to]
        #[arg(long)]
        from: Option<String>,
        /// End, RFC 3339 or unix seconds [default: now]
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The file to write ('-' for standard output).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Write the stored values, without the calibration set for the series (CSV only).
        #[arg(long)]
        raw: bool,
    },
    /// Read a CSV export into the database; rows already there are skipped, so importing twice
    /// doubles nothing. Stop a server using the same database first.
    Import {
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
    /// Print the token kept in the database for --token auto (generating one if there is none).
    /// Stop a server using the same database before --regenerate.
    Token {
        /// Replace it with a new one first; the old one is refused from then on.
        #[arg(long)]
        regenerate: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Durability {
    Normal,
    Full,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Svg,
    Png,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into())
                // The HTTP client's debug lines hold forward targets' credentials.
                .add_directive("ureq=warn".parse().expect("a valid directive")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match args.command {
        Some(Command::Ports { paths }) => return list_ports(&paths),
        Some(Command::Export {
            sensor,
            metric,
            from,
            to,
            format,
            out,
            raw,
        }) => {
            return export::run(
                &db_path(args.db)?,
                &sensor,
                &metric,
                (from.as_deref(), to.as_deref()),
                format,
                raw,
                &out,
            )
        }
        Some(Command::Import { file }) => return export::import(&db_path(args.db)?, &file),
        Some(Command::Token { regenerate }) => return print_token(&db_path(args.db)?, regenerate),
        None => {}
    }
    let cfg = config(args)?;
    let engine = Engine::start(cfg).context("Clima could not start")?;
    println!("Clima is listening on http://{}", engine.local_addr());

    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the Ctrl-C/SIGTERM handler")?;
    let _ = stop_rx.recv();
    engine.shutdown();
    Ok(())
}

fn config(args: Args) -> Result<EngineConfig> {
    let mut cfg = EngineConfig::new(db_path(args.db)?);
    cfg.listen = args.listen;
    match args.token.as_deref().filter(|t| !t.is_empty()) {
        Some("auto") => {
            cfg.token = Some(settings::stored_token(&cfg.db_path)?);
            cfg.token_stored = true;
        }
        Some(t) => cfg.token = Some(Token::new(t).map_err(|e| anyhow!("--token: {e}"))?),
        None => {}
    }
    cfg.trusted_proxies = args.trusted_proxy;
    cfg.allowed_hosts = args.allow_host;
    cfg.cors_origins = args.cors_origin;
    cfg.durability = match args.durability {
        Durability::Normal => store::Durability::Normal,
        Durability::Full => store::Durability::Full,
    };
    cfg.rate_limit = parse_rate(&args.rate_limit).map_err(|e| anyhow!("--rate-limit: {e}"))?;
    if args.throttle_ms == 0 {
        return Err(anyhow!("--throttle-ms must be at least 1"));
    }
    cfg.throttle = Duration::from_millis(args.throttle_ms);
    cfg.ui_dir = args.ui.or_else(find_ui);
    cfg.retention.raw = keep("--keep-raw", &args.keep_raw)?;
    cfg.retention.minute = keep("--keep-minute", &args.keep_minute)?;
    cfg.serial = SerialConfig::from_args(&args.serial).map_err(|e| anyhow!("--serial: {e}"))?;
    cfg.forward = args.forward;
    cfg.alert_webhooks = args.alert_webhook;
    cfg.forward_token = args
        .forward_token_env
        .as_deref()
        .map(Secret::from_env)
        .transpose()?;
    Ok(cfg)
}

/// Prints the stored token, replacing it first if asked.
fn print_token(db: &std::path::Path, regenerate: bool) -> Result<()> {
    if regenerate {
        let conn = store::open(db)?;
        settings::set(&conn, settings::INGEST_TOKEN, Token::generate().expose())?;
    }
    println!("{}", settings::stored_token(db)?.expose());
    Ok(())
}

fn db_path(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => default_db_path()
            .ok_or_else(|| anyhow!("no home folder found for the database: pass --db PATH")),
    }
}

/// A retention period: a duration such as 30d, or `forever`.
fn keep(flag: &str, value: &str) -> Result<Option<Duration>> {
    if value == "forever" {
        return Ok(None);
    }
    clima_core::config::parse_duration(value)
        .filter(|d| !d.is_zero())
        .map(Some)
        .ok_or_else(|| anyhow!("{flag} {value:?} is not a duration: use e.g. 30d, 12h or forever"))
}

/// The dashboard folder: beside the executable, where the Debian package puts it
/// (`/usr/bin/../share/clima-server/ui`), or in the source tree (cargo run).
fn find_ui() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let beside = dir.join("ui");
    let packaged = dir.join("../share/clima-server/ui");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    [beside, packaged, source]
        .into_iter()
        .find(|p| p.join("index.html").is_file())
}

fn list_ports(paths: &[PathBuf]) -> Result<()> {
    let mut ports = clima_core::serial::list_ports().context("listing serial ports")?;
    ports.extend(
        paths
            .iter()
            .map(|p| clima_core::serial::PortIdentity::pinned(p)),
    );
    if ports.is_empty() {
        println!("No serial ports found. Plug in a board, or name a port: clima-server ports PATH");
    }
    for p in ports {
        let usb = match (&p.vid, &p.pid) {
            (Some(v), Some(d)) => format!("{v}:{d}"),
            _ => "-".into(),
        };
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        println!(
            "{}\tusb {}\t{}\t{}\tserial {}\tid {}",
            p.path,
            usb,
            text(&p.manufacturer),
            text(&p.product),
            text(&p.serial_number),
            p.id
        );
        if let Some(denied) = clima_core::serial::access::check(Path::new(&p.path)) {
            println!("  {}\n  fix: {}", denied.reason, denied.hint);
        }
    }
    Ok(())
}
