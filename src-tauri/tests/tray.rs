//! The tray path of the real `clima` binary on Linux: on an Xvfb display of its own with a
//! session bus whose StatusNotifier watcher (served here) stands for a desktop's panel, the app
//! puts its icon in the tray, closing the window hides it while the engine goes on, the first
//! close says so once (and remembers it), and SIGTERM still stops the engine cleanly. Skipped,
//! saying why, where Xvfb, dbus-daemon, xdotool or the AppIndicator library are missing
//! (`scripts/install-deps test` installs them).

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills a helper process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout piped and returns it with its first line.
fn first_line(mut cmd: Command) -> (Killed, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), line.trim().to_owned())
}

/// A panel's StatusNotifier watcher: passes on each item that registers.
struct Watcher(mpsc::Sender<String>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        let _ = self.0.send(service);
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        Vec::new()
    }
}

fn missing_tools() -> Option<String> {
    let found = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = ["Xvfb", "dbus-daemon", "xdotool", "python3"]
        .into_iter()
        .filter(|t| !found(t))
        .collect();
    let library = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ]
    .iter()
    .any(|d| Path::new(d).join("libayatana-appindicator3.so.1").exists());
    match (missing.is_empty(), library) {
        (true, true) => None,
        _ => Some(format!(
            "missing: {missing:?}{}",
            if library {
                ""
            } else {
                " and libayatana-appindicator3-1"
            }
        )),
    }
}

/// The visible windows whose title matches `name` on `display`.
fn windows(display: &str, name: &str) -> Vec<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", name])
        .env("DISPLAY", display)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn healthy(addr: &str) -> bool {
    ureq::get(&format!("http://{addr}/healthz")).call().is_ok()
}

#[test]
fn with_a_tray_closing_hides_the_window_and_says_so_once() {
    if let Some(why) = missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_x, display) = first_line({
        let mut c = Command::new("Xvfb");
        c.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ]);
        c
    });
    let display = format!(":{display}");
    let (_bus, address) = first_line({
        let mut c = Command::new("dbus-daemon");
        c.args(["--session", "--nofork", "--print-address=1"]);
        c
    });
    let (items_tx, items) = mpsc::channel();
    let _watcher = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", Watcher(items_tx))
        .unwrap()
        .build()
        .unwrap();

    let db = dir.path().join("clima.db");
    let start = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clima"));
        c.arg("--db")
            .arg(&db)
            .args(["--listen", "127.0.0.1:0", "--serial", "off"])
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .stderr(Stdio::null());
        let (app, line) = first_line(c);
        let addr = line.rsplit("http://").next().unwrap().to_owned();
        (app, addr)
    };
    let close = || {
        let window = windows(&display, "^Clima$").pop().expect("the window");
        let status = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/close-window.py"))
            .arg(window)
            .env("DISPLAY", &display)
            .status()
            .unwrap();
        assert!(status.success());
    };

    let (mut app, addr) = start();
    let item = items
        .recv_timeout(Duration::from_secs(30))
        .expect("the tray icon registered");
    assert!(item.contains("clima"), "{item}");
    wait_for("the window", Duration::from_secs(30), || {
        windows(&display, "^Clima$").len() == 1
    });
    close();
    wait_for("the window to hide", Duration::from_secs(10), || {
        windows(&display, "^Clima$").is_empty()
    });
    wait_for("the one-time message", Duration::from_secs(10), || {
        windows(&display, "^Clima keeps running$").len() == 1
    });
    // Still collecting.
    assert!(healthy(&addr));
    let pid = app.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = app.0.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}");
    assert!(!healthy(&addr));

    // The message was remembered: the next close hides without it.
    let (mut app, addr) = start();
    wait_for("the window", Duration::from_secs(30), || {
        windows(&display, "^Clima$").len() == 1
    });
    close();
    wait_for("the window to hide", Duration::from_secs(10), || {
        windows(&display, "^Clima$").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(windows(&display, "^Clima keeps running$").is_empty());
    assert!(healthy(&addr));
    let _ = app.0.kill();
}
