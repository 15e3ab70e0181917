//! Forwarding to real InfluxDB 1.6 and VictoriaMetrics (Debian's `influxdb` and
//! `victoria-metrics`, started here on free loopback ports with their data in a temp dir):
//! every reading arrives through an outage of the target and a `kill -9` of Clima during a
//! drain, and the target then holds exactly what Clima holds.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clima_model::timestamp::from_rfc3339;
use serde_json::Value;

use crate::util::{call, get, post_json, Server};

/// (sensor, metric, measured_at ms) → value.
type Points = BTreeMap<(String, String, i64), f64>;

const SENSORS: [(&str, &str); 3] = [
    ("kitchen", "Kitchen"),
    ("attic", "Attic, north side"),
    ("cellar", "Keller = kalt"),
];
/// What each posted reading stores: its temperature and humidity, and the dew point and absolute
/// humidity Clima derives from them (forwarded like any metric).
const METRICS: [&str; 4] = ["temperature", "humidity", "dew_point", "absolute_humidity"];

/// A target database as a child process: stopped and started again on the same port and data.
struct Target {
    exe: PathBuf,
    args: Vec<String>,
    port: u16,
    ready: &'static str,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Target {
    fn find(name: &str, package: &str) -> PathBuf {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "{name} is not installed: run scripts/install-deps test (Debian's {package})"
                )
            })
    }

    /// InfluxDB 1.6 with only its HTTP API, no reporting; settings in the environment (which
    /// would override the file) are removed.
    fn influxdb() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let [port, rpc] = free_ports();
        let d = dir.path().display();
        let config = dir.path().join("influxdb.conf");
        std::fs::write(
            &config,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
                 [monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n\
                 [retention]\n  enabled = false\n[subscriber]\n  enabled = false\n"
            ),
        )
        .unwrap();
        let mut t = Target {
            exe: Target::find("influxd", "influxdb"),
            args: vec!["run".into(), "-config".into(), config.display().to_string()],
            port,
            ready: "/ping",
            dir,
            child: None,
        };
        t.start();
        let q = "q=CREATE%20DATABASE%20clima";
        let r = call(
            "POST",
            &t.url("/query"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(q.as_bytes()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        t
    }

    fn victoria_metrics() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let [port, _] = free_ports();
        Target {
            exe: Target::find("victoria-metrics", "victoria-metrics"),
            args: vec![
                format!("-storageDataPath={}", dir.path().join("data").display()),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-retentionPeriod=100y".into(),
            ],
            port,
            ready: "/health",
            dir,
            child: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn start(&mut self) {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("INFLUXDB_") {
                cmd.env_remove(k);
            }
        }
        let log = |n: &str| {
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(self.dir.path().join(n))
                .unwrap()
        };
        self.child = Some(
            cmd.stdin(Stdio::null())
                .stdout(log("out.log"))
                .stderr(log("err.log"))
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", self.exe.display())),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = ureq::get(&self.url(self.ready))
                .timeout(Duration::from_secs(2))
                .call();
            if matches!(r, Ok(ref r) if r.status() < 300) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited with {status}: {}",
                    self.exe.display(),
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start: {}",
                self.exe.display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it outright: an outage as a crash or a pulled cable looks.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        read("out.log") + &read("err.log")
    }

    /// Everything InfluxDB holds in `clima`.
    fn influx_points(&self) -> Points {
        let q = "SELECT%20*%20FROM%20climate";
        let r = get(&self.url(&format!("/query?db=clima&epoch=ms&q={q}")));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        let mut out = Points::new();
        let Some(series) = v["results"][0]["series"].as_array() else {
            return out;
        };
        for s in series {
            let cols: Vec<&str> = s["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let at = |name: &str| cols.iter().position(|c| *c == name);
            for row in s["values"].as_array().unwrap() {
                let sensor = row[at("sensor").unwrap()].as_str().unwrap().to_owned();
                if sensor == "probe" {
                    continue;
                }
                let name = at("name").and_then(|i| row[i].as_str());
                assert_eq!(
                    name,
                    SENSORS.iter().find(|s| s.0 == sensor).map(|s| s.1),
                    "{row}"
                );
                let t = row[0].as_i64().unwrap();
                for m in METRICS {
                    if let Some(v) = at(m).and_then(|i| row[i].as_f64()) {
                        out.insert((sensor.clone(), m.to_owned(), t), v);
                    }
                }
            }
        }
        out
    }

    /// Everything VictoriaMetrics holds, from its export API (after flushing what it buffers).
    fn victoria_points(&self) -> Points {
        let r = get(&self.url("/internal/force_flush"));
        assert_eq!(r.status, 200, "{}", r.body);
        let r = get(&self.url("/api/v1/export?match[]=%7B__name__%3D~%22climate_.*%22%7D"));
        assert_eq!(r.status, 200, "{}", r.body);
        let mut out = Points::new();
        for line in r.body.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let m = &v["metric"];
            let metric = m["__name__"]
                .as_str()
                .unwrap()
                .strip_prefix("climate_")
                .unwrap()
                .to_owned();
            let sensor = m["sensor"].as_str().unwrap().to_owned();
            assert_eq!(
                m["name"].as_str(),
                SENSORS.iter().find(|s| s.0 == sensor).map(|s| s.1),
                "{line}"
            );
            for (t, x) in v["timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .zip(v["values"].as_array().unwrap())
            {
                out.insert(
                    (sensor.clone(), metric.clone(), t.as_i64().unwrap()),
                    x.as_f64().unwrap(),
                );
            }
        }
        out
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two distinct free loopback ports (both held at once, so they differ).
fn free_ports() -> [u16; 2] {
    let l = [
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    ];
    l.each_ref().map(|l| l.local_addr().unwrap().port())
}

/// A Clima forwarding to `url`, on a fresh database.
fn forwarding_to(url: &str) -> Server {
    Server::start(&["--serial", "off", "--rate-limit", "off", "--forward", url])
}

/// Posts `n` readings of every sensor from reading `from` on, 10 ms apart from an hour ago.
fn post(server: &Server, from: usize, n: usize) {
    let start = clima_core::now_ms() - 3_600_000;
    let mut items = Vec::new();
    for i in from..from + n {
        for (k, (sensor, name)) in SENSORS.iter().enumerate() {
            let t = start + i as i64 * 10 + k as i64;
            items.push(format!(
                r#"{{"sensor":"{sensor}","name":"{name}","measured_at":{t},"temperature":{},"humidity":{}}}"#,
                15.0 + (i % 1000) as f64 / 100.0,
                40.0 + (i % 500) as f64 / 50.0
            ));
        }
    }
    for part in items.chunks(5_000) {
        let r = post_json(
            &server.url("/api/v1/readings"),
            &format!("[{}]", part.join(",")),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

/// Everything Clima holds, read back through its CSV export.
fn clima_points(server: &Server) -> Points {
    let mut out = Points::new();
    for (sensor, _) in SENSORS {
        for metric in METRICS {
            let r = get(&server.url(&format!(
                "/api/v1/export.csv?sensor={sensor}&metric={metric}&from=2000-01-01T00:00:00Z"
            )));
            assert_eq!(r.status, 200, "{}", r.body);
            for line in r.body.lines().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                out.insert(
                    (f[0].into(), f[1].into(), from_rfc3339(f[3]).unwrap()),
                    f[5].parse().unwrap(),
                );
            }
        }
    }
    out
}

fn forwarder(server: &Server) -> Value {
    let r = get(&server.url("/api/v1/forwarders"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["forwarders"][0].clone()
}

/// Waits until the forwarder has delivered everything committed.
fn wait_drained(server: &Server, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let f = forwarder(server);
        if f["lag_readings"] == 0 && f["state"] == "connected" {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: {f}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_same(target: &Points, clima: &Points, expected: usize) {
    assert_eq!(clima.len(), expected, "Clima holds {} samples", clima.len());
    let missing: Vec<_> = clima
        .keys()
        .filter(|k| !target.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = target
        .keys()
        .filter(|k| !clima.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "target has {} samples, Clima {}: missing {missing:?}, extra {extra:?}",
        target.len(),
        clima.len()
    );
    for (k, v) in clima {
        assert!(
            (target[k] - v).abs() < 1e-9,
            "{k:?}: target {} Clima {v}",
            target[k]
        );
    }
}

#[test]
fn influxdb_1_6_gets_every_reading_through_an_outage() {
    let mut influx = Target::influxdb();
    // (InfluxDB without auth ignores the password; Clima must never show or log it.)
    let forward = influx.url("/write?db=clima&u=clima&p=s3cret-pass");
    let clima = forwarding_to(&forward);
    let mut n = 0;
    for round in 0..12 {
        if round == 4 {
            influx.stop();
        }
        if round == 8 {
            let f = forwarder(&clima);
            assert_eq!(f["state"], "retrying", "{f}");
            assert!(f["lag_readings"].as_i64().unwrap() > 0, "{f}");
            assert!(
                f["last_error"].as_str().unwrap().contains("cannot reach"),
                "{f}"
            );
            influx.start();
        }
        post(&clima, n, 500);
        n += 500;
        std::thread::sleep(Duration::from_millis(150));
    }
    let f = wait_drained(&clima, Duration::from_secs(60));
    assert!(f["errors"].as_u64().unwrap() > 0, "{f}");
    let health = get(&clima.url("/healthz")).json();
    assert_eq!(
        health["forwarders"][0]["target"],
        influx.url("/write?db=clima&u=clima&p=***"),
        "{health}"
    );
    assert!(!clima.log().contains("s3cret"), "{}", clima.log());
    assert_same(
        &influx.influx_points(),
        &clima_points(&clima),
        n * SENSORS.len() * METRICS.len(),
    );
}

#[test]
fn influxdb_partial_writes_are_logged_and_skipped() {
    let influx = Target::influxdb();
    // A string `co2` makes every float `co2` a field type conflict (InfluxDB keeps one type per
    // field of a measurement and shard): it stores the rest of the batch and answers 400.
    let now = clima_core::now_ms();
    let line = format!(
        "climate,sensor=probe co2=\"high\" {}",
        (now - 7_200_000) * 1_000_000
    );
    let r = call(
        "POST",
        &influx.url("/write?db=clima"),
        &[],
        Some(line.as_bytes()),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let clima = forwarding_to(&influx.url("/write?db=clima"));
    post(&clima, 0, 100);
    let co2 = format!(
        r#"{{"sensor":"kitchen","name":"Kitchen","measured_at":{},"co2":612}}"#,
        now - 60_000
    );
    assert_eq!(post_json(&clima.url("/api/v1/readings"), &co2).status, 201);
    let f = wait_drained(&clima, Duration::from_secs(30));
    assert!(f["rejected"].as_u64().unwrap() > 0, "{f}");
    assert!(f["last_error"].as_str().unwrap().starts_with("400"), "{f}");
    assert!(
        clima.log().contains("field type conflict"),
        "{}",
        clima.log()
    );
    // The refused batch is not retried for ever: later readings go on.
    post(&clima, 100, 10);
    wait_drained(&clima, Duration::from_secs(30));
    let got = influx.influx_points();
    assert_eq!(got.len(), 110 * SENSORS.len() * METRICS.len());
}

#[test]
fn victoria_metrics_gets_every_reading_through_a_kill_during_drain() {
    let mut vm = Target::victoria_metrics();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let forward = vm.url("/write?db=clima");
    let args = [
        "--serial",
        "off",
        "--rate-limit",
        "off",
        "--forward",
        forward.as_str(),
    ];
    let mut clima = Server::start_on(&db, &args);
    // A backlog while the target is down.
    let n = 40_000;
    post(&clima, 0, n);
    let f = forwarder(&clima);
    assert_eq!(
        f["lag_readings"],
        (n * SENSORS.len() * METRICS.len()) as i64,
        "{f}"
    );
    vm.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let f = forwarder(&clima);
        if f["delivered"].as_u64().unwrap() > 0 {
            assert!(
                f["lag_readings"].as_i64().unwrap() > 0,
                "drained before the kill: {f}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{f}");
        std::thread::sleep(Duration::from_millis(10));
    }
    crate::util::signal(&clima.child, "-KILL");
    let _ = clima.child.wait();
    clima = Server::start_on(&db, &args);
    post(&clima, n, 100);
    wait_drained(&clima, Duration::from_secs(120));
    assert_same(
        &vm.victoria_points(),
        &clima_points(&clima),
        (n + 100) * SENSORS.len() * METRICS.len(),
    );
    drop(clima);
    drop(dir);
}

/// Rewrites the forward log of `db` as the previous release kept it (migration 8: a row per
/// value, numbered in commit order) and marks the file as that release's (schema version 10).
fn as_previous_release(db: &std::path::Path) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    let tx = c.transaction().unwrap();
    let mut entries = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT last, count, entries FROM forward_batches ORDER BY last")
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let (last, count): (i64, i64) = (r.get(0).unwrap(), r.get(1).unwrap());
            let blob: Vec<u8> = r.get(2).unwrap();
            let unpacked = clima_model::forward::unpack(&blob).unwrap();
            assert_eq!(unpacked.len() as i64, count);
            for (i, e) in unpacked.into_iter().enumerate() {
                entries.push((last - count + 1 + i as i64, e));
            }
        }
    }
    tx.execute_batch(
        "DROP TABLE forward_batches;
         CREATE TABLE forward_log (
             seq          INTEGER PRIMARY KEY AUTOINCREMENT,
             series_id    INTEGER NOT NULL,
             measured_at  INTEGER NOT NULL,
             value        REAL    NOT NULL
         );
         PRAGMA user_version = 10;",
    )
    .unwrap();
    for (seq, (series, at, value)) in &entries {
        tx.execute(
            "INSERT INTO forward_log VALUES (?1, ?2, ?3, ?4)",
            (seq, series, at, value),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    assert!(!entries.is_empty());
}

#[test]
fn a_backlog_logged_by_the_previous_release_is_delivered_after_the_upgrade() {
    let mut vm = Target::victoria_metrics();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let forward = vm.url("/write?db=clima");
    let args = ["--serial", "off", "--forward", forward.as_str()];
    // A backlog while the target is down, left in the log when Clima stops.
    let clima = Server::start_on(&db, &args);
    let n = 2_000;
    post(&clima, 0, n);
    assert_eq!(
        forwarder(&clima)["lag_readings"],
        (n * SENSORS.len() * METRICS.len()) as i64
    );
    clima.terminate();
    as_previous_release(&db);
    // The new release migrates the file and delivers the old backlog, then what comes next.
    let clima = Server::start_on(&db, &args);
    vm.start();
    post(&clima, n, 100);
    wait_drained(&clima, Duration::from_secs(60));
    assert_same(
        &vm.victoria_points(),
        &clima_points(&clima),
        (n + 100) * SENSORS.len() * METRICS.len(),
    );
}

#[test]
fn readings_retention_removed_before_forwarding_are_counted_lost() {
    let mut vm = Target::victoria_metrics();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clima.db");
    let forward = vm.url("/write?db=clima");
    let clima = Server::start_on(
        &db,
        &["--serial", "off", "--keep-raw", "1h", "--forward", &forward],
    );
    // Measured two hours ago, past --keep-raw: retention removes them before the target is up.
    let old = clima_core::now_ms() - 7_200_000;
    let items: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"sensor":"attic","measured_at":{},"temperature":20}}"#,
                old + i
            )
        })
        .collect();
    let r = post_json(
        &clima.url("/api/v1/readings"),
        &format!("[{}]", items.join(",")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let now = clima_core::now_ms();
    let fresh: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"sensor":"attic","measured_at":{},"temperature":21}}"#,
                now - 1000 + i
            )
        })
        .collect();
    let r = post_json(
        &clima.url("/api/v1/readings"),
        &format!("[{}]", fresh.join(",")),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The writer trims the forward log at its next tick (every 5 s).
    let look =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while look
        .query_row(
            "SELECT count(*) FROM forward_batches WHERE newest < ?1",
            [old + 100],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the forward log kept readings past retention"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    vm.start();
    let f = wait_drained(&clima, Duration::from_secs(60));
    assert_eq!(f["lost"], 50, "{f}");
    assert_eq!(f["delivered"], 10, "{f}");
    assert!(
        clima.log().contains("removed by retention"),
        "{}",
        clima.log()
    );
}
