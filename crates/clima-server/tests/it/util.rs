//! Test helpers: a temp dir, a `clima-server` child on an ephemeral port, and HTTP calls that
//! return status, headers and body whatever the status.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh database with the given extra flags.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clima.db");
        let mut s = Server::start_on(&db, args);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing database path.
    pub fn start_on(db: &std::path::Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clima-server"));
        cmd.arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(args);
        Server::spawn(cmd, db)
    }

    /// Starts a prepared command that runs `clima-server` on `db` (perhaps through a wrapper),
    /// and waits for the address it prints.
    pub fn spawn(mut cmd: Command, db: &std::path::Path) -> Server {
        let stderr = db.with_extension(format!("stderr.{}", std::process::id()));
        let mut child = cmd
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no address in {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        Server {
            child,
            addr,
            stderr,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        signal(&self.child, "-TERM");
        let status = self.child.wait().unwrap();
        std::mem::forget(self._dir.take());
        status
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 for a server a test starts (released at once, so another program
/// could take it first; the tests' servers start right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process (a broker, a subscriber) killed when the test ends, passed or not.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request with headers and an optional body; any status is returned, not raised.
pub fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(20));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_owned();
            (n, v)
        })
        .collect();
    // Read whole (`into_string` stops at 10 MB, and an export can be larger); a binary reply
    // (a PNG) is kept as lossy text, which the tests only measure or ignore.
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body)
        .unwrap_or_else(|e| panic!("{method} {url}: reading the reply: {e}"));
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn get(url: &str) -> Resp {
    call("GET", url, &[], None)
}

pub fn post_json(url: &str, body: &str) -> Resp {
    call(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// Posts JSON reading objects as one batch and asserts they were all taken.
pub fn post_batch(server: &Server, items: &[String]) {
    let r = post_json(
        &server.url("/api/v1/readings"),
        &format!("[{}]", items.join(",")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A raw HTTP/1.1 request sent from a chosen loopback source address.
pub fn raw_from(source: IpAddr, to: SocketAddr, request: &str) -> (u16, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// Reads the fixture files copied into the model crate's test data.
pub fn fixture(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../clima-model/tests/data")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Sample count of one series over all time, from the range API.
pub fn stored_count(server: &Server, sensor: &str, metric: &str) -> u64 {
    stored_count_with_token(server, sensor, metric, None)
}

/// [`stored_count`] against a server with a token.
pub fn stored_count_with_token(
    server: &Server,
    sensor: &str,
    metric: &str,
    token: Option<&str>,
) -> u64 {
    let token = token.map(|t| format!("&token={t}")).unwrap_or_default();
    let r = get(&server.url(&format!(
        "/api/v1/readings?sensor={sensor}&metric={metric}&from=2000-01-01T00:00:00Z&points=1{token}"
    )));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum()
}

/// A sensor's metrics (from `/api/v1/sensors`) as its device sent them: those Clima derived
/// (dew point, absolute humidity) left out.
pub fn sent_metrics(sensor: &serde_json::Value) -> Vec<&serde_json::Value> {
    let metrics = sensor["metrics"].as_array().unwrap();
    metrics.iter().filter(|m| m["derived"] != true).collect()
}

/// One sensor as `/api/v1/sensors` lists it.
pub fn sensor_info(server: &Server, sensor: &str) -> serde_json::Value {
    let sensors = get(&server.url("/api/v1/sensors")).json();
    let all = sensors["sensors"].as_array().unwrap();
    let found = all.iter().find(|x| x["sensor"] == sensor).cloned();
    found.unwrap_or_else(|| panic!("{sensor} missing: {sensors}"))
}
